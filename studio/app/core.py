"""The studio's comparison engine, behind ``app.py``: one code path for every task of ``studio.tasks``.

A comparison takes a photo and a mode:

* **clean** -- the photo is the ground truth: the task's degradation (with the user's controls and
  seed) makes the input, every chosen model restores it, and each output is scored against the
  photo (PSNR/SSIM, the gain over the input, runtime);
* **no reference** -- the photo is already degraded (a real blurred frame): every model restores it,
  and nothing is scored, because there is nothing to score against.

Each run is kept (a bounded number of them) with its images written as lossless PNG in its own
folder, so the follow-up views -- the two-image slider, zoomed crops, the download -- read the
same pixels the grid shows; once its views are drawn, a run's pixels live only in those PNGs (a
kept run costs no memory), and the run folders are pruned by age and size (``studio.app.limits``).
Models are loaded on first use and cached; models without shipped weights are never run (they are
listed as "not trained in this checkout").
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import tempfile
import threading
import time
import uuid
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from studio.restoration import chain
from studio.app import limits as app_limits, views as app_views
from studio.app.samples import file_digest, sample_digests
from studio.checkpoint import CheckpointError
from studio.deblur.deconvolution import DeconvolutionError, shared_estimates
from studio.deblur.interface import needs_true_kernel
from studio.deblur.views import KernelPanel, configured, user_max_kernel
from studio.imageio import ImageLoadError, load_image, quantize
from studio.inference import resolve_precision, run_model
from studio.metrics import psnr, sharpness, ssim
from studio.registry import get_entry, list_models
from studio.resize import imresize_to
from studio.results import bf16_note
from studio.tasks import MissingInput, ParamError, get_task, parse_number, parse_seed

MODE_CLEAN = "Clean photo: degrade it, restore it, score against it"
MODE_NO_REFERENCE = "Already degraded photo: restore only (no reference, so no scores)"
MODES = (MODE_CLEAN, MODE_NO_REFERENCE)
#: what is done with a degraded photo whose output would pass ``MAX_WORK_PIXELS``
LARGE_DOWNSCALE, LARGE_CROP = "downscale it whole", "crop its centre"
LARGE_CHOICES = (LARGE_DOWNSCALE, LARGE_CROP)
#: output pixels above which a clean photo is downscaled first, and a degraded one is refused
#: (1280x860: a GoPro frame fits; every model then answers in seconds on two CPU cores)
MAX_WORK_PIXELS = 1_100_000
#: smallest side of a clean photo (SSIM needs 7x7 pixels after the border crop)
MIN_CLEAN_SIDE = 32
#: precision of the learned models in a comparison: bf16 autocast where the CPU has it natively
#: (``studio.inference.native_bf16``), else fp32; the best/worst views re-run CSV rows in fp32
PRECISION = os.environ.get("STUDIO_PRECISION", "auto")
#: runs kept for the follow-up views (slider, crops, download); older ones are deleted
MAX_RUNS = 24
RUN_ROOT = Path(os.environ.get("STUDIO_RUN_DIR") or Path(tempfile.gettempdir()) / "restoration-studio" / "runs")
#: the zoomed-crop region sizes offered (px)
CROP_SIZES = (16, 256)


class StudioError(ValueError):
    """Something the user can fix (bad file, empty selection, too large): the message says what."""


def configure_threads() -> int:
    """torch's intra-op threads for the app: ``STUDIO_THREADS`` if set, else half the cores (1 on a
    2-core laptop or Space, 4 at most), unless ``OMP_NUM_THREADS`` already chose.

    On the 2-core machine of this repository, while a training run shared it, a 256x256 comparison
    of the four SR networks was several times slower with 2 threads than with 1 (OpenMP threads
    waiting on a busy core; ``python -m benchmarks.bench_app`` with ``STUDIO_THREADS`` set times both).
    One thread also leaves a core to the web server and the browser, which encode and draw the
    results meanwhile.
    """
    import torch

    wanted = os.environ.get("STUDIO_THREADS")
    if wanted:
        threads = max(1, int(wanted))
    elif os.environ.get("OMP_NUM_THREADS"):
        return torch.get_num_threads()
    else:
        threads = max(1, min(4, (os.cpu_count() or 2) // 2))
    torch.set_num_threads(threads)
    return threads


def headline(task: str) -> tuple[str, str, str, str]:
    """(metric, SSIM metric, their labels) the task reports first (``studio.tasks.Headline``)."""
    h = get_task(task).headline
    return h.metric, h.ssim, h.label, h.ssim_label


# ---- models ------------------------------------------------------------------------------------

@dataclass
class ModelStatus:
    name: str
    task: str
    learned: bool  # the registry's split (``ModelEntry.learned``)
    available: bool
    needs_kernel: bool
    reason: str = ""

    @property
    def kind(self) -> str:
        return "learned" if self.learned else "classical"


def model_statuses(task: str) -> list[ModelStatus]:
    """Every registered model of ``task``, and whether this checkout can run it (cheap: no loading)."""
    statuses = []
    for name in list_models(task):
        entry = get_entry(name)
        needs_kernel = needs_true_kernel(entry.builder)
        if entry.has_weights:  # classical, or its weights are shipped
            statuses.append(ModelStatus(name, task, entry.learned, True, needs_kernel))
        else:
            from studio.app.model_cards import status

            statuses.append(ModelStatus(name, task, entry.learned, False, needs_kernel, status(name)))
    return statuses


def available_models(task: str) -> list[str]:
    return [s.name for s in model_statuses(task) if s.available]


_load_lock = threading.Lock()


@lru_cache(maxsize=None)
def _load(task: str, name: str, scale: int):
    from studio.evaluation import load_for_task

    return load_for_task(name, task, scale)


def load_model(task: str, name: str, scale: int = 4):
    """The model, built and loaded on first use, then cached (one copy per task/scale)."""
    with _load_lock:
        return _load(task, name, int(scale))


# ---- inputs ------------------------------------------------------------------------------------

def read_upload(path) -> tuple[np.ndarray, list[str]]:
    """The image of an uploaded file and notes on what was done to it; ``StudioError`` if unusable."""
    if not path:
        raise StudioError("Pick a sample photo or upload an image first.")
    path = Path(path)
    try:
        image = load_image(path, max_pixels=app_limits.max_upload_pixels())
    except ImageLoadError as err:
        raise StudioError(f"This file cannot be used: {str(err).replace(str(path), path.name)}") from None
    notes = []
    try:
        with Image.open(path) as probe:
            mode, size = probe.mode, probe.size
            transparent = mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in probe.info)
    except Exception:  # load_image already succeeded; the notes are a courtesy
        mode, size, transparent = "", None, False
    if transparent:
        notes.append("the image has transparency: transparent areas were composited on white")
    if mode.startswith("I;16") or mode == "I":
        notes.append("16-bit image: read at full precision; the models and the PNG outputs work in 8 bits")
    if mode in ("L", "1", "LA", "I;16", "I;16B", "I;16L", "I"):
        notes.append("grayscale image: shown and processed as RGB with three equal channels")
    if mode == "CMYK":
        notes.append("CMYK image: converted to RGB")
    if size is not None and tuple(size) != (image.shape[1], image.shape[0]):
        notes.append("rotated upright as its EXIF orientation says")
    return image, notes


def describe_image(image: np.ndarray) -> str:
    return f"{image.shape[1]}×{image.shape[0]} px"


def _downscale_to(image: np.ndarray, max_pixels: int) -> np.ndarray:
    height, width = image.shape[:2]
    factor = math.sqrt(max_pixels / (height * width))
    return quantize(np.clip(imresize_to(image, max(1, int(height * factor)), max(1, int(width * factor))), 0, 1))


def _gray(image: np.ndarray) -> np.ndarray:
    # ITU-R BT.601 luma, the weights of the restoration degradation's own grayscale step
    luma = image[..., 0] * 0.299 + image[..., 1] * 0.587 + image[..., 2] * 0.114
    return np.repeat(quantize(luma)[..., None], 3, axis=-1)


# ---- a comparison ------------------------------------------------------------------------------

@dataclass
class Result:
    key: str  # file-safe: "ground_truth", "input" or the model name
    label: str
    pixels: np.ndarray | None  # in memory until ``Comparison.release``; then read back from ``path``
    role: str  # "ground truth" | "input" | "learned" | "classical"
    scores: dict | None = None
    delta: float | None = None
    ms: float | None = None
    note: str = ""
    path: Path | None = None

    @property
    def image(self) -> np.ndarray:
        if self.pixels is not None:
            return self.pixels
        if self.path is None or not self.path.is_file():
            raise StudioError("These results were deleted to save space: run the comparison again.")
        return load_image(self.path)  # lossless 8-bit PNG of an 8-bit image: the same values


@dataclass
class Comparison:
    run_id: str
    task: str
    mode: str
    params: dict
    seed: int
    notes: list[str]
    results: list[Result]
    applied: str = ""
    skipped: list[str] = field(default_factory=list)
    folder: Path | None = None
    cached: bool = False
    #: (label, kernel): the true blur kernel where known, and each blind model's estimate
    kernels: list[tuple[str, np.ndarray]] = field(default_factory=list)
    #: (blind model, (rows, cols) of the input its kernel was estimated on: a large photo's window), per
    #: blind model run
    estimation_windows: list[tuple[str, tuple[slice, slice]]] = field(default_factory=list)
    #: the photo before the task prepared it (tasks with an upscale chain, clean mode): the chain's
    #: ground truth at the upscaled size is made from it
    source: Path | None = None
    #: a comparison still running: the models finished so far (``compare_progressively``)
    partial: bool = False

    @property
    def scored(self) -> bool:
        """Whether every output was scored: clean-photo mode, or a reference given with a degraded photo."""
        return self.ground_truth is not None

    def get(self, key: str) -> Result:
        for result in self.results:
            if key in (result.key, result.label):
                return result
        raise StudioError(f"no image named {key!r} in this comparison (have: "
                          f"{', '.join(r.key for r in self.results)})")

    @property
    def ground_truth(self) -> Result | None:
        return next((r for r in self.results if r.role == "ground truth"), None)

    @property
    def outputs(self) -> list[Result]:
        return [r for r in self.results if r.role in ("learned", "classical")]

    @property
    def input(self) -> Result:
        return next(r for r in self.results if r.role == "input")

    def release(self) -> None:
        """Drop the pixels from memory once every result is saved; ``Result.image`` reads the PNG."""
        for result in self.results:
            if result.path is not None and result.path.is_file():
                result.pixels = None


def normalize_mode(mode) -> str:
    text = str(mode or "").lower()
    if text.startswith("clean"):
        return MODE_CLEAN
    if text.startswith(("already", "no-reference", "no reference", "degraded")):
        return MODE_NO_REFERENCE
    raise StudioError(f"Unknown mode {mode!r}: choose {MODE_CLEAN!r} or {MODE_NO_REFERENCE!r}.")


def _caption(result: Result, task: str, scored: bool) -> str:
    key, ssim_key, label, ssim_label = headline(task)
    parts = [result.label]
    if scored and result.scores is not None:
        text = f"{label} {result.scores[key]:.2f} dB"
        if result.delta is not None and result.role != "input":
            text += f" ({round(result.delta, 2) + 0.0:+.2f} vs input)"
        parts.append(text)
        parts.append(f"{ssim_label} {result.scores[ssim_key]:.3f}")
    elif result.role in ("learned", "classical") and not scored:
        parts.append("no reference: no score")
    if result.ms is not None:
        parts.append(f"{result.ms:.0f} ms")
    if result.note:
        parts.append(result.note)
    return " · ".join(parts)


def caption(comparison: Comparison, result: Result) -> str:
    return _caption(result, comparison.task, comparison.scored)


_runs: "OrderedDict[str, Comparison]" = OrderedDict()
_example_cache: dict[tuple, str] = {}
_runs_lock = threading.Lock()


def _store(comparison: Comparison) -> None:
    with _runs_lock:
        _runs[comparison.run_id] = comparison
        while len(_runs) > MAX_RUNS:
            _, old = _runs.popitem(last=False)
            if old.folder is not None:
                shutil.rmtree(old.folder, ignore_errors=True)
    sweep_runs(keep=[comparison.folder] if comparison.folder is not None else [])


def sweep_runs(keep=()) -> list[Path]:
    """Prune the run folders by age and size (``studio.app.limits``; the newest one always stays),
    and forget the runs whose folder went (their follow-up views then ask for a new comparison)."""
    removed = app_limits.prune(RUN_ROOT, keep=keep)
    with _runs_lock:
        gone = [rid for rid, c in _runs.items() if c.folder is not None and not c.folder.is_dir()]
        for rid in gone:
            del _runs[rid]
        for key in [k for k, rid in _example_cache.items() if rid not in _runs]:
            del _example_cache[key]
    return removed


def get_run(run_id: str) -> Comparison:
    with _runs_lock:
        comparison = _runs.get(str(run_id or ""))
    if comparison is None or (comparison.folder is not None and not comparison.folder.is_dir()):
        raise StudioError("Run a comparison first (or again: older results are not kept).")
    return comparison


def _save(image: np.ndarray, path: Path) -> Path:
    """Lossless 8-bit PNG, fast (zlib level 1: the pixels are the same at any level)."""
    from studio.imageio import to_uint8

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image if image.dtype == np.uint8 else to_uint8(image)).save(path, format="PNG", compress_level=1)
    return path


def _scores(output: np.ndarray, clean: np.ndarray, border: int, task: str) -> dict:
    """PSNR on RGB and Y, SSIM of the task's headline only (SSIM is the costly one)."""
    key, ssim_key, *_ = headline(task)
    scores = {"psnr": psnr(output, clean, border=border), "psnr_y": psnr(output, clean, border=border, y_channel=True)}
    scores[ssim_key] = ssim(output, clean, border=border, y_channel=ssim_key.endswith("_y"))
    return scores


def _is_gray(image: np.ndarray) -> bool:
    return image.ndim == 3 and np.array_equal(image[..., 0], image[..., 1]) and np.array_equal(image[..., 1], image[..., 2])


def compare(task_name: str, path, mode: str, model_names, params: dict | None = None, seed: int = 0,
            progress=None, reference=None, large: str = LARGE_DOWNSCALE) -> Comparison:
    """Run ``model_names`` of ``task_name`` on the photo at ``path``; see the module docstring.

    ``progress(fraction, description)`` is called as models finish. Shipped sample photos are
    cached lazily: the same sample with the same settings answers from the first run. In
    no-reference mode, ``reference`` (a path: the sharp or clean version of the same photo, at the
    output's size) scores every output against it, and ``large`` says what is done with a photo
    whose output would pass ``MAX_WORK_PIXELS``: downscaled whole (``LARGE_DOWNSCALE``) or its
    centre cropped (``LARGE_CROP``), with the choice in the notes.
    """
    comparison = None
    for comparison in compare_progressively(task_name, path, mode, model_names, params, seed, progress,
                                            reference=reference, large=large):
        pass
    return comparison


def compare_progressively(task_name: str, path, mode: str, model_names, params: dict | None = None, seed: int = 0,
                          progress=None, reference=None, large: str = LARGE_DOWNSCALE):
    """``compare``, yielding as it goes: a partial ``Comparison`` (``partial=True``: the input, the
    ground truth and the models finished so far, not stored) after each model, then the whole one, so
    a page shows each model's result as soon as it is ready."""
    task, mode, params, seed, names, statuses = _checked_request(task_name, mode, model_names, params, seed)
    if large not in LARGE_CHOICES:
        raise StudioError(f"Unknown choice for a large photo: {large!r}; expected one of {', '.join(LARGE_CHOICES)}.")
    if reference and mode == MODE_CLEAN:
        raise StudioError("A reference photo scores a photo that is already degraded: choose the no-reference mode, "
                          "or leave the reference empty (a clean photo is its own reference).")
    image, notes = read_upload(path)
    cache_key = None if reference else _sample_cache_key(path, task_name, mode, names, params, seed)
    cached = _cached_run(cache_key)
    if cached is not None:
        yield cached
        return
    scale = int(task.scale(**params))
    clean, degraded, info = _model_input(task, mode, image, params, seed, scale, notes, large)
    if reference:
        clean = _reference_for(reference, image, degraded, scale, large, notes)
    reference = quantize(task.input_reference(degraded, **params))
    border = int(task.border(**params))
    applied = task.describe_applied(params, info, degraded, seed) if clean is not None else ""
    try:
        max_kernel = user_max_kernel(params)
    except DeconvolutionError as err:
        raise StudioError(str(err)) from None

    run_id = uuid.uuid4().hex[:12]
    folder = RUN_ROOT / run_id
    results: list[Result] = []
    input_scores = _scores(reference, clean, border, task_name) if clean is not None else None
    if clean is not None:
        results.append(Result("ground_truth", "ground truth" if mode == MODE_CLEAN else "your reference", clean,
                              "ground truth"))
    input_label = task.label_input(describe_image(degraded), **params)
    results.append(Result("input", input_label, reference, "input", input_scores, 0.0 if input_scores else None))
    panel = KernelPanel.for_input(info if clean is not None else {})
    skipped = [f"{n}: {statuses[n].reason}" for n in names if not statuses[n].available]
    runnable = [n for n in names if statuses[n].available]
    estimates: dict = {}  # kernel estimates, made once for all the blind models (shared_estimates)

    def snapshot(**extra) -> Comparison:
        for i, result in enumerate(results):  # saved as they come: a partial view shows them at once
            if result.path is None:
                result.path = _save(result.image, folder / f"{i:02d}_{result.key}.png")
        return Comparison(run_id, task_name, mode, params, seed, list(notes), list(results), applied, list(skipped),
                          folder, kernels=list(panel.kernels), **extra)

    key, *_ = headline(task_name)
    for index, name in enumerate(runnable):
        if progress:
            progress(index / max(len(runnable), 1), f"{name} ({index + 1}/{len(runnable)})")
        step = (lambda f, text, i=index, n=name: progress((i + f) / len(runnable), f"{n}: {text}")) if progress else None
        ran = _run_one(task, name, degraded, info if clean is not None else {}, scale, max_kernel, step, estimates)
        if isinstance(ran, str):
            skipped.append(ran)
            continue
        model, output, ms = ran
        note = "gray output (no colour)" if task.gray_input and _is_gray(output) else ""
        kernel_note, verdict = panel.add(name, model)
        note = kernel_note or note
        if verdict:
            notes.append(verdict)
        scores = delta = None
        if clean is not None:
            scores = _scores(output, clean, border, task_name)
            delta = scores[key] - input_scores[key]
        results.append(Result(name, name, output, statuses[name].kind, scores, delta, ms, note))
        if index < len(runnable) - 1:
            yield snapshot(partial=True)
    if progress:
        progress(1.0, "saving lossless PNGs")
    if resolve_precision(PRECISION) is not None and any(r.role == "learned" for r in results):
        notes.append("learned models ran under bf16 autocast, native on this CPU (in the benchmarks: "
                     f"{bf16_note()}; the published figures are fp32)")
    source = _save(image, folder / "source.png") if task.upscale_chain and clean is not None else None
    comparison = snapshot(source=source, estimation_windows=list(panel.windows))
    _store(comparison)
    if cache_key is not None:
        with _runs_lock:
            _example_cache[cache_key] = run_id
    yield comparison


def _checked_request(task_name: str, mode: str, model_names, params: dict | None, seed):
    """(task, mode, parsed params, seed, model names, their statuses), or a ``StudioError`` saying
    what is wrong with the request."""
    task = get_task(task_name)
    mode = normalize_mode(mode)
    try:
        params = task.parse_params(params)
        seed = parse_seed(seed)
    except ParamError as err:
        raise StudioError(f"Cannot use that setting: {err}.") from None
    statuses = {s.name: s for s in model_statuses(task_name)}
    names = [n for n in dict.fromkeys(model_names or []) if n]
    unknown = [n for n in names if n not in statuses]
    if unknown:
        raise StudioError(f"Unknown model(s) for {task.title}: {', '.join(unknown)}; "
                          f"available: {', '.join(available_models(task_name))}.")
    if not names:
        raise StudioError("Select at least one model.")
    return task, mode, params, seed, names, statuses


def _sample_cache_key(path, task_name: str, mode: str, names: list[str], params: dict, seed: int) -> tuple | None:
    """The cache key of a shipped sample photo's comparison; None for any other photo (never cached)."""
    digest = file_digest(path)
    if digest not in sample_digests():
        return None
    return (digest, task_name, mode, tuple(names), json.dumps(params, sort_keys=True, default=str), seed)


def _cached_run(cache_key: tuple | None) -> Comparison | None:
    """The kept comparison made with the same sample and settings, if its folder is still there."""
    if cache_key is None:
        return None
    with _runs_lock:
        cached = _runs.get(_example_cache.get(cache_key))
        if cached is None or cached.folder is None or not cached.folder.is_dir():
            return None
        _runs.move_to_end(cached.run_id)
        cached.cached = True
        return cached


def _model_input(task, mode: str, image: np.ndarray, params: dict, seed: int, scale: int, notes: list[str],
                 large: str = LARGE_DOWNSCALE):
    """(clean photo or None, the models' input, what the degradation applied): in clean mode the task
    degrades the photo (downscaled first above ``MAX_WORK_PIXELS``); with no reference the photo is
    the input, downscaled or cropped (``large``) where the output would pass ``MAX_WORK_PIXELS``.
    Adds to ``notes``."""
    if mode == MODE_CLEAN:
        if min(image.shape[:2]) < MIN_CLEAN_SIDE:
            raise StudioError(f"The photo is {describe_image(image)}: a clean photo needs at least {MIN_CLEAN_SIDE} px "
                              "per side to be degraded and still be scored. For a tiny degraded image, use the "
                              "no-reference mode.")
        if image.shape[0] * image.shape[1] > MAX_WORK_PIXELS:
            before = describe_image(image)
            image = _downscale_to(image, MAX_WORK_PIXELS)
            notes.append(f"your {before} photo was downscaled to {describe_image(image)} to keep the comparison "
                         f"quick (limit {MAX_WORK_PIXELS / 1e6:.1f} MP); a downscaled clean photo is still a clean photo")
        clean = task.prepare_clean(image, **params)
        degraded, info = task.make_input(clean, np.random.default_rng(seed), **params)
        return clean, degraded, info
    degraded = image
    if task.gray_input and not _is_gray(quantize(degraded)):
        degraded = _gray(degraded)
        notes.append("converted to grayscale: the restoration models take a degraded gray photo and "
                     "bring back its colours")
    fitted = fit_large(degraded, scale, large)
    if fitted.shape != degraded.shape:
        done = (f"downscaled whole to {describe_image(fitted)}" if large == LARGE_DOWNSCALE
                else f"cropped to its centre {describe_image(fitted)}")
        other = "crop its centre" if large == LARGE_DOWNSCALE else "downscale it whole"
        notes.append(f"your {describe_image(degraded)} photo was {done}: at x{scale} every output then stays within "
                     f"the studio's {MAX_WORK_PIXELS / 1e6:.1f} MP for comparing every model (the other choice: "
                     f"{other})")
    return None, fitted, {}


def fit_large(image: np.ndarray, scale: int, large: str = LARGE_DOWNSCALE) -> np.ndarray:
    """``image`` as it is where its output at x``scale`` fits ``MAX_WORK_PIXELS``; else downscaled whole
    (``LARGE_DOWNSCALE``, MATLAB bicubic) or its centre cropped (``LARGE_CROP``) to fit."""
    height, width = image.shape[:2]
    if height * width * scale * scale <= MAX_WORK_PIXELS:
        return image
    if large == LARGE_DOWNSCALE:
        return _downscale_to(image, MAX_WORK_PIXELS // (scale * scale))
    factor = math.sqrt(MAX_WORK_PIXELS / (height * width * scale * scale))
    new_height, new_width = max(1, int(height * factor)), max(1, int(width * factor))
    top, left = (height - new_height) // 2, (width - new_width) // 2
    return image[top:top + new_height, left:left + new_width]


def _reference_for(reference, upload: np.ndarray, degraded: np.ndarray, scale: int, large: str,
                   notes: list[str]) -> np.ndarray:
    """The reference photo at path ``reference`` made to match the models' output: it must have the
    upload's size x``scale`` (the same photo, sharp or clean), and then goes through what the upload
    went through (downscaled or cropped)."""
    try:
        truth = load_image(reference)
    except ImageLoadError as err:
        raise StudioError(f"The reference photo cannot be used: {err}") from None
    expected = (upload.shape[0] * scale, upload.shape[1] * scale)
    if truth.shape[:2] != expected:
        raise StudioError(f"The reference photo is {describe_image(truth)}, but it must be the same photo as the "
                          f"upload at the output's size, {expected[1]}x{expected[0]} px (the upload "
                          f"{describe_image(upload)} at x{scale}).")
    out = (degraded.shape[0] * scale, degraded.shape[1] * scale)
    if out != truth.shape[:2] and large == LARGE_DOWNSCALE:
        truth = quantize(np.clip(imresize_to(truth, *out), 0, 1))
    elif out != truth.shape[:2]:  # the upload's centre, at x scale
        top = (upload.shape[0] - degraded.shape[0]) // 2 * scale
        left = (upload.shape[1] - degraded.shape[1]) // 2 * scale
        truth = truth[top:top + out[0], left:left + out[1]]
    notes.append("scored against your reference photo: every output is compared with it, as in clean-photo mode")
    return truth


def _run_one(task, name: str, degraded: np.ndarray, info: dict, scale: int, max_kernel: int | None, progress,
             estimates: dict):
    """(model, its quantized RGB output, milliseconds), or the line saying why ``name`` was skipped
    (its weights would not load, it needs what this input does not give, its deconvolution failed).
    ``estimates``: the comparison's kernel estimates, shared by its blind models."""
    try:
        model = load_model(task.name, name, scale)
    except (CheckpointError, ValueError) as err:
        return f"{name}: {err}"
    except Exception as err:  # noqa: BLE001 -- a damaged checkpoint must not cost the other models
        return f"{name}: could not be loaded ({type(err).__name__}: {err})"
    try:
        kwargs = task.model_inputs(model, info)
    except MissingInput as err:
        return f"{name}: {err} (clean-photo mode)"
    started = time.perf_counter()
    try:
        with configured(model, max_kernel, progress), shared_estimates(estimates):
            output = quantize(run_model(model, degraded, scale=scale, precision=PRECISION, **kwargs))
    except DeconvolutionError as err:
        return f"{name}: {err}"
    ms = (time.perf_counter() - started) * 1000
    if output.ndim == 2:
        output = np.repeat(output[..., None], 3, axis=-1)
    return model, output, ms


def upscale_run(run_id: str, upscaler: str, progress=None) -> Comparison:
    """The restore -> upscale chain (``studio.restoration.chain``) on a finished comparison: each restored output
    of run ``run_id``, read back from the run's own PNGs (not recomputed), upscaled x4 by ``upscaler``
    and by bicubic (the reference), scored against the original photo at the upscaled size. A new run."""
    original = get_run(run_id)
    task = get_task(original.task)
    if not task.upscale_chain:
        raise StudioError(f"Only {get_task('restoration').title.lower()} results can be upscaled x4 here.")
    offered = upscalers()
    if upscaler not in offered:
        raise StudioError(f"Unknown upscaler {upscaler!r}; available: {', '.join(offered)}.")
    names = list(dict.fromkeys(["bicubic", upscaler]))
    models = {name: load_model("sr", name, chain.SCALE) for name in names}
    target = None
    if original.scored and original.mode == MODE_CLEAN:
        if original.source is None or not original.source.is_file():
            raise StudioError("These results were deleted to save space: run the comparison again.")
        target = chain.reference_at_full_size(load_image(original.source))
    key, *_ = headline(original.task)
    upscaled_input = chain.upscale(original.input.image, models["bicubic"])
    input_scores = _scores(upscaled_input, target, 0, original.task) if target is not None else None
    results = [Result("ground_truth", f"ground truth ({describe_image(target)})", target, "ground truth")] \
        if target is not None else []
    results.append(Result("input", "input, bicubic x4", upscaled_input, "input", input_scores,
                          0.0 if input_scores else None))
    outputs = original.outputs
    for index, restored in enumerate(outputs):
        if progress:
            progress(index / max(len(outputs), 1), f"{restored.key} x4")
        pixels = restored.image  # the run's lossless PNG: exactly the restored image the grid showed
        for name in names:
            started = time.perf_counter()
            output = chain.upscale(pixels, models[name], PRECISION)
            ms = (time.perf_counter() - started) * 1000
            scores = _scores(output, target, 0, original.task) if target is not None else None
            delta = scores[key] - input_scores[key] if scores is not None else None
            role = "learned" if restored.role == "learned" or get_entry(name).learned else "classical"
            results.append(Result(f"{restored.key}+{name}", f"{restored.key} → {name} x4", output, role, scores,
                                  delta, ms, "the reference upscaler" if name == "bicubic" else ""))
    run_id = uuid.uuid4().hex[:12]
    folder = RUN_ROOT / run_id
    for i, result in enumerate(results):
        result.path = _save(result.image, folder / f"{i:02d}_{result.key}.png")
    notes = [f"each {RESTORED_TEXT} output of the comparison upscaled x4 with {upscaler} and with bicubic (the "
             "reference); Δ is measured against the degraded input upscaled with bicubic",
             "the SR models were trained on clean photos downscaled with bicubic: a restored image, smoother and "
             "with its restorer's artefacts, is not the input they learned"]
    comparison = Comparison(run_id, original.task, original.mode, original.params, original.seed, notes, results,
                            f"{original.applied}; then restored and upscaled x4" if original.applied else "",
                            folder=folder)
    _store(comparison)
    return comparison


RESTORED_TEXT = f"{chain.RESTORED_SIZE} px restored"


def upscalers() -> list[str]:
    """The SR models a restored image can be upscaled with (bicubic, the reference, is always added)."""
    return [s.name for s in model_statuses("sr") if s.available and s.learned]


# ---- the tables and views of one comparison -----------------------------------------------------

def score_rows(comparison: Comparison) -> list[list]:
    key, ssim_key, *_ = headline(comparison.task)
    rows = []
    for r in comparison.results:
        if r.role == "ground truth":
            continue
        if comparison.scored and r.scores is not None:
            rows.append([r.key, r.role, round(float(r.scores[key]), 2), round(float(r.scores[ssim_key]), 4),
                         round(float(r.delta), 2) + 0.0 if r.delta is not None else None,  # no -0.0
                         None if r.ms is None else round(r.ms), r.note])
        else:
            rows.append([r.key, r.role, None, None, None, None if r.ms is None else round(r.ms),
                         (r.note + "; " if r.note else "") + "no reference: not scored"])
    return rows


def score_headers(task: str) -> list[str]:
    _, _, label, ssim_label = headline(task)
    return ["model", "kind", f"{label} (dB)", ssim_label, f"Δ {label} vs input (dB)", "ms", "note"]


def summary_markdown(comparison: Comparison) -> str:
    lines = []
    if comparison.partial:
        lines.append(f"**Running…** {len(comparison.outputs)} model(s) done; their results are below and the "
                     "others follow as each finishes (the error maps and plots come at the end).")
    if comparison.scored:
        spec = get_task(comparison.task)
        border = int(spec.border(**comparison.params))
        scored_on = ("Y channel" if spec.headline.metric.endswith("_y") else "RGB") + (
            f", {border} px border cropped" if border else "")
        if comparison.mode == MODE_CLEAN:
            lines.append(f"**Clean-photo mode.** Input: {comparison.applied}. Every output is scored against the "
                         f"ground truth ({scored_on}); Δ is the gain over the input.")
        else:
            lines.append(f"**Your degraded photo, scored against your reference** ({scored_on}); Δ is the gain over "
                         "the input.")
        outputs = [r for r in comparison.outputs if r.delta is not None]
        if outputs:
            best = max(outputs, key=lambda r: r.delta)
            lines.append(f"Highest fidelity here: **{best.key}** ({best.delta:+.2f} dB vs input). "
                         "Fidelity is not everything: look at the textures, the error maps and the sharpness plot.")
    else:
        lines.append("**No-reference mode: no ground truth, so no PSNR/SSIM.** The outputs are shown side by "
                     "side; judge them by eye (slider, crops). Runtimes are real.")
    for note in comparison.notes:
        lines.append(f"- Note: {note}")
    for skip in comparison.skipped:
        lines.append(f"- Not run: {skip}")
    if comparison.cached:
        lines.append("- Shipped sample: these results were computed on its first use and are served from the cache.")
    return "\n".join(lines)


def gallery_items(comparison: Comparison) -> list[tuple[str, str]]:
    return [(str(r.path), caption(comparison, r)) for r in comparison.results]


def image_choices(comparison: Comparison) -> list[str]:
    return [r.key for r in comparison.results]


def default_pair(comparison: Comparison) -> tuple[str, str]:
    """The slider's first pair: the input against the best (or first) learned output."""
    outputs = comparison.outputs
    if not outputs:
        return "input", "input"
    learned = [r for r in outputs if r.role == "learned"] or outputs
    if comparison.scored:
        right = max(learned, key=lambda r: r.delta if r.delta is not None else -1e9)
    else:
        right = learned[0]
    return "input", right.key


def pair(comparison: Comparison, left: str, right: str) -> tuple[str, str]:
    return str(comparison.get(left).path), str(comparison.get(right).path)


def error_view(comparison: Comparison):
    """([(colour map PNG, caption)], colour bar PNG path) or (None, None) without ground truth."""
    truth = comparison.ground_truth
    if truth is None:
        return None, None
    targets = [comparison.input] + comparison.outputs
    # the scale fits the models' errors, so their maps differ where the models do; the input's,
    # usually larger, saturates (its mean error is in its caption)
    colored, means, vmax = app_views.error_maps({r.key: r.image for r in targets}, truth.image,
                                                scale_from=[r.key for r in comparison.outputs] or None)
    folder = comparison.folder / "error_maps"
    items = []
    for r in targets:
        path = _save(colored[r.key], folder / f"{r.key}.png")
        items.append((str(path), f"{r.key} · mean |error| {means[r.key]:.4f} ({means[r.key] * 255:.1f}/255)"))
    bar = _save(app_views.colorbar(vmax), folder / "colorbar.png")
    return items, str(bar)


def kernel_view(comparison: Comparison) -> list[tuple[str, str]] | None:
    """[(kernel PNG, caption)]: the true kernel and every blind estimate at one spatial scale (each
    centred on a canvas of the largest kernel's size and enlarged by one nearest-neighbour factor, so
    a longer blur looks longer), each scaled to its own maximum, then, for a photo
    larger than the estimation window, the input with each blind model's window drawn (one picture per
    distinct window, naming the models that used it); None if no kernel."""
    if not comparison.kernels:
        return None
    items = []
    canvas = max(max(np.shape(kernel)) for _, kernel in comparison.kernels)
    zoom = max(1, 192 // canvas)
    for index, (label, kernel) in enumerate(comparison.kernels):
        kernel = np.asarray(kernel, dtype=np.float64)
        picture = np.zeros((canvas, canvas))
        top, left = (canvas - kernel.shape[0]) // 2, (canvas - kernel.shape[1]) // 2
        picture[top:top + kernel.shape[0], left:left + kernel.shape[1]] = np.clip(
            kernel / max(float(kernel.max()), 1e-12), 0, 1)
        picture = np.kron(picture, np.ones((zoom, zoom)))
        path = _save(np.repeat(picture[..., None], 3, axis=-1), comparison.folder / "kernels" / f"{index:02d}.png")
        items.append((str(path), f"{label} · {kernel.shape[1]}x{kernel.shape[0]} px"))
    base = comparison.input.image
    models_by_box: dict[tuple[int, int, int, int], list[str]] = {}
    for name, (rows, cols) in comparison.estimation_windows:
        if (rows.stop - rows.start, cols.stop - cols.start) != base.shape[:2]:  # a window, not the whole photo
            models_by_box.setdefault((rows.start, cols.start, rows.stop, cols.stop), []).append(name)
    for index, (box, names) in enumerate(models_by_box.items()):
        path = _save(app_views.outline(base, box), comparison.folder / "kernels" / f"window_{index}.png")
        items.append((str(path), f"where {', '.join(names)} estimated the kernel: x {box[1]}–{box[3]}, y {box[0]}–{box[2]} "
                                 "(the blur is the same everywhere, so one window of strong edges suffices)"))
    return items


def crop_view(comparison: Comparison, cx: float, cy: float, size: int):
    """Zoomed crops of the same region of every image: ([(PNG, caption)], the input with the box drawn)."""
    try:
        cx, cy = parse_number(cx, "x"), parse_number(cy, "y")  # outside the image: clamped by crop_box
        size = parse_number(size, "region size", *CROP_SIZES, integer=True)
    except ParamError as err:
        raise StudioError(f"Cannot zoom there: {err}.") from None
    base = comparison.input.image
    height, width = base.shape[:2]
    box = app_views.crop_box(height, width, cx, cy, size)
    folder = comparison.folder / "crops"
    tag = f"{box[1]}_{box[0]}_{box[3] - box[1]}"
    items = []
    for r in comparison.results:
        path = _save(app_views.crop(to_display(r.image), box), folder / f"{tag}_{r.key}.png")
        items.append((str(path), f"{r.key} · x {box[1]}–{box[3]}, y {box[0]}–{box[2]}"))
    marked = _save(app_views.outline(base, box), folder / f"{tag}_where.png")
    return items, str(marked)


def to_display(image: np.ndarray) -> np.ndarray:
    from studio.imageio import to_uint8

    return to_uint8(image)


def perception_distortion(comparison: Comparison):
    border = int(get_task(comparison.task).border(**comparison.params)) if comparison.scored else 0
    key, _, label, _ = headline(comparison.task)
    points = []
    same_as_input = [r.key for r in comparison.outputs if np.array_equal(r.image, comparison.input.image)]
    for r in [comparison.input] + comparison.outputs:
        if r.key in same_as_input:
            continue  # e.g. SR's bicubic is the input reference itself: one point, named for both
        name = " = ".join(["input", *same_as_input]) if r.role == "input" else r.key
        points.append({"name": name, "sharpness": sharpness(r.image, border),
                       "psnr": r.scores[key] if (comparison.scored and r.scores) else None,
                       "symbol": "diamond" if r.role == "input" else ("square" if r.role == "classical" else "circle")})
    truth = comparison.ground_truth
    reference = sharpness(truth.image, border) if truth is not None else None
    return app_views.perception_distortion_figure(points, reference, label)


def spectra(comparison: Comparison):
    truth = comparison.ground_truth
    border = int(get_task(comparison.task).border(**comparison.params))
    curves = {}
    for r in [comparison.input] + comparison.outputs:
        if truth is not None:
            error = r.image.astype(np.float64) - truth.image
            if border:
                error = error[border:-border, border:-border]
            curves[r.key] = app_views.radial_spectrum(error)
        else:
            curves[r.key] = app_views.radial_spectrum(r.image)
    return app_views.spectrum_figure(curves, of_error=truth is not None)


def _write_bundle(comparison: Comparison) -> Path:
    """results.zip: every image (PNG), scores.csv and settings.json, written next to the run's PNGs."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(score_headers(comparison.task))
    writer.writerows(score_rows(comparison))
    settings = {"task": comparison.task, "mode": comparison.mode, "params": comparison.params, "seed": comparison.seed,
                "applied": comparison.applied, "notes": comparison.notes, "skipped": comparison.skipped,
                "captions": {r.key: caption(comparison, r) for r in comparison.results}}
    path = comparison.folder / f"restoration-studio-{comparison.task}-{comparison.run_id}.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as bundle:
        for r in comparison.results:
            bundle.write(r.path, f"{r.path.name}")
        for folder in ("error_maps", "kernels"):
            for png in sorted((comparison.folder / folder).glob("*.png")):
                bundle.write(png, f"{folder}/{png.name}")
        bundle.writestr("scores.csv", buffer.getvalue())
        bundle.writestr("settings.json", json.dumps(settings, indent=2, default=str))
    return path


@dataclass
class Views:
    """Everything the comparison view shows besides the grid (computed in one pass)."""

    error_items: list | None
    colorbar: str | None
    perception_distortion: object
    spectrum: object
    bundle: str
    kernel_items: list | None = None


def views(comparison: Comparison) -> Views:
    """Every view of a comparison; afterwards its pixels are released (``Comparison.release``)."""
    errors, bar = error_view(comparison)
    kernels = kernel_view(comparison)  # before the bundle, which includes the kernel PNGs
    result = Views(errors, bar, perception_distortion(comparison), spectra(comparison),
                   str(_write_bundle(comparison)), kernels)
    comparison.release()
    return result
