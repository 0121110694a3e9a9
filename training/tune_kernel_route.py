"""Choose the kernel route's settings on the validation split, never on an evaluation set.

    python -m training.tune_kernel_route --study estimation   # kernel-estimation candidates
    python -m training.tune_kernel_route --study noise-floor  # pnp-blind's noise floor, given the estimate
    python -m training.tune_kernel_route --study refinement   # refitting the kernel inside pnp-blind's HQS
    python -m training.tune_kernel_route --study discrepancy  # redoing a result its own kernel does not explain
    python -m training.tune_kernel_route --study discrepancy-confirm  # the same, tested on photos new to the studies
    python -m training.tune_kernel_route --study window-pair  # two windows' kernels, the better-explaining one kept
    python -m training.tune_kernel_route --study window       # which window of a large photo is estimated on
    python -m training.tune_kernel_route --study window-large # the same question on photos larger than the window
    python -m training.tune_kernel_route --study pyramid      # whole photo or window at the coarse pyramid levels

Data: the first ``--count`` photos of bsds500/val (whole, 481x321), photo ``i`` blurred with
validation kernel ``i % 8`` (``studio.deblur.degradation.validation_kernels``: never a training or
evaluation kernel), the evaluation protocol's noise (sigma 0.005) and 8-bit rounding.

* ``estimation``: every candidate of ``ESTIMATION_CANDIDATES`` estimates each photo's kernel; scored
  by the similarity to the true kernel (``studio.deblur.deconvolution.kernel_similarity``), by the gain up
  to a shift of a Wiener deconvolution with the estimate and, the score it is chosen on, of
  ``pnp-blind``'s deconvolution with it (the two deconvolutions do not suffer the same kernel
  errors alike), with the seconds the estimate took.
* ``window``: the same scores for the candidates of ``WINDOW_COHERENCES``, which choose the window a
  photo larger than the estimation window is estimated on. Validation photos (481x321) barely exceed
  the shipped 384-px window, so the study estimates on a ``WINDOW_STUDY_SIZE`` window, small enough
  for the choice to matter, as it does for the shipped window on a large photo.
* ``window-large``: the same candidates at the shipped window size, on sharp photos larger than it:
  the sample photos of the installed scikit-image and scikit-learn (``LARGE_PHOTOS``: none is a
  training or evaluation image), each blurred with every validation kernel. A photo's inputs share
  its windows' content, so a candidate must also win photo by photo (``summarize``'s per-photo t).
* ``pyramid``: on the same large-photo inputs, the candidates of ``PYRAMID_CANDIDATES``: estimate
  every pyramid level on the window, or the coarse levels on the whole photo wherever it fits in the
  window's pixel count (``estimate_kernel``'s ``coarse_on_whole``).
* ``noise-floor``: the estimate of the shipped settings, then ``pnp-blind``'s HQS at each floor of
  ``--floors``; scored by the gain plain and up to a shift.
* ``refinement``: the estimate of the shipped settings, then ``pnp-blind`` refitting it to the
  prior's iterate before each HQS iteration of a candidate of ``REFINEMENTS`` (none: the estimate as
  it is); scored by the gain plain and up to a shift, and the final kernel's similarity.
* ``discrepancy``: the estimate of the shipped settings, then ``pnp-blind`` with no discrepancy check
  and redone with ``discrepancy_noise_scale`` x the noise; each limit of ``DISCREPANCY_LIMITS`` keeps
  the first result where its re-blur residual is within that many times the assumed noise, else the
  redo (exactly what ``pnp-blind`` with that ``discrepancy_limit`` returns); scored like noise-floor.
* ``discrepancy-confirm``: ``CONFIRM_LIMIT`` (the best limit of ``discrepancy``) against never redoing,
  on photos no study had used: the 18 McMaster photos (500x500; a restoration benchmark, never a
  deblurring one), each blurred with every validation kernel. A check that redoes a few results
  cannot reach a paired t of 2 over all of them, so this study has its own rule, fixed before it
  ran (``SAFEGUARD`` in ``summarize``): the inputs it redoes must gain more often than they lose
  (one-sided sign test, p < 0.05), the mean paired gain over all inputs must be positive, and more
  photos must gain on average than lose.
* ``window-pair``: on the same McMaster inputs, ``pnp-blind`` with the estimate of the gradient-energy
  window (the reference) against estimating on both that window and the coherent-edges-2 window
  (``WINDOW_COHERENCES``), deconvolving with each kernel and keeping the result its kernel explains
  better (the smaller ``reblur_residual``: both are compared on one photo, so what the prior cannot
  restore weighs on both alike). It changes only the inputs whose two windows differ, so it is
  chosen by the safeguard rule, fixed before it ran.

Writes one row per (candidate, photo) to ``results/tuning/kernel_<study>.csv`` and prints the
summary per candidate (also ``results/tuning/kernel_<study>_summary.csv``), whose ``chosen`` row is
the setting to ship: the best mean gain among the candidates that beat the reference setting
(``REFERENCES``) by a paired t statistic of at least 2 over the photos, else the reference.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from studio import cli
from studio.data import DATASETS, display_path, require_dataset
from studio.deblur.deconvolution import DeconvolutionError, estimate_kernel, kernel_similarity, wiener_deconvolve
from studio.deblur import degradation as blur_degradation
from studio.imageio import ImageLoadError, list_images, load_image
from studio.metrics import psnr, psnr_up_to_shift

VAL_DATA = DATASETS / "bsds500" / "val"
OUT_DIR = Path(__file__).resolve().parents[1] / "results" / "tuning"
#: the candidates of the estimation study: name -> keyword arguments of ``estimate_kernel`` (its
#: defaults are the chosen one: ``tests/test_tune_kernel_route.py`` checks it against the summary)
ESTIMATION_CANDIDATES = {
    "all-gradients": dict(edges=False, weight=4e-3),
    "edges-40": dict(edges=True, per_direction=40, weight=4e-3),
    "edges-40-l0-8e-3": dict(edges=True, per_direction=40, weight=8e-3),
}
#: the window side of the window study (px): 192x192 is a quarter of a 481x321 validation photo (the shipped
#: 384-px window is a sixth of a 1280x720 frame); a 384-px window leaves almost no choice on these photos
WINDOW_STUDY_SIZE = 192
#: the candidates of the window studies: name -> ``estimate_kernel``'s ``window_coherence`` (window runs
#: them on a WINDOW_STUDY_SIZE window, window-large at the shipped size; the default is the one
#: window-large chooses: ``tests/test_tune_kernel_route.py`` checks it)
WINDOW_COHERENCES = {"gradient-energy": 0.0, "coherent-edges": 1.0, "coherent-edges-2": 2.0}
#: sharp photos larger than the 384-px estimation window that ship inside the installed packages:
#: name -> (package, file in its sample-image folder); natural scenes only (no microscopy, astronomy)
LARGE_PHOTOS = {
    "astronaut": ("skimage", "astronaut.png"), "camera": ("skimage", "camera.png"),
    "chelsea": ("skimage", "chelsea.png"), "coffee": ("skimage", "coffee.png"),
    "motorcycle": ("skimage", "motorcycle_left.png"), "rocket": ("skimage", "rocket.jpg"),
    "china": ("sklearn", "china.jpg"), "flower": ("sklearn", "flower.jpg"),
}
#: the candidates of the pyramid study: name -> ``estimate_kernel``'s ``coarse_on_whole`` (the default is
#: the one the study chooses: ``tests/test_tune_kernel_route.py`` checks it)
PYRAMID_CANDIDATES = {"window-every-level": False, "whole-photo-coarse-levels": True}
FLOORS = (0.0075, 0.01, 0.015, 0.02)
#: the candidates of the refinement study: name -> the HQS iterations (of 8) before which the kernel is
#: refitted to the prior's iterate (``models/pnp_deblur.py``'s ``refine_at``)
REFINEMENTS = {"none": (), "at-3": (3,), "at-4": (4,), "at-3-5": (3, 5)}
#: the candidates of the discrepancy study: pnp-blind's ``discrepancy_limit`` (re-blur residual over the
#: assumed noise beyond which the result is redone); "none" never redoes
DISCREPANCY_LIMITS = (0.8, 0.9, 1.0, 1.25)
#: the limit the confirmation tests: the less eager of the two best limits of the discrepancy study
CONFIRM_LIMIT = 0.9
#: the confirmation's photos: never used by another study, never a deblurring evaluation set
CONFIRM_DATA = DATASETS / "mcmaster"
#: each study's reference setting: a candidate replaces it only with paired evidence
REFERENCES = {"estimation": "all-gradients", "window": "gradient-energy", "window-large": "gradient-energy",
              "pyramid": "window-every-level", "noise-floor": "floor-0.01", "refinement": "none",
              "discrepancy": "none", "discrepancy-confirm": "none", "window-pair": "gradient-energy"}
#: the score each study chooses on: what pnp-blind gains up to a shift
GAINS = {"estimation": "pnp_gain_shift", "window": "pnp_gain_shift", "window-large": "pnp_gain_shift",
         "pyramid": "pnp_gain_shift", "noise-floor": "gain_shift", "refinement": "gain_shift",
         "discrepancy": "gain_shift", "discrepancy-confirm": "gain_shift", "window-pair": "gain_shift"}
#: the paired t statistic a candidate needs over the reference to be chosen
MIN_T = 2.0
#: the studies whose candidate is a safeguard that changes a few results: chosen by ``summarize``'s
#: safeguard rule (sign test on the changed inputs) instead of the paired t
SAFEGUARD = {"discrepancy-confirm", "window-pair"}
#: the one-sided sign test's p value a safeguard's changed inputs must reach
MAX_SIGN_P = 0.05


def validation_photos(folder=VAL_DATA, count: int = 64) -> list[dict]:
    """Whole validation photos, photo ``i`` blurred with validation kernel ``i % 8`` (mirrored
    borders, as the evaluation protocol blurs), noise sigma 0.005 from a fixed seed, 8 bits."""
    kernels = blur_degradation.validation_kernels()
    photos = []
    for i, path in enumerate(list_images(folder)[:count]):
        name, kernel = kernels[i % len(kernels)]
        photos.append(_blurred_input(load_image(path), path.stem, path.stem, name, kernel, 2000 + i))
    if not photos:
        raise FileNotFoundError(f"no photos in {folder}")
    return photos


def package_photo(package: str, file: str) -> Path:
    """The path of a sample photo inside an installed package (scikit-image's ``data``, scikit-learn's
    ``datasets/images``)."""
    if package == "skimage":
        import skimage

        return Path(skimage.__file__).parent / "data" / file
    import sklearn.datasets

    return Path(sklearn.datasets.__file__).parent / "images" / file


def large_validation_photos(photos: dict = LARGE_PHOTOS) -> list[dict]:
    """Every photo of ``photos`` blurred with every validation kernel, as ``validation_photos`` blurs
    (8 x 8 inputs; input ``photo/kernel``)."""
    return every_kernel_inputs({stem: package_photo(package, file) for stem, (package, file) in photos.items()}, 3000)


def every_kernel_inputs(paths: dict[str, Path], first_seed: int) -> list[dict]:
    """Every photo of ``paths`` (name -> file) blurred with every validation kernel, noise seeds counted
    from ``first_seed`` (input ``photo/kernel``)."""
    kernels = blur_degradation.validation_kernels()
    inputs = []
    for p, (stem, path) in enumerate(paths.items()):
        clean = load_image(path)
        for k, (name, kernel) in enumerate(kernels):
            inputs.append(_blurred_input(clean, f"{stem}/{name}", stem, name, kernel, first_seed + len(kernels) * p + k))
    return inputs


def _blurred_input(clean: np.ndarray, image: str, photo: str, kernel_name: str, kernel: np.ndarray, seed: int) -> dict:
    """One study input: ``clean`` blurred by ``kernel`` (mirrored borders, as the evaluation protocol
    blurs), noise sigma 0.005 from the validation stream's ``seed``, 8 bits."""
    rng = np.random.default_rng([blur_degradation.VAL_STREAM, seed])
    blurred = blur_degradation.apply_blur(clean, kernel, rng, blur_degradation.EVAL_NOISE_SIGMA,
                                          kernel_name=kernel_name)
    return {"image": image, "photo": photo, "clean": clean, "blurred": blurred.image, "kernel": kernel,
            "kernel_name": kernel_name,
            # the input's own scores, once per input (every candidate's gain is measured from them)
            "input_psnr": psnr(blurred.image, clean), "input_psnr_shift": psnr_up_to_shift(blurred.image, clean)}


def gain_up_to_shift(output: np.ndarray, photo: dict) -> float:
    return psnr_up_to_shift(np.clip(output, 0, 1), photo["clean"]) - photo["input_psnr_shift"]


def estimation_study(photos: list[dict], candidates: dict, max_kernel: int) -> pd.DataFrame:
    from studio.registry import create_model

    model = create_model("pnp-blind")  # what the shipped pipeline makes of each estimate
    rows = []
    with tqdm(total=len(candidates) * len(photos), desc="kernel estimation", unit="photo") as bar:
        for name, options in candidates.items():
            for photo in photos:
                start = time.perf_counter()
                estimate = estimate_kernel(photo["blurred"], max_kernel, **options)
                seconds = time.perf_counter() - start
                kernel = estimate.kernel
                rows.append({"candidate": name, "options": repr(options), "image": photo["image"],
                             "photo": photo["photo"], "kernel": photo["kernel_name"],
                             "kernel_size": photo["kernel"].shape[0],
                             "similarity": kernel_similarity(kernel, photo["kernel"]),
                             "wiener_gain_shift": gain_up_to_shift(wiener_deconvolve(photo["blurred"], kernel), photo),
                             "pnp_gain_shift": gain_up_to_shift(model.restore(photo["blurred"], estimate=estimate)[0], photo),
                             "seconds": seconds})
                bar.update()
    return pd.DataFrame(rows)


def noise_floor_study(photos: list[dict], floors, max_kernel: int) -> pd.DataFrame:
    from studio.registry import create_model

    model = create_model("pnp-blind")
    rows = []
    with tqdm(total=len(floors) * len(photos), desc="noise floor", unit="photo") as bar:
        for photo in photos:
            estimate = estimate_kernel(photo["blurred"], max_kernel)
            for floor in floors:
                model.noise_floor = float(floor)
                restored, kernel = model.restore(photo["blurred"], estimate=estimate)
                rows.append({"candidate": f"floor-{floor:g}", "noise_floor": floor, "image": photo["image"],
                             "kernel": photo["kernel_name"], "kernel_size": photo["kernel"].shape[0],
                             "similarity": kernel_similarity(kernel, photo["kernel"]),
                             "gain": psnr(restored, photo["clean"]) - photo["input_psnr"],
                             "gain_shift": gain_up_to_shift(restored, photo)})
                bar.update()
    return pd.DataFrame(rows)


def refinement_study(photos: list[dict], candidates: dict, max_kernel: int) -> pd.DataFrame:
    from studio.registry import create_model

    model = create_model("pnp-blind")
    rows = []
    with tqdm(total=len(candidates) * len(photos), desc="kernel refinement", unit="photo") as bar:
        for photo in photos:
            estimate = estimate_kernel(photo["blurred"], max_kernel)
            for name, refine_at in candidates.items():
                model.refine_at = tuple(refine_at)
                start = time.perf_counter()
                restored, kernel = model.restore(photo["blurred"], estimate=estimate)
                rows.append({"candidate": name, "refine_at": " ".join(map(str, refine_at)) or "-", "image": photo["image"],
                             "kernel": photo["kernel_name"], "kernel_size": photo["kernel"].shape[0],
                             "similarity": kernel_similarity(kernel, photo["kernel"]),
                             "gain": psnr(restored, photo["clean"]) - photo["input_psnr"],
                             "gain_shift": gain_up_to_shift(restored, photo),
                             "seconds": time.perf_counter() - start})
                bar.update()
    return pd.DataFrame(rows)


def discrepancy_study(photos: list[dict], limits, max_kernel: int) -> pd.DataFrame:
    from studio.registry import create_model

    model = create_model("pnp-blind")
    model.discrepancy_limit = float("inf")  # measures every result's discrepancy, never redoes; each limit picks
    rows = []
    for photo in tqdm(photos, desc="discrepancy", unit="photo"):
        estimate = estimate_kernel(photo["blurred"], max_kernel)
        first, first_kernel = model.restore(photo["blurred"], estimate=estimate)
        ratio, _ = model.discrepancy
        redo, redo_kernel = model.restore(photo["blurred"], estimate=estimate, noise_scale=model.discrepancy_noise_scale)
        for limit in (None, *limits):
            redone = limit is not None and ratio > limit
            restored, kernel = (redo, redo_kernel) if redone else (first, first_kernel)
            rows.append({"candidate": "none" if limit is None else f"limit-{limit:g}", "image": photo["image"],
                         "photo": photo["photo"],
                         "kernel": photo["kernel_name"], "kernel_size": photo["kernel"].shape[0],
                         "discrepancy": ratio, "redone": redone,
                         "similarity": kernel_similarity(kernel, photo["kernel"]),
                         "gain": psnr(restored, photo["clean"]) - photo["input_psnr"],
                         "gain_shift": gain_up_to_shift(restored, photo)})
    return pd.DataFrame(rows)


def window_pair_study(photos: list[dict], max_kernel: int, second: str = "coherent-edges-2") -> pd.DataFrame:
    from studio.deblur.deconvolution import reblur_residual
    from studio.registry import create_model

    model = create_model("pnp-blind")  # what pnp-blind ships: its window_results, one per distinct window
    model.max_kernel, model.second_window = max_kernel, WINDOW_COHERENCES[second]
    rows = []
    for photo in tqdm(photos, desc="window pair", unit="photo"):
        results = model.window_results(photo["blurred"])
        # a lone result's residual too (the model skips it: nothing to choose), for the rows
        residuals = [reblur_residual(restored, kernel, photo["blurred"]) if residual is None else residual
                     for restored, kernel, _, residual in results]
        best = int(np.argmin(residuals))  # restore_blind's choice
        results = [(restored, kernel) for restored, kernel, _, _ in results]
        for name, (restored, kernel) in (("gradient-energy", results[0]), (f"pair-with-{second}", results[best])):
            rows.append({"candidate": name, "image": photo["image"], "photo": photo["photo"],
                         "kernel": photo["kernel_name"], "kernel_size": photo["kernel"].shape[0],
                         "windows_differ": len(results) == 2, "second_kept": best == 1,
                         "residual": residuals[0] if name == "gradient-energy" else residuals[best],
                         "similarity": kernel_similarity(kernel, photo["kernel"]),
                         "gain": psnr(restored, photo["clean"]) - photo["input_psnr"],
                         "gain_shift": gain_up_to_shift(restored, photo)})
    return pd.DataFrame(rows)


def summarize(rows: pd.DataFrame, reference: str, gain: str = "gain_shift", safeguard: bool = False) -> pd.DataFrame:
    """Per candidate: mean and 10th percentile of each score, photos below the input, and the paired
    comparison with the ``reference`` setting on ``gain``: the mean
    per-photo difference, the photos it improves and its paired t statistic. ``chosen`` marks the setting to ship: the
    candidate with the best mean gain among those that beat the reference with t >= ``MIN_T``, else
    the reference (per-photo gains swing by several dB, so a better mean alone is not evidence).
    ``safeguard``: a candidate that changes a few results is chosen instead if the inputs it changes
    gain more often than they lose (one-sided sign test p < ``MAX_SIGN_P``), its mean paired gain is
    positive and more photos gain on average than lose (``inputs_worse_than_reference``, ``sign_p``,
    ``photos_gaining``, ``photos_losing``)."""
    from scipy.stats import ttest_rel

    scores = [c for c in ("similarity", "wiener_gain_shift", "pnp_gain_shift", "gain", "gain_shift", "seconds")
              if c in rows]
    grouped = rows.groupby("candidate", sort=False)
    summary = grouped[scores].mean().add_prefix("mean_")
    for score in scores:
        if score != "seconds":
            summary[f"p10_{score}"] = grouped[score].quantile(0.1)
    summary["below_input"] = grouped[gain].apply(lambda g: int((g < 0).sum()))
    if "redone" in rows:  # the discrepancy study: how many results each limit redoes
        summary["redone"] = grouped["redone"].sum().astype(int)
    if "second_kept" in rows:  # the window-pair study: inputs with two windows, and those the second one wins
        summary["windows_differ"] = grouped["windows_differ"].sum().astype(int)
        summary["second_kept"] = grouped["second_kept"].sum().astype(int)
    summary["photos"] = grouped.size()
    if reference not in summary.index:
        raise ValueError(f"the reference setting {reference!r} is not among the candidates run")
    by_photo = rows.pivot(index="image", columns="candidate", values=gain)
    difference, wins, t_value = {}, {}, {}
    for name in summary.index:
        delta = by_photo[name] - by_photo[reference]
        difference[name] = float(delta.mean())
        wins[name] = int((delta > 0).sum())
        t_value[name] = 0.0 if name == reference or float(delta.std()) == 0 else \
            float(ttest_rel(by_photo[name], by_photo[reference]).statistic)
    summary["paired_gain_vs_reference"] = pd.Series(difference)
    summary["photos_better_than_reference"] = pd.Series(wins)
    summary["paired_t"] = pd.Series(t_value)
    passes = summary["paired_t"] >= MIN_T
    if "photo" in rows and rows["photo"].nunique() < rows["image"].nunique():
        # several inputs per photo are not independent evidence: the candidate must also win on the
        # photos' mean gains, paired photo by photo
        means = rows.groupby(["photo", "candidate"])[gain].mean().unstack()
        summary["photo_count"] = len(means)
        summary["paired_t_per_photo"] = pd.Series({
            name: 0.0 if name == reference or float((means[name] - means[reference]).std()) == 0 else
            float("nan") if len(means) < 2 else  # one photo: no t
            float(ttest_rel(means[name], means[reference]).statistic) for name in summary.index})
        passes &= summary["paired_t_per_photo"] >= MIN_T
    if safeguard:
        from scipy.stats import binomtest

        photo_of = rows.drop_duplicates("image").set_index("image")["photo"] if "photo" in rows else None
        sign_p, gaining, losing, worse = {}, {}, {}, {}
        for name in summary.index:
            delta = by_photo[name] - by_photo[reference]
            ups, downs = int((delta > 0).sum()), int((delta < 0).sum())
            worse[name] = downs
            sign_p[name] = 1.0 if ups + downs == 0 else float(binomtest(ups, ups + downs, alternative="greater").pvalue)
            per_photo = delta.groupby(photo_of.reindex(delta.index)).mean() if photo_of is not None else delta
            gaining[name], losing[name] = int((per_photo > 0).sum()), int((per_photo < 0).sum())
        summary["inputs_worse_than_reference"] = pd.Series(worse)
        summary["sign_p"] = pd.Series(sign_p)
        summary["photos_gaining"], summary["photos_losing"] = pd.Series(gaining), pd.Series(losing)
        passes = ((summary["sign_p"] < MAX_SIGN_P) & (summary["paired_gain_vs_reference"] > 0)
                  & (summary["photos_gaining"] > summary["photos_losing"]))
    winners = summary[passes]
    chosen = winners[f"mean_{gain}"].idxmax() if len(winners) else reference
    summary["reference"] = summary.index == reference
    summary["chosen"] = summary.index == chosen
    return summary.reset_index()


def build_parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", choices=("estimation", "window", "window-large", "pyramid", "noise-floor",
                                                  "refinement", "discrepancy", "discrepancy-confirm",
                                                  "window-pair"),
                        required=True)
    parser.add_argument("--val", default=None,
                        help="folder of sharp validation photos (default: bsds500/val; mcmaster for discrepancy-confirm "
                             "and window-pair; window-large and pyramid use LARGE_PHOTOS instead)")
    parser.add_argument("--count", type=cli.number(1, 100), default=64, help="photos used (the first N, sorted)")
    parser.add_argument("--max-kernel", type=int, default=31, help="max kernel size (odd px)")
    parser.add_argument("--candidates", nargs="+", choices=sorted(ESTIMATION_CANDIDATES),
                        help="estimation candidates to run (default: all)")
    parser.add_argument("--floors", nargs="+", type=cli.finite_float, default=list(FLOORS),
                        help="noise floors of the noise-floor study (std on [0, 1])")
    parser.add_argument("--out", default=None, help="CSV of per-photo rows (default results/tuning/kernel_<study>.csv)")
    return parser


@cli.one_line_errors(DeconvolutionError, FileNotFoundError, ImageLoadError, ValueError)
def main(argv=None):
    args = cli.parse_as_command(lambda a: build_parser().parse_args(a), "training.tune_kernel_route",
                                sys.argv[1:] if argv is None else argv)
    out = Path(args.out or OUT_DIR / f"kernel_{args.study.replace('-', '_')}.csv")
    cli.check_writable(out, "--out")
    if args.study in ("window-large", "pyramid"):
        photos = large_validation_photos(LARGE_PHOTOS)
        data = (f"{len(LARGE_PHOTOS)} scikit-image/scikit-learn sample photos x "
                f"{len(blur_degradation.validation_kernels())} validation kernels")
    elif args.study in ("discrepancy-confirm", "window-pair"):
        folder = args.val or CONFIRM_DATA
        require_dataset(folder, "--val")
        paths = {path.stem: path for path in list_images(folder)[:args.count]}
        photos = every_kernel_inputs(paths, 4000)
        data = (f"{display_path(folder)}: first {len(paths)} photos x "
                f"{len(blur_degradation.validation_kernels())} validation kernels")
    else:
        folder = args.val or VAL_DATA
        require_dataset(folder, "--val")
        photos = validation_photos(folder, args.count)
        data = f"{display_path(folder)}: first {len(photos)} photos, validation kernels"
    if args.study in ("window", "window-large"):  # window-large: the shipped window, smaller than its photos
        size = {"window": WINDOW_STUDY_SIZE} if args.study == "window" else {}
        rows = estimation_study(photos, {name: dict(**size, window_coherence=coherence)
                                         for name, coherence in WINDOW_COHERENCES.items()}, args.max_kernel)
    elif args.study == "pyramid":
        rows = estimation_study(photos, {name: dict(coarse_on_whole=whole) for name, whole in PYRAMID_CANDIDATES.items()},
                                args.max_kernel)
    elif args.study == "estimation":
        names = args.candidates or list(ESTIMATION_CANDIDATES)
        rows = estimation_study(photos, {n: ESTIMATION_CANDIDATES[n] for n in names}, args.max_kernel)
    elif args.study == "noise-floor":
        rows = noise_floor_study(photos, args.floors, args.max_kernel)
    elif args.study == "discrepancy":
        rows = discrepancy_study(photos, DISCREPANCY_LIMITS, args.max_kernel)
    elif args.study == "discrepancy-confirm":
        rows = discrepancy_study(photos, (CONFIRM_LIMIT,), args.max_kernel)
    elif args.study == "window-pair":
        rows = window_pair_study(photos, args.max_kernel)
    else:
        rows = refinement_study(photos, REFINEMENTS, args.max_kernel)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows.round(4).to_csv(out, index=False)  # first: the measurements outlive a failing summary
    summary = summarize(rows, REFERENCES[args.study], GAINS[args.study], safeguard=args.study in SAFEGUARD)
    return save_summary(summary, args.command, data, out)


def save_summary(summary: pd.DataFrame, command: str, data: str, out: Path) -> pd.DataFrame:
    """Write a study's summary beside its rows (``<out>_summary.csv``), headed by the command that
    reproduces it and the data it ran on, and print it."""
    summary.insert(0, "command", command)
    summary.insert(1, "data", data)
    summary_path = out.with_name(out.stem + "_summary.csv")
    summary.round(4).to_csv(summary_path, index=False)
    print(summary.drop(columns=["command", "data"]).round(3).to_string(index=False))
    # a study that measures nothing new (``--study retune``) writes its summary only
    print(f"wrote {display_path(out) + ' and ' if out.is_file() else ''}{display_path(summary_path)}")
    return summary


if __name__ == "__main__":
    main()
