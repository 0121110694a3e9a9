"""The 2015 U-Net (Ronneberger et al.), adapted to RGB deblurring: the logbook's starting point.

Four levels of [3x3 conv - ReLU] x 2 at 64, 128, 256, 512 channels with 2x2 max-pooling, a
1024-channel bottleneck, 2x2 transposed-convolution upsampling and skip concatenations, then a
1x1 convolution to 3 channels. Two changes for restoration: ``padding=1`` so the output has the
input's size (the paper used unpadded convolutions and cropped the skips), and a global residual
(``output = input + network(input)``). ``studio.checkpoint.count_parameters`` gives its exact size (the
Models tab shows it), a little above the rounded "~28-30M" of the logbook.

The logbook dropped this model because it did not fit Colab-free/MPS memory and time; on this
project's 2-core CPU one training step at 96x96 x 8 costs several of the lightweight v1's (``python -m
training.train_deblur --preset unet-standard --recipe gpu --patch 96 --batch-size 8 --time-step`` times
it), far too few steps fit a CPU budget of minutes for about ten times v1's weights, so it is shipped as
**architecture only** (no weights) unless someone trains it with the GPU recipe of
``training/train_deblur.py``.
"""

from __future__ import annotations

import torch
from torch import nn

from models.layers import pad_for_unet
from studio.registry import register_model


class DoubleConv(nn.Module):
    """[3x3 conv (same padding) - ReLU] x 2."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1), nn.ReLU(inplace=True),
        )

    def forward(self, x):
        return self.body(x)


class Down(nn.Module):
    """2x2 max-pool, then a double convolution that doubles the channels."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.pool = nn.MaxPool2d(2)
        self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, x):
        return self.conv(self.pool(x))


class Up(nn.Module):
    """2x2 transposed convolution (halves the channels), concatenation with the skip, double conv."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, 2, stride=2)
        self.conv = DoubleConv(in_channels // 2 + out_channels, out_channels)

    def forward(self, x, skip):
        return self.conv(torch.cat([self.up(x), skip], dim=1))


class UNet2015(nn.Module):
    def __init__(self, base_filters: int = 64, depth: int = 4, in_channels: int = 3, residual: bool = True):
        super().__init__()
        self.residual, self.size_multiple = residual, 2**depth
        self.min_size = 2**depth
        widths = [base_filters * 2**level for level in range(depth + 1)]
        self.inc = DoubleConv(in_channels, widths[0])
        self.downs = nn.ModuleList([Down(widths[i], widths[i + 1]) for i in range(depth)])
        self.ups = nn.ModuleList([Up(widths[i + 1], widths[i]) for i in reversed(range(depth))])
        self.outc = nn.Conv2d(widths[0], in_channels, 1)
        if residual:  # start as the identity
            nn.init.zeros_(self.outc.weight)
            nn.init.zeros_(self.outc.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        padded = pad_for_unet(x, self.size_multiple, self.min_size)
        features = self.inc(padded)
        skips = [features]
        for down in self.downs:
            features = down(features)
            skips.append(features)
        skips.pop()
        for up in self.ups:
            features = up(features, skips.pop())
        out = self.outc(features)
        if self.residual:
            out = out + padded
        return out[..., :height, :width]


STANDARD = dict(base_filters=64, depth=4, residual=True)

register_model("unet-standard", "deblur", UNet2015, STANDARD,
               "U-Net 2015 (Ronneberger et al.), 64..1024 channels, same-size padding, global residual: "
               "about the size the logbook gives ('28-30M' parameters). Architecture only: not trained at this project's "
               "CPU budget (too heavy, as in the logbook); train it with the GPU recipe of training/train_deblur.py.",
               lesson=("Where the deblurring logbook started: the 2015 U-Net, ~28–30M parameters, too heavy for the "
                       "hardware at hand (timeouts, out-of-memory), hence the lightweight U-Net below. Shipped as "
                       "architecture only: this project's CPU budget would give it far too few training steps "
                       "(training/train_deblur.py, CPU_NOT_SHIPPED)."))
