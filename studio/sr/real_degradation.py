"""Real-photo degradation for super-resolution: Real-ESRGAN's high-order model, at this project's scale.

Cameras and the web do not make low-resolution photos with a clean bicubic downscale: the lens and
the motion blur them, the sensor adds noise, the resizer is whatever a program used, and JPEG
compresses them, often more than once. Real-ESRGAN (Wang et al., ICCVW 2021) trains on a synthetic
model of that chain, applied twice ("second order"), and it is reproduced here step by step:

1. **blur** with a random kernel (7-21 px): isotropic or anisotropic Gaussian, its generalized form
   (a cusp with heavy tails, or a flat top), a plateau, or a sinc (the ringing of sharpening and of some resizers);
2. **resize** up, down or not at all, by a random factor and with a random method (area, bilinear,
   bicubic);
3. **noise**: Gaussian (colour, or the same in every channel) or Poisson (shot noise);
4. **JPEG** at a random quality;
5. steps 1-4 again with milder ranges (the second order; its blur is skipped one time in five);
6. **resize to the low-resolution size** with a random method, a sinc filter (four times in five)
   and a last JPEG, in a random order of the two.

The ranges are Real-ESRGAN's (its ``train_realesrnet_x4plus.yml``) with one change: its HR patches are
256 px, the ones trained here 128 px, and both orders' resizes keep their factors, so the
intermediate images here are half the size of Real-ESRGAN's. Real-ESRGAN also sharpens the HR targets
(USM); this model keeps the clean photo as the target, as the other SR models here do.

``degrade(hr, rng, scale)`` draws every choice from ``rng`` and returns the LR image (exactly
``hr`` mod-cropped, divided by ``scale``, 8-bit) with ``info``: every choice made, so a row of an
evaluation says what its input went through. The same generator state gives the same image.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy.signal import fftconvolve
from scipy.special import j1

from studio.imageio import quantize
from studio.sr.degradation import check_scale, mod_crop

KERNEL_TYPES = ("isotropic", "anisotropic", "generalized_isotropic", "generalized_anisotropic",
                "plateau_isotropic", "plateau_anisotropic")
#: how often each kernel type is drawn (Real-ESRGAN's ``kernel_prob``)
KERNEL_PROBABILITIES = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
RESIZE_MODES = ("area", "bilinear", "bicubic")
KERNEL_SIZES = tuple(range(7, 22, 2))
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class OrderRanges:
    """The random ranges of one order of degradation (steps 1-4)."""

    blur_probability: float
    sinc_probability: float  # a sinc kernel instead of the Gaussian family
    blur_sigma: tuple[float, float]
    generalized_beta: tuple[float, float]
    plateau_beta: tuple[float, float]
    resize_probabilities: tuple[float, float, float]  # up, down, keep
    resize_range: tuple[float, float]
    gaussian_noise_probability: float  # otherwise Poisson
    noise_sigma: tuple[float, float]  # on [0, 255]
    poisson_scale: tuple[float, float]
    gray_noise_probability: float
    jpeg_quality: tuple[int, int]


FIRST_ORDER = OrderRanges(blur_probability=1.0, sinc_probability=0.1, blur_sigma=(0.2, 3.0),
                          generalized_beta=(0.5, 4.0), plateau_beta=(1.0, 2.0),
                          resize_probabilities=(0.2, 0.7, 0.1), resize_range=(0.15, 1.5),
                          gaussian_noise_probability=0.5, noise_sigma=(1.0, 30.0), poisson_scale=(0.05, 3.0),
                          gray_noise_probability=0.4, jpeg_quality=(30, 95))
SECOND_ORDER = OrderRanges(blur_probability=0.8, sinc_probability=0.1, blur_sigma=(0.2, 1.5),
                           generalized_beta=(0.5, 4.0), plateau_beta=(1.0, 2.0),
                           resize_probabilities=(0.3, 0.4, 0.3), resize_range=(0.3, 1.2),
                           gaussian_noise_probability=0.5, noise_sigma=(1.0, 25.0), poisson_scale=(0.05, 2.5),
                           gray_noise_probability=0.4, jpeg_quality=(30, 95))
FINAL_SINC_PROBABILITY = 0.8


# ---------------------------------------------------------------- kernels

def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    if size < 1 or size % 2 == 0:
        raise ValueError(f"kernel size must be a positive odd number, got {size}")
    half = size // 2
    return np.meshgrid(np.arange(-half, half + 1, dtype=np.float64), np.arange(-half, half + 1, dtype=np.float64))


def gaussian_family_kernel(size: int, sigma_x: float, sigma_y: float, angle: float, shape: str = "gaussian",
                           beta: float = 2.0) -> np.ndarray:
    """A normalised ``size`` x ``size`` kernel of the Gaussian family, its axes ``sigma_x``/``sigma_y`` px
    rotated by ``angle`` radians. ``shape``: "gaussian" (exp(-d²/2)), "generalized" (exp(-(d²)^(β/2)/2):
    β < 2 a cusp with heavy tails, β > 2 a flat top) or "plateau" (1 / (1 + (d²)^β), heavy tails)."""
    if min(sigma_x, sigma_y) <= 0:
        raise ValueError(f"kernel sigmas must be positive, got {sigma_x}, {sigma_y}")
    x, y = _grid(size)
    cos, sin = math.cos(angle), math.sin(angle)
    u, v = cos * x + sin * y, -sin * x + cos * y
    d2 = (u / sigma_x) ** 2 + (v / sigma_y) ** 2  # squared Mahalanobis distance
    if shape == "gaussian":
        kernel = np.exp(-0.5 * d2)
    elif shape == "generalized":
        kernel = np.exp(-0.5 * d2 ** (beta / 2))
    elif shape == "plateau":
        kernel = 1.0 / (1.0 + d2 ** beta)
    else:
        raise ValueError(f"unknown kernel shape {shape!r}; expected gaussian, generalized or plateau")
    return (kernel / kernel.sum()).astype(np.float32)


def sinc_kernel(size: int, cutoff: float) -> np.ndarray:
    """A normalised circular low-pass (2-D sinc) kernel with cutoff frequency ``cutoff`` radians/px
    (π keeps every frequency): the ringing ("overshoot") that sharpening and some resizers leave."""
    if not 0 < cutoff <= math.pi:
        raise ValueError(f"sinc cutoff must be in (0, π], got {cutoff}")
    x, y = _grid(size)
    r = np.hypot(x, y)
    with np.errstate(divide="ignore", invalid="ignore"):
        kernel = cutoff * j1(cutoff * r) / (2 * math.pi * r)
    kernel[r == 0] = cutoff ** 2 / (4 * math.pi)
    return (kernel / kernel.sum()).astype(np.float32)


def random_kernel(rng: np.random.Generator, ranges: OrderRanges) -> tuple[np.ndarray, dict]:
    """One blur kernel drawn from ``ranges`` (step 1), with what was drawn."""
    size = int(rng.choice(KERNEL_SIZES))
    if rng.random() < ranges.sinc_probability:
        # small kernels cannot hold a low cutoff's long ringing
        cutoff = float(rng.uniform(math.pi / 3 if size < 13 else math.pi / 5, math.pi))
        return sinc_kernel(size, cutoff), {"type": "sinc", "size": size, "cutoff": round(cutoff, 3)}
    kind = KERNEL_TYPES[int(rng.choice(len(KERNEL_TYPES), p=KERNEL_PROBABILITIES))]
    sigma_x = float(rng.uniform(*ranges.blur_sigma))
    isotropic = kind.endswith("_isotropic") or kind == "isotropic"
    sigma_y = sigma_x if isotropic else float(rng.uniform(*ranges.blur_sigma))
    angle = 0.0 if isotropic else float(rng.uniform(-math.pi, math.pi))
    shape, beta = "gaussian", 2.0
    if kind.startswith("generalized"):
        shape, beta = "generalized", float(rng.uniform(*ranges.generalized_beta))
    elif kind.startswith("plateau"):
        shape, beta = "plateau", float(rng.uniform(*ranges.plateau_beta))
    info = {"type": kind, "size": size, "sigma": [round(sigma_x, 3), round(sigma_y, 3)], "angle": round(angle, 3)}
    if shape != "gaussian":
        info["beta"] = round(beta, 3)
    return gaussian_family_kernel(size, sigma_x, sigma_y, angle, shape, beta), info


# ---------------------------------------------------------------- the steps

def blur(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``image`` (HxWx3) convolved with ``kernel``, borders mirrored (by FFT: a 21 px kernel costs the
    same as a 7 px one, which keeps the training loop's degradation cheap)."""
    half = kernel.shape[0] // 2
    padded = np.pad(image, ((half, half), (half, half), (0, 0)), mode="symmetric")
    return fftconvolve(padded, kernel[:, :, None], mode="valid", axes=(0, 1)).astype(np.float32)


def resize(image: np.ndarray, height: int, width: int, mode: str) -> np.ndarray:
    """``image`` resized to ``height`` x ``width`` with ``mode`` (area, bilinear or bicubic; no
    antialiasing: a program's plain resize, which aliases when it shrinks)."""
    if mode not in RESIZE_MODES:
        raise ValueError(f"unknown resize mode {mode!r}; expected one of {RESIZE_MODES}")
    if height < 1 or width < 1:
        raise ValueError(f"cannot resize to {width}x{height}")
    tensor = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)[None]
    extra = {} if mode == "area" else {"align_corners": False}
    out = F.interpolate(tensor, size=(height, width), mode=mode, **extra)
    return out[0].permute(1, 2, 0).clamp_(0, 1).numpy()


def gaussian_noise(image: np.ndarray, rng: np.random.Generator, sigma: float, gray: bool) -> np.ndarray:
    """Additive white noise of ``sigma`` (on [0, 1]); ``gray``: the same noise in every channel."""
    shape = image.shape[:2] + ((1,) if gray else (image.shape[2],))
    return np.clip(image + rng.normal(0.0, sigma, shape).astype(np.float32), 0, 1)


def poisson_noise(image: np.ndarray, rng: np.random.Generator, scale: float, gray: bool) -> np.ndarray:
    """Shot noise of an 8-bit sensor, multiplied by ``scale``; ``gray``: drawn on the luma and added
    to every channel."""
    source = (image @ LUMA)[:, :, None] if gray else image
    counts = np.clip(source, 0, 1) * 255.0
    noise = (rng.poisson(counts) - counts) / 255.0
    return np.clip(image + scale * noise.astype(np.float32), 0, 1)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """A JPEG round trip at ``quality`` (Pillow, 4:2:0 chroma subsampling as most cameras save)."""
    buffer = io.BytesIO()
    Image.fromarray((quantize(image) * 255).round().astype(np.uint8)).save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("RGB"), dtype=np.float32) / 255.0


def _one_order(image: np.ndarray, rng: np.random.Generator, ranges: OrderRanges) -> tuple[np.ndarray, dict]:
    info: dict = {}
    if rng.random() < ranges.blur_probability:
        kernel, info["blur"] = random_kernel(rng, ranges)
        image = blur(image, kernel)
    direction = ("up", "down", "keep")[int(rng.choice(3, p=ranges.resize_probabilities))]
    factor = {"up": lambda: rng.uniform(1.0, ranges.resize_range[1]),
              "down": lambda: rng.uniform(ranges.resize_range[0], 1.0), "keep": lambda: 1.0}[direction]()
    mode = RESIZE_MODES[int(rng.integers(len(RESIZE_MODES)))]
    # the factor applies to the image as it is; Real-ESRGAN resizes from the current size too
    height, width = (max(1, int(round(side * factor))) for side in image.shape[:2])
    image = resize(image, height, width, mode)
    info["resize"] = {"factor": round(float(factor), 3), "mode": mode}
    gray = bool(rng.random() < ranges.gray_noise_probability)
    if rng.random() < ranges.gaussian_noise_probability:
        sigma = float(rng.uniform(*ranges.noise_sigma))
        image = gaussian_noise(image, rng, sigma / 255.0, gray)
        info["noise"] = {"type": "gaussian", "sigma_255": round(sigma, 2), "gray": gray}
    else:
        scale = float(rng.uniform(*ranges.poisson_scale))
        image = poisson_noise(image, rng, scale, gray)
        info["noise"] = {"type": "poisson", "scale": round(scale, 3), "gray": gray}
    quality = int(rng.integers(ranges.jpeg_quality[0], ranges.jpeg_quality[1] + 1))
    info["jpeg"] = quality
    return jpeg(image, quality), info


def _final_resize(image: np.ndarray, rng: np.random.Generator, size: tuple[int, int], info: dict) -> np.ndarray:
    mode = RESIZE_MODES[int(rng.integers(len(RESIZE_MODES)))]
    image = resize(image, *size, mode)
    info["final_resize"] = mode
    if rng.random() < FINAL_SINC_PROBABILITY:
        kernel_size = int(rng.choice(KERNEL_SIZES))
        cutoff = float(rng.uniform(math.pi / 3, math.pi))
        image = np.clip(blur(image, sinc_kernel(kernel_size, cutoff)), 0, 1)
        info["final_sinc"] = {"size": kernel_size, "cutoff": round(cutoff, 3)}
    return image


def degrade(hr: np.ndarray, rng: np.random.Generator, scale: int = 4) -> tuple[np.ndarray, dict]:
    """HR photo [0, 1] (HxWx3) -> (LR photo, 8-bit, ``(H // scale) x (W // scale)``; every choice made).

    The HR image is mod-cropped to a multiple of ``scale`` first, as the bicubic protocol does, so
    the LR image and ``mod_crop(hr, scale)`` line up pixel for pixel."""
    scale = check_scale(scale)
    hr = np.asarray(hr, dtype=np.float32)
    if hr.ndim != 3 or hr.shape[2] != 3:
        raise ValueError(f"the real-photo degradation takes an RGB image (HxWx3), got shape {hr.shape}")
    hr = mod_crop(hr, scale)
    target = (hr.shape[0] // scale, hr.shape[1] // scale)
    image, first = _one_order(np.clip(hr, 0, 1), rng, FIRST_ORDER)
    image, second = _one_order(image, rng, SECOND_ORDER)
    final: dict = {}
    if rng.random() < 0.5:
        image = _final_resize(image, rng, target, final)
        final["jpeg"] = int(rng.integers(FIRST_ORDER.jpeg_quality[0], FIRST_ORDER.jpeg_quality[1] + 1))
        image = jpeg(image, final["jpeg"])
    else:
        final["jpeg"] = int(rng.integers(FIRST_ORDER.jpeg_quality[0], FIRST_ORDER.jpeg_quality[1] + 1))
        image = _final_resize(jpeg(image, final["jpeg"]), rng, target, final)
        final["order"] = "jpeg first"
    return quantize(image), {"first": first, "second": second, "final": final}


def describe(info: dict) -> str:
    """One line for a page or a CSV cell: what the photo went through."""
    parts = []
    for order in ("first", "second"):
        step = info[order]
        blur_text = (f"{step['blur']['type'].replace('_', ' ')} blur {step['blur']['size']} px"
                     if "blur" in step else "no blur")
        noise = step["noise"]
        noise_text = (f"Gaussian noise σ {noise['sigma_255']:g}/255" if noise["type"] == "gaussian"
                      else f"Poisson noise ×{noise['scale']:g}") + (" (gray)" if noise["gray"] else "")
        parts.append(f"{blur_text}, {step['resize']['mode']} resize ×{step['resize']['factor']:g}, {noise_text}, "
                     f"JPEG {step['jpeg']}")
    final = info["final"]
    last = f"{final['final_resize']} resize to size" + (", sinc" if "final_sinc" in final else "")
    last = f"JPEG {final['jpeg']}, then {last}" if final.get("order") == "jpeg first" else f"{last}, JPEG {final['jpeg']}"
    return f"1) {parts[0]}; 2) {parts[1]}; 3) {last}"


def degrade_batch(hr: torch.Tensor, rng: np.random.Generator, scale: int = 4) -> torch.Tensor:
    """Training's version: (B, 3, H, W) in [0, 1] -> (B, 3, H/s, W/s), each crop its own draw."""
    height, width = hr.shape[-2:]
    if height % scale or width % scale:
        raise ValueError(f"patch {height}x{width} is not a multiple of x{scale}")
    images = hr.permute(0, 2, 3, 1).cpu().numpy()
    lr = np.stack([degrade(image, rng, scale)[0] for image in images])
    return torch.from_numpy(lr).permute(0, 3, 1, 2).to(hr.dtype)
