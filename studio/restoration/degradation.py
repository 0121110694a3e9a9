"""Restoration degradation: a degraded grayscale photo (noise, blur, JPEG) made from a clean colour one.

The pipeline of the source project (source 002, docs/sources.md), every step explicit and seedable:

1. resize to ``size`` x ``size`` (MATLAB-style bicubic, aspect ratio not kept; ``size=None`` keeps
   the full resolution);
2. RGB -> grayscale (ITU-R BT.601 luma, as Pillow's ``convert("L")``);
3. one or more noises, applied in the fixed order of ``APPLY_ORDER`` whatever order they are given in:

   ============== ==================================================================================
   ``speckle``     multiplicative: ``g * (1 + n)``, n ~ N(0, (2 * level)^2)
   ``gaussian``    additive white: ``g + n``, n ~ N(0, level^2)
   ``correlated``  additive, spatially filtered: white noise through a Gaussian of
                   ``correlation_sigma`` px, rescaled to standard deviation ``level`` (film grain,
                   blotches)
   ``stripes``     structured, periodic: ``level * sqrt(2) * sin(2 pi (x cos a + y sin a) / period
                   + phase)`` (standard deviation ``level``); ``stripe_angle`` a in degrees, 0 =
                   vertical stripes, 90 = horizontal ones; the phase comes from ``noise_seed``
   ``salt_pepper`` impulses: a fraction ``level`` of the pixels set to 0 or 1 (half each)
   ============== ==================================================================================

4. Gaussian blur of ``blur_sigma`` px (0 = none), after the noise as in the source;
5. clip to [0, 1] and JPEG compression at ``jpeg_quality`` (1-100; 0 = none, 8-bit rounding only).

The result is HxWx3 float32 in [0, 1] with R = G = B (the gray image replicated, so the metrics and
the app treat it like any RGB image). ``degrade`` returns it with a JSON-serialisable dict of
every parameter, so ``degrade(clean, <any rng>, **params)`` reproduces it exactly: the noise
realisations come from ``noise_seed`` alone (one stream per noise type, so adding a noise never
changes another's pattern), never from the caller's generator.

``BENCHMARK`` is the fixed setting of the evaluation (gaussian + salt-and-pepper + horizontal
stripes at level 0.05, blur 0.8 px, JPEG 70, 128 px); only its noise seed is drawn, per image, from
the evaluation's seeded generator.
"""

from __future__ import annotations

import io
import math
from dataclasses import asdict, dataclass, fields, replace

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter

from studio.imageio import quantize
from studio.resize import imresize_to

NOISE_TYPES = ("gaussian", "salt_pepper", "speckle", "correlated", "stripes")
#: the order noises are applied in (multiplicative first, impulses last)
APPLY_ORDER = ("speckle", "gaussian", "correlated", "stripes", "salt_pepper")
LUMA = (0.299, 0.587, 0.114)

# Ranges of the random draws (training distribution) and of what a caller may ask for.
TRAIN_RANGES = {
    "noise_count": (1, 2),
    "noise_level": (0.02, 0.10),
    "blur_probability": 0.7,
    "blur_sigma": (0.3, 1.5),
    "jpeg_quality": (30, 90),
    "stripe_period": (4.0, 16.0),
    "stripe_angle": (0.0, 180.0),
    "correlation_sigma": (1.0, 3.0),
}
LIMITS = {"noise_level": (0.0, 0.5), "blur_sigma": (0.0, 10.0), "jpeg_quality": (0, 100),
          "stripe_period": (2.0, 1000.0), "correlation_sigma": (0.3, 20.0), "size": (8, 4096)}
MIN_INPUT_SIDE = 2


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


@dataclass(frozen=True)
class RestorationDegradation:
    """Every parameter of one degradation (see the module docstring for their meaning)."""

    noises: tuple[str, ...]
    noise_level: float
    blur_sigma: float
    jpeg_quality: int
    stripe_period: float
    stripe_angle: float
    correlation_sigma: float
    noise_seed: int
    size: int | None = 128

    def __post_init__(self):
        noises = self.noises
        if isinstance(noises, str):
            noises = (noises,)
        unknown = [n for n in noises if n not in NOISE_TYPES]
        if unknown:
            raise ValueError(f"unknown noise type(s) {unknown}; expected any of {NOISE_TYPES}")
        if len(set(noises)) != len(noises):
            raise ValueError(f"noise types repeated in {list(noises)}")
        object.__setattr__(self, "noises", tuple(n for n in APPLY_ORDER if n in noises))
        for name in ("noise_level", "blur_sigma", "stripe_period", "correlation_sigma"):
            value = getattr(self, name)
            low, high = LIMITS[name]
            if not isinstance(value, (int, float)) or not math.isfinite(value) or not low <= value <= high:
                raise ValueError(f"{name} must be a number in [{low}, {high}], got {value!r}")
            object.__setattr__(self, name, float(value))
        if not isinstance(self.stripe_angle, (int, float)) or not math.isfinite(self.stripe_angle):
            raise ValueError(f"stripe_angle must be a finite number of degrees, got {self.stripe_angle!r}")
        object.__setattr__(self, "stripe_angle", float(self.stripe_angle) % 180.0)
        quality = self.jpeg_quality
        if not _is_int(quality) or not 0 <= quality <= 100:
            raise ValueError(f"jpeg_quality must be an integer in [0, 100] (0 = no JPEG), got {quality!r}")
        object.__setattr__(self, "jpeg_quality", int(quality))
        if not _is_int(self.noise_seed) or self.noise_seed < 0:
            raise ValueError(f"noise_seed must be a non-negative integer, got {self.noise_seed!r}")
        object.__setattr__(self, "noise_seed", int(self.noise_seed))
        if self.size is not None:
            low, high = LIMITS["size"]
            if not _is_int(self.size) or not low <= self.size <= high:
                raise ValueError(f"size must be an integer in [{low}, {high}] or None (full resolution), "
                                 f"got {self.size!r}")
            object.__setattr__(self, "size", int(self.size))

    def params(self) -> dict:
        """JSON-serialisable keyword arguments of ``degrade`` that reproduce this degradation."""
        out = asdict(self)
        out["noises"] = list(self.noises)
        return out

    def describe(self) -> str:
        """One line for people (the app, CSV rows)."""
        parts = []
        for noise in self.noises:
            detail = {"stripes": f"period {self.stripe_period:.1f} px, angle {self.stripe_angle:.0f} deg",
                      "correlated": f"filter sigma {self.correlation_sigma:.1f} px"}.get(noise)
            parts.append(noise + (f" ({detail})" if detail else ""))
        noise = f"{' + '.join(parts)} at level {self.noise_level:.3f}" if parts else "no noise"
        blur = f"blur sigma {self.blur_sigma:.2f} px" if self.blur_sigma > 0 else "no blur"
        jpeg = f"JPEG q{self.jpeg_quality}" if self.jpeg_quality else "no JPEG"
        size = f"{self.size}x{self.size}" if self.size else "full resolution"
        return f"gray {size}; {noise}; {blur}; {jpeg}; noise seed {self.noise_seed}"


#: The evaluation setting. ``noise_seed`` is a placeholder: ``degrade`` draws it per image.
BENCHMARK = RestorationDegradation(noises=("gaussian", "salt_pepper", "stripes"), noise_level=0.05, blur_sigma=0.8,
                                   jpeg_quality=70, stripe_period=8.0, stripe_angle=90.0, correlation_sigma=2.0,
                                   noise_seed=0, size=128)
_BENCHMARK_FIXED = {k: v for k, v in BENCHMARK.params().items() if k != "noise_seed"}


def sample(rng: np.random.Generator, **given) -> RestorationDegradation:
    """Draw the parameters left as None from ``rng`` (the training distribution).

    Every parameter is drawn, given or not, in a fixed order, so the draws of one parameter never
    depend on which others were given.
    """
    unknown = sorted(set(given) - {f.name for f in fields(RestorationDegradation)})
    if unknown:
        raise TypeError(f"unknown degradation parameter(s) {unknown}; expected "
                        f"{[f.name for f in fields(RestorationDegradation)]}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    r = TRAIN_RANGES
    count = int(rng.integers(r["noise_count"][0], r["noise_count"][1] + 1))
    drawn = {
        "noises": tuple(str(n) for n in rng.choice(NOISE_TYPES, size=count, replace=False)),
        "noise_level": float(rng.uniform(*r["noise_level"])),
        "blur_sigma": float(rng.uniform(*r["blur_sigma"])) if rng.random() < r["blur_probability"] else 0.0,
        "jpeg_quality": int(rng.integers(r["jpeg_quality"][0], r["jpeg_quality"][1] + 1)),
        "stripe_period": float(rng.uniform(*r["stripe_period"])),
        "stripe_angle": float(rng.uniform(*r["stripe_angle"])),
        "correlation_sigma": float(rng.uniform(*r["correlation_sigma"])),
        "noise_seed": int(rng.integers(2**31 - 1)),
    }
    values = {k: (given[k] if given.get(k) is not None else v) for k, v in drawn.items()}
    if isinstance(values["noises"], str):
        values["noises"] = (values["noises"],)
    return RestorationDegradation(**values, size=given.get("size", 128))


def benchmark(rng: np.random.Generator | None = None, size: int | None = 128) -> RestorationDegradation:
    """The fixed evaluation setting, with its noise seed drawn from ``rng`` (default seed 0)."""
    rng = rng if rng is not None else np.random.default_rng(0)
    return replace(BENCHMARK, noise_seed=int(rng.integers(2**31 - 1)), size=size)


def is_benchmark(params: dict) -> bool:
    return {k: v for k, v in params.items() if k not in ("noise_seed", "size")} == {
        k: v for k, v in _BENCHMARK_FIXED.items() if k != "size"}


# ---- the steps ------------------------------------------------------------------------------

def check_image(clean: np.ndarray) -> np.ndarray:
    array = np.asarray(clean)
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (1, 3)):
        raise ValueError(f"expected an HxW or HxWx3 image, got an array of shape {array.shape}")
    if min(array.shape[:2]) < MIN_INPUT_SIDE:
        raise ValueError(f"image {array.shape[1]}x{array.shape[0]} is too small (at least "
                         f"{MIN_INPUT_SIDE} px per side)")
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / 255.0
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise ValueError("image has NaN or infinite values")
    if array.min() < 0 or array.max() > 1:
        raise ValueError(f"image values must be in [0, 1] (got {array.min():.3g}..{array.max():.3g}); "
                         "divide 8-bit images by 255")
    return array[..., 0] if array.ndim == 3 and array.shape[-1] == 1 else array


def resize_square(image: np.ndarray, size: int | None) -> np.ndarray:
    """``size`` x ``size`` with MATLAB bicubic (clipped, float64); ``None`` keeps the image."""
    if size is None:
        return image
    if image.shape[0] == size and image.shape[1] == size:
        return image
    return np.clip(imresize_to(image, size, size), 0, 1)


def prepare_clean(clean: np.ndarray, size: int | None = 128) -> np.ndarray:
    """The ground truth the degraded image is compared with: resized, 8-bit, HxWx3 float32."""
    image = resize_square(check_image(clean), size)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    return quantize(image)


def to_gray(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else image @ np.asarray(LUMA)


def _noise_rng(seed: int, noise: str) -> np.random.Generator:
    return np.random.default_rng([seed, NOISE_TYPES.index(noise)])


def add_noise(gray: np.ndarray, noise: str, d: RestorationDegradation) -> np.ndarray:
    """One noise of ``d`` on a gray image (float64, unclipped)."""
    rng, level = _noise_rng(d.noise_seed, noise), d.noise_level
    if noise == "gaussian":
        return gray + rng.normal(0.0, level, gray.shape)
    if noise == "speckle":
        return gray * (1.0 + rng.normal(0.0, 2.0 * level, gray.shape))
    if noise == "correlated":
        white = gaussian_filter(rng.normal(0.0, 1.0, gray.shape), d.correlation_sigma, mode="wrap")
        return gray + white * (level / max(float(white.std()), 1e-12))
    if noise == "stripes":
        y, x = np.mgrid[0:gray.shape[0], 0:gray.shape[1]].astype(np.float64)
        angle = math.radians(d.stripe_angle)
        phase = rng.uniform(0.0, 2 * math.pi)
        wave = np.sin(2 * math.pi * (x * math.cos(angle) + y * math.sin(angle)) / d.stripe_period + phase)
        return gray + level * math.sqrt(2.0) * wave
    if noise == "salt_pepper":
        out = gray.copy()
        hit = rng.random(gray.shape) < level
        out[hit] = (rng.random(gray.shape) < 0.5)[hit].astype(np.float64)
        return out
    raise ValueError(f"unknown noise type {noise!r}; expected one of {NOISE_TYPES}")


def jpeg(gray: np.ndarray, quality: int) -> np.ndarray:
    """8-bit JPEG round trip of a gray [0, 1] image (quality 0: 8-bit rounding only)."""
    as_uint8 = np.clip(np.round(gray * 255.0), 0, 255).astype(np.uint8)
    if quality == 0:
        return as_uint8.astype(np.float32) / 255.0
    buffer = io.BytesIO()
    Image.fromarray(as_uint8, mode="L").save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("L"), dtype=np.float32) / 255.0


def apply(clean: np.ndarray, d: RestorationDegradation) -> np.ndarray:
    """Degrade ``clean`` (HxW or HxWx3 in [0, 1]) with exactly ``d``: HxWx3 float32, R = G = B."""
    gray = to_gray(resize_square(check_image(clean), d.size))
    for noise in d.noises:
        gray = add_noise(gray, noise, d)
    if d.blur_sigma > 0:
        gray = gaussian_filter(gray, d.blur_sigma, mode="reflect")
    gray = jpeg(np.clip(gray, 0.0, 1.0), d.jpeg_quality)
    return np.repeat(gray[..., None], 3, axis=-1)


def degrade(clean: np.ndarray, rng: np.random.Generator | None = None, *, noises=None, noise_level=None,
            blur_sigma=None, jpeg_quality=None, stripe_period=None, stripe_angle=None, correlation_sigma=None,
            noise_seed=None, size: int | None = 128) -> tuple[np.ndarray, dict]:
    """(degraded HxWx3 float32 in [0, 1] with R = G = B, every parameter applied as a JSON dict).

    A parameter left as None is drawn from ``rng`` (the training distribution); the returned dict
    fills them all in, so ``degrade(clean, <anything>, **params)`` gives the same image.
    """
    if rng is None:
        rng = np.random.default_rng()
    d = sample(rng, noises=noises, noise_level=noise_level, blur_sigma=blur_sigma, jpeg_quality=jpeg_quality,
               stripe_period=stripe_period, stripe_angle=stripe_angle, correlation_sigma=correlation_sigma,
               noise_seed=noise_seed, size=size)
    return apply(clean, d), d.params()
