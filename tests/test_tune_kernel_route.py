"""The kernel route's tuning command, on the photos the repository ships (data/samples)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from studio.deblur.degradation import validation_kernels
from training import tune_kernel_route as tune

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


def load_centre_crops(monkeypatch, rows: int, cols: int | None = None):
    """The studies load the centre ``rows`` x ``cols`` px (``cols`` None: the whole width) of the shipped
    photos, then blur them as ever: a study's bookkeeping does not need a 481x321 photo, which costs
    several times as much to estimate and deconvolve."""
    real = tune.load_image

    def centre_crop(path, *args, **kwargs):
        image = real(path, *args, **kwargs)
        height, width = image.shape[:2]
        top, left = max(0, (height - rows) // 2), 0 if cols is None else max(0, (width - cols) // 2)
        return image[top:top + rows, left:left + (width if cols is None else cols)]

    monkeypatch.setattr(tune, "load_image", centre_crop)


@pytest.fixture
def short_hqs(monkeypatch):
    """The pnp-blind each study creates runs 3 HQS iterations, its kernel refitted before the second
    (as shipped: 8, refitted before the fourth and sixth): for the tests of what a study records, not
    of how well it deconvolves."""
    import studio.registry as registry

    real = registry.create_model

    def create_model(name, *args, **kwargs):
        model = real(name, *args, **kwargs)
        if name == "pnp-blind":
            model.iterations, model.refine_at = 3, (1,)
        return model

    monkeypatch.setattr(registry, "create_model", create_model)


def test_validation_photos_use_validation_kernels_and_fixed_noise():
    first = tune.validation_photos(SAMPLES, count=2)
    again = tune.validation_photos(SAMPLES, count=2)
    kernels = validation_kernels()
    for i, photo in enumerate(first):
        assert photo["kernel_name"] == kernels[i][0]
        assert np.array_equal(photo["kernel"], kernels[i][1])
        assert photo["blurred"].shape == photo["clean"].shape
        assert np.array_equal(photo["blurred"], again[i]["blurred"])  # seeded: the same inputs every run
        assert np.abs(photo["blurred"] - photo["clean"]).mean() > 0.005  # really blurred


@pytest.mark.usefixtures("short_hqs")
def test_estimation_study_writes_rows_and_a_summary_with_its_command(tmp_path, capsys, monkeypatch):
    load_centre_crops(monkeypatch, 160, 160)
    out = tmp_path / "est.csv"
    summary = tune.main(["--study", "estimation", "--val", str(SAMPLES), "--count", "2",
                         "--candidates", "edges-40", "all-gradients", "--out", str(out)])
    rows = pd.read_csv(out)
    assert len(rows) == 4 and set(rows.candidate) == {"edges-40", "all-gradients"}
    assert rows.similarity.between(0, 1).all() and (rows.seconds > 0).all()
    assert np.isfinite(rows[["wiener_gain_shift", "pnp_gain_shift"]].to_numpy()).all()
    saved = pd.read_csv(out.with_name("est_summary.csv"))
    assert saved.command[0].startswith("python -m training.tune_kernel_route --study estimation")
    assert list(saved.photos) == [2, 2]
    mean = rows[rows.candidate == "edges-40"].similarity.mean()
    assert saved.set_index("candidate").mean_similarity["edges-40"] == pytest.approx(mean, abs=1e-4)
    assert list(summary.candidate) == ["edges-40", "all-gradients"]
    assert "edges-40" in capsys.readouterr().out


@pytest.mark.usefixtures("short_hqs")
def test_window_study_estimates_each_candidate_on_its_window(tmp_path, monkeypatch):
    load_centre_crops(monkeypatch, 224)  # 481x224: still larger than the window both ways
    windows = []
    real = tune.estimate_kernel

    def spy(*args, **kwargs):
        estimate = real(*args, **kwargs)
        windows.append(estimate.window)
        return estimate

    monkeypatch.setattr(tune, "estimate_kernel", spy)
    out = tmp_path / "window.csv"
    tune.main(["--study", "window", "--val", str(SAMPLES), "--count", "1", "--out", str(out)])
    rows = pd.read_csv(out)
    assert list(rows.candidate) == list(tune.WINDOW_COHERENCES)
    assert pd.read_csv(out.with_name("window_summary.csv")).reference.sum() == 1
    # a photo larger than WINDOW_STUDY_SIZE is estimated on a window of that size, wherever each candidate puts it
    assert len(windows) == len(tune.WINDOW_COHERENCES)
    for rows_slice, cols_slice in windows:
        assert rows_slice.stop - rows_slice.start == cols_slice.stop - cols_slice.start == tune.WINDOW_STUDY_SIZE
    assert len({(r.start, c.start) for r, c in windows}) > 1  # the candidates had a choice, and differ


def test_large_photos_are_blurred_with_every_validation_kernel():
    from studio.deblur.deconvolution import ESTIMATION_WINDOW

    one = {"coffee": tune.LARGE_PHOTOS["coffee"]}
    inputs = tune.large_validation_photos(one)
    kernels = validation_kernels()
    assert [i["image"] for i in inputs] == [f"coffee/{name}" for name, _ in kernels]
    assert {i["photo"] for i in inputs} == {"coffee"}
    assert max(inputs[0]["clean"].shape[:2]) > ESTIMATION_WINDOW  # larger than the window: the choice matters
    again = tune.large_validation_photos(one)
    for first, second, (_, kernel) in zip(inputs, again, kernels):
        assert np.array_equal(first["kernel"], kernel) and np.array_equal(first["blurred"], second["blurred"])
    assert not np.array_equal(inputs[0]["blurred"], inputs[1]["blurred"])
    for stem, (package, file) in tune.LARGE_PHOTOS.items():  # every listed photo ships with the installed packages
        assert tune.package_photo(package, file).is_file(), stem


@pytest.mark.usefixtures("short_hqs")
def test_pyramid_study_runs_each_candidate_on_the_large_photos(tmp_path, monkeypatch):
    load_centre_crops(monkeypatch, 160)  # 481x160: still wider than the estimation window, as the large photos are
    options, asked = [], []
    real = tune.estimate_kernel
    monkeypatch.setattr(tune, "estimate_kernel", lambda *a, **k: options.append(k) or real(*a, **k))

    def two_inputs(photos):  # the large photos are asked for; bands of two shipped photos keep the test short
        asked.append(photos)
        return tune.validation_photos(SAMPLES, count=2)

    monkeypatch.setattr(tune, "large_validation_photos", two_inputs)
    out = tmp_path / "pyramid.csv"
    summary = tune.main(["--study", "pyramid", "--max-kernel", "15", "--out", str(out)])
    assert asked == [tune.LARGE_PHOTOS]
    rows = pd.read_csv(out)
    assert list(rows.candidate) == [name for name in tune.PYRAMID_CANDIDATES for _ in range(2)]
    assert rows.similarity.between(0, 1).all()
    assert options == [{"coarse_on_whole": whole} for whole in tune.PYRAMID_CANDIDATES.values() for _ in range(2)]
    assert summary.reference.sum() == 1 and summary.chosen.sum() == 1


def test_several_inputs_of_one_photo_are_not_independent_evidence():
    # "one-photo" wins big on every input of one photo and loses a little on the other photos: the inputs'
    # paired t passes, the photos' does not; "steady" wins a little on every photo
    rng = np.random.default_rng(0)
    rows = []
    for photo in "abcd":
        for k in range(8):
            base = float(rng.normal(3, 1))
            gains = {"ref": base, "one-photo": base + (3.0 if photo == "a" else -0.1) + float(rng.normal(0, 0.05)),
                     "steady": base + 0.3 + float(rng.normal(0, 0.1))}
            rows += [{"candidate": c, "image": f"{photo}/{k}", "photo": photo, "gain_shift": g}
                     for c, g in gains.items()]
    summary = tune.summarize(pd.DataFrame(rows), "ref").set_index("candidate")
    assert summary.paired_t["one-photo"] >= tune.MIN_T > summary.paired_t_per_photo["one-photo"]
    assert summary.mean_gain_shift["one-photo"] > summary.mean_gain_shift["steady"]
    assert summary.chosen["steady"] and summary.chosen.sum() == 1
    assert (summary.photo_count == 4).all()


def test_missing_validation_folder_is_one_clear_line(tmp_path):
    with pytest.raises(SystemExit, match="no images"):
        tune.main(["--study", "estimation", "--val", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x.csv")])


def test_unknown_candidate_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        tune.main(["--study", "estimation", "--val", str(SAMPLES), "--candidates", "magic"])
    assert "invalid choice" in capsys.readouterr().err


def test_the_shipped_settings_are_the_chosen_validation_candidates():
    # the defaults of estimate_kernel and pnp-blind's noise floor and refinement must be what the shipped
    # tuning tables chose
    import inspect

    from studio.deblur.deconvolution import ESTIMATION_WINDOW, estimate_kernel
    from studio.registry import build_model, get_entry, model_card

    root = Path(__file__).resolve().parents[1] / "results" / "tuning"
    estimation = pd.read_csv(root / "kernel_estimation_summary.csv")
    assert estimation.chosen.sum() == 1
    chosen = tune.ESTIMATION_CANDIDATES[estimation.candidate[estimation.chosen].item()]
    defaults = {name: p.default for name, p in inspect.signature(estimate_kernel).parameters.items()}
    assert {key: defaults[key] for key in chosen} == chosen
    # the window is chosen on photos larger than it, at the shipped size (the 192-px proxy study on
    # whole validation photos came first and is kept as a record)
    window = pd.read_csv(root / "kernel_window_large_summary.csv")
    assert defaults["window_coherence"] == tune.WINDOW_COHERENCES[window.candidate[window.chosen].item()]
    assert defaults["window"] == ESTIMATION_WINDOW > tune.WINDOW_STUDY_SIZE
    pyramid = pd.read_csv(root / "kernel_pyramid_summary.csv")
    assert defaults["coarse_on_whole"] == tune.PYRAMID_CANDIDATES[pyramid.candidate[pyramid.chosen].item()]
    floors = pd.read_csv(root / "kernel_noise_floor_summary.csv")
    chosen_floor = float(floors.candidate[floors.chosen].item().removeprefix("floor-"))
    refinement = pd.read_csv(root / "kernel_refinement_summary.csv")
    chosen_refinement = tune.REFINEMENTS[refinement.candidate[refinement.chosen].item()]
    # the discrepancy study chose among limits; its confirmation on new photos decides whether to check at all
    discrepancy = pd.read_csv(root / "kernel_discrepancy_confirm_summary.csv")
    chosen_limit = discrepancy.candidate[discrepancy.chosen].item()
    chosen_limit = None if chosen_limit == "none" else float(chosen_limit.removeprefix("limit-"))
    shipped = build_model("pnp-blind")  # what create_model builds: the registration, then the card's architecture
    for config in (get_entry("pnp-blind").config, model_card("pnp-blind")["architecture"]):
        assert config["noise_floor"] == pytest.approx(chosen_floor)
        assert tuple(config.get("refine_at", ())) == chosen_refinement
        assert config.get("discrepancy_limit") == chosen_limit
    assert shipped.noise_floor == pytest.approx(chosen_floor) and shipped.refine_at == chosen_refinement
    assert shipped.discrepancy_limit == chosen_limit
    # a second window is estimated on only if the window-pair study chose it
    pair = pd.read_csv(root / "kernel_window_pair_summary.csv")
    chosen_pair = pair.candidate[pair.chosen].item()
    second = None if chosen_pair == "gradient-energy" else tune.WINDOW_COHERENCES[chosen_pair.removeprefix("pair-with-")]
    for config in (get_entry("pnp-blind").config, model_card("pnp-blind")["architecture"]):
        assert config.get("second_window") == second
    assert shipped.second_window == second


def test_refinement_study_scores_each_candidate_from_one_estimate(monkeypatch):
    load_centre_crops(monkeypatch, 160, 160)
    calls = []
    real = tune.estimate_kernel
    monkeypatch.setattr(tune, "estimate_kernel", lambda *a, **k: calls.append(1) or real(*a, **k))
    photos = tune.validation_photos(SAMPLES, count=1)
    rows = tune.refinement_study(photos, {"none": (), "at-3": (3,)}, 31)
    assert calls == [1]  # one estimate per photo, whatever the candidates
    assert list(rows.candidate) == ["none", "at-3"] and list(rows.refine_at) == ["-", "3"]
    assert rows.similarity.between(0, 1).all() and (rows.seconds > 0).all()
    assert np.isfinite(rows[["gain", "gain_shift"]].to_numpy()).all()
    # the refit kernel is not the estimate: the two candidates restore differently
    assert rows.similarity.nunique() == 2 and rows.gain_shift.nunique() == 2


def test_discrepancy_study_picks_the_redo_exactly_where_the_residual_exceeds_the_limit(monkeypatch):
    load_centre_crops(monkeypatch, 160, 160)
    photos = tune.validation_photos(SAMPLES, count=1)
    rows = tune.discrepancy_study(photos, (0.01, 100.0), 31)
    assert list(rows.candidate) == ["none", "limit-0.01", "limit-100"]
    assert rows.discrepancy.nunique() == 1 and 0.01 < rows.discrepancy[0] < 100
    assert list(rows.redone) == [False, True, False]
    # the redo is another deconvolution: its scores differ from the first result's, which the others keep
    assert rows.gain_shift[1] != rows.gain_shift[0] == rows.gain_shift[2]
    assert np.isfinite(rows[["gain", "gain_shift", "similarity"]].to_numpy()).all()


@pytest.mark.usefixtures("short_hqs")
def test_discrepancy_confirmation_blurs_each_photo_with_every_kernel_and_applies_the_safeguard_rule(tmp_path, monkeypatch):
    load_centre_crops(monkeypatch, 160, 160)
    two = validation_kernels()[:2]  # two kernels keep the test short
    monkeypatch.setattr(tune.blur_degradation, "validation_kernels", lambda: two)
    out = tmp_path / "confirm.csv"
    summary = tune.main(["--study", "discrepancy-confirm", "--val", str(SAMPLES), "--count", "1", "--out", str(out)])
    rows = pd.read_csv(out)
    stem = sorted(p.stem for p in SAMPLES.glob("*.png"))[0]
    assert list(rows.image) == [f"{stem}/{name}" for name, _ in two for _ in range(2)]
    assert list(rows.candidate) == ["none", f"limit-{tune.CONFIRM_LIMIT:g}"] * 2 and set(rows.photo) == {stem}
    assert {"sign_p", "photos_gaining", "photos_losing", "redone"} <= set(summary.columns)
    assert summary.data[0].endswith("first 1 photos x 2 validation kernels")


@pytest.mark.usefixtures("short_hqs")
def test_window_pair_keeps_the_result_its_kernel_explains_better(monkeypatch):
    # coffee's middle 200 rows (600x200: wider than the estimation window) with the first two validation
    # kernels: the two windows coincide on the first input and differ on the second. What is tested is
    # the choice between the windows' results, not the deconvolution's quality: fewer HQS iterations
    load_centre_crops(monkeypatch, 200)
    inputs = tune.every_kernel_inputs({"coffee": SAMPLES / "skimage_coffee.png"}, 4000)[:2]
    rows = tune.window_pair_study(inputs, 31)
    reference, pair = rows[rows.candidate == "gradient-energy"], rows[rows.candidate == "pair-with-coherent-edges-2"]
    assert list(reference.windows_differ) == [False, True]
    same = reference.iloc[0], pair.iloc[0]
    assert same[0].gain_shift == same[1].gain_shift and not same[1].second_kept  # nothing to choose
    differ = reference.iloc[1], pair.iloc[1]
    # the pair keeps the smaller residual: the reference's own, or the second window's if smaller
    assert differ[1].residual <= differ[0].residual
    assert differ[1].second_kept == (differ[1].residual < differ[0].residual)
    assert differ[1].second_kept == (differ[1].gain_shift != differ[0].gain_shift)


def _safeguard_rows(deltas: dict[str, list[float]]) -> pd.DataFrame:
    """Inputs a0..a3, b0..b3, ... (photo = the letter); the reference gains 1 dB on each; a candidate's
    gain is the reference's plus its delta."""
    rows = []
    for name, values in {"ref": [0.0] * 16, **deltas}.items():
        rows += [{"candidate": name, "image": f"{'abcd'[i // 4]}{i % 4}", "photo": "abcd"[i // 4], "gain_shift": 1.0 + d}
                 for i, d in enumerate(values)]
    return pd.DataFrame(rows)


def test_a_safeguard_is_chosen_on_the_inputs_it_changes():
    # "guard" changes 6 of 16 inputs, each for the better: no paired t of 2 needed, the sign test decides
    guard = [2.0, 0, 0, 0, 1.5, 0, 0, 0, 0.5, 0, 0, 0, 1.0, 0.2, 0.3, 0]
    summary = tune.summarize(_safeguard_rows({"guard": guard}), "ref", safeguard=True).set_index("candidate")
    assert summary.sign_p["guard"] == pytest.approx(0.5 ** 6)
    assert summary.photos_gaining["guard"] == 4 and summary.photos_losing["guard"] == 0
    assert summary.chosen["guard"] and summary.chosen.sum() == 1
    # the same gains with two losses among the changed inputs: 6 up, 2 down is no evidence (p 0.14)
    mixed = guard.copy()
    mixed[1], mixed[5] = -0.1, -0.1
    summary = tune.summarize(_safeguard_rows({"mixed": mixed}), "ref", safeguard=True).set_index("candidate")
    assert summary.sign_p["mixed"] > tune.MAX_SIGN_P and summary.chosen["ref"]
    # nine changes of ten gain a little, one loses more than all of them gain: the mean must be positive too
    lopsided = [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, -4.0, 0, 0, 0, 0, 0, 0]
    summary = tune.summarize(_safeguard_rows({"lopsided": lopsided}), "ref", safeguard=True).set_index("candidate")
    assert summary.sign_p["lopsided"] < tune.MAX_SIGN_P and summary.paired_gain_vs_reference["lopsided"] < 0
    assert summary.chosen["ref"]


def _rows(gains: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame([{"candidate": name, "image": f"p{i}", "gain_shift": g, "gain": g}
                         for name, values in gains.items() for i, g in enumerate(values)])


def test_a_better_mean_without_paired_evidence_does_not_replace_the_reference():
    # "lucky" wins big on one photo and loses a little on the others: a better mean, no consistent gain
    rows = _rows({"ref": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "lucky": [0.8, 1.8, 2.8, 3.8, 4.8, 9.0],
                  "steady": [1.3, 2.2, 3.4, 4.2, 5.3, 6.2]})
    summary = tune.summarize(rows, "ref").set_index("candidate")
    assert summary.mean_gain_shift["lucky"] > summary.mean_gain_shift["steady"] > summary.mean_gain_shift["ref"]
    assert summary.paired_t["lucky"] < tune.MIN_T <= summary.paired_t["steady"]
    assert summary.chosen["steady"] and summary.chosen.sum() == 1
    assert summary.paired_gain_vs_reference["steady"] == pytest.approx(1.6 / 6)
    assert summary.photos_better_than_reference["lucky"] == 1 and summary.photos_better_than_reference["steady"] == 6
    # with no candidate beating it, the reference stays
    alone = tune.summarize(rows[rows.candidate != "steady"], "ref").set_index("candidate")
    assert alone.chosen["ref"] and alone.reference["ref"] and alone.chosen.sum() == 1


@pytest.mark.usefixtures("short_hqs")
def test_a_study_without_its_reference_is_refused(tmp_path, monkeypatch):
    load_centre_crops(monkeypatch, 160, 160)
    with pytest.raises(SystemExit, match="reference setting 'all-gradients'"):
        tune.main(["--study", "estimation", "--val", str(SAMPLES), "--count", "1", "--candidates", "edges-40",
                   "--out", str(tmp_path / "x.csv")])
