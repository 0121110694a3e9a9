"""Layers shared by several architectures; each model file keeps its own specific blocks."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from studio.inference import mirror_pad_to

NORMS = ("batch", "instance", "none")


def norm_layer(kind: str, channels: int) -> nn.Module:
    """BatchNorm, affine InstanceNorm or nothing, by name."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r} (expected one of {NORMS})")


class PixelShuffleTail(nn.Module):
    """One conv to 3*s*s channels at low resolution, then pixel shuffle by s.

    SRResNet's original tail (two x2 conv+shuffle stages and a 9x9 conv at full resolution)
    spends over half the FLOPs outside the residual body; efficient SR networks (ESPCN, IMDN,
    RFDN) shuffle once at the end, which keeps the compute where the capacity is.
    """

    def __init__(self, channels: int, scale: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, 3 * scale * scale, 3, padding=1)
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, x):
        return self.shuffle(self.conv(x))


def add_upscaled_input(detail: torch.Tensor, lr: torch.Tensor, scale: int, image_skip: bool) -> torch.Tensor:
    """An SR network's output: its ``detail`` over a bilinear upscale of the input (``image_skip``:
    the network learns only what interpolation misses, as VDSR), or over mid-gray."""
    if image_skip:
        return detail + F.interpolate(lr, scale_factor=scale, mode="bilinear", align_corners=False)
    return detail + 0.5


def pad_for_unet(x: torch.Tensor, multiple: int, min_size: int) -> torch.Tensor:
    """Mirror bottom/right up to a multiple of ``multiple``, at least ``min_size`` per side."""
    height, width = x.shape[-2:]
    target_h = max(min_size, -(-height // multiple) * multiple)
    target_w = max(min_size, -(-width // multiple) * multiple)
    return mirror_pad_to(x, target_h, target_w)
