"""Motion blur: camera-shake kernels, the 8 real Levin kernels, blur application, noise.

Kernels are k x k float64 arrays (k odd), non-negative, summing to 1, applied as a true
convolution (``scipy.ndimage.convolve`` orientation, which is how ``levin2009/blurred`` was made
from ``levin2009/sharp``: their interiors agree up to 8-bit rounding, as tests/test_deblur_kernels.py
checks). Random kernels are camera-shake trajectories in the spirit of Boracchi & Foi 2012 (the
generator DeblurGAN uses): a random walk with inertia, a pull back to the start, Gaussian jitter
and occasional abrupt shakes, travelled at a smoothly varying speed and splatted bilinearly into
the kernel.

Everything random takes a ``numpy.random.Generator`` and every function that degrades an image
returns the parameters it used (``BlurResult``), so the app can show what was applied.

Which kernels are for what (``KERNEL_SPLIT``) is explicit and disjoint:

* **train**: trajectories drawn on the fly from a generator seeded with ``TRAIN_STREAM`` first
  (``train_kernel``); the real Levin kernels are *not* used for training by default (they belong to
  the ``levin2009`` benchmark) -- ``training.train_deblur --train-levin-kernels`` opts in.
* **validation** (model selection during training): ``VAL_TRAJECTORIES`` fixed trajectories,
  trajectory ``i`` drawn from ``default_rng([VAL_STREAM, i])``.
* **evaluation** (``studio.evaluate --task deblur`` with ``--clean`` only): the 8 Levin kernels plus
  ``EVAL_TRAJECTORIES`` fixed trajectories from ``default_rng([EVAL_STREAM, i])``.

The three streams differ in their first seed word, so numpy's ``SeedSequence`` gives them
independent bit streams: no evaluation or validation trajectory is ever drawn in training.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from studio.data import DATASETS
from studio.imageio import quantize

#: the 8 Levin kernels: the shared datasets' copy, else the identical copy the repository ships
#: (``data/kernels``) so the app's kernel choices work where the datasets are absent (a Space)
SHIPPED_LEVIN_KERNELS = Path(__file__).resolve().parents[2] / "data" / "kernels" / "levin09_kernels.npz"
_SHARED_LEVIN_KERNELS = DATASETS / "levin2009" / "kernels" / "levin09_kernels.npz"
LEVIN_KERNELS = _SHARED_LEVIN_KERNELS if _SHARED_LEVIN_KERNELS.is_file() else SHIPPED_LEVIN_KERNELS
LEVIN_NAMES = tuple(f"k{i}" for i in range(1, 9))

# Seed-stream tags (first word of every SeedSequence of that split).
TRAIN_STREAM = 0x7EA1
VAL_STREAM = 0x7A11
EVAL_STREAM = 0xE7A1
VAL_TRAJECTORIES = 8
EVAL_TRAJECTORIES = 8
#: kernel sizes (odd, px) of the fixed validation/evaluation trajectories and of training draws
MIN_KERNEL, MAX_KERNEL = 7, 31
#: noise standard deviation (on [0, 1] images) of the evaluation protocol
EVAL_NOISE_SIGMA = 0.005
#: training noise: sigma uniform in [0, TRAIN_MAX_NOISE]
TRAIN_MAX_NOISE = 0.01

KERNEL_SPLIT = {
    "train": f"random trajectories, generator seeded [{TRAIN_STREAM:#x}, ...], drawn per crop "
             f"(size {MIN_KERNEL}-{MAX_KERNEL} px); Levin kernels only with --train-levin-kernels",
    "validation": f"{VAL_TRAJECTORIES} fixed trajectories, trajectory i from default_rng([{VAL_STREAM:#x}, i])",
    "evaluation": f"Levin k1..k8 + {EVAL_TRAJECTORIES} fixed trajectories, trajectory i from "
                  f"default_rng([{EVAL_STREAM:#x}, i]); noise sigma {EVAL_NOISE_SIGMA}, 8-bit rounding",
}


class KernelError(ValueError):
    """A kernel is unusable (empty, negative mass, wrong shape); the message says why."""


def normalize_kernel(kernel) -> np.ndarray:
    """Clip negatives, pad to an odd square, scale to sum 1 (float64)."""
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 2 or kernel.size == 0:
        raise KernelError(f"a blur kernel must be a non-empty 2-D array, got shape {kernel.shape}")
    if not np.all(np.isfinite(kernel)):
        raise KernelError("blur kernel contains NaN or infinite values")
    kernel = np.clip(kernel, 0, None)
    total = kernel.sum()
    if total <= 0:
        raise KernelError("blur kernel has no positive mass")
    height, width = kernel.shape
    size = max(height, width) | 1  # odd, so the kernel has a centre pixel
    if (height, width) != (size, size):
        top, left = (size - height) // 2, (size - width) // 2
        kernel = np.pad(kernel, ((top, size - height - top), (left, size - width - left)))
    return kernel / total


# ---- camera-shake trajectories ----------------------------------------------------------------

def random_trajectory(rng: np.random.Generator, num_points: int = 2000, max_length: float = 60.0,
                      explosiveness: float | None = None) -> tuple[np.ndarray, dict]:
    """A camera-shake path (complex array, in pixels of a ``max_length`` canvas) and its parameters.

    Boracchi & Foi 2012, with the constants of DeblurGAN's ``Trajectory``: at each step the
    velocity receives Gaussian jitter and a centripetal pull towards the start, and with a small
    probability an abrupt turn; its magnitude is kept constant (speed is modulated later, in
    ``trajectory_kernel``).
    """
    if explosiveness is None:
        explosiveness = float(rng.choice([0.003, 0.001, 0.0007, 0.0005, 0.0003, 0.0001]))
    centripetal = 0.7 * rng.random()
    prob_big_shake = 0.2 * rng.random()
    gaussian_shake = 10.0 * rng.random()
    init_angle = 2 * math.pi * rng.random()
    step = max_length / (num_points - 1)
    velocity = complex(math.cos(init_angle), math.sin(init_angle)) * step
    shakes = (rng.random(num_points) < prob_big_shake * explosiveness).tolist()
    turns = (math.pi + rng.random(num_points) - 0.5).tolist()
    jitter = rng.standard_normal((num_points, 2)).tolist()
    position, points, big_shakes = 0j, [0j], 0
    for t in range(num_points - 1):
        turn = 0j
        if shakes[t]:
            turn = 2 * velocity * complex(math.cos(turns[t]), math.sin(turns[t]))
            big_shakes += 1
        velocity += turn + explosiveness * (gaussian_shake * complex(*jitter[t]) - centripetal * position) * step
        velocity = velocity / max(abs(velocity), 1e-12) * step
        position = position + velocity
        points.append(position)
    params = dict(explosiveness=explosiveness, centripetal=round(centripetal, 4),
                  prob_big_shake=round(prob_big_shake, 4), gaussian_shake=round(gaussian_shake, 4),
                  init_angle_deg=round(math.degrees(init_angle), 2), big_shakes=big_shakes)
    return np.asarray(points, dtype=np.complex128), params


def _splat(points: np.ndarray, weights: np.ndarray, size: int) -> np.ndarray:
    """Bilinear splatting of (x, y) points into a size x size grid."""
    kernel = np.zeros((size + 1, size + 1), dtype=np.float64)
    x, y = points.real, points.imag
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    for dy, dx, w in ((0, 0, (1 - fx) * (1 - fy)), (0, 1, fx * (1 - fy)), (1, 0, (1 - fx) * fy), (1, 1, fx * fy)):
        np.add.at(kernel, (np.clip(y0 + dy, 0, size), np.clip(x0 + dx, 0, size)), w * weights)
    return kernel[:size, :size]


def trajectory_kernel(rng: np.random.Generator, length: float | None = None, max_size: int = MAX_KERNEL,
                      min_size: int = MIN_KERNEL) -> tuple[np.ndarray, dict]:
    """A random camera-shake kernel (odd size in [min_size, max_size]) and its parameters.

    ``length`` is the extent of the path in pixels (default: uniform in [2, max_size - 4]).
    """
    if max_size < 3 or min_size > max_size:
        raise KernelError(f"kernel sizes must satisfy 3 <= min_size <= max_size, got {min_size}, {max_size}")
    max_size |= 1
    if length is None:
        length = float(rng.uniform(2.0, max(3.0, max_size - 4.0)))
    path, params = random_trajectory(rng)
    extent = max(np.ptp(path.real), np.ptp(path.imag), 1e-9)
    path = path * (length / extent)
    # Smoothly varying speed: exposure time spent per path sample (positive, mean ~1).
    phase = rng.uniform(0, 2 * math.pi, size=2)
    position = np.linspace(0, 1, len(path))
    speed_variation = float(rng.uniform(0, 0.8))
    weights = 1 + speed_variation * (0.6 * np.sin(2 * math.pi * position + phase[0])
                                     + 0.4 * np.sin(4 * math.pi * position + phase[1]))
    weights = np.clip(weights, 0.05, None)
    # Centre on the kernel's centroid, so blurring does not shift the image.
    centroid = complex(np.average(path.real, weights=weights), np.average(path.imag, weights=weights))
    path = path - centroid
    radius = max(np.max(np.abs(path.real)), np.max(np.abs(path.imag)))
    size = int(2 * math.ceil(radius) + 3) | 1
    size = min(max(size, min_size | 1), max_size)
    if 2 * radius + 2 > size:  # too long for max_size: shrink the path
        path = path * ((size - 2) / (2 * radius + 1e-9))
    centre = (size - 1) / 2
    kernel = _splat(path + complex(centre, centre), weights, size)
    params.update(kind="trajectory", length_px=round(float(length), 2), size=size,
                  speed_variation=round(speed_variation, 3))
    return normalize_kernel(kernel), params


def linear_kernel(length: float, angle_deg: float = 0.0) -> np.ndarray:
    """Uniform straight-line motion of ``length`` px at ``angle_deg`` (0 = horizontal, counter-
    clockwise), splatted bilinearly into the smallest odd square that holds it; sums to 1.

    A camera moving at constant speed during the exposure: the simplest motion blur, which the
    app offers next to the real Levin kernels and random camera-shake trajectories.
    """
    length = float(length)
    if not math.isfinite(length) or length < 1 or length > 4 * MAX_KERNEL:
        raise KernelError(f"linear blur length must be between 1 and {4 * MAX_KERNEL} px, got {length}")
    angle = math.radians(float(angle_deg))
    samples = max(2, int(math.ceil(length * 8)))
    offsets = np.linspace(-length / 2, length / 2, samples)
    # image rows grow downwards: a counter-clockwise angle moves up (negative y)
    path = offsets * math.cos(angle) - 1j * offsets * math.sin(angle)
    radius = max(np.max(np.abs(path.real)), np.max(np.abs(path.imag)))
    size = int(2 * math.ceil(radius) + 3) | 1
    centre = (size - 1) / 2
    kernel = _splat(path + complex(centre, centre), np.ones(samples), size)
    return normalize_kernel(kernel)


# ---- the named kernel sets ----------------------------------------------------------------------

@functools.lru_cache(maxsize=4)
def _levin_cached(path: str) -> tuple[tuple[str, np.ndarray], ...]:
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"Levin kernels not found at {file} (set STUDIO_DATASETS to the shared datasets folder)")
    with np.load(file) as data:
        missing = [name for name in LEVIN_NAMES if name not in data]
        if missing:
            raise KernelError(f"{file}: missing kernels {missing}")
        return tuple((name, normalize_kernel(data[name])) for name in LEVIN_NAMES)


def load_levin_kernels(path=None) -> dict[str, np.ndarray]:
    """The 8 real camera-shake kernels of Levin et al. 2009, ``{"k1": array, ..., "k8": array}``."""
    return {name: kernel.copy() for name, kernel in _levin_cached(str(path or LEVIN_KERNELS))}


@functools.lru_cache(maxsize=8)
def _fixed_trajectories(stream: int, count: int) -> tuple[tuple[str, np.ndarray, tuple], ...]:
    tag = {VAL_STREAM: "val", EVAL_STREAM: "eval"}.get(stream, f"s{stream}")
    kernels = []
    for i in range(count):
        kernel, params = trajectory_kernel(np.random.default_rng([stream, i]), min_size=11)
        kernels.append((f"{tag}-traj-{i}", kernel, tuple(sorted(params.items()))))
    return tuple(kernels)


#: the kernel-length bands (px, the extent of a kernel's path: ``[low, high)``) of the long-blur studies
LONG_BANDS = ((31, 45), (45, 60), (60, 76))
#: seed streams of the long camera-shake trajectories: one set tunes settings, another confirms them,
#: a third is held out to check a setting chosen on both of the others
LONG_TUNE_STREAM = 0x1A7E
LONG_CONFIRM_STREAM = 0x1AC0
LONG_HOLDOUT_STREAM = 0x1A0D
LONG_PER_BAND = {"tune": 2, "confirm": 3, "holdout": 3}


def path_extent(kernel: np.ndarray) -> int:
    """The length (px) of a kernel's path: the side of the smallest square holding its mass."""
    rows, cols = np.nonzero(np.asarray(kernel) > 0)
    return int(max(np.ptp(rows), np.ptp(cols))) + 1 if rows.size else 0


@functools.lru_cache(maxsize=4)
def _long_trajectories(split: str) -> tuple[tuple[str, np.ndarray, int], ...]:
    stream = {"tune": LONG_TUNE_STREAM, "confirm": LONG_CONFIRM_STREAM, "holdout": LONG_HOLDOUT_STREAM}[split]
    kernels = []
    for band, (low, high) in enumerate(LONG_BANDS):
        for i in range(LONG_PER_BAND[split]):
            rng = np.random.default_rng([stream, band, i])
            while True:  # a drawn path's extent lands a pixel or two off its length: redraw until in band
                kernel, _ = trajectory_kernel(rng, length=float(rng.uniform(low, high - 2)), max_size=4 * high + 1)
                if low <= path_extent(kernel) < high:
                    break
            kernels.append((f"long-{split}-{low}-{high - 1}px-{i}", kernel, band))
    return tuple(kernels)


def long_kernels(split: str) -> list[tuple[str, np.ndarray, tuple[int, int]]]:
    """Long camera-shake trajectories (Boracchi & Foi's model, as ``trajectory_kernel``) for the
    long-blur studies: ``LONG_PER_BAND[split]`` per band of ``LONG_BANDS``, as (name, kernel, band).
    ``split`` "tune" chooses settings, "confirm" checks them, "holdout" checks a setting chosen on
    both; their seed streams are their own, so no training, validation or evaluation kernel is among them."""
    if split not in LONG_PER_BAND:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(LONG_PER_BAND)}")
    return [(name, kernel.copy(), (LONG_BANDS[band][0], LONG_BANDS[band][1] - 1))
            for name, kernel, band in _long_trajectories(split)]


def validation_kernels() -> list[tuple[str, np.ndarray]]:
    """Fixed kernels for model selection during training (never evaluation, never training)."""
    return [(name, k.copy()) for name, k, _ in _fixed_trajectories(VAL_STREAM, VAL_TRAJECTORIES)]


def evaluation_kernels(levin_path=None) -> list[tuple[str, np.ndarray]]:
    """The evaluation protocol's kernels: Levin k1..k8, then the fixed evaluation trajectories."""
    levin = [(f"levin-{name}", k) for name, k in load_levin_kernels(levin_path).items()]
    return levin + [(name, k.copy()) for name, k, _ in _fixed_trajectories(EVAL_STREAM, EVAL_TRAJECTORIES)]


def train_kernel(rng: np.random.Generator, max_size: int = MAX_KERNEL, levin_probability: float = 0.0
                 ) -> tuple[np.ndarray, dict]:
    """One training kernel: a fresh trajectory from the train stream (or, if opted in, a Levin one).

    The trajectory generator is re-seeded from ``[TRAIN_STREAM, <63 bits of rng>]``, so whatever
    generator the caller passes, training kernels come from the train stream only.
    """
    if levin_probability > 0 and rng.random() < levin_probability:
        name = LEVIN_NAMES[int(rng.integers(len(LEVIN_NAMES)))]
        kernel = load_levin_kernels()[name]
        return kernel, {"kind": "levin", "name": name, "size": kernel.shape[0]}
    child = np.random.default_rng([TRAIN_STREAM, int(rng.integers(2**63))])
    return trajectory_kernel(child, max_size=max_size)


# ---- applying blur ------------------------------------------------------------------------------

def _per_channel(image: np.ndarray, fn) -> np.ndarray:
    if image.ndim == 2:
        return fn(image)
    return np.stack([fn(image[..., c]) for c in range(image.shape[-1])], axis=-1)


def blur_valid(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolution over the pixels whose whole neighbourhood is known: (H-k+1) x (W-k+1).

    What training uses on a crop cut ``k - 1`` px larger: the blurred patch then sees real
    neighbours instead of an invented border, as a real blurred photo does.
    """
    kernel = normalize_kernel(kernel)
    size = kernel.shape[0]
    if min(image.shape[:2]) < size:
        raise KernelError(f"image {image.shape[1]}x{image.shape[0]} is smaller than the {size}x{size} kernel")
    from scipy.signal import fftconvolve  # imported here: scipy.signal is slow to import, kept out of the app's start-up

    out = _per_channel(np.asarray(image, dtype=np.float64), lambda c: fftconvolve(c, kernel, mode="valid"))
    return out.astype(np.float32)


def blur(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Same-size convolution with mirrored borders (``scipy.ndimage.convolve(mode='reflect')``).

    Works for any image size, including images smaller than the kernel (the border is mirrored
    as often as needed). HxW or HxWxC float in [0, 1] -> float32, same shape.
    """
    kernel = normalize_kernel(kernel)
    radius = kernel.shape[0] // 2
    image = np.asarray(image, dtype=np.float64)
    pad = ((radius, radius), (radius, radius)) + ((0, 0),) * (image.ndim - 2)
    padded = np.pad(image, pad, mode="symmetric")  # d c b a | a b c d, as ndimage's 'reflect'
    return blur_valid(padded, kernel)


def add_noise(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Additive white Gaussian noise of standard deviation ``sigma``, clipped to [0, 1]."""
    if sigma <= 0:
        return np.clip(image, 0, 1).astype(np.float32)
    return np.clip(image + rng.normal(0.0, sigma, size=image.shape), 0, 1).astype(np.float32)


@dataclass
class BlurResult:
    """A blurred image and everything that produced it."""

    image: np.ndarray
    kernel: np.ndarray
    kernel_name: str
    noise_sigma: float
    params: dict = field(default_factory=dict)

    def info(self) -> dict:
        """JSON-able description (the kernel as a nested list)."""
        return {"kernel_name": self.kernel_name, "kernel_size": int(self.kernel.shape[0]),
                "noise_sigma": self.noise_sigma, "kernel": np.round(self.kernel, 6).tolist(), **self.params}


def apply_blur(clean: np.ndarray, kernel: np.ndarray, rng: np.random.Generator | None = None,
               noise_sigma: float = 0.0, kernel_name: str = "custom", round_to_uint8: bool = True,
               params: dict | None = None) -> BlurResult:
    """Blur ``clean`` (mirrored borders), add noise, round to 8 bits; returns the parameters too."""
    kernel = normalize_kernel(kernel)
    blurred = blur(clean, kernel)
    if noise_sigma > 0:
        if rng is None:
            raise ValueError("noise_sigma > 0 needs a numpy Generator (rng) so the noise is reproducible")
        blurred = add_noise(blurred, noise_sigma, rng)
    blurred = quantize(blurred) if round_to_uint8 else np.clip(blurred, 0, 1).astype(np.float32)
    return BlurResult(blurred, kernel, kernel_name, float(noise_sigma), dict(params or {}))


def random_blur(clean: np.ndarray, rng: np.random.Generator, max_size: int = MAX_KERNEL,
                max_noise: float = TRAIN_MAX_NOISE) -> BlurResult:
    """Training-distribution blur of a whole image: a train-stream trajectory and random noise."""
    kernel, params = train_kernel(rng, max_size=max_size)
    sigma = float(rng.uniform(0, max_noise)) if max_noise > 0 else 0.0
    return apply_blur(clean, kernel, rng, sigma, kernel_name=f"train-{params.get('kind', 'trajectory')}",
                      params=params)


def synthesize_eval_blur(clean: np.ndarray, rng: np.random.Generator, noise_sigma: float = EVAL_NOISE_SIGMA
                         ) -> BlurResult:
    """The evaluation protocol: one kernel of ``evaluation_kernels()`` chosen by ``rng``, fixed noise."""
    kernels = evaluation_kernels()
    name, kernel = kernels[int(rng.integers(len(kernels)))]
    return apply_blur(clean, kernel, rng, noise_sigma, kernel_name=name, params={"split": "evaluation"})


def levin_kernel_for(stem: str) -> tuple[str, np.ndarray] | None:
    """The true kernel of a ``levin2009/blurred`` file (``im_X_ker_Y`` -> ``kY``), else None."""
    parts = stem.split("_ker_")
    if len(parts) != 2 or not parts[1].isdigit():
        return None
    name = f"k{int(parts[1])}"
    kernels = load_levin_kernels()
    return (f"levin-{name}", kernels[name]) if name in kernels else None
