"""``resnet-dropout``: a small ResNet whose residual blocks carry Dropout2d inside.

Layout (the course report source 003, docs/sources.md, section 2.2), for a (B, 3, H, W) image in [0, 1]:

    normalize (training-set mean/std, stored as buffers and in the card)
    stem: conv3x3 3->64 -> [BN] -> act
    stage 1 (64 ch, stride 1), stage 2 (128 ch, stride 2), stage 3 (256 ch, stride 2), each
        ``blocks[i]`` residual blocks:
        conv3x3 -> [BN] -> act -> Dropout2d(p) -> conv3x3 -> [BN], plus the shortcut
        (identity, or conv1x1 [+ BN] where the width or the stride changes), then act
    head: global average pooling -> Linear(256, num_classes) -> logits

The two hyperparameters the protocol searches are ``blocks`` ([2,2,2] or [3,3,3]; an int n means
[n,n,n]) and ``dropout`` (0.1 or 0.3). ``batch_norm`` and ``activation`` (relu, and the report's
alternatives gelu, selu, leaky_relu, elu; silu besides) are options. No pooling besides the final global average.
"""

from __future__ import annotations

import torch
from torch import nn

from models.dilated_cnn import InputNormalize, init_classifier_head
from studio.registry import register_model

WIDTHS = (64, 128, 256)
ACTIVATIONS = {
    "relu": lambda: nn.ReLU(inplace=True),
    "gelu": nn.GELU,
    "silu": lambda: nn.SiLU(inplace=True),
    "leaky_relu": lambda: nn.LeakyReLU(0.1, inplace=True),
    "elu": lambda: nn.ELU(inplace=True),
    "selu": lambda: nn.SELU(inplace=True),
}


def make_activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; expected one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def norm(channels: int, batch_norm: bool) -> nn.Module:
    return nn.BatchNorm2d(channels) if batch_norm else nn.Identity()


class DropoutResidualBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int, dropout: float, batch_norm: bool, activation: str):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=not batch_norm), norm(out_ch, batch_norm),
            make_activation(activation), nn.Dropout2d(dropout),
            nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=not batch_norm), norm(out_ch, batch_norm),
        )
        self.shortcut = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=not batch_norm),
                                          norm(out_ch, batch_norm))
        self.act = make_activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


def expand_blocks(blocks) -> tuple[int, int, int]:
    """2 -> (2, 2, 2); [3, 3, 3] stays; anything else is a clear error."""
    if isinstance(blocks, int) or (isinstance(blocks, str) and blocks.isdigit()):
        blocks = [int(blocks)] * 3
    blocks = tuple(int(b) for b in blocks)
    if len(blocks) != 3 or min(blocks) < 1:
        raise ValueError(f"blocks must be one positive count per stage (3 stages), got {blocks}")
    return blocks


class ResNetDropout(nn.Module):
    def __init__(self, num_classes: int = 200, blocks=(2, 2, 2), dropout: float = 0.1, batch_norm: bool = True,
                 activation: str = "relu", widths=WIDTHS, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)):
        super().__init__()
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.blocks, self.dropout = expand_blocks(blocks), float(dropout)
        make_activation(activation)  # validate early
        self.normalize = InputNormalize(mean, std)
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, padding=1, bias=not batch_norm),
                                  norm(widths[0], batch_norm), make_activation(activation))
        stages, in_ch = [], widths[0]
        for index, (count, width) in enumerate(zip(self.blocks, widths)):
            layers = []
            for block in range(count):
                stride = 2 if index > 0 and block == 0 else 1
                layers.append(DropoutResidualBlock(in_ch, width, stride, self.dropout, batch_norm, activation))
                in_ch = width
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(in_ch, num_classes)
        init_classifier_head(self.head)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(self.normalize(image)))
        return self.head(torch.flatten(self.pool(x), 1))


register_model("resnet-dropout", "classification", ResNetDropout,
               dict(num_classes=200, blocks=2, dropout=0.1, batch_norm=True, activation="relu"),
               "Small ResNet (64/128/256, blocks [2,2,2] or [3,3,3]) with Dropout2d inside each residual "
               "block (course report source 003, docs/sources.md); normalizes with its training set's mean/std.")
