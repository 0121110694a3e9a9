"""pix2pix GAN for restoring and colourising degraded gray photos (source 002, docs/sources.md, "Approche GAN").

**Generator**: a U-Net encoder-decoder with 3 downsampling stages (4x4 stride-2 conv + BatchNorm +
LeakyReLU) and 3 upsampling stages (4x4 stride-2 transposed conv + BatchNorm + ReLU), the
encoder's features concatenated into the decoder (skip connections) so fine detail survives. It
works in [-1, 1] like pix2pix and adds its output to the gray input (a global skip, last layer
zero-initialised: an untrained generator returns its input), which makes short trainings stable.

**Discriminator**: a conditional PatchGAN. It sees the degraded gray input concatenated with a real
or a generated colour image and returns a map of logits, one per overlapping patch (receptive
field 70 px, as pix2pix's 70x70 PatchGAN), each saying "real" or "fake" for its patch.

Training (training/train_restoration.py): each step does 1 discriminator update then 2
generator updates; generator loss = adversarial + L1 + perceptual; cosine learning-rate
schedules for both networks.
"""

from __future__ import annotations

import torch
from torch import nn

from models.gray_input import check_input, finish, luminance, pad_to_multiple
from studio.registry import register_model


class Down(nn.Module):
    """4x4 stride-2 conv (+ BatchNorm) + LeakyReLU(0.2): halves the resolution."""

    def __init__(self, in_channels: int, out_channels: int, norm: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1, bias=not norm)
        self.norm = nn.BatchNorm2d(out_channels) if norm else nn.Identity()
        self.act = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x):
        return self.act(self.norm(self.conv(x)))


class Up(nn.Module):
    """4x4 stride-2 transposed conv + BatchNorm + ReLU: doubles the resolution."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(out_channels)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.act(self.norm(self.conv(x)))


class UNetGenerator(nn.Module):
    def __init__(self, widths=(32, 64, 128, 256)):
        super().__init__()
        w0, w1, w2, w3 = (int(w) for w in widths)
        self.size_multiple = 8
        self.head = nn.Sequential(nn.Conv2d(1, w0, 3, padding=1), nn.LeakyReLU(0.2, inplace=True))
        self.down1, self.down2, self.down3 = Down(w0, w1), Down(w1, w2), Down(w2, w3)
        self.middle = nn.Sequential(nn.Conv2d(w3, w3, 3, padding=1, bias=False), nn.BatchNorm2d(w3),
                                    nn.ReLU(inplace=True))
        self.up1, self.up2, self.up3 = Up(w3, w2), Up(2 * w2, w1), Up(2 * w1, w0)
        self.tail = nn.Conv2d(2 * w0, 3, 3, padding=1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, "UNetGenerator")
        height, width = x.shape[-2:]
        gray = pad_to_multiple(luminance(x), self.size_multiple) * 2.0 - 1.0
        d0 = self.head(gray)
        d1 = self.down1(d0)
        d2 = self.down2(d1)
        d3 = self.middle(self.down3(d2))
        u = torch.cat([self.up1(d3), d2], dim=1)
        u = torch.cat([self.up2(u), d1], dim=1)
        u = torch.cat([self.up3(u), d0], dim=1)
        out = (gray + self.tail(u) + 1.0) * 0.5
        return finish(out, self.training, height, width)


class PatchDiscriminator(nn.Module):
    """Conditional PatchGAN: (degraded gray, colour image) in [0, 1] -> (B, 1, h, w) logits."""

    def __init__(self, widths=(32, 64, 128, 256)):
        super().__init__()
        w0, w1, w2, w3 = (int(w) for w in widths)
        self.layers = nn.Sequential(
            Down(1 + 3, w0, norm=False), Down(w0, w1), Down(w1, w2),
            nn.Conv2d(w2, w3, 4, stride=1, padding=1, bias=False), nn.BatchNorm2d(w3), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(w3, 1, 4, stride=1, padding=1),
        )

    def forward(self, degraded: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        check_input(degraded, "PatchDiscriminator")
        if image.shape[1] != 3 or image.shape[-2:] != degraded.shape[-2:]:
            raise ValueError(f"PatchDiscriminator: image {tuple(image.shape)} does not match the degraded "
                             f"input {tuple(degraded.shape)} (expected 3 channels, same size)")
        return self.layers(torch.cat([luminance(degraded), image], dim=1) * 2.0 - 1.0)


PRESET = dict(widths=(16, 32, 64, 128))
DISCRIMINATOR = dict(widths=(16, 32, 64, 128))

register_model("pix2pix-gan", "restoration", UNetGenerator, PRESET,
               "pix2pix GAN (source 002, docs/sources.md): U-Net generator (3 down / 3 up stages, skip connections) trained against "
               "a conditional PatchGAN; 1 discriminator then 2 generator updates per training step (the source describes "
               "them per epoch), loss adversarial + L1 + perceptual. Restores and colourises; 128 px and full resolution (fully convolutional).",
               lesson=("Source (source 002, docs/sources.md): a U-Net generator against a conditional PatchGAN "
                       "discriminator, L1 + VGG perceptual + adversarial losses, and at each epoch one discriminator "
                       "update then two generator updates (this repository runs them at each training step)."))
