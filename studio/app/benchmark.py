"""The Benchmark tab: the per-image evaluation CSVs of ``results/eval`` as histograms, a summary
table and best/worst cases, plus a recompute on the benchmark images the repository ships.

Reading the CSVs is pandas only (instant, torch-free). Showing the images of a best or worst case
re-runs that one case with ``studio.evaluate``'s protocol, and checks the recomputed input score
against the CSV before it shows anything: where the dataset is not in this checkout (a Space), or
the case does not reproduce, it says so instead.
"""

from __future__ import annotations

import math
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from studio.app.samples import SAMPLES_DIR
from studio.deblur.interface import needs_true_kernel
from studio.results import read_table, results_root

RECOMPUTED = "samples (recomputed now)"
#: a recomputed input score must match the CSV's to this many dB before a case is shown
REPRODUCE_TOLERANCE_DB = 0.05

_recomputed: dict[str, pd.DataFrame] = {}
_lock = threading.Lock()


def headline(task: str):
    """(metric, SSIM metric, input metric, labels) of the CSV columns the task's histograms and tables
    use first (``studio.tasks.Headline``)."""
    from studio.tasks import get_task

    h = get_task(task).headline
    return h.metric, h.ssim, h.input_metric, h.label, h.ssim_label


@dataclass
class EvalFile:
    name: str  # file stem, e.g. sr_set5_x4
    path: Path | None
    task: str
    datasets: tuple[str, ...]


def eval_files() -> list[EvalFile]:
    """Every usable ``results/eval/*.csv`` (one task per file), plus this session's recomputes."""
    files = []
    folder = results_root() / "eval"
    for path in sorted(folder.glob("*.csv")) if folder.is_dir() else []:
        table = read_table(path, required=["task", "model", "image", "psnr", "input_psnr"],
                           numeric=["psnr", "ssim", "psnr_y", "ssim_y", "input_psnr", "input_psnr_y", "seconds"])
        if not table.ok or table.frame.empty:
            continue
        tasks = table.frame["task"].astype(str).unique()
        datasets = tuple(sorted(table.frame["dataset"].astype(str).unique())) if "dataset" in table.frame else ()
        files.append(EvalFile(path.stem, path, str(tasks[0]), datasets))
    with _lock:
        for task in _recomputed:
            files.append(EvalFile(f"{task}: {RECOMPUTED}", None, task, ("samples",)))
    return files


def tasks_with_results() -> list[str]:
    return list(dict.fromkeys(f.task for f in eval_files()))


def test_sets(task: str) -> list[str]:
    return [f.name for f in eval_files() if f.task == task]


def load_frame(task: str, test_set: str) -> pd.DataFrame:
    if test_set == f"{task}: {RECOMPUTED}":
        with _lock:
            if task in _recomputed:
                return _recomputed[task].copy()
    for f in eval_files():
        if f.name == test_set and f.path is not None:
            frame = read_table(f.path, required=["model", "image", "psnr", "input_psnr"],
                               numeric=["psnr", "ssim", "psnr_y", "ssim_y", "input_psnr", "input_psnr_y",
                                        "seconds", "scale", "seed"]).frame
            frame = frame[frame["task"].astype(str) == task] if "task" in frame else frame
            return frame.reset_index(drop=True)
    raise ValueError(f"no evaluation results named {test_set!r} for task {task!r}; "
                     f"available: {', '.join(test_sets(task)) or 'none'}")


def _with_delta(frame: pd.DataFrame, task: str) -> pd.DataFrame:
    metric, _, input_metric, *_ = headline(task)
    if metric not in frame or frame[metric].isna().all():  # a CSV without Y columns
        metric, input_metric = "psnr", "input_psnr"
    frame = frame.copy()
    frame["_metric"] = frame[metric]
    frame["_delta"] = frame[metric] - frame[input_metric]
    return frame


def _parameters(name: str):
    try:
        from studio.registry import get_entry, model_card

        card = model_card(name)
        if "parameters" in card:
            return int(card["parameters"])
        return 0 if not get_entry(name).learned else None
    except Exception:
        return None


def summary(frame: pd.DataFrame, task: str) -> list[list]:
    """model, images, mean PSNR, mean SSIM, mean Δ vs input, parameters, ms per image."""
    metric, ssim_key, _, label, ssim_label = headline(task)
    frame = _with_delta(frame, task)
    ssim_column = ssim_key if ssim_key in frame and frame[ssim_key].notna().any() else "ssim"
    rows = []
    baseline = frame.groupby("image")["_metric"].first() - frame.groupby("image")["_delta"].first()
    rows.append(["(input)", int(baseline.size), round(float(baseline.mean()), 2), None, 0.0, None, None])
    for name, group in frame.groupby("model", sort=False):
        params = _parameters(str(name))
        rows.append([str(name), int(len(group)), round(float(group["_metric"].mean()), 2),
                     round(float(group[ssim_column].mean()), 4) if ssim_column in group else None,
                     round(float(group["_delta"].mean()), 2), params,
                     round(float(group["seconds"].mean()) * 1000, 1) if "seconds" in group else None])
    return rows


def summary_headers(task: str) -> list[str]:
    _, _, _, label, ssim_label = headline(task)
    return ["model", "images", f"mean {label} (dB)", f"mean {ssim_label}", f"mean Δ {label} vs input (dB)",
            "parameters", "ms / image"]


def best_worst(frame: pd.DataFrame, task: str) -> list[list]:
    """Per model: its best and worst image by Δ vs input (the gain the model brings, not raw PSNR)."""
    frame = _with_delta(frame, task)
    rows = []
    for name, group in frame.groupby("model", sort=False):
        best, worst = group.loc[group["_delta"].idxmax()], group.loc[group["_delta"].idxmin()]
        rows.append([str(name), str(best["image"]), round(float(best["_delta"]), 2), round(float(best["_metric"]), 2),
                     str(worst["image"]), round(float(worst["_delta"]), 2), round(float(worst["_metric"]), 2)])
    return rows


def best_worst_headers(task: str) -> list[str]:
    label = headline(task)[3]
    return ["model", "best image", "best Δ (dB)", f"best {label}", "worst image", "worst Δ (dB)", f"worst {label}"]


def default_histogram_models(frame: pd.DataFrame, task: str) -> list[str]:
    """A readable default for the histogram: the learned model and the classical one with the best
    mean score of this test set (the input is always drawn). Models the registry no longer knows
    count as learned."""
    from studio.registry import get_entry

    frame = _with_delta(frame, task)
    means = frame.groupby("model", sort=False)["_metric"].mean().dropna()

    def learned(name) -> bool:
        try:
            return get_entry(str(name)).learned
        except KeyError:
            return True

    picks = []
    for wanted in (True, False):
        group = means[[learned(n) == wanted for n in means.index]]
        if len(group):
            picks.append(str(group.idxmax()))
    return picks


def histogram_figure(frame: pd.DataFrame, task: str, title: str, models: list[str] | None = None):
    """Per-image scores of the input and of ``models`` (None: every model), overlaid."""
    import plotly.graph_objects as go

    frame = _with_delta(frame, task)
    if models is not None:
        unknown = sorted(set(models) - set(frame["model"].astype(str)))
        if unknown:
            raise ValueError(f"not in this test set: {', '.join(unknown)}")
    label = headline(task)[3]
    values = frame["_metric"].dropna()
    low, high = (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)
    size = max((high - low) / 30, 0.05)
    fig = go.Figure()
    baseline = (frame.groupby("image")["_metric"].first() - frame.groupby("image")["_delta"].first()).dropna()
    fig.add_trace(go.Histogram(x=baseline, name="input (no model)", opacity=0.45, marker_color="gray",
                               xbins=dict(start=low - size, end=high + size, size=size)))
    for name, group in frame.groupby("model", sort=False):
        if models is not None and str(name) not in models:
            continue
        fig.add_trace(go.Histogram(x=group["_metric"], name=str(name), opacity=0.55,
                                   xbins=dict(start=low - size, end=high + size, size=size)))
    fig.update_layout(barmode="overlay", template="plotly_white", height=420, title=dict(text=title, font=dict(size=14)),
                      xaxis_title=f"{label} per image (dB)", yaxis_title="images", margin=dict(l=60, r=20, t=50, b=50))
    return fig


def describe(frame: pd.DataFrame, task: str, test_set: str) -> str:
    datasets = ", ".join(sorted(frame["dataset"].astype(str).unique())) if "dataset" in frame else "?"
    images = frame["image"].nunique()
    metric, *_, label, _ = headline(task)
    source = ("recomputed in this session on the clean sample photos the repository ships"
              if RECOMPUTED in test_set else f"`results/eval/{test_set}.csv`, shipped with the repository")
    text = (f"**{test_set}** — {images} images ({datasets}), from {source}. {label} "
            f"{'on the Y channel with the border cropped (the SR literature protocol)' if metric.endswith('_y') else 'on RGB'}; "
            "Δ is the gain over the input (the degraded image itself, or its bicubic upscaling for SR). "
            "ms / image was measured when the CSV was made (on its machine), not now.")
    return text


# ---- one case, re-run ---------------------------------------------------------------------------

def _datasets_root() -> Path:
    from studio.data import DATASETS

    return DATASETS


def locate(dataset: str, image: str):
    """(clean path, degraded path or None, index among the clean images) of a CSV row, or None."""
    from studio.imageio import list_images

    root = _datasets_root()
    candidates = [SAMPLES_DIR] if dataset == "samples" else []
    if root.is_dir():
        candidates += [root / dataset, root / dataset / "sharp", *sorted(root.glob(f"*/{dataset}"))]
    for clean_dir in candidates:
        if not clean_dir.is_dir():
            continue
        files = list_images(clean_dir)
        stems = [p.stem for p in files]
        if image in stems:
            return files[stems.index(image)], None, stems.index(image)
        for name in ("blurred", "degraded", "input"):
            folder = clean_dir.parent / name
            if folder.is_dir():
                for path in list_images(folder):
                    if path.stem == image:
                        owner = max((s for s in stems if image.startswith(s + "_")), key=len, default=None)
                        if owner is not None:
                            return files[stems.index(owner)], path, None
    return None


def render_case(task_name: str, row: pd.Series, out_dir) -> tuple[list[tuple[str, str]], str]:
    """Re-run one (model, image) row: [(input, output, ground truth, error map) PNGs], and a note.
    ``out_dir`` is a folder, or a callable that makes one (only called when there is something to save)."""
    from studio.app import core as app_core, views as app_views
    from studio.imageio import load_image, quantize, save_png
    from studio.inference import run_model
    from studio.metrics import all_metrics
    from studio.tasks import get_task

    found = locate(str(row.get("dataset", "")), str(row["image"]))
    if found is None:
        return [], (f"{row['image']}: the benchmark images ({row.get('dataset')}) are not in this checkout "
                    "(they live in ../shared/datasets); the scores above come from the shipped CSV.")
    clean_path, degraded_path, index = found
    task = get_task(task_name)
    scale = int(row["scale"]) if "scale" in row and not pd.isna(row["scale"]) else 4
    params = {"scale": scale}
    if task.scaled_models and isinstance(row.get("degradation"), str) and row["degradation"]:
        params["degradation"] = "real"  # SR rows say what they went through only when it was not bicubic
    seed = int(row["seed"]) if "seed" in row and not pd.isna(row["seed"]) else 0
    clean = task.prepare_clean(load_image(clean_path), **params)
    if degraded_path is None:
        rng = np.random.default_rng([seed, index])
        degraded, info = (task.degrade_info(clean, rng=rng, **params) if task.degrade_info is not None
                          else (task.degrade(clean, rng=rng, **params), {}))
    else:
        degraded = load_image(degraded_path)
        info = task.pair_info(clean_path, degraded_path) if task.pair_info is not None else {}
    reference = task.input_reference(degraded, **params)
    border = int(task.border(**params))
    metric, _, input_metric, label, _ = headline(task_name)
    if input_metric not in row or pd.isna(row[input_metric]):
        metric, input_metric = "psnr", "input_psnr"
    input_scores = all_metrics(reference, clean, border=border)
    if abs(input_scores[metric] - float(row[input_metric])) > REPRODUCE_TOLERANCE_DB:
        return [], (f"{row['image']}: re-running the protocol gave an input {label} of {input_scores[metric]:.2f} dB, "
                    f"not the CSV's {float(row[input_metric]):.2f} dB (different data or settings); not shown.")
    name = str(row["model"])
    model = app_core.load_model(task_name, name, scale)
    kwargs = {"kernel": info["kernel"]} if needs_true_kernel(model) and info.get("kernel") is not None else {}
    output = quantize(run_model(model, degraded, scale=int(task.scale(**params)), **kwargs))
    if output.ndim == 2:
        output = np.repeat(output[..., None], 3, axis=-1)
    scores = all_metrics(output, clean, border=border)
    colored, means, vmax = app_views.error_maps({"input": reference, "output": output}, clean)
    out_dir = Path(out_dir() if callable(out_dir) else out_dir)
    stem = f"{name}_{row['image']}"
    items = [
        (str(save_png(reference, out_dir / f"{stem}_input.png")), f"{row['image']} · input · {label} {input_scores[metric]:.2f} dB"),
        (str(save_png(output, out_dir / f"{stem}_output.png")),
         f"{name} · {label} {scores[metric]:.2f} dB (CSV {float(row[metric]):.2f}) · Δ {scores[metric] - input_scores[metric]:+.2f}"),
        (str(save_png(clean, out_dir / f"{stem}_truth.png")), "ground truth"),
        (str(save_png(colored["output"], out_dir / f"{stem}_error.png")),
         f"|output − ground truth| · 0…{vmax:.3g} · mean {means['output']:.4f}"),
    ]
    return items, ""


def cases(task: str, test_set: str, model: str) -> tuple[list[tuple[str, str]], str]:
    """The best and the worst case of ``model`` (by Δ vs input), re-run: 8 images and notes."""
    frame = _with_delta(load_frame(task, test_set), task)
    group = frame[frame["model"].astype(str) == str(model)]
    if group.empty:
        raise ValueError(f"no rows for model {model!r} in {test_set}")
    made: list[Path] = []

    def out_dir() -> Path:  # made on first use: a checkout without the images writes nothing
        if not made:
            made.append(Path(tempfile.mkdtemp(prefix="cases-", dir=scratch_root(create=True))))
        return made[0]

    items, notes = [], []
    for which, index in (("best", group["_delta"].idxmax()), ("worst", group["_delta"].idxmin())):
        row = group.loc[index]
        rendered, note = render_case(task, row, out_dir)
        items += [(path, f"{which}: {text}") for path, text in rendered]
        if note:
            notes.append(f"{which}: {note}")
    return items, "\n".join(f"- {n}" for n in notes)


#: where the re-run cases and recomputed CSVs go (pruned with the other folders the app writes,
#: see ``studio.app.limits``); ``STUDIO_SCRATCH_DIR`` moves it
SCRATCH_ROOT = Path(os.environ.get("STUDIO_SCRATCH_DIR")
                    or Path(tempfile.gettempdir()) / "restoration-studio" / "benchmark")


def scratch_root(create: bool = False) -> Path:
    if create:
        SCRATCH_ROOT.mkdir(parents=True, exist_ok=True)
    return SCRATCH_ROOT


# ---- recompute ----------------------------------------------------------------------------------

def recompute(task: str, models: list[str] | None = None, progress=None) -> tuple[pd.DataFrame, Path]:
    """Evaluate every runnable model of ``task`` on the clean sample photos (``studio.evaluate``'s
    protocol, seed 0); the rows become the test set "<task>: samples (recomputed now)"."""
    from studio.app import core as app_core
    from studio.evaluation import evaluate, write_csv

    models = models or app_core.available_models(task)
    if not models:
        raise app_core.StudioError(f"No runnable {task} model in this checkout.")
    clean_dir = SAMPLES_DIR
    rows = evaluate(task, models, clean_dir, progress=progress is not None)
    frame = pd.DataFrame(rows)
    frame["dataset"] = "samples"
    path = write_csv(rows, scratch_root(create=True) / f"{task}_samples_recomputed.csv")
    with _lock:
        _recomputed[task] = frame
    return frame, path


def format_parameters(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{int(value):,}"
