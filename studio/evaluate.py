"""Evaluate models of a task on a folder of images; one CSV row per (model, image).

    python -m studio.evaluate --task sr --models bicubic,srresnet --clean ../shared/datasets/set5 \
        --out results/eval/sr_set5_x4.csv

With only ``--clean``, inputs are made by the task's degradation (seeded); with ``--degraded``,
inputs are read from that folder and matched to the clean images by file stem. Columns:
task, model, image, psnr, ssim, psnr_y, ssim_y, input_psnr, input_psnr_y, seconds, height, width
(+ scale, seed, dataset). Scores crop the task's border (``scale`` pixels for SR, as the
literature does). ``--update-cards`` writes the per-model means into each shipped model card,
together with this command.
"""

from __future__ import annotations

import argparse
import csv
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from studio.checkpoint import CheckpointError, update_card
from studio.imageio import ImageLoadError, list_images, load_image, quantize, save_png
from studio.inference import DEFAULT_OVERLAP, DEFAULT_TILE, run_model
from studio.metrics import all_metrics
from studio.registry import build_model, create_model, get_entry, model_card
from studio.tasks import get_task

COLUMNS = ["task", "model", "image", "psnr", "ssim", "psnr_y", "ssim_y", "input_psnr", "input_psnr_y",
           "seconds", "height", "width", "scale", "seed", "dataset"]


def load_for_task(name: str, task: str, scale: int = 4) -> torch.nn.Module:
    """A registered model ready for ``task`` at ``scale`` (clear errors when it does not fit)."""
    entry = get_entry(name)
    if entry.task != task:
        raise ValueError(f"model {name!r} is a {entry.task!r} model, not a {task!r} one")
    if not entry.trainable:
        return build_model(name, **({"scale": scale} if task == "sr" else {})).eval()
    model = create_model(name)
    trained_scale = model_card(name).get("scale", scale)
    if task == "sr" and trained_scale != scale:
        raise ValueError(f"model {name!r} was trained for x{trained_scale}, not x{scale}")
    return model


def pairs(clean_dir, degraded_dir=None, limit: int | None = None) -> list[tuple[Path, Path | None]]:
    clean = list_images(clean_dir)
    if not clean:
        raise FileNotFoundError(f"no images in {clean_dir}")
    if degraded_dir is None:
        result = [(p, None) for p in clean]
    else:
        by_stem = {p.stem: p for p in list_images(degraded_dir)}
        result = [(p, by_stem[p.stem]) for p in clean if p.stem in by_stem]
        if not result:
            raise FileNotFoundError(f"no file in {degraded_dir} shares a stem with the images of {clean_dir}")
    return result[:limit] if limit else result


def evaluate(task_name: str, model_names: list[str], clean_dir, degraded_dir=None, scale: int = 4, seed: int = 0,
             save_outputs=None, tile: int = DEFAULT_TILE, overlap: int = DEFAULT_OVERLAP, limit=None,
             progress: bool = True) -> list[dict]:
    task = get_task(task_name)
    params = {"scale": scale}
    models = {name: load_for_task(name, task_name, scale) for name in model_names}
    dataset = Path(clean_dir).name
    rows = []
    items = pairs(clean_dir, degraded_dir, limit)
    for index, (clean_path, degraded_path) in enumerate(tqdm(items, desc=f"{task_name}:{dataset}", disable=not progress)):
        clean = task.prepare_clean(load_image(clean_path), **params)
        if degraded_path is None:
            # One generator per image, seeded by (seed, index): inputs never depend on model order.
            degraded = task.degrade(clean, rng=np.random.default_rng([seed, index]), **params)
        else:
            degraded = load_image(degraded_path)
        reference = task.input_reference(degraded, **params)
        if reference.shape != clean.shape:
            raise ValueError(f"{degraded_path or clean_path}: input does not match the clean image's size "
                             f"{clean.shape[1]}x{clean.shape[0]} at x{scale}")
        border = task.border(**params)
        input_scores = all_metrics(reference, clean, border=border)
        if save_outputs:
            out_dir = Path(save_outputs)
            save_png(clean, out_dir / "_clean" / f"{clean_path.stem}.png")
            save_png(degraded, out_dir / "_input" / f"{clean_path.stem}.png")
        for name, model in models.items():
            started = time.perf_counter()
            output = quantize(run_model(model, degraded, scale=task.scale(**params), tile=tile, overlap=overlap))
            seconds = time.perf_counter() - started
            scores = all_metrics(output, clean, border=border)
            rows.append({
                "task": task_name, "model": name, "image": clean_path.stem, **scores,
                "input_psnr": input_scores["psnr"], "input_psnr_y": input_scores["psnr_y"],
                "seconds": seconds, "height": clean.shape[0], "width": clean.shape[1],
                "scale": scale if task_name == "sr" else 1, "seed": seed, "dataset": dataset,
            })
            if save_outputs:
                save_png(output, Path(save_outputs) / name / f"{clean_path.stem}.png")
    return rows


def write_csv(rows: list[dict], path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()})
    return path


def summarize(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Per-model means of the numeric columns (plus the gain over the input)."""
    summary: dict[str, dict[str, float]] = {}
    for name in dict.fromkeys(row["model"] for row in rows):
        mine = [row for row in rows if row["model"] == name]
        means = {key: float(np.mean([row[key] for row in mine]))
                 for key in ("psnr", "ssim", "psnr_y", "ssim_y", "input_psnr", "input_psnr_y", "seconds")}
        means["gain_psnr_y"] = means["psnr_y"] - means["input_psnr_y"]
        means["gain_psnr"] = means["psnr"] - means["input_psnr"]
        means["images"] = len(mine)
        summary[name] = means
    return summary


def print_summary(summary: dict) -> None:
    print(f"{'model':<14}{'PSNR':>8}{'SSIM':>8}{'PSNR-Y':>9}{'SSIM-Y':>9}{'ΔY vs input':>13}{'ms/img':>9}")
    for name, m in summary.items():
        print(f"{name:<14}{m['psnr']:8.2f}{m['ssim']:8.4f}{m['psnr_y']:9.2f}{m['ssim_y']:9.4f}"
              f"{m['gain_psnr_y']:+13.2f}{m['seconds'] * 1000:9.0f}")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", required=True, choices=["sr"])
    parser.add_argument("--models", required=True, help="comma-separated registered model names")
    parser.add_argument("--clean", required=True, help="folder of ground-truth images")
    parser.add_argument("--degraded", help="folder of degraded inputs matched by file stem")
    parser.add_argument("--out", required=True, help="CSV file to write")
    parser.add_argument("--save-outputs", help="folder for the output PNGs (<model>/<image>.png)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--tile", type=int, default=DEFAULT_TILE, help="tile size in input pixels (0: never tile)")
    parser.add_argument("--overlap", type=int, default=DEFAULT_OVERLAP)
    parser.add_argument("--limit", type=int, help="evaluate only the first N images")
    parser.add_argument("--update-cards", action="store_true", help="record the means in each model's card")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    try:
        rows = evaluate(args.task, names, args.clean, args.degraded, args.scale, args.seed, args.save_outputs,
                        args.tile, args.overlap, args.limit)
    except KeyError as err:  # str(KeyError) adds quotes around the message
        sys.exit(f"error: {err.args[0]}")
    except (ImageLoadError, CheckpointError, FileNotFoundError, ValueError) as err:
        sys.exit(f"error: {err}")
    write_csv(rows, args.out)
    summary = summarize(rows)
    print_summary(summary)
    print(f"wrote {len(rows)} rows to {args.out}")
    if args.update_cards:
        command = "python -m studio.evaluate " + shlex.join(argv)
        key = f"{Path(args.clean).name}_x{args.scale}" if args.task == "sr" else Path(args.clean).name
        for name in names:
            if get_entry(name).trainable:
                card = model_card(name)
                metrics = dict(card.get("metrics", {}))
                metrics[key] = {k: round(v, 4) for k, v in summary[name].items()} | {
                    "csv": str(args.out), "command": command}
                update_card(get_entry(name).checkpoint_dir, metrics=metrics)


if __name__ == "__main__":
    main()
