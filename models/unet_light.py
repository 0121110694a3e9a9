"""LightweightUNet: the logbook's deblurring U-Net (source 000, docs/sources.md); its size at 32 and 48 filters
is ``parameters`` in checkpoints/unet-light-v1/card.json and checkpoints/unet-light-v3/card.json.

What changes from the 2015 U-Net (``models/unet_standard.py``, 31M), as the logbook lists it:

* every 3x3 convolution of the double-conv blocks is **depthwise-separable** (depthwise 3x3 +
  pointwise 1x1), about 8x fewer weights;
* **downsampling** is a standard 4x4 stride-2 convolution (no max-pool), kept dense on purpose
  to preserve spatial information: at 32 filters the four of them hold 1.4M of the 2.9M weights;
* **upsampling** is bilinear x2 followed by a 1x1 convolution that halves the channels, instead
  of transposed convolutions (lighter, no checkerboard artefacts);
* the bottleneck (1/16 resolution, where the separable convs see the widest context) has a
  second, residual double convolution;
* a **global residual**: ``output = input + network(input)``, so the network only learns what the
  blur removed.

``start_filters`` (32 for v1, 48 for v3 ~ 6.5M), ``norm`` ("instance" | "none") and ``bias`` are
configurable. Any input size works: the input is mirrored up to a multiple of ``2**depth`` (and
at least ``2**(depth+1)``, so InstanceNorm never sees a 1x1 map) and the output cropped back.
``size_multiple`` tells tiled inference how to align its tiles so tiling equals untiled
inference wherever the tile margin covers the receptive field.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.layers import norm_layer, pad_for_unet
from studio.registry import register_model

NORMS = ("instance", "none")


class SeparableConv(nn.Module):
    """Depthwise 3x3 + pointwise 1x1, then norm and ReLU."""

    def __init__(self, in_channels: int, out_channels: int, norm: str, bias: bool):
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels, bias=False)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=bias)
        self.norm = norm_layer(norm, out_channels)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.act(self.norm(self.pointwise(self.depthwise(x))))


class SeparableBlock(nn.Module):
    """The U-Net's double convolution, made of two separable convolutions."""

    def __init__(self, in_channels: int, out_channels: int, norm: str, bias: bool):
        super().__init__()
        self.conv1 = SeparableConv(in_channels, out_channels, norm, bias)
        self.conv2 = SeparableConv(out_channels, out_channels, norm, bias)

    def forward(self, x):
        return self.conv2(self.conv1(x))


class ResidualSeparableBlock(nn.Module):
    """A second double convolution at the bottleneck, with an identity skip: context at 1/16."""

    def __init__(self, channels: int, norm: str, bias: bool):
        super().__init__()
        self.block = SeparableBlock(channels, channels, norm, bias)

    def forward(self, x):
        return x + self.block(x)


class StridedDown(nn.Module):
    """Standard 4x4 stride-2 convolution (channels kept), norm, ReLU: halves the resolution."""

    def __init__(self, channels: int, norm: str, bias: bool):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 4, stride=2, padding=1, bias=bias)
        self.norm = norm_layer(norm, channels)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.act(self.norm(self.conv(x)))


class BilinearUp(nn.Module):
    """Bilinear x2 upsampling, then a 1x1 convolution that halves the channels."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=bias)

    def forward(self, x, size):
        return self.conv(F.interpolate(x, size=size, mode="bilinear", align_corners=False))


class LightweightUNet(nn.Module):
    #: run_model keeps NCHW: depthwise convs gain nothing channels-last on CPU (the fp32_cl and bf16_cl
    #: rows of results/bench/deblur_bench.md)
    channels_last = False
    #: run_model's tile size: 512 px tiles cut a 720p frame into 2 x 3 balanced tiles where 256 px tiles
    #: need 4 x 6, so less overlap is computed twice; peak memory per size is in results/bench/deblur_bench.md
    default_tile = 512

    def __init__(self, start_filters: int = 32, depth: int = 4, norm: str = "instance", bias: bool = False,
                 in_channels: int = 3):
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        if norm not in NORMS:
            raise ValueError(f"unknown norm {norm!r} (expected one of {NORMS})")
        self.depth, self.size_multiple = depth, 2**depth
        self.min_size = 2 ** (depth + 1)
        widths = [start_filters * 2**level for level in range(depth + 1)]
        self.head = nn.Conv2d(in_channels, start_filters, 3, padding=1, bias=bias)
        self.encoders = nn.ModuleList([SeparableBlock(widths[0], widths[0], norm, bias)])
        self.downs = nn.ModuleList()
        for level in range(1, depth + 1):
            self.downs.append(StridedDown(widths[level - 1], norm, bias))
            self.encoders.append(SeparableBlock(widths[level - 1], widths[level], norm, bias))
        self.middle = ResidualSeparableBlock(widths[depth], norm, bias)
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for level in reversed(range(depth)):
            self.ups.append(BilinearUp(widths[level + 1], widths[level], bias))
            self.decoders.append(SeparableBlock(2 * widths[level], widths[level], norm, bias))
        self.tail = nn.Conv2d(start_filters, in_channels, 1)
        # Zero-initialised output: an untrained network is the identity (input PSNR), not noise.
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        padded = pad_for_unet(x, self.size_multiple, self.min_size)
        features = self.encoders[0](self.head(padded - 0.5))
        skips = [features]
        for down, encoder in zip(self.downs, self.encoders[1:]):
            features = encoder(down(features))
            skips.append(features)
        skips.pop()  # the bottleneck is not a skip
        features = self.middle(features)
        for up, decoder in zip(self.ups, self.decoders):
            skip = skips.pop()
            features = decoder(torch.cat([up(features, skip.shape[-2:]), skip], dim=1))
        out = padded + self.tail(features)  # global residual
        return out[..., :height, :width]


PRESET_V1 = dict(start_filters=32, depth=4, norm="instance", bias=False)
PRESET_V3 = dict(start_filters=48, depth=4, norm="instance", bias=False)
PRESET_NONORM = dict(start_filters=48, depth=4, norm="none", bias=True)

register_model("unet-light-v1", "deblur", LightweightUNet, PRESET_V1,
               "Lightweight U-Net v1: 32 filters, separable convs, InstanceNorm, "
               "ReduceLROnPlateau from lr 5e-4 (the logbook's first night run, whose LR stayed at 2e-4).",
               lesson=("Logbook run #1: depthwise-separable convs (~8× fewer weights), 32 filters, bilinear upsampling + "
                       "conv instead of transposed convs (no checkerboard), a global residual, ReduceLROnPlateau (the "
                       "logbook does not say which normalisation run #1 used; InstanceNorm here, as in its later runs). "
                       "Why cosine replaced plateau: the plateau scheduler was too timid -- the learning rate stayed at "
                       "2e-4 all night and the model never refined fine detail (the logbook reports 27.50 dB on "
                       "validation); CosineAnnealing forces it down to 1e-6, a 'smooth landing' (the logbook's next run: "
                       "28.03 dB). The logbook's run #4 lesson, reproduced with this model: trained on one split of a "
                       "pool and scored on two, the split moves its score far more than the split it was trained on (the "
                       "split-robustness table of docs/deblur.md and the dashboard): compare models on the same split "
                       "only."))
register_model("unet-light-v3", "deblur", LightweightUNet, PRESET_V3,
               "Lightweight U-Net v3: 48 filters, InstanceNorm, no bias, cosine annealing "
               "to 1e-6, weight decay 1e-3, colour jitter (the logbook's champion).",
               lesson=("The logbook's champion: 48 filters, InstanceNorm, cosine to 1e-6, weight decay 1e-3, ±15 % "
                       "colour jitter. Why the split is by sequence: GoPro frames come from videos, so a random shuffle "
                       "puts frame t in training and the nearly identical frame t+1 in validation -- a leak that "
                       "inflates the score. Splitting on sequence names (90/10) keeps validation scenes unseen (the same "
                       "run also stopped applying rotations to validation). The logbook reports 31.15 dB on validation "
                       "crops, 29.57 dB at full resolution; with a harder split (seed 123) 27.21 dB, where v3 itself "
                       "scored 27.44. Here, without GoPro pairs offline, the CPU recipe trains on synthetic blur; "
                       "`--gopro` restores the split by sequence."))
register_model("unet-light-nonorm", "deblur", LightweightUNet, PRESET_NONORM,
               "Lightweight U-Net 'No-Norm': v3 without normalisation, bias on, lr 1e-4 "
               "(the logbook's run stalled at ~26 dB and was stopped at epoch 50).",
               lesson=("Why InstanceNorm stayed, in the logbook: the 'No-Norm' challenger (no normalisation, biases on, "
                       "lr 1e-4, hoping for EDSR-like colour fidelity) was unstable, stalled at ~26 dB and was stopped "
                       "at epoch 50, and the logbook judged normalisation indispensable. That run had a lower learning "
                       "rate and a shorter training than v3, so it could not tell the two apart. Trained here at one "
                       "budget (same crops, steps, schedule; also at v3's learning rate), No-Norm does learn, but more "
                       "slowly than v3: docs/deblur.md's 'No-Norm at the same budget' table and the dashboard's Source "
                       "studies page."))
