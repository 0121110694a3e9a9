"""Per-task evaluation protocol: how a clean image becomes a model input, and how it is scored.

Families register a ``TaskSpec`` here so ``studio.evaluate``, ``studio.restore`` and the app
treat every task the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from studio.degradations import blur as blur_degradation
from studio.degradations import sr as sr_degradation
from studio.imageio import quantize


@dataclass
class TaskSpec:
    name: str
    title: str
    #: clean image -> clean image cropped to what the protocol scores (e.g. SR mod-crop)
    prepare_clean: Callable[..., np.ndarray]
    #: (clean, rng, **params) -> degraded model input
    degrade: Callable[..., np.ndarray]
    #: degraded input -> an image the size of the clean one (what "input PSNR" is measured on)
    input_reference: Callable[..., np.ndarray]
    #: pixels cropped from each border before scoring
    border: Callable[..., int]
    #: output / input size ratio
    scale: Callable[..., int]
    input_reference_name: str = "input"
    #: optional (clean, rng, **params) -> (degraded, info): like ``degrade`` but also returns what
    #: was applied (e.g. {"kernel": array, "kernel_name": str}); ``info["kernel"]`` reaches models
    #: that declare ``needs_kernel`` (oracle deconvolution)
    degrade_info: Callable[..., tuple[np.ndarray, dict]] | None = None
    #: optional (clean_path, degraded_path) -> info known about a real pair (e.g. its true kernel)
    pair_info: Callable[[Path, Path], dict] | None = None
    #: real pairs may name the degraded file "<clean stem>_<anything>" (levin2009's im_1_ker_3)
    match_prefix: bool = False


def _sr_input_reference(lr: np.ndarray, scale: int = 4, **_) -> np.ndarray:
    # An LR image cannot be compared with the HR one directly; the literature's reference for
    # "no model at all" is bicubic upscaling, so the SR gain is always measured against it.
    return quantize(sr_degradation.upscale_bicubic(lr, scale))


def _deblur_degrade_info(clean: np.ndarray, rng=None, **_) -> tuple[np.ndarray, dict]:
    # The evaluation protocol: kernels never used in training (Levin k1..k8 and the fixed
    # evaluation trajectories, see studio.degradations.blur.KERNEL_SPLIT), fixed noise, 8 bits.
    rng = rng if rng is not None else np.random.default_rng(0)
    result = blur_degradation.synthesize_eval_blur(clean, rng)
    return result.image, {"kernel": result.kernel, "kernel_name": result.kernel_name,
                          "noise_sigma": result.noise_sigma}


def _deblur_pair_info(clean_path: Path, degraded_path: Path) -> dict:
    # The true kernel is known for levin2009 (im_X_ker_Y was blurred with kY); only there.
    if "levin" not in str(Path(degraded_path).resolve().parent.parent).lower():
        return {}
    found = blur_degradation.levin_kernel_for(Path(degraded_path).stem)
    return {"kernel_name": found[0], "kernel": found[1]} if found else {}


TASKS: dict[str, TaskSpec] = {
    "sr": TaskSpec(
        name="sr",
        title="Super-resolution",
        prepare_clean=lambda clean, scale=4, **_: sr_degradation.mod_crop(clean, scale),
        degrade=lambda clean, rng=None, scale=4, **_: sr_degradation.downscale(clean, scale),
        input_reference=_sr_input_reference,
        border=lambda scale=4, **_: int(scale),
        scale=lambda scale=4, **_: int(scale),
        input_reference_name="bicubic-upscaled input",
    ),
    "deblur": TaskSpec(
        name="deblur",
        title="Motion deblurring",
        prepare_clean=lambda clean, **_: clean,
        degrade=lambda clean, rng=None, **params: _deblur_degrade_info(clean, rng, **params)[0],
        input_reference=lambda blurred, **_: blurred,  # the blurred input itself is the baseline
        border=lambda **_: 0,
        scale=lambda **_: 1,
        input_reference_name="blurred input",
        degrade_info=_deblur_degrade_info,
        pair_info=_deblur_pair_info,
        match_prefix=True,
    ),
}


def get_task(name: str) -> TaskSpec:
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; available: {', '.join(TASKS)}")
    return TASKS[name]
