"""Image-quality metrics shared by training, evaluation and the app.

Images are float arrays in [0, 1] (HxW or HxWx3). PSNR is written out (one line, and it must
match the literature's Y-channel protocol exactly); SSIM is scikit-image's implementation set
up as Wang et al. 2004 (Gaussian window, sigma 1.5, population covariance), which is what the
MATLAB ``ssim`` used by SR papers computes.
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import structural_similarity


def rgb_to_y(image: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma as MATLAB's rgb2ycbcr: [0, 1] RGB -> Y in [16/255, 235/255]."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 2:
        return image
    return (16.0 + 65.481 * image[..., 0] + 128.553 * image[..., 1] + 24.966 * image[..., 2]) / 255.0


def crop_border(image: np.ndarray, border: int) -> np.ndarray:
    if border <= 0:
        return image
    if image.shape[0] <= 2 * border or image.shape[1] <= 2 * border:
        raise ValueError(f"cannot crop {border} px of border from a {image.shape[1]}x{image.shape[0]} image")
    return image[border:-border, border:-border]


def _prepare(output, target, border: int, y_channel: bool, data_range: float = 1.0):
    output, target = np.asarray(output, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if output.shape != target.shape:
        raise ValueError(f"shape mismatch: output {output.shape} vs target {target.shape}")
    if y_channel:  # the BT.601 offsets are defined on [0, 1] values
        output = rgb_to_y(output / data_range) * data_range
        target = rgb_to_y(target / data_range) * data_range
    return crop_border(output, border), crop_border(target, border)


def psnr(output, target, data_range: float = 1.0, border: int = 0, y_channel: bool = False) -> float:
    """Peak signal-to-noise ratio in dB; ``inf`` for identical images."""
    output, target = _prepare(output, target, border, y_channel, data_range)
    mse = float(np.mean((output - target) ** 2))
    if mse == 0:
        return float("inf")
    return 10.0 * np.log10(data_range**2 / mse)


def ssim(output, target, data_range: float = 1.0, border: int = 0, y_channel: bool = False) -> float:
    """Structural similarity (mean over channels for RGB)."""
    output, target = _prepare(output, target, border, y_channel, data_range)
    if min(output.shape[:2]) < 7:
        raise ValueError(f"SSIM needs at least 7x7 pixels, got {output.shape[1]}x{output.shape[0]}")
    return float(
        structural_similarity(
            output, target, data_range=data_range, gaussian_weights=True, sigma=1.5,
            use_sample_covariance=False, channel_axis=-1 if output.ndim == 3 else None,
        )
    )


def _shift_search(output: np.ndarray, target: np.ndarray, max_shift: int, border: int):
    """(sum of squared differences per integer shift, (2m+1)x(2m+1); the frame; the search radius m)."""
    height, width = target.shape[:2]
    # a small image keeps at least half of each side: the frame and the search shrink with it
    frame = min(max(border, max_shift), (min(height, width) - 1) // 4)
    max_shift = min(max_shift, frame)
    from scipy.signal import fftconvolve  # imported here: scipy.signal is slow to import (app start-up)

    # every shift at once: sum (o - t)^2 = sum o^2 (window sums) - 2 corr(o, t) (one FFT) + sum t^2
    core = target[frame:height - frame, frame:width - frame]
    region = output[frame - max_shift:height - frame + max_shift, frame - max_shift:width - frame + max_shift]
    if core.ndim == 2:
        core, region = core[..., None], region[..., None]
    rows, cols = core.shape[:2]
    total = np.zeros((2 * max_shift + 1, 2 * max_shift + 1))
    for c in range(core.shape[-1]):
        squares = np.pad(np.cumsum(np.cumsum(region[..., c] ** 2, axis=0), axis=1), ((1, 0), (1, 0)))
        window = (squares[rows:, cols:] - squares[:-rows, cols:] - squares[rows:, :-cols] + squares[:-rows, :-cols])
        correlation = fftconvolve(region[..., c], core[::-1, ::-1, c], mode="valid")
        total += window - 2 * correlation + float((core[..., c] ** 2).sum())
    return total, frame, max_shift


def psnr_up_to_shift(output, target, max_shift: int = 10, border: int = 15, data_range: float = 1.0) -> float:
    """The best PSNR over integer translations of ``output`` by up to ``max_shift`` px, on the target
    without a ``border``-px frame (after Levin et al. 2009's ``comp_upto_shift``, which searches +-5 px
    at quarter-pixel steps with a 15 px frame; ``scores_up_to_shift`` adds those steps, on Y).

    Blind deblurring recovers the kernel only up to a translation, and datasets disagree on where a
    kernel's centre is (levin2009 centres the kernel's bounding box, the synthetic kernels here their
    centroid): this scores what was restored, not where the convention put it."""
    output, target = np.asarray(output, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if output.shape != target.shape:
        raise ValueError(f"shape mismatch: output {output.shape} vs target {target.shape}")
    total, frame, _ = _shift_search(output, target, max_shift, border)
    rows, cols = target.shape[0] - 2 * frame, target.shape[1] - 2 * frame
    best = max(float(total.min()), 0.0) / (rows * cols * (target.shape[2] if target.ndim == 3 else 1))
    return float("inf") if best < 1e-20 else 10.0 * np.log10(data_range ** 2 / best)


def scores_up_to_shift(output, target, max_shift: int = 10, border: int = 15, step: float = 0.25) -> dict[str, float]:
    """PSNR and SSIM on Y (BT.601, as ``psnr(..., y_channel=True)``) of ``output`` translated to best
    match ``target``, as Levin et al. 2009's ``comp_upto_shift`` scores blind deblurring: the best
    integer shift up to ``max_shift`` px, then sub-pixel shifts of ``step`` px (bilinear, as its
    ``interp2``) within one pixel of it, on the target without a ``border``-px frame.
    Returns {"psnr_y", "ssim_y", "shift_y", "shift_x"} (the shift applied to the output)."""
    from scipy import ndimage

    output, target = np.asarray(output, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if output.shape != target.shape:
        raise ValueError(f"shape mismatch: output {output.shape} vs target {target.shape}")
    if not step > 0 or step > 1:
        raise ValueError(f"the sub-pixel step must be in (0, 1] px, got {step}")
    out_y, tgt_y = rgb_to_y(output), rgb_to_y(target)
    total, frame, reach = _shift_search(out_y, tgt_y, max_shift, border)
    dy, dx = (int(v) - reach for v in np.unravel_index(int(np.argmin(total)), total.shape))
    height, width = tgt_y.shape
    core = tgt_y[frame:height - frame, frame:width - frame]
    rows, cols = np.mgrid[frame:height - frame, frame:width - frame].astype(np.float64)
    best = (float("inf"), 0.0, 0.0, None)
    offsets = np.arange(-1.0, 1.0 + 1e-9, step)
    for sy in offsets:
        for sx in offsets:
            y, x = dy + sy, dx + sx
            if abs(y) > reach or abs(x) > reach:
                continue
            moved = ndimage.map_coordinates(out_y, [rows + y, cols + x], order=1, mode="nearest")
            error = float(np.mean((moved - core) ** 2))
            if error < best[0]:
                best = (error, y, x, moved)
    error, y, x, moved = best
    value = float("inf") if error < 1e-20 else float(10.0 * np.log10(1.0 / error))
    return {"psnr_y": value, "ssim_y": ssim(moved, core), "shift_y": float(y), "shift_x": float(x)}


def error_map(output, target) -> np.ndarray:
    """Per-pixel absolute error |output - target|, averaged over channels (HxW, in [0, 1])."""
    output, target = np.asarray(output, dtype=np.float32), np.asarray(target, dtype=np.float32)
    if output.shape != target.shape:
        raise ValueError(f"shape mismatch: output {output.shape} vs target {target.shape}")
    diff = np.abs(output - target)
    return diff.mean(axis=-1) if diff.ndim == 3 else diff


def all_metrics(output, target, border: int = 0) -> dict[str, float]:
    """The four figures every evaluation row carries: RGB and Y-channel PSNR/SSIM."""
    return {
        "psnr": psnr(output, target, border=border),
        "ssim": ssim(output, target, border=border),
        "psnr_y": psnr(output, target, border=border, y_channel=True),
        "ssim_y": ssim(output, target, border=border, y_channel=True),
    }


IMMERKAER = np.array([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]])


def estimate_noise_sigma(gray: np.ndarray) -> float:
    """Gaussian noise level of a gray image (Immerkaer 1996, "Fast noise variance estimation").

    scikit-image's ``estimate_sigma`` needs PyWavelets, which is not a dependency here; this is the
    classic one-mask alternative: the mask cancels smooth image content, what is left is noise.
    """
    from scipy.signal import convolve2d  # imported here: scipy.signal is slow to import (app start-up)

    height, width = gray.shape
    if height < 3 or width < 3:
        return 0.0
    response = np.abs(convolve2d(gray, IMMERKAER, mode="valid")).sum()
    return float(np.sqrt(np.pi / 2.0) * response / (6.0 * (width - 2) * (height - 2)))


def sharpness(image: np.ndarray, border: int = 0) -> float:
    """Mean gradient magnitude of the luma (Sobel, per 8-bit level and pixel): a no-reference
    measure that grows with edges and texture, and with noise or ringing too (the perception axis
    of the studio's perception-distortion plot, and the SR evaluations' ``sharpness`` column)."""
    luma = crop_border(rgb_to_y(image), border) * 255.0
    if min(luma.shape) < 3:
        return float("nan")
    padded = np.pad(luma, 1, mode="edge")
    gx = (padded[:-2, 2:] + 2 * padded[1:-1, 2:] + padded[2:, 2:]
          - padded[:-2, :-2] - 2 * padded[1:-1, :-2] - padded[2:, :-2]) / 8.0
    gy = (padded[2:, :-2] + 2 * padded[2:, 1:-1] + padded[2:, 2:]
          - padded[:-2, :-2] - 2 * padded[:-2, 1:-1] - padded[:-2, 2:]) / 8.0
    return float(np.mean(np.hypot(gx, gy)))
