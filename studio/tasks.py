"""Per-task evaluation protocol: how a clean image becomes a model input, and how it is scored.

Families register a ``TaskSpec`` here so ``studio.evaluate``, ``studio.restore`` and the app
treat every task the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

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


def _sr_input_reference(lr: np.ndarray, scale: int = 4, **_) -> np.ndarray:
    # An LR image cannot be compared with the HR one directly; the literature's reference for
    # "no model at all" is bicubic upscaling, so the SR gain is always measured against it.
    return quantize(sr_degradation.upscale_bicubic(lr, scale))


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
}


def get_task(name: str) -> TaskSpec:
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; available: {', '.join(TASKS)}")
    return TASKS[name]
