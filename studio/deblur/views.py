"""What a deblurring comparison shows besides the images: the true kernel, each blind model's
estimate, the window it was estimated on and its verdict -- the views' data, UI-free.

The studio (``studio.app.core``) and the restore command ask these functions about any model; they
answer from the model's declared interface (``studio.deblur.interface``), so a model that is not a
deblurring model passes through untouched.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from studio.deblur.deconvolution import check_max_size
from studio.deblur.interface import BlindEstimate, ReportsProgress, estimates_kernel


def user_max_kernel(params: dict) -> int | None:
    """The user's largest kernel size (odd px) where the task offers one (``DeconvolutionError`` if invalid)."""
    return check_max_size(params["max_kernel"]) if "max_kernel" in params else None


@contextmanager
def configured(model, max_kernel: int | None = None, progress=None):
    """``model`` with the user's maximum kernel size (blind models) and a progress callback (models
    that report progress) for the length of a ``with`` block; the callback is removed afterwards."""
    if max_kernel is not None and estimates_kernel(model):
        model.max_kernel = max_kernel
    reports = isinstance(model, ReportsProgress)
    if reports:
        model.progress = progress
    try:
        yield model
    finally:
        if reports:
            model.progress = None


def first_estimate(model) -> BlindEstimate | None:
    """A blind model's estimate for the first image of its last call; None for any other model."""
    if not estimates_kernel(model) or not model.last_estimates:
        return None
    return model.last_estimates[0]


@dataclass
class KernelPanel:
    """The kernels of one comparison: the true one where known, then each blind model's estimate
    with its verdict, and the windows they were estimated on."""

    #: (label, kernel)
    kernels: list[tuple[str, np.ndarray]] = field(default_factory=list)
    #: (blind model, (rows, cols) of the input its kernel was estimated on)
    windows: list[tuple[str, tuple[slice, slice]]] = field(default_factory=list)

    @classmethod
    def for_input(cls, info: dict) -> "KernelPanel":
        """The panel of an input whose degradation is ``info`` (the true kernel where it was applied)."""
        if info.get("kernel") is None:
            return cls()
        return cls(kernels=[(f"true kernel ({info.get('kernel_name', 'applied')})", np.asarray(info["kernel"]))])

    def add(self, name: str, model) -> tuple[str, str | None]:
        """Record what ``model`` (just run as ``name``) estimated: (the note shown under its result,
        the verdict's message for the page or None). A model that estimates nothing: ("", None)."""
        estimate = first_estimate(model)
        if estimate is None:
            return "", None
        if estimate.window is not None:  # pnp-blind may keep another window than wiener-blind
            self.windows.append((name, estimate.window))
        report, size = estimate.report, estimate.kernel.shape[0]
        self.kernels.append((f"{name}: estimated ({report.confidence if report else 'estimate'})", estimate.kernel))
        if report is None:
            return f"kernel estimated ({size} px)", None
        # the model's own verdict on its kernel, beside its output: a failure must not pass silently
        return f"{report.confidence.upper()} · kernel {size} px chosen", f"{name}: {report.message}"
