"""The shared training loop (studio.engine) on a tiny denoising problem: a 2-layer conv net on
eight fixed 16x16 images, a handful of steps, one thread."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from studio.engine import STATE_FILE, TrainConfig, Trainer, TrainingDiverged, TrainingTask


class TinyNet(nn.Module):
    """Residual 2-layer conv net: no batch-dependent layers."""

    def __init__(self, channels: int = 8):
        super().__init__()
        self.conv1 = nn.Conv2d(3, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, 3, 3, padding=1)

    def forward(self, x):
        return x + self.conv2(torch.relu(self.conv1(x)))


class TinyCritic(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.head = nn.Conv2d(4, 1, 1)

    def forward(self, x):
        return self.head(F.leaky_relu(self.conv(x), 0.2)).mean(dim=(1, 2, 3))


def _fixed_images(count: int = 8, size: int = 16):
    generator = torch.Generator().manual_seed(0)
    clean = torch.rand(count, 3, size, size, generator=generator)
    noisy = clean + 0.1 * torch.randn(count, 3, size, size, generator=generator)
    return noisy, clean


class TinyDenoise(TrainingTask):
    """Denoise 8 fixed images. Hooks: raise KeyboardInterrupt / return NaN at a given step (1-based)."""

    def __init__(self, interrupt_at=None, nan_at=None, val_values=None, full_batch=False):
        self.noisy, self.clean = _fixed_images()
        self.interrupt_at, self.nan_at = interrupt_at, nan_at
        self.val_values = val_values  # None: real validation loss; a callable(step) -> float otherwise
        self.full_batch = full_batch

    def build_modules(self, cfg):
        return {"g": TinyNet()}

    def sample_batch(self, rng, batch_size, device):
        if self.full_batch:
            index = np.arange(batch_size) % len(self.clean)
        else:
            index = rng.integers(len(self.clean), size=batch_size)
        return {"x": self.noisy[index], "y": self.clean[index]}

    def loss(self, phase, batch, ctx):
        if self.interrupt_at is not None and ctx.step + 1 == self.interrupt_at:
            raise KeyboardInterrupt
        loss = F.mse_loss(ctx.models["g"](batch["x"]), batch["y"])
        if self.nan_at is not None and ctx.step + 1 >= self.nan_at:
            loss = loss * float("nan")
        return loss, {"loss_g": loss.item()}

    def validate(self, ctx):
        if self.val_values is not None:
            return {"val_score": float(self.val_values(ctx.step))}
        out = ctx.modules["g"](ctx.to_device(self.noisy))
        return {"val_score": -float(F.mse_loss(out, self.clean))}


class TinyGAN(TinyDenoise):
    optimizers = {"g": ["g"], "d": ["d"]}

    def build_modules(self, cfg):
        return {"g": TinyNet(), "d": TinyCritic()}

    def phases(self, step):
        return ["d", "g"]

    def loss(self, phase, batch, ctx):
        if self.interrupt_at is not None and ctx.step + 1 == self.interrupt_at and phase == "g":
            raise KeyboardInterrupt  # after the discriminator of that step has been updated
        if phase == "d":
            with torch.no_grad():
                fake = ctx.models["g"](batch["x"])
            real_logits, fake_logits = ctx.models["d"](batch["y"]), ctx.models["d"](fake)
            loss = 0.5 * (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                          + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
            return loss, {"loss_d": loss.item()}
        out = ctx.models["g"](batch["x"])
        logits = ctx.models["d"](out)
        adv = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
        total = F.mse_loss(out, batch["y"]) + 1e-2 * adv
        return total, {"loss_g": total.item(), "loss_adv": adv.item()}


def make_cfg(tmp_path, name="run", **overrides) -> TrainConfig:
    settings = dict(run_name=name, runs_dir=str(tmp_path / "runs"), max_steps=10, batch_size=4, lr=1e-2,
                    scheduler="none", log_every=1, val_every=1000, ckpt_every=1000, device="cpu", seed=0)
    settings.update(overrides)
    return TrainConfig(**settings)


def read_rows(path):
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames), list(reader)


def weights(trainer, name="g"):
    return {k: v.detach().clone() for k, v in trainer.modules[name].state_dict().items()}


# ---- learning, logs ------------------------------------------------------------------------------

def test_tiny_task_learns_and_writes_run_folder(tmp_path):
    cfg = make_cfg(tmp_path, max_steps=40, batch_size=8, val_every=20)
    trainer = Trainer(TinyDenoise(full_batch=True), cfg)
    result = trainer.fit()
    assert result["step"] == 40

    run_dir = tmp_path / "runs" / "run"
    columns, rows = read_rows(run_dir / "metrics.csv")
    assert columns[0] == "step"
    assert {"loss_g", "lr_g", "seconds", "val_score"} <= set(columns)
    assert [int(r["step"]) for r in rows] == list(range(1, 41))
    losses = [float(r["loss_g"]) for r in rows]
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.5 * losses[0], (losses[0], losses[-1])
    assert float(rows[-1]["lr_g"]) == pytest.approx(1e-2)
    # validation rows (every 20 steps) carry the figure, the others leave it empty
    assert [r["step"] for r in rows if r["val_score"]] == ["20", "40"]
    assert result["best"]["val_score"]["step"] == 40

    config = json.loads((run_dir / "config.json").read_text())
    assert config["run_name"] == "run" and config["max_steps"] == 40 and config["batch_size"] == 8
    assert config["world_size"] == 1 and config["device"] == "cpu"
    assert (run_dir / STATE_FILE).is_file()


def test_log_every_averages_window(tmp_path):
    trainer = Trainer(TinyDenoise(), make_cfg(tmp_path, max_steps=7, log_every=3))
    trainer.fit()
    _, rows = read_rows(tmp_path / "runs" / "run" / "metrics.csv")
    assert [int(r["step"]) for r in rows] == [3, 6, 7]  # every 3 steps, plus the last one


# ---- resume --------------------------------------------------------------------------------------

@pytest.mark.parametrize("interrupt_at", [7, 8])
def test_interrupted_run_resumes_exactly(tmp_path, interrupt_at):
    """Checkpoint every 3 steps, killed during step 7 or 8; --resume ends where the clean run ends."""
    common = dict(max_steps=10, scheduler="cosine", ckpt_every=3, val_every=4)
    clean = Trainer(TinyDenoise(), make_cfg(tmp_path, "a", **common))
    clean_result = clean.fit()

    interrupted = Trainer(TinyDenoise(interrupt_at=interrupt_at), make_cfg(tmp_path, "b", **common))
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit()
    _, rows_before = read_rows(tmp_path / "runs" / "b" / "metrics.csv")
    assert int(rows_before[-1]["step"]) == interrupt_at - 1  # logged past the checkpoint at step 6

    resumed = Trainer(TinyDenoise(), make_cfg(tmp_path, "b", resume=True, **common))
    result = resumed.fit()
    assert result["step"] == 10
    assert result["best"] == clean_result["best"]

    for key, value in weights(clean).items():
        assert torch.equal(weights(resumed)[key], value), key
    for name, optimizer in clean.optimizers.items():
        assert resumed.lr(name) == optimizer.param_groups[0]["lr"]

    cols_a, rows_a = read_rows(tmp_path / "runs" / "a" / "metrics.csv")
    cols_b, rows_b = read_rows(tmp_path / "runs" / "b" / "metrics.csv")
    assert cols_a == cols_b
    steps = [int(r["step"]) for r in rows_b]
    assert steps == list(range(1, 11)), steps  # no duplicated or missing step
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(rows_b) == strip(rows_a)


@pytest.mark.parametrize("interrupt_at", [5, 10])
def test_resumed_log_equals_an_uninterrupted_one_row_for_row(tmp_path, monkeypatch, interrupt_at):
    """Logged every 2 steps, checkpointed every 3: the checkpoints of steps 3 and 9 fall inside a log
    window, so the first row after the resume averages steps from both sides of the interruption.
    A clock that ticks once per reading makes ``seconds`` comparable."""
    clock = iter(range(1, 10**6))
    monkeypatch.setattr("studio.engine.time.time", lambda: float(next(clock)))
    common = dict(max_steps=10, scheduler="cosine", log_every=2, ckpt_every=3, val_every=4)
    Trainer(TinyDenoise(), make_cfg(tmp_path, "a", **common)).fit()
    with pytest.raises(KeyboardInterrupt):
        Trainer(TinyDenoise(interrupt_at=interrupt_at), make_cfg(tmp_path, "b", **common)).fit()
    Trainer(TinyDenoise(), make_cfg(tmp_path, "b", resume=True, **common)).fit()

    cols_a, rows_a = read_rows(tmp_path / "runs" / "a" / "metrics.csv")
    cols_b, rows_b = read_rows(tmp_path / "runs" / "b" / "metrics.csv")
    assert cols_a == cols_b and [r["step"] for r in rows_b] == ["2", "4", "6", "8", "10"]
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(rows_b) == strip(rows_a)
    # elapsed time counts on from the checkpoint instead of restarting at zero
    seconds = [float(r["seconds"]) for r in rows_b]
    assert seconds == sorted(seconds) and len(set(seconds)) == len(seconds), seconds


def test_runs_killed_at_random_steps_resume_to_the_same_log_and_weights(tmp_path, monkeypatch):
    """Five trials with seeded random log intervals, checkpoint intervals and kill steps (the log
    interval mostly not dividing the checkpoint one): the resumed run's metrics.csv (but for the
    wall-clock column) and final weights equal the uninterrupted run's."""
    clock = iter(range(1, 10**7))
    monkeypatch.setattr("studio.engine.time.time", lambda: float(next(clock)))
    rng = np.random.default_rng(2026)
    for trial in range(5):
        common = dict(max_steps=14, scheduler="cosine", log_every=int(rng.integers(1, 6)),
                      ckpt_every=int(rng.integers(2, 6)), val_every=int(rng.integers(3, 8)))
        kill = int(rng.integers(common["ckpt_every"] + 1, 15))  # after at least one checkpoint
        clean = Trainer(TinyDenoise(), make_cfg(tmp_path, f"a{trial}", **common))
        clean.fit()
        with pytest.raises(KeyboardInterrupt):
            Trainer(TinyDenoise(interrupt_at=kill), make_cfg(tmp_path, f"b{trial}", **common)).fit()
        resumed = Trainer(TinyDenoise(), make_cfg(tmp_path, f"b{trial}", resume=True, **common))
        resumed.fit()
        _, rows_a = read_rows(tmp_path / "runs" / f"a{trial}" / "metrics.csv")
        _, rows_b = read_rows(tmp_path / "runs" / f"b{trial}" / "metrics.csv")
        strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
        assert strip(rows_b) == strip(rows_a), (trial, common, kill)
        for key, value in clean.modules["g"].state_dict().items():
            assert torch.equal(value, resumed.modules["g"].state_dict()[key]), (trial, common, kill, key)


def test_existing_checkpoint_without_resume_is_refused(tmp_path):
    Trainer(TinyDenoise(), make_cfg(tmp_path, max_steps=2)).fit()
    state = tmp_path / "runs" / "run" / STATE_FILE
    before = state.read_bytes()
    with pytest.raises(FileExistsError, match="--resume"):
        Trainer(TinyDenoise(), make_cfg(tmp_path, max_steps=4)).fit()
    assert state.read_bytes() == before  # nothing overwritten


def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        Trainer(TinyDenoise(), make_cfg(tmp_path, "fresh", resume=True)).fit()
    message = str(err.value)
    assert "no checkpoint" in message and str(tmp_path / "runs" / "fresh" / STATE_FILE) in message
    assert "without --resume" in message


def test_resume_of_finished_run_does_nothing(tmp_path):
    first = Trainer(TinyDenoise(), make_cfg(tmp_path, max_steps=3))
    first.fit()
    again = Trainer(TinyDenoise(), make_cfg(tmp_path, max_steps=3, resume=True))
    assert again.fit()["step"] == 3
    for key, value in weights(first).items():
        assert torch.equal(weights(again)[key], value)
    _, rows = read_rows(tmp_path / "runs" / "run" / "metrics.csv")
    assert [int(r["step"]) for r in rows] == [1, 2, 3]


# ---- divergence ----------------------------------------------------------------------------------

def test_nan_loss_stops_with_step_phase_and_checkpoint(tmp_path):
    cfg = make_cfg(tmp_path, max_steps=10, ckpt_every=2)
    with pytest.raises(TrainingDiverged) as err:
        Trainer(TinyDenoise(nan_at=3), cfg).fit()
    message = str(err.value)
    state = tmp_path / "runs" / "run" / STATE_FILE
    assert "step 3" in message and "'g'" in message and "nan" in message.lower()
    assert str(state) in message and "--resume" in message
    assert state.is_file()
    # the checkpoint named in the message is the good one of step 2 and resumes
    resumed = Trainer(TinyDenoise(), make_cfg(tmp_path, max_steps=4, ckpt_every=2, resume=True))
    assert resumed.fit()["step"] == 4


def test_nan_before_any_checkpoint_does_not_point_to_a_missing_file(tmp_path):
    with pytest.raises(TrainingDiverged) as err:
        Trainer(TinyDenoise(nan_at=1), make_cfg(tmp_path)).fit()
    message = str(err.value)
    assert "step 1" in message
    assert not (tmp_path / "runs" / "run" / STATE_FILE).exists()
    assert "no checkpoint" in message.lower()


# ---- gradient accumulation and clipping ----------------------------------------------------------

def _first_update(tmp_path, name, **overrides):
    trainer = Trainer(TinyDenoise(full_batch=True),
                      make_cfg(tmp_path, name, max_steps=1, batch_size=8, **overrides))
    trainer.fit()
    grads = {n: p.grad.detach().clone() for n, p in trainer.modules["g"].named_parameters()}
    return trainer, grads


def test_grad_accum_matches_full_batch(tmp_path):
    full, full_grads = _first_update(tmp_path, "accum1", grad_accum=1)
    accum, accum_grads = _first_update(tmp_path, "accum2", grad_accum=2)
    # gradients (left on the parameters after the step) and the updated weights agree
    for key in full_grads:
        torch.testing.assert_close(accum_grads[key], full_grads[key], rtol=1e-5, atol=1e-7)
    for key, value in weights(full).items():
        torch.testing.assert_close(weights(accum)[key], value, rtol=1e-5, atol=1e-6)
    _, rows1 = read_rows(tmp_path / "runs" / "accum1" / "metrics.csv")
    _, rows2 = read_rows(tmp_path / "runs" / "accum2" / "metrics.csv")
    assert float(rows2[0]["loss_g"]) == pytest.approx(float(rows1[0]["loss_g"]), rel=1e-4)


def test_uneven_grad_accum_chunks_are_weighted(tmp_path):
    trainer1 = Trainer(TinyDenoise(full_batch=True), make_cfg(tmp_path, "b7a", max_steps=1, batch_size=7))
    trainer1.fit()
    trainer3 = Trainer(TinyDenoise(full_batch=True),
                       make_cfg(tmp_path, "b7c", max_steps=1, batch_size=7, grad_accum=3))
    trainer3.fit()
    for (n, p1), (_, p3) in zip(trainer1.modules["g"].named_parameters(), trainer3.modules["g"].named_parameters()):
        torch.testing.assert_close(p3.grad, p1.grad, rtol=1e-5, atol=1e-7, msg=n)


def test_grad_clip_logs_norm_and_clips(tmp_path):
    clip = 1e-3
    trainer, grads = _first_update(tmp_path, "clip", grad_clip=clip)
    columns, rows = read_rows(tmp_path / "runs" / "clip" / "metrics.csv")
    assert "grad_norm_g" in columns
    logged = float(rows[0]["grad_norm_g"])
    assert logged > clip  # the norm before clipping is logged
    total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads.values()]))
    assert float(total) == pytest.approx(clip, rel=1e-3)
    _, unclipped = _first_update(tmp_path, "noclip")
    total_raw = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in unclipped.values()]))
    assert logged == pytest.approx(float(total_raw), rel=1e-4)
    assert "grad_norm_g" not in read_rows(tmp_path / "runs" / "noclip" / "metrics.csv")[0]


# ---- schedules -----------------------------------------------------------------------------------

def test_plateau_cuts_lr_when_validation_stalls(tmp_path):
    cfg = make_cfg(tmp_path, "flat", max_steps=5, scheduler="plateau", plateau_patience=1,
                   plateau_factor=0.5, val_every=1)
    trainer = Trainer(TinyDenoise(val_values=lambda step: 1.0), cfg)
    trainer.fit()
    assert trainer.lr() == pytest.approx(0.25e-2)
    _, rows = read_rows(tmp_path / "runs" / "flat" / "metrics.csv")
    # a row logs the lr used during its step (validation and the cut come after)
    assert [float(r["lr_g"]) for r in rows] == pytest.approx([1e-2, 1e-2, 1e-2, 0.5e-2, 0.5e-2])

    improving = Trainer(TinyDenoise(val_values=lambda step: float(step)),
                        make_cfg(tmp_path, "up", max_steps=5, scheduler="plateau", plateau_patience=1,
                                 val_every=1))
    improving.fit()
    assert improving.lr() == pytest.approx(1e-2)


def test_cosine_reaches_min_lr(tmp_path):
    trainer = Trainer(TinyDenoise(), make_cfg(tmp_path, max_steps=5, scheduler="cosine", min_lr=1e-5))
    trainer.fit()
    assert trainer.lr() == pytest.approx(1e-5)


def test_unknown_scheduler_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="scheduler"):
        Trainer(TinyDenoise(), make_cfg(tmp_path, scheduler="step"))


# ---- several optimizers --------------------------------------------------------------------------

def test_gan_phases_step_both_optimizers(tmp_path):
    cfg = make_cfg(tmp_path, "gan", max_steps=3)
    trainer = Trainer(TinyGAN(), cfg)
    start = {name: weights(trainer, name) for name in ("g", "d")}
    trainer.fit()
    for name in ("g", "d"):
        changed = [not torch.equal(weights(trainer, name)[k], v) for k, v in start[name].items()]
        assert all(changed), name
    # each optimizer owns only its module's parameters and stepped once per training step
    for name in ("g", "d"):
        optimizer = trainer.optimizers[name]
        own = {id(p) for p in trainer.modules[name].parameters()}
        params = [p for group in optimizer.param_groups for p in group["params"]]
        assert {id(p) for p in params} == own
        assert all(int(optimizer.state[p]["step"]) == 3 for p in params)
    columns, rows = read_rows(tmp_path / "runs" / "gan" / "metrics.csv")
    assert {"loss_d", "loss_g", "loss_adv", "lr_d", "lr_g"} <= set(columns)
    assert all(r["loss_d"] and r["loss_adv"] for r in rows)


def test_gan_resume_restores_both_optimizers(tmp_path):
    common = dict(max_steps=5, ckpt_every=2, scheduler="cosine")
    clean = Trainer(TinyGAN(), make_cfg(tmp_path, "a", **common))
    clean.fit()
    with pytest.raises(KeyboardInterrupt):
        Trainer(TinyGAN(interrupt_at=4), make_cfg(tmp_path, "b", **common)).fit()
    resumed = Trainer(TinyGAN(), make_cfg(tmp_path, "b", resume=True, **common))
    resumed.fit()
    for name in ("g", "d"):
        for key, value in weights(clean, name).items():
            assert torch.equal(weights(resumed, name)[key], value), (name, key)
