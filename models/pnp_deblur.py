"""Deblurring by physics plus a small learned prior: estimate the kernel, then deconvolve.

The end-to-end U-Nets (``models/unet_light.py``) must learn blur inversion from data, which takes
tens of GPU-hours. For uniform camera-shake blur the image formation is known, ``y = k * x + n``,
so the work splits in two (``studio.deconvolution``):

1. **kernel**: the true one (an oracle, only where it is known) or a blind estimate from the
   photo itself (coarse-to-fine, L0 gradient prior, Fourier-domain kernel fits);
2. **deconvolution**: plug-and-play HQS, whose only learned part is ``drunet-lite``, a Gaussian
   denoiser that never saw a blur -- or classical Wiener, to show what the prior adds. A blind
   estimate is refitted to the prior's iterate partway through (``refine_at``): by then that
   iterate is closer to the sharp photo than the L0 latent the estimate was fitted to. With
   ``second_window``, a photo larger than the estimation window is also estimated on the window
   whose edges are most coherent (``estimation_window``'s ``coherence``), deconvolved with that
   kernel too, and the result its own kernel explains better (the smaller re-blur residual) is
   kept: fine texture can mislead the first window's estimate, and a wrong kernel leaves a result
   that, blurred again, strays further from the input. With
   ``discrepancy_limit`` set, a blind result that its own kernel does not explain (re-blurred, it
   stays more than that many times the assumed noise from the input) is redone assuming
   ``discrepancy_noise_scale`` x the noise. The registered models leave it off: ``python -m
   training.tune_kernel_route --study discrepancy-confirm`` found it redoes good results as often
   as bad ones.

Registered models (all take and return (B, 3, H, W) tensors in [0, 1]):

* ``pnp-blind``   estimated kernel + HQS with the learned prior (the headline);
* ``pnp-oracle``  true kernel + HQS with the learned prior (``needs_kernel``, beside ``wiener-oracle``);
* ``wiener-blind`` estimated kernel + Wiener (classical, blind, no refit): the prior's contribution is
  the gap to ``pnp-blind``, the kernel estimate's is the gap between the blind and oracle rows.

The blind models never receive the true kernel: their ``forward`` has no such argument. After a
call, ``last_kernels`` holds the kernel used for each image of the batch and ``last_windows`` the
window it was estimated on (None for the oracle; the app shows both).
Deconvolution is global, so the models are never tiled (``default_tile = 0``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from studio.deconvolution import (ESTIMATION_WINDOW, KernelEstimate, check_max_size, estimate_kernel, estimation_window,
                                  hqs_deconvolve, luminance, reblur_residual, refine_kernel, wiener_deconvolve)
from studio.degradations.blur import normalize_kernel
from studio.metrics import estimate_noise_sigma
from studio.registry import build_model, register_model

PRIORS = ("drunet-lite", "wiener")


class BlindDeconvolution(nn.Module):
    """Estimate the kernel of each image, then deconvolve it with ``prior``."""

    default_tile = 0  # global deconvolution: never tiled
    channels_last = False
    needs_kernel = False

    def __init__(self, prior: str = "drunet-lite", max_kernel: int = 31, iterations: int = 8,
                 noise_floor: float = 0.01, wiener_balance: float = 0.02, refine_at: tuple[int, ...] | list = (),
                 discrepancy_limit: float | None = None, discrepancy_noise_scale: float = 3.0,
                 second_window: float | None = None):
        super().__init__()
        if prior not in PRIORS:
            raise ValueError(f"unknown prior {prior!r} (expected one of {PRIORS})")
        self.prior_name = prior
        self.max_kernel = check_max_size(max_kernel)
        self.iterations, self.noise_floor, self.wiener_balance = int(iterations), float(noise_floor), float(wiener_balance)
        # HQS iterations before which a blind estimate is refitted to the prior's current iterate
        self.refine_at = tuple(sorted({int(i) for i in refine_at}))
        # the edge coherence of a second estimation window (None: one window); see ``restore_blind``
        self.second_window = None if second_window is None else float(second_window)
        # the discrepancy check of a blind result (None: none); see ``restore``
        self.discrepancy_limit = None if discrepancy_limit is None else float(discrepancy_limit)
        self.discrepancy_noise_scale = float(discrepancy_noise_scale)
        if self.discrepancy_limit is not None and not self.discrepancy_limit > 0 or not self.discrepancy_noise_scale >= 1:
            raise ValueError("discrepancy_limit must be positive (or None) and discrepancy_noise_scale at least 1, got "
                             f"{discrepancy_limit} and {discrepancy_noise_scale}")
        if any(not 0 < i < self.iterations for i in self.refine_at):
            raise ValueError(f"refine_at must name iterations between 1 and {self.iterations - 1}, got {self.refine_at}")
        # the learned prior is a registered model of its own; create_model loads its weights here
        self.prior = build_model("drunet-lite") if prior == "drunet-lite" else None
        if self.prior is not None:
            # channels-last: the prior's dense 3x3 convolutions run 2-3x faster in that layout on CPU
            # (oneDNN), most of all under bf16 autocast; loading weights later keeps the layout
            self.prior.to(memory_format=torch.channels_last)
        self.last_kernels: list[np.ndarray] = []
        self.last_windows: list[tuple[slice, slice] | None] = []
        #: of the last ``restore``: the blind result's re-blur residual over the assumed noise, and whether it
        #: was redone with more noise (None where no check ran: no ``discrepancy_limit``, the oracle, Wiener)
        self.discrepancy: tuple[float, bool] | None = None
        self.progress = None  # optional callable(fraction, text), set by the app

    def _denoise(self, image: np.ndarray, sigma: float) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32))[None]
        with torch.no_grad():
            out = self.prior(x.contiguous(memory_format=torch.channels_last), sigma).float()
        return out[0].permute(1, 2, 0).numpy()

    def estimate(self, image: np.ndarray) -> KernelEstimate:
        """The blind kernel estimate of one HxWx3 image (the first 60 % of the progress bar)."""
        return estimate_kernel(image, self.max_kernel, progress=self._stage(0.0, 0.6))

    def window_results(self, image: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, KernelEstimate, float | None]]:
        """(deblurred image, kernel used, estimate, re-blur residual) of one HxWx3 image per estimation
        window: the gradient-energy window's, then with ``second_window`` the most coherent window's
        where it is another one. The residual is measured only where there are two to choose from."""
        coherences = [0.0]
        if self.second_window is not None and self.prior is not None:
            gray = luminance(image)
            if estimation_window(gray, ESTIMATION_WINDOW, self.second_window) != estimation_window(gray, ESTIMATION_WINDOW):
                coherences.append(self.second_window)
        share = 1.0 / len(coherences)
        results = []
        for i, coherence in enumerate(coherences):
            estimate = estimate_kernel(image, self.max_kernel, window_coherence=coherence,
                                       progress=self._stage(0.6 * i * share, 0.6 * (i + 1) * share))
            restored, kernel = self.restore(image, estimate=estimate,
                                            stage=(0.6 + 0.4 * i * share, 0.6 + 0.4 * (i + 1) * share))
            results.append((restored, kernel, estimate, reblur_residual(restored, kernel, image) if share < 1 else None))
        return results

    def restore_blind(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, KernelEstimate]:
        """One HxWx3 image -> (deblurred image, kernel used, the estimate it came from): of the
        ``window_results``, the one whose kernel explains it better (the smaller re-blur residual;
        ``python -m training.tune_kernel_route --study window-pair`` measures that choice)."""
        results = self.window_results(image)
        restored, kernel, estimate, _ = results[0] if len(results) == 1 else min(results, key=lambda r: r[3])
        return restored, kernel, estimate

    def restore(self, image: np.ndarray, kernel: np.ndarray | None = None, estimate: KernelEstimate | None = None,
                noise_scale: float = 1.0, stage: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """One HxWx3 image in [0, 1] -> (deblurred image, the kernel used last). ``kernel``: a kernel to
        use as it is (the oracle's); ``estimate``: a blind estimate already made of this image (studies
        reuse one across settings); neither: estimate it here. ``noise_scale`` multiplies the noise the
        data step assumes (the discrepancy check's redo uses it); ``stage``: the share of the progress
        bar the deconvolution reports in (default: what the estimate leaves)."""
        refitted, update = [], None
        self.discrepancy = None
        blind = kernel is None
        if kernel is None:
            if estimate is None:
                estimate = self.estimate(image)
            kernel = estimate.kernel
            if self.refine_at and self.prior is not None:
                def update(index, current, used):
                    if index in self.refine_at:  # the prior's iterate is sharper than the L0 latent
                        refitted.append(refine_kernel(current, image, used, estimate.window))
                        return refitted[-1]
                    return None
        kernel = normalize_kernel(kernel)
        if self.prior is None:
            out = wiener_deconvolve(image, kernel, self.wiener_balance)
        else:
            # the noise the data step must tolerate: the photo's own, at least ``noise_floor`` (8-bit
            # rounding and model mismatch add to it; a kernel estimate's errors act as more noise, so the
            # blind floor is higher). Both floors were chosen on bsds500/val crops blurred with the
            # validation kernels, never on an evaluation set; the blind one is re-examined on whole
            # photos by ``python -m training.tune_kernel_route --study noise-floor`` (results/tuning/).
            noise = max(estimate_noise_sigma(luminance(image)), self.noise_floor) * noise_scale
            out = hqs_deconvolve(image, kernel, self._denoise, noise, self.iterations,
                                 progress=self._stage(*(stage or (0.0 if self.needs_kernel else 0.6, 1.0))),
                                 kernel_update=update)
            if blind and self.discrepancy_limit is not None:
                # Morozov's discrepancy principle turned into a check: re-blurred by its kernel, a right
                # result lies within about the noise of the input; one much further was made with a kernel
                # that does not explain the photo, and trusting that kernel less (more assumed noise: a
                # smoother, more cautious deconvolution) does less harm
                ratio = reblur_residual(np.clip(out, 0, 1), refitted[-1] if refitted else kernel, image) / noise
                redo = ratio > self.discrepancy_limit
                if redo:
                    refitted.clear()
                    out = hqs_deconvolve(image, kernel, self._denoise, noise * self.discrepancy_noise_scale, self.iterations,
                                         kernel_update=update)
                self.discrepancy = (ratio, redo)
        return np.clip(out, 0, 1).astype(np.float32), (refitted[-1] if refitted else kernel)

    def _stage(self, start: float, end: float):
        if self.progress is None:
            return None
        return lambda fraction, text: self.progress(start + (end - start) * fraction, text)

    def forward(self, x: torch.Tensor, **oracle) -> torch.Tensor:
        if self.needs_kernel and oracle.get("kernel") is None:
            raise ValueError(f"{type(self).__name__} needs the true blur kernel (kernel=...); it only runs where the blur is "
                             "known (synthetic blur, levin2009)")
        if not self.needs_kernel and oracle:
            raise TypeError(f"a blind model takes no {', '.join(oracle)}: it estimates the kernel itself")
        kernel = oracle.get("kernel")
        if torch.is_tensor(kernel):
            kernel = kernel.detach().cpu().numpy()
        array = x.detach().float().cpu().permute(0, 2, 3, 1).numpy()
        outputs, self.last_kernels, self.last_windows = [], [], []
        for image in array:
            if kernel is None:
                restored, used, estimate = self.restore_blind(image)
            else:
                estimate = None
                restored, used = self.restore(image, kernel)
            outputs.append(restored)
            self.last_kernels.append(used)
            self.last_windows.append(None if estimate is None else estimate.window)
        return torch.from_numpy(np.stack(outputs)).permute(0, 3, 1, 2).to(x.device, x.dtype)


class OracleDeconvolution(BlindDeconvolution):
    """The same deconvolution given the true kernel (``kernel=``): what a perfect estimate would give."""

    needs_kernel = True


register_model("pnp-blind", "deblur", BlindDeconvolution,
               dict(prior="drunet-lite", max_kernel=31, iterations=8, noise_floor=0.01, refine_at=(3, 5), second_window=2.0),
               "Blind plug-and-play deblurring: kernel estimated from the photo (coarse-to-fine, L0 gradient prior, "
               "strongest edges), then 8 HQS iterations with the learned drunet-lite denoiser as the image prior; partway "
               "through (the iterations refine_at names), the kernel is refitted to the prior's own iterate. A photo larger "
               "than the estimation window is estimated on two windows (most gradient energy, most coherent edges) and "
               "keeps the result its kernel explains better.",
               weights_from=("drunet-lite", "prior"))
register_model("pnp-oracle", "deblur", OracleDeconvolution,
               dict(prior="drunet-lite", iterations=8, noise_floor=0.006),
               "Plug-and-play deblurring with the TRUE kernel (oracle): 8 HQS iterations with the learned drunet-lite "
               "denoiser. What the learned prior does when the kernel is exact; compare with wiener-oracle.",
               weights_from=("drunet-lite", "prior"))
register_model("wiener-blind", "deblur", BlindDeconvolution,
               dict(prior="wiener", max_kernel=31, wiener_balance=0.02),
               "Blind classical deblurring: the same kernel estimate as pnp-blind starts from, then Wiener "
               "deconvolution (noise-to-signal 0.02). The gap to pnp-blind is what the learned prior adds, to the "
               "deconvolution and to the kernel it refits.",
               learned=False)
