"""SRResNet generator and SRGAN discriminator (Ledig et al. 2017), sized for a CPU budget.

Generator: 9x9 head -> residual blocks (conv-[BN]-PReLU-conv-[BN] + skip) -> conv + long skip
-> conv + pixel-shuffle x4 tail. ``image_skip`` adds a bilinear upsampling of the input
to the output, so the network learns only the missing detail (as VDSR): it converges far faster,
which matters when training on two CPU cores. Fully convolutional: any input size.

Discriminator: strided conv blocks (as SRGAN) ending in global average pooling, so it scores
patches of any size (96 for v1, 128 for v2/v3).
"""

from __future__ import annotations

import torch
from torch import nn

from models.layers import PixelShuffleTail, add_upscaled_input, norm_layer
from studio.registry import register_model


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, norm: str):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), norm_layer(norm, channels), nn.PReLU(channels),
            nn.Conv2d(channels, channels, 3, padding=1), norm_layer(norm, channels),
        )

    def forward(self, x):
        return x + self.body(x)


class SRResNet(nn.Module):
    def __init__(self, scale: int = 4, channels: int = 64, num_blocks: int = 16, norm: str = "none",
                 output_activation: str = "none", image_skip: bool = True):
        super().__init__()
        if scale not in (2, 3, 4):
            raise ValueError(f"scale must be 2, 3 or 4, got {scale}")
        self.scale, self.image_skip, self.output_activation = scale, image_skip, output_activation
        self.head = nn.Sequential(nn.Conv2d(3, channels, 9, padding=4), nn.PReLU(channels))
        self.body = nn.Sequential(*[ResidualBlock(channels, norm) for _ in range(num_blocks)])
        self.body_tail = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), norm_layer(norm, channels))
        self.tail = PixelShuffleTail(channels, scale)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        features = self.head(lr - 0.5)  # centre the [0, 1] input
        features = features + self.body_tail(self.body(features))
        out = add_upscaled_input(self.tail(features), lr, self.scale, self.image_skip)
        if self.output_activation == "sigmoid":  # srgan-v1 here; the source's v2 replaced unsuitable activations (e.g. an output sigmoid)
            return torch.sigmoid((out - 0.5) * 4)
        return out


class Discriminator(nn.Module):
    """SRGAN discriminator: conv-LeakyReLU, then [conv-BN-LeakyReLU] pairs at stride 1/2."""

    def __init__(self, channels: int = 32, num_stages: int = 4):
        super().__init__()
        layers = [nn.Conv2d(3, channels, 3, padding=1), nn.LeakyReLU(0.2, inplace=True)]
        in_ch = channels
        for stage in range(num_stages):
            out_ch = channels * 2**stage
            for stride in ((2,) if stage == 0 else (1, 2)):
                layers += [nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False),
                           nn.BatchNorm2d(out_ch), nn.LeakyReLU(0.2, inplace=True)]
                in_ch = out_ch
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Conv2d(in_ch, in_ch * 2, 1), nn.LeakyReLU(0.2, inplace=True),
                                        nn.Conv2d(in_ch * 2, 1, 1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Real/fake logit per image (patch logits averaged)."""
        return self.classifier(self.features(image - 0.5)).mean(dim=(1, 2, 3))


GENERATOR = dict(scale=4, channels=48, num_blocks=12, norm="none", output_activation="none", image_skip=True)

register_model("srresnet", "sr", SRResNet, GENERATOR,
               "SRResNet generator trained with pixel loss only (the PSNR stage of SRGAN).")
register_model("srgan-v1", "sr", SRResNet, dict(GENERATOR, norm="batch", output_activation="sigmoid"),
               "SRGAN v1: 96x96 patches, small image set, pixel + adversarial loss from the start, no warmup.")
register_model("srgan-v2", "sr", SRResNet, GENERATOR,
               "SRGAN v2: more data, larger patches, no output sigmoid, pixel-loss warmup then GAN phase.")
register_model("srgan-v3", "sr", SRResNet, GENERATOR,
               "SRGAN v3: structured warmup, then weighted pixel + perceptual + adversarial losses.")
register_model("srgan-v3-ra", "sr", SRResNet, GENERATOR,
               "SRGAN v3 with the relativistic average GAN loss (ESRGAN's loss change alone).")
