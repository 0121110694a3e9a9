"""studio.restoration.degradation: each noise does what it says, everything is reproducible from
its parameters, values stay in [0, 1], bad parameters and images are refused clearly."""

from __future__ import annotations

import json

import numpy as np
import pytest

from studio.restoration import degradation as R
from studio.tasks import get_task

CLEAN_OFF = dict(blur_sigma=0.0, jpeg_quality=0, stripe_period=8.0, stripe_angle=90.0, correlation_sigma=2.0,
                 noise_seed=7, size=None)


def flat(value: float = 0.5, size: int = 96) -> np.ndarray:
    return np.full((size, size, 3), value, dtype=np.float32)


def residual(noise: str, clean: np.ndarray, level: float = 0.05, **overrides) -> np.ndarray:
    params = dict(CLEAN_OFF, noises=[noise], noise_level=level, **overrides)
    degraded, applied = R.degrade(clean, np.random.default_rng(0), **params)
    assert applied["noises"] == [noise]
    return degraded[..., 0].astype(np.float64) - R.to_gray(clean.astype(np.float64))


@pytest.fixture(scope="module")
def photo(photos):
    from studio.imageio import load_image

    return load_image(photos / "bird.png")


def test_gaussian_is_additive_white_noise_of_the_level():
    r = residual("gaussian", flat(), level=0.05)
    assert abs(r.mean()) < 0.005 and r.std() == pytest.approx(0.05, rel=0.08)
    neighbour = np.corrcoef(r[:, :-1].ravel(), r[:, 1:].ravel())[0, 1]
    assert abs(neighbour) < 0.1  # white


def test_speckle_scales_with_intensity():
    clean = flat(0.2)
    clean[:, 48:] = 0.8
    r = residual("speckle", clean, level=0.05)
    dark, bright = r[:, :48].std(), r[:, 48:].std()
    assert bright / dark == pytest.approx(4.0, rel=0.2)  # multiplicative: g * N(0, 2 * level)
    assert bright == pytest.approx(0.8 * 0.1, rel=0.15)


def test_salt_and_pepper_hits_a_level_fraction_with_0_and_1():
    clean = flat(0.5, 128)
    degraded, _ = R.degrade(clean, None, noises=["salt_pepper"], noise_level=0.1, **CLEAN_OFF)
    gray = degraded[..., 0]
    hit = np.abs(gray - 0.5) > 1 / 255
    assert hit.mean() == pytest.approx(0.1, abs=0.015)
    assert set(np.unique(gray[hit])) == {0.0, 1.0}
    assert abs((gray[hit] == 1.0).mean() - 0.5) < 0.1


def test_correlated_noise_is_spatially_filtered():
    r = residual("correlated", flat(), level=0.05, correlation_sigma=2.0)
    assert r.std() == pytest.approx(0.05, rel=0.1)
    neighbour = np.corrcoef(r[:, :-1].ravel(), r[:, 1:].ravel())[0, 1]
    assert neighbour > 0.7  # neighbours move together, unlike white noise


def test_stripes_are_periodic_along_the_angle():
    r = residual("stripes", flat(), level=0.05, stripe_period=8.0, stripe_angle=90.0)
    assert np.abs(r - r[:, :1]).max() <= 1.5 / 255  # angle 90: horizontal stripes, constant along a row
    assert np.abs(r[8:] - r[:-8]).max() <= 1.5 / 255  # period 8 px
    assert r.std() == pytest.approx(0.05, rel=0.1)
    vertical = residual("stripes", flat(), level=0.05, stripe_period=8.0, stripe_angle=0.0)
    assert np.abs(vertical - vertical[:1]).max() <= 1.5 / 255


def test_noise_patterns_come_from_the_noise_seed_only(photo):
    params = dict(noises=["gaussian", "stripes"], noise_level=0.05, blur_sigma=0.7, jpeg_quality=60,
                  stripe_period=6.0, stripe_angle=30.0, correlation_sigma=2.0, noise_seed=123, size=64)
    a, pa = R.degrade(photo, np.random.default_rng(1), **params)
    b, pb = R.degrade(photo, np.random.default_rng(999), **params)
    assert np.array_equal(a, b) and pa == pb
    c, _ = R.degrade(photo, np.random.default_rng(1), **dict(params, noise_seed=124))
    assert not np.array_equal(a, c)
    # One stream per noise type: adding stripes does not change the gaussian realisation.
    g1 = residual("gaussian", flat(), noise_seed=5)
    both, _ = R.degrade(flat(), None, **dict(CLEAN_OFF, noises=["gaussian", "stripes"], noise_level=0.05, noise_seed=5))
    stripes = residual("stripes", flat(), noise_seed=5)
    assert np.abs((both[..., 0] - 0.5) - (g1 + stripes)).max() <= 2.5 / 255


def test_random_parameters_are_returned_and_reproduce_the_image(photo):
    degraded, params = R.degrade(photo, np.random.default_rng(42))
    assert json.loads(json.dumps(params)) == params
    again, same = R.degrade(photo, np.random.default_rng(0), **params)
    assert np.array_equal(degraded, again) and same == params
    _, params_b = R.degrade(photo, np.random.default_rng(42))
    assert params_b == params  # same generator seed, same draw
    seen = set()
    for seed in range(40):
        _, p = R.degrade(flat(0.5, 16), np.random.default_rng(seed))
        seen.update(p["noises"])
        assert 1 <= len(p["noises"]) <= 2 and 30 <= p["jpeg_quality"] <= 90
    assert seen == set(R.NOISE_TYPES)


def test_output_is_gray_rgb_in_range_at_any_size(photo):
    for size, expected in ((128, (128, 128)), (37, (37, 37)), (None, photo.shape[:2])):
        degraded, params = R.degrade(photo, np.random.default_rng(3), noise_level=0.3, size=size)
        assert degraded.shape == (*expected, 3) and degraded.dtype == np.float32
        assert degraded.min() >= 0.0 and degraded.max() <= 1.0
        assert np.array_equal(degraded[..., 0], degraded[..., 1]) and np.array_equal(degraded[..., 0], degraded[..., 2])
        assert params["size"] == size
    clean = R.prepare_clean(np.random.default_rng(0).random((321, 481, 3)), 128)
    assert clean.shape == (128, 128, 3) and clean.min() >= 0 and clean.max() <= 1


def test_blur_and_jpeg_change_the_image_as_asked(photo):
    base = dict(noises=[], noise_level=0.0, stripe_period=8.0, stripe_angle=0.0, correlation_sigma=2.0, noise_seed=0,
                size=64)
    plain, _ = R.degrade(photo, None, blur_sigma=0.0, jpeg_quality=0, **base)
    gray = R.to_gray(R.resize_square(photo.astype(np.float64), 64))
    assert np.abs(plain[..., 0] - gray).max() <= 0.5 / 255 + 1e-6  # nothing but 8-bit rounding
    blurred, _ = R.degrade(photo, None, blur_sigma=1.5, jpeg_quality=0, **base)
    assert np.abs(np.diff(blurred[..., 0], axis=1)).mean() < 0.8 * np.abs(np.diff(plain[..., 0], axis=1)).mean()
    compressed, _ = R.degrade(photo, None, blur_sigma=0.0, jpeg_quality=10, **base)
    assert 0 < np.abs(compressed - plain).mean() < 0.1


def test_benchmark_is_fixed_through_the_task(photo):
    task = get_task("restoration")
    clean = task.prepare_clean(photo, scale=4)
    assert clean.shape == (128, 128, 3)
    a, info = task.degrade_info(clean, rng=np.random.default_rng([0, 3]), scale=4)
    b, _ = task.degrade_info(clean, rng=np.random.default_rng([0, 3]))
    assert np.array_equal(a, b) and info["benchmark"]
    for key in ("noises", "noise_level", "blur_sigma", "jpeg_quality", "stripe_period", "stripe_angle"):
        assert info[key] == R.BENCHMARK.params()[key]
    assert "gaussian" in info["degradation"] and "JPEG q70" in info["degradation"]
    params = {k: v for k, v in info.items() if k not in ("degradation", "benchmark")}
    assert np.array_equal(R.degrade(clean, None, **params)[0], a)
    c, other = task.degrade_info(clean, rng=np.random.default_rng(0), noises=["speckle"])
    assert other["noises"] == ["speckle"] and not other["benchmark"]
    assert np.array_equal(task.input_reference(a[..., 0]), a)


@pytest.mark.parametrize("kwargs, match", [
    (dict(noises=["gaussian", "poisson"]), "unknown noise type"),
    (dict(noises=["gaussian", "gaussian"]), "repeated"),
    (dict(noise_level=-0.1), "noise_level"),
    (dict(noise_level=float("nan")), "noise_level"),
    (dict(blur_sigma=-1.0), "blur_sigma"),
    (dict(jpeg_quality=101), "jpeg_quality"),
    (dict(jpeg_quality=50.5), "jpeg_quality"),
    (dict(size=3), "size"),
    (dict(noise_seed=-1), "noise_seed"),
    (dict(stripe_period=0.5), "stripe_period"),
])
def test_bad_parameters_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        R.degrade(flat(0.5, 16), np.random.default_rng(0), **kwargs)


@pytest.mark.parametrize("image, match", [
    (np.full((16, 16, 3), 2.0), r"\[0, 1\]"),
    (np.full((16, 16, 4), 0.5), "HxW or HxWx3"),
    (np.full((16,), 0.5), "HxW or HxWx3"),
    (np.full((1, 16, 3), 0.5), "too small"),
    (np.full((16, 16, 3), np.nan), "NaN"),
])
def test_bad_images_are_refused(image, match):
    with pytest.raises(ValueError, match=match):
        R.degrade(image, np.random.default_rng(0))


def test_unknown_parameter_and_bad_rng():
    with pytest.raises(TypeError, match="unknown degradation parameter"):
        R.sample(np.random.default_rng(0), sigma=3)
    with pytest.raises(TypeError, match="numpy Generator"):
        R.degrade(flat(0.5, 16), 1234)
    gray_uint8 = np.full((16, 16), 128, dtype=np.uint8)  # HxW uint8 is accepted
    out, _ = R.degrade(gray_uint8, np.random.default_rng(0))
    assert out.shape == (128, 128, 3)
