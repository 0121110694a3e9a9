"""The dashboard's data layer: find and read the CSV/JSON files under ``results/``, torch-free.

Only pandas and the standard library: Streamlit's file watcher trips over torch, so nothing here
(or in ``studio/dashboard/app.py``) may import it, even indirectly. Every reader returns a ``Table``:
the frame when the file is usable, plus an ``error`` (unusable: say which file and why) or
``warnings`` (used with a caveat: a partial last row dropped, text in a numeric column), so one bad
file never takes the rest of the dashboard down. Values are read per cell (``as_number``,
``fmt``): a blank or non-numeric cell becomes a gap or a "?" and is named, never an exception.

Layout read (see docs/protocol.md for the column schemas):
    results/runs/<run>/metrics.csv, config.json        engine logs (studio.engine.CSVLog)
    results/protocol/<experiment>/<command>.csv        training.protocol outputs
    results/eval/*.csv                                 studio.evaluate outputs (input PSNR baseline)
    checkpoints/<model>/card.json                      model cards (input PSNR baseline)
``STUDIO_RESULTS`` and ``STUDIO_CHECKPOINTS`` override the two roots.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
RESULTS_ENV = "STUDIO_RESULTS"
CHECKPOINTS_ENV = "STUDIO_CHECKPOINTS"

#: protocol command -> the CSV files it writes under results/protocol/<experiment>/
PROTOCOL_FILES = {
    "baselines": ["baselines.csv"],
    "check-init": ["check-init.csv", "check-init-gradients.csv"],
    "overfit-small": ["overfit-small.csv"],
    "lr-find": ["lr-find.csv", "lr-find-suggestions.csv"],
    "grid-search": ["grid-search.csv"],
    "train": ["train.csv"],
    "evaluate": ["evaluate.csv", "evaluate-confusion.csv", "evaluate-per-class.csv"],
    "split-robustness": ["split-robustness.csv"],  # training/split_robustness.py
}
#: columns a file must have to be drawn at all
REQUIRED = {
    "metrics.csv": ["step"],
    "lr-find.csv": ["lr", "loss", "smoothed_loss"],
    "lr-find-suggestions.csv": ["method", "lr"],
    "grid-search.csv": ["trial", "value"],
    "check-init.csv": ["batch", "loss", "expected_loss"],
    "check-init-gradients.csv": ["parameter", "grad_norm"],
    "overfit-small.csv": ["n_examples", "steps_taken", "final_loss"],
    "baselines.csv": ["baseline"],
    "evaluate.csv": ["split"],
    "evaluate-confusion.csv": ["split", "true_class"],
    "split-robustness.csv": ["trained_on_split", "evaluated_on_split", "psnr", "input_psnr", "gain"],
}
#: columns that must be numbers where they are present
NUMERIC = {
    "metrics.csv": None,  # every column of a run log is numeric
    "lr-find.csv": ["lr", "loss", "smoothed_loss"],
    "lr-find-suggestions.csv": ["lr"],
    "grid-search.csv": ["value"],
    "check-init.csv": ["loss", "expected_loss", "tolerance", "param_tensors", "zero_grad_tensors"],
    "check-init-gradients.csv": ["grad_norm"],
    "overfit-small.csv": ["n_examples", "steps_taken", "initial_loss", "final_loss", "target_loss"],
}


def as_number(value) -> float | None:
    """A cell or JSON value as a finite float, or None (blank, text such as "x4", NaN, a list...)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def fmt(value, spec: str = "g", missing: str = "?") -> str:
    """``value`` formatted with ``spec`` ("d" rounds to an integer), or ``missing`` when it is no number."""
    number = as_number(value)
    if number is None:
        return missing
    return f"{round(number):d}" if spec == "d" else format(number, spec)


def labels(series: pd.Series, missing: str = "(blank)") -> pd.Series:
    """A column as text labels (numbers, words and blanks alike), for categorical axes."""
    return series.map(lambda v: missing if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v))


def results_root() -> Path:
    return Path(os.environ.get(RESULTS_ENV) or ROOT / "results")


def checkpoints_root() -> Path:
    return Path(os.environ.get(CHECKPOINTS_ENV) or ROOT / "checkpoints")


def display(path: Path, root: Path | None = None) -> str:
    """A path as people know it: relative to the results root's parent when it is inside."""
    path = Path(path)
    for base in ([root.parent] if root is not None else []) + [ROOT]:
        try:
            return str(path.resolve().relative_to(Path(base).resolve()))
        except ValueError:
            continue
    return str(path)


@dataclass
class Table:
    path: Path
    frame: pd.DataFrame | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.frame is not None and self.error is None


def read_table(path, required=None, numeric=None, name: str | None = None) -> Table:
    """Read one CSV defensively; ``name`` is how messages refer to the file."""
    path = Path(path)
    name = name or str(path)
    key = path.name
    required = REQUIRED.get(key, []) if required is None else required
    numeric = NUMERIC.get(key, []) if numeric is None else numeric
    table = Table(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        table.error = f"{name}: cannot be read ({err.strerror or err})"
        return table
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        table.error = f"{name}: not a UTF-8 text file (byte {err.start}); is it really a CSV?"
        return table
    if not text.strip():
        table.error = f"{name}: the file is empty (a run that has not logged yet?)"
        return table
    lines = text.splitlines()
    header = next(csv.reader([lines[0]]))
    if not text.endswith(("\n", "\r")) and len(lines) > 1:
        last = next(csv.reader([lines[-1]]), [])
        if len(last) != len(header):
            lines = lines[:-1]
            table.warnings.append(f"{name}: the last row is incomplete (file still being written?); it is ignored")
    try:
        frame = pd.read_csv(io.StringIO("\n".join(lines) + "\n"))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as err:
        detail = " ".join(str(err).split())
        table.error = f"{name}: malformed CSV ({detail})"
        return table
    if len(set(header)) != len(header) or any(not name.strip() for name in header):
        table.error = f"{name}: malformed CSV header ({', '.join(map(str, frame.columns[:8]))})"
        return table
    missing = [c for c in required if c not in frame.columns]
    if missing:
        table.error = (f"{name}: missing column(s) {', '.join(missing)} "
                       f"(has {', '.join(map(str, frame.columns[:10]))})")
        return table
    columns = list(frame.columns) if numeric is None else [c for c in numeric if c in frame.columns]
    for column in columns:
        converted = pd.to_numeric(frame[column], errors="coerce")
        bad = converted.isna() & frame[column].notna()
        if bad.any():
            first = int(bad.to_numpy().nonzero()[0][0])
            table.warnings.append(f"{name}: column {column!r} has {int(bad.sum())} non-numeric value(s) "
                                  f"(first: {frame[column].iloc[first]!r} on data row {first + 1}); shown as gaps")
        frame[column] = converted
    table.frame = frame
    return table


def read_json(path) -> tuple[dict | None, str | None]:
    path = Path(path)
    if not path.is_file():
        return None, None
    try:
        return json.loads(path.read_text()), None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        return None, f"{path}: unreadable JSON ({err})"


# ---- runs ------------------------------------------------------------------------------------

def list_runs(root: Path) -> list[str]:
    runs = Path(root) / "runs"
    if not runs.is_dir():
        return []
    return sorted(p.name for p in runs.iterdir() if (p / "metrics.csv").is_file())


def run_paths(root: Path, run: str) -> tuple[Path, Path]:
    folder = Path(root) / "runs" / run
    return folder / "metrics.csv", folder / "config.json"


def gan_loss_kind(root: Path, run: str) -> str:
    """The adversarial loss a run trained with, from its config.json: "relativistic" (ESRGAN's
    relativistic average loss) or "standard"; a missing or odd config reads as standard."""
    _, config_path = run_paths(root, run)
    config, _ = read_json(config_path)
    extra = config.get("extra") if isinstance(config, dict) else None
    kind = extra.get("gan_loss") if isinstance(extra, dict) else None
    return "relativistic" if kind == "relativistic" else "standard"


def curve_groups(frame: pd.DataFrame) -> dict[str, list[str]]:
    """Columns to draw, by chart: losses, quality metrics, learning rates, GAN balance."""
    columns = [c for c in frame.columns if c not in ("step", "seconds")]
    lr = [c for c in columns if c == "lr" or c.startswith("lr_")]
    loss = [c for c in columns if "loss" in c and c not in lr]
    balance = [c for c in columns if c in ("d_real", "d_fake")]
    metric = [c for c in columns if c not in lr + loss + balance and not c.startswith("grad_norm")]
    return {"loss": loss, "metric": metric, "lr": lr, "balance": balance}


def run_kind(frame: pd.DataFrame) -> str:
    """What a run log measures: "gan" (discriminator columns), "psnr" (an image model validated by
    PSNR), "accuracy" (a classifier) or "other"."""
    columns = set(frame.columns)
    if "loss_d" in columns:
        return "gan"
    if any(c.startswith("val_psnr") for c in columns):
        return "psnr"
    if "val_accuracy" in columns or "train_accuracy" in columns:
        return "accuracy"
    return "other"


def is_gan(frame: pd.DataFrame) -> bool:
    return "loss_d" in frame.columns and frame["loss_d"].notna().any()


def input_psnr_baseline(root: Path, run: str, frame: pd.DataFrame | None, config: dict | None,
                        checkpoints: Path | None = None, notes: list | None = None) -> tuple[float, str] | None:
    """The 'no model' PSNR on the run's validation set, and where it comes from: the run's own log
    (``val_input_psnr_y``/``val_input_psnr``), else an evaluation CSV or a model card for the same
    validation folder and scale. What it had to skip (a config value that is not usable) is
    appended to ``notes``."""
    if frame is not None:
        for column in ("val_input_psnr_y", "val_input_psnr"):
            if column in frame.columns and frame[column].notna().any():
                return float(frame[column].dropna().iloc[-1]), f"{column} in the run log"
    config = config if isinstance(config, dict) else {}
    extra = config.get("extra") if isinstance(config.get("extra"), dict) else {}
    val, raw_scale = extra.get("val"), extra.get("scale")
    scale = as_number(raw_scale)
    if raw_scale is not None and scale is None:
        if notes is not None:
            notes.append(f"runs/{run}/config.json: scale {raw_scale!r} is not a number, so no input-PSNR baseline "
                         "is looked up for this run")
        return None
    if scale is not None and scale.is_integer():
        scale = int(scale)
    if not val or not isinstance(val, str):
        return None
    dataset = Path(str(val)).name
    eval_dir = Path(root) / "eval"
    # only a run that records its scale (the SR family) has an evaluation to borrow the baseline from:
    # the rows of the same folder at the same scale
    if eval_dir.is_dir() and scale is not None:
        for path in sorted(eval_dir.glob("*.csv")):
            table = read_table(path, required=["dataset", "input_psnr_y", "scale"], numeric=["input_psnr_y"])
            if not table.ok:
                continue
            rows = table.frame[table.frame["dataset"].astype(str) == dataset]
            rows = rows[pd.to_numeric(rows["scale"], errors="coerce") == scale]
            if len(rows) and rows["input_psnr_y"].notna().any():
                per_image = rows.groupby("image")["input_psnr_y"].first() if "image" in rows.columns else rows["input_psnr_y"]
                return float(per_image.mean()), f"input_psnr_y of {dataset} in {path.name}"
    preset = extra.get("preset")
    if isinstance(preset, str) and preset and scale is not None:
        card, _ = read_json(Path(checkpoints or checkpoints_root()) / preset / "card.json")
        entry = ((card or {}).get("metrics") or {}).get(f"{dataset}_x{scale}") or {}
        if isinstance(entry, dict) and isinstance(entry.get("input_psnr_y"), (int, float)):
            return float(entry["input_psnr_y"]), f"{preset} card ({dataset} x{scale})"
    return None


# ---- protocol outputs ------------------------------------------------------------------------

def list_experiments(root: Path, filename: str | None = None) -> list[str]:
    """Experiments under results/protocol (only those with ``filename`` when given)."""
    base = Path(root) / "protocol"
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and (filename is None or (p / filename).is_file()))


def protocol_path(root: Path, experiment: str, filename: str) -> Path:
    return Path(root) / "protocol" / experiment / filename


def grid_params(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if str(c).startswith("params_")]


def best_index(frame: pd.DataFrame, column: str = "value"):
    """Index of the best finished trial (highest value), or None."""
    if column not in frame.columns:
        return None
    values = pd.to_numeric(frame[column], errors="coerce")
    if values.notna().any():
        return values.idxmax()
    return None


def lr_suggestions(frame: pd.DataFrame) -> list[dict]:
    rows = []
    for _, row in frame.iterrows():
        lr = row.get("lr")
        if isinstance(lr, (int, float)) and not math.isnan(lr) and lr > 0:
            rows.append({"method": str(row.get("method")), "lr": float(lr),
                         "smoothed_loss": row.get("smoothed_loss")})
    return rows


#: the benchmark tables that time learned models in fp32 and under bf16 autocast
BF16_BENCHES = ("sr_bench.csv", "deblur_bench.csv", "deblur_pnp_bench.csv")


def bf16_effect(root: Path | None = None) -> dict | None:
    """What bf16 autocast did in the shipped benchmarks (``results/bench``), for the notes the app
    and the CLIs show: the range of speed-ups over fp32 and of the PSNR between the bf16 and fp32
    8-bit outputs, over every trained model and size measured; None when no benchmark is readable."""
    speedups, psnrs, files = [], [], []
    for name in BF16_BENCHES:
        table = read_table(Path(root or results_root()) / "bench" / name, required=["variant", "speedup_vs_fp32"],
                           numeric=["speedup_vs_fp32", "psnr_vs_fp32_db"])
        if not table.ok:
            continue
        frame = table.frame
        rows = frame[frame["variant"].astype(str).str.startswith("bf16")]
        if "weights" in rows.columns:
            rows = rows[rows["weights"].astype(str) == "trained"]
        speedups += [v for v in rows["speedup_vs_fp32"] if as_number(v) is not None]
        if "psnr_vs_fp32_db" in rows.columns:
            psnrs += [v for v in rows["psnr_vs_fp32_db"] if as_number(v) is not None and math.isfinite(v)]
        files.append(f"results/bench/{name}")
    if not speedups:
        return None
    return {"speedup": (min(speedups), max(speedups)), "psnr_db": (min(psnrs), max(psnrs)) if psnrs else None,
            "files": files}


@functools.lru_cache(maxsize=4)
def bf16_note(root: Path | None = None) -> str:
    """One sentence on bf16's measured effect, read from the benchmarks (or saying they are absent);
    read once per process, since every comparison under bf16 shows it."""
    effect = bf16_effect(root)
    if effect is None:
        return "no benchmark of bf16 is in results/bench"
    low, high = effect["speedup"]
    text = f"{low:.1f}-{high:.1f}x faster than fp32"
    if effect["psnr_db"]:
        text += f", 8-bit outputs {effect['psnr_db'][0]:.0f}-{effect['psnr_db'][1]:.0f} dB PSNR from fp32's"
    return text + f" ({', '.join(effect['files'])})"


# ---- writing -------------------------------------------------------------------------------------

def cell_text(value, digits: int | None = None) -> str:
    """A value as a CSV cell: floats with ``digits`` decimals (6 significant digits without),
    NaN and None blank, infinity "inf", lists and dicts as JSON."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.{digits}f}" if digits is not None else f"{value:.6g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def write_table(path, rows: list[dict], columns: list[str] | None = None, digits: dict | None = None,
                default_digits: int | None = None, other_columns: bool = True) -> Path:
    """The one CSV writer of ``results/`` (evaluations, protocol tables, benchmarks): ``columns``
    first, then (``other_columns``) every other key in row order; floats with ``digits[column]``
    (else ``default_digits``) decimals. Written to a temporary file, then renamed: an interrupted
    write never leaves half a table."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(columns or [])
    if other_columns:
        columns += [key for key in dict.fromkeys(k for row in rows for k in row) if key not in columns]
    digits = digits or {}
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: cell_text(v, digits.get(k, default_digits)) for k, v in row.items()})
    os.replace(tmp, path)
    return path


# ---- the source documents' experiments, rerun -----------------------------------------------------

#: the Tiny ImageNet report's study (training/recipes/tin200_cpu.sh): experiment names under
#: results/protocol; the report's own figures are quoted beside them in ``report-003-*.csv``
TIN200 = "resnet-dropout-tin200"
TIN200_TABLES = {"lr-wd": f"{TIN200}-lr-wd", "activation": f"{TIN200}-activation", "grid": TIN200}
TIN200_FINAL_RUNS = ("baseline", "lr_high", "wd_high", "blocks_high", "dropout_high")
#: the deblurring logbook's No-Norm question at one budget (training/recipes/nonorm_fair.sh): run -> label
NONORM_FAIR_RUNS = {
    "nonorm-fair-v3-lr5e-4": "v3 (InstanceNorm), lr 5e-4",
    "nonorm-fair-nonorm-lr5e-4": "No-Norm, lr 5e-4 (v3's)",
    "nonorm-fair-nonorm-lr1e-4": "No-Norm, lr 1e-4 (the logbook's)",
}


def _read(root: Path, path: Path, required=None) -> Table:
    """``read_table`` with the path shown relative to the results root in any message."""
    return read_table(path, required=required, name=display(path, root))


def _last_row(table: Table) -> dict | None:
    return table.frame.iloc[-1].to_dict() if table.ok and not table.frame.empty else None


def tin200_final_runs(root: Path) -> tuple[pd.DataFrame, list[str]]:
    """The five final runs, one row each: ours (steps, the exported best validation step, its
    validation accuracy and macro-F1, the test split's accuracy and macro-F1) beside the report's
    (its best epoch, validation accuracy and F1). The notes name every file that is missing or
    unreadable (a run not done yet shows as a row of blanks, not an error)."""
    root, notes, rows = Path(root), [], []
    report = _read(root, protocol_path(root, TIN200, "report-003-final-runs.csv"),
                   required=["run", "epoch", "val_accuracy", "val_f1"])
    quoted = {}
    if report.ok:
        quoted = {str(r["run"]): r for r in report.frame.to_dict("records")}
    else:
        notes.append(report.error or "report-003-final-runs.csv: no rows")
    for run in TIN200_FINAL_RUNS:
        experiment = f"{TIN200}-{run}"
        row: dict = {"run": run}
        train = _read(root, protocol_path(root, experiment, "train.csv"), required=["steps", "best_value"])
        last = _last_row(train)
        if last is None:
            notes.append(f"{experiment}: {train.error or 'train.csv has no rows'}")
        else:
            row.update(lr=last.get("lr"), weight_decay=last.get("weight_decay"), model_config=last.get("model_config"),
                       steps=as_number(last.get("steps")), batch_size=as_number(last.get("batch_size")),
                       best_step=as_number(last.get("best_step")), val_accuracy=as_number(last.get("best_value")))
            metrics = _read(root, run_paths(root, str(last.get("run") or experiment))[0])
            if metrics.ok and row["best_step"] is not None and "val_macro_f1" in metrics.frame.columns:
                at_best = metrics.frame[metrics.frame["step"] == row["best_step"]]["val_macro_f1"].dropna()
                row["val_macro_f1"] = as_number(at_best.iloc[-1]) if len(at_best) else None
        evaluation = _read(root, protocol_path(root, experiment, "evaluate.csv"), required=["split", "accuracy"])
        if evaluation.ok:
            test = evaluation.frame[evaluation.frame["split"].astype(str) == "test"]
            if len(test):
                row.update(test_images=as_number(test.iloc[-1].get("n")),
                           test_accuracy=as_number(test.iloc[-1]["accuracy"]),
                           test_macro_f1=as_number(test.iloc[-1].get("macro_f1")))
        elif last is not None:
            notes.append(f"{experiment}: {evaluation.error}")
        source = quoted.get(run, {})
        row.update(report_epoch=as_number(source.get("epoch")),
                   report_val_accuracy=as_number(source.get("val_accuracy")),
                   report_val_f1=as_number(source.get("val_f1")))
        rows.append(row)
    return pd.DataFrame(rows), notes


def tin200_lr_wd(root: Path) -> tuple[pd.DataFrame | None, pd.DataFrame | None, list[str]]:
    """The LR x weight-decay table: ours (validation loss of each short run, rows LR, columns WD)
    and the report's "Loss" table, both as pivots; None where the file is missing. The first note
    says how long our runs were (from grid-search.csv's ``steps``)."""
    root, notes = Path(root), []

    def pivot(table: Table, value: str, lr: str, wd: str) -> pd.DataFrame | None:
        if not table.ok or table.frame.empty:
            notes.append(table.error or f"{table.path.name}: no rows")
            return None
        frame = table.frame.copy()
        for column in (value, lr, wd):
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
        frame = frame.dropna(subset=[value, lr, wd])
        return frame.pivot_table(index=lr, columns=wd, values=value, aggfunc="last")

    grid = _read(root, protocol_path(root, TIN200_TABLES["lr-wd"], "grid-search.csv"),
                 required=["params_lr", "params_weight_decay", "val_loss"])
    if grid.ok and "steps" in grid.frame.columns:
        steps = sorted({int(v) for v in grid.frame["steps"] if as_number(v) is not None})
        notes.append(f"each of our cells: {', '.join(map(str, steps))} training steps from the same initial weights "
                     f"and batches, then the validation loss")
    ours = pivot(grid, "val_loss", "params_lr", "params_weight_decay")
    report = pivot(_read(root, protocol_path(root, TIN200, "report-003-lr-wd.csv"),
                         required=["lr", "weight_decay", "loss"]), "loss", "lr", "weight_decay")
    return ours, report, notes


def nonorm_fair_curves(root: Path) -> tuple[pd.DataFrame, list[str]]:
    """The validation curves of the equal-budget No-Norm runs in one long frame (run, label, step,
    val_psnr, val_gain, loss_l1); notes name the runs not found."""
    frames, notes = [], []
    for run, label in NONORM_FAIR_RUNS.items():
        table = _read(Path(root), run_paths(Path(root), run)[0])
        if not table.ok or "val_gain" not in table.frame.columns:
            notes.append(f"{run}: {table.error or 'no validation yet'}")
            continue
        frame = table.frame[[c for c in ("step", "loss_l1", "val_psnr", "val_gain") if c in table.frame.columns]]
        frames.append(frame.assign(run=run, label=label))
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), notes
