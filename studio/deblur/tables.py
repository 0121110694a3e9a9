"""The motion-deblurring family's generated tables (``python -m studio.readme_tables``; torch-free).

* ``deblur-results`` -- ``results/eval/deblur_{levin2009,set5_synthetic,set14_synthetic}.csv``:
  the blurred input's PSNR, then each model's "PSNR (gain) · gain up to a shift"; bold: the
  "PSNR (gain)" of the best plain gain and the shift gain of the best shift gain, per test set.
* ``deblur-per-kernel`` -- ``results/eval/deblur_levin2009.csv`` grouped by its ``kernel`` column,
  each kernel's size read from the kernel files in ``data/kernels/``.
* ``deblur-bench`` -- ``results/bench/deblur_bench.csv``: ``DEBLUR_BENCH_MODELS`` at 1280x720
  (no bold); ``deblur-pnp-bench`` and ``deblur-pnp-bench-long``: the kernel route's speed, as a
  multiple of ``wiener-oracle`` in the same run.
* ``kernel-*`` -- the kernel route's settings chosen on validation photos
  (``training.tune_kernel_route``, ``results/tuning/kernel_*_summary.csv``); the chosen row in bold.
* ``long-blur-*`` -- the long-blur studies (``training.study_long_blur``, ``results/tuning/long_blur_*``).
* ``nonorm-fair`` -- the equal-budget No-Norm runs (``results/runs/nonorm-fair-*``).
* ``split-robustness`` -- ``results/protocol/split-robustness/split-robustness.csv``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from studio import results as result_files
from studio.readme_tables import (DASH, Sources, TableError, bench_csv, bench_row, best_keys, bold, fmt_db,
                                  input_mean, model_means, natural_key, ordered, read_csv, shown_path, signed,
                                  table_header, table_row)


#: (header, CSV); "{n}" is the number of images of that CSV
DEBLUR_SETS = (("levin2009 ({n} real pairs)", "eval/deblur_levin2009.csv"),
               ("Set5, synthetic blur", "eval/deblur_set5_synthetic.csv"),
               ("Set14, synthetic blur", "eval/deblur_set14_synthetic.csv"))
#: label and order of the deblurring models; a model not named here follows, as `name`
DEBLUR_LABELS = {
    "unsharp-mask": "`unsharp-mask` (blind)",
    "wiener-oracle": "`wiener-oracle` (knows the true kernel)",
    "pnp-oracle": "`pnp-oracle` (true kernel + learned prior)",
    "wiener-blind": "`wiener-blind` (estimated kernel + Wiener)",
    "pnp-blind": "`pnp-blind` (estimated kernel + learned prior)",
    "unet-light-v1": "`unet-light-v1` (2.92M, plateau)",
    "unet-light-v3": "`unet-light-v3` (6.54M, cosine, two stages)",
    "unet-light-nonorm": "`unet-light-nonorm` (6.53M, no norm)",
}
LEVIN_CSV = "eval/deblur_levin2009.csv"
#: the columns of the per-kernel table
PER_KERNEL_MODELS = ("wiener-oracle", "pnp-oracle", "wiener-blind", "pnp-blind", "unet-light-v3")

#: the models of the deblurring speed table, at DEBLUR_BENCH_SIZE
DEBLUR_BENCH_MODELS = ("unet-light-v1", "unet-light-v3", "unet-light-nonorm", "unsharp-mask")
DEBLUR_BENCH_SIZE = (1280, 720)
#: the kernel route's speed table: its models, beside the reference every time is a multiple of
PNP_BENCH = "bench/deblur_pnp_bench.csv"
PNP_BENCH_MODELS = ("wiener-oracle", "wiener-blind", "pnp-blind", "pnp-oracle", "unet-light-v3")
PNP_BENCH_SIZES = ((256, 256), (1280, 720))
PNP_BENCH_REFERENCE = "wiener-oracle"
PNP_BENCH_LONG = "bench/deblur_pnp_bench_long.csv"
PNP_BENCH_LONG_MODELS = ("wiener-oracle", "wiener-blind", "pnp-blind")
#: the kernel route's tuning on validation photos (``training.tune_kernel_route``): summaries per candidate
KERNEL_ESTIMATION_TUNING = "tuning/kernel_estimation_summary.csv"
KERNEL_NOISE_FLOOR_TUNING = "tuning/kernel_noise_floor_summary.csv"
KERNEL_REFINEMENT_TUNING = "tuning/kernel_refinement_summary.csv"
KERNEL_WINDOW_TUNING = "tuning/kernel_window_summary.csv"
KERNEL_WINDOW_LARGE_TUNING = "tuning/kernel_window_large_summary.csv"
KERNEL_PYRAMID_TUNING = "tuning/kernel_pyramid_summary.csv"
KERNEL_DISCREPANCY_TUNING = "tuning/kernel_discrepancy_summary.csv"
KERNEL_DISCREPANCY_CONFIRM = "tuning/kernel_discrepancy_confirm_summary.csv"
KERNEL_WINDOW_PAIR = "tuning/kernel_window_pair_summary.csv"
LONG_BLUR_TUNE = "tuning/long_blur_tune_summary.csv"
LONG_BLUR_CONFIRM = "tuning/long_blur_confirm_summary.csv"
LONG_BLUR_RETUNE = "tuning/long_blur_retune_summary.csv"
LONG_BLUR_HOLDOUT = "tuning/long_blur_holdout_summary.csv"
LONG_BLUR_GROW = "tuning/long_blur_grow_summary.csv"
LONG_BLUR_REAL = "tuning/long_blur_real.csv"
#: ``training.study_long_blur.WORST_LOSS``, the loss below the input the long-blur rule counts (not
#: imported: training imports torch)
WORST_LOSS = 0.5


SPLIT_CSV = "protocol/split-robustness/split-robustness.csv"


def split_robustness(src: Sources) -> list[str]:
    """Rows: the split a model was trained on; columns: the split it is scored on; cells: PSNR (gain)."""
    frame = read_csv(src.results / SPLIT_CSV, ("trained_on_split", "evaluated_on_split", "psnr", "input_psnr",
                                               "gain", "images"))
    trained = sorted({int(v) for v in frame["trained_on_split"]})
    scored = sorted({int(v) for v in frame["evaluated_on_split"]})
    lines = table_header(["trained on ↓ / scored on →",
                          *(f"split {s} ({int(frame[frame['evaluated_on_split'] == s]['images'].iloc[0])} images, "
                       f"input {frame[frame['evaluated_on_split'] == s]['input_psnr'].iloc[0]:.2f} dB)" for s in scored)])
    for t in trained:
        cells = [f"split {t}"]
        for s in scored:
            row = frame[(frame["trained_on_split"] == t) & (frame["evaluated_on_split"] == s)]
            cells.append(DASH if row.empty else f"{row['psnr'].iloc[0]:.2f} ({signed(row['gain'].iloc[0])})")
        lines.append(table_row(cells))
    return lines


DEBLUR_COLUMNS = ("psnr", "input_psnr", "psnr_shift", "input_psnr_shift")


def deblur_results(src: Sources) -> list[str]:
    sets = []
    for header, rel in DEBLUR_SETS:
        frame = read_csv(src.results / rel, DEBLUR_COLUMNS)
        means = model_means(frame, list(DEBLUR_COLUMNS))
        means["gain"] = means["psnr"] - means["input_psnr"]
        means["shift_gain"] = means["psnr_shift"] - means["input_psnr_shift"]
        images = frame["image"].nunique() if "image" in frame.columns else len(frame)
        sets.append((header.format(n=images), frame, means))
    models = ordered((m for _, _, means in sets for m in means.index), DEBLUR_LABELS)
    lines = table_header(["model", *(header for header, _, _ in sets)])
    lines.append(table_row(["blurred input", *(f"{input_mean(frame, 'input_psnr'):.2f}" for _, frame, _ in sets)]))
    cells_by_set = []
    for _, _, means in sets:
        gain = {m: signed(means.at[m, "gain"]) for m in means.index}
        shift = {m: signed(means.at[m, "shift_gain"]) for m in means.index}
        best_gain, best_shift = best_keys(gain), best_keys(shift)
        cells = {}
        for m in means.index:
            plain = f"{means.at[m, 'psnr']:.2f} ({gain[m]})"
            if m in best_gain and m in best_shift:
                cells[m] = bold(f"{plain} · {shift[m]}")
            else:
                cells[m] = f"{bold(plain, m in best_gain)} · {bold(shift[m], m in best_shift)}"
        cells_by_set.append(cells)
    for model in models:
        lines.append(table_row([DEBLUR_LABELS.get(model, f"`{model}`"), *(c.get(model, DASH) for c in cells_by_set)]))
    return lines


def kernel_size(name: str, folder: Path) -> tuple[int, int]:
    """(height, width) of kernel ``name`` ("levin-k1": key ``k1`` or ``levin-k1`` of an .npz in
    ``folder``, or ``<name>.npy``/``.png``); a TableError says where it looked."""
    folder = Path(folder)
    keys = list(dict.fromkeys([name, name.split("-", 1)[-1]]))
    looked = []
    if folder.is_dir():
        for archive in sorted(folder.glob("*.npz")):
            looked.append(archive.name)
            try:
                with np.load(archive) as data:
                    for key in keys:
                        if key in data.files:
                            shape = np.shape(data[key])
                            if len(shape) == 2:
                                return int(shape[0]), int(shape[1])
                            raise TableError(f"{shown_path(archive)}: kernel {key!r} is not 2-D (shape {shape})")
            except (OSError, ValueError) as err:
                if isinstance(err, TableError):
                    raise
                raise TableError(f"{shown_path(archive)}: unreadable kernel file ({' '.join(str(err).split())})") from None
        for key in keys:
            for suffix in (".npy", ".png"):
                path = folder / f"{key}{suffix}"
                looked.append(path.name)
                if not path.is_file():
                    continue
                try:
                    if suffix == ".npy":
                        shape = np.load(path).shape
                    else:
                        from PIL import Image  # only where kernels ship as images

                        with Image.open(path) as image:
                            shape = (image.height, image.width)
                except (OSError, ValueError) as err:
                    raise TableError(f"{shown_path(path)}: unreadable kernel file ({' '.join(str(err).split())})") from None
                return int(shape[0]), int(shape[1])
    archives = [name for name in looked if name.endswith(".npz")]
    files = [f"{key}{suffix}" for key in keys for suffix in (".npy", ".png")]
    where = ("no such folder" if not folder.is_dir() else
             f"no key {' or '.join(map(repr, keys))} in {', '.join(archives) or 'any .npz'}, "
             f"no file {', '.join(files)}")
    raise TableError(f"deblur-per-kernel: cannot read the size of kernel {name!r} from {shown_path(folder)} ({where})")


def deblur_per_kernel(src: Sources) -> list[str]:
    path = src.results / LEVIN_CSV
    frame = read_csv(path, DEBLUR_COLUMNS, text=("model", "kernel"))
    frame = frame.assign(gain=frame["psnr"] - frame["input_psnr"],
                         shift_gain=frame["psnr_shift"] - frame["input_psnr_shift"])
    means = frame.groupby(["kernel", "model"])[["gain", "shift_gain"]].mean()
    lines = table_header(["kernel (size)", *(f"`{m}`" for m in PER_KERNEL_MODELS)])
    for kernel in sorted(frame["kernel"].unique(), key=natural_key):
        height, width = kernel_size(kernel, src.kernels)
        size = f"{height} px" if height == width else f"{width}×{height} px"
        cells = [f"{kernel} ({size})"]
        for model in PER_KERNEL_MODELS:
            if (kernel, model) in means.index:
                row = means.loc[(kernel, model)]
                cells.append(f"{signed(row['gain'])} / {signed(row['shift_gain'])}")
            else:
                cells.append(DASH)
        lines.append(table_row(cells))
    return lines


def deblur_bench(src: Sources) -> list[str]:
    frame, path = bench_csv(src, "bench/deblur_bench.csv")
    lines = table_header(["model", "fp32", "bf16 autocast", "bf16 output vs fp32", "peak RSS (bf16)"])
    for model in DEBLUR_BENCH_MODELS:
        base = bench_row(frame, model, "fp32", DEBLUR_BENCH_SIZE)
        if base is None:
            continue
        half = bench_row(frame, model, "bf16", DEBLUR_BENCH_SIZE)
        rss = (half if half is not None else base)["peak_rss_mb"]  # the bf16 run's peak where there is one
        lines.append(table_row([
            f"`{model}`", f"{base['median_ms'] / 1000:.2f} s",
            DASH if half is None else f"{half['median_ms'] / 1000:.2f} s ({half['speedup_vs_fp32']:.2f}x)",
            DASH if half is None else fmt_db(half["psnr_vs_fp32_db"]),
            f"{rss:.0f} MB"]))
    if len(lines) == 2:
        raise TableError(f"{shown_path(path)}: no fp32 row at {DEBLUR_BENCH_SIZE[0]}x{DEBLUR_BENCH_SIZE[1]} "
                         f"of {', '.join(DEBLUR_BENCH_MODELS)}")
    return lines


def nonorm_fair(src: Sources) -> list[str]:
    """The equal-budget No-Norm runs: validation gain over the blurred input at the first, the middle and
    the last validation, and the best."""
    curves, notes = result_files.nonorm_fair_curves(src.results)
    if curves.empty:
        raise TableError(f"nonorm-fair: {'; '.join(notes)}")
    gains = curves.dropna(subset=["val_gain"])
    steps = sorted(gains["step"].unique())
    shown = sorted({steps[0], steps[len(steps) // 2], steps[-1]})
    lines = table_header(["run", *(f"gain at step {int(s)}" for s in shown), "best gain (step)", "final val PSNR"])
    for run, label in result_files.NONORM_FAIR_RUNS.items():
        rows = gains[gains["run"] == run]
        if rows.empty:
            lines.append(table_row([label, *(DASH for _ in shown), DASH, DASH]))
            continue
        by_step = rows.set_index("step")
        best = rows.loc[rows["val_gain"].idxmax()]
        lines.append(table_row([label, *(DASH if s not in by_step.index else f"{signed(by_step.loc[s, 'val_gain'])} dB"
                                         for s in shown),
                           f"{signed(best['val_gain'])} dB ({int(best['step'])})", f"{rows['val_psnr'].iloc[-1]:.2f} dB"]))
    return lines


def deblur_pnp_bench(src: Sources) -> list[str]:
    """The kernel route's speed at 256x256 and 1280x720: seconds in fp32 and under bf16 autocast, as a
    multiple of ``wiener-oracle`` in the same run, and the peak memory."""
    return _pnp_bench_table(src, PNP_BENCH, PNP_BENCH_MODELS)


def deblur_pnp_bench_long(src: Sources) -> list[str]:
    """The same on a sharp photo blurred by a 75-px camera-shake path (the blind models' size grows)."""
    return _pnp_bench_table(src, PNP_BENCH_LONG, PNP_BENCH_LONG_MODELS)


def _pnp_bench_table(src: Sources, rel: str, models: tuple[str, ...]) -> list[str]:
    frame, path = bench_csv(src, rel)
    header = ["model"]
    for width, height in PNP_BENCH_SIZES:
        header += [f"{width}×{height} fp32", f"{width}×{height} bf16"]
    lines = table_header([*header, "peak RSS"])
    for model in models:
        cells, peaks = [f"`{model}`"], []
        for size in PNP_BENCH_SIZES:
            reference = bench_row(frame, PNP_BENCH_REFERENCE, "fp32", size)
            for variant in ("fp32", "bf16"):
                row = bench_row(frame, model, variant, size)
                if row is None:
                    cells.append(DASH)
                    continue
                peaks.append(row["peak_rss_mb"])
                ratio = "" if reference is None else f" ({row['median_ms'] / reference['median_ms']:.0f}x)"
                cells.append(f"{row['median_ms'] / 1000:.2f} s{ratio}")
        if not peaks:
            continue
        lines.append(table_row([*cells, f"{max(peaks):.0f} MB"]))
    if len(lines) == 2:
        raise TableError(f"{shown_path(path)}: no row of {', '.join(models)}")
    return lines


def _paired(row) -> str:
    """A candidate's paired comparison with the reference setting: mean difference, t statistic and
    the photos it improves."""
    if row.reference:
        return "reference"
    per_photo = getattr(row, "paired_t_per_photo", None)  # studies with several inputs per photo
    per_photo = "" if per_photo is None or pd.isna(per_photo) else f"; per photo t {signed(per_photo, 1)}"
    return (f"{signed(row.paired_gain_vs_reference)} (t {signed(row.paired_t, 1)}; better on "
            f"{int(row.photos_better_than_reference)} of {int(row.photos)}{per_photo})")


def _tuning_summary(path: Path, numeric: tuple[str, ...]) -> pd.DataFrame:
    """A tuning summary of ``training.tune_kernel_route``: its scores, the paired comparison with the
    reference setting and exactly one chosen row."""
    frame = read_csv(path, (*numeric, "paired_gain_vs_reference", "paired_t", "photos_better_than_reference",
                            "below_input", "photos"), text=("candidate", "reference", "chosen"))
    for column in ("reference", "chosen"):
        frame[column] = frame[column].str.lower() == "true"
    if frame["chosen"].sum() != 1:
        raise TableError(f"{shown_path(path)}: expected exactly one chosen row, found {int(frame['chosen'].sum())}")
    return frame


def kernel_estimation_tuning(src: Sources) -> list[str]:
    """Kernel-estimation candidates on validation photos: similarity to the true kernel, the gain up to
    a shift of a Wiener and of ``pnp-blind``'s deconvolution with the estimate (mean / 10th percentile;
    the latter paired against the reference setting), photos below the input, time; chosen row in bold."""
    return _estimate_scores_table(src.results / KERNEL_ESTIMATION_TUNING)


def kernel_window_tuning(src: Sources) -> list[str]:
    """The estimation-window candidates on validation photos, scored as the estimation candidates are."""
    return _estimate_scores_table(src.results / KERNEL_WINDOW_TUNING)


def kernel_window_large_tuning(src: Sources) -> list[str]:
    """The estimation-window candidates on photos larger than the window, scored as the estimation
    candidates are (the paired comparison also per photo)."""
    return _estimate_scores_table(src.results / KERNEL_WINDOW_LARGE_TUNING)


def kernel_pyramid_tuning(src: Sources) -> list[str]:
    """Window or whole photo at the coarse pyramid levels, on photos larger than the window, scored as
    the estimation candidates are (the paired comparison also per photo)."""
    return _estimate_scores_table(src.results / KERNEL_PYRAMID_TUNING)


def _estimate_scores_table(path: Path) -> list[str]:
    frame = _tuning_summary(path, ("mean_similarity", "p10_similarity", "mean_wiener_gain_shift",
                                   "p10_wiener_gain_shift", "mean_pnp_gain_shift", "p10_pnp_gain_shift", "mean_seconds"))
    lines = table_header(["candidate", "kernel similarity, mean / 10th pct", "Wiener gain up to shift, mean / 10th pct",
                          "`pnp-blind` gain up to shift, mean / 10th pct", "`pnp-blind` vs the reference, paired",
                          "`pnp-blind` below the input", "s per estimate"])
    for row in frame.itertuples():
        lines.append(table_row([bold(f"`{row.candidate}`", row.chosen), f"{row.mean_similarity:.3f} / {row.p10_similarity:.3f}",
                                f"{signed(row.mean_wiener_gain_shift)} / {signed(row.p10_wiener_gain_shift)}",
                                f"{signed(row.mean_pnp_gain_shift)} / {signed(row.p10_pnp_gain_shift)}",
                                _paired(row), f"{int(row.below_input)} of {int(row.photos)}", f"{row.mean_seconds:.2f}"]))
    return lines


def kernel_noise_floor_tuning(src: Sources) -> list[str]:
    """``pnp-blind``'s noise floor on validation photos: gain plain and up to shift (mean, 10th
    percentile, paired against the reference setting), photos below the input; the chosen row in bold."""
    path = src.results / KERNEL_NOISE_FLOOR_TUNING
    frame = _tuning_summary(path, ("mean_gain", "mean_gain_shift", "p10_gain_shift"))
    lines = table_header(["noise floor", "gain", "gain up to shift, mean / 10th pct", "vs the reference, paired",
                          "below the input"])
    for row in frame.itertuples():
        floor = row.candidate.removeprefix("floor-")
        lines.append(table_row([bold(floor, row.chosen), signed(row.mean_gain),
                                f"{signed(row.mean_gain_shift)} / {signed(row.p10_gain_shift)}", _paired(row),
                                f"{int(row.below_input)} of {int(row.photos)}"]))
    return lines


def kernel_refinement_tuning(src: Sources) -> list[str]:
    """``pnp-blind``'s kernel refinement on validation photos: the HQS iterations before which the
    estimate is refitted to the prior's iterate, the final kernel's similarity, the gain plain and up to
    shift (paired against no refinement), photos below the input, seconds per deconvolution."""
    path = src.results / KERNEL_REFINEMENT_TUNING
    frame = _tuning_summary(path, ("mean_similarity", "mean_gain", "mean_gain_shift", "p10_gain_shift", "mean_seconds"))
    lines = table_header(["kernel refitted before HQS iteration (of 8)", "similarity of the last kernel", "gain",
                          "gain up to shift, mean / 10th pct", "vs no refinement, paired", "below the input",
                          "s per deconvolution"])
    for row in frame.itertuples():
        # candidates name 0-based iteration indices (``refine_at``): shown counted from 1
        at = ("none" if row.candidate == "none" else
              ", ".join(str(int(i) + 1) for i in row.candidate.removeprefix("at-").split("-")))
        lines.append(table_row([bold(at, row.chosen), f"{row.mean_similarity:.3f}", signed(row.mean_gain),
                                f"{signed(row.mean_gain_shift)} / {signed(row.p10_gain_shift)}", _paired(row),
                                f"{int(row.below_input)} of {int(row.photos)}", f"{row.mean_seconds:.2f}"]))
    return lines


def kernel_discrepancy_tuning(src: Sources) -> list[str]:
    """``pnp-blind``'s discrepancy limit on validation photos: the photos it redoes, the gain plain and
    up to shift (paired against never redoing), photos below the input; the chosen row in bold."""
    path = src.results / KERNEL_DISCREPANCY_TUNING
    frame = _tuning_summary(path, ("mean_gain", "mean_gain_shift", "p10_gain_shift", "redone"))
    lines = table_header(["redo beyond (× the assumed noise)", "photos redone", "gain", "gain up to shift, mean / 10th pct",
                          "vs never redoing, paired", "below the input"])
    for row in frame.itertuples():
        limit = "never" if row.candidate == "none" else row.candidate.removeprefix("limit-")
        lines.append(table_row([bold(limit, row.chosen), f"{int(row.redone)} of {int(row.photos)}", signed(row.mean_gain),
                                f"{signed(row.mean_gain_shift)} / {signed(row.p10_gain_shift)}", _paired(row),
                                f"{int(row.below_input)} of {int(row.photos)}"]))
    return lines


def kernel_discrepancy_confirm(src: Sources) -> list[str]:
    """The discrepancy check's confirmation on new photos, chosen by the safeguard rule: the inputs it
    redoes, how many of them gain and lose (one-sided sign test), the photos whose mean gains or
    loses, the mean gain plain and up to shift, inputs below the input; the chosen row in bold."""
    path = src.results / KERNEL_DISCREPANCY_CONFIRM
    frame = _tuning_summary(path, ("mean_gain", "mean_gain_shift", "p10_gain_shift", "redone", "sign_p",
                                   "inputs_worse_than_reference", "photos_gaining", "photos_losing", "photo_count"))
    lines = table_header(["redo beyond (× the assumed noise)", "inputs redone", "gain", "gain up to shift, mean / 10th pct",
                          "vs never redoing: mean", "redone inputs better / worse (sign test p)", "photos better / worse",
                          "below the input"])
    for row in frame.itertuples():
        limit = "never" if row.candidate == "none" else row.candidate.removeprefix("limit-")
        lines.append(table_row([bold(limit, row.chosen), f"{int(row.redone)} of {int(row.photos)}", signed(row.mean_gain),
                                f"{signed(row.mean_gain_shift)} / {signed(row.p10_gain_shift)}", *_safeguard_cells(row),
                                f"{int(row.below_input)} of {int(row.photos)}"]))
    return lines


def _safeguard_cells(row) -> list[str]:
    """A safeguard's comparison with the reference: mean paired gain, the changed inputs that gain and
    lose (one-sided sign test), the photos whose mean gains and loses."""
    if row.reference:
        return ["reference"] * 3
    return [signed(row.paired_gain_vs_reference),
            f"{int(row.photos_better_than_reference)} / {int(row.inputs_worse_than_reference)} (p {row.sign_p:.2g})",
            f"{int(row.photos_gaining)} / {int(row.photos_losing)} of {int(row.photo_count)}"]


def kernel_window_pair(src: Sources) -> list[str]:
    """The window pair against the gradient-energy window alone on new photos, chosen by the safeguard
    rule: the inputs whose two windows differ, those where the second window's result is kept, the
    gain up to shift, the comparison on the changed inputs and photos; the chosen row in bold."""
    path = src.results / KERNEL_WINDOW_PAIR
    frame = _tuning_summary(path, ("mean_similarity", "mean_gain_shift", "p10_gain_shift", "windows_differ",
                                   "second_kept", "sign_p", "inputs_worse_than_reference", "photos_gaining",
                                   "photos_losing", "photo_count"))
    lines = table_header(["candidate", "second window's result kept", "kernel similarity", "gain up to shift, mean / 10th pct",
                          "vs the reference: mean", "changed inputs better / worse (sign test p)", "photos better / worse",
                          "below the input"])
    for row in frame.itertuples():
        kept = "–" if row.reference else f"{int(row.second_kept)} of {int(row.windows_differ)} with two windows"
        lines.append(table_row([bold(f"`{row.candidate}`", row.chosen), kept, f"{row.mean_similarity:.3f}",
                                f"{signed(row.mean_gain_shift)} / {signed(row.p10_gain_shift)}", *_safeguard_cells(row),
                                f"{int(row.below_input)} of {int(row.photos)}"]))
    return lines


def _rule_text(spread, ratio, fallback) -> str:
    checks = [f"spread ≤ {spread:g}" if pd.notna(spread) else "", f"residual ≤ {ratio:g}× noise" if pd.notna(ratio) else ""]
    checks = [c for c in checks if c]
    return f"{' and '.join(checks) or 'frame only'}; else {fallback}"


def long_blur_rule(src: Sources) -> list[str]:
    """The confidence rules of the long-blur tune study (see ``rule_table``)."""
    return rule_table(src, LONG_BLUR_TUNE)


def long_blur_retune(src: Sources) -> list[str]:
    """The confidence rules on the tune and confirm studies' rows together (see ``rule_table``)."""
    return rule_table(src, LONG_BLUR_RETUNE)


def rule_table(src: Sources, summary: str) -> list[str]:
    """The confidence rules of a rule study's ``summary``: the chosen one, then the best other rule of
    each fallback and the rule that never replaces a result (what the model gives raw)."""
    frame = read_csv(src.results / summary, ("mean_gain_psnr_y_shift", "p10_gain_psnr_y_shift",
                                                    "below_worst_loss", "kept_results", "inputs"), text=("fallback",))
    for column in ("max_spread", "max_residual_ratio"):  # blank: not checked
        frame[column] = pd.to_numeric(frame.get(column), errors="coerce")
    frame["chosen"] = frame["chosen"].astype(str).str.lower() == "true"
    raw = frame[frame["max_spread"].isna() & frame["max_residual_ratio"].isna() & (frame["fallback"] == "input")]
    shown = [frame[frame["chosen"]]]
    for fallback in ("input", "wiener"):
        others = frame[(frame["fallback"] == fallback) & ~frame["chosen"]]
        shown.append(others.sort_values(["below_worst_loss", "mean_gain_psnr_y_shift"], ascending=[True, False]).head(1))
    shown.append(raw)
    table = pd.concat(shown).drop_duplicates(["max_spread", "max_residual_ratio", "fallback"])
    lines = table_header(["confident when", "gain up to shift (Y), mean / 10th pct", f"inputs > {WORST_LOSS:g} dB below the input",
                          "results kept"])
    for row in table.itertuples():
        label = _rule_text(row.max_spread, row.max_residual_ratio, row.fallback)
        lines.append(table_row([bold(label, row.chosen),
                                f"{signed(row.mean_gain_psnr_y_shift)} / {signed(row.p10_gain_psnr_y_shift)}",
                                f"{int(row.below_worst_loss)} of {int(row.inputs)}", f"{int(row.kept_results)}"]))
    return lines


def long_blur_confirm(src: Sources) -> list[str]:
    """pnp-blind on the confirm split, per kernel-length band (see ``band_table``)."""
    return band_table(src, LONG_BLUR_CONFIRM)


def long_blur_holdout(src: Sources) -> list[str]:
    """pnp-blind on the holdout split, per kernel-length band (see ``band_table``)."""
    return band_table(src, LONG_BLUR_HOLDOUT)


def band_table(src: Sources, summary: str) -> list[str]:
    """pnp-blind per kernel-length band of a checking study's ``summary``: raw and with the shipped rule."""
    frame = read_csv(src.results / summary, ("inputs", "photos", "kernels", "raw_gain_psnr_y_shift",
                                                       "raw_gain_ssim_y_shift", "raw_gain_psnr_y",
                                                       "raw_below_worst_loss", "gain_psnr_y_shift",
                                                       "p10_gain_psnr_y_shift", "below_worst_loss", "replaced", "grew",
                                                       "mean_similarity", "mean_seconds"), text=("band",))
    lines = table_header(["path length (px)", "inputs (photos × kernels)", "kernel similarity",
                          "raw: gain up to shift PSNR-Y / SSIM-Y · plain PSNR-Y", f"raw: > {WORST_LOSS:g} dB below",
                          "with the rule: gain up to shift, mean / 10th pct", f"with the rule: > {WORST_LOSS:g} dB below",
                          "replaced by the rule", "seconds"])
    for row in frame.itertuples():
        lines.append(table_row([str(row.band), f"{int(row.inputs)} ({int(row.photos)} × {int(row.kernels)})",
                                f"{row.mean_similarity:.2f}",
                                f"{signed(row.raw_gain_psnr_y_shift)} / {signed(row.raw_gain_ssim_y_shift, 3)} · "
                                f"{signed(row.raw_gain_psnr_y)}",
                                f"{int(row.raw_below_worst_loss)}",
                                f"{signed(row.gain_psnr_y_shift)} / {signed(row.p10_gain_psnr_y_shift)}",
                                f"{int(row.below_worst_loss)}", f"{int(row.replaced)}", f"{row.mean_seconds:.0f}"]))
    return lines


def long_blur_grow(src: Sources) -> list[str]:
    """The start estimate's mass on its frame for short and long blur (the grow threshold's evidence)."""
    frame = read_csv(src.results / LONG_BLUR_GROW, ("min", "max", "mean", "count"), text=("kind",))
    lines = table_header(["blur", "inputs", "frame mass of the 31-px estimate: min / mean / max"])
    for row in frame.itertuples():
        lines.append(table_row([row.kind, f"{int(row.count)}", f"{abs(row.min):.3f} / {row.mean:.3f} / {row.max:.3f}"]))
    return lines


def long_blur_real(src: Sources) -> list[str]:
    """pnp-blind on real blurred photos (no ground truth): its verdict, the size it chose, the
    sharpness before and after, how alike the four quadrants' kernels are, the seconds."""
    frame = read_csv(src.results / LONG_BLUR_REAL, ("width", "height", "size", "residual_ratio", "input_sharpness",
                                                    "output_sharpness", "quadrant_agreement", "seconds"),
                     text=("image", "confidence"))
    lines = table_header(["photo", "size", "verdict", "kernel (px)", "residual / noise", "sharpness in → out",
                          "quadrants' kernel similarity", "seconds"])
    for row in frame.itertuples():
        lines.append(table_row([f"`{row.image}`", f"{int(row.width)}×{int(row.height)}", row.confidence, f"{int(row.size)}",
                                f"{row.residual_ratio:.2f}", f"{row.input_sharpness:.2f} → {row.output_sharpness:.2f}",
                                f"{row.quadrant_agreement:.2f}", f"{row.seconds:.0f}"]))
    return lines
