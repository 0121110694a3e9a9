"""Blur kernels and their application (studio.deblur.degradation): valid kernels, the real Levin
kernels, convolution orientation, the explicit train/validation/evaluation split, seeding."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from studio.data import DATASETS
from studio.deblur import degradation as B
from studio.imageio import load_image
from studio.metrics import psnr


def _check_kernel(kernel):
    assert kernel.ndim == 2 and kernel.shape[0] == kernel.shape[1] and kernel.shape[0] % 2 == 1
    assert np.all(kernel >= 0)
    assert kernel.sum() == pytest.approx(1.0, abs=1e-9)


def test_trajectory_kernels_are_valid_and_vary():
    kernels = [B.trajectory_kernel(np.random.default_rng(seed))[0] for seed in range(12)]
    for kernel in kernels:
        _check_kernel(kernel)
        assert B.MIN_KERNEL <= kernel.shape[0] <= B.MAX_KERNEL
        assert kernel.max() < 0.9  # a path, not a delta
    sizes = {k.shape[0] for k in kernels}
    assert len(sizes) > 3


def test_trajectory_kernel_is_seeded_and_reports_its_parameters():
    k1, p1 = B.trajectory_kernel(np.random.default_rng(7))
    k2, p2 = B.trajectory_kernel(np.random.default_rng(7))
    np.testing.assert_array_equal(k1, k2)
    assert p1 == p2
    assert p1["kind"] == "trajectory" and p1["size"] == k1.shape[0]
    for key in ("explosiveness", "centripetal", "gaussian_shake", "length_px", "init_angle_deg"):
        assert key in p1


def test_kernel_is_centred_on_its_centroid():
    for seed in range(5):
        kernel, _ = B.trajectory_kernel(np.random.default_rng(seed))
        centre = (kernel.shape[0] - 1) / 2
        ys, xs = np.indices(kernel.shape)
        assert abs((kernel * ys).sum() - centre) < 1.0
        assert abs((kernel * xs).sum() - centre) < 1.0


def test_levin_kernels_load():
    kernels = B.load_levin_kernels(B.SHIPPED_LEVIN_KERNELS)
    assert list(kernels) == [f"k{i}" for i in range(1, 9)]
    for kernel in kernels.values():
        _check_kernel(kernel)
    assert kernels["k4"].shape == (27, 27) and kernels["k5"].shape == (13, 13)
    shared = DATASETS / "levin2009" / "kernels" / "levin09_kernels.npz"
    if shared.is_file():  # the repository's copy is the benchmark's, value for value
        for name, kernel in B.load_levin_kernels(shared).items():
            np.testing.assert_array_equal(kernel, kernels[name])


def test_blur_matches_how_levin2009_was_made(benchmark_set):
    # blurred im_1_ker_3 == true convolution of im_1 with k3 (interior, up to 8-bit rounding)
    levin = benchmark_set("levin2009")
    sharp = load_image(levin / "sharp" / "im_1.png", mode="L")
    blurred = load_image(levin / "blurred" / "im_1_ker_3.png", mode="L")
    ours = B.blur(sharp, B.load_levin_kernels()["k3"])
    assert psnr(ours, blurred, border=20) > 50
    flipped = B.blur(sharp, B.load_levin_kernels()["k3"][::-1, ::-1])
    assert psnr(flipped, blurred, border=20) < 35  # orientation matters and ours is right


def test_blur_same_size_mirrored_borders_any_size(rng):
    kernel = B.load_levin_kernels()["k4"]  # 27x27
    image = rng.random((40, 33, 3)).astype(np.float32)
    out = B.blur(image, kernel)
    assert out.shape == image.shape and out.dtype == np.float32
    expected = np.stack([ndimage.convolve(image[..., c].astype(np.float64), kernel, mode="reflect")
                         for c in range(3)], -1)
    np.testing.assert_allclose(out, expected, atol=1e-5)
    for shape in [(5, 7, 3), (1, 1, 3), (9, 4), (2, 3)]:  # smaller than the kernel, gray too
        tiny = rng.random(shape).astype(np.float32)
        result = B.blur(tiny, kernel)
        assert result.shape == tiny.shape and np.all(np.isfinite(result))


def test_blur_preserves_constant_images():
    kernel, _ = B.trajectory_kernel(np.random.default_rng(3))
    flat = np.full((30, 30, 3), 0.4, dtype=np.float32)
    np.testing.assert_allclose(B.blur(flat, kernel), flat, atol=1e-6)


def test_normalize_kernel_rejects_garbage():
    with pytest.raises(B.KernelError):
        B.normalize_kernel(np.zeros((5, 5)))
    with pytest.raises(B.KernelError):
        B.normalize_kernel(np.full((3, 3), np.nan))
    with pytest.raises(B.KernelError):
        B.normalize_kernel(np.ones(5))
    k = B.normalize_kernel(np.array([[1.0, -0.5], [2.0, 1.0]]))  # negatives clipped, made odd
    _check_kernel(k)
    assert k.shape == (3, 3)


def test_kernel_split_is_explicit_and_disjoint():
    evaluation = B.evaluation_kernels()
    validation = B.validation_kernels()
    names = [n for n, _ in evaluation]
    assert names[:8] == [f"levin-k{i}" for i in range(1, 9)]
    assert len(evaluation) == 8 + B.EVAL_TRAJECTORIES and len(validation) == B.VAL_TRAJECTORIES
    for _, kernel in evaluation + validation:
        _check_kernel(kernel)
    assert set(B.KERNEL_SPLIT) == {"train", "validation", "evaluation"}
    # Training draws come from the train stream: whatever generator the caller passes (even one
    # seeded like an evaluation trajectory), no training kernel equals a held-out one.
    held_out = [k for _, k in evaluation + validation]
    draws = [B.train_kernel(np.random.default_rng([B.EVAL_STREAM, i]))[0] for i in range(B.EVAL_TRAJECTORIES)]
    draws += [B.train_kernel(np.random.default_rng(seed))[0] for seed in range(30)]
    for draw in draws:
        assert not any(draw.shape == k.shape and np.allclose(draw, k) for k in held_out)
    # ...and the Levin kernels are not used for training unless asked for
    kinds = {B.train_kernel(np.random.default_rng(s))[1]["kind"] for s in range(40)}
    assert kinds == {"trajectory"}
    kinds = {B.train_kernel(np.random.default_rng(s), levin_probability=1.0)[1]["kind"] for s in range(5)}
    assert kinds == {"levin"}


def test_fixed_sets_are_reproducible():
    a = B.evaluation_kernels()
    b = B.evaluation_kernels()
    for (n1, k1), (n2, k2) in zip(a, b):
        assert n1 == n2
        np.testing.assert_array_equal(k1, k2)
    a[9][1][:] = 0  # callers get copies: the cached set cannot be corrupted
    assert B.evaluation_kernels()[9][1].sum() == pytest.approx(1.0)


def test_apply_blur_returns_every_parameter(rng):
    clean = rng.random((24, 20, 3)).astype(np.float32)
    result = B.synthesize_eval_blur(clean, np.random.default_rng([0, 3]))
    again = B.synthesize_eval_blur(clean, np.random.default_rng([0, 3]))
    np.testing.assert_array_equal(result.image, again.image)
    assert result.image.shape == clean.shape
    assert np.allclose(result.image * 255, np.round(result.image * 255), atol=1e-4)  # 8-bit values
    assert result.noise_sigma == B.EVAL_NOISE_SIGMA
    assert result.kernel_name in dict(B.evaluation_kernels())
    info = result.info()
    assert info["kernel_name"] == result.kernel_name and info["kernel_size"] == result.kernel.shape[0]
    assert np.asarray(info["kernel"]).shape == result.kernel.shape


def test_noise_needs_a_generator_and_is_seeded():
    clean = np.full((8, 8, 3), 0.5, dtype=np.float32)
    kernel = B.load_levin_kernels()["k1"]
    with pytest.raises(ValueError):
        B.apply_blur(clean, kernel, rng=None, noise_sigma=0.01)
    a = B.apply_blur(clean, kernel, np.random.default_rng(1), 0.01, round_to_uint8=False).image
    b = B.apply_blur(clean, kernel, np.random.default_rng(1), 0.01, round_to_uint8=False).image
    np.testing.assert_array_equal(a, b)
    assert 0.005 < float(np.std(a - 0.5)) < 0.02


def test_levin_kernel_for_names():
    name, kernel = B.levin_kernel_for("im_3_ker_6")
    assert name == "levin-k6"
    np.testing.assert_array_equal(kernel, B.load_levin_kernels()["k6"])
    assert B.levin_kernel_for("im_3") is None
    assert B.levin_kernel_for("photo_ker_x") is None
    assert B.levin_kernel_for("im_1_ker_9") is None
