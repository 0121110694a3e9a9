"""studio.resize and studio.sr.degradation: MATLAB bicubic, the SR benchmark protocol."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from studio.sr.degradation import check_scale, downscale, downscale_batch, mod_crop, upscale_bicubic
from studio.resize import cubic, imresize, output_size, resize_matrix

# MATLAB's bicubic (a = -0.5) taps at distances 1.75, 0.75, 0.25, 1.25 (the x2 upscaling kernel).
KEYS_X2 = {1.75: -0.0234375, 0.75: 0.2265625, 0.25: 0.8671875, 1.25: -0.0703125}


def test_cubic_kernel_values():
    for distance, weight in KEYS_X2.items():
        assert cubic(np.array([distance, -distance])).tolist() == [weight, weight]
    assert cubic(np.array([0.0, 1.0, 2.0, 2.5])).tolist() == [1.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize("in_len, scale", [(17, 0.5), (30, 1 / 3), (64, 0.25), (9, 2.0), (7, 3.0), (5, 4.0), (12, 1.0)])
@pytest.mark.parametrize("antialias", [True, False])
def test_resize_matrix_rows_sum_to_one(in_len, scale, antialias):
    out_len = output_size(in_len, in_len, scale)[0]
    matrix = resize_matrix(in_len, out_len, scale, antialias)
    assert matrix.shape == (out_len, in_len)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-12)


def test_resize_matrix_x2_upscale_interior_row_is_matlab():
    matrix = resize_matrix(8, 16, 2.0)
    # Output pixel 8 (1-based) sits at input 4.25: taps on inputs 3, 4, 5, 6 (1-based).
    np.testing.assert_allclose(matrix[7, 2:6], [-0.0703125, 0.8671875, 0.2265625, -0.0234375], atol=1e-15)
    assert np.count_nonzero(matrix[7]) == 4


def test_resize_matrix_symmetric_padding_at_the_border():
    matrix = resize_matrix(8, 16, 2.0)
    # Output pixel 1 sits at input 0.75; inputs 0 and -1 mirror onto 1 and 2 (edge repeated).
    np.testing.assert_allclose(matrix[0, :2], [0.2265625 + 0.8671875, -0.0234375 - 0.0703125], atol=1e-15)
    np.testing.assert_allclose(matrix[-1, -2:], matrix[0, :2][::-1], atol=1e-15)


def test_resize_matrix_x2_downscale_is_antialiased():
    matrix = resize_matrix(16, 8, 0.5)
    # Output pixel 4 (1-based) sits at input 7.5: 8 taps on inputs 4..11, the kernel widened x2.
    expected = np.array([-0.01171875, -0.03515625, 0.11328125, 0.43359375,
                         0.43359375, 0.11328125, -0.03515625, -0.01171875])
    np.testing.assert_allclose(matrix[3, 3:11], expected, atol=1e-15)
    plain = resize_matrix(16, 8, 0.5, antialias=False)
    assert np.count_nonzero(matrix[3]) == 8 and np.count_nonzero(plain[3]) == 4


def test_output_size_is_ceil():
    assert output_size(10, 7, 0.5) == (5, 4)
    assert output_size(10, 7, 1 / 3) == (4, 3)
    assert output_size(7, 5, 2.5) == (18, 13)
    assert imresize(np.zeros((10, 7)), 0.5).shape == (5, 4)
    assert imresize(np.zeros((10, 7, 3)), 1 / 3).shape == (4, 3, 3)
    assert imresize(torch.zeros(2, 3, 10, 7), 0.5).shape == (2, 3, 5, 4)
    for size in range(3, 200, 3):  # 1/3 in floating point must never round a multiple of 3 up
        assert output_size(size, size, 1 / 3) == (size // 3, size // 3)


@pytest.mark.parametrize("scale", [0.5, 1 / 3, 0.25, 2.0, 4.0])
def test_constant_image_stays_constant(scale):
    image = np.full((24, 36, 3), 0.37)
    out = imresize(image, scale)
    np.testing.assert_allclose(out, 0.37, atol=1e-12)


def test_numpy_and_torch_paths_agree(rng):
    image = rng.random((20, 28, 3))
    for scale in (0.25, 1 / 3, 2.0):
        from_numpy = imresize(image, scale)
        tensor = torch.from_numpy(image).permute(2, 0, 1)[None]  # (1, 3, H, W) double
        from_torch = imresize(tensor, scale)
        assert from_torch.dtype == torch.float64
        np.testing.assert_allclose(from_torch[0].permute(1, 2, 0).numpy(), from_numpy, atol=1e-12)
        # 2-D numpy input equals the per-channel result.
        np.testing.assert_allclose(imresize(image[..., 1], scale), from_numpy[..., 1], atol=1e-12)


def test_float32_tensor_keeps_dtype(rng):
    tensor = torch.from_numpy(rng.random((1, 3, 16, 16)).astype(np.float32))
    out = imresize(tensor, 0.5)
    assert out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), imresize(tensor.double(), 0.5).numpy(), atol=1e-6)


def test_antialiasing_removes_checkerboard_aliasing():
    board = (np.indices((66, 66)).sum(axis=0) % 2).astype(np.float64)
    smooth = imresize(board, 1 / 3)
    aliased = imresize(board, 1 / 3, antialias=False)
    assert smooth.shape == aliased.shape == (22, 22)
    assert np.abs(smooth - 0.5).max() < 0.03          # the pattern averages out
    assert aliased.min() < 0.05 and aliased.max() > 0.95  # plain point sampling keeps it


def test_upscaling_does_not_depend_on_antialias(rng):
    image = rng.random((9, 11))
    np.testing.assert_array_equal(imresize(image, 3.0), imresize(image, 3.0, antialias=False))


def test_down_then_up_is_close_on_smooth_images():
    y, x = np.mgrid[0:64, 0:64] / 64.0
    image = 0.5 + 0.25 * np.sin(2 * np.pi * x) * np.cos(2 * np.pi * y)
    back = imresize(imresize(image, 0.25), 4.0)
    assert np.abs(back - image)[8:-8, 8:-8].max() < 0.02


# ---- the SR degradation ---------------------------------------------------------------------

def test_mod_crop():
    image = np.zeros((13, 10, 3))
    assert mod_crop(image, 4).shape == (12, 8, 3)
    assert mod_crop(image, 3).shape == (12, 9, 3)
    assert mod_crop(image[..., 0], 2).shape == (12, 10)
    marked = np.arange(13 * 10).reshape(13, 10)
    np.testing.assert_array_equal(mod_crop(marked, 4), marked[:12, :8])  # crops bottom/right
    with pytest.raises(ValueError, match="smaller than the scale"):
        mod_crop(np.zeros((3, 10)), 4)


def test_check_scale():
    assert [check_scale(s) for s in (2, 3, 4)] == [2, 3, 4]
    for bad in (1, 5, 8):
        with pytest.raises(ValueError, match="scale"):
            check_scale(bad)
    with pytest.raises(ValueError, match="scale"):
        downscale(np.zeros((16, 16, 3)), 5)
    with pytest.raises(ValueError, match="scale"):
        downscale_batch(torch.zeros(1, 3, 16, 16), 8)


def test_downscale_is_quantized_and_sized(rng):
    hr = rng.random((50, 39, 3)).astype(np.float32)
    lr = downscale(hr, 4)
    assert lr.shape == (12, 9, 3) and lr.dtype == np.float32
    assert lr.min() >= 0 and lr.max() <= 1
    np.testing.assert_allclose(lr * 255, np.round(lr * 255), atol=1e-4)
    raw = downscale(hr, 4, round_to_uint8=False)
    np.testing.assert_allclose(raw, np.clip(imresize(hr[:48, :36], 0.25), 0, 1), atol=1e-6)
    assert np.abs(lr - raw).max() <= 0.5 / 255 + 1e-6


def test_downscale_batch_equals_per_image_downscale(rng):
    hr = rng.random((3, 3, 48, 36)).astype(np.float32)
    for scale in (2, 3, 4):
        batch = downscale_batch(torch.from_numpy(hr), scale)
        assert batch.shape == (3, 3, 48 // scale, 36 // scale) and batch.dtype == torch.float32
        single = np.stack([downscale(image.transpose(1, 2, 0), scale).transpose(2, 0, 1) for image in hr])
        np.testing.assert_array_equal(batch.numpy(), single)


def test_downscale_batch_rejects_non_multiple():
    with pytest.raises(ValueError, match="multiple"):
        downscale_batch(torch.zeros(1, 3, 30, 32), 4)


def test_upscale_bicubic_clips(rng):
    lr = (rng.random((8, 8, 3)) > 0.5).astype(np.float32)  # hard edges overshoot
    assert np.abs(imresize(lr, 4.0)).max() > 1.0
    up = upscale_bicubic(lr, 4)
    assert up.shape == (32, 32, 3) and up.dtype == np.float32
    assert up.min() >= 0.0 and up.max() <= 1.0


def test_bicubic_set5_x4_matches_published(benchmark_set):
    """Bicubic x4 on Set5, PSNR on Y with a 4-pixel border: 28.42 dB in the literature.

    This pins the downscaler (antialiased MATLAB bicubic + 8-bit rounding), the upscaler and
    the Y-channel PSNR together: any of them off shifts the mean by tenths of a dB.
    """
    from studio.evaluation import evaluate

    rows = evaluate("sr", ["bicubic"], benchmark_set("set5"), scale=4, progress=False)
    assert [row["image"] for row in rows] == ["baby", "bird", "butterfly", "head", "woman"]
    mean_y = float(np.mean([row["psnr_y"] for row in rows]))
    assert mean_y == pytest.approx(28.42, abs=0.1)
    assert all(row["psnr_y"] == pytest.approx(row["input_psnr_y"]) for row in rows)
    butterfly = next(row for row in rows if row["image"] == "butterfly")
    assert butterfly["psnr_y"] == pytest.approx(22.10, abs=0.15)  # the hard one, per the tables
