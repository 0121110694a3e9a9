"""Perceptual and GAN losses: real backbones, and a clear stop when no backbone exists."""

from __future__ import annotations

import math

import pytest
import torch

from models.vgg import VGG19Features, VGGMini
from studio.checkpoint import save_model, save_tensors
from studio.losses import (FeatureBackboneMissing, PerceptualLoss, gan_loss, load_feature_backbone,
                           relativistic_gan_loss)


def test_vgg19_without_weights_stops_with_instructions():
    with pytest.raises(FeatureBackboneMissing, match="--vgg19-weights"):
        load_feature_backbone("vgg19")


def test_unknown_backbone_is_refused():
    with pytest.raises(FeatureBackboneMissing, match="unknown perceptual backbone"):
        load_feature_backbone("alexnet")


def test_vgg19_loads_from_a_local_safetensors_file(tmp_path):
    torch.manual_seed(0)
    reference = VGG19Features()
    path = save_tensors(reference.state_dict(), tmp_path / "vgg19.safetensors")
    backbone = load_feature_backbone("vgg19", str(path))
    assert not any(p.requires_grad for p in backbone.parameters())
    image = torch.rand(1, 3, 32, 32)
    assert torch.allclose(backbone(image)[0], reference(image)[0])


def test_vgg19_file_with_other_weights_is_rejected(tmp_path):
    path = save_tensors({"features.0.weight": torch.zeros(1)}, tmp_path / "other.safetensors")
    with pytest.raises(Exception, match="not VGG19 weights|size mismatch"):
        load_feature_backbone("vgg19", str(path))


def test_vgg_mini_backbone_from_a_checkpoint_folder(tmp_path):
    torch.manual_seed(0)
    save_model(VGGMini(num_classes=200), tmp_path / "vgg-mini", {"name": "vgg-mini", "task": "classification"})
    loss = PerceptualLoss(load_feature_backbone("vgg-mini", str(tmp_path / "vgg-mini")))
    a, b = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    assert loss(a, a).item() == 0.0
    assert loss(a, b).item() > 0.0
    a.requires_grad_(True)
    loss(a, b).backward()
    assert a.grad.abs().sum() > 0  # gradients reach the image, not the frozen backbone
    loss.train()
    assert not loss.backbone.training  # BatchNorm statistics stay frozen


def test_gan_loss_targets():
    confident_real = torch.full((4,), 10.0)
    assert gan_loss(confident_real, True).item() < 1e-3
    assert gan_loss(confident_real, False).item() > 5


def test_relativistic_average_loss_on_hand_computed_values():
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([-1.0, 1.0])
    # real - mean(fake) = [2, 0] and fake - mean(real) = [-2, 0]; softplus(-2) = 0.126928,
    # softplus(0) = log 2, softplus(2) = 2.126928
    d_loss = relativistic_gan_loss(real, fake, for_generator=False)
    g_loss = relativistic_gan_loss(real, fake, for_generator=True)
    assert d_loss.item() == pytest.approx((0.126928 + math.log(2)) / 2, abs=1e-5)
    assert g_loss.item() == pytest.approx((2.126928 + math.log(2)) / 2, abs=1e-5)
    # the generator's loss reaches it through the real images' logits too, unlike SRGAN's
    real.requires_grad_(True)
    relativistic_gan_loss(real, fake, for_generator=True).backward()
    assert real.grad.abs().sum() > 0
