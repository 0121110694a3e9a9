"""The sample photos the studio ships (``data/samples``), what each one is, and which tabs offer it.

Torch-free. Provenance of every file is in ``data/samples/PROVENANCE.md``; this list only says how
the app presents them: a clean photo (degrade it, then score the restorations against it) or an
already degraded one (a real blurred frame: no ground truth, no-reference mode).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLES_DIR = ROOT / "data" / "samples"


@dataclass(frozen=True)
class Sample:
    file: str  # relative to data/samples
    title: str
    degraded: bool = False  # True: a real degraded photo (no ground truth)
    tasks: tuple[str, ...] = ("sr", "deblur", "restoration")

    @property
    def path(self) -> Path:
        return SAMPLES_DIR / self.file


SAMPLES: tuple[Sample, ...] = (
    Sample("set5_butterfly.png", "Set5 butterfly"),
    Sample("set5_bird.png", "Set5 bird"),
    Sample("set14_comic.png", "Set14 comic"),
    Sample("bsds500_val_108005.png", "BSDS500 val 108005"),
    Sample("bsds500_val_253027.png", "BSDS500 val 253027"),
    Sample("skimage_astronaut.png", "astronaut (scikit-image)"),
    Sample("skimage_chelsea.png", "chelsea (scikit-image)"),
    Sample("skimage_coffee.png", "coffee (scikit-image)"),
    Sample("skimage_rocket.png", "rocket (scikit-image)"),
    Sample("real_blur/gopro_seq_id11_frame1.png", "GoPro frame: real camera shake", True, ("deblur",)),
    Sample("real_blur/gopro_seq_id3_frame1.png", "GoPro frame: real camera shake", True, ("deblur",)),
    Sample("real_blur/lai2016_bridge.jpg", "Lai et al. 2016: real blurred photo", True, ("deblur",)),
    Sample("real_blur/lai2016_book1.jpg", "Lai et al. 2016: real blurred text", True, ("deblur",)),
    Sample("real_blur/skimage_clock_motion.png", "clock with real motion blur (scikit-image)", True, ("deblur",)),
)


def samples_for(task: str) -> list[Sample]:
    """The samples a task's tab offers (present files only), clean photos first."""
    return [s for s in SAMPLES if task in s.tasks and s.path.is_file()]


def clean_sample_paths() -> list[Path]:
    """The clean photos: the benchmark images the repository ships (the Benchmark tab's recompute)."""
    return [s.path for s in SAMPLES if not s.degraded and s.path.is_file()]


def file_digest(path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@lru_cache(maxsize=1)
def sample_digests() -> dict[str, str]:
    """sha1 of each shipped sample -> its file name (to recognise a sample re-uploaded by a client)."""
    return {file_digest(s.path): s.file for s in SAMPLES if s.path.is_file()}
