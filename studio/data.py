"""Training data shared by the families: folders of real images held in memory, random crops.

Images are decoded once into uint8 arrays (the 400 BSDS500 + 91 T91 images in a quarter of
float32's memory), and every batch is cut from them with a caller-supplied numpy generator, so
batches are a pure function of the seed and the step.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from studio.imageio import IMAGE_SUFFIXES, ImageLoadError, list_images, load_image, to_uint8

# The shared datasets live beside the repository (../shared/datasets); STUDIO_DATASETS overrides.
DATASETS = Path(os.environ.get("STUDIO_DATASETS", Path(__file__).resolve().parents[2] / "shared" / "datasets"))


def display_path(path) -> str:
    """A dataset folder as the README names it (../shared/datasets/...), for cards and logs."""
    path = Path(path).resolve()
    try:
        return str(Path("../shared/datasets") / path.relative_to(DATASETS.resolve()))
    except ValueError:
        return str(path)


def display_argv(argv) -> list[str]:
    """A command line with every dataset folder shown as ``display_path`` does (for cards)."""
    shown = []
    for token in argv:
        text = str(token)
        inside = text.startswith("/") and Path(text).resolve().is_relative_to(DATASETS.resolve())
        shown.append(display_path(text) if inside else text)
    return shown


class ImageBank:
    """All images of some folders, as uint8 HxWx3 arrays, at least ``min_side`` on each side."""

    def __init__(self, folders, min_side: int = 0, exclude_stems=(), progress: bool = True):
        self.images: list[np.ndarray] = []
        self.names: list[str] = []
        files = [p for folder in ([folders] if isinstance(folders, (str, Path)) else folders)
                 for p in list_images(folder)]
        exclude = set(exclude_stems)
        skipped = []
        for path in tqdm(files, desc="loading images", disable=not progress, leave=False):
            if path.stem in exclude:
                continue
            try:
                image = to_uint8(load_image(path))
            except ImageLoadError as err:
                skipped.append(str(err))
                continue
            if min(image.shape[:2]) < min_side:
                skipped.append(f"{path}: smaller than {min_side} px")
                continue
            self.images.append(image)
            self.names.append(path.stem)
        if not self.images:
            raise ValueError(f"no usable images (at least {min_side} px per side) in {folders}; skipped: {skipped[:3]}")
        self.skipped = skipped

    def __len__(self) -> int:
        return len(self.images)

    def random_crops(self, rng: np.random.Generator, count: int, size: int, augment: bool = True) -> torch.Tensor:
        """(count, 3, size, size) float tensor in [0, 1], with random flips and 90° rotations."""
        import torch  # here: `python -m studio.data check` should not wait for torch to load

        patches = np.empty((count, size, size, 3), dtype=np.uint8)
        for i in range(count):
            image = self.images[rng.integers(len(self.images))]
            top = rng.integers(image.shape[0] - size + 1)
            left = rng.integers(image.shape[1] - size + 1)
            patch = image[top:top + size, left:left + size]
            if augment:
                if rng.random() < 0.5:
                    patch = patch[:, ::-1]
                patch = np.rot90(patch, k=int(rng.integers(4)))
            patches[i] = patch
        return torch.from_numpy(patches).permute(0, 3, 1, 2).float().div_(255.0)


class MissingDataset(SystemExit):
    """A command's data folder is absent: one line that names it and how to check them all."""


def has_images(folder, depth: int = 3) -> bool:
    """Whether ``folder`` holds an image, directly or in sub-folders down to ``depth`` levels (the
    folder-per-class layout of the classifiers, GoPro's ``<sequence>/blur``); stops at the first one."""
    level = [Path(folder)]
    for _ in range(depth + 1):
        below = []
        for path in level:
            try:
                entries = list(os.scandir(path))
            except OSError:
                continue
            for entry in entries:
                if entry.is_file() and Path(entry.name).suffix.lower() in IMAGE_SUFFIXES:
                    return True
                if entry.is_dir():
                    below.append(Path(entry.path))
        level = sorted(below)
    return False


def require_dataset(folder, option: str = "--data") -> Path:
    """``folder`` if it holds images (directly or in class/sequence sub-folders, see ``has_images``);
    otherwise stop with one clear line that names it and the dataset check (no traceback)."""
    path = Path(folder)
    if not path.is_dir() or not has_images(path):
        from studio.data_sources import dataset_of

        known = dataset_of(path)
        named = f"missing dataset folder: {known.name}" if known else "missing dataset folder"
        raise MissingDataset(f"error: {option}: no images in {path} ({named}); "
                             "run `python -m studio.data check` to see what each command needs and where it comes from")
    return path


if __name__ == "__main__":
    from studio.data_sources import main

    raise SystemExit(main())
