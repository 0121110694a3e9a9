"""``dilated-cnn``: a three-stage CNN whose last stage widens its receptive field by dilation.

Layout (the course report source 001, docs/sources.md, section 2.2), for a (B, 3, H, W) image in [0, 1]:

    normalize (training-set mean/std, stored as buffers and in the card)
    stage 1: blocks_per_stage x [conv3x3 -> BN -> ReLU], 64 channels   -> MaxPool 2x2
    stage 2: blocks_per_stage x [conv3x3 -> BN -> ReLU], 128 channels  -> MaxPool 2x2
    stage 3: blocks_per_stage x [conv3x3 dilation=d, padding=d -> BN -> ReLU], 256 channels,
             no pooling (padding = dilation keeps the size: 64x64 in -> 16x16 here)
    head: global average pooling -> Linear(256, num_classes) -> logits

The two hyperparameters the protocol searches are ``blocks_per_stage`` ({2, 3}) and ``dilation``
({2, 3}). The last layer starts with small weights so the initial loss is -log(1/C).
"""

from __future__ import annotations

import torch
from torch import nn

from studio.registry import register_model

WIDTHS = (64, 128, 256)


def conv_block(in_ch: int, out_ch: int, dilation: int = 1) -> nn.Sequential:
    """conv3x3 (padding = dilation, so the size is kept) -> BatchNorm -> ReLU."""
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))


class InputNormalize(nn.Module):
    """(x - mean) / std per channel; the statistics are buffers, so they travel with the weights."""

    def __init__(self, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)):
        super().__init__()
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f"mean and std need 3 channels and std > 0, got {mean} and {std}")
        self.register_buffer("mean", torch.tensor([float(v) for v in mean]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([float(v) for v in std]).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def init_classifier_head(linear: nn.Linear) -> None:
    """Small head weights, zero bias: logits start near 0, so the loss starts at -log(1/C)."""
    nn.init.normal_(linear.weight, std=0.01)
    nn.init.zeros_(linear.bias)


class DilatedCNN(nn.Module):
    def __init__(self, num_classes: int = 200, blocks_per_stage: int = 2, dilation: int = 2,
                 widths=WIDTHS, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)):
        super().__init__()
        if int(blocks_per_stage) < 1 or int(dilation) < 1:
            raise ValueError(f"blocks_per_stage and dilation must be >= 1, got {blocks_per_stage}, {dilation}")
        if len(widths) != 3:
            raise ValueError(f"dilated-cnn has three stages; got widths {widths}")
        blocks_per_stage, dilation = int(blocks_per_stage), int(dilation)
        self.blocks_per_stage, self.dilation = blocks_per_stage, dilation
        self.normalize = InputNormalize(mean, std)
        stages, in_ch = [], 3
        for index, width in enumerate(widths):
            stage_dilation = dilation if index == 2 else 1
            blocks = []
            for _ in range(blocks_per_stage):
                blocks.append(conv_block(in_ch, width, stage_dilation))
                in_ch = width
            if index < 2:  # pooling after stages 1 and 2 only
                blocks.append(nn.MaxPool2d(2, 2))
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(in_ch, num_classes)
        init_classifier_head(self.head)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.normalize(image))
        return self.head(torch.flatten(self.pool(x), 1))


register_model("dilated-cnn", "classification", DilatedCNN,
               dict(num_classes=200, blocks_per_stage=2, dilation=2),
               "Three-stage CNN (64/128/256) with dilated, unpooled stage 3 and global average pooling "
               "(course report source 001, docs/sources.md); normalizes with its training set's mean/std.")
