"""Uniform-blur deconvolution in the Fourier domain: blind kernel estimation and plug-and-play HQS.

Two primitives, shared by the deblurring models (``models/pnp_deblur.py``), the app and the tests:

* ``estimate_kernel(image, max_size)`` -- blind estimation of one camera-shake kernel, coarse to
  fine over an image pyramid, alternating a latent sharp image under an L0 gradient prior (Xu et
  al. 2013; Pan et al. 2014 "Deblurring text images via L0-regularized intensity and gradient
  prior") and a kernel fitted to the latent's strongest gradients by least squares (conjugate
  gradients, Pan's ``estimate_psf``; Cho & Lee 2009's edge selection, or optionally all gradients),
  then made non-negative, pruned of weak isolated blobs and normalised to sum 1.
  It works on luminance, on the window of a large photo with the most edges.
  ``refine_kernel`` refits an estimate the same way to a better latent image (a plug-and-play
  iterate).
* ``hqs_deconvolve(image, kernel, denoiser)`` -- non-blind deconvolution by half-quadratic
  splitting (DPIR, Zhang et al. 2021): a closed-form FFT data step, then a denoiser at a noise
  level that decreases geometrically from 49/255 to the photo's own. The photo is padded by the
  kernel size and the padded band is treated as unknown: before every data step it is refilled
  with the current estimate blurred by the kernel, so the circular FFT model never forces the
  opposite border in and real photos do not ring at their edges.

Everything here is numpy/scipy except the denoiser, which is any callable ``(x, sigma) -> x`` on
(H, W, C) float arrays (``models/pnp_deblur.py`` wraps ``drunet-lite`` as one).
"""

from __future__ import annotations

import copy
import hashlib
import math
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import numpy as np
from scipy import fft as sfft
from scipy import ndimage

from studio.deblur.degradation import normalize_kernel
from studio.deblur.degradation import path_extent as kernel_extent  # how long a kernel's blur is (px)

#: largest kernel a user may ask for (px); a 75 px kernel already spans a tenth of a 720p frame
MAX_KERNEL_LIMIT = 151
#: the side of the window the kernel is estimated on: larger photos are estimated on the window of
#: this size that ``estimation_window`` picks (full resolution, so the kernel keeps its true size)
ESTIMATION_WINDOW = 384


class DeconvolutionError(ValueError):
    """An input the deconvolution cannot work on; the message says what to change."""


# ---- Fourier helpers ---------------------------------------------------------------------------

# Every image and kernel here is real, so the transforms are real-input ones (half the spectrum,
# about twice the speed of complex transforms); the inverse needs the spatial shape back.

def fft2(x: np.ndarray) -> np.ndarray:
    return sfft.rfft2(x, workers=-1)


def ifft2(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The inverse of ``fft2`` on a ``shape`` grid."""
    return sfft.irfft2(x, s=shape, workers=-1)


def kernel_at_origin(kernel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``kernel`` zero-padded to ``shape`` with its centre moved to the origin (what an FFT needs)."""
    padded = np.zeros(shape, dtype=kernel.dtype)
    kh, kw = kernel.shape
    padded[:kh, :kw] = kernel
    return np.roll(padded, (-(kh // 2), -(kw // 2)), axis=(0, 1))


def psf2otf(kernel: np.ndarray, shape: tuple[int, int], dtype=np.float64) -> np.ndarray:
    """The transfer function of ``kernel`` on a ``shape`` grid (kernel centre moved to the origin),
    computed in ``dtype`` (float32: a complex64 result, half the cost of every product with it)."""
    return fft2(kernel_at_origin(np.asarray(kernel, dtype=dtype), shape))


def otf2psf(otf: np.ndarray, size: int, shape: tuple[int, int]) -> np.ndarray:
    """The ``size`` x ``size`` spatial kernel of a transfer function on a ``shape`` grid (inverse of
    ``psf2otf``)."""
    full = ifft2(otf, shape)
    full = np.roll(full, (size // 2, size // 2), axis=(0, 1))
    return full[:size, :size]


def _gradient_otfs(shape, dtype=np.float64):
    return psf2otf(np.array([[1.0, -1.0]]), shape, dtype), psf2otf(np.array([[1.0], [-1.0]]), shape, dtype)


def _grad(x):
    """Forward differences with circular wrap (what ``_gradient_otfs`` diagonalises)."""
    gx, gy = np.empty_like(x), np.empty_like(x)
    np.subtract(x[:, 1:], x[:, :-1], out=gx[:, :-1])
    np.subtract(x[:, :1], x[:, -1:], out=gx[:, -1:])
    np.subtract(x[1:], x[:-1], out=gy[:-1])
    np.subtract(x[:1], x[-1:], out=gy[-1:])
    return gx, gy


def _grad_adjoint(gx, gy):
    """The adjoint of ``_grad`` (backward differences), so conj(dx) F(gx) + conj(dy) F(gy) is one
    transform, F(_grad_adjoint(gx, gy)), instead of two."""
    out = np.empty_like(gx)
    np.subtract(gx[:, -1:], gx[:, :1], out=out[:, :1])
    np.subtract(gx[:, :-1], gx[:, 1:], out=out[:, 1:])
    out[1:] += gy[:-1] - gy[1:]
    out[:1] += gy[-1:] - gy[:1]
    return out


def luminance(image: np.ndarray) -> np.ndarray:
    """BT.601 luma of an RGB image; a gray image as it is."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[-1] == 3:
        return image @ np.array([0.299, 0.587, 0.114])
    if image.ndim == 3 and image.shape[-1] == 1:
        return image[..., 0]
    raise DeconvolutionError(f"expected a gray (HxW) or RGB (HxWx3) image, got shape {image.shape}; "
                             "drop the alpha channel first (studio.imageio.load_image does)")


def check_max_size(max_size) -> int:
    """A user's maximum kernel size: an odd integer in [3, MAX_KERNEL_LIMIT]."""
    if isinstance(max_size, float) and not math.isfinite(max_size):
        raise DeconvolutionError(f"max kernel size must be a number, got {max_size}")
    if int(max_size) != max_size:
        raise DeconvolutionError(f"max kernel size must be a whole number of pixels, got {max_size}")
    size = int(max_size)
    if size < 3 or size > MAX_KERNEL_LIMIT:
        raise DeconvolutionError(f"max kernel size must be between 3 and {MAX_KERNEL_LIMIT} px, got {size}")
    if size % 2 == 0:
        raise DeconvolutionError(f"max kernel size must be odd (a kernel has a centre pixel), got {size}")
    return size


# ---- blind kernel estimation -------------------------------------------------------------------

def l0_latent(blurred: np.ndarray, kernel: np.ndarray, weight: float, beta_max: float = 1e5) -> np.ndarray:
    """argmin_x ||k * x - y||^2 + weight ||grad x||_0 (Xu et al. 2013), by half-quadratic splitting:
    the gradients are hard-thresholded, then x is solved in closed form in the Fourier domain.
    The result keeps strong edges and flattens the rest: what the kernel step needs."""
    shape = blurred.shape
    otf = psf2otf(kernel, shape, blurred.dtype)
    dx, dy = _gradient_otfs(shape, blurred.dtype)
    numerator_data = np.conj(otf) * fft2(blurred)
    denominator_data = np.abs(otf) ** 2
    denominator_grad = np.abs(dx) ** 2 + np.abs(dy) ** 2
    x, beta = blurred.copy(), 2 * weight
    while beta < beta_max:
        gx, gy = _grad(x)
        keep = (gx ** 2 + gy ** 2) >= weight / beta
        numerator = numerator_data + beta * fft2(_grad_adjoint(gx * keep, gy * keep))
        x = ifft2(numerator / (denominator_data + beta * denominator_grad), shape)
        beta *= 2
    return x


def select_edges(latent: np.ndarray, size: int, threshold: float | None = None, per_direction: int = 20
                 ) -> tuple[tuple[np.ndarray, np.ndarray], float]:
    """The gradients of ``latent`` strong enough to reveal the kernel, the rest set to zero (Cho & Lee
    2009): small-scale texture has gradients the blur mixes beyond recovery, and fitting a kernel to
    them pulls it towards a blob. Without ``threshold``, the largest one that keeps at least
    ``per_direction * size`` gradients in each of four orientation bins (every direction of motion
    must stay visible); returns the gradients and the threshold used."""
    gx, gy = _grad(latent)
    magnitude = gx ** 2 + gy ** 2
    if threshold is None:
        angle = np.arctan2(gy, gx) % np.pi  # an edge and its opposite are one orientation
        bins = np.minimum((angle / (np.pi / 4)).astype(int), 3)
        threshold = float("inf")
        for b in range(4):
            values = magnitude[bins == b]
            count = min(max(per_direction * size, 10), values.size)
            if count:
                threshold = min(threshold, float(np.partition(values, -count)[-count]))
        threshold = threshold if math.isfinite(threshold) else 0.0
    keep_mask = magnitude >= threshold
    return (gx * keep_mask, gy * keep_mask), threshold


def fit_kernel(latent: np.ndarray, blurred: np.ndarray, size: int, weight: float = 2.0,
               start: np.ndarray | None = None, cg_steps: int = 20, mask: np.ndarray | None = None,
               latent_gradients: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """The ``size`` x ``size`` kernel that best maps the gradients of ``latent`` (or the selected
    ``latent_gradients``) to those of ``blurred``: least squares with a small Tikhonov ``weight``,
    over the kernel's own support (conjugate gradients, Pan's ``estimate_psf``), counting only the
    gradients inside ``mask`` (where the circular model holds), then non-negative, weak values
    (< max/20) and weak isolated blobs removed, centred, summing to 1."""
    weight_map = 1.0 if mask is None else mask  # gradients outside the mask (a padded band) do not count
    lx, ly = (fft2(g * weight_map) for g in (latent_gradients or _grad(latent)))
    bx, by = (fft2(g * weight_map) for g in _grad(blurred))
    shape = latent.shape
    rhs = otf2psf(np.conj(lx) * bx + np.conj(ly) * by, size, shape).astype(np.float64)
    # The normal operator only needs the gradients' autocorrelation at lags below the kernel size:
    # cut it out once, and every CG step is a convolution on a small grid instead of two transforms
    # of the whole image.
    autocorrelation = otf2psf(np.abs(lx) ** 2 + np.abs(ly) ** 2, 2 * size - 1, shape).astype(np.float64)
    small = (sfft.next_fast_len(3 * size - 2, real=True),) * 2
    autocorrelation_otf = sfft.rfft2(autocorrelation, s=small)

    def apply(kernel):
        full = sfft.irfft2(sfft.rfft2(kernel, s=small) * autocorrelation_otf, s=small)
        return full[size - 1:2 * size - 1, size - 1:2 * size - 1] + weight * kernel

    kernel = np.full((size, size), 1.0 / size ** 2) if start is None or start.shape != (size, size) else start.copy()
    residual = rhs - apply(kernel)
    direction, norm = residual.copy(), float((residual ** 2).sum())
    for _ in range(cg_steps):
        if norm < 1e-20:
            break
        product = apply(direction)
        alpha = norm / float((direction * product).sum())
        kernel += alpha * direction
        residual -= alpha * product
        new_norm = float((residual ** 2).sum())
        direction = residual + (new_norm / norm) * direction
        norm = new_norm
    kernel = np.clip(kernel, 0, None)
    if kernel.max() <= 0:
        return delta_kernel(size)
    kernel[kernel < kernel.max() / 20] = 0
    kernel /= kernel.sum()
    labels, count = ndimage.label(kernel > 0, structure=np.ones((3, 3)))
    if count > 1:  # a blur is one connected path: drop blobs that carry little mass
        mass = ndimage.sum(kernel, labels, index=np.arange(1, count + 1))
        for index, value in enumerate(mass, start=1):
            if value < 0.1:
                kernel[labels == index] = 0
    if kernel.sum() <= 0:
        return delta_kernel(size)
    return center_kernel(kernel / kernel.sum())


def delta_kernel(size: int) -> np.ndarray:
    kernel = np.zeros((size, size))
    kernel[size // 2, size // 2] = 1.0
    return kernel


def center_kernel(kernel: np.ndarray, subpixel: bool = False) -> np.ndarray:
    """Shift a kernel so its centre of mass sits on the centre pixel: by whole pixels, or exactly
    (``subpixel``, bilinear). Blind estimation only knows the kernel up to a translation; centring
    keeps the deblurred image registered with the input, where the blur's centre of mass is."""
    size = kernel.shape[0]
    rows, cols = np.indices(kernel.shape)
    shift = (size // 2 - float((rows * kernel).sum()), size // 2 - float((cols * kernel).sum()))
    if not subpixel:
        shift = tuple(round(v) for v in shift)
    shifted = np.clip(ndimage.shift(kernel, shift, order=1 if subpixel else 0, mode="constant"), 0, None)
    return shifted / shifted.sum() if shifted.sum() > 0 else kernel


def _resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    from skimage.transform import resize

    return resize(image, shape, order=1, anti_aliasing=True, mode="reflect")


def _odd(value: float) -> int:
    return max(3, int(round(value)) // 2 * 2 + 1)


def estimation_window(gray: np.ndarray, window: int = ESTIMATION_WINDOW, coherence: float = 0.0
                      ) -> tuple[slice, slice]:
    """The ``window`` x ``window`` region of a large image that best reveals the kernel (under
    uniform blur it is the same everywhere; edges are what reveal it): the one with the most
    gradient magnitude, each pixel's weighted by its edge coherence to the power ``coherence``.

    Coherence is Xu & Jia 2010's edge usefulness r = |sum of gradients| / (sum of |gradients|) over
    a 5x5 neighbourhood: near 1 along a step edge, near 0 in fine texture (fur, foliage), whose
    gradients point every way and cancel; blur mixes such texture beyond recovery, so it reveals
    the kernel poorly. ``coherence=0`` counts every gradient alike (``estimate_kernel``'s default
    is chosen by ``python -m training.tune_kernel_route --study window-large``)."""
    height, width = gray.shape
    if max(height, width) <= window:
        return slice(0, height), slice(0, width)
    win_h, win_w = min(window, height), min(window, width)
    gx, gy = np.gradient(gray)
    energy = np.sqrt(gx ** 2 + gy ** 2)
    if coherence:
        mean_x, mean_y = ndimage.uniform_filter(gx, 5), ndimage.uniform_filter(gy, 5)
        # Xu & Jia's +0.5 on 0..255 sums of 25 gradients, as a mean on 0..1
        usefulness = np.hypot(mean_x, mean_y) / (ndimage.uniform_filter(energy, 5) + 0.5 / 255 / 25)
        energy = energy * usefulness ** coherence
    integral = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    best, best_at = -1.0, (0, 0)
    for top in np.linspace(0, height - win_h, 5).astype(int):
        for left in np.linspace(0, width - win_w, 5).astype(int):
            total = (integral[top + win_h, left + win_w] - integral[top, left + win_w]
                     - integral[top + win_h, left] + integral[top, left])
            if total > best:
                best, best_at = total, (top, left)
    return slice(best_at[0], best_at[0] + win_h), slice(best_at[1], best_at[1] + win_w)


def fast_padding(length: int, pad: int) -> tuple[int, int]:
    """Padding before and after ``length`` px: at least ``pad`` each side, and a total the FFT is
    fast on (only small prime factors: a 318-px side, 2 x 3 x 53, costs 1.6x a 320-px one)."""
    total = sfft.next_fast_len(length + 2 * pad, real=True)
    return pad, total - length - pad


def periodic_pad(image: np.ndarray, pad: int) -> tuple[np.ndarray, np.ndarray]:
    """Mirror ``image`` by at least ``pad`` px on each side (to a fast FFT size) and fade that band
    to the image mean, so the padded image wraps around without a jump (the FFT's circular model
    then invents no edges at the border); also the mask of the original pixels shrunk by one
    (where gradients are real)."""
    padded = np.pad(image, [fast_padding(n, pad) for n in image.shape], mode="symmetric")
    height, width = padded.shape
    ramp_y = np.clip(np.minimum(np.arange(height), height - 1 - np.arange(height)) / pad, 0, 1)
    ramp_x = np.clip(np.minimum(np.arange(width), width - 1 - np.arange(width)) / pad, 0, 1)
    fade = np.sin(0.5 * np.pi * np.minimum.outer(ramp_y, ramp_x)) ** 2
    mean = float(image.mean())
    padded = mean + (padded - mean) * fade
    mask = np.zeros_like(padded)
    mask[pad + 1:pad + image.shape[0] - 1, pad + 1:pad + image.shape[1] - 1] = 1.0
    return padded, mask


@dataclass
class KernelEstimate:
    kernel: np.ndarray
    #: the window of the image the kernel was estimated on (rows, cols)
    window: tuple[slice, slice]
    #: kernel size per pyramid level, coarse to fine
    levels: list[int] = field(default_factory=list)


#: the estimates of the current ``shared_estimates`` block, by photo and settings (None: outside one)
_shared: ContextVar[dict | None] = ContextVar("shared_estimates", default=None)


@contextmanager
def shared_estimates(estimates: dict | None = None):
    """Within this block, ``estimate_kernel`` answers a call already answered into ``estimates`` (the
    same photo, the same settings; a new dict where None) with a copy of that estimate: the studio's
    blind models, run one after the other on one photo, each in a block with the comparison's dict,
    estimate its kernel once. Outside a block nothing is kept, so benchmarks and studies time every
    estimate."""
    token = _shared.set({} if estimates is None else estimates)
    try:
        yield
    finally:
        _shared.reset(token)


def estimate_kernel(image: np.ndarray, max_size: int = 31, iterations: int = 5, weight: float = 8e-3,
                    pad_border: bool = True, progress=None, edges: bool = True, per_direction: int = 40,
                    threshold_decay: float = 0.9, window: int = ESTIMATION_WINDOW,
                    window_coherence: float = 0.0, coarse_on_whole: bool = False) -> KernelEstimate:
    """The blind kernel estimate of ``image`` (``find_kernel``), shared within a ``shared_estimates`` block."""
    settings = dict(max_size=max_size, iterations=iterations, weight=weight, pad_border=pad_border, edges=edges,
                    per_direction=per_direction, threshold_decay=threshold_decay, window=window,
                    window_coherence=window_coherence, coarse_on_whole=coarse_on_whole)
    cache = _shared.get()
    if cache is None:
        return find_kernel(image, progress=progress, **settings)
    array = np.ascontiguousarray(image)
    key = (hashlib.sha1(array.view(np.uint8)).hexdigest(), array.shape, str(array.dtype), tuple(settings.items()))
    if key in cache:
        if progress:
            progress(1.0, "kernel already estimated for another model")
    else:
        cache[key] = find_kernel(image, progress=progress, **settings)
    return copy.deepcopy(cache[key])  # callers may cut the kernel of theirs


def find_kernel(image: np.ndarray, max_size: int = 31, iterations: int = 5, weight: float = 8e-3,
                pad_border: bool = True, progress=None, edges: bool = True, per_direction: int = 40,
                threshold_decay: float = 0.9, window: int = ESTIMATION_WINDOW,
                window_coherence: float = 0.0, coarse_on_whole: bool = False) -> KernelEstimate:
    """Blind estimate of the uniform blur kernel of ``image`` (gray HxW or RGB HxWx3, in [0, 1]).

    ``max_size``: the largest kernel allowed (odd, px); the estimate is ``max_size`` x ``max_size``,
    non-negative and sums to 1. ``progress(fraction, text)`` is called once per pyramid level.
    ``edges``: fit the kernel to the latent image's strongest gradients only (``select_edges``,
    keeping ``per_direction`` x kernel size per orientation, the threshold lowered by
    ``threshold_decay`` each iteration) instead of all of them; ``weight``: the L0 prior's weight;
    ``window``, ``window_coherence``: a photo larger than ``window`` px is estimated on the window
    ``estimation_window`` picks; with ``coarse_on_whole``, only at the pyramid levels where the
    downscaled whole photo has more pixels than the window: the coarser levels, where a long
    kernel's shape is first formed, see every edge of the photo at no more cost than the window.
    The defaults are the chosen candidates of ``python -m training.tune_kernel_route --study
    estimation``, ``--study window-large`` and ``--study pyramid`` on validation photos
    (``results/tuning/kernel_estimation_summary.csv``, ``kernel_window_large_summary.csv``,
    ``kernel_pyramid_summary.csv``; a test keeps them in step): fitting the kernel to the strongest
    edges only, with a heavier L0 prior, beat fitting all gradients photo by photo there.
    """
    size = check_max_size(max_size)
    gray = luminance(image)
    if not np.all(np.isfinite(gray)):
        raise DeconvolutionError("the image contains NaN or infinite pixels")
    if min(gray.shape) < 2 * size:
        raise DeconvolutionError(
            f"the image ({gray.shape[1]}x{gray.shape[0]}) is too small for a {size} px kernel: it needs at "
            f"least {2 * size} px per side; lower the max kernel size")
    whole = gray
    rows, cols = estimation_window(whole, window, window_coherence)
    gray = whole[rows, cols]
    if float(np.std(gray)) < 1e-3 or float(np.abs(np.diff(gray, axis=1)).max(initial=0)) < 2e-2:
        raise DeconvolutionError("the image has no edges to estimate a blur from (it is flat)")
    ratio = math.sqrt(0.5)
    levels = max(1, int(math.floor(math.log(5 / size) / math.log(ratio))) + 1)
    sizes = [_odd(size * ratio ** level) for level in reversed(range(levels))]
    sizes[-1] = size
    kernel, lam = delta_kernel(sizes[0]), weight
    for index, level_size in enumerate(sizes):
        scale = level_size / size if index < len(sizes) - 1 else 1.0
        source = whole if coarse_on_whole and whole.size * scale ** 2 <= gray.size else gray
        shape = (max(2 * level_size, int(round(source.shape[0] * scale))),
                 max(2 * level_size, int(round(source.shape[1] * scale))))
        blurred = source if shape == source.shape else _resize(source, shape)
        blurred, mask = periodic_pad(blurred, level_size) if pad_border else (blurred, None)
        blurred = blurred.astype(np.float32)  # float32 FFTs: twice as fast, ample for a kernel fit
        mask = None if mask is None else mask.astype(np.float32)
        if kernel.shape[0] != level_size:
            kernel = normalize_kernel(np.clip(_resize(kernel, (level_size, level_size)), 0, None))
        threshold = None
        for _ in range(iterations):
            latent = l0_latent(blurred, kernel, lam)
            gradients = None
            if edges:
                gradients, threshold = select_edges(latent, level_size, threshold, per_direction)
                threshold *= threshold_decay
            kernel = fit_kernel(latent, blurred, level_size, start=kernel, mask=mask, latent_gradients=gradients)
            lam = max(lam / 1.1, 1e-4)
        if progress is not None:
            progress((index + 1) / len(sizes), f"kernel estimation: level {index + 1}/{len(sizes)} ({level_size} px)")
    return KernelEstimate(kernel=center_kernel(kernel, subpixel=True), window=(rows, cols), levels=sizes)


def kernel_border_mass(kernel: np.ndarray, band: int = 2) -> float:
    """The share of ``kernel``'s mass within ``band`` px of its frame: a kernel that reaches its frame
    was cut off by its size (the blur is longer than the box it was estimated in)."""
    kernel = np.asarray(kernel, dtype=np.float64)
    total = float(kernel.sum())
    if total <= 0:
        return 0.0
    inner = kernel[band:-band, band:-band].sum() if min(kernel.shape) > 2 * band else 0.0
    return float((total - inner) / total)


def kernel_spread(kernel: np.ndarray) -> float:
    """How hazy a kernel is: its effective number of pixels (1 / sum k^2) per pixel of its extent.
    A camera-shake path one or two pixels wide stays near 1-3 whatever its length; an estimate that
    fitted noise spreads its mass over an area and scores far higher."""
    kernel = normalize_kernel(kernel)
    return float(1.0 / float((kernel ** 2).sum()) / max(kernel_extent(kernel), 1))


def crop_kernel(kernel: np.ndarray, margin: int = 2) -> np.ndarray:
    """``kernel`` (centred on its centre pixel) cut to the smallest odd square around that centre that
    holds all its mass plus ``margin`` px: the size a blind estimate chose, and a cheaper deconvolution."""
    kernel = np.asarray(kernel, dtype=np.float64)
    size = kernel.shape[0]
    centre = size // 2
    rows, cols = np.nonzero(kernel > 0)
    if rows.size == 0:
        return kernel
    reach = int(max(np.abs(rows - centre).max(), np.abs(cols - centre).max())) + margin
    reach = min(reach, centre)
    return normalize_kernel(kernel[centre - reach:centre + reach + 1, centre - reach:centre + reach + 1])


def refine_kernel(restored: np.ndarray, blurred: np.ndarray, kernel: np.ndarray,
                  window: tuple[slice, slice] | None = None) -> np.ndarray:
    """Refit ``kernel`` to a restored image instead of the L0 latent: least squares from the
    gradients of ``restored`` (HxW or HxWx3, e.g. a plug-and-play iterate) to those of ``blurred``,
    on ``window`` (the estimation window) at full resolution, warm-started from ``kernel``.

    The L0 latent keeps a few step edges and flattens the rest, so the kernel fitted to it is
    blurred by whatever that cartoon gets wrong; a learned prior's iterate is closer to the sharp
    photo, and the same fit on it gives a sharper kernel (``python -m training.tune_kernel_route
    --study refinement`` measures what that is worth)."""
    rows, cols = window if window is not None else (slice(None), slice(None))
    latent = luminance(np.clip(restored, 0, 1))[rows, cols]
    observed = luminance(blurred)[rows, cols]
    size = kernel.shape[0]
    latent, _ = periodic_pad(latent, size)
    observed, mask = periodic_pad(observed, size)
    refitted = fit_kernel(latent.astype(np.float32), observed.astype(np.float32), size, start=normalize_kernel(kernel),
                          mask=mask.astype(np.float32))
    return center_kernel(refitted, subpixel=True)


# ---- non-blind deconvolution -------------------------------------------------------------------

def hqs_schedule(noise_sigma: float, iterations: int = 8, sigma_start: float = 49 / 255,
                 lam: float = 0.23) -> tuple[np.ndarray, np.ndarray]:
    """DPIR's schedule: denoiser levels from ``sigma_start`` down to the noise level (log-spaced),
    and the data-step weights ``rho_i = lam * noise^2 / sigma_i^2``."""
    noise = max(float(noise_sigma), 0.255 / 255)
    sigmas = np.geomspace(sigma_start, max(noise, 1e-4), iterations)
    return sigmas, lam * noise ** 2 / sigmas ** 2


def hqs_deconvolve(image: np.ndarray, kernel: np.ndarray, denoiser, noise_sigma: float, iterations: int = 8,
                   lam: float = 0.23, cg_steps: int = 6, progress=None, kernel_update=None) -> np.ndarray:
    """Plug-and-play HQS deconvolution of ``image`` (HxWxC in [0, 1]) blurred by ``kernel``.

    ``denoiser(x, sigma)`` maps an (H', W', C) array to a denoised one; ``noise_sigma`` is the
    photo's noise std on [0, 1]. Returns the deblurred HxWxC float array (not clipped).

    The data step only trusts the observed pixels: the estimate lives on the photo padded by the
    kernel size, and the blur of that larger image is compared with the photo inside its frame
    (the outside is unknown: real photos are blurred with scenery beyond their border). That
    masked least-squares problem is solved by ``cg_steps`` of conjugate gradients, preconditioned by
    the circular-boundary solution (one FFT division), warm-started from the previous iterate.

    ``kernel_update(index, estimate, kernel)``, if given, is called before every iteration after the
    first with the current HxWxC estimate; a kernel it returns replaces the one in use (blind
    deblurring refits its estimate to the prior's iterate this way, ``refine_kernel``)."""
    kernel = normalize_kernel(kernel).astype(np.float32)
    # float32 throughout: twice the FFT speed of float64, and far below 8-bit precision
    image = np.asarray(image, dtype=np.float32)
    squeeze = image.ndim == 2
    if squeeze:
        image = image[..., None]
    height, width = image.shape[:2]
    pad = kernel.shape[0]
    padded = np.pad(image, (fast_padding(height, pad), fast_padding(width, pad), (0, 0)), mode="symmetric")
    inside = np.zeros(padded.shape[:2] + (1,), dtype=bool)
    inside[pad:pad + height, pad:pad + width] = True
    shape = padded.shape[:2]
    observed = np.where(inside, padded, np.float32(0))

    def fft(x):
        return sfft.rfft2(x, axes=(0, 1), workers=-1)

    def ifft(x):
        return sfft.irfft2(x, s=shape, axes=(0, 1), workers=-1)

    def blur(x):
        return ifft(otf * fft(x))

    def blur_adjoint(x):
        return ifft(np.conj(otf) * fft(x))

    def operators(k):
        """The transfer function of kernel ``k``, its squared modulus and K^T M y."""
        transfer = psf2otf(k, shape, np.float32)[..., None]
        return transfer, np.abs(transfer) ** 2, ifft(np.conj(transfer) * fft(observed))

    otf, otf2, observed_adjoint = operators(kernel)
    sigmas, rhos = hqs_schedule(noise_sigma, iterations, lam=lam)
    estimate = padded.copy()
    for index, (sigma, rho) in enumerate(zip(sigmas, rhos)):
        if kernel_update is not None and index > 0:
            updated = kernel_update(index, estimate[pad:pad + height, pad:pad + width], kernel)
            if updated is not None:
                kernel = normalize_kernel(updated).astype(np.float32)
                otf, otf2, observed_adjoint = operators(kernel)
        rho = np.float32(rho)
        # (K^T M K + rho) x = K^T M y + rho z, by preconditioned conjugate gradients
        solution = estimate.copy()
        residual = observed_adjoint + rho * estimate - (blur_adjoint(np.where(inside, blur(solution), np.float32(0)))
                                                        + rho * solution)
        preconditioned = ifft(fft(residual) / (otf2 + rho))
        direction = preconditioned.copy()
        dot = float((residual * preconditioned).sum())
        for _ in range(cg_steps):
            product = blur_adjoint(np.where(inside, blur(direction), np.float32(0))) + rho * direction
            denominator = float((direction * product).sum())
            if denominator <= 0 or dot <= 1e-30:
                break
            alpha = np.float32(dot / denominator)
            solution += alpha * direction
            residual -= alpha * product
            preconditioned = ifft(fft(residual) / (otf2 + rho))
            new_dot = float((residual * preconditioned).sum())
            direction = preconditioned + np.float32(new_dot / dot) * direction
            dot = new_dot
        estimate = np.asarray(denoiser(solution, float(sigma)), dtype=np.float32)
        if progress is not None:
            progress((index + 1) / len(sigmas), f"deconvolution: iteration {index + 1}/{len(sigmas)}")
    out = estimate[pad:pad + height, pad:pad + width].astype(np.float64)
    return out[..., 0] if squeeze else out


def reblur_residual(restored: np.ndarray, kernel: np.ndarray, blurred: np.ndarray) -> float:
    """How far ``restored`` blurred by ``kernel`` is from ``blurred`` (HxW or HxWx3 each): the RMS
    difference over the pixels whose blur lies inside the image. A right kernel and a faithful
    restoration leave about the noise; a kernel that does not explain the photo leaves much more."""
    from scipy.signal import fftconvolve  # imported here: scipy.signal is slow to import (app start-up)

    kernel = normalize_kernel(np.asarray(kernel, dtype=np.float64))
    size = kernel.shape[0]
    restored = np.asarray(restored, dtype=np.float64)
    blurred = np.asarray(blurred, dtype=np.float64)
    if restored.shape != blurred.shape:
        raise DeconvolutionError(f"restored {restored.shape} and blurred {blurred.shape} images differ in size")
    if min(blurred.shape[:2]) <= size:
        raise DeconvolutionError(f"the image ({blurred.shape[1]}x{blurred.shape[0]}) is not larger than the {size} px kernel")
    axes = (0, 1)
    if restored.ndim == 3:
        kernel = kernel[..., None]
    reblurred = fftconvolve(restored, kernel, mode="valid", axes=axes)
    inside = blurred[size // 2:size // 2 + reblurred.shape[0], size // 2:size // 2 + reblurred.shape[1]]
    return float(np.sqrt(np.mean((reblurred - inside) ** 2)))


def wiener_deconvolve(image: np.ndarray, kernel: np.ndarray, balance: float = 0.02) -> np.ndarray:
    """Wiener deconvolution per channel (scikit-image, identity regulariser, mirrored border):
    the classical non-blind step, as ``wiener-oracle`` does it."""
    from skimage.restoration import wiener

    kernel = normalize_kernel(kernel)
    image = np.asarray(image, dtype=np.float64)
    channels = image[..., None] if image.ndim == 2 else image
    pad = kernel.shape[0]
    identity = np.zeros((3, 3))
    identity[1, 1] = 1.0
    out = np.empty_like(channels)
    for c in range(channels.shape[-1]):
        if c > 0 and np.array_equal(channels[..., c], channels[..., 0]):
            out[..., c] = out[..., 0]
            continue
        padded = np.pad(channels[..., c], pad, mode="symmetric")
        out[..., c] = wiener(padded, kernel, balance, reg=identity, clip=False)[pad:-pad, pad:-pad]
    return out[..., 0] if image.ndim == 2 else out


def kernel_similarity(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Peak normalised cross-correlation of two kernels over all relative shifts, in [0, 1]
    (1: the same kernel, wherever it is centred). How close a blind estimate's shape is."""
    from scipy.signal import correlate

    a, b = normalize_kernel(estimate), normalize_kernel(truth)
    peak = correlate(a, b, mode="full", method="direct").max()
    return float(peak / (np.linalg.norm(a) * np.linalg.norm(b)))
