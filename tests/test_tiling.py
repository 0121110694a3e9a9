"""studio.tiling and studio.inference: tiled inference equals whole-image inference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from models.classical_sr import BicubicUpscaler
from models.srresnet import SRResNet
from studio import inference
from studio.deblur.interface import TrueKernelModel
from studio.inference import aligned_tiling, resolve_precision, run_model, to_image, to_tensor
from studio.resize import imresize
from studio.tiling import axis_tiles, tiled_apply


def _conv_stack(layers: int = 3, seed: int = 0) -> nn.Module:
    """3x3 convs with tanh: receptive-field radius = ``layers`` pixels, scale 1."""
    torch.manual_seed(seed)
    modules = []
    for index in range(layers):
        modules.append(nn.Conv2d(3 if index == 0 else 6, 6 if index < layers - 1 else 3, 3, padding=1))
        if index < layers - 1:
            modules.append(nn.Tanh())
    return nn.Sequential(*modules).eval()


def _image(height: int, width: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(seed))


def _tile_count(length: int, tile: int, overlap: int) -> int:
    if length <= tile:
        return 1
    stride = tile - overlap - overlap // 2
    return len(range(0, length - tile, stride)) + 1


@torch.no_grad()
def test_conv_stack_tiled_equals_untiled():
    model = _conv_stack(layers=3)  # radius 3 <= overlap // 2
    image = _image(97, 131)
    calls = []
    tiled = tiled_apply(model, image, tile=24, overlap=6, progress=lambda done, total: calls.append((done, total)))
    whole = model(image)
    assert tiled.shape == whole.shape == (1, 3, 97, 131)
    assert (tiled - whole).abs().max().item() < 1e-5
    total = _tile_count(97, 24, 6) * _tile_count(131, 24, 6)
    assert total > 20
    assert calls == [(done, total) for done in range(1, total + 1)]


@torch.no_grad()
def test_receptive_field_beyond_margin_shows_seams():
    # The same stack with a margin smaller than its radius is no longer exact: the margin matters.
    model = _conv_stack(layers=3)
    image = _image(60, 70)
    whole = model(image)
    exact = tiled_apply(model, image, tile=24, overlap=6)
    loose = tiled_apply(model, image, tile=24, overlap=2)
    assert (exact - whole).abs().max().item() < 1e-5
    assert (loose - whole).abs().max().item() > 1e-3


@torch.no_grad()
def test_srresnet_x4_tiled_equals_untiled_at_odd_size():
    torch.manual_seed(0)
    model = SRResNet(scale=4, channels=8, num_blocks=2).eval()
    # Receptive-field radius: 9x9 head (4) + 2 blocks x 2 convs (4) + body tail (1) + tail conv (1) = 10.
    image = _image(97, 131, seed=1)
    whole = model(image)
    calls = []
    tiled = tiled_apply(model, image, tile=48, overlap=20, scale=4,
                        progress=lambda done, total: calls.append((done, total)))
    assert tiled.shape == whole.shape == (1, 3, 388, 524)
    assert (tiled - whole).abs().max().item() < 1e-5
    assert calls[-1] == (len(calls), _tile_count(97, 48, 20) * _tile_count(131, 48, 20))


@torch.no_grad()
def test_tiles_along_one_axis_only():
    model = _conv_stack(layers=2)
    image = _image(20, 100)
    tiled = tiled_apply(model, image, tile=32, overlap=4)
    assert (tiled - model(image)).abs().max().item() < 1e-5


def test_small_image_passes_through_untouched():
    image = _image(20, 31)
    seen, calls = [], []

    def fn(piece):
        seen.append(piece)
        return piece * 2

    out = tiled_apply(fn, image, tile=32, overlap=8, progress=lambda done, total: calls.append((done, total)))
    assert len(seen) == 1 and seen[0] is image  # one call, on the whole image, not a copy
    assert torch.equal(out, image * 2)
    assert calls == [(1, 1)]


def test_every_output_pixel_gets_weight():
    # An identity "model" must come back exactly, including the seams and corners.
    image = _image(71, 53)
    out = tiled_apply(lambda x: x.clone(), image, tile=16, overlap=6)
    torch.testing.assert_close(out, image, atol=1e-6, rtol=0)
    up = tiled_apply(lambda x: torch.repeat_interleave(torch.repeat_interleave(x, 2, -1), 2, -2),
                     image, tile=16, overlap=6, scale=2)
    torch.testing.assert_close(up[..., ::2, ::2], image, atol=1e-6, rtol=0)


@pytest.mark.parametrize("length,tile,overlap,multiple", [
    (720, 512, 32, 16), (1280, 512, 32, 16), (1920, 512, 32, 16), (720, 256, 32, 16), (97, 24, 6, 1),
    (131, 24, 6, 1), (25, 24, 10, 1), (1000, 999, 300, 1), (5000, 100, 20, 1)])
def test_balanced_tiles_cover_with_the_same_count_and_less_work(length, tile, overlap, multiple):
    if multiple > 1:
        tile, overlap = aligned_tiling(tile, overlap, multiple)
    shared = overlap + overlap // 2
    plain = _tile_count(length, tile, overlap)
    size, starts = axis_tiles(length, tile, overlap, multiple)
    assert len(starts) == plain  # never more tiles than the requested size needs
    assert 2 * overlap < size <= tile and size % multiple == 0
    assert starts[0] == 0 and starts[-1] + size == length  # covers the axis exactly
    assert all(0 < b - a <= size - shared for a, b in zip(starts, starts[1:]))  # every seam keeps its overlap
    assert all(start % multiple == 0 for start in starts)


def test_balanced_tiles_of_a_720p_frame():
    # 512-px tiles on a 1280x720 frame: 2 x 3 tiles of 384 x 464 px instead of 512 x 512,
    # 1.07 Mpx of work instead of 1.57 Mpx for a 0.92 Mpx frame.
    tile, overlap = aligned_tiling(512, 32, 16)
    (height, rows), (width, cols) = axis_tiles(720, tile, overlap, 16), axis_tiles(1280, tile, overlap, 16)
    assert (height, len(rows), width, len(cols)) == (384, 2, 464, 3)
    assert len(rows) * len(cols) * height * width < 1.2 * 720 * 1280


def test_invalid_arguments():
    image = _image(40, 40)
    with pytest.raises(ValueError, match="twice the overlap"):
        tiled_apply(lambda x: x, image, tile=32, overlap=16)
    with pytest.raises(ValueError, match="twice the overlap"):
        tiled_apply(lambda x: x, image, tile=8, overlap=8)
    with pytest.raises(ValueError, match=r"\(1, C, H, W\)"):
        tiled_apply(lambda x: x, image[0], tile=32, overlap=4)
    with pytest.raises(ValueError, match=r"\(1, C, H, W\)"):
        tiled_apply(lambda x: x, torch.cat([image, image]), tile=32, overlap=4)


# ---- run_model ------------------------------------------------------------------------------

def _binary(shape, seed=0) -> np.ndarray:
    return (np.random.default_rng(seed).random(shape) > 0.5).astype(np.float32)  # bicubic overshoots


def test_to_tensor_and_back():
    rgb = np.random.default_rng(0).random((5, 7, 3)).astype(np.float32)
    tensor = to_tensor(rgb)
    assert tensor.shape == (1, 3, 5, 7) and tensor.dtype == torch.float32
    np.testing.assert_array_equal(to_image(tensor), rgb)
    gray = rgb[..., 0]
    assert to_tensor(gray).shape == (1, 1, 5, 7)
    np.testing.assert_array_equal(to_image(to_tensor(gray)), gray)


@pytest.mark.parametrize("tile", [0, 16])
def test_run_model_grayscale_and_rgb_shapes_and_clamp(tile):
    model = BicubicUpscaler(scale=4)
    gray = _binary((23, 37))
    out = run_model(model, gray, scale=4, tile=tile, overlap=4)
    assert out.shape == (92, 148) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    raw = imresize(gray.astype(np.float64), 4.0)
    assert raw.min() < -0.05 and raw.max() > 1.05  # the model itself overshoots ...
    np.testing.assert_allclose(out, np.clip(raw, 0, 1), atol=1e-5)  # ... run_model clamps

    rgb = _binary((23, 37, 3), seed=1)
    out = run_model(model, rgb, scale=4, tile=tile, overlap=4)
    assert out.shape == (92, 148, 3)
    assert out.min() >= 0.0 and out.max() <= 1.0
    np.testing.assert_allclose(out, np.clip(imresize(rgb.astype(np.float64), 4.0), 0, 1), atol=1e-5)


def test_run_model_tiled_srresnet_matches_direct_forward():
    torch.manual_seed(2)
    model = SRResNet(scale=4, channels=8, num_blocks=2).eval()
    image = np.random.default_rng(3).random((45, 61, 3)).astype(np.float32)
    with torch.no_grad():
        direct = model(to_tensor(image)).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    calls = []
    tiled = run_model(model, image, scale=4, tile=44, overlap=20, progress=lambda d, t: calls.append((d, t)))
    assert tiled.shape == (180, 244, 3)
    assert np.abs(tiled - direct).max() < 1e-5
    assert calls and calls[-1][0] == calls[-1][1] > 1
    untiled = run_model(model, image, scale=4, tile=0)
    assert np.abs(untiled - direct).max() < 1e-5


# ---- precision and per-model tile size -------------------------------------------------------

def test_resolve_precision(monkeypatch):
    assert resolve_precision("fp32") is None
    assert resolve_precision("bf16") is torch.bfloat16
    monkeypatch.setattr(inference, "cpu_flags", lambda: frozenset({"avx2", "avx512f"}))
    assert resolve_precision("auto") is None  # emulated bf16 is slower than fp32
    monkeypatch.setattr(inference, "cpu_flags", lambda: frozenset({"avx512f", "avx512_bf16"}))
    assert resolve_precision("auto") is torch.bfloat16
    with pytest.raises(ValueError, match="unknown precision 'fp16'"):
        resolve_precision("fp16")


def test_bf16_changes_learned_models_slightly_and_classical_ones_not_at_all():
    torch.manual_seed(4)
    model = SRResNet(scale=4, channels=8, num_blocks=2).eval()
    image = np.random.default_rng(5).random((20, 24, 3)).astype(np.float32)
    fp32, bf16 = run_model(model, image, scale=4), run_model(model, image, scale=4, precision="bf16")
    assert bf16.dtype == np.float32 and bf16.shape == fp32.shape
    assert 0 < np.abs(bf16 - fp32).max() < 0.05  # autocast really ran, and stayed close
    bicubic = BicubicUpscaler(scale=4)
    np.testing.assert_array_equal(run_model(bicubic, image, scale=4, precision="bf16"),
                                  run_model(bicubic, image, scale=4))


def test_a_kernel_needing_model_runs_under_the_precision_asked_for():
    """The oracle path (the true kernel passed in) honours bf16 like every other learned model."""

    class Oracle(torch.nn.Module, TrueKernelModel):

        def __init__(self):
            super().__init__()
            self.gain = torch.nn.Parameter(torch.ones(()))
            self.autocast_seen = []

        def forward(self, x, kernel):
            self.autocast_seen.append(torch.is_autocast_enabled("cpu"))
            return x * self.gain

    model, image, kernel = Oracle(), np.zeros((8, 8, 3), dtype=np.float32), np.ones((3, 3)) / 9
    run_model(model, image, kernel=kernel)
    run_model(model, image, kernel=kernel, precision="bf16")
    assert model.autocast_seen == [False, True]


def test_model_default_tile_is_used_unless_overridden():
    model = _conv_stack(layers=2)
    calls = []
    model.register_forward_hook(lambda module, args, out: calls.append(tuple(args[0].shape[-2:])))
    image = np.random.default_rng(6).random((40, 50, 3)).astype(np.float32)
    run_model(model, image, overlap=4)
    assert calls == [(40, 50)]  # under DEFAULT_TILE: one pass
    model.default_tile = 24
    calls.clear()
    run_model(model, image, overlap=4)
    assert len(calls) == _tile_count(40, 24, 4) * _tile_count(50, 24, 4) > 1
    assert max(max(shape) for shape in calls) <= 24
    calls.clear()
    run_model(model, image, overlap=4, tile=0)  # an explicit tile wins over the model's
    assert calls == [(40, 50)]
