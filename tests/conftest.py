"""Shared test fixtures. Tests run on one thread: CI machines have two cores, and the suite
must stay deterministic and quick.

The suite stands on the repository alone: images come from what it ships (``data/samples``,
``data/kernels``) or are generated. The few tests that check a published figure on a benchmark
folder (``benchmark_set("set5")``) run where the datasets are present and skip, saying which folder
is missing, where they are not."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
torch.set_num_threads(1)

DATASETS = Path(os.environ.get("STUDIO_DATASETS", ROOT.parent / "shared" / "datasets"))
SAMPLES = ROOT / "data" / "samples"
SHIPPED_KERNELS = ROOT / "data" / "kernels" / "levin09_kernels.npz"
#: shipped sample photos copied into the ``photos`` folder, under these stems (sorted: the first is the largest)
PHOTOS = {"astronaut": "skimage_astronaut.png", "bird": "set5_bird.png", "butterfly": "set5_butterfly.png",
          "comic": "set14_comic.png"}


def _missing(folder: Path) -> str:
    return (f"needs the benchmark folder {folder}, absent here (STUDIO_DATASETS or ../shared/datasets; "
            "`python -m studio.data check` says where it comes from)")


@pytest.fixture(scope="session")
def datasets() -> Path:
    """The datasets root; the test skips where it is absent."""
    if not DATASETS.is_dir():
        pytest.skip(_missing(DATASETS))
    return DATASETS


@pytest.fixture(scope="session")
def benchmark_set():
    """``benchmark_set("set5")``: that folder of the datasets root, or a skip that names it."""

    def get(name: str) -> Path:
        folder = DATASETS / name
        if not folder.is_dir():
            pytest.skip(_missing(folder))
        return folder

    return get


@pytest.fixture(scope="session")
def photos(tmp_path_factory) -> Path:
    """A small folder of real photos, the repository's own samples (256-512 px): astronaut, bird,
    butterfly, comic. Stands in for a benchmark folder in training and evaluation tests."""
    folder = tmp_path_factory.mktemp("samples") / "photos"
    folder.mkdir()
    for stem, name in PHOTOS.items():
        shutil.copyfile(SAMPLES / name, folder / f"{stem}.png")
    return folder


@pytest.fixture(scope="session")
def levin_like(tmp_path_factory) -> Path:
    """A folder laid out as levin2009 (``sharp/im_X.png``, ``blurred/im_X_ker_Y.png``, 255x255 gray),
    made from two shipped photos blurred with the 8 shipped Levin kernels and rounded to 8 bits."""
    from studio.deblur import degradation as B
    from studio.imageio import load_image, quantize, save_png

    root = tmp_path_factory.mktemp("bench") / "levin2009"
    kernels = B.load_levin_kernels(SHIPPED_KERNELS)
    for index, name in enumerate(("skimage_astronaut.png", "skimage_coffee.png"), start=1):
        gray = load_image(SAMPLES / name, mode="L")[:255, :255]
        save_png(gray, root / "sharp" / f"im_{index}.png")
        for k in range(1, 9):
            save_png(quantize(B.blur(gray, kernels[f"k{k}"])), root / "blurred" / f"im_{index}_ker_{k}.png")
    return root


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
