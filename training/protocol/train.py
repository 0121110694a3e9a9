"""Step 6, the full training through the family's own ``train`` function."""

from __future__ import annotations

import sys
import time
from pathlib import Path


from studio.data import DATASETS
from studio.registry import CHECKPOINT_DIR
from training import train_classifier, train_sr
from training.train_classifier import (parse_overrides)
from training.protocol.common import DEFAULTS, last_values, out_path, read_csv_rows


def best_grid_point(args) -> dict:
    """The best completed point of the grid search of this experiment, or of the one ``--from-grid``
    names (a variant of an experiment reuses its grid)."""
    path = out_path(args, "grid-search.csv")
    if isinstance(args.from_grid, str):
        path = path.parent.parent / args.from_grid / "grid-search.csv"
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
    best, export, dataset, exported, notes = family.full_training(args, common, weight_decay, model_config)
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


def train_classifier_family(args, family, common: dict, weight_decay: float, model_config: dict):
    """The classifiers' full training: (best validation value and step, export folder, dataset label,
    the exported weights, notes)."""
    exported = None
    data = args.data or [str(DATASETS / "tiny_imagenet_subset")]
    run_args = train_classifier.make_args(
        model=args.model, data=data[0], image_size=args.image_size, val_fraction=args.val_fraction,
        test_fraction=args.test_fraction, split_seed=args.split_seed, weight_decay=weight_decay,
        scheduler=args.scheduler, export_best=args.export_best, classes=args.classes, amp=args.amp,
        augmentation=args.augmentation, val_limit=args.val_limit,
        set=[f"{key}={value!r}" for key, value in model_config.items()], **common)
    print(run_args.command)
    summary = train_classifier.train(run_args)
    best = summary["result"]["best"].get(family.metric, {})
    export, dataset = summary["export"], summary["data"].label
    if summary["card"]:
        exported = summary["card"]["training"]["exported"]
    return best, export, dataset, exported, ""


def train_sr_family(args, family, common: dict, weight_decay: float, model_config: dict):
    """The SR generators' full training through ``training.train_sr`` (its presets' cosine schedule)."""
    notes = ""
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
    values = [float(r["val_psnr_y"]) for r in read_csv_rows(Path(args.runs_dir) / common["run_name"] / "metrics.csv")
              if r.get("val_psnr_y")]
    best = {"value": max(values), "step": None} if values else {}
    export, dataset = args.export or str(CHECKPOINT_DIR / args.model), family.dataset_label
    return best, export, dataset, None, notes
