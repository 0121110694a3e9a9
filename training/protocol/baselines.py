"""Step 1, baselines: what no model, or a classical one, scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from studio.data import DATASETS, require_dataset
from studio.registry import get_entry, list_models
from studio.tasks import get_task


def classification_scores(labels, predictions, classes: int) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    return {"accuracy": float(accuracy_score(labels, predictions)),
            "macro_f1": float(f1_score(labels, predictions, average="macro", labels=list(range(classes)),
                                       zero_division=0))}


def cmd_baselines(args, family) -> list[dict]:
    """What no model scores (a classifier family), or the task's classical models (an image family, or
    a classical model, which has no family)."""
    return classical_baselines(args) if family is None else family.baselines(args)


def classifier_baselines(args, family) -> list[dict]:
    """The majority class and a uniform random guess, per split."""
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


def classical_baselines(args) -> list[dict]:
    """Every classical model of the model's task on ``--clean`` (default Set5), beside the input."""
    from studio.evaluation import evaluate, summarize

    entry = get_entry(args.model)
    clean = require_dataset(args.clean or args.val or str(DATASETS / "set5"), "--clean/--val")
    classical = [m for m in list_models(entry.task) if not get_entry(m).learned]
    rows_eval = evaluate(entry.task, classical, clean, scale=args.scale, seed=args.seed, progress=not args.quiet)
    summary = summarize(rows_eval)
    first = next(iter(summary.values()))
    common = {"experiment": args.name, "model": args.model, "task": entry.task, "dataset": Path(clean).name,
              "split": "eval", "scale": args.scale, "n": int(first["images"])}
    rows = [dict(common, baseline="input (bicubic-upscaled)" if get_task(entry.task).scaled_models else "input (degraded)",
                 psnr=first["input_psnr"], psnr_y=first["input_psnr_y"], gain_psnr_y=0.0)]
    for name, means in summary.items():
        rows.append(dict(common, baseline=name, psnr=means["psnr"], ssim=means["ssim"], psnr_y=means["psnr_y"],
                         ssim_y=means["ssim_y"], gain_psnr_y=means["gain_psnr_y"], seconds=means["seconds"]))
    return rows
