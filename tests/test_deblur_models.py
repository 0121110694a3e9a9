"""The deblurring models: parameter counts of the presets, any input size, the global residual,
tiling equal to untiled inference, and the classical baselines."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from models.classical_deblur import UnsharpMask, WienerOracle
from models.unet_light import LightweightUNet
from models.unet_standard import UNet2015
from studio.checkpoint import count_parameters
from studio.deblur import degradation as B
from studio.deblur.interface import needs_true_kernel
from studio.imageio import load_image
from studio.inference import aligned_tiling, mirror_pad_to, run_model
from studio.metrics import psnr
from studio.registry import build_model, get_entry, list_models, model_card


def _count(name):
    return count_parameters(build_model(name))


def test_deblur_models_are_registered():
    names = set(list_models("deblur"))
    assert {"unet-standard", "unet-light-v1", "unet-light-v3", "unet-light-nonorm",
            "unsharp-mask", "wiener-oracle"} <= names
    assert not get_entry("unsharp-mask").learned and not get_entry("wiener-oracle").learned
    assert "oracle kernel" in get_entry("wiener-oracle").description


@pytest.mark.parametrize("name, target", [("unet-light-v1", 3.0e6), ("unet-light-v3", 6.5e6),
                                          ("unet-light-nonorm", 6.5e6)])
def test_lightweight_parameter_counts_match_the_logbook(name, target):
    assert abs(_count(name) - target) / target < 0.10


def test_standard_unet_parameter_count_and_description():
    count = _count("unet-standard")
    assert 30e6 < count <= 31.5e6  # a little above the logbook's rounded "~28-30M" (models/unet_standard.py)
    # the description quotes the logbook's figure; the Models tab shows the count itself
    assert "'28-30M' parameters" in get_entry("unet-standard").description


def test_unet_standard_is_architecture_only_unless_trained():
    card = model_card("unet-standard")
    if not (get_entry("unet-standard").checkpoint_dir / "model.safetensors").is_file():
        assert card["trained"] is False
        assert "architecture only" in card["description"].lower()


def test_presets_follow_the_logbook():
    v1, v3, nonorm = (get_entry(n).config for n in ("unet-light-v1", "unet-light-v3", "unet-light-nonorm"))
    assert (v1["start_filters"], v1["norm"]) == (32, "instance")
    assert (v3["start_filters"], v3["norm"], v3["bias"]) == (48, "instance", False)
    assert (nonorm["start_filters"], nonorm["norm"], nonorm["bias"]) == (48, "none", True)


def test_lightweight_unet_building_blocks():
    model = build_model("unet-light-v1")
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in model.modules())
    depthwise = [m for m in convs if m.groups == m.in_channels and m.kernel_size == (3, 3) and m.groups > 1]
    assert len(depthwise) >= 10
    strided = [m for m in convs if m.stride == (2, 2)]
    assert len(strided) == 4 and all(m.kernel_size == (4, 4) and m.groups == 1 for m in strided)
    assert any(isinstance(m, torch.nn.InstanceNorm2d) for m in model.modules())
    assert not any(isinstance(m, torch.nn.InstanceNorm2d) for m in build_model("unet-light-nonorm").modules())


def test_untrained_light_unet_is_the_identity():
    # global residual + zero-initialised output layer: training starts from the blurred input
    model = LightweightUNet(start_filters=8, depth=2).eval()
    x = torch.rand(1, 3, 20, 28)
    with torch.no_grad():
        torch.testing.assert_close(model(x), x)


@pytest.mark.parametrize("norm", ["instance", "none"])
@pytest.mark.parametrize("size", [(5, 7), (1, 1), (2, 3), (33, 17), (31, 64)])
def test_light_unet_any_size(norm, size):
    torch.manual_seed(0)
    model = LightweightUNet(start_filters=4, depth=4, norm=norm).eval()
    torch.nn.init.normal_(model.tail.weight, std=0.1)
    with torch.no_grad():
        out = model(torch.rand(1, 3, *size))
    assert out.shape == (1, 3, *size) and torch.isfinite(out).all()


def test_standard_unet_any_size():
    model = UNet2015(base_filters=4, depth=4).eval()
    with torch.no_grad():
        for size in [(5, 7), (1, 1), (37, 18)]:
            assert model(torch.rand(1, 3, *size)).shape == (1, 3, *size)


def test_mirror_pad_to_reaches_any_size():
    x = torch.arange(6.0).view(1, 1, 2, 3)
    padded = mirror_pad_to(x, 32, 32)
    assert padded.shape == (1, 1, 32, 32)
    torch.testing.assert_close(padded[..., :2, :3], x)
    assert mirror_pad_to(torch.ones(1, 1, 1, 1), 4, 5).shape == (1, 1, 4, 5)


def test_aligned_tiling():
    assert aligned_tiling(256, 32, 16) == (256, 32)  # the defaults are already aligned
    for tile, overlap, multiple in [(250, 20, 16), (176, 80, 4), (100, 10, 8), (64, 30, 16)]:
        t, o = aligned_tiling(tile, overlap, multiple)
        assert t % multiple == 0 and o >= overlap and t > 2 * o and (t - o - o // 2) % multiple == 0
    assert aligned_tiling(100, 10, 1) == (100, 10)
    tile, overlap = aligned_tiling(16, 4, 16)  # too small: grows
    assert tile > 2 * overlap and (tile - overlap - overlap // 2) % 16 == 0


def _random_light_unet(norm):
    torch.manual_seed(0)
    model = LightweightUNet(start_filters=4, depth=2, norm=norm, bias=True).eval()
    torch.nn.init.normal_(model.tail.weight, std=0.5)  # not the identity
    return model


def test_tiling_equals_untiled_without_norm(rng):
    # depth 2: receptive field radius 38 px, so a 40 px zero-weight margin (overlap 80) covers it;
    # tiles are aligned on the 4-px grid of the two downsamplings by run_model.
    model = _random_light_unet("none")
    image = rng.random((203, 257, 3)).astype(np.float32)  # odd, not a multiple of 4
    whole = run_model(model, image, tile=0)
    calls = []
    tiled = run_model(model, image, tile=176, overlap=80, progress=lambda d, t: calls.append(t))
    assert calls and calls[-1] > 1  # really tiled
    assert tiled.shape == image.shape
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
    assert np.abs(whole - image).mean() > 0.01  # and the model is not the identity


def test_tiling_with_instance_norm_is_seamless(photos):
    # InstanceNorm normalises per tile, so tiles cannot equal the whole image exactly; the blend
    # must still leave no seam: the tiled output stays close to the untiled one everywhere.
    model = _random_light_unet("instance")
    torch.nn.init.normal_(model.tail.weight, std=0.02)
    image = load_image(photos / "astronaut.png")[:300, :260]
    whole = run_model(model, image, tile=0)
    tiled = run_model(model, image, tile=176, overlap=80)
    assert tiled.shape == image.shape and np.all(np.isfinite(tiled))
    change = np.abs(whole - image).mean()
    assert np.abs(tiled - whole).mean() < 0.75 * change  # (random weights exaggerate per-tile norms)
    # no seam: inside the image, column-to-column (and row-to-row) steps of the tiled output are
    # no larger than the untiled one's anywhere, blend zones included
    for axis, keep in ((1, (0, 2)), (0, (1, 2))):
        steps_tiled = np.abs(np.diff(tiled, axis=axis)).mean(axis=keep)[4:-4]
        steps_whole = np.abs(np.diff(whole, axis=axis)).mean(axis=keep)[4:-4]
        assert np.max(steps_tiled - steps_whole) < 0.01


def _png_bytes(array, mode):
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["gray", "rgba", "tiny", "odd"])
def test_bad_inputs_are_handled(kind, rng):
    model = build_model("unet-light-v1")  # the real preset, random weights
    torch.nn.init.normal_(model.tail.weight, std=0.01)
    if kind == "gray":
        image = load_image(_png_bytes((rng.random((21, 30)) * 255).astype(np.uint8), "L"))
    elif kind == "rgba":
        image = load_image(_png_bytes((rng.random((18, 25, 4)) * 255).astype(np.uint8), "RGBA"))
    elif kind == "tiny":
        image = load_image(_png_bytes((rng.random((5, 7, 3)) * 255).astype(np.uint8), "RGB"))
    else:
        image = rng.random((37, 53, 3)).astype(np.float32)
    assert image.ndim == 3 and image.shape[2] == 3
    for tile in (0, 16):  # untiled, and tiled with a tile smaller than the image
        out = run_model(model, image, tile=tile, overlap=4)
        assert out.shape == image.shape and np.all(np.isfinite(out))
        assert out.min() >= 0 and out.max() <= 1


def test_unsharp_mask_sharpens_and_keeps_flat_areas():
    model = UnsharpMask(radius=1.5, amount=1.0)
    flat = torch.full((1, 3, 12, 12), 0.3)
    torch.testing.assert_close(model(flat), flat)
    edge = torch.zeros(1, 3, 16, 16)
    edge[..., 8:] = 1.0
    out = model(edge)
    assert out[..., 7].max() < 0 and out[..., 8].min() > 1  # overshoot on both sides of the edge
    for size in [(1, 1), (2, 3), (5, 7)]:
        assert model(torch.rand(1, 3, *size)).shape == (1, 3, *size)


def test_wiener_oracle_needs_the_kernel_and_uses_it(photos):
    model = build_model("wiener-oracle")
    assert needs_true_kernel(model)
    sharp = load_image(photos / "butterfly.png")[:120, :120]
    kernel = B.load_levin_kernels()["k2"]
    blurred = B.apply_blur(sharp, kernel, np.random.default_rng(0), 0.002).image
    with pytest.raises(ValueError, match="kernel"):
        run_model(model, blurred)
    restored = run_model(model, blurred, kernel=kernel)
    assert restored.shape == sharp.shape
    assert psnr(restored, sharp) > psnr(blurred, sharp) + 2
    wrong = run_model(model, blurred, kernel=np.ones((1, 1)))  # a delta: no deconvolution at all
    assert psnr(wrong, sharp) < psnr(restored, sharp)


def test_wiener_oracle_handles_gray_replicated_and_tiny_images():
    model = WienerOracle()
    gray = np.repeat(np.random.default_rng(0).random((30, 31, 1)), 3, axis=2).astype(np.float32)
    out = run_model(model, gray, kernel=B.load_levin_kernels()["k5"])
    assert out.shape == gray.shape
    np.testing.assert_array_equal(out[..., 0], out[..., 2])
    tiny = run_model(model, np.random.default_rng(1).random((5, 7, 3)).astype(np.float32),
                     kernel=B.load_levin_kernels()["k4"])
    assert tiny.shape == (5, 7, 3) and np.all(np.isfinite(tiny))
