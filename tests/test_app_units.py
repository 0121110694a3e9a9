"""The studio's building blocks without a server: views, blur controls, benchmark readers, cards."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from studio.app import benchmark as app_benchmark, core as app_core, model_cards as app_models, samples as app_samples, views as app_views
from studio.deblur import degradation as blur
from studio.imageio import load_image, quantize, to_uint8
from studio.tasks import TASKS


def test_error_colour_scale_and_colorbar():
    assert app_views.nice_ceiling(0.13) == 0.2 and app_views.nice_ceiling(0.2) == 0.2
    assert app_views.nice_ceiling(0.031) == 0.05 and app_views.nice_ceiling(0) == 0.01
    colored = app_views.colorize(np.array([[0.0, 0.1, 5.0]]), 0.1)
    assert colored.dtype == np.uint8 and tuple(colored[0, 0]) == (0, 0, 4) and tuple(colored[0, 1]) == tuple(colored[0, 2])
    maps, means, vmax = app_views.error_maps({"a": np.zeros((8, 8, 3)), "b": np.full((8, 8, 3), 0.3)}, np.zeros((8, 8, 3)))
    assert vmax == pytest.approx(0.5) and means["a"] == 0 and means["b"] == pytest.approx(0.3, abs=1e-6)
    # fitted to the models' maps: a model's small error fills the scale, the input's larger one saturates
    truth = np.zeros((8, 8, 3))
    maps, _, vmax = app_views.error_maps({"input": np.full((8, 8, 3), 0.3), "model": np.full((8, 8, 3), 0.04)}, truth,
                                         scale_from=["model"])
    assert vmax == pytest.approx(0.05) and tuple(maps["input"][0, 0]) == tuple(app_views.colorize(np.ones((1, 1)), 1)[0, 0])
    assert app_views.colorbar(0.2).shape[2] == 3


def test_crop_box_stays_inside_and_crops_enlarge():
    assert app_views.crop_box(100, 200, 0, 0, 32) == (0, 0, 32, 32)
    assert app_views.crop_box(100, 200, 199, 99, 32) == (68, 168, 100, 200)
    assert app_views.crop_box(20, 30, 15, 10, 64) == (0, 5, 20, 25)  # a region larger than the image shrinks
    image = np.random.default_rng(0).random((50, 50, 3))
    assert app_views.crop(image, (0, 0, 32, 32)).shape == (256, 256, 3)


def test_sharpness_and_spectrum():
    rng = np.random.default_rng(0)
    sharp = rng.random((64, 64, 3))
    from scipy.ndimage import gaussian_filter

    from studio.metrics import sharpness

    soft = gaussian_filter(sharp, (2, 2, 0))
    assert sharpness(sharp) > 3 * sharpness(soft)
    freq, power = app_views.radial_spectrum(sharp - soft, bins=16)
    assert freq.shape == power.shape == (16,) and 0 < freq[0] < freq[-1] < 0.5
    assert power[-1] > power[1]  # sharp - soft is high-pass: its error lives at high frequencies
    figure = app_views.spectrum_figure({"m": (freq, power)}, of_error=True)
    assert figure["data"][0]["name"] == "m" and "error" in figure["layout"]["title"]["text"]


def test_linear_kernel_and_deblur_controls():
    horizontal = blur.linear_kernel(9, 0)
    assert horizontal.sum() == pytest.approx(1) and np.count_nonzero(horizontal.sum(axis=1) > 1e-9) == 1
    vertical = blur.linear_kernel(9, 90)
    assert np.count_nonzero(vertical.sum(axis=0) > 1e-9) == 1
    with pytest.raises(blur.KernelError):
        blur.linear_kernel(0.5)
    clean = np.random.default_rng(1).random((40, 40, 3)).astype(np.float32)
    task = TASKS["deblur"]
    # no choice = the evaluation protocol, unchanged
    default, info = task.degrade_info(clean, np.random.default_rng(5))
    expected = blur.synthesize_eval_blur(clean, np.random.default_rng(5))
    assert np.array_equal(default, expected.image) and info["kernel_name"] == expected.kernel_name
    for choice, name in (("levin-k3", "levin-k3"), ("linear", "linear-11px-30deg"), ("shake", "shake-11px")):
        out, info = task.degrade_info(clean, np.random.default_rng(0), blur_kernel=choice, blur_length=11,
                                      blur_angle=30, noise_sigma=0.0)
        assert out.shape == clean.shape and info["kernel_name"] == name and info["noise_sigma"] == 0.0
    with pytest.raises(ValueError, match="unknown blur kernel"):
        task.degrade_info(clean, None, blur_kernel="nope")


def test_levin_kernels_ship_with_the_repository():
    shipped = blur.load_levin_kernels(blur.SHIPPED_LEVIN_KERNELS)
    assert sorted(shipped) == list(blur.LEVIN_NAMES)
    for name, kernel in blur.load_levin_kernels().items():
        assert np.allclose(kernel, shipped[name])


def test_modes_uploads_and_samples(tmp_path):
    assert app_core.normalize_mode("clean") == app_core.MODE_CLEAN
    assert app_core.normalize_mode("Already degraded") == app_core.MODE_NO_REFERENCE
    with pytest.raises(app_core.StudioError):
        app_core.normalize_mode("sideways")
    with pytest.raises(app_core.StudioError, match="Pick a sample"):
        app_core.read_upload(None)
    (tmp_path / "x.png").write_bytes(b"nope")
    with pytest.raises(app_core.StudioError, match="x.png: not an image"):
        app_core.read_upload(tmp_path / "x.png")
    assert all(s.path.is_file() for s in app_samples.SAMPLES)
    assert any(s.degraded for s in app_samples.samples_for("deblur"))
    assert not any(s.degraded for s in app_samples.samples_for("sr"))
    assert len(app_samples.clean_sample_paths()) >= 5
    provenance = (app_samples.SAMPLES_DIR / "PROVENANCE.md").read_text()
    assert all(s.path.name in provenance for s in app_samples.SAMPLES)


def test_models_without_weights_are_listed_not_run():
    statuses = {s.name: s for s in app_core.model_statuses("deblur")}
    assert statuses["unet-standard"].available is False and "architecture only" in statuses["unet-standard"].reason
    assert statuses["wiener-oracle"].needs_kernel and statuses["unsharp-mask"].available
    assert "unet-standard" not in app_core.available_models("deblur")


def test_benchmark_readers_on_shipped_csv(monkeypatch, tmp_path):
    assert "sr_set5_x4" in app_benchmark.test_sets("sr")
    frame = app_benchmark.load_frame("sr", "sr_set5_x4")
    rows = {row[0]: row for row in app_benchmark.summary(frame, "sr")}
    assert rows["(input)"][2] == rows["bicubic"][2] and rows["bicubic"][4] == 0.0
    extremes = {row[0]: row for row in app_benchmark.best_worst(frame, "sr")}
    assert extremes["srresnet"][2] >= extremes["srresnet"][5]
    # without the datasets (a Space), a case is explained instead of shown
    monkeypatch.setattr(app_benchmark, "_datasets_root", lambda: tmp_path / "absent")
    row = frame[frame["model"] == "bicubic"].iloc[0]
    items, note = app_benchmark.render_case("sr", row, tmp_path)
    assert items == [] and "not in this checkout" in note


def test_every_app_model_has_a_lesson_and_a_card():
    for task in app_models.APP_TASKS:
        for name in app_models.models_by_task()[task]:
            assert name in app_models.LESSONS, name
    for name in ("srgan-v3", "unet-light-v1", "classical"):
        text = app_models.card_markdown(name)
        assert text.startswith(f"### {name}") and "Reproduce" in text
    assert "cosine" in app_models.LESSONS["unet-light-v1"].lower()
    assert "sequence" in app_models.LESSONS["unet-light-v3"]


def test_a_two_stage_card_names_its_first_stage(monkeypatch):
    card = {"task": "deblur", "command": "python -m training.train_deblur --preset unet-light-v3 --patch 192",
            "training": {"recipe": {"max_steps": 4500}, "init_from": {
                "source": "results/runs/unet-light-v3", "steps": 4000, "patch": 96,
                "run_log": "results/runs/unet-light-v3/metrics.csv",
                "command": "python -m training.train_deblur --preset unet-light-v3 --amp"}}}
    monkeypatch.setattr(app_models, "model_card", lambda name: card)
    text = app_models.card_markdown("unet-light-v3")
    assert "**Starts from**: `results/runs/unet-light-v3` (steps 4000, patch 96)" in text
    # both stages' commands, the first one first
    reproduce = text.split("**Reproduce**")[1]
    assert reproduce.index("--amp\n") < reproduce.index("--patch 192")


def test_large_clean_photo_is_downscaled_with_a_note(tmp_path, monkeypatch):
    from PIL import Image

    monkeypatch.setattr(app_core, "MAX_WORK_PIXELS", 120 * 90)
    Image.open(app_samples.SAMPLES_DIR / "skimage_chelsea.png").save(tmp_path / "big.png")  # 451x300
    comparison = app_core.compare("sr", tmp_path / "big.png", app_core.MODE_CLEAN, ["bicubic"], {"scale": 4})
    assert comparison.ground_truth.image.shape[0] * comparison.ground_truth.image.shape[1] <= 120 * 90
    assert any("downscaled" in note for note in comparison.notes)
    assert "downscaled" in app_core.summary_markdown(comparison)


@pytest.mark.parametrize("large", [app_core.LARGE_DOWNSCALE, app_core.LARGE_CROP])
def test_a_degraded_photo_above_the_limit_is_downscaled_or_cropped_as_chosen(tmp_path, monkeypatch, large):
    from PIL import Image

    monkeypatch.setattr(app_core, "MAX_WORK_PIXELS", 120 * 90 * 16)
    photo = np.asarray(Image.open(app_samples.SAMPLES_DIR / "skimage_chelsea.png").convert("RGB"))  # 451x300
    Image.fromarray(photo).save(tmp_path / "big.png")
    comparison = app_core.compare("sr", tmp_path / "big.png", app_core.MODE_NO_REFERENCE, ["bicubic"], {"scale": 4},
                                  large=large)
    height, width = comparison.input.image.shape[:2]  # the input upscaled x4: the output's size
    assert height * width <= 120 * 90 * 16 and height < 300 * 4
    note = next(n for n in comparison.notes if "451×300" in n)
    if large == app_core.LARGE_DOWNSCALE:
        assert "downscaled whole" in note and abs(width / height - 451 / 300) < 0.02
    else:  # the centre, pixel for pixel: the upscaled input's centre is the photo's centre
        assert "cropped to its centre" in note
        top, left = (300 - height // 4) // 2, (451 - width // 4) // 2
        small = app_core.fit_large(photo.astype(np.float32) / 255, 4, large)
        np.testing.assert_array_equal(small, photo[top:top + height // 4, left:left + width // 4] / np.float32(255))
    with pytest.raises(app_core.StudioError, match="Unknown choice for a large photo"):
        app_core.compare("sr", tmp_path / "big.png", app_core.MODE_NO_REFERENCE, ["bicubic"], {"scale": 4},
                         large="shrink")


def test_a_reference_scores_a_degraded_photo_and_follows_its_downscale(tmp_path, monkeypatch):
    """A real pair: the degraded photo in no-reference mode, its sharp version as the reference."""
    from PIL import Image

    from studio.sr.degradation import downscale

    sharp = load_image(app_samples.SAMPLES_DIR / "skimage_chelsea.png")[:296, :448]
    small = quantize(np.clip(downscale(sharp, 4), 0, 1))
    Image.fromarray(to_uint8(small)).save(tmp_path / "low.png")
    Image.fromarray(to_uint8(sharp)).save(tmp_path / "sharp.png")
    scored = app_core.compare("sr", tmp_path / "low.png", app_core.MODE_NO_REFERENCE, ["bicubic"], {"scale": 4},
                              reference=tmp_path / "sharp.png")
    clean = app_core.compare("sr", tmp_path / "sharp.png", app_core.MODE_CLEAN, ["bicubic"], {"scale": 4})
    assert scored.scored and scored.ground_truth.label == "your reference"
    # the same pair as clean-photo mode makes, so the same score
    assert scored.get("bicubic").scores["psnr_y"] == pytest.approx(clean.get("bicubic").scores["psnr_y"], abs=1e-6)
    assert "scored against your reference" in app_core.summary_markdown(scored).lower()
    with pytest.raises(app_core.StudioError, match="must be the same photo as the upload at the output's size"):
        app_core.compare("sr", tmp_path / "low.png", app_core.MODE_NO_REFERENCE, ["bicubic"], {"scale": 4},
                         reference=tmp_path / "low.png")
    with pytest.raises(app_core.StudioError, match="choose the no-reference mode"):
        app_core.compare("sr", tmp_path / "sharp.png", app_core.MODE_CLEAN, ["bicubic"], {"scale": 4},
                         reference=tmp_path / "sharp.png")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(app_core.StudioError, match="reference photo cannot be used"):
        app_core.compare("sr", tmp_path / "low.png", app_core.MODE_NO_REFERENCE, ["bicubic"], {"scale": 4},
                         reference=broken)
    monkeypatch.setattr(app_core, "MAX_WORK_PIXELS", 224 * 148)  # the output must shrink: the reference follows
    shrunk = app_core.compare("sr", tmp_path / "low.png", app_core.MODE_NO_REFERENCE, ["bicubic"], {"scale": 4},
                              reference=tmp_path / "sharp.png")
    assert shrunk.ground_truth.image.shape == shrunk.get("bicubic").image.shape
    assert shrunk.get("bicubic").scores["psnr_y"] > 20  # aligned: a misaligned reference scores far lower


def test_the_blind_models_of_one_comparison_estimate_the_kernel_once(monkeypatch):
    """wiener-blind and pnp-blind start from the same estimate: one comparison makes it once, and
    outside a comparison (benchmarks, studies) every call estimates afresh."""
    from studio.deblur import deconvolution as D

    calls = []
    original = D.find_kernel

    def counting(image, **settings):
        calls.append((settings["max_size"], settings["window_coherence"]))
        return original(image, **settings)

    monkeypatch.setattr(D, "find_kernel", counting)
    photo = app_samples.SAMPLES_DIR / "set5_butterfly.png"
    params = {"blur_kernel": "levin-k2", "max_kernel": 31}
    both = app_core.compare("deblur", photo, app_core.MODE_CLEAN, ["wiener-blind", "pnp-blind"], params, seed=1)
    assert calls.count((31, 0.0)) == 1  # the start estimate, shared
    calls.clear()
    alone = app_core.compare("deblur", photo, app_core.MODE_CLEAN, ["wiener-blind"], params, seed=1)
    np.testing.assert_array_equal(alone.get("wiener-blind").image, both.get("wiener-blind").image)
    image = load_image(photo)
    D.estimate_kernel(image, 15)
    D.estimate_kernel(image, 15)
    assert calls.count((15, 0.0)) == 2


def test_comparison_says_when_learned_models_ran_in_bf16(tmp_path, monkeypatch):
    from PIL import Image

    monkeypatch.setattr(app_core, "MAX_WORK_PIXELS", 120 * 90)
    Image.open(app_samples.SAMPLES_DIR / "skimage_chelsea.png").save(tmp_path / "big.png")
    notes = {}
    for precision in ("fp32", "bf16"):
        monkeypatch.setattr(app_core, "PRECISION", precision)
        comparison = app_core.compare("sr", tmp_path / "big.png", app_core.MODE_CLEAN, ["bicubic", "srresnet"],
                                      {"scale": 4})
        notes[precision] = [note for note in comparison.notes if "bf16" in note]
    assert notes["fp32"] == [] and len(notes["bf16"]) == 1
    classical_only = app_core.compare("sr", tmp_path / "big.png", app_core.MODE_CLEAN, ["bicubic"], {"scale": 4})
    assert not any("bf16" in note for note in classical_only.notes)  # nothing learned ran


def test_kernel_view_shows_where_a_large_photo_was_estimated():
    from PIL import Image

    photo = app_samples.SAMPLES_DIR / "real_blur" / "skimage_clock_motion.png"  # 400x300: wider than the window
    comparison = app_core.compare("deblur", photo, app_core.MODE_NO_REFERENCE, ["wiener-blind"], {"max_kernel": 15})
    [(name, (rows, cols))] = comparison.estimation_windows
    assert name == "wiener-blind" and (rows.start, rows.stop) == (0, 300) and cols.stop - cols.start == 384
    items = app_core.kernel_view(comparison)
    assert len(items) == 2 and items[0][1].startswith("wiener-blind: estimated")
    path, caption = items[1]
    assert caption.startswith("where wiener-blind estimated the kernel") and f"x {cols.start}–{cols.stop}, y 0–300" in caption
    drawn = np.asarray(Image.open(path))
    assert drawn.shape == comparison.input.image.shape
    red = (drawn == (255, 40, 40)).all(axis=-1)
    assert red[150, max(cols.start - 1, 0):cols.start + 1].any() and not red[150, cols.start + 5:cols.stop - 5].any()
    # two models on two windows: one picture each; on one window: one picture naming both
    other = (rows, slice(0, 384) if cols.start else slice(16, 400))
    comparison.estimation_windows = [("wiener-blind", (rows, cols)), ("pnp-blind", other)]
    captions = [caption for _, caption in app_core.kernel_view(comparison)[1:]]
    assert [c.split(" estimated")[0] for c in captions] == ["where wiener-blind", "where pnp-blind"]
    comparison.estimation_windows = [("wiener-blind", (rows, cols)), ("pnp-blind", (rows, cols))]
    assert [caption for _, caption in app_core.kernel_view(comparison)[1:]][0].startswith("where wiener-blind, pnp-blind")
    # a photo no larger than the window: the kernel view has no window to show
    comparison.estimation_windows = [("wiener-blind", (slice(0, 300), slice(0, 400)))]
    assert len(app_core.kernel_view(comparison)) == 1


def test_a_deblurring_comparison_shows_each_result_as_it_comes_with_the_blind_verdict():
    from PIL import Image

    photo = app_samples.SAMPLES_DIR / "set5_butterfly.png"
    steps = list(app_core.compare_progressively("deblur", photo, app_core.MODE_CLEAN, ["wiener-blind", "unsharp-mask"],
                                                {"blur_kernel": "levin-k2", "max_kernel": 31}))
    assert [s.partial for s in steps] == [True, False]
    first, final = steps
    assert [r.key for r in first.outputs] == ["wiener-blind"] and first.outputs[0].path.is_file()
    assert "Running" in app_core.summary_markdown(first) and "Running" not in app_core.summary_markdown(final)
    assert [r.key for r in final.outputs] == ["wiener-blind", "unsharp-mask"]
    blind = final.get("wiener-blind")
    assert blind.note.split(" · ")[0] in ("CONFIDENT", "KERNEL UNCERTAIN", "NO BLUR FOUND") and "px chosen" in blind.note
    assert any(note.startswith("wiener-blind: ") for note in final.notes)  # the model's own sentence, in the summary
    # the true 17-px kernel and the 31-px estimate are drawn at one scale: same canvas, same zoom
    items = app_core.kernel_view(final)
    sizes = {np.asarray(Image.open(path)).shape for path, caption in items if "estimated the kernel" not in caption}
    assert len(items) == 2 and len(sizes) == 1


# ---- parameters, memory, disk and served folders of a public server --------------------------------

def test_task_parameters_are_checked_where_they_enter():
    from studio.tasks import ParamError, parse_seed

    deblur = TASKS["deblur"]
    assert deblur.parse_params({"blur_length": "9", "max_kernel": 15.0, "noise_sigma": None}) == {
        "blur_length": 9.0, "max_kernel": 15}
    for values, message in [({"noise_sigma": float("nan")}, "noise sigma must be a finite number"),
                            ({"blur_length": float("inf")}, "blur length (px) must be a finite number"),
                            ({"blur_length": 1e9}, "between 3 and 75"),
                            ({"max_kernel": 16}, "must be odd"),
                            ({"max_kernel": 15.5}, "whole number"),
                            ({"blur_kernel": "levin-k9"}, "blur kernel must be one of"),
                            ({"blur_angle": "ninety"}, "must be a number"),
                            ({"blur_angle": True}, "must be a number"),
                            ({"bogus": 1}, "unknown parameter(s) bogus")]:
        with pytest.raises(ParamError, match=message.replace("(", r"\(").replace(")", r"\)")):
            deblur.parse_params(values)
    with pytest.raises(ParamError, match="noise types: unknown"):
        TASKS["restoration"].parse_params({"noises": ["gaussian", "lasers"]})
    with pytest.raises(ParamError, match="SR scale must be between 2 and 4"):
        TASKS["sr"].parse_params({"scale": 0})
    assert parse_seed(None) == 0 and parse_seed(7.0) == 7 and parse_seed("3") == 3
    for bad in (float("nan"), -1, 2**32, 1.5, "x"):
        with pytest.raises(ParamError, match="seed"):
            parse_seed(bad)


def test_the_app_controls_offer_exactly_the_parameter_ranges():
    from studio.restoration import degradation as restoration

    restoration_spec = TASKS["restoration"]
    assert restoration_spec.param("noises").choices == restoration.NOISE_TYPES
    assert tuple(restoration_spec.param("noises").default) == restoration.BENCHMARK.noises
    # a value the page offers is one the parser accepts, and one step beyond is refused
    for task in ("deblur", "restoration"):
        for param in TASKS[task].params:
            if param.kind in ("int", "float"):
                TASKS[task].parse_params({param.name: param.low})
                TASKS[task].parse_params({param.name: param.high})
                with pytest.raises(ValueError):
                    TASKS[task].parse_params({param.name: param.high + (param.step or 1)})


def test_a_comparison_keeps_no_pixels_in_memory_once_drawn(tmp_path):
    from PIL import Image

    Image.open(app_samples.SAMPLES_DIR / "set5_bird.png").convert("RGB").crop((0, 0, 64, 48)).save(tmp_path / "b.png")
    comparison = app_core.compare("sr", tmp_path / "b.png", app_core.MODE_CLEAN, ["bicubic"], {"scale": 4})
    before = {r.key: r.image.copy() for r in comparison.results}
    app_core.views(comparison)
    assert all(r.pixels is None for r in comparison.results)
    for r in comparison.results:  # read back from the lossless PNGs: the same values
        assert np.array_equal(r.image, before[r.key]), r.key
    items, _ = app_core.crop_view(comparison, 10, 10, 16)
    assert len(items) == 3


def test_prune_by_age_then_size_keeps_the_newest(tmp_path):
    from studio.app import limits as app_limits

    now = 1_000_000.0
    for index, (age, size) in enumerate([(5000, 10), (300, 400), (200, 400), (100, 400), (10, 400)]):
        folder = tmp_path / f"run{index}"
        folder.mkdir()
        (folder / "a.png").write_bytes(b"x" * size)
        os.utime(folder / "a.png", (now - age, now - age))
        os.utime(folder, (now - age, now - age))
    removed = app_limits.prune(tmp_path, max_age_s=3600, max_size=900, now=now)
    # run0 is too old; then the oldest go until 900 bytes are left
    assert sorted(p.name for p in removed) == ["run0", "run1", "run2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run3", "run4"]
    # the newest entry stays even alone above the size, and so do the ones named in keep
    assert app_limits.prune(tmp_path, max_age_s=3600, max_size=1, keep=[tmp_path / "run3"], now=now) == []
    assert app_limits.prune(tmp_path, max_age_s=5, max_size=10**9, now=now) == [tmp_path / "run3"]


def test_gradio_cache_is_pruned_under_the_cap_with_headroom_and_only_gradio_entries(tmp_path):
    from types import SimpleNamespace

    from studio.app import limits as app_limits

    now = time.time()
    entries = []
    for index in range(6):  # six cached files of 100 bytes, oldest first
        folder = tmp_path / f"{index:064x}"
        folder.mkdir()
        (folder / "out.png").write_bytes(b"x" * 100)
        os.utime(folder / "out.png", (now - 60 + index, now - 60 + index))
        os.utime(folder, (now - 60 + index, now - 60 + index))
        entries.append(folder / "out.png")
    (tmp_path / "not-gradio").mkdir()  # a shared GRADIO_TEMP_DIR may hold other things: never touched
    (tmp_path / "not-gradio" / "big.bin").write_bytes(b"y" * 10_000)
    page_default = entries[0]  # the oldest is an image the page itself shows
    temp_files = {str(p) for p in entries}
    blocks = SimpleNamespace(blocks={1: SimpleNamespace(keep_in_cache={str(page_default)})}, temp_file_sets=[temp_files])
    removed = app_limits.prune_gradio_cache(blocks, tmp_path, max_size=400)
    # pruned to 75 % of 400 bytes: the page default (counted, never deleted) and the two newest stay
    assert sorted(p.name for p in removed) == [f"{1:064x}", f"{2:064x}", f"{3:064x}"]
    assert (tmp_path / "not-gradio" / "big.bin").is_file() and page_default.is_file()
    assert temp_files == {str(p) for p in entries if p.is_file()}  # Gradio forgets what was deleted


def test_limits_come_from_the_environment_with_clear_errors(monkeypatch):
    from studio.app import limits as app_limits

    monkeypatch.setenv("STUDIO_CACHE_MAX_MB", "250")
    assert app_limits.env_number("STUDIO_CACHE_MAX_MB", 500, low=1) == 250
    for raw in ("lots", "nan", "inf", "0"):
        monkeypatch.setenv("STUDIO_CACHE_MAX_MB", raw)
        with pytest.raises(ValueError, match=f"STUDIO_CACHE_MAX_MB={raw!r}"):
            app_limits.env_number("STUDIO_CACHE_MAX_MB", 500, low=1)


def test_served_folders_are_the_run_and_scratch_folders_only(tmp_path, monkeypatch):
    import app
    from studio.app import limits as app_limits

    monkeypatch.setattr(app_core, "RUN_ROOT", tmp_path / "x" / "runs")
    monkeypatch.setattr(app_benchmark, "SCRATCH_ROOT", tmp_path / "y" / "scratch")
    assert app.launch_kwargs()["allowed_paths"] == [str(tmp_path / "x" / "runs"), str(tmp_path / "y" / "scratch")]
    demo = app.build_demo()
    assert demo.delete_cache == (int(app_limits.CACHE_SWEEP_S), int(app_limits.CACHE_MAX_AGE_S))
    assert demo._queue.max_size == app_limits.QUEUE_SIZE


def test_benchmark_case_without_the_images_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(app_benchmark, "_datasets_root", lambda: tmp_path / "absent")
    monkeypatch.setattr(app_benchmark, "SCRATCH_ROOT", tmp_path / "scratch")
    items, notes = app_benchmark.cases("sr", "sr_set5_x4", "bicubic")
    assert items == [] and "not in this checkout" in notes
    assert not (tmp_path / "scratch").exists() or not any((tmp_path / "scratch").iterdir())


def test_every_glossary_word_is_one_the_studio_uses():
    """A glossary of words nobody reads on the page teaches nothing: each term (or each of its
    "a / b" halves) appears in the page's own text, a model card or a lesson."""
    import json
    from pathlib import Path

    from studio.app.glossary import GLOSSARY, glossary_markdown
    from studio.registry import list_models, model_card

    root = Path(__file__).resolve().parent.parent
    shown = [(root / "app.py").read_text(), *(Path(app_core.__file__).parent.glob("*.py"))]
    text = " ".join(p.read_text() if isinstance(p, Path) else p for p in shown
                    if not (isinstance(p, Path) and p.name == "glossary.py"))
    text += " ".join(json.dumps(model_card(name)) + app_models.LESSONS.get(name, "") for name in list_models())
    text = text.lower()
    for term in GLOSSARY:
        assert any(part.strip().lower() in text for part in term.split("/")), term
    assert all(f"**{term}**" in glossary_markdown() for term in GLOSSARY)


def test_every_teaching_preset_names_models_of_its_task_that_this_checkout_runs():
    from studio.app import presets as app_presets
    from studio.registry import get_entry

    assert set(app_presets.PRESETS) <= set(TASKS)
    for task, presets in app_presets.PRESETS.items():
        available = app_core.available_models(task)
        for title, story, models, settings in presets:
            assert story and len(models) >= 2, title
            assert all(get_entry(m).task == task for m in models), title
            assert app_presets.preset_models(task, title, available) == models, title  # all shipped
            # the settings are the task's own parameters, with values its checks accept
            assert TASKS[task].parse_params(settings) == settings == app_presets.preset_settings(task, title), title
    assert app_presets.preset_models("sr", "SRGAN v1 → v2 → v3 vs the PSNR model", ["srgan-v2", "srresnet"]) == \
        ["srresnet", "srgan-v2"]
    with pytest.raises(KeyError, match="no preset"):
        app_presets.preset_models("sr", "nope", [])


def test_a_model_card_replay_strip_spreads_its_steps_and_ends_on_the_ground_truth(tmp_path, monkeypatch):
    from studio.snapshots import SnapshotCrop, SnapshotWriter

    rng = np.random.default_rng(0)
    crops = [SnapshotCrop(name, f"{name}.png", (0, 0, 16), input=rng.random((4, 4, 3)), target=rng.random((16, 16, 3)))
             for name in ("baby", "bird")]
    writer = SnapshotWriter(tmp_path / "run", "sr", crops)
    writer.start()
    for step in range(100, 1100, 100):
        writer.write(step, {c.name: np.full((16, 16, 3), step / 2000) for c in crops})
    (tmp_path / "run" / "metrics.csv").write_text("step,loss_g\n100,1\n")
    monkeypatch.setattr(app_models, "run_log", lambda name: tmp_path / "run" / "metrics.csv")
    strip = app_models.replay_strip("srresnet")
    captions = [caption for _, caption in strip]
    assert [c.split(" · ")[0] for c in captions[:-1]] == ["step 100", "step 300", "step 500", "step 800", "step 1000"]
    assert captions[-1] == "ground truth (baby)" and all(Path(path).is_file() for path, _ in strip)
    monkeypatch.setattr(app_models, "run_log", lambda name: None)
    assert app_models.replay_strip("srresnet") == []


def test_a_real_degradation_benchmark_case_is_rendered_with_its_own_degradation(tmp_path, monkeypatch):
    import pandas as pd

    from studio.evaluation import evaluate
    from studio.imageio import save_png

    folder = tmp_path / "mini"
    save_png(load_image(app_samples.SAMPLES_DIR / "set5_butterfly.png")[:64, :64], folder / "butterfly.png")
    row = pd.Series(evaluate("sr", ["bicubic"], folder, params={"degradation": "real"}, progress=False)[0])
    assert row["degradation"].startswith("1) ")
    monkeypatch.setattr(app_benchmark, "locate", lambda dataset, image: (folder / "butterfly.png", None, 0))
    items, note = app_benchmark.render_case("sr", row, tmp_path / "out")
    # the same real-photo input is made again (a bicubic one would not reproduce the CSV's input score)
    assert note == "" and len(items) == 4 and f"{row['input_psnr_y']:.2f} dB" in items[0][1]
