"""Restore, then upscale (``studio.restoration.chain``): the evaluation rows, the app's chain on a finished
comparison (it reuses the restored images, it never recomputes them) and its bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

from studio.restoration import chain
from studio.app import core as app_core
from studio.app.core import MODE_CLEAN, MODE_NO_REFERENCE, StudioError
from studio.evaluation import evaluate, load_for_task
from studio.imageio import load_image, save_png

SAMPLE = "data/samples/set5_butterfly.png"


@pytest.fixture(scope="module")
def one_photo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("chain_photos")
    save_png(load_image(SAMPLE), folder / "butterfly.png")
    return folder


def test_chain_rows_upscale_the_same_restored_images_the_evaluation_scores(one_photo):
    rows = chain.evaluate_chain(["classical"], ["bicubic", "srresnet"], one_photo, progress=False)
    assert [(r["model"], r["upscaler"]) for r in rows] == [("classical", "bicubic"), ("classical", "srresnet")]
    assert all(r["height"] == r["width"] == 512 and r["scale"] == 4 for r in rows)
    # the 128 px part is exactly the restoration evaluation's (same seed, same degraded input)
    plain = evaluate("restoration", ["classical"], one_photo, progress=False)[0]
    assert rows[0]["degradation"] == plain["degradation"]
    # one input reference per image (the degraded input, bicubic x4), and the summary's gain over
    # bicubic is exactly the PSNR difference on the same restored image
    assert rows[0]["input_psnr"] == rows[1]["input_psnr"] and rows[0]["psnr"] != rows[1]["psnr"]
    summary = chain.summarize_chain(rows)
    assert summary[("classical", "bicubic")]["gain_over_bicubic"] == 0.0
    assert summary[("classical", "srresnet")]["gain_over_bicubic"] == pytest.approx(rows[1]["psnr"] - rows[0]["psnr"])


def test_chain_restores_each_photo_once_however_many_upscalers_take_it(one_photo, monkeypatch):
    restored, upscaled = [], []
    real_run, real_upscale = chain.run_model, chain.upscale
    def run_model(model, image, **options):  # the restorers run at scale 1, the upscalers at x4
        if options.get("scale", 1) == 1:
            restored.append(image.shape)
        return real_run(model, image, **options)

    monkeypatch.setattr(chain, "run_model", run_model)
    monkeypatch.setattr(chain, "upscale", lambda image, model, *a: upscaled.append(image) or real_upscale(image, model, *a))
    rows = chain.evaluate_chain(["classical"], ["bicubic", "lanczos", "srresnet"], one_photo, progress=False)
    assert len(rows) == 3 and restored == [(128, 128, 3)]  # one restoration for three upscalers
    # every upscaler took that same restored image (the first upscale call is the input reference's)
    assert all(image is upscaled[1] for image in upscaled[1:]) and len(upscaled) == 4


def test_upscale_refuses_what_is_not_an_rgb_image():
    bicubic = load_for_task("bicubic", "sr", 4)
    assert chain.upscale(np.full((8, 6, 3), 0.5, np.float32), bicubic).shape == (32, 24, 3)
    with pytest.raises(ValueError, match="RGB"):
        chain.upscale(np.zeros((8, 8), np.float32), bicubic)


@pytest.fixture
def restored_run(tmp_path, monkeypatch):
    monkeypatch.setattr(app_core, "RUN_ROOT", tmp_path / "runs")
    return app_core.compare("restoration", SAMPLE, MODE_CLEAN, ["classical"], {}, seed=3)


def test_the_app_chain_reads_the_restored_pngs_and_scores_at_512(restored_run, monkeypatch):
    restored = restored_run.get("classical")
    # replace the restored PNG by a flat image: the chain must show its upscaling, proving it reads
    # the run's own file, and it must never load a restoration model
    save_png(np.full((128, 128, 3), 0.25, np.float32), restored.path)
    restored.pixels = None
    real_load = app_core.load_model

    def only_sr(task, name, scale=4):
        assert task == "sr", f"the chain recomputed a {task} model"
        return real_load(task, name, scale)

    monkeypatch.setattr(app_core, "load_model", only_sr)
    upscaled = app_core.upscale_run(restored_run.run_id, "srresnet")
    keys = [r.key for r in upscaled.results]
    assert keys == ["ground_truth", "input", "classical+bicubic", "classical+srresnet"]
    assert all(r.image.shape == (512, 512, 3) for r in upscaled.results)
    flat = upscaled.get("classical+bicubic").image
    assert np.allclose(flat, 0.25, atol=1 / 255)
    gt = upscaled.ground_truth.image
    assert upscaled.get("classical+srresnet").scores["psnr"] < 40 and gt.std() > 0.05
    assert upscaled.run_id != restored_run.run_id and app_core.get_run(upscaled.run_id) is upscaled


def test_the_app_chain_refuses_bad_requests(restored_run, tmp_path):
    with pytest.raises(StudioError, match="Unknown upscaler 'nope'"):
        app_core.upscale_run(restored_run.run_id, "nope")
    with pytest.raises(StudioError, match="Unknown upscaler"):
        app_core.upscale_run(restored_run.run_id, "vae-unet")  # a restoration model is not an upscaler
    with pytest.raises(StudioError, match="Run a comparison first"):
        app_core.upscale_run("not-a-run", "srresnet")
    sr = app_core.compare("sr", SAMPLE, MODE_CLEAN, ["bicubic"], {"scale": 4})
    with pytest.raises(StudioError, match="can be upscaled"):
        app_core.upscale_run(sr.run_id, "srresnet")
    restored_run.source.unlink()  # the source photo pruned from disk: say so, do not crash
    with pytest.raises(StudioError, match="deleted to save space"):
        app_core.upscale_run(restored_run.run_id, "srresnet")


def test_no_reference_runs_upscale_without_scores(tmp_path, monkeypatch):
    monkeypatch.setattr(app_core, "RUN_ROOT", tmp_path / "runs")
    run = app_core.compare("restoration", SAMPLE, MODE_NO_REFERENCE, ["classical"], {})
    upscaled = app_core.upscale_run(run.run_id, "srresnet")
    assert upscaled.ground_truth is None and all(r.scores is None for r in upscaled.results)
    assert upscaled.input.image.shape[0] == 4 * run.input.image.shape[0]
