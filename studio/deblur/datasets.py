"""Deblurring data: GoPro-layout pairs split by sequence, synthetic blur of real photos, and the
joint augmentation both share.

* ``GoProPairs``: ``<root>/<sequence>/{blur,sharp}/*.png`` (also ``<root>/{train,test}/<sequence>/...``,
  the GoPro_Large layout), frames paired by file name. The train/validation split is drawn over
  **sequence names**, seeded, about 90/10 (the logbook's fix: frames t and t+1 of one video are
  near-identical, so a frame-level shuffle would leak validation scenes into training).
* ``SyntheticBlur``: crops of real photos (``bsds500`` train+test by default) blurred with
  training-stream camera-shake kernels (``studio.deblur.degradation``), noise, 8-bit rounding.
  The crop is cut ``k - 1`` px larger and convolved over its valid part, so the blurred border
  sees real neighbours.
* ``JointTransform``: in training, the same random crop, flips, rot90 and brightness / contrast /
  saturation jitter (factors in ``1 ± jitter``) applied to the blurred and the sharp image (the
  jitter is synchronised by hand: one set of factors, and the contrast pivot computed once from the sharp
  image). In validation it applies none of it: identity, or a deterministic centre crop.

Everything random takes a ``numpy.random.Generator`` (the engine's per-step generator), so
batches are a pure function of (seed, step).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from studio.data import ImageBank
from studio.deblur import degradation as blur_degradation
from studio.imageio import list_images, load_image, quantize


# ---- joint augmentation -----------------------------------------------------------------------

def _gray(image: np.ndarray) -> np.ndarray:
    return image[..., 0] * 0.299 + image[..., 1] * 0.587 + image[..., 2] * 0.114


def mirror_pad_array(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Pad an HxWxC array at the bottom/right to at least (height, width) by mirroring."""
    pad_h, pad_w = max(0, height - image.shape[0]), max(0, width - image.shape[1])
    if not pad_h and not pad_w:
        return image
    return np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode="symmetric")


def center_crop(image: np.ndarray, size: int) -> np.ndarray:
    image = mirror_pad_array(image, size, size)
    top, left = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
    return image[top:top + size, left:left + size]


def color_jitter(image: np.ndarray, brightness: float, contrast: float, saturation: float,
                 contrast_pivot: float) -> np.ndarray:
    """Brightness x b, contrast around ``contrast_pivot`` x c, saturation x s; clipped to [0, 1]."""
    out = image * brightness
    out = (out - contrast_pivot * brightness) * contrast + contrast_pivot * brightness
    gray = _gray(out)[..., None]
    out = gray + (out - gray) * saturation
    return np.clip(out, 0, 1).astype(np.float32)


@dataclass
class JointTransform:
    """Identical geometric + colour augmentation of a (blurred, sharp) pair; none when not training."""

    train: bool
    crop: int | None = 256
    flips: bool = True
    rot90: bool = True
    jitter: float = 0.15

    def __call__(self, blurred: np.ndarray, sharp: np.ndarray, rng: np.random.Generator | None = None
                 ) -> tuple[np.ndarray, np.ndarray, dict]:
        if blurred.shape != sharp.shape:
            raise ValueError(f"blurred {blurred.shape} and sharp {sharp.shape} images differ in size")
        if not self.train:
            if self.crop:
                return center_crop(blurred, self.crop), center_crop(sharp, self.crop), {"center_crop": self.crop}
            return blurred, sharp, {}
        if rng is None:
            raise ValueError("training augmentation needs a numpy Generator (rng)")
        params: dict = {}
        if self.crop:
            blurred = mirror_pad_array(blurred, self.crop, self.crop)
            sharp = mirror_pad_array(sharp, self.crop, self.crop)
            top = int(rng.integers(blurred.shape[0] - self.crop + 1))
            left = int(rng.integers(blurred.shape[1] - self.crop + 1))
            blurred = blurred[top:top + self.crop, left:left + self.crop]
            sharp = sharp[top:top + self.crop, left:left + self.crop]
            params["crop"] = (top, left, self.crop)
        if self.flips:
            params["hflip"], params["vflip"] = bool(rng.random() < 0.5), bool(rng.random() < 0.5)
            if params["hflip"]:
                blurred, sharp = blurred[:, ::-1], sharp[:, ::-1]
            if params["vflip"]:
                blurred, sharp = blurred[::-1], sharp[::-1]
        if self.rot90:
            # Turns a left-right motion blur into an up-down one: the logbook's key augmentation.
            params["rot90"] = int(rng.integers(4))
            blurred, sharp = np.rot90(blurred, params["rot90"]), np.rot90(sharp, params["rot90"])
        if self.jitter > 0:
            factors = rng.uniform(1 - self.jitter, 1 + self.jitter, size=3)
            pivot = float(_gray(sharp).mean())  # one pivot for both images: strictly synchronised
            params.update(brightness=float(factors[0]), contrast=float(factors[1]), saturation=float(factors[2]))
            blurred = color_jitter(blurred, *factors, contrast_pivot=pivot)
            sharp = color_jitter(sharp, *factors, contrast_pivot=pivot)
        return (np.ascontiguousarray(blurred, dtype=np.float32), np.ascontiguousarray(sharp, dtype=np.float32),
                params)


def to_batch(arrays: list[np.ndarray]) -> torch.Tensor:
    """List of HxWx3 float arrays -> (B, 3, H, W) float32 tensor."""
    return torch.from_numpy(np.stack(arrays).astype(np.float32)).permute(0, 3, 1, 2).contiguous()


# ---- GoPro-layout pairs, split by sequence ------------------------------------------------------

def find_sequences(root, blur_dir: str = "blur", sharp_dir: str = "sharp") -> dict[str, list[tuple[Path, Path]]]:
    """``{sequence id: [(blurred, sharp), ...]}`` for every folder holding ``blur_dir`` and ``sharp_dir``.

    Sequences are ``<root>/<seq>`` or ``<root>/<split>/<seq>`` (GoPro_Large's train/test); the id is
    the path relative to ``root``. Frames are paired by file name; unpaired frames are ignored.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a folder")
    sequences = {}
    candidates = [p for p in sorted(root.iterdir()) if p.is_dir()]
    candidates += [q for p in candidates for q in sorted(p.iterdir()) if q.is_dir()]
    for folder in candidates:
        blur_folder, sharp_folder = folder / blur_dir, folder / sharp_dir
        if not (blur_folder.is_dir() and sharp_folder.is_dir()):
            continue
        sharp_by_name = {p.name: p for p in list_images(sharp_folder)}
        frames = [(p, sharp_by_name[p.name]) for p in list_images(blur_folder) if p.name in sharp_by_name]
        if frames:
            sequences[folder.relative_to(root).as_posix()] = frames
    if not sequences:
        raise FileNotFoundError(f"no <sequence>/{blur_dir} + <sequence>/{sharp_dir} folders with paired frames in {root}")
    return sequences


def split_by_sequence(sequence_ids, val_fraction: float = 0.1, seed: int = 42) -> tuple[list[str], list[str]]:
    """Shuffle the sequence names with ``seed`` and hold out ~``val_fraction`` of them (at least one)."""
    ids = sorted(set(sequence_ids))
    if len(ids) < 2:
        raise ValueError(f"a split by sequence needs at least 2 sequences, got {len(ids)}")
    order = np.random.default_rng(seed).permutation(len(ids))
    count = min(len(ids) - 1, max(1, int(round(len(ids) * val_fraction))))
    val = sorted(ids[i] for i in order[:count])
    train = sorted(ids[i] for i in order[count:])
    return train, val


def pool_split(folders, seed: int, val_fraction: float = 0.1) -> tuple[list[Path], list[Path]]:
    """The images of ``folders`` pooled and split by image (their stems shuffled with ``seed``,
    ~``val_fraction`` held out): (train paths, validation paths). Two seeds give two splits of one
    pool, the experiment of the logbook's run #4 lesson (the same model scores differently on them)."""
    paths = {p.stem: p for folder in folders for p in list_images(folder)}
    train, val = split_by_sequence(list(paths), val_fraction, seed)
    return [paths[s] for s in train], [paths[s] for s in val]


class GoProPairs:
    """Blurred/sharp frame pairs of one side ("train" or "val") of a split by sequence."""

    def __init__(self, root, split: str = "train", val_fraction: float = 0.1, seed: int = 42,
                 blur_dir: str = "blur", sharp_dir: str = "sharp"):
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        self.root, self.split = Path(root), split
        sequences = find_sequences(root, blur_dir, sharp_dir)
        train, val = split_by_sequence(sequences, val_fraction, seed)
        self.sequences = train if split == "train" else val
        self.pairs = [pair for seq in self.sequences for pair in sequences[seq]]
        self.sequence_of = {pair[0]: seq for seq in self.sequences for pair in sequences[seq]}

    def __len__(self) -> int:
        return len(self.pairs)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        blurred_path, sharp_path = self.pairs[index]
        blurred, sharp = load_image(blurred_path), load_image(sharp_path)
        if blurred.shape != sharp.shape:
            raise ValueError(f"{blurred_path} and {sharp_path} differ in size")
        return blurred, sharp

    def sample(self, rng: np.random.Generator, transform: JointTransform) -> tuple[np.ndarray, np.ndarray, dict]:
        index = int(rng.integers(len(self.pairs)))
        blurred, sharp, params = transform(*self.load(index), rng)
        return blurred, sharp, dict(params, frame=str(self.pairs[index][0].relative_to(self.root)))


# ---- synthetic blur of real photos --------------------------------------------------------------

@dataclass
class SyntheticBlur:
    """Training pairs made from sharp photos with train-stream kernels (see ``KERNEL_SPLIT``)."""

    bank: ImageBank
    crop: int = 256
    max_kernel: int = blur_degradation.MAX_KERNEL
    max_noise: float = blur_degradation.TRAIN_MAX_NOISE
    levin_probability: float = 0.0
    info: dict = field(default_factory=lambda: dict(blur_degradation.KERNEL_SPLIT))

    def sample(self, rng: np.random.Generator, transform: JointTransform) -> tuple[np.ndarray, np.ndarray, dict]:
        """A blurred/sharp crop pair and its parameters: kernel, noise, augmentation."""
        kernel, kernel_params = blur_degradation.train_kernel(rng, self.max_kernel, self.levin_probability)
        size, crop = kernel.shape[0], (transform.crop or self.crop)
        image = self.bank.images[int(rng.integers(len(self.bank)))]
        image = mirror_pad_array(image, crop + size - 1, crop + size - 1)
        top = int(rng.integers(image.shape[0] - (crop + size - 1) + 1))
        left = int(rng.integers(image.shape[1] - (crop + size - 1) + 1))
        region = image[top:top + crop + size - 1, left:left + crop + size - 1].astype(np.float32) / 255.0
        radius = size // 2
        sharp = region[radius:radius + crop, radius:radius + crop]
        blurred = blur_degradation.blur_valid(region, kernel)
        # The random crop happened above (with the kernel's margin); the transform adds the rest.
        blurred, sharp, params = transform(blurred, sharp, rng)
        sigma = float(rng.uniform(0, self.max_noise)) if self.max_noise > 0 else 0.0
        blurred = quantize(blur_degradation.add_noise(blurred, sigma, rng))
        return blurred, sharp, dict(params, kernel=kernel_params, noise_sigma=sigma)


def sample_pairs(source, transform: JointTransform, rng: np.random.Generator, count: int
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """A training batch: (blurred, sharp) tensors of shape (count, 3, crop, crop)."""
    blurred, sharp = [], []
    for _ in range(count):
        b, s, _ = source.sample(rng, transform)
        blurred.append(b)
        sharp.append(s)
    return to_batch(blurred), to_batch(sharp)


def synthetic_validation_set(folder, count: int = 8, crop: int = 128,
                             noise_sigma: float = blur_degradation.EVAL_NOISE_SIGMA) -> list[dict]:
    """Fixed validation pairs: centre crops of the first ``count`` images of ``folder`` (or of a list of
    image paths), each blurred
    with validation kernel ``i % 8`` (never a training or evaluation kernel) and fixed-seed noise."""
    kernels = blur_degradation.validation_kernels()
    items = []
    paths = list(folder) if isinstance(folder, (list, tuple)) else list_images(folder)
    for i, path in enumerate(paths[:count]):
        name, kernel = kernels[i % len(kernels)]
        size = kernel.shape[0]
        region = center_crop(load_image(path), crop + size - 1)
        radius = size // 2
        sharp = np.ascontiguousarray(region[radius:radius + crop, radius:radius + crop])
        blurred = blur_degradation.blur_valid(region, kernel)
        rng = np.random.default_rng([blur_degradation.VAL_STREAM, 1000 + i])
        blurred = quantize(blur_degradation.add_noise(blurred, noise_sigma, rng))
        items.append({"name": path.stem, "blurred": blurred, "sharp": sharp, "kernel": name})
    if not items:
        raise FileNotFoundError(f"no validation images in {folder}")
    return items


def gopro_validation_set(pairs: GoProPairs, count: int = 16, crop: int | None = 256) -> list[dict]:
    """Up to ``count`` validation frames spread evenly over the held-out sequences, centre-cropped."""
    if len(pairs) == 0:
        raise ValueError("the validation split is empty")
    picks = np.unique(np.linspace(0, len(pairs) - 1, num=min(count, len(pairs))).round().astype(int))
    transform = JointTransform(train=False, crop=crop)
    items = []
    for index in picks:
        blurred, sharp, _ = transform(*pairs.load(int(index)))
        items.append({"name": pairs.pairs[index][0].stem, "blurred": blurred, "sharp": sharp, "kernel": "real"})
    return items
