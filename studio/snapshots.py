"""Training snapshots: what a model outputs on a few fixed validation crops at every validation.

A family names its crops once (``SnapshotCrop``: a validation image, a box, the model's input made
from it); ``SnapshotWriter`` keeps, under ``<run>/snapshots/``:

* ``crops.json`` -- the family and each crop's source image and box (the same for every run of a family);
* ``input/<crop>.png`` and ``target/<crop>.png`` -- written once (an SR input is shown at the output's
  size, nearest-neighbour, so every image of a crop has one size);
* ``step_<step>/<crop>.png`` -- the output at each validation, lossless;
* ``snapshots.csv`` -- step, crop, PSNR against the target, file.

A resumed run drops the steps after its checkpoint and rewrites them, so no step is written twice or
lost. When a run's folder would pass ``SNAPSHOT_MAX_MB``, every other kept step is deleted (the first
and the last stay), so a long run keeps its whole course at a coarser interval (said once).
``read_snapshots`` is the reading side (torch-free, for the dashboard and the studio): it names a
missing or unreadable file instead of failing.
"""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from studio.imageio import ImageLoadError, load_image, quantize, save_png
from studio.metrics import psnr

SNAPSHOT_DIR = "snapshots"
CSV_NAME = "snapshots.csv"
#: most megabytes of snapshots one run keeps (what one validation adds: ``bytes_per_snapshot`` in
#: results/bench/snapshots.csv, ``python -m benchmarks.bench_snapshots``)
SNAPSHOT_MAX_MB = 3.0


@dataclass(frozen=True)
class SnapshotCrop:
    """One fixed crop: its name, where it comes from, the model's input and the target."""

    name: str
    source: str  # the validation image's file name
    box: tuple[int, int, int]  # top, left, size in target pixels
    input: np.ndarray = field(repr=False, compare=False)
    target: np.ndarray = field(repr=False, compare=False)


def step_folder(step: int) -> str:
    return f"step_{int(step):07d}"


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _shown_input(crop: SnapshotCrop) -> np.ndarray:
    """The input at the target's size (nearest-neighbour: an LR input's pixels stay visible)."""
    image = crop.input
    if image.shape[:2] == crop.target.shape[:2]:
        return image
    rows = np.arange(crop.target.shape[0]) * image.shape[0] // crop.target.shape[0]
    cols = np.arange(crop.target.shape[1]) * image.shape[1] // crop.target.shape[1]
    return image[rows][:, cols]


class SnapshotWriter:
    """Writes one run's snapshots (see the module docstring). ``start`` once, then ``write`` per validation."""

    def __init__(self, run_dir, family: str, crops: list[SnapshotCrop], max_mb: float = SNAPSHOT_MAX_MB):
        if not crops:
            raise ValueError("a snapshot writer needs at least one crop")
        names = [c.name for c in crops]
        if len(set(names)) != len(names):
            raise ValueError(f"snapshot crop names repeat: {names}")
        self.folder = Path(run_dir) / SNAPSHOT_DIR
        self.family, self.crops, self.max_bytes = family, list(crops), int(max_mb * 1024 * 1024)
        self.thinned = False

    @property
    def csv_path(self) -> Path:
        return self.folder / CSV_NAME

    def _rows(self) -> list[dict]:
        if not self.csv_path.is_file():
            return []
        with self.csv_path.open(newline="") as handle:
            return list(csv.DictReader(handle))

    def _write_rows(self, rows: list[dict]) -> None:
        temporary = self.csv_path.with_suffix(".tmp")
        with temporary.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, ["step", "crop", "psnr", "file"])
            writer.writeheader()
            writer.writerows(rows)
        temporary.replace(self.csv_path)

    def start(self, resume_step: int | None = None) -> None:
        """Write the crops' record, inputs and targets; on a resume, forget the steps after ``resume_step``."""
        self.folder.mkdir(parents=True, exist_ok=True)
        record = {"family": self.family,
                  "crops": [{"name": c.name, "source": c.source, "box": list(c.box)} for c in self.crops]}
        (self.folder / "crops.json").write_text(json.dumps(record, indent=2) + "\n")
        for crop in self.crops:
            save_png(_shown_input(crop), self.folder / "input" / f"{crop.name}.png")
            save_png(crop.target, self.folder / "target" / f"{crop.name}.png")
        kept = [r for r in self._rows() if resume_step is not None and int(r["step"]) <= resume_step]
        steps = {int(r["step"]) for r in kept}
        for path in self.folder.glob("step_*"):
            if path.is_dir() and (resume_step is None or int(path.name[5:]) not in steps):
                shutil.rmtree(path)  # a fresh run, or a step after the checkpoint: it will be written again
        self._write_rows(kept)

    def _thin(self, rows: list[dict], room: int) -> list[dict]:
        """Delete every other step (the first and the last kept) until ``room`` bytes are free."""
        while _folder_bytes(self.folder) + room > self.max_bytes:
            steps = sorted({int(r["step"]) for r in rows})
            if len(steps) <= 2:
                break
            dropped = set(steps[1:-1:2])
            for step in dropped:
                shutil.rmtree(self.folder / step_folder(step), ignore_errors=True)
            rows = [r for r in rows if int(r["step"]) not in dropped]
            if not self.thinned:
                self.thinned = True
                print(f"snapshots: {self.folder} reached its {self.max_bytes / 2**20:.3g} MB cap; every other "
                      "earlier step is removed when it fills again (the first and the last stay)")
        return rows

    def write(self, step: int, outputs: dict[str, np.ndarray]) -> bool:
        """Save the outputs of validation ``step`` (crop name -> image), thinning older steps to stay
        under the cap; False when even that leaves no room (a cap smaller than three validations)."""
        missing = [c.name for c in self.crops if c.name not in outputs]
        if missing:
            raise ValueError(f"snapshot of step {step}: no output for crop(s) {missing}")
        folder = self.folder / step_folder(step)
        images = {c.name: quantize(np.clip(outputs[c.name], 0, 1)) for c in self.crops}
        estimate = sum(image.size for image in images.values())  # a PNG of a photo is rarely larger than raw
        rows = self._thin([r for r in self._rows() if int(r["step"]) != step], estimate)
        if _folder_bytes(self.folder) + estimate > self.max_bytes:
            self._write_rows(rows)
            return False
        for crop in self.crops:
            path = save_png(images[crop.name], folder / f"{crop.name}.png")
            rows.append({"step": int(step), "crop": crop.name, "psnr": f"{psnr(images[crop.name], crop.target):.4f}",
                         "file": str(path.relative_to(self.folder))})
        self._write_rows(sorted(rows, key=lambda r: (int(r["step"]), r["crop"])))
        return True


# ---- reading -------------------------------------------------------------------------------------

@dataclass
class RunSnapshots:
    """One run's snapshots as read from disk; ``problems`` names what could not be read."""

    run: str
    family: str
    crops: list[str]
    steps: list[int]
    psnr: dict[tuple[int, str], float]
    files: dict[tuple[int, str], Path]
    folder: Path
    problems: list[str] = field(default_factory=list)

    def image(self, kind: str, crop: str, step: int | None = None) -> np.ndarray | None:
        """An image (``kind`` "output" at ``step``, "input" or "target"), or None with a problem noted."""
        path = self.files.get((step, crop)) if kind == "output" else self.folder / kind / f"{crop}.png"
        if path is None:
            self.problems.append(f"{self.run}: no snapshot of {crop} at step {step}")
            return None
        try:
            return load_image(path)
        except (ImageLoadError, OSError) as err:
            self.problems.append(f"{self.run}: {path.name} ({kind} of {crop}) could not be read: {err}")
            return None


def read_snapshots(run_dir) -> RunSnapshots | None:
    """The snapshots of ``run_dir``, or None when it has none. Bad rows and files are named in
    ``problems``, and the readable rest is returned."""
    run_dir = Path(run_dir)
    folder = run_dir / SNAPSHOT_DIR
    if not (folder / CSV_NAME).is_file():
        return None
    problems: list[str] = []
    family, crops = "", []
    try:
        record = json.loads((folder / "crops.json").read_text())
        family, crops = str(record["family"]), [str(c["name"]) for c in record["crops"]]
    except (OSError, ValueError, KeyError, TypeError) as err:
        problems.append(f"{run_dir.name}: crops.json is missing or malformed ({type(err).__name__}: {err})")
    scores, files = {}, {}
    try:
        with (folder / CSV_NAME).open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, csv.Error, UnicodeDecodeError) as err:
        problems.append(f"{run_dir.name}: {CSV_NAME} could not be read ({err})")
        rows = []
    for number, row in enumerate(rows, start=2):
        try:
            key = (int(row["step"]), str(row["crop"]))
            value = float(row["psnr"])
            path = folder / str(row["file"])
        except (KeyError, TypeError, ValueError):
            problems.append(f"{run_dir.name}: {CSV_NAME} line {number} is malformed; skipped")
            continue
        if not path.is_file():
            problems.append(f"{run_dir.name}: {row['file']} is listed but missing")
            continue
        scores[key], files[key] = value, path
        if key[1] not in crops:
            crops.append(key[1])
    steps = sorted({step for step, _ in files})
    return RunSnapshots(run_dir.name, family, crops, steps, scores, files, folder, problems)


def nearest_step(steps: list[int], step: int) -> int | None:
    """The logged step closest to ``step`` (the earlier one on a tie); None when there is none."""
    if not steps:
        return None
    return min(steps, key=lambda s: (abs(s - step), s))
