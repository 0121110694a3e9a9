"""Long blur and the blind models' confidence: kernel size chosen from the photo, a verdict on every
blind result, the fallback rule, sub-pixel scores up to a shift, and the long-blur studies' rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from studio.deblur import deconvolution as D
from studio.deblur import degradation as B
from studio.imageio import load_image
from studio.metrics import psnr_up_to_shift, scores_up_to_shift
from studio.registry import build_model, get_entry

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"


@pytest.fixture(scope="module")
def butterfly():
    return load_image(SAMPLES / "set5_butterfly.png")


@pytest.fixture(scope="module")
def blind_runs(butterfly):
    """wiener-blind (the same estimate and size choice as pnp-blind, a fast deconvolution) on a short
    and a long straight blur of the 256 px butterfly: {length: (kernel, restored, used kernel, report)}."""
    model = build_model("wiener-blind")
    runs = {}
    for length in (9, 45):
        kernel = B.linear_kernel(length, 30)
        blurred = B.apply_blur(butterfly, kernel, np.random.default_rng(0), 0.005).image
        restored, used, _ = model.restore_blind(blurred)
        runs[length] = (kernel, blurred, restored, used, model.last_report)
    return runs


def test_a_long_kernel_is_recovered_by_growing_the_size(blind_runs):
    kernel, _, _, used, report = blind_runs[45]
    assert report.grew and report.size >= 45 and report.size == used.shape[0]
    assert D.kernel_similarity(used, kernel) > 0.7
    assert "grew" in report.message


def test_the_chosen_size_follows_the_blur_length(blind_runs):
    short, long = blind_runs[9][4], blind_runs[45][4]
    assert not short.grew and short.size == 31 and short.extent <= 15
    assert 40 <= long.extent <= 55 and long.size > short.size


def test_no_growth_beyond_the_users_maximum_or_the_photo(butterfly):
    model = build_model("wiener-blind", max_kernel=21)
    assert model.start_size() == 21 and model.grown_size(butterfly) == 21
    model = build_model("wiener-blind")
    assert model.start_size() == 31 and model.grown_size(butterfly) == 75
    assert model.grown_size(butterfly[:100, :100]) == 49  # estimation needs 2x the kernel per side


def test_an_unblurred_photo_is_reported_as_such_and_returned_as_it_is(butterfly):
    model = build_model("wiener-blind")
    restored, _, _ = model.restore_blind(butterfly)
    assert model.last_report.confidence == "no blur found" and model.last_report.fallback == "input"
    assert np.array_equal(restored, butterfly)


def test_confidence_is_high_for_the_right_kernel_and_low_for_a_wrong_one(blind_runs, butterfly):
    kernel, blurred = blind_runs[9][0], blind_runs[9][1]
    model = build_model("wiener-blind", max_residual_ratio=2.0)
    right = model.assess(blurred, butterfly, kernel, grew=False)
    assert right.confidence == "confident" and right.residual_ratio < 1.0
    wrong = model.assess(blurred, butterfly, np.rot90(kernel), grew=False)
    assert wrong.confidence == "kernel uncertain" and wrong.residual_ratio > 2.0 and "strays" in wrong.message
    hazy = build_model("wiener-blind", max_spread=3.0).assess(blurred, butterfly, np.ones((15, 15)), grew=False)
    assert hazy.confidence == "kernel uncertain" and "hazy" in hazy.message


@pytest.mark.parametrize("fallback", ["input", "wiener", None])
def test_an_uncertain_result_falls_back_as_the_rule_says(blind_runs, fallback):
    _, blurred, raw, _, _ = blind_runs[9]
    model = build_model("wiener-blind", max_spread=0.01, fallback=fallback)  # every kernel is too hazy
    restored, used, _ = model.restore_blind(blurred)
    report = model.last_report
    assert report.confidence == "kernel uncertain" and report.fallback == fallback
    if fallback == "input":
        assert np.array_equal(restored, blurred)
    elif fallback == "wiener":
        expected = np.clip(D.wiener_deconvolve(blurred, used, model.wiener_balance), 0, 1).astype(np.float32)
        assert np.allclose(restored, expected)
    else:
        assert np.array_equal(restored, raw)  # kept, only flagged


@pytest.mark.parametrize("options, error", [(dict(fallback="median"), ValueError), (dict(max_spread=0), ValueError),
                                            (dict(max_residual_ratio=-1), ValueError),
                                            (dict(start_kernel=30), D.DeconvolutionError),
                                            (dict(max_kernel=153), D.DeconvolutionError),
                                            (dict(max_kernel=2), D.DeconvolutionError)])
def test_bad_sizes_and_rules_are_refused(options, error):
    with pytest.raises(error):
        build_model("wiener-blind", **options)


def test_kernel_measures():
    line = np.zeros((31, 31))
    line[15, 5:26] = 1.0
    assert D.kernel_extent(line) == 21 and D.kernel_border_mass(line) == 0.0
    assert D.kernel_spread(line) == pytest.approx(1.0)
    assert D.kernel_spread(np.ones((21, 21))) == pytest.approx(21.0)  # a square blob: an area, not a path
    cropped = D.crop_kernel(line)
    assert cropped.shape == (25, 25) and cropped.sum() == pytest.approx(1.0)
    assert D.kernel_extent(cropped) == 21  # only the empty frame went
    edge = np.zeros((31, 31))
    edge[15, 0:16] = 1.0
    assert D.kernel_border_mass(edge) == pytest.approx(2 / 16)


def test_scores_up_to_shift_find_a_sub_pixel_translation(butterfly):
    moved = ndimage.shift(butterfly, (1.5, -2.25, 0), order=1, mode="nearest")
    scores = scores_up_to_shift(moved, butterfly)
    assert (scores["shift_y"], scores["shift_x"]) == (1.5, -2.25)
    # interpolating twice blurs a little, but far less than the half-pixel left by integer steps
    assert scores["psnr_y"] > psnr_up_to_shift(moved, butterfly) + 3 and scores["ssim_y"] > 0.9
    assert scores_up_to_shift(butterfly, butterfly)["psnr_y"] == float("inf")
    with pytest.raises(ValueError, match="shape mismatch"):
        scores_up_to_shift(butterfly[:100], butterfly)
    with pytest.raises(ValueError, match="sub-pixel step"):
        scores_up_to_shift(butterfly, butterfly, step=0)


def test_long_kernels_lie_in_their_bands_and_the_splits_differ():
    tune, confirm, holdout = B.long_kernels("tune"), B.long_kernels("confirm"), B.long_kernels("holdout")
    assert len(tune) == 2 * len(B.LONG_BANDS) and len(confirm) == len(holdout) == 3 * len(B.LONG_BANDS)
    for name, kernel, (low, high) in tune + confirm + holdout:
        assert low <= B.path_extent(kernel) <= high and kernel.sum() == pytest.approx(1.0)
    assert {b for _, _, b in confirm} == {(31, 44), (45, 59), (60, 75)}
    for first, second in ((tune, confirm), (tune, holdout), (confirm, holdout)):
        assert not any(np.array_equal(a, b) for _, a, _ in first for _, b, _ in second if a.shape == b.shape)
    again = B.long_kernels("tune")
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(tune, again))
    with pytest.raises(ValueError, match="unknown split"):
        B.long_kernels("train")


def _rows(gains, wiener, spread, ratio, confidence=None):
    n = len(gains)
    return pd.DataFrame({"image": [f"p{i}/k" for i in range(n)], "photo": [f"p{i}" for i in range(n)],
                         "band": ["31-44"] * n, "kernel": ["k"] * n, "gain_psnr_y_shift": gains,
                         "wiener_gain_psnr_y_shift": wiener, "spread": spread, "residual_ratio": ratio,
                         "confidence": confidence or ["confident"] * n, "grew": [True] * n, "similarity": [0.5] * n,
                         "seconds": [1.0] * n, "gain_ssim_y_shift": [0.0] * n, "gain_psnr_y": gains})


def test_the_rule_replaces_uncertain_results_and_keeps_the_rest():
    from training import study_long_blur as study

    rows = _rows([5.0, -3.0, 4.0, 0.2], [2.0, -1.0, 1.0, 0.1], [2.0, 9.0, 3.0, 2.0], [0.7, 0.8, 3.5, 0.9],
                 ["confident", "confident", "confident", "no blur found"])
    assert study.apply_rule(rows, None, None, "input").tolist() == [5.0, -3.0, 4.0, 0.0]
    assert study.apply_rule(rows, 5.0, None, "input").tolist() == [5.0, 0.0, 4.0, 0.0]
    assert study.apply_rule(rows, 5.0, 3.0, "wiener").tolist() == [5.0, -1.0, 1.0, 0.0]
    table = study.choose_rule(rows)
    chosen = table[table["chosen"]].iloc[0]
    # the best mean among rules leaving no input below -0.5 dB: drop the hazy kernel, keep the 3.5x residual
    assert chosen["below_worst_loss"] == 0 and chosen["mean_gain_psnr_y_shift"] == pytest.approx(9.0 / 4)
    summary = study.band_summary(rows, {"max_spread": 5.0, "max_residual_ratio": None, "fallback": "input"})
    overall = summary.set_index("band").loc["all"]
    assert overall["raw_below_worst_loss"] == 1 and overall["below_worst_loss"] == 0 and overall["replaced"] == 2


def test_an_interrupted_study_resumes_without_redoing_an_input(tmp_path, monkeypatch):
    from training import study_long_blur as study

    measured = []

    def fake_measure(model, item):  # the model's real work is covered above; this checks the bookkeeping
        measured.append(item["image"])
        return {"image": item["image"], "gain_psnr_y_shift": 1.0}

    monkeypatch.setattr(study, "measure", fake_measure)
    out = tmp_path / "rows.csv"
    inputs = [{"image": f"photo/{i}"} for i in range(3)]
    study.run_rows(inputs[:2], out)
    rows = study.run_rows(inputs, out)
    assert measured == ["photo/0", "photo/1", "photo/2"] and rows["image"].tolist() == measured


def test_pnp_blind_ships_the_rule_the_retune_study_chose():
    """The rule chosen on the tune and confirm rows together (``--study retune``), which re-scoring
    the committed rows chooses again."""
    from training import study_long_blur as study

    summary = pd.read_csv(ROOT / "results" / "tuning" / "long_blur_retune_summary.csv")
    rows = pd.concat([pd.read_csv(ROOT / "results" / "tuning" / f"long_blur_{name}.csv") for name in ("tune", "confirm")])
    again = study.choose_rule(rows)
    assert again["chosen"].tolist() == summary["chosen"].tolist()
    chosen = summary[summary["chosen"]].iloc[0]
    shipped = study.shipped_rule()
    for key in ("max_spread", "max_residual_ratio"):
        expected = None if pd.isna(chosen[key]) else float(chosen[key])
        assert shipped[key] == expected
    assert shipped["fallback"] == chosen["fallback"]
    assert get_entry("pnp-blind").config["max_kernel"] == 75
