"""RRDBNet: ESRGAN's generator (Wang et al. 2018), sized for a CPU budget.

ESRGAN changes two things in SRGAN. This file is the architecture change; the loss change (the
relativistic average discriminator) is ``studio.losses.relativistic_gan_loss``.

* **No BatchNorm** anywhere: BN statistics differ between training patches and whole test
  images, which shows up as artefacts; without it the network is also cheaper.
* **Residual-in-residual dense blocks**: a dense block (each conv sees the concatenation of all
  earlier features, ``growth`` new channels per conv) is the unit; three of them, each with its
  output scaled by ``res_scale`` before its skip, form one RRDB, which again has a scaled skip.
  The small residual scale (0.2) keeps a deep stack of blocks close to identity at the start,
  which is what makes it trainable without normalisation.

ESRGAN uses 64 channels, growth 32 and 23 RRDBs (16.7M weights); here 32 channels, growth 16
and 3 RRDBs, so that one training step costs about as much as ``srresnet``'s (the RRDB card records
the measured parameters and wall time). Head, tail and image skip are those of
``models/srresnet.py``, so the two PSNR models differ by their body only.
"""

from __future__ import annotations

import torch
from torch import nn

from models.layers import PixelShuffleTail, add_upscaled_input
from studio.registry import register_model


class DenseBlock(nn.Module):
    """Five 3x3 convs, each on the concatenation of the input and all earlier outputs."""

    def __init__(self, channels: int, growth: int, res_scale: float):
        super().__init__()
        self.res_scale = res_scale
        self.convs = nn.ModuleList(
            nn.Conv2d(channels + i * growth, growth if i < 4 else channels, 3, padding=1) for i in range(5)
        )
        self.act = nn.LeakyReLU(0.2, inplace=True)
        for conv in self.convs:  # ESRGAN's init: small weights, so each block starts near identity
            nn.init.kaiming_normal_(conv.weight, a=0.2)
            conv.weight.data.mul_(0.1)
            nn.init.zeros_(conv.bias)

    def forward(self, x):
        features = [x]
        for conv in self.convs[:-1]:
            features.append(self.act(conv(torch.cat(features, dim=1))))
        return x + self.res_scale * self.convs[-1](torch.cat(features, dim=1))


class RRDB(nn.Module):
    """Three dense blocks in sequence, inside a scaled residual connection."""

    def __init__(self, channels: int, growth: int, res_scale: float):
        super().__init__()
        self.res_scale = res_scale
        self.blocks = nn.Sequential(*[DenseBlock(channels, growth, res_scale) for _ in range(3)])

    def forward(self, x):
        return x + self.res_scale * self.blocks(x)


class RRDBNet(nn.Module):
    def __init__(self, scale: int = 4, channels: int = 32, growth: int = 16, num_blocks: int = 3,
                 res_scale: float = 0.2, image_skip: bool = True):
        super().__init__()
        if scale not in (2, 3, 4):
            raise ValueError(f"scale must be 2, 3 or 4, got {scale}")
        if int(num_blocks) < 1 or int(channels) < 1 or int(growth) < 1:
            raise ValueError(f"channels, growth and num_blocks must be >= 1, got {channels}, {growth}, {num_blocks}")
        self.scale, self.image_skip = scale, image_skip
        self.head = nn.Conv2d(3, channels, 3, padding=1)
        self.body = nn.Sequential(*[RRDB(channels, growth, res_scale) for _ in range(num_blocks)])
        self.body_tail = nn.Conv2d(channels, channels, 3, padding=1)
        self.tail = PixelShuffleTail(channels, scale)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        features = self.head(lr - 0.5)  # centre the [0, 1] input
        features = features + self.body_tail(self.body(features))
        return add_upscaled_input(self.tail(features), lr, self.scale, self.image_skip)


GENERATOR = dict(scale=4, channels=32, growth=16, num_blocks=3, res_scale=0.2, image_skip=True)

register_model("rrdb-psnr", "sr", RRDBNet, GENERATOR,
               "RRDB generator (ESRGAN's architecture, small) trained with L1 loss only: its PSNR stage.",
               lesson=("ESRGAN's architecture change alone: residual-in-residual dense blocks, no BatchNorm, residual "
                       "scaling 0.2, trained with L1 only like srresnet (about the same parameters and step cost; its "
                       "card records steps and wall time). Compare it with srresnet: same loss, different body."))
register_model("esrgan-lite", "sr", RRDBNet, GENERATOR,
               "ESRGAN, small: rrdb-psnr then relativistic-average GAN + perceptual + L1 losses.",
               lesson=("Both ESRGAN changes: rrdb-psnr as the warmup, then the relativistic average GAN loss with "
                       "perceptual and L1 terms (srgan-v3's pixel and perceptual weights, a third of its adversarial "
                       "weight: the relativistic loss pushes harder, and at srgan-v3's weight it gave up more PSNR than "
                       "SRGAN's published Set5 figure; vgg-mini features). The perception–distortion plot shows where it "
                       "lands against srgan-v3 and srgan-v3-ra."))
