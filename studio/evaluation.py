"""Evaluate models of a task on a folder of images: the library behind ``python -m studio.evaluate``,
the app's Benchmark tab and the protocol's test step. One row per (model, image); the columns and
the pairing rules are described in ``studio/evaluate.py``."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from studio.imageio import list_images, load_image, quantize, save_png
from studio.inference import DEFAULT_OVERLAP, run_model
from studio.metrics import all_metrics
from studio.registry import build_model, create_model, get_entry, model_card
from studio.results import write_table
from studio.tasks import MissingInput, get_task


COLUMNS = ["task", "model", "image", "psnr", "ssim", "psnr_y", "ssim_y", "input_psnr", "input_psnr_y",
           "seconds", "height", "width", "scale", "seed", "dataset"]


def load_for_task(name: str, task: str, scale: int = 4) -> torch.nn.Module:
    """A registered model ready for ``task`` at ``scale`` (clear errors when it does not fit)."""
    entry, spec = get_entry(name), get_task(task)
    if entry.task != task:
        raise ValueError(f"model {name!r} is a {entry.task!r} model, not a {task!r} one")
    if not entry.learned:
        return build_model(name, **spec.model_overrides(scale)).eval()
    model = create_model(name)
    trained_scale = model_card(name).get("scale", scale)
    if spec.scaled_models and trained_scale != scale:
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


def evaluate(task_name: str, model_names: list[str], clean_dir, degraded_dir=None, scale: int = 4, seed: int = 0,
             save_outputs=None, tile: int | None = None, overlap: int = DEFAULT_OVERLAP, limit=None,
             progress: bool = True, precision: str = "fp32", params: dict | None = None) -> list[dict]:
    """``params``: the task's degradation parameters besides ``scale`` (SR: ``{"degradation": "real"}``),
    checked by the task."""
    task = get_task(task_name)
    params = {"scale": scale, **task.parse_params(params)}
    models = {name: load_for_task(name, task_name, scale) for name in model_names}
    dataset = task.dataset_name(clean_dir)
    rows = []
    items = pairs(clean_dir, degraded_dir, limit, match_prefix=task.match_prefix)
    warned = set()
    for index, (clean_path, degraded_path) in enumerate(tqdm(items, desc=f"{task_name}:{dataset}", disable=not progress)):
        clean = task.prepare_clean(load_image(clean_path), **params)
        info: dict = {}
        if degraded_path is None:
            # One generator per image, seeded by (seed, index): inputs never depend on model order.
            rng = np.random.default_rng([seed, index])
            degraded, info = task.make_input(clean, rng, **params)
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
            try:
                kwargs = task.model_inputs(model, info)
            except MissingInput as err:
                if name not in warned:
                    warned.add(name)
                    print(f"warning: {name} {err}; unknown for {image_name} (and maybe others): its rows are skipped",
                          file=sys.stderr)
                continue
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
                "scale": task.scale(**params), "seed": seed, "dataset": dataset, **extra,
            })
            if save_outputs:
                save_png(output, Path(save_outputs) / name / f"{image_name}.png")
    return rows


def write_csv(rows: list[dict], path) -> Path:
    """The evaluation CSV: the common columns, then a task's own (deblur: kernel, noise_sigma)."""
    return write_table(path, rows, COLUMNS, default_digits=4)


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
