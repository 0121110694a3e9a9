"""What a deblurring model may need and give back, declared as base classes.

The task, the evaluation, the command lines and the studio ask ``isinstance`` of these instead of
probing attributes, so a new deblurring model says what it is where it is defined:

* ``ReportsProgress``: a model that reports progress from inside a call (``progress``).
* ``TrueKernelModel``: a non-blind ("oracle") deconvolution, called as ``model(x, kernel=k)`` on the
  whole image; it runs only where the blur is known (synthetic blur, levin2009).
* ``BlindKernelModel``: a model that estimates the kernel from the photo. It takes a user maximum
  (``max_kernel``), reports progress from inside (``progress``) and, after each call, gives back per
  image of the batch a ``BlindEstimate``: the kernel it used, the window it was estimated on, and
  its own verdict on the result (``BlindReport``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar

import numpy as np

#: a progress callback: (fraction done in [0, 1], what is being done)
Progress = Callable[[float, str], None]

CONFIDENT, UNCERTAIN, NO_BLUR = "confident", "kernel uncertain", "no blur found"


@dataclass
class BlindReport:
    """What a blind model says of one result: the kernel size it chose and how far to trust it."""

    #: the size (odd px) of the kernel deconvolved with, and the blur's length in it (px)
    size: int
    extent: int
    #: the start estimate reached its frame, so a larger kernel was estimated
    grew: bool
    #: ``CONFIDENT``, ``UNCERTAIN`` or ``NO_BLUR``
    confidence: str
    #: what was returned instead of the deconvolution: "input", "wiener" or None (the deconvolution)
    fallback: str | None
    #: the confidence's evidence: the kernel's haze (``kernel_spread``), the re-blur residual over the
    #: assumed noise, the kernel's mass on its frame, the two windows' kernel similarity (None: one window)
    spread: float
    residual_ratio: float
    border_mass: float
    window_agreement: float | None
    message: str

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class BlindEstimate:
    """What a blind model gives back for one image: the kernel deconvolved with, the window
    (rows, cols) it was estimated on (None: the whole image), and the verdict (None: no verdict)."""

    kernel: np.ndarray
    window: tuple[slice, slice] | None
    report: BlindReport | None


class ReportsProgress:
    """Base of the models that report progress from inside a call (a deconvolution's iterations)."""

    #: set by a caller for the length of a call, None otherwise
    progress: Progress | None = None


class TrueKernelModel:
    """Base of the deconvolutions that need the true kernel: ``model(x, kernel=k)``, never tiled."""

    default_tile: ClassVar[int] = 0


class BlindKernelModel(ReportsProgress):
    """Base of the models that estimate the kernel themselves (see the module docstring)."""

    default_tile: ClassVar[int] = 0
    #: the largest kernel (odd px) an estimate may reach; the studio lets the user lower it
    max_kernel: int
    #: of the last call, one per image of the batch
    last_estimates: list[BlindEstimate]


def _is(model_or_class, base: type) -> bool:
    return issubclass(model_or_class if isinstance(model_or_class, type) else type(model_or_class), base)


def needs_true_kernel(model_or_class) -> bool:
    """Whether a model (or a registered builder class) deconvolves with the true kernel."""
    return _is(model_or_class, TrueKernelModel)


def estimates_kernel(model_or_class) -> bool:
    """Whether a model (or a registered builder class) estimates the kernel from the photo."""
    return _is(model_or_class, BlindKernelModel)
