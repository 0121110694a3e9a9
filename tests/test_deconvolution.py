"""Blind kernel estimation, HQS deconvolution and the deconvolution models, on shipped images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage

from studio.deblur import deconvolution as D
from studio.deblur.degradation import apply_blur, linear_kernel, load_levin_kernels
from studio.imageio import load_image
from studio.metrics import psnr, psnr_up_to_shift
from studio.deblur.interface import estimates_kernel, needs_true_kernel
from studio.registry import build_model, get_entry

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


@pytest.fixture(scope="module")
def butterfly():
    return load_image(SAMPLES / "set5_butterfly.png")


def identity_denoiser(x, sigma):
    return x


@pytest.fixture(scope="module")
def linear_blur(butterfly):
    kernel = linear_kernel(15, 30)
    return apply_blur(butterfly, kernel, np.random.default_rng(0), 0.005).image, kernel


@pytest.mark.parametrize("edges", [False, True])
def test_estimated_kernel_matches_the_true_one(linear_blur, edges):
    blurred, kernel = linear_blur
    estimate = D.estimate_kernel(blurred, 31, edges=edges).kernel
    similarity = D.kernel_similarity(estimate, kernel)
    # a delta (no estimate at all) scores 0.30 against this kernel: the estimate must be far closer
    assert D.kernel_similarity(D.delta_kernel(31), kernel) < 0.35
    assert similarity > 0.8, similarity


def test_estimated_kernel_is_a_normalised_non_negative_square(linear_blur):
    estimate = D.estimate_kernel(linear_blur[0], 25)
    assert estimate.kernel.shape == (25, 25)
    assert (estimate.kernel >= 0).all()
    assert estimate.kernel.sum() == pytest.approx(1.0, abs=1e-9)
    assert estimate.levels[-1] == 25 and estimate.levels == sorted(estimate.levels)


def test_large_photos_are_estimated_on_their_most_textured_window():
    flat = np.full((600, 900), 0.5)
    rng = np.random.default_rng(0)
    flat[350:550, 600:850] = rng.random((200, 250))
    rows, cols = D.estimation_window(flat, window=384)
    assert rows.stop - rows.start == 384 and cols.stop - cols.start == 384
    assert rows.start <= 350 and rows.stop >= 550 and cols.start <= 600 and cols.stop >= 850


def test_edge_coherence_moves_the_window_from_fine_texture_to_step_edges():
    # fine texture has more gradient energy than a few large squares, but its gradients point every way
    image = np.full((600, 900), 0.5)
    image[350:550, 600:850] += np.random.default_rng(0).uniform(-0.125, 0.125, (200, 250))
    rows, cols = np.mgrid[0:240, 0:280]
    image[20:260, 20:300] = np.where((rows // 40 + cols // 40) % 2, 0.3, 0.7)
    texture = D.estimation_window(image, window=384, coherence=0.0)
    assert texture[0].start <= 350 and texture[1].start <= 600 and texture[1].stop >= 850
    for coherence in (1.0, 2.0):
        edges = D.estimation_window(image, window=384, coherence=coherence)
        assert edges[0].start <= 20 and edges[0].stop >= 260 and edges[1].start <= 20 and edges[1].stop >= 300


def test_the_estimate_is_made_on_the_window_it_is_asked_for(linear_blur):
    blurred = np.pad(linear_blur[0], ((0, 0), (0, 200), (0, 0)), mode="reflect")
    estimate = D.estimate_kernel(blurred, 15, window=200)
    rows, cols = estimate.window
    assert (rows.stop - rows.start, cols.stop - cols.start) == (min(200, blurred.shape[0]), 200)


@pytest.mark.parametrize("coarse_on_whole", [False, True])
def test_coarse_levels_see_the_whole_photo_where_it_fits_the_window(linear_blur, monkeypatch, coarse_on_whole):
    # 256x500 px, a 220-px window (48,400 px): the whole photo fits that count at the two coarsest of the
    # four levels of a 15-px kernel (scales 5/15 and 9/15), not at 11/15 and 15/15
    blurred = np.pad(linear_blur[0], ((0, 0), (0, 244), (0, 0)), mode="reflect")
    shapes, real = [], D.l0_latent
    monkeypatch.setattr(D, "l0_latent", lambda image, *a, **k: shapes.append(image.shape) or real(image, *a, **k))
    estimate = D.estimate_kernel(blurred, 15, window=220, coarse_on_whole=coarse_on_whole)
    assert estimate.levels == [5, 9, 11, 15]
    per_level = shapes[::5]  # five iterations per level
    wide = [width > 1.5 * height for height, width in per_level]
    assert wide == ([True, True, False, False] if coarse_on_whole else [False] * 4)
    rows, cols = estimate.window  # the finest level, and the kernel refit, stay on the window
    assert (rows.stop - rows.start, cols.stop - cols.start) == (220, 220)


def test_deconvolving_a_sharp_image_with_a_delta_returns_it(butterfly):
    out = D.hqs_deconvolve(butterfly, D.delta_kernel(15), identity_denoiser, 0.005)
    assert out.shape == butterfly.shape
    assert psnr(np.clip(out, 0, 1), butterfly) > 45


def test_hqs_with_the_true_kernel_recovers_detail(linear_blur, butterfly):
    blurred, kernel = linear_blur
    out = np.clip(D.hqs_deconvolve(blurred, kernel, identity_denoiser, 0.01), 0, 1)
    assert psnr(out, butterfly) > psnr(blurred, butterfly) + 2


def test_kernel_fit_recovers_the_kernel_from_the_sharp_image(butterfly):
    # given the true sharp image, the least-squares fit alone must return the kernel (circular blur,
    # so the model is exact); a wrong normal operator in the CG would not get close
    gray = D.luminance(butterfly)
    kernel = load_levin_kernels()["k2"]
    blurred = D.ifft2(D.fft2(gray) * D.psf2otf(kernel, gray.shape), gray.shape)
    fitted = D.fit_kernel(gray, blurred, kernel.shape[0], weight=1e-3, cg_steps=60)
    assert fitted.shape == kernel.shape and fitted.sum() == pytest.approx(1.0)
    assert D.kernel_similarity(fitted, kernel) > 0.97


def test_refitting_to_the_sharp_image_sharpens_a_blurry_estimate(butterfly):
    # refine_kernel given the sharp photo must pull a smeared estimate back to the true kernel
    kernel = load_levin_kernels()["k2"]
    blurred = apply_blur(butterfly, kernel, np.random.default_rng(0), 0.005).image
    start = D.normalize_kernel(ndimage.uniform_filter(np.pad(kernel, 2), 5))  # the kernel smeared over 5 px
    refined = D.refine_kernel(butterfly, blurred, start)
    assert refined.shape == start.shape and (refined >= 0).all() and refined.sum() == pytest.approx(1.0)
    before, after = D.kernel_similarity(start, kernel), D.kernel_similarity(refined, kernel)
    assert after > 0.9 and after > before + 0.05, (before, after)


def test_a_kernel_update_inside_hqs_replaces_the_kernel(linear_blur, butterfly):
    blurred, kernel = linear_blur
    wrong = D.delta_kernel(kernel.shape[0])
    calls = []

    def update(index, estimate, used):
        calls.append((index, estimate.shape, D.kernel_similarity(used, kernel)))
        return kernel if index == 1 else None

    fixed = np.clip(D.hqs_deconvolve(blurred, wrong, identity_denoiser, 0.01, kernel_update=update), 0, 1)
    stuck = np.clip(D.hqs_deconvolve(blurred, wrong, identity_denoiser, 0.01), 0, 1)
    assert [index for index, _, _ in calls] == list(range(1, 8))  # before every iteration but the first
    assert all(shape == butterfly.shape for _, shape, _ in calls)  # the iterate, cropped to the photo
    assert calls[0][2] < 0.5 and calls[1][2] == pytest.approx(1.0)  # the returned kernel is the one in use
    assert psnr(fixed, butterfly) > psnr(stuck, butterfly) + 2


def test_edge_selection_keeps_strong_edges_and_drops_fine_texture():
    rng = np.random.default_rng(0)
    image = 0.02 * rng.random((96, 96))  # faint texture everywhere
    image[:, 48:] += 0.5  # one strong vertical edge
    image[60:, :] += 0.3  # one weaker horizontal edge
    (gx, gy), threshold = D.select_edges(image, 5, per_direction=2)
    kept = (gx ** 2 + gy ** 2) > 0
    edges = np.zeros_like(kept)
    edges[:, [47, 95]] = True  # forward differences wrap around: the last column/row see the jump back
    edges[[59, 95], :] = True
    assert kept[:, 47].all()  # the strongest edge survives whole
    assert kept.any() and not (kept & ~edges).any()  # no texture gradient survives
    # a given threshold is applied as it is: a lower one keeps the texture too
    (gx2, gy2), same = D.select_edges(image, 5, threshold=threshold / 1e4)
    assert same == threshold / 1e4 and ((gx2 ** 2 + gy2 ** 2) > 0)[~edges].mean() > 0.5


def test_edge_selection_keeps_enough_gradients_in_every_orientation():
    rng = np.random.default_rng(1)
    image = rng.random((64, 64))
    size, per_direction = 7, 20
    (gx, gy), _ = D.select_edges(image, size, per_direction=per_direction)
    angle = np.arctan2(gy, gx) % np.pi
    kept = (gx ** 2 + gy ** 2) > 0
    bins = np.minimum((angle[kept] / (np.pi / 4)).astype(int), 3)
    assert np.bincount(bins, minlength=4).min() >= per_direction * size


def test_psf_otf_round_trip():
    kernel = load_levin_kernels()["k3"]
    assert np.allclose(D.otf2psf(D.psf2otf(kernel, (64, 80)), kernel.shape[0], (64, 80)), kernel)


def test_psnr_up_to_shift_forgives_a_translation(butterfly):
    moved = np.roll(butterfly, (3, -2), axis=(0, 1))
    assert psnr_up_to_shift(moved, butterfly) == float("inf")
    assert psnr(moved, butterfly) < 25
    small = butterfly[:24, :24]  # a 5 px frame and search: a 2 px shift is still forgiven
    assert psnr_up_to_shift(np.roll(small, 2, axis=1), small) == float("inf")
    assert psnr_up_to_shift(butterfly[:3, :3] * 0.5, butterfly[:3, :3]) == pytest.approx(psnr(butterfly[:3, :3] * 0.5, butterfly[:3, :3]))


@pytest.mark.parametrize("size, message", [(30, "odd"), (-5, "between"), (1001, "between"), (7.5, "whole"),
                                           (float("nan"), "number")])
def test_bad_max_kernel_sizes_are_refused(linear_blur, size, message):
    with pytest.raises(D.DeconvolutionError, match=message):
        D.estimate_kernel(linear_blur[0], size)


def test_image_smaller_than_the_kernel_is_refused():
    with pytest.raises(D.DeconvolutionError, match="too small"):
        D.estimate_kernel(np.random.default_rng(0).random((40, 40, 3)), 31)


def test_flat_image_is_refused():
    with pytest.raises(D.DeconvolutionError, match="no edges"):
        D.estimate_kernel(np.full((128, 128, 3), 0.4), 15)


def test_gray_works_and_rgba_is_refused(linear_blur):
    gray = linear_blur[0].mean(axis=-1)
    assert D.estimate_kernel(gray, 15).kernel.shape == (15, 15)
    rgba = np.concatenate([linear_blur[0], np.ones_like(linear_blur[0][..., :1])], axis=-1)
    with pytest.raises(D.DeconvolutionError, match="alpha"):
        D.estimate_kernel(rgba, 15)


def test_nan_pixels_are_refused(linear_blur):
    broken = linear_blur[0].copy()
    broken[5, 5, 0] = np.nan
    with pytest.raises(D.DeconvolutionError, match="NaN"):
        D.estimate_kernel(broken, 15)


# ---- the registered models ---------------------------------------------------------------------

def test_blind_models_never_receive_the_true_kernel(linear_blur, monkeypatch):
    """The blind models' forward takes no kernel, and the evaluation passes none to them."""
    from studio import evaluation as evaluate_module
    from models.pnp_deblur import BlindDeconvolution

    model = build_model("wiener-blind")
    assert not needs_true_kernel(model) and not needs_true_kernel(get_entry("pnp-blind").builder)
    assert estimates_kernel(model) and not estimates_kernel(get_entry("pnp-oracle").builder)
    x = torch.from_numpy(linear_blur[0]).permute(2, 0, 1)[None]
    with pytest.raises(TypeError, match="estimates the kernel itself"):
        model(x, kernel=linear_blur[1])
    seen = []
    original = BlindDeconvolution.restore

    def spy(self, image, kernel=None, estimate=None, **options):
        seen.append(kernel)
        return original(self, image, kernel, estimate, **options)

    monkeypatch.setattr(BlindDeconvolution, "restore", spy)
    monkeypatch.setattr(evaluate_module, "pairs", lambda *a, **k: [(SAMPLES / "set5_butterfly.png", None)])
    rows = evaluate_module.evaluate("deblur", ["wiener-blind", "wiener-oracle"], SAMPLES, progress=False)
    assert seen == [None]  # wiener-oracle got the kernel through its own class; the blind one never did
    assert {row["model"] for row in rows} == {"wiener-blind", "wiener-oracle"}
    assert all("psnr_shift" in row and "input_psnr_shift" in row for row in rows)


def test_blind_model_keeps_the_kernel_it_used(linear_blur):
    model = build_model("wiener-blind", max_kernel=21)
    x = torch.from_numpy(linear_blur[0]).permute(2, 0, 1)[None]
    out = model(x)
    assert out.shape == x.shape and 0 <= float(out.min()) and float(out.max()) <= 1
    assert len(model.last_estimates) == 1 and model.last_estimates[0].kernel.shape == (21, 21)
    rows, cols = model.last_estimates[0].window  # a photo within the estimation window is estimated whole
    assert (rows.stop - rows.start, cols.stop - cols.start) == linear_blur[0].shape[:2]


def test_blind_pnp_refits_its_estimate_and_the_oracle_keeps_the_true_kernel(linear_blur, monkeypatch):
    import models.pnp_deblur as pnp
    from studio.registry import create_model

    calls = []
    real = pnp.refine_kernel
    monkeypatch.setattr(pnp, "refine_kernel", lambda *args: calls.append(args[3]) or real(*args))
    blurred, kernel = linear_blur
    blind = create_model("pnp-blind")
    blind.refine_at = (3,)
    estimate = blind.estimate(blurred)  # what restore makes without one: at the start size
    out, used = blind.restore(blurred, estimate=estimate)
    assert calls == [estimate.window]  # once, on the window the estimate came from
    assert used.shape == estimate.kernel.shape and not np.allclose(used, estimate.kernel)
    assert D.kernel_similarity(used, kernel) > 0.8 and out.shape == blurred.shape
    # what is checked below is which kernel is used, not how well it deconvolves: fewer HQS
    # iterations, iteration 3 (where the refit was) still among them
    blind.refine_at, blind.iterations = (), 4
    assert np.array_equal(blind.restore(blurred, estimate=estimate)[1], estimate.kernel)
    oracle = create_model("pnp-oracle")
    oracle.refine_at, oracle.iterations = (3,), 4  # even if asked, the true kernel is used as it is
    _, used = oracle.restore(blurred, kernel)
    assert len(calls) == 1 and np.allclose(used, D.normalize_kernel(kernel))


def test_the_reblur_residual_is_the_noise_for_the_right_kernel_and_far_more_for_a_wrong_one(linear_blur, butterfly):
    blurred, kernel = linear_blur  # noise sigma 0.005, 8-bit rounding
    right = D.reblur_residual(butterfly, kernel, blurred)
    assert 0.004 < right < 0.0065
    assert D.reblur_residual(butterfly, np.rot90(kernel), blurred) > 10 * right  # the wrong direction of motion
    assert D.reblur_residual(blurred, kernel, blurred) > 3 * right  # not deblurred: blurred twice
    assert D.reblur_residual(D.luminance(butterfly), kernel, D.luminance(blurred)) < 0.0065  # gray works too
    with pytest.raises(D.DeconvolutionError, match="differ in size"):
        D.reblur_residual(butterfly[:100], kernel, blurred)


def test_a_blind_result_its_kernel_does_not_explain_is_redone_with_more_noise(linear_blur, butterfly):
    from studio.registry import create_model

    # the centre 128x128 px of the blurred butterfly (a quarter of the pixels to deconvolve, six times):
    # the right kernel's residual stays near half the limit there, the wrong one's about four times it
    centre = slice(64, 192), slice(64, 192)
    (blurred, kernel), butterfly = (linear_blur[0][centre], linear_blur[1]), butterfly[centre]
    model = create_model("pnp-blind")
    model.refine_at, model.discrepancy_limit = (), 1.0
    whole = (slice(None), slice(None))
    right = D.KernelEstimate(kernel=D.normalize_kernel(kernel), window=whole)
    out_right, _ = model.restore(blurred, estimate=right)
    ratio, redone = model.discrepancy
    assert ratio < 1.0 and not redone
    wrong = D.KernelEstimate(kernel=D.normalize_kernel(np.rot90(kernel)), window=whole)
    out_wrong, _ = model.restore(blurred, estimate=wrong)
    ratio, redone = model.discrepancy
    assert ratio > 1.0 and redone
    # the redo is the deconvolution with discrepancy_noise_scale x the noise, and it harms less
    model.discrepancy_limit = None
    plain, _ = model.restore(blurred, estimate=wrong)
    assert model.discrepancy is None
    cautious, _ = model.restore(blurred, estimate=wrong, noise_scale=model.discrepancy_noise_scale)
    assert np.array_equal(out_wrong, cautious) and psnr(cautious, butterfly) > psnr(plain, butterfly)
    # the oracle is never checked: its kernel is the truth
    oracle = create_model("pnp-oracle")
    oracle.discrepancy_limit = 0.01
    oracle.restore(blurred, kernel)
    assert oracle.discrepancy is None


def test_blind_pnp_keeps_the_window_whose_kernel_explains_its_result_better(monkeypatch):
    import models.pnp_deblur as pnp
    from studio.registry import create_model

    # a photo wider than the estimation window (the middle 200 rows of a 600x400 one: half the pixels to
    # deconvolve) whose two windows differ: both are estimated and deconvolved, the smaller residual wins
    photo = load_image(SAMPLES / "skimage_coffee.png")[100:300]
    blurred = apply_blur(photo, linear_kernel(11, 30), np.random.default_rng(1), 0.005).image
    gray = D.luminance(blurred)
    windows = [D.estimation_window(gray, D.ESTIMATION_WINDOW, c) for c in (0.0, 2.0)]
    assert windows[0] != windows[1]
    model = create_model("pnp-blind")
    assert model.second_window == 2.0
    # what is tested is the choice between windows, not the deconvolution's quality: fewer HQS
    # iterations keep the test quick
    model.iterations, model.refine_at = 3, (1,)
    residuals, real = [], pnp.reblur_residual
    monkeypatch.setattr(pnp, "reblur_residual", lambda *a: residuals.append(real(*a)) or residuals[-1])
    # within one block of shared estimates, the second call reuses the first window's estimate of the photo
    with D.shared_estimates():
        restored, kernel, estimate = model.restore_blind(blurred)
        assert len(residuals) == 3  # one per window, then the kept result's assessment (the same residual)
        kept = int(np.argmin(residuals[:2]))
        assert estimate.window == windows[kept] and residuals[2] == pytest.approx(residuals[kept])
        assert real(restored, kernel, blurred) == pytest.approx(residuals[kept])
        # one window only without a second one, or where the photo fits the window: only the assessment
        model.second_window = None
        residuals.clear()
        _, _, single = model.restore_blind(blurred)
        assert single.window == windows[0] and len(residuals) == 1
        model.second_window = 2.0
        residuals.clear()
        _, _, small = model.restore_blind(blurred[:, :380])
        assert len(residuals) == 1 and small.window == (slice(0, 200), slice(0, 380))


@pytest.mark.parametrize("options", [dict(discrepancy_limit=0), dict(discrepancy_limit=-1), dict(discrepancy_noise_scale=0.5)])
def test_bad_discrepancy_settings_are_refused(options):
    with pytest.raises(ValueError, match="discrepancy_limit must be positive"):
        build_model("pnp-blind", **options)


@pytest.mark.parametrize("refine_at", [(0,), (8,), (-1,)])
def test_refinement_outside_the_iterations_is_refused(refine_at):
    with pytest.raises(ValueError, match="refine_at must name iterations between 1 and 7"):
        build_model("pnp-blind", refine_at=refine_at)


def test_oracle_model_requires_the_kernel(linear_blur):
    model = build_model("pnp-oracle")
    x = torch.from_numpy(linear_blur[0]).permute(2, 0, 1)[None]
    with pytest.raises(ValueError, match="true blur kernel"):
        model(x)


def test_unknown_prior_is_refused():
    with pytest.raises(ValueError, match="unknown prior"):
        build_model("pnp-blind", prior="bm3d")


def test_restore_cli_saves_the_estimated_kernel_and_skips_a_flat_photo(linear_blur, tmp_path, capsys):
    from studio import restore
    from studio.imageio import save_png

    inputs = tmp_path / "in"
    save_png(linear_blur[0], inputs / "blurred.png")
    save_png(np.full((64, 64, 3), 0.5), inputs / "flat.png")
    code = restore.main(["--task", "deblur", "--model", "wiener-blind", "--input", str(inputs),
                         "--output", str(tmp_path / "out")])
    assert code == 1  # one file could not be deblurred
    assert (tmp_path / "out" / "blurred_wiener-blind.png").is_file()
    kernel = load_image(tmp_path / "out" / "blurred_wiener-blind_kernel.png", mode="L")
    assert kernel.shape == (31, 31) and kernel.max() == pytest.approx(1.0)  # a 15-px blur: no need to grow
    printed = capsys.readouterr()
    assert "confident: a" in printed.out  # the model's verdict on its kernel, beside the file
    assert "flat.png" in printed.err and not (tmp_path / "out" / "flat_wiener-blind.png").exists()
