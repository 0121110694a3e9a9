"""Deblurring by physics plus a small learned prior: estimate the kernel, then deconvolve.

The end-to-end U-Nets (``models/unet_light.py``) must learn blur inversion from data, which takes
tens of GPU-hours. For uniform camera-shake blur the image formation is known, ``y = k * x + n``,
so the work splits in two (``studio.deblur.deconvolution``):

1. **kernel**: the true one (an oracle, only where it is known) or a blind estimate from the
   photo itself (coarse-to-fine, L0 gradient prior, Fourier-domain kernel fits), at ``START_KERNEL``
   px first and, where that estimate reaches its frame (the blur is longer), again up to
   ``max_kernel`` (``restore_blind``);
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

Every blind result is assessed by the model itself (``assess``: "no blur found", "kernel uncertain"
or "confident", with the evidence, in a ``BlindReport``), and an uncertain result is replaced by
the ``fallback`` of the registered confidence rule, chosen on validation photos by ``python -m
training.study_long_blur --study retune`` and checked on held-out ones by ``--study holdout``.

The blind models never receive the true kernel: their ``forward`` has no such argument. They are
``BlindKernelModel``s (``studio.deblur.interface``): after a call, ``last_estimates`` holds, per image
of the batch, the kernel used, the window it was estimated on and the verdict (the app shows all
three). The oracle is a ``TrueKernelModel``. Deconvolution is global, so none is ever tiled.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from studio.deblur.deconvolution import (ESTIMATION_WINDOW, KernelEstimate, check_max_size, crop_kernel,
                                  estimate_kernel, estimation_window, hqs_deconvolve, kernel_border_mass, kernel_extent,
                                  kernel_similarity, kernel_spread, luminance, reblur_residual, refine_kernel,
                                  wiener_deconvolve)
from studio.deblur.degradation import normalize_kernel
from studio.deblur.interface import (CONFIDENT, NO_BLUR, UNCERTAIN, BlindEstimate, BlindKernelModel, BlindReport,
                                     ReportsProgress, TrueKernelModel)
from studio.metrics import estimate_noise_sigma
from studio.registry import build_model, register_model

PRIORS = ("drunet-lite", "wiener")
#: the kernel size every blind estimate starts at: the size the estimation's settings were tuned on
START_KERNEL = 31
#: the share of the start estimate's mass on its 2-px frame above which the blur is taken to be longer
#: than the start size and a larger kernel is estimated: above what short blur leaves there, and below
#: what long blur does (``python -m training.study_long_blur --study grow``: results/tuning/long_blur_grow*.csv;
#: a short path that nearly fills the start frame may grow too, and its larger estimate can be worse:
#: Set5's baby in ``results/eval/deblur_set5_synthetic.csv``)
GROW_BORDER_MASS = 0.03
#: a long kernel is estimated on a window of this many times its size (at least the usual window): a
#: long path needs many edges of every direction to be told from noise
LONG_WINDOW_PER_PX = 7
#: an estimated blur no longer than this (px) is "no blur found": a sharp photo's estimate is such a
#: blob (8-bit rounding and noise leave a few pixels of it), and so short a blur is below what
#: deconvolution can restore
NO_BLUR_EXTENT = 4


class PlugAndPlayDeconvolution(nn.Module, ReportsProgress):
    """Deconvolve an image with a kernel and ``prior``: what the blind and the oracle models share."""

    channels_last = False

    def __init__(self, prior: str = "drunet-lite", iterations: int = 8, noise_floor: float = 0.01,
                 wiener_balance: float = 0.02, refine_at: tuple[int, ...] | list = (),
                 discrepancy_limit: float | None = None, discrepancy_noise_scale: float = 3.0):
        super().__init__()
        if prior not in PRIORS:
            raise ValueError(f"unknown prior {prior!r} (expected one of {PRIORS})")
        self.prior_name = prior
        self.iterations, self.noise_floor, self.wiener_balance = int(iterations), float(noise_floor), float(wiener_balance)
        # HQS iterations before which a blind estimate is refitted to the prior's current iterate
        self.refine_at = tuple(sorted({int(i) for i in refine_at}))
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
        #: of the last ``restore``: the blind result's re-blur residual over the assumed noise, and whether it
        #: was redone with more noise (None where no check ran: no ``discrepancy_limit``, the oracle, Wiener)
        self.discrepancy: tuple[float, bool] | None = None
        self.progress = None  # optional callable(fraction, text), set by a caller for one call

    def _denoise(self, image: np.ndarray, sigma: float) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32))[None]
        with torch.no_grad():
            out = self.prior(x.contiguous(memory_format=torch.channels_last), sigma).float()
        return out[0].permute(1, 2, 0).numpy()

    def assumed_noise(self, image: np.ndarray, noise_scale: float = 1.0) -> float:
        """The noise the data step must tolerate: the photo's own, at least ``noise_floor``."""
        return max(estimate_noise_sigma(luminance(image)), self.noise_floor) * noise_scale

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
            noise = self.assumed_noise(image, noise_scale)
            out = hqs_deconvolve(image, kernel, self._denoise, noise, self.iterations,
                                 progress=self._stage(*(stage or (0.0 if isinstance(self, TrueKernelModel) else 0.6, 1.0))),
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

class BlindDeconvolution(PlugAndPlayDeconvolution, BlindKernelModel):
    """Estimate the kernel of each image, then deconvolve it with ``prior``, and say how far to trust it."""

    def __init__(self, prior: str = "drunet-lite", max_kernel: int = 31, iterations: int = 8,
                 noise_floor: float = 0.01, wiener_balance: float = 0.02, refine_at: tuple[int, ...] | list = (),
                 discrepancy_limit: float | None = None, discrepancy_noise_scale: float = 3.0,
                 second_window: float | None = None, start_kernel: int = START_KERNEL,
                 max_spread: float | None = None, max_residual_ratio: float | None = None,
                 fallback: str | None = None):
        super().__init__(prior, iterations, noise_floor, wiener_balance, refine_at, discrepancy_limit,
                         discrepancy_noise_scale)
        self.max_kernel = check_max_size(max_kernel)
        self.start_kernel = check_max_size(start_kernel)
        # the edge coherence of a second estimation window (None: one window); see ``restore_blind``
        self.second_window = None if second_window is None else float(second_window)
        # the confidence rule (``assess``): a kernel hazier than ``max_spread`` or a result its kernel
        # explains worse than ``max_residual_ratio`` x the assumed noise is uncertain (None: not checked),
        # and an uncertain result is replaced by ``fallback`` ("input", "wiener"; None: kept, flagged)
        if fallback not in (None, "input", "wiener"):
            raise ValueError(f"fallback must be None, 'input' or 'wiener', got {fallback!r}")
        for name, value in (("max_spread", max_spread), ("max_residual_ratio", max_residual_ratio)):
            if value is not None and not float(value) > 0:
                raise ValueError(f"{name} must be positive (or None), got {value}")
        self.max_spread = None if max_spread is None else float(max_spread)
        self.max_residual_ratio = None if max_residual_ratio is None else float(max_residual_ratio)
        self.fallback = fallback
        self.last_estimates: list[BlindEstimate] = []
        self.last_report: BlindReport | None = None  # of the last ``restore_blind``

    def start_size(self) -> int:
        """The kernel size a blind estimate starts at: ``start_kernel``, or the user's smaller maximum."""
        return min(self.start_kernel, self.max_kernel)

    def grown_size(self, image: np.ndarray) -> int:
        """The largest kernel this photo allows up to ``max_kernel`` (estimation needs 2x its size per side)."""
        return max(3, min(self.max_kernel, (min(image.shape[:2]) // 2 - 1) | 1))

    def estimate(self, image: np.ndarray) -> KernelEstimate:
        """The blind kernel estimate of one HxWx3 image at the start size (the progress bar from 0 to 0.6)."""
        return estimate_kernel(image, self.start_size(), progress=self._stage(0.0, 0.6))

    def estimate_grown(self, image: np.ndarray, stage=(0.0, 0.6)) -> KernelEstimate:
        """The estimate of a blur longer than the start size: at ``grown_size`` on a window of
        ``LONG_WINDOW_PER_PX`` x that size, then cut to the blur it found (``crop_kernel``)."""
        size = self.grown_size(image)
        estimate = estimate_kernel(image, size, window=max(ESTIMATION_WINDOW, LONG_WINDOW_PER_PX * size),
                                   progress=self._stage(*stage))
        estimate.kernel = crop_kernel(estimate.kernel)
        return estimate

    def window_results(self, image: np.ndarray, first: KernelEstimate | None = None
                       ) -> list[tuple[np.ndarray, np.ndarray, KernelEstimate, float | None]]:
        """(deblurred image, kernel used, estimate, re-blur residual) of one HxWx3 image per estimation
        window, at the start size: the gradient-energy window's (``first``, where already made), then
        with ``second_window`` the most coherent window's where it is another one. The residual is
        measured only where there are two to choose from."""
        coherences = [0.0]
        if self.second_window is not None and self.prior is not None:
            gray = luminance(image)
            if estimation_window(gray, ESTIMATION_WINDOW, self.second_window) != estimation_window(gray, ESTIMATION_WINDOW):
                coherences.append(self.second_window)
        share = 1.0 / len(coherences)
        results = []
        for i, coherence in enumerate(coherences):
            estimate = first if i == 0 and first is not None else estimate_kernel(
                image, self.start_size(), window_coherence=coherence,
                progress=self._stage(0.6 * i * share, 0.6 * (i + 1) * share))
            restored, kernel = self.restore(image, estimate=estimate,
                                            stage=(0.6 + 0.4 * i * share, 0.6 + 0.4 * (i + 1) * share))
            results.append((restored, kernel, estimate, reblur_residual(restored, kernel, image) if share < 1 else None))
        return results

    def restore_blind(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, KernelEstimate]:
        """One HxWx3 image -> (deblurred image, kernel used, the estimate it came from), and its
        ``BlindReport`` in ``last_report``.

        The kernel is estimated at the start size first. Where that estimate reaches its frame
        (``GROW_BORDER_MASS``), the blur is longer: it is estimated again at the largest size the photo
        and ``max_kernel`` allow, cut to the blur found, and deconvolved with that. Otherwise, of the
        ``window_results``, the one whose kernel explains it better (the smaller re-blur residual;
        ``python -m training.tune_kernel_route --study window-pair`` measures that choice). Then the
        result is assessed (``assess``) and, if uncertain, replaced by the ``fallback``."""
        first = estimate_kernel(image, self.start_size(), progress=self._stage(0.0, 0.25))
        grew = self.grown_size(image) > first.kernel.shape[0] and kernel_border_mass(first.kernel) > GROW_BORDER_MASS
        if grew:
            estimate = self.estimate_grown(image, stage=(0.25, 0.6))
            restored, kernel = self.restore(image, estimate=estimate)
            results = [(restored, kernel, estimate, None)]
        else:
            results = self.window_results(image, first=first)
        restored, kernel, estimate, _ = results[0] if len(results) == 1 else min(results, key=lambda r: r[3])
        agreement = None
        if len(results) == 2:
            agreement = kernel_similarity(results[0][1], results[1][1])
        self.last_report = self.assess(image, restored, kernel, grew, agreement)
        if self.last_report.fallback == "input":
            restored = np.clip(np.asarray(image, dtype=np.float32), 0, 1)
        elif self.last_report.fallback == "wiener":
            restored = np.clip(wiener_deconvolve(image, kernel, self.wiener_balance), 0, 1).astype(np.float32)
        return restored, kernel, estimate

    def assess(self, image: np.ndarray, restored: np.ndarray, kernel: np.ndarray, grew: bool,
               agreement: float | None = None) -> BlindReport:
        """How far to trust a blind result: "no blur found" where the kernel is a dot (the photo is
        returned as it is: there is nothing to undo); "kernel uncertain" where the kernel still
        reaches its frame at the largest size (the blur is longer than ``max_kernel``), is hazier than
        ``max_spread`` or, blurred again, the result strays more than ``max_residual_ratio`` x the
        assumed noise from the photo; else "confident". The thresholds and what an uncertain result
        falls back to are chosen on validation photos (``python -m training.study_long_blur``)."""
        extent, size = kernel_extent(kernel), int(kernel.shape[0])
        spread, border = kernel_spread(kernel), kernel_border_mass(kernel)
        ratio = reblur_residual(np.clip(restored, 0, 1), kernel, image) / self.assumed_noise(image)
        fallback, reasons = None, []
        if extent <= NO_BLUR_EXTENT:
            confidence, fallback = NO_BLUR, "input"
            message = (f"no blur found: the estimated kernel spans {extent} px, too short to undo, so the photo is "
                       "returned as it is")
        else:
            if border > GROW_BORDER_MASS and size >= self.grown_size(image):
                reasons.append(f"the blur reaches the {size}-px frame: it may be longer than the max kernel size")
            if self.max_spread is not None and spread > self.max_spread:
                reasons.append(f"the kernel is hazy (spread {spread:.1f} > {self.max_spread:g})")
            if self.max_residual_ratio is not None and ratio > self.max_residual_ratio:
                reasons.append(f"blurred again, the result strays {ratio:.1f}x the noise from the photo "
                               f"(> {self.max_residual_ratio:g})")
            if reasons:
                confidence, fallback = UNCERTAIN, self.fallback
                shown = {"input": "the photo is returned as it is", "wiener": "the Wiener result is shown instead",
                         None: "the result is shown anyway"}[fallback]
                message = f"kernel uncertain ({'; '.join(reasons)}): {shown}"
            else:
                confidence = CONFIDENT
                message = f"confident: a {extent}-px blur, deconvolved with a {size}-px kernel"
        if grew and confidence != NO_BLUR:
            message += f" (the {self.start_size()}-px start estimate reached its frame, so the size grew to {size} px)"
        return BlindReport(size=size, extent=extent, grew=grew, confidence=confidence, fallback=fallback,
                           spread=spread, residual_ratio=float(ratio), border_mass=border,
                           window_agreement=agreement, message=message)

    def forward(self, x: torch.Tensor, **oracle) -> torch.Tensor:
        if oracle:
            raise TypeError(f"a blind model takes no {', '.join(oracle)}: it estimates the kernel itself")
        array = x.detach().float().cpu().permute(0, 2, 3, 1).numpy()
        outputs, self.last_estimates = [], []
        for image in array:
            restored, used, estimate = self.restore_blind(image)
            outputs.append(restored)
            self.last_estimates.append(BlindEstimate(used, estimate.window, self.last_report))
        return torch.from_numpy(np.stack(outputs)).permute(0, 3, 1, 2).to(x.device, x.dtype)


class OracleDeconvolution(PlugAndPlayDeconvolution, TrueKernelModel):
    """The same deconvolution given the true kernel: what a perfect estimate would give."""

    def forward(self, x: torch.Tensor, kernel=None) -> torch.Tensor:
        if kernel is None:
            raise ValueError(f"{type(self).__name__} needs the true blur kernel (kernel=...); it only runs where the blur is "
                             "known (synthetic blur, levin2009)")
        if torch.is_tensor(kernel):
            kernel = kernel.detach().cpu().numpy()
        array = x.detach().float().cpu().permute(0, 2, 3, 1).numpy()
        outputs = [self.restore(image, kernel)[0] for image in array]
        return torch.from_numpy(np.stack(outputs)).permute(0, 3, 1, 2).to(x.device, x.dtype)


register_model("pnp-blind", "deblur", BlindDeconvolution,
               dict(prior="drunet-lite", max_kernel=75, iterations=8, noise_floor=0.01, refine_at=(3, 5), second_window=2.0,
                    max_spread=8.0, max_residual_ratio=1.5, fallback="input"),
               "Blind plug-and-play deblurring: kernel estimated from the photo (coarse-to-fine, L0 gradient prior, "
               "strongest edges; 31 px first, up to 75 px where that estimate is cut off by its frame), then 8 HQS iterations "
               "with the learned drunet-lite denoiser as the image prior; partway "
               "through (the iterations refine_at names), the kernel is refitted to the prior's own iterate. A photo larger "
               "than the estimation window is estimated on two windows (most gradient energy, most coherent edges) and "
               "keeps the result its kernel explains better. Each result gets a verdict; where it is uncertain (a hazy "
               "kernel, or one that does not explain the result) the photo is returned as it is, with the verdict.",
               weights_from=("drunet-lite", "prior"),
               lesson=("The second route to deblurring, beside the end-to-end U-Nets: use the physics. Camera shake is "
                       "(nearly) one blur kernel for the whole photo, y = k * x + noise, so the kernel is estimated from "
                       "the photo's own edges (coarse to fine, an L0 gradient prior that keeps only strong edges, kernel "
                       "fits solved in the Fourier domain) and the blur is then inverted in closed form, with a small "
                       "learned denoiser as the image prior between the inversions (plug-and-play HQS, as DPIR). Once "
                       "the prior's iterate is sharper than the estimation's cartoon-like latent image, the kernel is "
                       "refitted to it (midway through the iterations). The kernel's size is chosen from the photo: 31 "
                       "px first, larger where that estimate is cut off by its frame. Every result carries the model's "
                       "own verdict (confident, kernel uncertain, no blur found): a kernel it cannot trust must not pass "
                       "silently, because the learned prior, trusting the data more than Wiener does, turns a wrong "
                       "kernel into artefacts; an uncertain result falls back as the rule in its card says. The learned "
                       "part never sees a blur, so it trains in about an hour on a CPU; the U-Nets must learn the "
                       "inversion itself, which the logbook did in 150 GPU epochs. What it cannot do: blur that varies "
                       "across the photo (moving objects, rotation, depth), which the U-Nets can learn. Blind estimation "
                       "knows the kernel only up to a shift, so its output is centred like the input; 'Δ up to shift' in "
                       "the evaluation forgives that, as Levin et al.'s protocol does."))
register_model("pnp-oracle", "deblur", OracleDeconvolution,
               dict(prior="drunet-lite", iterations=8, noise_floor=0.006),
               "Plug-and-play deblurring with the TRUE kernel (oracle): 8 HQS iterations with the learned drunet-lite "
               "denoiser. What the learned prior does when the kernel is exact; compare with wiener-oracle.",
               weights_from=("drunet-lite", "prior"),
               lesson=("The same deconvolution given the true kernel: the ceiling of the blind pipeline, and the fair "
                       "comparison for wiener-oracle. The gap between the two oracles is what the learned prior adds; "
                       "the gap between pnp-oracle and pnp-blind is what estimating the kernel costs."))
register_model("wiener-blind", "deblur", BlindDeconvolution,
               dict(prior="wiener", max_kernel=75, wiener_balance=0.02),
               "Blind classical deblurring: the same kernel estimate as pnp-blind starts from, then Wiener "
               "deconvolution (noise-to-signal 0.02). The gap to pnp-blind is what the learned prior adds, to the "
               "deconvolution and to the kernel it refits.",
               learned=False,
               lesson=("The classical blind baseline: the kernel estimate pnp-blind starts from, inverted by Wiener "
                       "deconvolution (one global noise-to-signal ratio, no image prior). Its gap to pnp-blind isolates "
                       "the learned prior (in the deconvolution and in the kernel it refits); its gap to wiener-oracle "
                       "isolates the kernel estimate."))
