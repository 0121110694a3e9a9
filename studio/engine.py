"""One training loop for every model family.

A family describes *what* to train with a ``TrainingTask``: its modules, its optimizers, the
update phases of one step (``["g"]`` for a plain model, ``["d", "g", "g"]`` for a GAN that does
one discriminator update then two generator updates) and the loss of each phase. The engine does
the rest the same way for everyone: device selection, seeding and determinism, optional bf16
autocast, gradient accumulation and clipping, cosine/plateau schedules, tqdm progress, a CSV log
per run, atomic checkpoints and ``--resume``, a stop with a clear message on NaN/Inf, and
multi-process data-parallel training when launched by ``torchrun`` (gloo on CPU).

Batches are drawn from a generator seeded by ``(seed, rank, step)``, so a resumed run sees the
same data as an uninterrupted one without saving any sampler state. The checkpoint also holds
what the log needs -- the running averages of the current log window and the elapsed training
time -- so a resumed run's ``metrics.csv`` equals an uninterrupted one's row for row, with
``seconds`` counting on from the checkpoint (the time lost to the interruption is not counted).
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from studio.checkpoint import (PICKLE_SUFFIXES, CheckpointError, count_parameters, load_training_state,
                               load_weights, save_model, save_training_state)
from studio.registry import CHECKPOINT_DIR
from studio.snapshots import SnapshotCrop, SnapshotWriter

STATE_FILE = "state.safetensors"


def init_source(source) -> Path:
    """The weights a training stage starts from (``--init-from``): a model name under checkpoints/,
    a model folder, a weights file, or a run folder, whose fp32 ``state.safetensors`` is used (not
    the export, which may be stored in fp16)."""
    path = Path(source)
    if not path.exists() and (CHECKPOINT_DIR / str(source)).is_dir():
        path = CHECKPOINT_DIR / str(source)
    if path.is_dir():
        path = path / STATE_FILE if (path / STATE_FILE).is_file() else path / "model.safetensors"
    if not path.is_file():
        raise CheckpointError(f"--init-from {source}: no model folder, run folder or weights file there")
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise CheckpointError(f"--init-from {source}: pickle-based checkpoints are refused (they can run "
                              "arbitrary code); convert it to .safetensors first")
    return path


def check_run_start(runs_dir, run_name: str, resume: bool, export=None) -> None:
    """What ``Trainer.fit`` would refuse, checked before a command loads its data: ``--resume``
    without a checkpoint, a run name that already has one, and run or export folders that cannot
    be written (``studio.cli.CommandError``)."""
    from studio.cli import check_writable

    run_dir = Path(runs_dir) / run_name
    state = run_dir / STATE_FILE
    if resume and not state.is_file():
        raise FileNotFoundError(f"--resume: no checkpoint at {state}; start without --resume")
    if not resume and state.exists():
        raise FileExistsError(f"run {run_name!r} already has a checkpoint in {run_dir}; pass --resume to continue "
                              "it or choose another --run-name")
    check_writable(run_dir, "--runs-dir/--run-name", folder=True)
    if export is not None and str(export) != "none":
        check_writable(export, "--export", folder=True)


def load_initial_weights(model: torch.nn.Module, source, module: str = "g") -> Path:
    """Load ``init_source(source)`` into ``model`` (from a training state: its ``module``); the path."""
    path = init_source(source)
    load_weights(model, path, prefix=f"module.{module}." if path.name == STATE_FILE else "")
    return path


def _exported_command(run_log: str, cards_dir) -> str | None:
    """The command in the card of the model a run exported (for runs whose config.json has none);
    read before a later stage's export replaces that card."""
    for card_path in sorted(Path(cards_dir).glob("*/card.json")):
        card = json.loads(card_path.read_text())
        if (card.get("training") or {}).get("run_log") == run_log:
            return card.get("command")
    return None


def describe_init(source, cards_dir=CHECKPOINT_DIR) -> dict:
    """What a later stage started from, for its card: the path and, for a run folder, that run's
    log, recipe and command (so a two-stage checkpoint names both stages)."""
    path = init_source(source)
    info = {"source": str(path.parent if path.name in (STATE_FILE, "model.safetensors") else path)}
    config = path.parent / "config.json"
    if config.is_file():
        recorded = json.loads(config.read_text())
        extra = recorded.get("extra", {})
        info.update(run_log=str(path.parent / "metrics.csv"), steps=recorded.get("max_steps"),
                    batch_size=recorded.get("batch_size"), lr=recorded.get("lr"), amp=recorded.get("amp"),
                    patch=extra.get("patch"))
        command = extra.get("command") or _exported_command(info["run_log"], cards_dir)
        if command:
            info["command"] = command
    return info


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the message says where and what to try."""


@dataclass
class TrainConfig:
    run_name: str
    runs_dir: str = "results/runs"
    max_steps: int = 1000
    batch_size: int = 16
    lr: float = 2e-4
    weight_decay: float = 0.0
    betas: tuple = (0.9, 0.999)
    scheduler: str = "cosine"  # cosine | plateau | none
    min_lr: float = 1e-6
    plateau_patience: int = 3  # validations without improvement before the LR is cut
    plateau_factor: float = 0.5
    grad_accum: int = 1
    grad_clip: float = 0.0  # max global norm; 0 disables
    amp: bool = False  # bf16 autocast
    channels_last: bool = True
    seed: int = 0
    device: str = "auto"
    deterministic: bool = True
    log_every: int = 20
    val_every: int = 500
    ckpt_every: int = 200
    resume: bool = False
    threads: int = 0  # torch intra-op threads; 0 keeps torch's default
    snapshots: bool = True  # the task's snapshot crops at every validation (studio.snapshots)
    extra: dict = field(default_factory=dict)  # family-specific settings, logged with the config

    @classmethod
    def from_args(cls, args, **fixed) -> "TrainConfig":
        """The config of a training script's parsed ``args``: every field named like an option
        (``add_run_arguments`` and the family's own; ``--steps`` is ``max_steps``), the whole
        namespace but ``--resume`` as ``extra``, then the settings the family fixes (``fixed``)."""
        values = vars(args)
        config = {f.name: values[f.name] for f in fields(cls) if f.name != "extra" and values.get(f.name) is not None}
        if values.get("steps") is not None:
            config["max_steps"] = values["steps"]
        config["extra"] = {k: v for k, v in values.items() if k != "resume"}
        config.update(fixed)
        return cls(**config)


def add_run_arguments(parser, *, grad_clip: float = 1.0, val_every: int | None = None, log_every: int = 10,
                      ckpt_every: int = 50, channels_last_help: str | None = None) -> None:
    """The command-line options every training script shares: engine settings (``TrainConfig``),
    the run folder, the export folder and ``--resume``. ``channels_last_help`` adds
    ``--channels-last/--no-channels-last`` (default off) for families where it is a choice."""
    import argparse

    from studio.cli import number

    parser.add_argument("--grad-accum", type=number(1), default=1)
    parser.add_argument("--grad-clip", type=number(0, integer=False), default=grad_clip,
                        help="max gradient norm (0: no clipping)")
    parser.add_argument("--amp", action="store_true",
                        help="bf16 autocast: faster on CPUs with native bf16 (AVX512-BF16, AMX; results/bench/*_bench.md), many times "
                        "slower where it is emulated (AVX2 only); see studio.inference.native_bf16")
    if channels_last_help is not None:
        parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=False,
                            help=channels_last_help)
    parser.add_argument("--seed", type=number(0, 2**32 - 1), default=0)
    parser.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, cuda:1, mps")
    parser.add_argument("--threads", type=number(0), default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--val-every", type=number(1), default=val_every)
    parser.add_argument("--log-every", type=number(1), default=log_every)
    parser.add_argument("--ckpt-every", type=number(1), default=ckpt_every)
    parser.add_argument("--snapshots", action=argparse.BooleanOptionalAction, default=True,
                        help="save the model's output on the family's fixed validation crops at every validation "
                             "(<run>/snapshots/, the dashboard's Replay page)")
    parser.add_argument("--runs-dir", default="results/runs")
    parser.add_argument("--export", default=None,
                        help="folder to export the trained model to (default checkpoints/<preset>; 'none' to skip)")
    parser.add_argument("--resume", action="store_true", help="continue results/runs/<run> from its last checkpoint")


def select_device(requested: str = "auto") -> torch.device:
    if requested != "auto":
        return torch.device(requested)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int, deterministic: bool = True) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


class TrainingTask:
    """What a family implements. ``ctx`` is the running ``Trainer``."""

    #: optimizer name -> module names whose parameters it updates
    optimizers: dict[str, list[str]] = {"g": ["g"]}

    def build_modules(self, cfg: TrainConfig) -> dict[str, torch.nn.Module]:
        raise NotImplementedError

    def phases(self, step: int) -> list[str]:
        """Optimizer names to update, in order, during ``step``."""
        return ["g"]

    def sample_batch(self, rng: np.random.Generator, batch_size: int, device) -> dict:
        raise NotImplementedError

    def loss(self, phase: str, batch: dict, ctx: "Trainer") -> tuple[torch.Tensor, dict]:
        """Loss to minimise for ``phase`` and floats to log."""
        raise NotImplementedError

    def validate(self, ctx: "Trainer") -> dict:
        """Validation figures (floats); the first key drives the plateau scheduler."""
        return {}

    def optimizer_config(self, name: str, cfg: TrainConfig) -> dict:
        """Per-optimizer overrides of lr / weight_decay / betas."""
        return {}

    def on_best(self, ctx: "Trainer") -> None:
        """Called on rank 0 when the first validation figure reaches a new best."""

    #: the family whose runs share snapshot crops (``studio.snapshots``); None: no snapshots
    snapshot_family: str | None = None

    def snapshot_crops(self) -> list[SnapshotCrop]:
        """The fixed validation crops snapshotted at every validation (the same for every run of the family)."""
        return []

    def snapshot_outputs(self, ctx: "Trainer", crops: list[SnapshotCrop]) -> dict[str, np.ndarray]:
        """crop name -> the model's output (HxWx3 in [0, 1]) on that crop's input, in eval mode."""
        raise NotImplementedError


class CSVLog:
    """metrics.csv with one row per logged step; columns grow as new keys appear.

    The whole file is rewritten atomically on each flush (logs are small), so a crash never
    leaves a torn row and a resume can drop the rows after its checkpoint.
    """

    def __init__(self, path: Path):
        self.path, self.rows, self.columns = path, [], ["step"]
        if path.is_file():
            with path.open(newline="") as handle:
                reader = csv.DictReader(handle)
                self.columns = list(reader.fieldnames or ["step"])
                self.rows = [row for row in reader]

    def truncate_after(self, step: int) -> None:
        self.rows = [row for row in self.rows if int(float(row["step"])) <= step]

    def log(self, step: int, values: dict) -> None:
        row = {"step": step, **{k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in values.items()}}
        for key in row:
            if key not in self.columns:
                self.columns.append(key)
        self.rows.append(row)

    def flush(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.columns)
            writer.writeheader()
            writer.writerows(self.rows)
        os.replace(tmp, self.path)


class Trainer:
    def __init__(self, task: TrainingTask, cfg: TrainConfig):
        self.task, self.cfg = task, cfg
        self.distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
        self.rank, self.world_size = 0, 1
        self.device = select_device(cfg.device)
        if self.distributed:
            if not dist.is_initialized():
                dist.init_process_group(backend="nccl" if self.device.type == "cuda" else "gloo")
            self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
            if self.device.type == "cuda":
                self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        seed_everything(cfg.seed, cfg.deterministic)  # same init on every rank
        self.run_dir = Path(cfg.runs_dir) / cfg.run_name
        self.is_main = self.rank == 0
        self.modules = task.build_modules(cfg)
        for name, module in self.modules.items():
            module.to(self.device)
            if cfg.channels_last and self.device.type != "mps":
                module.to(memory_format=torch.channels_last)
        # ``self.models`` is what losses call: DDP-wrapped when distributed.
        self.models = {
            name: (DistributedDataParallel(m) if self.distributed and any(p.requires_grad for p in m.parameters()) else m)
            for name, m in self.modules.items()
        }
        if not 1 <= cfg.grad_accum <= cfg.batch_size:
            raise ValueError(f"grad_accum ({cfg.grad_accum}) must be between 1 and the batch size ({cfg.batch_size})")
        self.optimizers, self.schedulers = {}, {}
        for name, module_names in task.optimizers.items():
            params = [p for m in module_names for p in self.modules[m].parameters() if p.requires_grad]
            opts = dict(lr=cfg.lr, weight_decay=cfg.weight_decay, betas=tuple(cfg.betas))
            opts.update(task.optimizer_config(name, cfg))
            self.optimizers[name] = torch.optim.AdamW(params, **opts)
            if cfg.scheduler == "cosine":
                self.schedulers[name] = torch.optim.lr_scheduler.CosineAnnealingLR(
                    self.optimizers[name], T_max=max(1, cfg.max_steps), eta_min=cfg.min_lr)
            elif cfg.scheduler == "plateau":
                self.schedulers[name] = torch.optim.lr_scheduler.ReduceLROnPlateau(
                    self.optimizers[name], mode="max", factor=cfg.plateau_factor,
                    patience=cfg.plateau_patience, min_lr=cfg.min_lr)
            elif cfg.scheduler != "none":
                raise ValueError(f"unknown scheduler {cfg.scheduler!r} (cosine, plateau or none)")
        self.step = 0
        self.best = {}
        self.created = time.time()
        #: the log's state, checkpointed with the weights: per-key values since the last logged row,
        #: and the training seconds before this process started (a resumed run counts on)
        self.window: dict[str, list[float]] = {}
        self.elapsed_before = 0.0
        self._started = time.time()

    # ---- helpers available to tasks ----------------------------------------------------------
    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.cfg.amp)

    def to_device(self, tensor: torch.Tensor) -> torch.Tensor:
        tensor = tensor.to(self.device, non_blocking=True)
        if self.cfg.channels_last and tensor.dim() == 4 and self.device.type != "mps":
            tensor = tensor.contiguous(memory_format=torch.channels_last)
        return tensor

    def lr(self, name: str = "g") -> float:
        return self.optimizers[name].param_groups[0]["lr"]

    def export(self, module: torch.nn.Module, folder, card: dict, dtype: torch.dtype | None = None) -> None:
        """Save the trained ``module`` (weights + card, ``studio.checkpoint.save_model``) and say so."""
        save_model(module, folder, card, dtype=dtype)
        print(f"exported {card.get('name', 'model')} ({count_parameters(module):,} parameters) to {folder}")

    def model_card(self, name: str, command: str, training: dict | None = None, architecture: dict | None = None,
                   **fields) -> dict:
        """The card every family exports: name, task and description from the registry, the
        architecture (the registered one unless given), the family's own top-level ``fields``,
        ``training`` (the engine's provenance, then the family's details), the command that
        reproduces it, and room for the evaluations (``studio.evaluate --update-cards``)."""
        from studio.registry import get_entry

        entry = get_entry(name)
        architecture = dict(entry.config) if architecture is None else architecture
        return {"name": name, "task": entry.task, "trained": True, "description": entry.description,
                "architecture": {k: (list(v) if isinstance(v, tuple) else v) for k, v in architecture.items()},
                **fields, "training": {**self.provenance(), **(training or {})}, "command": command, "metrics": {}}

    def close(self) -> None:
        """Leave the process group of a torchrun launch (nothing to do in a single process)."""
        if self.distributed:
            # every rank reaches the barrier before any tears gloo down: a rank that leaves while another
            # is still using the group can abort it ("terminate called without an active exception")
            dist.barrier()
            dist.destroy_process_group()

    def provenance(self) -> dict:
        """Card fields every family records: the resolved recipe, the run log, time and hardware."""
        return {
            "recipe": {k: v for k, v in asdict(self.cfg).items() if k not in ("extra", "resume", "runs_dir")},
            "run_log": str(self.run_dir / "metrics.csv"),
            "wall_seconds": round(max(self.elapsed(), time.time() - self.created), 1),  # across resumes
            "hardware": (f"{torch.get_num_threads()} CPU thread" + ("s" if torch.get_num_threads() > 1 else "")
                         if self.device.type == "cpu" else str(self.device)),
        }

    # ---- checkpointing -----------------------------------------------------------------------
    @property
    def state_path(self) -> Path:
        return self.run_dir / STATE_FILE

    def elapsed(self) -> float:
        """Training seconds so far, across resumes."""
        return self.elapsed_before + (time.time() - self._started)

    def save_state(self) -> None:
        if self.is_main:
            save_training_state(self.state_path, self.modules, self.optimizers, self.schedulers,
                                {"step": self.step, "best": self.best, "config": asdict(self.cfg),
                                 "log_window": self.window, "elapsed": self.elapsed()})

    def _resume(self, log: CSVLog) -> None:
        if not self.state_path.is_file():
            raise FileNotFoundError(f"--resume: no checkpoint at {self.state_path}; start without --resume")
        extra = load_training_state(self.state_path, self.modules, self.optimizers, self.schedulers)
        self.step, self.best = int(extra["step"]), extra.get("best", {})
        # a checkpoint without them resumes with an empty window and the clock at 0
        self.window = {k: [float(v) for v in values] for k, values in (extra.get("log_window") or {}).items()}
        self.elapsed_before = float(extra.get("elapsed") or 0.0)
        log.truncate_after(self.step)

    # ---- the loop ----------------------------------------------------------------------------
    def _check_finite(self, phase: str, loss: torch.Tensor, logs: dict) -> None:
        if not torch.isfinite(loss):
            bad = {k: v for k, v in logs.items() if isinstance(v, float) and not math.isfinite(v)}
            if self.state_path.is_file():
                advice = (f"The last good checkpoint is {self.state_path}; lower the learning rate (now "
                          f"{self.lr(phase):.3g}) or enable gradient clipping, then --resume.")
            else:
                advice = (f"No checkpoint was saved yet (it would be {self.state_path}); lower the learning "
                          f"rate (now {self.lr(phase):.3g}) or enable gradient clipping and start again.")
            raise TrainingDiverged(
                f"run {self.cfg.run_name!r}: loss of phase {phase!r} became {loss.item()} at step "
                f"{self.step + 1} (non-finite terms: {bad or 'the total'}). {advice}"
            )

    def train_step(self, phase: str, batch: dict) -> dict:
        """One optimizer step of ``phase`` on ``batch`` (gradient accumulation, autocast, the
        finite-loss check, clipping); returns the phase's logged values. ``fit`` calls it for each
        phase of each step; the protocol's LR finder and warm-ups call it directly."""
        optimizer, accum = self.optimizers[phase], self.cfg.grad_accum
        optimizer.zero_grad(set_to_none=True)
        logs: dict[str, float] = {}
        size = next(iter(batch.values())).shape[0]
        chunks = [{k: v[i::accum] for k, v in batch.items()} for i in range(accum)] if accum > 1 else [batch]
        for chunk in chunks:
            with self.autocast():
                loss, chunk_logs = self.task.loss(phase, chunk, self)
            loss = loss.float()
            self._check_finite(phase, loss, chunk_logs)
            (loss * (chunk[next(iter(chunk))].shape[0] / size)).backward()
            for k, v in chunk_logs.items():
                logs[k] = logs.get(k, 0.0) + float(v) / len(chunks)
        if self.cfg.grad_clip > 0:
            params = [p for group in optimizer.param_groups for p in group["params"]]
            logs[f"grad_norm_{phase}"] = float(torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip))
        optimizer.step()
        return logs

    def validate(self) -> dict:
        for m in self.modules.values():
            m.eval()
        with torch.no_grad():
            results = self.task.validate(self) if self.is_main else {}
        for m in self.modules.values():
            m.train()
        return results

    def _start_snapshots(self) -> SnapshotWriter | None:
        if not (self.is_main and self.cfg.snapshots and self.task.snapshot_family):
            return None
        crops = self.task.snapshot_crops()
        if not crops:
            return None
        writer = SnapshotWriter(self.run_dir, self.task.snapshot_family, crops)
        writer.start(resume_step=self.step if self.cfg.resume else None)
        return writer

    def snapshot(self, writer: SnapshotWriter) -> None:
        """The task's outputs on the snapshot crops at this step, written by ``writer``."""
        for m in self.modules.values():
            m.eval()
        try:
            with torch.no_grad():
                outputs = self.task.snapshot_outputs(self, writer.crops)
        finally:
            for m in self.modules.values():
                m.train()
        writer.write(self.step, outputs)

    def fit(self) -> dict:
        cfg = self.cfg
        if self.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        log = CSVLog(self.run_dir / "metrics.csv") if self.is_main else None
        if cfg.resume:
            self._resume(log or CSVLog(self.run_dir / "_unused.csv"))
        elif self.state_path.exists():  # every rank checks, so none is left waiting at a sync
            raise FileExistsError(
                f"run {cfg.run_name!r} already has a checkpoint in {self.run_dir}; pass --resume to continue "
                "it or choose another --run-name")
        elif log is not None:
            log.rows = []
        if self.is_main:
            (self.run_dir / "config.json").write_text(json.dumps(
                dict(asdict(cfg), world_size=self.world_size, device=str(self.device)), indent=2) + "\n")
        snapshots = self._start_snapshots()
        for m in self.modules.values():
            m.train()
        progress = tqdm(total=cfg.max_steps, initial=self.step, desc=cfg.run_name, disable=not self.is_main,
                        dynamic_ncols=True)
        self._started = time.time()
        try:
            while self.step < cfg.max_steps:
                rng = np.random.default_rng([cfg.seed, self.rank, self.step])
                batch = self.task.sample_batch(rng, cfg.batch_size, self.device)
                batch = {k: self.to_device(v) for k, v in batch.items()}
                logs: dict[str, float] = {}
                for phase in self.task.phases(self.step):
                    for k, v in self.train_step(phase, batch).items():
                        logs[k] = v  # a repeated phase logs its last update
                for name, scheduler in self.schedulers.items():
                    if not isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                        scheduler.step()
                self.step += 1
                for k, v in logs.items():
                    self.window.setdefault(k, []).append(v)
                progress.update(1)
                row = {}
                if self.step % cfg.log_every == 0 or self.step == cfg.max_steps:
                    row.update({k: float(np.mean(v)) for k, v in self.window.items()})
                    row.update({f"lr_{n}": self.lr(n) for n in self.optimizers})
                    row["seconds"] = round(self.elapsed(), 2)
                    self.window = {}
                    progress.set_postfix({k: f"{v:.4g}" for k, v in list(row.items())[:3]})
                if self.step % cfg.val_every == 0 or self.step == cfg.max_steps:
                    val = self.validate()
                    if snapshots is not None:
                        self.snapshot(snapshots)
                    row.update(val)
                    self._step_plateau(val)
                    if val and self.is_main:
                        key = next(iter(val))
                        if key not in self.best or val[key] > self.best[key]["value"]:
                            self.best[key] = {"value": val[key], "step": self.step}
                            self.task.on_best(self)
                if row and log is not None:
                    log.log(self.step, row)
                    log.flush()
                if self.step % cfg.ckpt_every == 0 or self.step == cfg.max_steps:
                    self.save_state()
        finally:
            progress.close()
        if self.distributed:
            dist.barrier()
        return {"step": self.step, "best": self.best}

    def _step_plateau(self, val: dict) -> None:
        # Every rank must step identically, so the metric comes from rank 0.
        if not self.distributed and not val:
            return
        # [figure, whether rank 0 had one]: without a figure no rank steps, as in a single process
        metric = torch.tensor([float(next(iter(val.values()))) if val else 0.0, 1.0 if val else 0.0],
                              dtype=torch.float64)
        if self.distributed:
            dist.broadcast(metric, src=0)
        if not metric[1]:
            return
        metric = metric[0]
        for scheduler in self.schedulers.values():
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(float(metric))
