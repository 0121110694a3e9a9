"""studio.metrics: PSNR/SSIM as the SR literature computes them (MATLAB Y channel, border crop)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from studio.metrics import all_metrics, crop_border, error_map, psnr, rgb_to_y, ssim


@pytest.fixture
def pair(rng):
    target = rng.random((40, 48, 3))
    output = np.clip(target + rng.normal(0, 0.05, target.shape), 0, 1)
    return output, target


# ---- PSNR -----------------------------------------------------------------------------------

def test_psnr_matches_skimage_rgb_and_gray(pair):
    output, target = pair
    assert psnr(output, target) == pytest.approx(peak_signal_noise_ratio(target, output, data_range=1.0), abs=1e-10)
    assert psnr(output[..., 1], target[..., 1]) == pytest.approx(
        peak_signal_noise_ratio(target[..., 1], output[..., 1], data_range=1.0), abs=1e-10)


def test_psnr_hand_computed():
    target = np.full((8, 8, 3), 0.5)
    assert psnr(target + 0.1, target) == pytest.approx(20.0, abs=1e-9)     # 10 log10(1 / 0.01)
    assert psnr(target - 0.01, target) == pytest.approx(40.0, abs=1e-9)
    half = target.copy()
    half[:4] += 0.2                                                       # MSE = 0.04 / 2 = 0.02
    assert psnr(half, target) == pytest.approx(10 * math.log10(1 / 0.02), abs=1e-9)


def test_psnr_identical_is_inf(pair):
    _, target = pair
    assert psnr(target, target.copy()) == float("inf")
    assert psnr(target, target, y_channel=True, border=4) == float("inf")


def test_psnr_is_symmetric_and_returns_float(pair):
    output, target = pair
    value = psnr(output, target)
    assert isinstance(value, float)
    assert psnr(target, output) == pytest.approx(value, abs=1e-12)


def test_psnr_data_range_255(pair):
    output, target = pair
    expected = psnr(output, target)
    assert psnr(output * 255, target * 255, data_range=255) == pytest.approx(expected, abs=1e-9)
    assert psnr(np.round(output * 255), np.round(target * 255), data_range=255) == pytest.approx(
        peak_signal_noise_ratio(np.round(target * 255), np.round(output * 255), data_range=255), abs=1e-9)
    # The wrong data range changes the figure by 20 log10(255).
    assert psnr(output * 255, target * 255) == pytest.approx(expected - 20 * math.log10(255), abs=1e-9)


def test_psnr_accepts_uint8_like_ints():
    target = np.zeros((6, 6), dtype=np.uint8)
    output = np.full((6, 6), 10, dtype=np.uint8)  # no uint8 wrap-around in the difference
    assert psnr(target, output, data_range=255) == pytest.approx(10 * math.log10(255**2 / 100), abs=1e-9)


def test_psnr_border_crop_equals_manual_crop(pair):
    output, target = pair
    output = output.copy()
    output[:3] = 1 - target[:3]  # huge error only in the top border rows
    cropped = psnr(output, target, border=3)
    assert cropped == pytest.approx(psnr(output[3:-3, 3:-3], target[3:-3, 3:-3]), abs=1e-12)
    assert cropped > psnr(output, target) + 3
    y_cropped = psnr(output, target, border=3, y_channel=True)
    assert y_cropped == pytest.approx(
        psnr(rgb_to_y(output)[3:-3, 3:-3], rgb_to_y(target)[3:-3, 3:-3]), abs=1e-12)


def test_psnr_y_channel_matches_manual(pair):
    output, target = pair
    assert psnr(output, target, y_channel=True) == pytest.approx(
        peak_signal_noise_ratio(rgb_to_y(target), rgb_to_y(output), data_range=1.0), abs=1e-10)
    # On a gray image y_channel is a no-op.
    assert psnr(output[..., 0], target[..., 0], y_channel=True) == psnr(output[..., 0], target[..., 0])


def test_shape_mismatch_raises(pair):
    output, target = pair
    with pytest.raises(ValueError, match="shape mismatch"):
        psnr(output[:-1], target)
    with pytest.raises(ValueError, match="shape mismatch"):
        ssim(output, target[..., 0])
    with pytest.raises(ValueError, match="shape mismatch"):
        error_map(output[:, :-1], target)


def test_border_too_large_raises():
    image = np.zeros((8, 10))
    with pytest.raises(ValueError, match="border"):
        crop_border(image, 4)
    assert crop_border(image, 3).shape == (2, 4)
    assert crop_border(image, 0) is image


# ---- Y channel ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "rgb, y255",
    [
        ((1, 0, 0), 16 + 65.481),
        ((0, 1, 0), 16 + 128.553),
        ((0, 0, 1), 16 + 24.966),
        ((1, 1, 1), 235.0),
        ((0, 0, 0), 16.0),
        ((0.5, 0.5, 0.5), 16 + 0.5 * 219.0),
    ],
)
def test_rgb_to_y_bt601(rgb, y255):
    image = np.broadcast_to(np.array(rgb, dtype=np.float64), (2, 3, 3))
    y = rgb_to_y(image)
    assert y.shape == (2, 3)
    np.testing.assert_allclose(y, y255 / 255.0, atol=1e-12)


def test_rgb_to_y_gray_passthrough():
    gray = np.linspace(0, 1, 12).reshape(3, 4)
    np.testing.assert_array_equal(rgb_to_y(gray), gray)


# ---- SSIM -----------------------------------------------------------------------------------

def test_ssim_matches_skimage_wang_setup(pair):
    output, target = pair
    expected = structural_similarity(output, target, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False, channel_axis=-1)
    assert ssim(output, target) == pytest.approx(expected, abs=1e-12)
    # ... and differs from skimage's default (uniform 7x7, sample covariance), so the setup matters.
    default = structural_similarity(output, target, data_range=1.0, channel_axis=-1)
    assert abs(ssim(output, target) - default) > 1e-4


def test_ssim_gray_y_and_border(pair):
    output, target = pair
    expected = structural_similarity(rgb_to_y(output)[4:-4, 4:-4], rgb_to_y(target)[4:-4, 4:-4], data_range=1.0,
                                     gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    assert ssim(output, target, y_channel=True, border=4) == pytest.approx(expected, abs=1e-12)


def test_ssim_identical_is_one_and_noise_lowers_it(pair):
    output, target = pair
    assert ssim(target, target) == pytest.approx(1.0, abs=1e-12)
    assert ssim(output, target) < 0.99


def test_ssim_needs_7_pixels():
    with pytest.raises(ValueError, match="7x7"):
        ssim(np.zeros((6, 20)), np.zeros((6, 20)))
    with pytest.raises(ValueError, match="7x7"):
        ssim(np.zeros((20, 20)), np.zeros((20, 20)), border=7)


# ---- error map and all_metrics --------------------------------------------------------------

def test_error_map_values():
    target = np.zeros((2, 3, 3), dtype=np.float32)
    output = target.copy()
    output[0, 0] = (0.3, 0.0, 0.0)
    output[1, 2] = (-0.3, 0.6, 0.3)   # absolute values averaged over channels
    emap = error_map(output, target)
    assert emap.shape == (2, 3)
    np.testing.assert_allclose(emap, [[0.1, 0, 0], [0, 0, 0.4]], atol=1e-7)
    gray = error_map(np.full((2, 2), 0.25), np.full((2, 2), 0.75))
    assert gray.shape == (2, 2)
    np.testing.assert_allclose(gray, 0.5)


def test_all_metrics_keys_and_values(pair):
    output, target = pair
    scores = all_metrics(output, target, border=2)
    assert set(scores) == {"psnr", "ssim", "psnr_y", "ssim_y"}
    assert scores["psnr"] == psnr(output, target, border=2)
    assert scores["ssim_y"] == ssim(output, target, border=2, y_channel=True)
    # Y has a smaller range (219/255) than RGB and averages channel noise: different figure.
    assert scores["psnr_y"] != pytest.approx(scores["psnr"], abs=0.1)
