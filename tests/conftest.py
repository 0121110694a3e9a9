"""Shared test fixtures. Tests run on one thread: CI machines have two cores, and the suite
must stay deterministic and quick."""

from __future__ import annotations

import os
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


@pytest.fixture(scope="session")
def datasets() -> Path:
    if not DATASETS.is_dir():
        pytest.fail(f"the shared datasets folder is missing: {DATASETS} (set STUDIO_DATASETS)")
    return DATASETS


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
