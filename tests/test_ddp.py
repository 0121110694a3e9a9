"""Data-parallel training: the Trainer under ``torchrun --nproc_per_node 2`` (gloo on CPU).

The same tiny task source runs in the two workers and, for the reference, in this process on
the concatenation of both ranks' batches: averaging gradients over ranks must equal one
process on the whole batch.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parent.parent

TASK_SOURCE = textwrap.dedent('''
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn

    from studio.engine import TrainConfig, Trainer, TrainingTask


    class TinyNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
            self.conv2 = nn.Conv2d(8, 3, 3, padding=1)

        def forward(self, x):
            return x + self.conv2(torch.relu(self.conv1(x)))


    class TinyDenoise(TrainingTask):
        """8 fixed noisy/clean 16x16 pairs; ``ranks`` > 1 concatenates the batches that
        ``ranks`` workers would draw (the single-process reference of a DDP run)."""

        def __init__(self, ranks=1, validate=True):
            generator = torch.Generator().manual_seed(0)
            self.clean = torch.rand(8, 3, 16, 16, generator=generator)
            self.noisy = self.clean + 0.1 * torch.randn(8, 3, 16, 16, generator=generator)
            self.ranks, self.with_validation, self.ctx = ranks, validate, None

        def build_modules(self, cfg):
            return {"g": TinyNet()}

        def _draw(self, rng, batch_size):
            index = rng.integers(len(self.clean), size=batch_size)
            return self.noisy[index], self.clean[index]

        def sample_batch(self, rng, batch_size, device):
            if self.ranks == 1:
                x, y = self._draw(rng, batch_size)
            else:
                cfg, step, per_rank = self.ctx.cfg, self.ctx.step, batch_size // self.ranks
                draws = [self._draw(np.random.default_rng([cfg.seed, r, step]), per_rank) for r in range(self.ranks)]
                x, y = torch.cat([d[0] for d in draws]), torch.cat([d[1] for d in draws])
            return {"x": x, "y": y}

        def loss(self, phase, batch, ctx):
            loss = F.mse_loss(ctx.models["g"](batch["x"]), batch["y"])
            return loss, {"loss_g": loss.item()}

        def validate(self, ctx):
            return {"val_score": 1.0} if self.with_validation else {}  # never improves


    def make_cfg(runs_dir, name, batch_size, **overrides):
        settings = dict(run_name=name, runs_dir=str(runs_dir), max_steps=4, batch_size=batch_size, lr=1e-2,
                        scheduler="plateau", plateau_patience=0, plateau_factor=0.5, val_every=1, log_every=1,
                        ckpt_every=2, device="cpu", seed=0)
        settings.update(overrides)
        return TrainConfig(**settings)
''')

WORKER = '''
import sys
sys.path.insert(0, {root!r})
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import save_file

{task_source}

out = Path(sys.argv[1])
trainer = Trainer(TinyDenoise(), make_cfg(out / "runs", "ddp", batch_size=4))
trainer.fit()
tensors = {{k: v.contiguous() for k, v in trainer.modules["g"].state_dict().items()}}
tensors["lr"] = torch.tensor([trainer.lr()], dtype=torch.float64)
save_file(tensors, str(out / f"rank{{trainer.rank}}.safetensors"))

# plateau without validation figures: no rank may cut its learning rate
quiet = Trainer(TinyDenoise(validate=False), make_cfg(out / "runs", "quiet", batch_size=4))
quiet.fit()
(out / f"quiet_lr{{quiet.rank}}.txt").write_text(repr(quiet.lr()))
# one write per rank: print(a, b, ...) writes piece by piece, and two ranks share the pipe
sys.stdout.write(f"rank {{trainer.rank}} of {{trainer.world_size}} done\\n")
sys.stdout.flush()
dist.barrier()  # no rank tears the group down while the other still uses it
dist.destroy_process_group()
'''


def read_rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    script = out / "worker.py"
    script.write_text(WORKER.format(root=str(ROOT), task_source=TASK_SOURCE))
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script), str(out)],
        cwd=out, env=env, capture_output=True, text=True, timeout=120)
    return out, proc


def test_ddp_run_succeeds(ddp_run):
    out, proc = ddp_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "rank 0 of 2 done" in proc.stdout and "rank 1 of 2 done" in proc.stdout


def test_ddp_ranks_end_with_identical_weights(ddp_run):
    out, proc = ddp_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    rank0, rank1 = load_file(str(out / "rank0.safetensors")), load_file(str(out / "rank1.safetensors"))
    assert rank0.keys() == rank1.keys()
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    assert float(rank0["lr"]) == pytest.approx(1e-2 * 0.5**3)  # plateau cut on steps 2-4, on both ranks


def test_ddp_equals_single_process_on_the_joint_batch(ddp_run, tmp_path):
    out, proc = ddp_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    namespace: dict = {}
    exec(compile(TASK_SOURCE, "tiny_task", "exec"), namespace)
    task = namespace["TinyDenoise"](ranks=2)
    trainer = namespace["Trainer"](task, namespace["make_cfg"](tmp_path, "single", batch_size=8))
    task.ctx = trainer
    trainer.fit()
    distributed = load_file(str(out / "rank0.safetensors"))
    for key, value in trainer.modules["g"].state_dict().items():
        torch.testing.assert_close(distributed[key], value.contiguous(), rtol=1e-4, atol=1e-5, msg=key)


def test_ddp_writes_the_run_log_once(ddp_run):
    out, proc = ddp_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = out / "runs"
    logs = sorted(runs.rglob("metrics.csv"))
    assert logs == [runs / "ddp" / "metrics.csv", runs / "quiet" / "metrics.csv"]
    assert not list(runs.rglob("_unused*")) and not list(runs.rglob("*.tmp"))
    rows = read_rows(runs / "ddp" / "metrics.csv")
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]  # one row per step, not one per rank
    config = json.loads((runs / "ddp" / "config.json").read_text())
    assert config["world_size"] == 2
    assert (runs / "ddp" / "state.safetensors").is_file()


def test_ddp_plateau_without_validation_keeps_lr(ddp_run):
    out, proc = ddp_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [float((out / f"quiet_lr{r}.txt").read_text()) for r in (0, 1)] == [1e-2, 1e-2]
