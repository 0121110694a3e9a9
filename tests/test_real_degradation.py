"""The real-photo SR degradation (studio.sr.real_degradation): each stage does what its docstring
says, every draw comes from the caller's generator, and any size gives the LR size exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from studio.imageio import load_image
from studio.metrics import psnr
from studio.sr import real_degradation as rd
from studio.sr.degradation import downscale, mod_crop, upscale_bicubic
from studio.tasks import TASKS


@pytest.fixture(scope="module")
def photo(photos):
    return load_image(photos / "butterfly.png")[:96, :128]


def high_frequency_energy(image: np.ndarray) -> float:
    gray = image.mean(axis=2)
    return float(np.mean(np.diff(gray, axis=0) ** 2) + np.mean(np.diff(gray, axis=1) ** 2))


@pytest.mark.parametrize("shape", ["gaussian", "generalized", "plateau"])
def test_gaussian_family_kernels_are_normalised_centred_and_follow_their_axes(shape):
    kernel = rd.gaussian_family_kernel(21, 4.0, 1.0, 0.0, shape, beta=1.5)
    assert kernel.shape == (21, 21) and kernel.dtype == np.float32
    assert kernel.sum() == pytest.approx(1.0, abs=1e-5) and kernel.min() >= 0
    assert np.unravel_index(kernel.argmax(), kernel.shape) == (10, 10)
    # sigma_x 4 along the rows' direction (x), 1 across: wider horizontally than vertically
    assert kernel[10, 14] > 5 * kernel[14, 10]
    rotated = rd.gaussian_family_kernel(21, 4.0, 1.0, math.pi / 2, shape, beta=1.5)
    np.testing.assert_allclose(rotated, kernel.T, atol=1e-6)


def test_generalized_and_plateau_shapes_differ_from_the_gaussian_where_their_beta_says():
    gaussian = rd.gaussian_family_kernel(15, 2.0, 2.0, 0.0)
    cusp = rd.gaussian_family_kernel(15, 2.0, 2.0, 0.0, "generalized", beta=0.5)
    flat_top = rd.gaussian_family_kernel(15, 2.0, 2.0, 0.0, "generalized", beta=4.0)
    plateau = rd.gaussian_family_kernel(15, 2.0, 2.0, 0.0, "plateau", beta=1.0)
    assert cusp[7, 0] > 10 * gaussian[7, 0] and plateau[7, 0] > 10 * gaussian[7, 0]  # heavy tails
    assert flat_top[7, 8] / flat_top[7, 7] > gaussian[7, 8] / gaussian[7, 7]  # beta > 2: flatter at the top
    assert flat_top[7, 0] < gaussian[7, 0]


def test_sinc_kernel_is_a_low_pass_with_ringing_and_a_cutoff_of_pi_keeps_the_centre_tap_dominant():
    kernel = rd.sinc_kernel(21, math.pi / 3)
    assert kernel.sum() == pytest.approx(1.0, abs=1e-5)
    assert kernel.min() < 0  # the negative lobes that make ringing
    frequency_response = np.abs(np.fft.fft2(kernel, (64, 64)))
    assert frequency_response[32, 32] < 0.2 * frequency_response[0, 0]  # the highest frequency is cut
    nearly_identity = rd.sinc_kernel(7, math.pi)  # a disc of cutoff pi still trims the square band's corners
    assert nearly_identity[3, 3] > 0.75 and np.abs(nearly_identity).argmax() == 24


@pytest.mark.parametrize("bad", [lambda: rd.sinc_kernel(7, 0.0), lambda: rd.sinc_kernel(8, 1.0),
                                 lambda: rd.gaussian_family_kernel(7, 0.0, 1.0, 0.0),
                                 lambda: rd.gaussian_family_kernel(7, 1.0, 1.0, 0.0, "box"),
                                 lambda: rd.resize(np.zeros((4, 4, 3), np.float32), 2, 2, "lanczos")])
def test_bad_stage_parameters_are_refused(bad):
    with pytest.raises(ValueError):
        bad()


def test_blur_removes_high_frequencies_and_keeps_the_mean(photo):
    blurred = rd.blur(photo, rd.gaussian_family_kernel(9, 2.0, 2.0, 0.0))
    assert blurred.shape == photo.shape
    assert high_frequency_energy(blurred) < 0.3 * high_frequency_energy(photo)
    assert blurred.mean() == pytest.approx(photo.mean(), abs=2e-3)


@pytest.mark.parametrize("mode", rd.RESIZE_MODES)
def test_resize_gives_the_size_asked_in_range(photo, mode):
    out = rd.resize(photo, 37, 51, mode)
    assert out.shape == (37, 51, 3) and out.min() >= 0 and out.max() <= 1
    assert out.mean() == pytest.approx(photo.mean(), abs=0.02)


def test_noises_add_the_level_asked_and_gray_noise_is_the_same_in_every_channel():
    flat = np.full((128, 128, 3), 0.5, np.float32)
    colour = rd.gaussian_noise(flat, np.random.default_rng(0), 10 / 255, gray=False) - flat
    assert colour.std() == pytest.approx(10 / 255, rel=0.05)
    assert np.abs(colour[..., 0] - colour[..., 1]).max() > 0
    gray = rd.gaussian_noise(flat, np.random.default_rng(0), 10 / 255, gray=True) - flat
    np.testing.assert_array_equal(gray[..., 0], gray[..., 2])
    shot = rd.poisson_noise(flat, np.random.default_rng(0), 1.0, gray=False) - flat
    # Poisson at 8-bit counts: the standard deviation is sqrt(0.5 * 255) / 255
    assert shot.std() == pytest.approx(math.sqrt(127.5) / 255, rel=0.05)
    dark = rd.poisson_noise(np.full_like(flat, 0.05), np.random.default_rng(0), 1.0, gray=False) - 0.05
    assert dark.std() < shot.std()  # shot noise grows with the signal


def test_jpeg_is_lossy_and_worse_at_low_quality(photo):
    good, bad = rd.jpeg(photo, 95), rd.jpeg(photo, 10)
    assert good.shape == photo.shape and good.dtype == np.float32
    assert psnr(good, photo) > psnr(bad, photo) + 5


@pytest.mark.parametrize("height, width, scale", [(96, 128, 4), (67, 45, 4), (5, 9, 2), (4, 4, 4), (31, 200, 3)])
def test_degrade_gives_the_lr_size_of_the_mod_cropped_photo_in_8_bits(photo, height, width, scale):
    hr = np.resize(photo, (height, width, 3)).astype(np.float32)
    lr, info = rd.degrade(hr, np.random.default_rng(3), scale)
    cropped = mod_crop(hr, scale)
    assert lr.shape == (cropped.shape[0] // scale, cropped.shape[1] // scale, 3)
    assert lr.dtype == np.float32 and lr.min() >= 0 and lr.max() <= 1
    np.testing.assert_allclose(lr * 255, np.round(lr * 255), atol=1e-3)
    assert set(info) == {"first", "second", "final"} and "jpeg" in info["final"]


def test_degrade_is_seeded_and_each_seed_draws_another_chain(photo):
    first, info = rd.degrade(photo, np.random.default_rng(7))
    again, same_info = rd.degrade(photo, np.random.default_rng(7))
    np.testing.assert_array_equal(first, again)
    assert info == same_info
    others = [rd.degrade(photo, np.random.default_rng(seed)) for seed in range(8)]
    assert len({rd.describe(i) for _, i in others}) == 8
    assert len({o.tobytes() for o, _ in others}) == 8


def test_degrade_is_harder_than_bicubic_downscaling_on_average(photos):
    """The point of the model: its inputs lose more than the benchmarks' clean downscale does."""
    hr = mod_crop(load_image(photos / "butterfly.png"), 4)
    bicubic = psnr(upscale_bicubic(downscale(hr, 4), 4), hr, border=4)
    real = [psnr(upscale_bicubic(rd.degrade(hr, np.random.default_rng(s))[0], 4), hr, border=4) for s in range(6)]
    assert np.mean(real) < bicubic - 1


def test_degrade_refuses_what_is_not_an_rgb_photo_and_a_bad_scale(photo):
    with pytest.raises(ValueError, match="RGB"):
        rd.degrade(photo[..., 0], np.random.default_rng(0))
    with pytest.raises(ValueError, match="scale"):
        rd.degrade(photo, np.random.default_rng(0), scale=5)


def test_batch_degradation_draws_each_crop_from_the_generator():
    hr = torch.rand(3, 3, 32, 32)
    lr = rd.degrade_batch(hr, np.random.default_rng(0))
    assert lr.shape == (3, 3, 8, 8) and lr.dtype == hr.dtype
    again = rd.degrade_batch(hr, np.random.default_rng(0))
    torch.testing.assert_close(lr, again)
    with pytest.raises(ValueError, match="multiple"):
        rd.degrade_batch(torch.rand(1, 3, 30, 32), np.random.default_rng(0))


def test_the_sr_task_offers_the_real_degradation_and_says_what_it_drew(photo):
    task = TASKS["sr"]
    params = task.parse_params({"degradation": "real"})
    lr, info = task.make_input(photo, np.random.default_rng(5), scale=4, **params)
    expected, choices = rd.degrade(photo, np.random.default_rng(5), 4)
    np.testing.assert_array_equal(lr, expected)
    line = task.describe_applied({"scale": 4, **params}, info, lr, 5)
    assert line.startswith("real-photo degradation x4 to 32×24 px") and rd.describe(choices) in line
    bicubic, _ = task.make_input(photo, np.random.default_rng(5), scale=4)
    np.testing.assert_array_equal(bicubic, downscale(photo, 4))
    with pytest.raises(Exception, match="degradation"):
        task.parse_params({"degradation": "jpeg"})
