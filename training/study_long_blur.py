"""Blind deblurring on long camera shake: when to grow the kernel, when to trust the result.

    python -m training.study_long_blur --study grow     # the start estimate's frame mass, short vs long blur
    python -m training.study_long_blur --study tune     # pnp-blind on long blur; chooses the confidence rule
    python -m training.study_long_blur --study confirm  # the chosen rule on photos and kernels never tuned on
    python -m training.study_long_blur --study retune   # the rule chosen again on the tune and confirm rows
    python -m training.study_long_blur --study holdout  # that rule on photos and kernels neither has seen
    python -m training.study_long_blur --study real     # real blurred photos: verdicts, sharpness, a figure

Kernels: long trajectories (``studio.deblur.degradation.long_kernels``, Boracchi & Foi's model) in
three length bands (``LONG_BANDS``: 31-44, 45-59, 60-75 px of path), from seed streams of their own:
the "tune" split's kernels choose, the "confirm" split's check. Noise sigma 0.005 and 8-bit
rounding, as the evaluation protocol.

* ``grow``: on the first 8 bsds500/val photos (the validation photos of the earlier kernel studies),
  each blurred with a short kernel (validation trajectory i, Levin k(i+1)) and a long one (tune kernel
  i mod 6), the share of the start estimate's mass on its frame (``kernel_border_mass``): the blur is
  taken to be longer than the start size above ``GROW_BORDER_MASS``, a threshold set between the two.
* ``tune``: the first ``TUNE_PHOTOS`` McMaster photos x the tune kernels. ``pnp-blind`` runs with no
  confidence rule; each row keeps the result's scores, the Wiener result's with the same kernel and
  the evidence the model computes (``BlindReport``). The rule is then chosen from the rows
  (``choose_rule``, fixed before the study ran): among the candidates of ``RULE_GRID``, the best mean
  gain up to shift among those leaving at most ``MAX_BELOW_SHARE`` of the inputs more than ``WORST_LOSS`` dB
  below their input, else the fewest such inputs.
* ``confirm``: bsds500/val photos ``CONFIRM_PHOTOS`` (never used by a deblurring study or evaluation)
  x the confirm kernels, the same rows, scored with the rule ``pnp-blind`` ships; summarised per band.
* ``retune``: ``choose_rule`` (unchanged) on the tune and confirm rows together: the McMaster photos
  alone chose a Wiener fallback that the bsds500 photos of the confirm study did not bear out.
  Measures nothing new; its summary is the rule table.
* ``holdout``: bsds500/val photos ``HOLDOUT_PHOTOS`` (after the confirm photos; never used by a study
  or an evaluation, nor by the prior's training and validation) x the "holdout" kernels, the same rows, scored with the shipped
  rule and summarised per band, as ``confirm``.

* ``real``: real camera shake without ground truth: the 7 gopro_blurred_only frames (1280x720) and
  every 12th real_blurred_lai2016 photo. Per photo, ``pnp-blind`` as shipped: its verdict, kernel
  size and re-blur residual, the no-reference sharpness (``studio.metrics.sharpness``) of input and
  output, the seconds, and how uniform the blur is: the mean kernel similarity between 31-px
  estimates made on the photo's four quadrants (1: one kernel everywhere). The inputs, outputs and
  kernels are drawn side by side in ``docs/images/real_blur.jpg``, to judge by eye.

Scores are Levin et al. 2009's: PSNR and SSIM on Y up to a shift with quarter-pixel steps
(``studio.metrics.scores_up_to_shift``), beside plain PSNR-Y. Rows are appended to
``results/tuning/long_blur_<study>.csv`` as they are measured, so an interrupted study resumes
where it stopped; the summary goes to ``..._summary.csv``.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from studio import cli
from studio.data import DATASETS, display_path, require_dataset
from studio.deblur.deconvolution import (DeconvolutionError, estimate_kernel, kernel_border_mass, kernel_similarity,
                                  wiener_deconvolve)
from studio.deblur import degradation as blur_degradation
from studio.imageio import ImageLoadError, list_images, load_image
from studio.metrics import psnr, scores_up_to_shift
from training.tune_kernel_route import save_summary

OUT_DIR = Path(__file__).resolve().parents[1] / "results" / "tuning"
TUNE_DATA = DATASETS / "mcmaster"
TUNE_PHOTOS = 8
CONFIRM_DATA = DATASETS / "bsds500" / "val"
#: the earlier kernel studies used the first 64 bsds500/val photos: these 16 are new to every study
CONFIRM_PHOTOS = slice(64, 80)
HOLDOUT_PHOTOS = slice(80, 92)
GROW_PHOTOS = 8
#: the confidence rules the tune study compares: the largest kernel spread, the largest re-blur
#: residual over the noise (None: not checked) and what an uncertain result falls back to
RULE_GRID = {"max_spread": (3.0, 4.0, 5.0, 6.0, 8.0, None), "max_residual_ratio": (1.5, 2.0, 3.0, 4.0, None),
             "fallback": ("input", "wiener")}
#: a rule may leave at most this share of the inputs more than ``WORST_LOSS`` dB below their input
MAX_BELOW_SHARE = 0.05
WORST_LOSS = 0.5


def study_inputs(paths: list[Path], kernels: list[tuple[str, np.ndarray, tuple[int, int]]], first_seed: int) -> list[dict]:
    """Every photo blurred with every kernel (mirrored borders), noise sigma 0.005 from seeds of the
    long tune stream counted from ``first_seed``, 8 bits."""
    inputs = []
    for p, path in enumerate(paths):
        clean = load_image(path)
        for k, (name, kernel, band) in enumerate(kernels):
            rng = np.random.default_rng([blur_degradation.LONG_TUNE_STREAM, first_seed + len(kernels) * p + k])
            blurred = blur_degradation.apply_blur(clean, kernel, rng, blur_degradation.EVAL_NOISE_SIGMA, kernel_name=name)
            inputs.append({"image": f"{path.stem}/{name}", "photo": path.stem, "clean": clean, "blurred": blurred.image,
                           "kernel": kernel, "kernel_name": name, "band": f"{band[0]}-{band[1]}"})
    return inputs


def score(output: np.ndarray, clean: np.ndarray) -> dict[str, float]:
    """PSNR/SSIM on Y up to a sub-pixel shift, and plain PSNR-Y."""
    shifted = scores_up_to_shift(np.clip(output, 0, 1), clean)
    return {"psnr_y_shift": shifted["psnr_y"], "ssim_y_shift": shifted["ssim_y"],
            "psnr_y": psnr(np.clip(output, 0, 1), clean, y_channel=True)}


def measure(model, item: dict) -> dict:
    """One study row: ``model`` (pnp-blind with no confidence rule) on one input."""
    started = time.perf_counter()
    restored, kernel, _ = model.restore_blind(item["blurred"])
    seconds = time.perf_counter() - started
    report = model.last_report
    base = score(item["blurred"], item["clean"])
    mine = score(restored, item["clean"])
    wiener = score(wiener_deconvolve(item["blurred"], kernel, model.wiener_balance), item["clean"])
    row = {"image": item["image"], "photo": item["photo"], "kernel": item["kernel_name"], "band": item["band"],
           "true_extent": blur_degradation.path_extent(item["kernel"]),
           "similarity": kernel_similarity(kernel, item["kernel"]), **report.as_dict(), "seconds": seconds}
    row.pop("message")
    for key in ("psnr_y_shift", "ssim_y_shift", "psnr_y"):
        row[f"input_{key}"] = base[key]
        row[f"gain_{key}"] = mine[key] - base[key]
        row[f"wiener_gain_{key}"] = wiener[key] - base[key]
    return row


def run_rows(inputs: list[dict], out: Path) -> pd.DataFrame:
    """Measure every input not yet in ``out`` (resuming an interrupted study), appending each row."""
    from studio.registry import create_model

    model = create_model("pnp-blind")
    model.max_spread = model.max_residual_ratio = model.fallback = None  # the raw result and its evidence
    done = set(pd.read_csv(out)["image"]) if out.is_file() else set()
    todo = [item for item in inputs if item["image"] not in done]
    for item in tqdm(todo, desc=out.stem, unit="input"):
        row = pd.DataFrame([measure(model, item)])
        row.round(4).to_csv(out, mode="a", header=not out.is_file(), index=False)
    return pd.read_csv(out)


def apply_rule(rows: pd.DataFrame, max_spread: float | None, max_residual_ratio: float | None, fallback: str,
               gain: str = "gain_psnr_y_shift") -> pd.Series:
    """The gain each input ends with under a confidence rule: the photo itself (0) where no blur was
    found, the ``fallback``'s (the input: 0; "wiener": the Wiener result's) where the result is
    uncertain (the kernel cut by its frame at the largest size, or past a threshold), else the result's."""
    uncertain = rows["confidence"] == "kernel uncertain"  # with no thresholds: cut by its frame
    if max_spread is not None:
        uncertain |= rows["spread"] > max_spread
    if max_residual_ratio is not None:
        uncertain |= rows["residual_ratio"] > max_residual_ratio
    fallen = 0.0 if fallback == "input" else rows[f"wiener_{gain}"]
    ended = rows[gain].where(~uncertain, fallen)
    return ended.where(rows["confidence"] != "no blur found", 0.0)


def rule_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Every rule of ``RULE_GRID`` on ``rows``: mean gain, inputs below -``WORST_LOSS`` dB, fallbacks."""
    table = []
    for spread, ratio, fallback in itertools.product(*RULE_GRID.values()):
        ended = apply_rule(rows, spread, ratio, fallback)
        table.append({"max_spread": spread, "max_residual_ratio": ratio, "fallback": fallback,
                      "mean_gain_psnr_y_shift": float(ended.mean()), "p10_gain_psnr_y_shift": float(ended.quantile(0.1)),
                      "below_worst_loss": int((ended < -WORST_LOSS).sum()),
                      "kept_results": int((ended == rows["gain_psnr_y_shift"]).sum()), "inputs": len(rows)})
    return pd.DataFrame(table)


def choose_rule(rows: pd.DataFrame) -> pd.DataFrame:
    """``rule_table`` with the chosen row marked: the best mean gain among the rules leaving at most
    ``MAX_BELOW_SHARE`` of the inputs more than ``WORST_LOSS`` dB below the input, else the rule with
    the fewest such inputs (then the best mean gain). Rules that tie (they replace the same results)
    go to the first in ``RULE_GRID``'s order: the strictest thresholds, the safer on unseen photos."""
    table = rule_table(rows)
    allowed = table[table["below_worst_loss"] <= MAX_BELOW_SHARE * len(rows)]
    if len(allowed):
        chosen = allowed["mean_gain_psnr_y_shift"].idxmax()
    else:
        chosen = table.sort_values(["below_worst_loss", "mean_gain_psnr_y_shift"], ascending=[True, False]).index[0]
    table["chosen"] = table.index == chosen
    return table


def shipped_rule() -> dict:
    """The confidence rule ``pnp-blind`` is registered with."""
    from studio.registry import get_entry

    config = get_entry("pnp-blind").config
    return {key: config.get(key) for key in ("max_spread", "max_residual_ratio", "fallback")}


def band_summary(rows: pd.DataFrame, rule: dict) -> pd.DataFrame:
    """Per length band (and over all): the raw result's and the ruled result's gains up to shift, the
    inputs below the input by more than ``WORST_LOSS`` dB, and how many the rule replaced."""
    rows = rows.assign(ended=apply_rule(rows, rule["max_spread"], rule["max_residual_ratio"], rule["fallback"] or "input"))
    rows = rows.assign(replaced=rows["ended"] != rows["gain_psnr_y_shift"])
    parts = []
    for band, group in list(rows.groupby("band", sort=True)) + [("all", rows)]:
        parts.append({"band": band, "inputs": len(group), "photos": group["photo"].nunique(),
                      "kernels": group["kernel"].nunique(),
                      "raw_gain_psnr_y_shift": group["gain_psnr_y_shift"].mean(),
                      "raw_gain_ssim_y_shift": group["gain_ssim_y_shift"].mean(),
                      "raw_gain_psnr_y": group["gain_psnr_y"].mean(),
                      "raw_below_worst_loss": int((group["gain_psnr_y_shift"] < -WORST_LOSS).sum()),
                      "gain_psnr_y_shift": group["ended"].mean(), "p10_gain_psnr_y_shift": group["ended"].quantile(0.1),
                      "below_worst_loss": int((group["ended"] < -WORST_LOSS).sum()),
                      "replaced": int(group["replaced"].sum()), "grew": int(group["grew"].sum()),
                      "mean_similarity": group["similarity"].mean(), "mean_seconds": group["seconds"].mean()})
    return pd.DataFrame(parts)


def grow_study(out: Path) -> pd.DataFrame:
    """The start estimate's mass on its frame for short and long blur (see the module docstring)."""
    from models.pnp_deblur import START_KERNEL

    require_dataset(DATASETS / "bsds500" / "val", "bsds500/val")
    paths = list_images(DATASETS / "bsds500" / "val")[:GROW_PHOTOS]
    short = blur_degradation.validation_kernels()
    levin = list(blur_degradation.load_levin_kernels().items())
    long = blur_degradation.long_kernels("tune")
    rows = []
    for i, path in enumerate(tqdm(paths, desc="grow", unit="photo")):
        clean = load_image(path)
        cases = (("short", *short[i % len(short)]), ("short", f"levin-{levin[i % 8][0]}", levin[i % 8][1]),
                 ("long", *long[i % len(long)][:2]))
        for kind, name, kernel in cases:
            rng = np.random.default_rng([blur_degradation.VAL_STREAM, 5000 + 3 * i + len(rows) % 3])
            blurred = blur_degradation.apply_blur(clean, kernel, rng, blur_degradation.EVAL_NOISE_SIGMA).image
            estimate = estimate_kernel(blurred, START_KERNEL)
            rows.append({"image": f"{path.stem}/{name}", "kind": kind, "true_extent": blur_degradation.path_extent(kernel),
                         "border_mass": kernel_border_mass(estimate.kernel)})
    table = pd.DataFrame(rows)
    table.round(4).to_csv(out, index=False)
    return table.groupby("kind")["border_mass"].agg(["min", "max", "mean", "count"]).reset_index()


REAL_FOLDERS = (("gopro_blurred_only", slice(None)), ("real_blurred_lai2016", slice(None, None, 12)))
REAL_FIGURE = Path(__file__).resolve().parents[1] / "docs" / "images" / "real_blur.jpg"


def quadrant_agreement(image: np.ndarray) -> float:
    """The mean kernel similarity between 31-px estimates on the four quadrants of ``image``: near 1
    where one kernel blurs the whole photo, lower where the shake (or the scene) varies across it."""
    height, width = image.shape[:2]
    kernels = [estimate_kernel(image[rows, cols], 31).kernel
               for rows in (slice(0, height // 2), slice(height // 2, height))
               for cols in (slice(0, width // 2), slice(width // 2, width))]
    pairs = [kernel_similarity(a, b) for i, a in enumerate(kernels) for b in kernels[i + 1:]]
    return float(np.mean(pairs))


def real_study(out: Path, figure: Path = REAL_FIGURE) -> pd.DataFrame:
    """Verdicts and no-reference checks on real blurred photos (see the module docstring)."""
    from studio.metrics import sharpness
    from studio.registry import create_model

    model = create_model("pnp-blind")
    paths = []
    for name, pick in REAL_FOLDERS:
        require_dataset(DATASETS / name, name)
        paths += [(name, path) for path in list_images(DATASETS / name)[pick]]
    rows, panels = [], []
    for folder, path in tqdm(paths, desc="real blur", unit="photo"):
        image = load_image(path)
        started = time.perf_counter()
        restored, kernel, _ = model.restore_blind(image)
        seconds = time.perf_counter() - started
        report = model.last_report
        row = {"image": f"{folder}/{path.stem}", "width": image.shape[1], "height": image.shape[0],
               **report.as_dict(), "seconds": seconds,
               "input_sharpness": sharpness(image), "output_sharpness": sharpness(restored),
               "quadrant_agreement": quadrant_agreement(image)}
        rows.append(row)
        panels.append(_figure_row(image, restored, kernel, f"{row['image']}: {report.confidence}, {report.size} px"))
    table = pd.DataFrame(rows)
    table.round(4).to_csv(out, index=False)
    _save_figure(panels, figure)
    return table


def _figure_row(image: np.ndarray, restored: np.ndarray, kernel: np.ndarray, title: str) -> np.ndarray:
    """Input and output (the centre 384 px, at full resolution) and the kernel, side by side."""
    side = min(384, *image.shape[:2])
    top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
    crop = (slice(top, top + side), slice(left, left + side))
    picture = np.zeros((side, side, 3))
    k = np.clip(kernel / max(float(kernel.max()), 1e-12), 0, 1)
    zoom = max(1, side // max(kernel.shape))
    k = np.kron(k, np.ones((zoom, zoom)))[:side, :side]
    picture[:k.shape[0], :k.shape[1]] = k[..., None]
    row = np.concatenate([image[crop], np.clip(restored[crop], 0, 1), picture], axis=1)
    return _caption(row, title)


def _caption(row: np.ndarray, title: str) -> np.ndarray:
    from PIL import Image, ImageDraw

    from studio.imageio import to_uint8

    picture = Image.fromarray(to_uint8(np.pad(row, ((22, 0), (0, 0), (0, 0)), constant_values=1.0)))
    ImageDraw.Draw(picture).text((6, 4), f"{title} -- input | pnp-blind | kernel", fill=(0, 0, 0))
    return np.asarray(picture)


def _save_figure(panels: list[np.ndarray], figure: Path) -> None:
    from PIL import Image

    width = max(p.shape[1] for p in panels)
    rows = [np.pad(p, ((0, 4), (0, width - p.shape[1]), (0, 0)), constant_values=255) for p in panels]
    figure.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, axis=0)).save(figure, quality=85)  # a docs figure: JPEG keeps it light


def build_parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", choices=("grow", "tune", "confirm", "retune", "holdout", "real"), required=True)
    parser.add_argument("--out", default=None, help="CSV of per-input rows (default results/tuning/long_blur_<study>.csv)")
    parser.add_argument("--data", default=None, help="folder of sharp photos (default: mcmaster for tune, "
                                                     "bsds500/val for confirm)")
    return parser


@cli.one_line_errors(DeconvolutionError, FileNotFoundError, ImageLoadError, ValueError)
def main(argv=None):
    args = cli.parse_as_command(lambda a: build_parser().parse_args(a), "training.study_long_blur",
                                sys.argv[1:] if argv is None else argv)
    out = cli.check_writable(args.out or OUT_DIR / f"long_blur_{args.study}.csv", "--out")
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.study == "grow":
        summary = grow_study(out)
        data = f"bsds500/val: first {GROW_PHOTOS} photos x (validation, Levin, long tune) kernels"
    elif args.study == "real":
        rows = real_study(out)
        data = "gopro_blurred_only (all) and real_blurred_lai2016 (every 12th): no ground truth"
        summary = rows.groupby(rows["image"].str.split("/").str[0]).agg(
            photos=("image", "size"), confident=("confidence", lambda c: int((c == "confident").sum())),
            uncertain=("confidence", lambda c: int((c == "kernel uncertain").sum())),
            no_blur=("confidence", lambda c: int((c == "no blur found").sum())), grew=("grew", "sum"),
            mean_size=("size", "mean"), input_sharpness=("input_sharpness", "mean"),
            output_sharpness=("output_sharpness", "mean"), quadrant_agreement=("quadrant_agreement", "mean"),
            mean_seconds=("seconds", "mean")).reset_index(names="folder")
    elif args.study == "retune":
        parts = [OUT_DIR / "long_blur_tune.csv", OUT_DIR / "long_blur_confirm.csv"]
        missing = [display_path(p) for p in parts if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"run the tune and confirm studies first: {', '.join(missing)} not found")
        rows = pd.concat([pd.read_csv(p) for p in parts], ignore_index=True)
        data = "the tune and confirm studies' rows: " + ", ".join(display_path(p) for p in parts)
        summary = choose_rule(rows)
    else:
        split = args.study
        folder = Path(args.data) if args.data else (TUNE_DATA if split == "tune" else CONFIRM_DATA)
        require_dataset(folder, "--data")
        paths = list_images(folder)
        paths = {"tune": paths[:TUNE_PHOTOS], "confirm": paths[CONFIRM_PHOTOS], "holdout": paths[HOLDOUT_PHOTOS]}[split]
        first_seed = {"tune": 0, "confirm": 10000, "holdout": 20000}[split]
        kernels = blur_degradation.long_kernels(split)
        rows = run_rows(study_inputs(paths, kernels, first_seed), out)
        data = f"{display_path(folder)}: {len(paths)} photos x {len(kernels)} long {split} kernels"
        summary = choose_rule(rows) if split == "tune" else band_summary(rows, shipped_rule())
    return save_summary(summary, args.command, data, out)


if __name__ == "__main__":
    main()
