"""Evaluate models of a task on a folder of images; one CSV row per (model, image).

    python -m studio.evaluate --task sr --models bicubic,srresnet --clean ../shared/datasets/set5 \
        --out results/eval/sr_set5_x4.csv

    python -m studio.evaluate --task deblur --models unsharp-mask,wiener-oracle,unet-light-v3 \
        --clean ../shared/datasets/levin2009/sharp --degraded ../shared/datasets/levin2009/blurred \
        --out results/eval/deblur_levin2009.csv

With only ``--clean``, inputs are made by the task's degradation (seeded); with ``--degraded``,
inputs are read from that folder and matched to the clean images by file stem (for deblur, a
degraded file may also be named ``<clean stem>_<anything>``: levin2009's ``im_1_ker_3`` pairs with
``im_1``; the row's image is then the degraded stem). Columns:
task, model, image, psnr, ssim, psnr_y, ssim_y, input_psnr, input_psnr_y, seconds, height, width
(+ scale, seed, dataset; deblur rows add kernel and noise_sigma, restoration rows the degradation
applied: the fixed benchmark setting, its noise seed drawn per image). For deblur the input PSNR is the
blurred input's own, and models that declare ``needs_kernel`` (the oracle Wiener) receive the
true kernel: the one applied (synthetic blur) or ``kY`` (levin2009); where it is unknown their
rows are skipped with a warning. Scores crop the task's border (``scale`` pixels for SR, as the
literature does). ``--update-cards`` writes the per-model means into each shipped model card,
together with this command. Every error is one line and a non-zero exit; ``--out`` and
``--save-outputs`` are checked for writability before any image is evaluated.
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

from studio import cli
from studio.checkpoint import CheckpointError, update_card
from studio.data import require_dataset
from studio.imageio import ImageLoadError, list_images, load_image, quantize, save_png
from studio.inference import DEFAULT_OVERLAP, PRECISIONS, run_model
from studio.metrics import all_metrics
from studio.registry import build_model, create_model, get_entry, model_card
from studio.tasks import TASKS, ParamError, get_task

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


def pairs(clean_dir, degraded_dir=None, limit: int | None = None,
          match_prefix: bool = False) -> list[tuple[Path, Path | None]]:
    clean = list_images(clean_dir)
    if not clean:
        raise FileNotFoundError(f"no images in {clean_dir}")
    if degraded_dir is None:
        result = [(p, None) for p in clean]
    elif match_prefix:
        # Exact stem first; otherwise the longest clean stem that prefixes "<stem>_".
        stems = sorted((p.stem for p in clean), key=len, reverse=True)
        owner = {}
        for degraded in list_images(degraded_dir):
            if degraded.stem in stems:
                owner[degraded] = degraded.stem
            else:
                owner[degraded] = next((s for s in stems if degraded.stem.startswith(s + "_")), None)
        result = [(p, d) for p in clean for d in sorted(owner) if owner[d] == p.stem]
        if not result:
            raise FileNotFoundError(f"no file in {degraded_dir} is named after an image of {clean_dir} "
                                    "(same stem, or stem + '_...')")
    else:
        by_stem = {p.stem: p for p in list_images(degraded_dir)}
        result = [(p, by_stem[p.stem]) for p in clean if p.stem in by_stem]
        if not result:
            raise FileNotFoundError(f"no file in {degraded_dir} shares a stem with the images of {clean_dir}")
    return result[:limit] if limit else result


GENERIC_FOLDERS = {"sharp", "clean", "gt", "hr", "ground_truth", "groundtruth", "target", "images"}


def dataset_name(task_name: str, clean_dir) -> str:
    """The dataset column: the folder name (for non-SR tasks, the parent of levin2009/sharp)."""
    path = Path(clean_dir)
    if task_name != "sr" and path.name.lower() in GENERIC_FOLDERS and path.resolve().parent.name:
        return path.resolve().parent.name
    return path.name


def evaluate(task_name: str, model_names: list[str], clean_dir, degraded_dir=None, scale: int = 4, seed: int = 0,
             save_outputs=None, tile: int | None = None, overlap: int = DEFAULT_OVERLAP, limit=None,
             progress: bool = True, precision: str = "fp32") -> list[dict]:
    task = get_task(task_name)
    params = {"scale": scale}
    models = {name: load_for_task(name, task_name, scale) for name in model_names}
    dataset = dataset_name(task_name, clean_dir)
    rows = []
    items = pairs(clean_dir, degraded_dir, limit, match_prefix=task.match_prefix)
    warned = set()
    for index, (clean_path, degraded_path) in enumerate(tqdm(items, desc=f"{task_name}:{dataset}", disable=not progress)):
        clean = task.prepare_clean(load_image(clean_path), **params)
        info: dict = {}
        if degraded_path is None:
            # One generator per image, seeded by (seed, index): inputs never depend on model order.
            rng = np.random.default_rng([seed, index])
            if task.degrade_info is not None:
                degraded, info = task.degrade_info(clean, rng=rng, **params)
            else:
                degraded = task.degrade(clean, rng=rng, **params)
        else:
            degraded = load_image(degraded_path)
            if task.pair_info is not None:
                info = task.pair_info(clean_path, degraded_path)
        image_name = degraded_path.stem if degraded_path is not None and task.match_prefix else clean_path.stem
        # Task-specific columns: deblur's kernel and noise, restoration's degradation summary.
        extra = {key: info[key] for key in ("kernel_name", "noise_sigma", "degradation") if key in info}
        if "kernel_name" in extra:
            extra["kernel"] = extra.pop("kernel_name")
        reference = task.input_reference(degraded, **params)
        if reference.shape != clean.shape:
            raise ValueError(f"{degraded_path or clean_path}: input does not match the clean image's size "
                             f"{clean.shape[1]}x{clean.shape[0]} at x{scale}")
        border = task.border(**params)
        input_scores = all_metrics(reference, clean, border=border)
        if task.extra_scores is not None:
            extra.update({f"input_{k}": v for k, v in task.extra_scores(reference, clean).items()})
        if save_outputs:
            out_dir = Path(save_outputs)
            save_png(clean, out_dir / "_clean" / f"{image_name}.png")
            save_png(degraded, out_dir / "_input" / f"{image_name}.png")
        for name, model in models.items():
            kwargs = {}
            if getattr(model, "needs_kernel", False):
                if info.get("kernel") is None:
                    if name not in warned:
                        warned.add(name)
                        print(f"warning: {name} needs the true blur kernel, unknown for {image_name} "
                              f"(and maybe others): its rows are skipped", file=sys.stderr)
                    continue
                kwargs["kernel"] = info["kernel"]
            started = time.perf_counter()
            output = quantize(run_model(model, degraded, scale=task.scale(**params), tile=tile, overlap=overlap,
                                        precision=precision, **kwargs))
            seconds = time.perf_counter() - started
            scores = all_metrics(output, clean, border=border)
            if task.extra_scores is not None:
                scores.update(task.extra_scores(output, clean))
            rows.append({
                "task": task_name, "model": name, "image": image_name, **scores,
                "input_psnr": input_scores["psnr"], "input_psnr_y": input_scores["psnr_y"],
                "seconds": seconds, "height": clean.shape[0], "width": clean.shape[1],
                "scale": scale if task_name == "sr" else 1, "seed": seed, "dataset": dataset, **extra,
            })
            if save_outputs:
                save_png(output, Path(save_outputs) / name / f"{image_name}.png")
    return rows


def write_csv(rows: list[dict], path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Task-specific columns (deblur: kernel, noise_sigma) follow the common ones.
    columns = COLUMNS + [key for key in dict.fromkeys(k for row in rows for k in row) if key not in COLUMNS]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()})
    return path


def summarize(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Per-model means of the numeric columns (plus the gain over the input)."""
    summary: dict[str, dict[str, float]] = {}
    for name in dict.fromkeys(row["model"] for row in rows):  # models with no row (skipped) are absent
        mine = [row for row in rows if row["model"] == name]
        means = {key: float(np.mean([row[key] for row in mine]))
                 for key in ("psnr", "ssim", "psnr_y", "ssim_y", "input_psnr", "input_psnr_y", "seconds")}
        means["gain_psnr_y"] = means["psnr_y"] - means["input_psnr_y"]
        means["gain_psnr"] = means["psnr"] - means["input_psnr"]
        for key in mine[0]:  # a task's extra scores and their input reference (deblur: psnr_shift)
            if key.startswith("input_") and key[6:] in mine[0] and key not in means:
                means[key[6:]] = float(np.mean([row[key[6:]] for row in mine]))
                means[key] = float(np.mean([row[key] for row in mine]))
                means[f"gain_{key[6:]}"] = means[key[6:]] - means[key]
        means["images"] = len(mine)
        summary[name] = means
    return summary


def print_summary(summary: dict) -> None:
    width = max([14] + [len(name) + 1 for name in summary])
    shift = all("psnr_shift" in m for m in summary.values())  # deblur: also up to a shift
    print(f"{'model':<{width}}{'PSNR':>8}{'SSIM':>8}{'PSNR-Y':>9}{'SSIM-Y':>9}{'ΔY vs input':>13}"
          + (f"{'Δ up to shift':>15}" if shift else "") + f"{'ms/img':>9}")
    for name, m in summary.items():
        print(f"{name:<{width}}{m['psnr']:8.2f}{m['ssim']:8.4f}{m['psnr_y']:9.2f}{m['ssim_y']:9.4f}"
              f"{m['gain_psnr_y']:+13.2f}" + (f"{m['gain_psnr_shift']:+15.2f}" if shift else "")
              + f"{m['seconds'] * 1000:9.0f}")


@cli.one_line_errors(ImageLoadError, CheckpointError, FileNotFoundError, ParamError, ValueError, OSError)
def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = cli.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", required=True, choices=sorted(TASKS))
    parser.add_argument("--models", required=True, help="comma-separated registered model names")
    parser.add_argument("--clean", required=True, help="folder of ground-truth images")
    parser.add_argument("--degraded", help="folder of degraded inputs matched by file stem")
    parser.add_argument("--out", required=True, help="CSV file to write")
    parser.add_argument("--save-outputs", help="folder for the output PNGs (<model>/<image>.png)")
    parser.add_argument("--seed", type=cli.number(0, 2**32 - 1), default=0)
    scale = TASKS["sr"].param("scale")
    parser.add_argument("--scale", type=cli.number(scale.low, scale.high), default=scale.default,
                        help=f"SR scale ({scale.low}-{scale.high}; the other tasks ignore it)")
    parser.add_argument("--tile", type=cli.number(0), default=None,
                        help="tile size in input pixels (default: the model's own; 0: never tile)")
    parser.add_argument("--overlap", type=cli.number(0), default=DEFAULT_OVERLAP)
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="fp32 (default: the published figures), bf16 autocast, or auto")
    parser.add_argument("--limit", type=cli.number(1), help="evaluate only the first N images")
    parser.add_argument("--update-cards", action="store_true", help="record the means in each model's card")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    if not names:
        parser.error(f"--models {args.models!r}: no model name (a comma-separated list of registered models)")
    if args.tile and args.tile <= 2 * args.overlap:
        parser.error(f"--tile {args.tile} must be larger than twice --overlap ({args.overlap}), or 0 (never tile)")
    # before any work: a bad output path must not cost the evaluation
    cli.check_writable(args.out, "--out")
    if args.save_outputs:
        cli.check_writable(args.save_outputs, "--save-outputs", folder=True)
    for folder, option in ((args.clean, "--clean"), (args.degraded, "--degraded")):
        if folder is not None:
            require_dataset(folder, option)
    rows = evaluate(args.task, names, args.clean, args.degraded, args.scale, args.seed, args.save_outputs,
                    args.tile, args.overlap, args.limit, precision=args.precision)
    if not rows:
        raise cli.CommandError(f"no row to write: none of {', '.join(names)} could run on {args.clean} "
                               "(see the warnings above)")
    write_csv(rows, args.out)
    summary = summarize(rows)
    print_summary(summary)
    print(f"wrote {len(rows)} rows to {args.out}")
    if args.update_cards:
        command = "python -m studio.evaluate " + shlex.join(argv)
        if args.task == "sr":
            key = f"{Path(args.clean).name}_x{args.scale}"
        else:
            key = dataset_name(args.task, args.clean) + ("" if args.degraded else "_synthetic")
        for name in names:
            if get_entry(name).trainable and name in summary:
                card = model_card(name)
                metrics = dict(card.get("metrics", {}))
                metrics[key] = {k: round(v, 4) for k, v in summary[name].items()} | {
                    "csv": str(args.out), "command": command}
                update_card(get_entry(name).checkpoint_dir, metrics=metrics)


if __name__ == "__main__":
    main()
