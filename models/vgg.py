"""Feature backbones for the perceptual loss.

``VGG19Features``: the convolutional part of VGG19 with torchvision's parameter names
(``features.N.weight``), so ImageNet weights load from a local file without torchvision.

``VGGMini``: a small VGG-style classifier (four conv stages, 32-256 channels, BatchNorm, global
average pooling) that this project trains itself on Tiny ImageNet; its conv features give the
checkpoints trained here an honest, offline perceptual loss.
"""

from __future__ import annotations

import torch
from torch import nn

from studio.registry import register_model

VGG19_LAYOUT = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
                512, 512, 512, 512, "M"]
# ImageNet statistics both backbones were trained with.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGG19Features(nn.Module):
    """VGG19 conv layers; ``forward`` returns the activations after ReLU at ``layers``."""

    def __init__(self, layers=(35,)):  # 35 = relu5_4 ... SRGAN's "VGG54" uses index 35
        super().__init__()
        modules, in_ch = [], 3
        for item in VGG19_LAYOUT:
            if item == "M":
                modules.append(nn.MaxPool2d(2, 2))
            else:
                modules += [nn.Conv2d(in_ch, item, 3, padding=1), nn.ReLU(inplace=False)]
                in_ch = item
        self.features = nn.Sequential(*modules)
        self.layers = tuple(layers)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        x, out = (image - self.mean) / self.std, []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self.layers:
                out.append(x)
            if index >= max(self.layers):
                break
        return out


def conv_bn_relu(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False), nn.BatchNorm2d(out_ch),
                         nn.ReLU(inplace=True))


class VGGMini(nn.Module):
    def __init__(self, num_classes: int = 200, widths=(32, 64, 128, 256)):
        super().__init__()
        stages, in_ch = [], 3
        for width in widths:
            stages.append(nn.Sequential(conv_bn_relu(in_ch, width), conv_bn_relu(width, width)))
            in_ch = width
        self.stages = nn.ModuleList(stages)
        self.pool = nn.MaxPool2d(2, 2)
        self.head = nn.Linear(in_ch, num_classes)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def features(self, image: torch.Tensor, upto: int = 3) -> list[torch.Tensor]:
        """Activations at the end of stages 1..upto (before pooling)."""
        x, out = (image - self.mean) / self.std, []
        for index, stage in enumerate(self.stages[:upto]):
            if index:
                x = self.pool(x)
            x = stage(x)
            out.append(x)
        return out

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.features(image, upto=len(self.stages))[-1]
        return self.head(x.mean(dim=(2, 3)))


register_model("vgg-mini", "classification", VGGMini, dict(num_classes=200),
               "Small VGG-style classifier trained here on Tiny ImageNet; the perceptual-loss backbone.",
               lesson=("Not a restoration model: the small VGG-style classifier trained here on Tiny ImageNet whose "
                       "features drive srgan-v3's perceptual loss (no VGG19 weights are available offline)."))
