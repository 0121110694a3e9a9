"""The experiment protocol of the course reports (sources 001 and 003, docs/sources.md): one command per step, for
any registered classifier and for the super-resolution family.

    python -m training.protocol baselines     --model dilated-cnn --classes 10 --name dilated-cnn-tin10
    python -m training.protocol check-init    --model dilated-cnn --classes 10 --name dilated-cnn-tin10
    python -m training.protocol overfit-small --model dilated-cnn --classes 10 --name dilated-cnn-tin10
    python -m training.protocol lr-find       --model dilated-cnn --classes 10 --name dilated-cnn-tin10
    python -m training.protocol grid-search   --model dilated-cnn --classes 10 --name dilated-cnn-tin10 --steps 60
    python -m training.protocol train         --model dilated-cnn --classes 10 --name dilated-cnn-tin10 --from-grid
    python -m training.protocol evaluate      --model dilated-cnn --name dilated-cnn-tin10
    python -m training.protocol lr-find       --model srresnet
    python -m training.protocol grid-search   --model srresnet --steps 40

Commands:
  baselines      classifiers: majority class and uniform random (accuracy, macro-F1) on val/test;
                 restoration: the degraded input (bicubic-upscaled) and the classical models
                 (bicubic, lanczos), scored by studio.evaluate
  check-init     initial loss on a few batches against its expected value (-log(1/C); for SR the
                 L1 of the bicubic-upscaled input), and a gradient check of every parameter tensor
  overfit-small  N examples, no weight decay, no augmentation, constant LR, until the training
                 loss is below --target-loss or --steps runs out
  lr-find        Smith's LR range test: log-spaced LRs, one update each, EMA-smoothed loss,
                 suggestions (steepest, min/10, valley); the weights and optimizer are restored
  grid-search    lr x weight decay x two model hyperparameters with Optuna's GridSampler, stored
                 in a database (default sqlite:///results/grid/<name>.db; any SQLAlchemy URL, so
                 several machines can share a study); rerunning the command resumes the study and
                 runs only the grid points not finished yet
  train          full training through the family's trainer (training.train_classifier or
                 training.train_sr), optionally with the grid search's best point (--from-grid)
  evaluate       classifiers: accuracy, macro-F1, per-class scores and the confusion matrix
                 (scikit-learn) on the test and val splits; SR: studio.evaluate against the baselines

Every command writes results/protocol/<name>/<command>.csv (schemas in docs/protocol.md); every
training goes through the engine (studio.engine), so curves land in results/runs/<run>/metrics.csv
where the dashboard (streamlit run studio/dashboard/app.py) reads them.
"""

from __future__ import annotations

import argparse
import copy
import csv
import math
import shlex
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from studio import cli
from studio.checkpoint import WEIGHTS_FILE, CheckpointError, load_weights, read_card
from studio.data import DATASETS, require_dataset
from studio.engine import STATE_FILE, TrainConfig, Trainer, TrainingDiverged, TrainingTask
from studio.registry import CHECKPOINT_DIR, get_entry, list_models
from studio.results import write_table
from models.srresnet import Discriminator
from training import train_classifier, train_sr
from training.train_sr import SuperResolutionTask
from training.train_classifier import (ClassificationTask, FolderDataset, load_classifier_data, parse_overrides,
                                       predict, to_tensor)

COMMANDS = ("baselines", "check-init", "overfit-small", "lr-find", "grid-search", "train", "evaluate")
OUT_DIR = "results/protocol"
GRID_DIR = "results/grid"
RUNS_DIR = "results/runs"

#: grid of each model: lr x weight_decay x two model hyperparameters (16 points each)
DEFAULT_GRIDS = {
    "dilated-cnn": {"lr": [1e-3, 3e-3], "weight_decay": [1e-5, 1e-4], "blocks_per_stage": [2, 3], "dilation": [2, 3]},
    "resnet-dropout": {"lr": [1e-3, 3e-3], "weight_decay": [1e-5, 1e-4], "blocks": [2, 3], "dropout": [0.1, 0.3]},
    "vgg-mini": {"lr": [1e-3, 3e-3], "weight_decay": [1e-5, 1e-4]},
    "srresnet": {"lr": [2e-4, 5e-4], "weight_decay": [0.0, 1e-4], "channels": [32, 48], "num_blocks": [4, 8]},
}
DEFAULTS = {
    "classification": dict(batch_size=32, lr=1e-3, overfit_lr=1e-3, target_loss=0.01, tolerance=0.05),
    # SR: "near zero" is relative; the target is a fraction of the bicubic input's own L1 error
    "sr": dict(batch_size=8, lr=5e-4, overfit_lr=1e-3, target_loss=None, tolerance=0.5),
}


# ---- small helpers ---------------------------------------------------------------------------

def write_csv(path, rows: list[dict], columns: list[str] | None = None) -> Path:
    """A protocol table (``studio.results.write_table``): the given columns, then any new key."""
    return write_table(path, rows, columns)


def read_csv_rows(path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def parse_grid(items) -> dict[str, list]:
    """``["blocks_per_stage=2,3", "activation=relu,gelu"]`` -> {"blocks_per_stage": [2, 3], ...}."""
    grid = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not text:
            raise ValueError(f"--grid expects KEY=V1,V2,..., got {item!r}")
        grid[key.strip()] = [parse_overrides([f"v={v.strip()}"])["v"] for v in text.split(",")]
    return grid


def last_values(metrics_csv) -> dict:
    """The last non-empty value of every column of a run's metrics.csv."""
    out: dict = {}
    path = Path(metrics_csv)
    if not path.is_file():
        return out
    for row in read_csv_rows(path):
        for key, value in row.items():
            if value not in ("", None):
                try:
                    out[key] = float(value)
                except ValueError:
                    out[key] = value
    return out


def dataset_root(text: str) -> Path:
    """A card's dataset root (``../shared/datasets/...`` as display_path writes it) as a real path."""
    prefix = "../shared/datasets/"
    if text.startswith(prefix):
        return DATASETS / text[len(prefix):]
    return Path(text)


# ---- families --------------------------------------------------------------------------------

class Converged(Exception):
    """Raised by OverfitTask when the training loss reached the target (ends Trainer.fit early)."""


class OverfitTask(TrainingTask):
    """Wraps a family task: every step trains on the same fixed examples, and the run stops as soon
    as the loss of a step is below ``target`` (the next batch request raises ``Converged``; the
    engine has logged and flushed that step, and the modules hold its weights)."""

    def __init__(self, inner: TrainingTask, fixed_batch: dict, target: float, loss_key: str):
        self.inner, self.fixed, self.target, self.loss_key = inner, fixed_batch, target, loss_key
        self.optimizers = inner.optimizers
        self.losses: list[float] = []

    def build_modules(self, cfg):
        return self.inner.build_modules(cfg)

    def phases(self, step):
        return self.inner.phases(step)

    def optimizer_config(self, name, cfg):
        return self.inner.optimizer_config(name, cfg)

    def sample_batch(self, rng, batch_size, device):
        if self.losses and self.losses[-1] <= self.target:
            raise Converged()
        return {k: v.clone() for k, v in self.fixed.items()}

    def loss(self, phase, batch, ctx):
        loss, logs = self.inner.loss(phase, batch, ctx)
        if self.loss_key in logs:
            self.losses.append(float(logs[self.loss_key]))
        return loss, logs

    def validate(self, ctx):
        return {}


class ClassifierFamily:
    kind = "classification"
    metric = "val_accuracy"
    loss_key = "loss"

    def __init__(self, model: str, args):
        self.model, self.args = model, args
        self.overrides = parse_overrides(args.set)
        self._data = None

    @property
    def data(self):
        if self._data is None:
            data = self.args.data or [str(DATASETS / "tiny_imagenet_subset")]
            if len(data) != 1:
                raise ValueError("a classifier takes one --data folder (train/val layout or one folder per class)")
            require_dataset(data[0], "--data")
            self._data = load_classifier_data(data[0], self.args.classes, self.args.image_size,
                                              self.args.val_fraction, self.args.test_fraction, self.args.split_seed,
                                              progress=not self.args.quiet)
        return self._data

    @property
    def dataset_label(self) -> str:
        return self.data.label

    def task(self, model_config: dict | None = None, augment: bool = True, train: FolderDataset | None = None):
        return ClassificationTask(self.model, train or self.data.train, self.data.val,
                                  {**self.overrides, **(model_config or {})}, self.data.normalization, augment)

    def expected_loss(self, batch, ctx) -> tuple[float, str]:
        classes = len(self.data.classes)
        return math.log(classes), f"-log(1/C), C = {classes} classes"

    def fixed_examples(self, count: int, seed: int) -> tuple[dict, FolderDataset]:
        """``count`` training examples (seeded choice, classes mixed), no augmentation."""
        train = self.data.train
        index = np.sort(np.random.default_rng([seed, 7]).permutation(len(train))[:count])
        subset = train.subset(index)
        return {"image": to_tensor(subset.images), "label": torch.from_numpy(subset.labels)}, subset

    def default_target(self, fixed, ctx) -> float:
        return DEFAULTS["classification"]["target_loss"]


class SRProtocolTask(SuperResolutionTask):
    """A super-resolution task (training.train_sr) that shares an already loaded one's images, with
    architecture overrides (channels, num_blocks, ...) and the bicubic input's validation PSNR-Y
    logged beside the model's (``val_input_psnr_y``), so the dashboard can draw that baseline."""

    def __init__(self, base: SuperResolutionTask, family: "SRFamily", overrides: dict):
        self.__dict__.update(base.__dict__)  # no reload: the image bank and val images are shared
        self.family, self.overrides = family, dict(overrides)

    def architecture(self) -> dict:
        entry = get_entry(self.preset)
        return dict(entry.config, scale=self.scale, **self.overrides)

    def build_modules(self, cfg):
        if not self.overrides:
            return super().build_modules(cfg)
        modules = {"g": get_entry(self.preset).builder(**self.architecture())}
        if self.gan:
            modules["d"] = Discriminator()
        return modules

    def validate(self, ctx):
        values = super().validate(ctx)  # val_psnr_y first: it drives "best"
        values["val_input_psnr_y"] = self.family.input_psnr_y()
        return values


class SRFamily:
    kind = "sr"
    metric = "val_psnr_y"
    loss_key = "loss_g"

    def __init__(self, model: str, args):
        if model not in train_sr.PRESETS:
            raise ValueError(f"{model!r}: the protocol trains the SR presets {sorted(train_sr.PRESETS)}")
        self.model, self.args = model, args
        self.sr_args = train_sr.make_args(model, scale=args.scale, data=args.data or None, val=args.val or None,
                                          patch=args.patch)
        if args.patch is None:
            self.sr_args.patch = 64  # protocol default: small patches, many cheap steps
        self.overrides = parse_overrides(args.set)
        self._base = None
        self._input_psnr = None

    @property
    def base(self) -> SuperResolutionTask:
        if self._base is None:
            for folder in (*self.sr_args.data, self.sr_args.val):
                require_dataset(folder, "--data/--val")
            self._base = SuperResolutionTask(self.model, self.sr_args)
        return self._base

    @property
    def dataset_label(self) -> str:
        from studio.data import display_path

        return (f"HR patches {self.sr_args.patch}px from {', '.join(display_path(d) for d in self.sr_args.data)}; "
                f"val {display_path(self.sr_args.val)} x{self.sr_args.scale}")

    def input_psnr_y(self) -> float:
        """PSNR-Y of the bicubic-upscaled validation inputs (the 'no model' baseline)."""
        if self._input_psnr is None:
            from studio.degradations.sr import downscale, upscale_bicubic
            from studio.imageio import quantize
            from studio.metrics import psnr

            scale = self.sr_args.scale
            values = [psnr(quantize(upscale_bicubic(downscale(hr, scale), scale)), hr, border=scale, y_channel=True)
                      for hr in self.base.val_images]
            self._input_psnr = float(np.mean(values))
        return self._input_psnr

    def task(self, model_config: dict | None = None, augment: bool = True, train=None) -> SRProtocolTask:
        return SRProtocolTask(self.base, self, {**self.overrides, **(model_config or {})})

    def expected_loss(self, batch, ctx) -> tuple[float, str]:
        from studio.resize import imresize

        upscaled = imresize(batch["lr"].double(), float(self.sr_args.scale)).clamp(0, 1).to(batch["hr"].dtype)
        return float(F.l1_loss(upscaled, batch["hr"])), "L1 of the bicubic-upscaled input (no model)"

    def fixed_examples(self, count: int, seed: int) -> tuple[dict, None]:
        from studio.degradations.sr import downscale_batch

        hr = self.base.bank.random_crops(np.random.default_rng([seed, 7]), count, self.sr_args.patch, augment=False)
        return {"lr": downscale_batch(hr, self.sr_args.scale), "hr": hr}, None

    def default_target(self, fixed, ctx) -> float:
        reference, _ = self.expected_loss(fixed, ctx)
        return 0.5 * reference  # memorised: half the interpolation error on the training patches


def make_family(args):
    entry = get_entry(args.model)
    if entry.task == "classification":
        return ClassifierFamily(args.model, args)
    if entry.task == "sr":
        if not entry.learned and args.command not in ("baselines",):
            raise ValueError(f"{args.model!r} is a classical (untrained) model: only `baselines` applies to it")
        return SRFamily(args.model, args) if entry.learned else None
    raise ValueError(f"{args.model!r} is a {entry.task!r} model; the protocol covers classification and sr models "
                     f"(classification: {', '.join(list_models('classification'))})")


def train_config(args, family, run_name: str, **changes) -> TrainConfig:
    values = dict(run_name=run_name, runs_dir=args.runs_dir, max_steps=100,
                  batch_size=args.batch_size or DEFAULTS[family.kind]["batch_size"],
                  lr=DEFAULTS[family.kind]["lr"], weight_decay=0.0, scheduler="none", seed=args.seed,
                  device=args.device, threads=args.threads, log_every=args.log_every, val_every=10**9,
                  ckpt_every=10**9, extra={"protocol": args.command, "model": args.model, "experiment": args.name,
                                           "dataset": family.dataset_label})
    betas = (0.5, 0.999) if getattr(getattr(family, "base", None), "gan", False) else (0.9, 0.999)
    values["betas"] = betas
    values.update(changes)
    return TrainConfig(**values)


def out_path(args, filename: str) -> Path:
    return Path(args.out_dir) / args.name / filename


def batch_to_device(trainer: Trainer, batch: dict) -> dict:
    return {k: trainer.to_device(v) for k, v in batch.items()}


# ---- baselines -------------------------------------------------------------------------------

def classification_scores(labels, predictions, classes: int) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    return {"accuracy": float(accuracy_score(labels, predictions)),
            "macro_f1": float(f1_score(labels, predictions, average="macro", labels=list(range(classes)),
                                       zero_division=0))}


def cmd_baselines(args, family) -> list[dict]:
    if family is None or family.kind == "sr":
        return sr_baselines(args)
    data, classes = family.data, len(family.data.classes)
    majority = int(np.bincount(data.train.labels, minlength=classes).argmax())
    rows = []
    for index, (split, dataset) in enumerate((("val", data.val), ("test", data.test))):
        if dataset is None or len(dataset) == 0:
            continue
        rng = np.random.default_rng([args.seed, 11, index])
        guesses = {"majority": np.full(len(dataset), majority),
                   "uniform-random": rng.integers(0, classes, size=len(dataset))}
        expected = {"majority": float(np.mean(dataset.labels == majority)), "uniform-random": 1.0 / classes}
        for name, predictions in guesses.items():
            rows.append({"experiment": args.name, "model": args.model, "task": "classification",
                         "dataset": data.label, "split": split, "baseline": name,
                         **classification_scores(dataset.labels, predictions, classes),
                         "expected_accuracy": expected[name], "n": len(dataset), "num_classes": classes,
                         "detail": (f"always class {majority} ({data.classes[majority]}), the most frequent in train"
                                    if name == "majority" else f"uniform over {classes} classes, seed {args.seed}")})
    return rows


def sr_baselines(args) -> list[dict]:
    from studio.evaluation import evaluate, summarize

    entry = get_entry(args.model)
    clean = require_dataset(args.clean or args.val or str(DATASETS / "set5"), "--clean/--val")
    classical = [m for m in list_models(entry.task) if not get_entry(m).learned]
    rows_eval = evaluate(entry.task, classical, clean, scale=args.scale, seed=args.seed, progress=not args.quiet)
    summary = summarize(rows_eval)
    first = next(iter(summary.values()))
    common = {"experiment": args.name, "model": args.model, "task": entry.task, "dataset": Path(clean).name,
              "split": "eval", "scale": args.scale, "n": int(first["images"])}
    rows = [dict(common, baseline="input (bicubic-upscaled)" if entry.task == "sr" else "input (degraded)",
                 psnr=first["input_psnr"], psnr_y=first["input_psnr_y"], gain_psnr_y=0.0)]
    for name, means in summary.items():
        rows.append(dict(common, baseline=name, psnr=means["psnr"], ssim=means["ssim"], psnr_y=means["psnr_y"],
                         ssim_y=means["ssim_y"], gain_psnr_y=means["gain_psnr_y"], seconds=means["seconds"]))
    return rows


# ---- check-init ------------------------------------------------------------------------------

def cmd_check_init(args, family) -> tuple[list[dict], list[dict]]:
    task = family.task()
    trainer = Trainer(task, train_config(args, family, f"{args.name}-check-init"))
    model = trainer.modules["g"]
    model.train()
    for optimizer in trainer.optimizers.values():
        optimizer.zero_grad(set_to_none=True)
    relative = args.tolerance if args.tolerance is not None else DEFAULTS[family.kind]["tolerance"]
    rows, losses, expectations = [], [], []
    for index in range(args.batches):
        rng = np.random.default_rng([args.seed, 0, index])
        batch = batch_to_device(trainer, task.sample_batch(rng, trainer.cfg.batch_size, trainer.device))
        with trainer.autocast():
            loss, logs = task.loss("g", batch, trainer)
        (loss.float() / args.batches).backward()
        expected, source = family.expected_loss(batch, trainer)
        loss = loss.detach().float()
        losses.append(float(loss))
        expectations.append(expected)
        rows.append({"experiment": args.name, "model": args.model, "task": family.kind, "batch": index,
                     "batch_size": trainer.cfg.batch_size, "loss": float(loss), "expected_loss": expected,
                     "difference": float(loss) - expected, "expected_source": source})
    mean_loss, mean_expected = float(np.mean(losses)), float(np.mean(expectations))
    tolerance = relative * mean_expected
    gradient_rows = []
    for name, param in model.named_parameters():
        grad = param.grad
        norm = float(grad.norm()) if grad is not None else 0.0
        nonzero = float((grad != 0).float().mean()) if grad is not None else 0.0
        gradient_rows.append({"experiment": args.name, "model": args.model, "parameter": name,
                              "shape": "x".join(map(str, param.shape)), "numel": param.numel(), "grad_norm": norm,
                              "nonzero_fraction": nonzero, "zero": grad is None or norm == 0.0})
    zero = [row["parameter"] for row in gradient_rows if row["zero"]]
    rows.append({"experiment": args.name, "model": args.model, "task": family.kind, "batch": "mean",
                 "batch_size": trainer.cfg.batch_size, "loss": mean_loss, "expected_loss": mean_expected,
                 "difference": mean_loss - mean_expected, "expected_source": rows[0]["expected_source"],
                 "tolerance": tolerance, "relative_tolerance": relative,
                 "passed": abs(mean_loss - mean_expected) <= tolerance,
                 "param_tensors": len(gradient_rows), "zero_grad_tensors": len(zero),
                 "gradients_ok": not zero, "zero_grad_names": ";".join(zero),
                 "dataset": family.dataset_label})
    return rows, gradient_rows


# ---- overfit-small ---------------------------------------------------------------------------

def cmd_overfit_small(args, family) -> dict:
    fixed, subset = family.fixed_examples(args.examples, args.seed)
    inner = family.task(augment=False)
    run_name = f"{args.name}-overfit-small"
    lr = args.lr or DEFAULTS[family.kind]["overfit_lr"]
    cfg = train_config(args, family, run_name, max_steps=args.steps, batch_size=args.examples, lr=lr,
                       weight_decay=0.0, scheduler="none", log_every=1, ckpt_every=10**9)
    run_dir = Path(cfg.runs_dir) / run_name
    for stale in (run_dir / STATE_FILE, run_dir / "metrics.csv"):  # the protocol owns this run: start afresh
        stale.unlink(missing_ok=True)
    target = args.target_loss if args.target_loss is not None else family.default_target(fixed, None)
    task = OverfitTask(inner, fixed, target, family.loss_key)
    trainer = Trainer(task, cfg)
    started = time.time()
    reached = False
    try:
        trainer.fit()
    except Converged:
        reached = True
    seconds = time.time() - started
    (run_dir / STATE_FILE).unlink(missing_ok=True)  # a disposable run: keep its log, not 10+ MB of state
    losses = task.losses
    row = {"experiment": args.name, "model": args.model, "task": family.kind, "n_examples": args.examples,
           "batch_size": args.examples, "lr": lr, "weight_decay": 0.0, "augment": False,
           "max_steps": args.steps, "steps_taken": trainer.step, "initial_loss": losses[0] if losses else None,
           "final_loss": losses[-1] if losses else None, "min_loss": min(losses) if losses else None,
           "target_loss": target, "reached": reached or (bool(losses) and losses[-1] <= target),
           "seconds": round(seconds, 2), "run": run_name, "dataset": family.dataset_label}
    if family.kind == "classification":
        model = trainer.modules["g"].to(memory_format=torch.contiguous_format)
        row["train_accuracy_eval"] = float(np.mean(predict(model, subset) == subset.labels))
    return row


# ---- lr-find ---------------------------------------------------------------------------------

def smooth_losses(losses, beta: float = 0.98) -> list[float]:
    """Bias-corrected exponential moving average (as fastai's LR finder)."""
    out, average = [], 0.0
    for index, loss in enumerate(losses):
        average = beta * average + (1 - beta) * loss
        out.append(average / (1 - beta ** (index + 1)))
    return out


def valley_index(losses) -> int:
    """fastai's 'valley': the longest decreasing run of the curve, 2/3 of the way down it."""
    n = len(losses)
    if n < 3:
        return int(np.argmin(losses))
    lds = [1] * n
    max_start = max_end = 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end, max_start = i, i - lds[i]
    sections = (max_end - max_start) / 3
    return int(min(n - 1, max(0, max_start + int(sections) + int(sections / 2))))


def suggest_lrs(lrs, smoothed) -> list[dict]:
    lrs, smoothed = np.asarray(lrs, dtype=float), np.asarray(smoothed, dtype=float)
    if len(lrs) < 2:
        return []
    minimum = int(np.argmin(smoothed))
    suggestions = []
    upto = max(minimum, 1)  # steepest descent before the minimum
    gradient = np.gradient(smoothed[:upto + 1], np.log10(lrs[:upto + 1]))
    steep = int(np.argmin(gradient))
    suggestions.append({"method": "steepest", "index": steep, "lr": float(lrs[steep]),
                        "note": "steepest descent of the smoothed loss (per decade of LR)"})
    min_lr = float(lrs[minimum]) / 10
    min_index = int(np.argmin(np.abs(np.log10(lrs) - math.log10(min_lr))))
    suggestions.append({"method": "min/10", "index": min_index, "lr": min_lr,
                        "note": f"a tenth of the LR at the minimum ({lrs[minimum]:.3g})"})
    valley = valley_index(list(smoothed))
    suggestions.append({"method": "valley", "index": valley, "lr": float(lrs[valley]),
                        "note": "fastai's valley: 2/3 down the longest decreasing stretch"})
    for suggestion in suggestions:
        suggestion["smoothed_loss"] = float(smoothed[suggestion["index"]])
    return suggestions


def lr_range_test(trainer: Trainer, task: TrainingTask, loss_key: str, start_lr: float = 1e-7, end_lr: float = 1.0,
                  num_steps: int = 100, beta: float = 0.98, diverge: float = 4.0, seed: int = 0) -> dict:
    """Smith's range test on the trainer's modules and optimizers; both are restored afterwards
    (weights, buffers, optimizer state and LR, and torch's RNG), whatever happens during the sweep."""
    saved_modules = {name: copy.deepcopy(module.state_dict()) for name, module in trainer.modules.items()}
    saved_optimizers = {name: copy.deepcopy(opt.state_dict()) for name, opt in trainer.optimizers.items()}
    saved_rng = torch.get_rng_state()
    rows, stopped = [], "end of sweep"
    factor = (end_lr / start_lr) ** (1.0 / max(1, num_steps - 1))
    average, best = 0.0, math.inf
    try:
        for module in trainer.modules.values():
            module.train()
        for index in range(num_steps):
            lr = start_lr * factor ** index
            for optimizer in trainer.optimizers.values():
                for group in optimizer.param_groups:
                    group["lr"] = lr
            rng = np.random.default_rng([seed, 0, index])
            batch = batch_to_device(trainer, task.sample_batch(rng, trainer.cfg.batch_size, trainer.device))
            logs: dict = {}
            try:
                for phase in task.phases(index):
                    logs.update(trainer.train_step(phase, batch))
            except TrainingDiverged:
                stopped = f"non-finite loss at lr {lr:.3g}"
                break
            loss = float(logs.get(loss_key, next(iter(logs.values()))))
            average = beta * average + (1 - beta) * loss
            smoothed = average / (1 - beta ** (index + 1))
            rows.append({"step": index, "lr": lr, "loss": loss, "smoothed_loss": smoothed})
            best = min(best, smoothed)
            if index >= 5 and smoothed > diverge * best:
                stopped = f"smoothed loss above {diverge:g}x its minimum at lr {lr:.3g}"
                break
    finally:
        for name, module in trainer.modules.items():
            module.load_state_dict(saved_modules[name])
        for name, optimizer in trainer.optimizers.items():
            optimizer.load_state_dict(saved_optimizers[name])
        torch.set_rng_state(saved_rng)
    suggestions = suggest_lrs([r["lr"] for r in rows], [r["smoothed_loss"] for r in rows])
    return {"rows": rows, "suggestions": suggestions, "stopped": stopped}


def cmd_lr_find(args, family) -> dict:
    task = family.task()
    trainer = Trainer(task, train_config(args, family, f"{args.name}-lr-find", weight_decay=args.weight_decay or 0.0))
    started = time.time()
    result = lr_range_test(trainer, task, family.loss_key, args.start_lr, args.end_lr, args.num_steps, args.beta,
                           args.diverge, args.seed)
    common = {"experiment": args.name, "model": args.model}
    result["rows"] = [dict(common, **row) for row in result["rows"]]
    result["suggestions"] = [dict(common, **row, stopped=result["stopped"], seconds=round(time.time() - started, 1),
                                  batch_size=trainer.cfg.batch_size, dataset=family.dataset_label)
                             for row in result["suggestions"]]
    return result


# ---- grid search -----------------------------------------------------------------------------

def grid_space(args) -> dict[str, list]:
    default = DEFAULT_GRIDS.get(args.model, {"lr": [1e-3, 3e-3], "weight_decay": [0.0, 1e-4]})
    space = {"lr": args.lrs or default["lr"], "weight_decay": args.weight_decays or default["weight_decay"]}
    model_params = parse_grid(args.grid) if args.grid else {k: v for k, v in default.items()
                                                            if k not in ("lr", "weight_decay")}
    space.update(model_params)
    return space


def grid_run_name(name: str, params: dict) -> str:
    short = {"lr": "lr", "weight_decay": "wd"}
    parts = [f"{short.get(k, k)}{v:g}" if isinstance(v, float) else f"{short.get(k, k)}{v}"
             for k, v in sorted(params.items())]
    return f"{name}-grid-" + "-".join(parts)


def resumable_grid_sampler(search_space: dict, seed: int):
    """Optuna's GridSampler, except that a FAILED trial (an interrupted run: Ctrl-C, a crash, a
    heartbeat-stale trial) leaves its grid point to be run again; Optuna's own counts it as done."""
    import optuna
    from optuna.trial import TrialState

    class ResumableGridSampler(optuna.samplers.GridSampler):
        def _get_unvisited_grid_ids(self, study):
            done, running = set(), set()
            for trial in study._storage.get_all_trials(study._study_id, deepcopy=False):
                if "grid_id" not in trial.system_attrs or not self._same_search_space(
                        trial.system_attrs["search_space"]):
                    continue
                if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
                    done.add(trial.system_attrs["grid_id"])
                elif trial.state == TrialState.RUNNING:
                    running.add(trial.system_attrs["grid_id"])
            unvisited = set(range(self._n_min_trials)) - done - running
            if not unvisited:  # everything started: wait on nothing, finish what is not done
                unvisited = set(range(self._n_min_trials)) - done
            return sorted(unvisited)

    return ResumableGridSampler(search_space, seed=seed)


def open_study(args, search_space: dict):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = args.storage or f"sqlite:///{Path(args.grid_dir) / (args.name + '.db')}"
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # heartbeats are marked experimental; they are what fails a killed trial
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = optuna.storages.RDBStorage(url, heartbeat_interval=args.heartbeat,
                                             grace_period=4 * args.heartbeat)
    sampler = resumable_grid_sampler(search_space, args.seed)
    study = optuna.create_study(study_name=args.study or args.name, storage=storage, sampler=sampler,
                                direction="maximize", load_if_exists=True)
    return study, sampler, url


def run_grid_trial(args, family, params: dict) -> dict:
    """One short training through the engine; returns the figures the trial records."""
    model_config = {k: v for k, v in params.items() if k not in ("lr", "weight_decay")}
    run_name = grid_run_name(args.name, params)
    run_dir = Path(args.runs_dir) / run_name
    cfg = train_config(args, family, run_name, max_steps=args.steps, lr=params["lr"],
                       weight_decay=params["weight_decay"], scheduler="cosine",
                       val_every=args.val_every or args.steps, ckpt_every=max(10, args.steps // 4),
                       resume=(run_dir / STATE_FILE).is_file(),
                       extra={"protocol": "grid-search", "model": args.model, "experiment": args.name,
                              "params": params, "dataset": family.dataset_label})
    started = time.time()
    trainer = Trainer(family.task(model_config), cfg)
    result = trainer.fit()
    best = result["best"].get(family.metric, {})
    last = last_values(run_dir / "metrics.csv")
    figures = {"value": best.get("value"), "best_step": best.get("step"), "steps": result["step"],
               "seconds": round(time.time() - started, 2), "run": run_name,
               "train_loss": last.get(family.loss_key)}
    for key in ("val_loss", "val_macro_f1", "val_input_psnr_y"):
        if key in last:
            figures[key] = last[key]
    if not args.keep_state:
        (run_dir / STATE_FILE).unlink(missing_ok=True)
    return figures


def grid_rows(args, family, study, sampler, search_space) -> list[dict]:
    from optuna.trial import TrialState

    rows = []
    for trial in study.get_trials(deepcopy=False):
        if trial.state not in (TrialState.COMPLETE, TrialState.PRUNED):
            continue
        if not sampler._same_search_space(trial.system_attrs.get("search_space", {})):
            continue
        attrs = trial.user_attrs
        row = {"experiment": args.name, "model": args.model, "trial": trial.number, "state": trial.state.name,
               "status": attrs.get("status", "ok")}
        row.update({f"params_{k}": trial.params.get(k) for k in search_space})
        row.update({"metric": family.metric, "value": trial.value if trial.state == TrialState.COMPLETE else None,
                    "best_step": attrs.get("best_step"), "val_loss": attrs.get("val_loss")})
        for key in ("val_macro_f1", "val_input_psnr_y"):
            if key in attrs:
                row[key] = attrs[key]
        row.update({"train_loss": attrs.get("train_loss"), "steps": attrs.get("steps"),
                    "seconds": attrs.get("seconds"), "run": attrs.get("run"), "dataset": family.dataset_label})
        rows.append(row)
    return rows


def cmd_grid_search(args, family) -> dict:
    import optuna

    search_space = grid_space(args)
    study, sampler, url = open_study(args, search_space)
    grid_size = len(sampler._all_grids)
    remaining = len([g for g in sampler._get_unvisited_grid_ids(study)])
    finished = grid_size - remaining
    to_run = remaining if args.n_trials is None else min(remaining, args.n_trials)
    counter = {"ran": 0}
    print(f"grid search {args.name}: {grid_size} grid points ({' x '.join(f'{k}{v}' for k, v in search_space.items())}),"
          f" {finished} already finished, running {to_run}; storage {url}")

    def objective(trial):
        params = {name: trial.suggest_categorical(name, values) for name, values in search_space.items()}
        counter["ran"] += 1
        try:
            figures = run_grid_trial(args, family, params)
        except TrainingDiverged as err:
            trial.set_user_attr("status", "diverged")
            trial.set_user_attr("run", grid_run_name(args.name, params))
            raise optuna.TrialPruned(str(err)) from None
        for key, value in figures.items():
            if key != "value" and value is not None:
                trial.set_user_attr(key, value)
        trial.set_user_attr("status", "ok")
        return figures["value"]

    interrupted = False
    try:
        if to_run > 0:
            study.optimize(objective, n_trials=to_run, catch=())
    except KeyboardInterrupt:
        interrupted = True
    rows = grid_rows(args, family, study, sampler, search_space)
    path = write_csv(out_path(args, "grid-search.csv"), rows)
    if interrupted:
        print(f"interrupted: {len(rows)} of {grid_size} grid points done, written to {path}; rerun the same command "
              "to resume", file=sys.stderr)
    return {"grid_size": grid_size, "ran": counter["ran"], "finished_before": finished, "rows": rows,
            "interrupted": interrupted, "csv": str(path), "storage": url}


# ---- train -----------------------------------------------------------------------------------

def best_grid_point(args) -> dict:
    path = out_path(args, "grid-search.csv")
    if not path.is_file():
        raise FileNotFoundError(f"--from-grid: no grid search at {path}; run `grid-search` first")
    rows = [r for r in read_csv_rows(path) if r.get("state") == "COMPLETE" and r.get("value") not in ("", None)]
    if not rows:
        raise ValueError(f"--from-grid: {path} has no completed trial")
    best = max(rows, key=lambda r: float(r["value"]))
    params = {k[len("params_"):]: parse_overrides([f"v={v}"])["v"] for k, v in best.items() if k.startswith("params_")}
    return {"trial": int(best["trial"]), "value": float(best["value"]), "params": params}


def cmd_train(args, family) -> dict:
    grid = best_grid_point(args) if args.from_grid else None
    params = dict(grid["params"]) if grid else {}
    grid_lr, grid_weight_decay = params.pop("lr", None), params.pop("weight_decay", None)
    lr = next(v for v in (args.lr, grid_lr, DEFAULTS[family.kind]["lr"]) if v is not None)
    weight_decay = next(v for v in (args.weight_decay, grid_weight_decay, 0.0) if v is not None)
    model_config = {**params, **parse_overrides(args.set)}
    run_name = args.run_name or args.name
    batch_size = args.batch_size or DEFAULTS[family.kind]["batch_size"]
    common = dict(run_name=run_name, steps=args.steps, batch_size=batch_size, lr=lr, seed=args.seed,
                  threads=args.threads, device=args.device, val_every=args.val_every or max(1, args.steps // 10),
                  log_every=args.log_every, runs_dir=args.runs_dir, export=args.export, resume=args.resume)
    started = time.time()
    notes, exported = "", None
    if family.kind == "classification":
        data = args.data or [str(DATASETS / "tiny_imagenet_subset")]
        run_args = train_classifier.make_args(
            model=args.model, data=data[0], image_size=args.image_size, val_fraction=args.val_fraction,
            test_fraction=args.test_fraction, split_seed=args.split_seed, weight_decay=weight_decay,
            scheduler=args.scheduler, export_best=args.export_best, classes=args.classes,
            set=[f"{key}={value!r}" for key, value in model_config.items()], **common)
        print(run_args.command)
        summary = train_classifier.train(run_args)
        best = summary["result"]["best"].get(family.metric, {})
        export, dataset = summary["export"], summary["data"].label
        if summary["card"]:
            exported = summary["card"]["training"]["exported"]
    else:
        if args.scheduler != "cosine" or args.export_best:
            raise ValueError("--scheduler and --export-best apply to the classifiers; training.train_sr runs its "
                             "presets' cosine schedule and exports the final weights")
        if model_config:
            raise ValueError(f"training.train_sr presets fix the architecture of {args.model!r}; cannot apply "
                             f"{model_config} (use the grid search's runs for those sizes)")
        if weight_decay:
            notes = f"weight decay {weight_decay:g} ignored: training.train_sr trains without weight decay"
            print("note: " + notes, file=sys.stderr)
        run_args = train_sr.make_args(args.model, scale=args.scale, patch=family.sr_args.patch,
                                      data=family.sr_args.data, val=family.sr_args.val, **common)
        print(run_args.command)
        train_sr.train(run_args)
        values = [float(r["val_psnr_y"]) for r in read_csv_rows(Path(args.runs_dir) / run_name / "metrics.csv")
                  if r.get("val_psnr_y")]
        best = {"value": max(values), "step": None} if values else {}
        export, dataset = args.export or str(CHECKPOINT_DIR / args.model), family.dataset_label
    last = last_values(Path(args.runs_dir) / run_name / "metrics.csv")
    row = {"experiment": args.name, "model": args.model, "run": run_name, "dataset": dataset, "steps": args.steps,
           "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay, "model_config": model_config,
           "from_grid_trial": grid["trial"] if grid else None, "metric": family.metric,
           "best_value": best.get("value"), "best_step": best.get("step"),
           "final_val_loss": last.get("val_loss"), "final_train_loss": last.get(family.loss_key),
           "seconds": round(time.time() - started, 1), "export": export, "scheduler": args.scheduler,
           "exported_weights": (f"{exported['weights']} (step {exported['step']})" if exported else None),
           "notes": notes}
    for key in ("val_accuracy", "val_macro_f1", "val_psnr_y", "val_input_psnr_y"):
        if key in last:
            row[f"final_{key}"] = last[key]
    return row


# ---- evaluate --------------------------------------------------------------------------------

def load_classifier_checkpoint(model_name: str, folder) -> tuple[torch.nn.Module, dict]:
    folder = Path(folder)
    card = read_card(folder)
    if card.get("task") != "classification":
        raise CheckpointError(f"{folder}: the card's task is {card.get('task')!r}, not 'classification'")
    model = get_entry(model_name).builder(**card["architecture"])
    load_weights(model, folder / WEIGHTS_FILE)
    return model.eval(), card


def cmd_evaluate(args, family) -> dict:
    if family.kind == "sr":
        return sr_evaluate(args)
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    folder = Path(args.checkpoint) if args.checkpoint else CHECKPOINT_DIR / args.model
    model, card = load_classifier_checkpoint(args.model, folder)
    described = card.get("dataset") or {}
    split = described.get("split", {})
    root = Path(args.data[0]) if args.data else dataset_root(described.get("root", str(DATASETS / "tiny_imagenet_subset")))
    require_dataset(root, "--data")
    data = load_classifier_data(root, card["classes"], described.get("image_size", args.image_size),
                                split.get("val_fraction", args.val_fraction),
                                split.get("test_fraction", args.test_fraction), split.get("seed", args.split_seed),
                                progress=not args.quiet)
    if card.get("normalization", {}).get("mean") not in (None, data.normalization["mean"]):
        print("warning: the training statistics recomputed from the data differ from the card's; the model applies "
              "the card's (its own buffers)", file=sys.stderr)
    classes, names = card["classes"], card.get("class_names") or {}
    splits = [("test", data.test), ("val", data.val)] if args.split == "both" else [(args.split, getattr(data, args.split))]
    rows, confusion_rows, per_class_rows = [], [], []
    for split_name, dataset in splits:
        if dataset is None or len(dataset) == 0:
            print(f"note: no {split_name} split (see --test-fraction at training time)", file=sys.stderr)
            continue
        predictions = predict(model, dataset)
        labels = list(range(len(classes)))
        scores = classification_scores(dataset.labels, predictions, len(classes))
        rows.append({"experiment": args.name, "model": args.model, "split": split_name, "n": len(dataset),
                     "num_classes": len(classes), **scores, "checkpoint": str(folder),
                     "dataset": described.get("label", data.label)})
        matrix = confusion_matrix(dataset.labels, predictions, labels=labels)
        for index, counts in enumerate(matrix):
            confusion_rows.append({"split": split_name, "true_index": index, "true_class": classes[index],
                                   **{classes[j]: int(c) for j, c in enumerate(counts)}})
        precision, recall, f1, support = precision_recall_fscore_support(
            dataset.labels, predictions, labels=labels, zero_division=0)
        for index, name in enumerate(classes):
            per_class_rows.append({"split": split_name, "class_index": index, "class": name,
                                   "name": names.get(name, ""), "precision": float(precision[index]),
                                   "recall": float(recall[index]), "f1": float(f1[index]),
                                   "support": int(support[index])})
    if args.update_card and rows:
        from studio.checkpoint import update_card

        metrics = dict(card.get("metrics", {}))
        for row in rows:
            metrics[f"{row['split']}_accuracy"] = round(row["accuracy"], 4)
            metrics[f"{row['split']}_macro_f1"] = round(row["macro_f1"], 4)
        metrics["evaluation_command"] = "python -m training.protocol " + shlex.join(args.argv)
        update_card(folder, metrics=metrics)
    return {"rows": rows, "confusion": confusion_rows, "per_class": per_class_rows}


def sr_evaluate(args) -> dict:
    from studio.evaluation import evaluate, summarize, write_csv as write_eval_csv

    entry = get_entry(args.model)
    clean = require_dataset(args.clean or args.val or str(DATASETS / "set5"), "--clean/--val")
    classical = [m for m in list_models(entry.task) if not get_entry(m).learned]
    image_rows = evaluate(entry.task, [args.model, *classical], clean, scale=args.scale, seed=args.seed,
                          progress=not args.quiet)
    write_eval_csv(image_rows, out_path(args, "evaluate-images.csv"))
    rows = [{"experiment": args.name, "model": name, "split": "eval", "dataset": Path(clean).name,
             "n": int(m["images"]), "psnr": m["psnr"], "ssim": m["ssim"], "psnr_y": m["psnr_y"], "ssim_y": m["ssim_y"],
             "input_psnr_y": m["input_psnr_y"], "gain_psnr_y": m["gain_psnr_y"], "seconds": m["seconds"]}
            for name, m in summarize(image_rows).items()]
    return {"rows": rows, "confusion": [], "per_class": []}


# ---- CLI -------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    common = cli.ArgumentParser(add_help=False)
    common.add_argument("--model", required=True, help="a registered model name (python -m studio.registry lists them)")
    common.add_argument("--name", help="experiment name: results/protocol/<name>/ (default: the model name)")
    common.add_argument("--data", nargs="+", help="classifier: one dataset folder (train/val layout or one folder per "
                        "class; default ../shared/datasets/tiny_imagenet_subset); SR: HR training folders")
    common.add_argument("--classes", type=int, help="classifier: keep the first N classes (sorted)")
    common.add_argument("--image-size", type=int, default=64)
    common.add_argument("--val-fraction", type=float, default=0.2, help="single-folder layout: validation share")
    common.add_argument("--test-fraction", type=float, default=0.5,
                        help="test share (single folder: of each class; train/val layout: of val)")
    common.add_argument("--split-seed", type=int, default=0)
    common.add_argument("--val", help="SR: folder of HR validation images (default set5)")
    common.add_argument("--patch", type=int, help="SR: HR patch size (protocol default 64)")
    common.add_argument("--scale", type=int, default=4)
    common.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="architecture override")
    common.add_argument("--batch-size", type=int)
    common.add_argument("--seed", type=int, default=0)
    common.add_argument("--threads", type=int, default=0)
    common.add_argument("--device", default="auto")
    common.add_argument("--log-every", type=int, default=10)
    common.add_argument("--out-dir", default=OUT_DIR, help="CSV root (results/protocol)")
    common.add_argument("--runs-dir", default=RUNS_DIR, help="engine run logs (results/runs)")
    common.add_argument("--quiet", action="store_true", help="no progress bars while loading")

    parser = cli.ArgumentParser(prog="python -m training.protocol", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    baselines = sub.add_parser("baselines", parents=[common], help="majority / random; input / classical")
    baselines.add_argument("--clean", help="restoration: folder of clean images to score (default --val or set5)")
    check = sub.add_parser("check-init", parents=[common], help="initial loss and gradients")
    check.add_argument("--batches", type=int, default=4)
    check.add_argument("--tolerance", type=float,
                       help="allowed |loss - expected| as a fraction of expected (classification 0.05, SR 0.5)")
    overfit = sub.add_parser("overfit-small", parents=[common], help="memorise N examples")
    overfit.add_argument("--examples", type=int, default=32)
    overfit.add_argument("--steps", type=int, default=300, help="step budget")
    overfit.add_argument("--lr", type=float)
    overfit.add_argument("--target-loss", type=float,
                         help="stop below this training loss (classification 0.01; SR half the bicubic input's L1)")
    finder = sub.add_parser("lr-find", parents=[common], help="LR range test")
    finder.add_argument("--start-lr", type=float, default=1e-7)
    finder.add_argument("--end-lr", type=float, default=1.0)
    finder.add_argument("--num-steps", type=int, default=100)
    finder.add_argument("--beta", type=float, default=0.98, help="EMA smoothing of the loss")
    finder.add_argument("--diverge", type=float, default=4.0, help="stop when the smoothed loss exceeds this x min")
    finder.add_argument("--weight-decay", type=float, default=0.0)
    grid = sub.add_parser("grid-search", parents=[common], help="Optuna grid search")
    grid.add_argument("--lr", dest="lrs", type=float, nargs="+", help="learning rates of the grid")
    grid.add_argument("--weight-decay", dest="weight_decays", type=float, nargs="+", help="weight decays of the grid")
    grid.add_argument("--grid", action="append", metavar="KEY=V1,V2", help="a model hyperparameter and its values "
                      "(twice: two hyperparameters); default per model, see DEFAULT_GRIDS")
    grid.add_argument("--steps", type=int, default=60, help="training steps per trial")
    grid.add_argument("--val-every", type=int, help="validation interval per trial (default: at the end)")
    grid.add_argument("--storage", help="database URL (default sqlite:///results/grid/<name>.db)")
    grid.add_argument("--grid-dir", default=GRID_DIR)
    grid.add_argument("--study", help="study name in the storage (default: --name)")
    grid.add_argument("--n-trials", type=int, help="run at most this many grid points now (the rest on a rerun)")
    grid.add_argument("--heartbeat", type=int, default=60, help="seconds; a trial silent for 4x this counts as failed")
    grid.add_argument("--keep-state", action="store_true", help="keep each trial's state.safetensors")
    train = sub.add_parser("train", parents=[common], help="full training (the family's trainer)")
    train.add_argument("--steps", type=int, default=500)
    train.add_argument("--lr", type=float)
    train.add_argument("--weight-decay", type=float)
    train.add_argument("--from-grid", action="store_true", help="lr, weight decay and model settings of the best "
                       "completed grid point (explicit --lr/--weight-decay/--set win)")
    train.add_argument("--run-name", help="default: --name")
    train.add_argument("--val-every", type=int)
    train.add_argument("--export", help="model folder (default checkpoints/<model>; 'none' to skip)")
    train.add_argument("--scheduler", default="cosine", choices=["cosine", "none"],
                       help="classifiers: cosine, or none (a constant LR, the course report's protocol)")
    train.add_argument("--export-best", action="store_true",
                       help="classifiers: export the best validation step's weights, not the final ones")
    train.add_argument("--resume", action="store_true")
    evaluate = sub.add_parser("evaluate", parents=[common], help="test metrics and confusion matrix")
    evaluate.add_argument("--checkpoint", help="classifier: model folder (default checkpoints/<model>)")
    evaluate.add_argument("--split", default="both", choices=["test", "val", "both"])
    evaluate.add_argument("--clean", help="restoration: folder of clean images (default --val or set5)")
    evaluate.add_argument("--update-card", action="store_true", help="record the scores in the model card")
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    args.name = args.name or args.model
    try:
        family = make_family(args)
        if args.command == "baselines":
            rows = cmd_baselines(args, family)
            path = write_csv(out_path(args, "baselines.csv"), rows)
            for row in rows:
                print(f"{row['split']:>5} {row['baseline']:<26} " + "  ".join(
                    f"{k}={row[k]:.4g}" for k in ("accuracy", "macro_f1", "psnr_y") if isinstance(row.get(k), float)))
            print(f"wrote {path}")
            return rows
        if args.command == "check-init":
            rows, gradients = cmd_check_init(args, family)
            write_csv(out_path(args, "check-init-gradients.csv"), gradients)
            path = write_csv(out_path(args, "check-init.csv"), rows)
            summary = rows[-1]
            print(f"initial loss {summary['loss']:.4f} vs expected {summary['expected_loss']:.4f} "
                  f"({summary['expected_source']}): {'OK' if summary['passed'] else 'OFF'} within "
                  f"{summary['tolerance']:.3g}; zero-gradient tensors: {summary['zero_grad_tensors']} of "
                  f"{summary['param_tensors']}")
            print(f"wrote {path}")
            return rows, gradients
        if args.command == "overfit-small":
            row = cmd_overfit_small(args, family)
            path = write_csv(out_path(args, "overfit-small.csv"), [row])
            print(f"{row['n_examples']} examples: loss {row['initial_loss']:.4g} -> {row['final_loss']:.4g} in "
                  f"{row['steps_taken']} steps (target {row['target_loss']:.3g}: "
                  f"{'reached' if row['reached'] else 'NOT reached'})")
            print(f"wrote {path}")
            return row
        if args.command == "lr-find":
            result = cmd_lr_find(args, family)
            write_csv(out_path(args, "lr-find.csv"), result["rows"])
            path = write_csv(out_path(args, "lr-find-suggestions.csv"), result["suggestions"])
            for s in result["suggestions"]:
                print(f"{s['method']:>9}: lr {s['lr']:.3g}")
            print(f"sweep: {len(result['rows'])} steps ({result['stopped']}); wrote {path}")
            return result
        if args.command == "grid-search":
            return cmd_grid_search(args, family)
        if args.command == "train":
            row = cmd_train(args, family)
            path = write_csv(out_path(args, "train.csv"), [row])
            print(f"best {row['metric']} {row['best_value']} ; wrote {path}")
            return row
        if args.command == "evaluate":
            result = cmd_evaluate(args, family)
            path = write_csv(out_path(args, "evaluate.csv"), result["rows"])
            if result["confusion"]:
                write_csv(out_path(args, "evaluate-confusion.csv"), result["confusion"])
                write_csv(out_path(args, "evaluate-per-class.csv"), result["per_class"])
            for row in result["rows"]:
                print("  ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
                                if k in ("model", "split", "n", "accuracy", "macro_f1", "psnr_y", "gain_psnr_y")))
            print(f"wrote {path}")
            return result
    except KeyError as err:
        sys.exit(f"error: {err.args[0]}")
    except (FileNotFoundError, FileExistsError, ValueError, CheckpointError, TrainingDiverged) as err:
        sys.exit(f"error: {cli.one_line(err)}")
    raise AssertionError(args.command)


if __name__ == "__main__":
    outcome = main()
    if isinstance(outcome, dict) and outcome.get("interrupted"):
        sys.exit(130)  # a grid search stopped by Ctrl-C: its CSV is written, rerun to resume
