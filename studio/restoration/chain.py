"""Restore, then upscale: the restoration project's bonus (its 128 px restored photos upscaled x4
to 512 px), finished with the super-resolution models trained here.

The restoration models work at 128 px (the source's size); an SR model then takes each restored
image x4, and the result is scored against the original photo brought to 512 px. Bicubic
upscaling of the same restored image is the reference: the chain's gain is what the SR model adds.
The SR models were trained on clean photos downscaled with MATLAB bicubic, so a restored image
(smoother, with the restorer's own artefacts) is not the input they learned; the evaluation
measures what that costs.
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from studio.restoration.degradation import prepare_clean
from studio.imageio import list_images, load_image, quantize
from studio.inference import run_model
from studio.metrics import all_metrics
from studio.tasks import get_task

#: the restoration models' working size and the chain's upscaling factor (128 px -> 512 px)
RESTORED_SIZE = 128
SCALE = 4


def upscale(image: np.ndarray, upscaler, precision: str = "fp32") -> np.ndarray:
    """``image`` (a restored 128 px photo) upscaled x4 by ``upscaler`` (a loaded SR model), 8-bit."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"the chain upscales an RGB image, got shape {image.shape}")
    return quantize(run_model(upscaler, image, scale=SCALE, precision=precision))


def reference_at_full_size(photo: np.ndarray) -> np.ndarray:
    """The original photo at the chain's output size (512 px), what the chain is scored against."""
    return prepare_clean(photo, RESTORED_SIZE * SCALE)


def evaluate_chain(restorers: list[str], upscalers: list[str], clean_dir, seed: int = 0, limit: int | None = None,
                   progress: bool = True, precision: str = "fp32") -> list[dict]:
    """One row per (restorer, upscaler, image): the restored 128 px output (the same input and output
    as ``studio.evaluation.evaluate`` with the same seed) upscaled x4 and scored against the photo at
    512 px. ``input_psnr`` is the degraded gray input upscaled with bicubic (no model at all)."""
    from studio.evaluation import load_for_task

    task = get_task("restoration")
    restoring = {name: load_for_task(name, "restoration") for name in restorers}
    upscaling = {name: load_for_task(name, "sr", SCALE) for name in upscalers}
    bicubic = load_for_task("bicubic", "sr", SCALE)
    paths = list_images(clean_dir)
    if not paths:
        raise FileNotFoundError(f"no images in {clean_dir}")
    paths = paths[:limit] if limit else paths
    dataset = task.dataset_name(clean_dir)
    rows = []
    for index, path in enumerate(tqdm(paths, desc=f"chain:{dataset}", disable=not progress)):
        photo = load_image(path)
        clean = task.prepare_clean(photo)
        target = reference_at_full_size(photo)
        # one generator per image, seeded as studio.evaluation seeds it: the same degraded inputs
        degraded, info = task.make_input(clean, np.random.default_rng([seed, index]))
        input_scores = all_metrics(upscale(task.input_reference(degraded), bicubic), target)
        for restorer, model in restoring.items():
            restored = quantize(run_model(model, degraded, precision=precision))
            for upscaler, sr_model in upscaling.items():
                output = upscale(restored, sr_model, precision)
                scores = all_metrics(output, target)
                rows.append({"task": "restoration", "model": restorer, "upscaler": upscaler, "image": path.stem,
                             **scores, "input_psnr": input_scores["psnr"], "input_psnr_y": input_scores["psnr_y"],
                             "height": target.shape[0], "width": target.shape[1], "scale": SCALE, "seed": seed,
                             "dataset": dataset, "degradation": info.get("degradation", "")})
    return rows


def summarize_chain(rows: list[dict]) -> dict[tuple[str, str], dict]:
    """Per (restorer, upscaler) means, and each SR model's gain over bicubic on the same restored images."""
    summary = {}
    for key in dict.fromkeys((row["model"], row["upscaler"]) for row in rows):
        mine = [row for row in rows if (row["model"], row["upscaler"]) == key]
        summary[key] = {m: float(np.mean([row[m] for row in mine])) for m in ("psnr", "ssim", "psnr_y", "ssim_y", "input_psnr")}
        summary[key]["images"] = len(mine)
    for (restorer, upscaler), means in summary.items():
        base = summary.get((restorer, "bicubic"))
        if base is not None:
            means["gain_over_bicubic"] = means["psnr"] - base["psnr"]
    return summary
