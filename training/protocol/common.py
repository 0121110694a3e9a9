"""Constants and small helpers every protocol step shares: where results go, CSV I/O, the engine config of a step."""

from __future__ import annotations

import csv
from pathlib import Path


from studio.data import DATASETS
from studio.engine import TrainConfig, Trainer
from studio.results import write_table
from training.train_classifier import (parse_overrides)


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



def train_config(args, family, run_name: str, **changes) -> TrainConfig:
    values = dict(run_name=run_name, runs_dir=args.runs_dir, max_steps=100,
                  batch_size=args.batch_size or DEFAULTS[family.kind]["batch_size"],
                  lr=DEFAULTS[family.kind]["lr"], weight_decay=0.0, scheduler="none", seed=args.seed,
                  device=args.device, threads=args.threads, amp=getattr(args, "amp", False),
                  log_every=args.log_every, val_every=10**9,
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
