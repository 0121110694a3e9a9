"""The restoration models: gray in, RGB in [0, 1] out, at 128 px and at odd sizes; an untrained
learned model returns its input; the VAE is deterministic at inference; the classical baseline stays
gray; bad inputs get clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.cnn_two_stage import TwoStageCNN
from models.pix2pix import DISCRIMINATOR, PatchDiscriminator
from models.vae_unet import VAEUNet, kl_divergence
from studio.inference import run_model
from studio.registry import build_model, get_entry, list_models, model_card

LEARNED = ("vae-unet", "pix2pix-gan", "cnn-two-stage")
ALL = ("classical",) + LEARNED


def gray_batch(height: int, width: int, batch: int = 2, seed: int = 0) -> torch.Tensor:
    gray = torch.rand(batch, 1, height, width, generator=torch.Generator().manual_seed(seed))
    return gray.expand(-1, 3, -1, -1).contiguous()


def test_registered_under_restoration():
    assert set(ALL) <= set(list_models("restoration"))
    assert not get_entry("classical").learned
    assert all(get_entry(name).learned for name in LEARNED)
    assert "gray" in model_card("classical")["description"]


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("size", [(128, 128), (37, 53), (5, 9)])
def test_every_model_runs_at_128_and_odd_sizes(name, size):
    torch.manual_seed(0)
    model = build_model(name).eval()
    x = gray_batch(*size)
    with torch.no_grad():
        out = model(x)
    assert out.shape == (2, 3, *size)
    assert out.min() >= 0.0 and out.max() <= 1.0 and torch.isfinite(out).all()


@pytest.mark.parametrize("name", LEARNED)
def test_learned_models_train_at_odd_size_and_start_as_identity(name):
    torch.manual_seed(0)
    model = build_model(name).train()
    x = gray_batch(33, 47)
    out = model(x)
    assert out.shape == (2, 3, 33, 47)
    out.mean().backward()  # gradients flow through the padding and crop
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    with torch.no_grad():  # last layer zero-initialised: the untrained model returns the gray input
        assert torch.allclose(build_model(name).eval()(x), x, atol=1e-5)


def test_one_channel_and_colour_inputs_use_the_luminance():
    model = build_model("vae-unet").eval()
    x = gray_batch(16, 16)
    with torch.no_grad():
        assert torch.allclose(model(x[:, :1]), model(x), atol=1e-6)
        colour = torch.rand(1, 3, 16, 16)
        luma = (colour * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
        assert torch.allclose(model(colour), model(luma), atol=1e-6)


@pytest.mark.parametrize("name", ALL)
def test_bad_inputs_are_refused_clearly(name):
    model = build_model(name).eval()
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model(torch.rand(3, 16, 16))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model(torch.rand(1, 4, 16, 16))
    with pytest.raises(TypeError, match="torch tensor"):
        model(np.zeros((1, 3, 16, 16), dtype=np.float32))


def test_vae_uses_mu_at_inference_and_samples_in_training():
    torch.manual_seed(0)
    model = VAEUNet(widths=(8, 16, 32), latent_channels=4)
    torch.nn.init.normal_(model.tail.weight, std=0.1)  # make the decoder's output depend on z
    x = gray_batch(24, 24)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))
        out, mu, logvar = model(x, return_latent=True)
    assert mu.shape == logvar.shape == (2, 4, 6, 6)
    model.train()
    with torch.no_grad():
        a, b = model(x), model(x)
    assert not torch.allclose(a, b)
    assert kl_divergence(torch.zeros(3), torch.zeros(3)).item() == 0.0
    assert kl_divergence(torch.ones(3), torch.zeros(3)).item() == pytest.approx(0.5)


def test_patchgan_scores_patches_of_the_conditioned_pair():
    disc = PatchDiscriminator(**DISCRIMINATOR).eval()
    logits = disc(gray_batch(128, 128), torch.rand(2, 3, 128, 128))
    assert logits.shape[:2] == (2, 1) and min(logits.shape[-2:]) > 4  # a map, not one score
    with pytest.raises(ValueError, match="does not match"):
        disc(gray_batch(64, 64), torch.rand(2, 3, 32, 32))


def test_two_stage_chains_cnn1_and_cnn2_on_the_luminance():
    torch.manual_seed(0)
    model = TwoStageCNN(cnn1_width=8, cnn1_blocks=1, cnn2_widths=(8, 16))
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.05)
    model.eval()
    x = gray_batch(32, 32)
    with torch.no_grad():
        restored = model.stage1(x)
        luma = (restored * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
        expected = ((model.cnn2(luma) + 1) / 2).clamp(0, 1)
        assert torch.allclose(model(x), expected, atol=1e-6)


def test_classical_output_stays_gray_and_removes_noise():
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:96, 0:96] / 96.0
    clean = 0.3 + 0.4 * x  # a smooth ramp
    noisy = np.clip(clean + rng.normal(0, 0.05, clean.shape), 0, 1)
    image = np.repeat(noisy[..., None], 3, axis=-1).astype(np.float32)
    out = run_model(build_model("classical"), image)
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 0], out[..., 2])
    assert np.abs(out[..., 0] - clean).mean() < 0.5 * np.abs(noisy - clean).mean()


@pytest.mark.parametrize("name", LEARNED)
def test_full_resolution_through_tiled_inference(name):
    torch.manual_seed(0)
    model = build_model(name).eval()
    image = np.repeat(np.random.default_rng(0).random((150, 203, 1)), 3, axis=-1).astype(np.float32)
    out = run_model(model, image, tile=64, overlap=16)
    assert out.shape == (150, 203, 3) and 0 <= out.min() and out.max() <= 1
    assert model.size_multiple == 8
