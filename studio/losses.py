"""Losses shared by the families: the perceptual (feature) loss and the GAN losses."""

from __future__ import annotations

import importlib
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from studio.checkpoint import CheckpointError, load_tensors

VGG19_HELP = (
    "the perceptual loss needs a feature backbone: pass --perceptual vgg19 --vgg19-weights FILE "
    "(ImageNet VGG19 weights with torchvision's key names, .safetensors or .pth), install torchvision "
    "with its VGG19 weights already in the torch hub cache, or use --perceptual vgg-mini (trained here)"
)


class FeatureBackboneMissing(RuntimeError):
    pass


def _vgg19_from_file(path: Path) -> nn.Module:
    from models.vgg import VGG19Features

    model = VGG19Features()
    if path.suffix == ".safetensors":
        state, _ = load_tensors(path)
    else:
        # torchvision's published .pth: the restricted loader refuses any code, only tensors.
        state = torch.load(path, map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items() if k.startswith("features.")}
    model.load_state_dict(state, strict=False)
    missing = [k for k in model.state_dict() if k.startswith("features.") and k not in state]
    if missing:
        raise CheckpointError(f"{path}: not VGG19 weights (missing {missing[:2]})")
    return model


def _vgg19_from_torchvision() -> nn.Module:
    try:  # optional: torchvision does not import against every torch build (the CPU wheel here)
        tv_models = importlib.import_module("torchvision.models")
    except Exception as err:
        raise FeatureBackboneMissing(f"torchvision is not usable here ({err}); {VGG19_HELP}") from None
    url = tv_models.VGG19_Weights.IMAGENET1K_V1.url
    weights_file = Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name
    if not weights_file.is_file():  # never download at run time
        raise FeatureBackboneMissing(f"VGG19 weights not in the torch hub cache ({weights_file}); {VGG19_HELP}")
    return _vgg19_from_file(weights_file)


def load_feature_backbone(name: str, weights: str | None = None) -> nn.Module:
    """A frozen module mapping an image in [0, 1] to a list of feature maps."""
    if name == "vgg19":
        model = _vgg19_from_file(Path(weights)) if weights else _vgg19_from_torchvision()
    elif name == "vgg-mini":
        from studio.registry import create_model

        try:
            classifier = create_model("vgg-mini", checkpoint=weights)
        except CheckpointError as err:
            raise FeatureBackboneMissing(f"{err}; {VGG19_HELP}") from None
        model = _StageFeatures(classifier)
    else:
        raise FeatureBackboneMissing(f"unknown perceptual backbone {name!r}; {VGG19_HELP}")
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


class _StageFeatures(nn.Module):
    def __init__(self, classifier, upto: int = 3):
        super().__init__()
        self.classifier, self.upto = classifier, upto

    def forward(self, image):
        return self.classifier.features(image, upto=self.upto)


class PerceptualLoss(nn.Module):
    """Mean L1 distance between backbone features of output and target."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone

    def train(self, mode: bool = True):  # the backbone stays in eval mode (frozen BN statistics)
        super().train(mode)
        self.backbone.eval()
        return self

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        out_features = self.backbone(output)
        with torch.no_grad():
            target_features = self.backbone(target)
        return sum(F.l1_loss(o, t) for o, t in zip(out_features, target_features)) / len(out_features)


def gan_loss(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """Non-saturating BCE GAN loss on discriminator logits."""
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


def relativistic_gan_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, for_generator: bool) -> torch.Tensor:
    """Relativistic average GAN loss (ESRGAN, after Jolicoeur-Martineau 2018).

    The discriminator estimates whether a real image is *more realistic than the average fake*
    (and a fake less realistic than the average real), not whether one image is real. For the
    discriminator, ``real - mean(fake)`` should read "real" and ``fake - mean(real)`` "fake"; the
    generator gets the opposite targets, so it receives gradients from the real images as well.
    Each half is a BCE on logits and the two halves are averaged.
    """
    real_vs_fake = real_logits - fake_logits.mean()
    fake_vs_real = fake_logits - real_logits.mean()
    real_target = not for_generator
    return 0.5 * (gan_loss(real_vs_fake, real_target) + gan_loss(fake_vs_real, not real_target))
