"""Step 7, test evaluation."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import torch

from studio.checkpoint import WEIGHTS_FILE, CheckpointError, load_weights, read_card
from studio.data import DATASETS, require_dataset
from studio.registry import CHECKPOINT_DIR, get_entry, list_models
from training.train_classifier import (load_classifier_data, predict)
from training.protocol.baselines import classification_scores
from training.protocol.common import dataset_root, out_path


def load_classifier_checkpoint(model_name: str, folder) -> tuple[torch.nn.Module, dict]:
    folder = Path(folder)
    card = read_card(folder)
    task = get_entry(model_name).task
    if card.get("task") != task:
        raise CheckpointError(f"{folder}: the card's task is {card.get('task')!r}, not {model_name}'s {task!r}")
    model = get_entry(model_name).builder(**card["architecture"])
    load_weights(model, folder / WEIGHTS_FILE)
    return model.eval(), card


def cmd_evaluate(args, family) -> dict:
    return family.evaluate(args)


def classifier_evaluate(args) -> dict:
    """A classifier's test evaluation: accuracy, macro F1, per-class scores and the confusion matrix."""
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
