"""Two-stage CNN (source 002, docs/sources.md, "Approche CNN"): restore the structure, then colour it.

* **CNN1**, restoration: takes the degraded image (gray replicated to RGB) in [-1, 1] and predicts
  the restored image in [-1, 1]: one stride-2 stage, residual blocks at half resolution, a
  transposed conv back, added to the input (global residual). Trained with L1 + MSE + perceptual
  against the colour ground truth; as in the source it learns sharp but desaturated images.
* **CNN2**, colourisation: a U-Net (3 stages, skip connections) that takes only the **luminance**
  of CNN1's output and predicts the full RGB image (luminance replicated + a learned colour
  correction). Trained with L1 on CNN1's (detached) outputs.

``TwoStageCNN`` chains both for inference: ``forward(x) = CNN2(Y(CNN1(x)))``.
"""

from __future__ import annotations

import torch
from torch import nn

from models.gray_input import check_input, finish, luminance, pad_to_multiple
from studio.registry import register_model


class ResidualBlock(nn.Module):
    """conv-ReLU-conv with an identity skip."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.act = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return x + self.conv2(self.act(self.conv1(x)))


class RestorationCNN(nn.Module):
    """CNN1: (B, 3, H, W) in [-1, 1] -> restored (B, 3, H, W) in [-1, 1] (H, W even)."""

    def __init__(self, width: int = 32, blocks: int = 4):
        super().__init__()
        self.head = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(inplace=True))
        self.down = nn.Sequential(nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.ReLU(inplace=True))
        self.body = nn.Sequential(*[ResidualBlock(2 * width) for _ in range(blocks)])
        self.up = nn.Sequential(nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1), nn.ReLU(inplace=True))
        self.tail = nn.Conv2d(2 * width, 3, 3, padding=1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, x):
        head = self.head(x)
        features = self.up(self.body(self.down(head)))
        return x + self.tail(torch.cat([features, head], dim=1))


class ConvBlock(nn.Module):
    """Two conv 3x3 + BatchNorm + ReLU."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True))

    def forward(self, x):
        return self.layers(x)


class ColorizationUNet(nn.Module):
    """CNN2: luminance (B, 1, H, W) in [-1, 1] -> RGB (B, 3, H, W) in [-1, 1] (H, W multiples of 8)."""

    def __init__(self, widths=(16, 32, 64, 128)):
        super().__init__()
        widths = tuple(int(w) for w in widths)
        self.head = ConvBlock(1, widths[0])
        pairs = list(zip(widths[:-1], widths[1:]))
        self.downs = nn.ModuleList(nn.Sequential(nn.MaxPool2d(2), ConvBlock(a, b)) for a, b in pairs)
        self.ups = nn.ModuleList(nn.ConvTranspose2d(b, a, 2, stride=2) for a, b in reversed(pairs))
        self.decoders = nn.ModuleList(ConvBlock(2 * a, a) for a in reversed(widths[:-1]))
        self.tail = nn.Conv2d(widths[0], 3, 1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, y):
        features = self.head(y)
        skips = [features]
        for down in self.downs:
            features = down(features)
            skips.append(features)
        skips.pop()
        for up, decoder in zip(self.ups, self.decoders):
            features = decoder(torch.cat([up(features), skips.pop()], dim=1))
        return y + self.tail(features)


class TwoStageCNN(nn.Module):
    """CNN1 then CNN2 on CNN1's luminance: (B, 3, H, W) gray in [0, 1] -> RGB in [0, 1]."""

    def __init__(self, cnn1_width: int = 32, cnn1_blocks: int = 4, cnn2_widths=(16, 32, 64, 128)):
        super().__init__()
        self.cnn1 = RestorationCNN(cnn1_width, cnn1_blocks)
        self.cnn2 = ColorizationUNet(cnn2_widths)
        self.size_multiple = 2 ** (len(tuple(cnn2_widths)) - 1)

    def stage1(self, x: torch.Tensor) -> torch.Tensor:
        """CNN1 on a padded batch: [0, 1] gray input -> restored image in [-1, 1]."""
        gray = luminance(x).expand(-1, 3, -1, -1)
        return self.cnn1(gray * 2.0 - 1.0)

    def stage2(self, restored: torch.Tensor) -> torch.Tensor:
        """CNN2 on CNN1's [-1, 1] output: its luminance -> RGB in [-1, 1]."""
        return self.cnn2(luminance(restored))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, "TwoStageCNN")
        height, width = x.shape[-2:]
        padded = pad_to_multiple(x, self.size_multiple)
        out = (self.stage2(self.stage1(padded)) + 1.0) * 0.5
        return finish(out, self.training, height, width)


PRESET = dict(cnn1_width=16, cnn1_blocks=4, cnn2_widths=(16, 32, 64, 128))

register_model("cnn-two-stage", "restoration", TwoStageCNN, PRESET,
               "Two-stage CNN (source 002, docs/sources.md): CNN1 restores the structure in [-1, 1] (L1 + MSE + perceptual), CNN2, "
               "a U-Net, predicts the colours from CNN1's luminance (L1). 128 px and full resolution "
               "(fully convolutional).",
               lesson=("Source (source 002, docs/sources.md): CNN1 restores the structure (L1 + MSE + perceptual), CNN2, "
                       "a U-Net, colourises from the luminance with L1. The lesson it reports: what the structure stage "
                       "gains in texture it loses in colour -- desaturated, faded, sepia-like results; a more generous "
                       "colour loss gave images that were entirely red."))
