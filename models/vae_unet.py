"""VAE-UNet: the source's variational U-Net for restoring and colourising degraded gray photos.

As in source 002, docs/sources.md: an **encoder** of Conv + BatchNorm + LeakyReLU blocks (three stride-2 stages), a
**latent** bottleneck predicting mu and log sigma^2 per position (spatial latent, so the model stays
fully convolutional) sampled with the **reparameterization trick** z = mu + sigma * eps during
training (mu at inference: deterministic), and a **decoder** of transposed convolutions with
**skip connections** from the encoder to keep the fine structure. The output is the gray input
(replicated to RGB) plus the decoder's correction, in [-1, 1] internally; the last layer starts
at zero, so an untrained model returns its input.

Training loss (training/train_restoration.py): reconstruction (L1) + beta * KL(q(z|x) || N(0, I)),
beta annealed linearly from 0.
"""

from __future__ import annotations

import torch
from torch import nn

from models.gray_input import check_input, finish, luminance, pad_to_multiple
from studio.registry import register_model


class ConvBNAct(nn.Module):
    """Conv 3x3 (stride 1 or 2) + BatchNorm + LeakyReLU(0.2): the encoder's block."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(out_channels)
        self.act = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x):
        return self.act(self.norm(self.conv(x)))


class EncoderStage(nn.Module):
    """Halve the resolution (stride-2 block), then one more block."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.down = ConvBNAct(in_channels, out_channels, stride=2)
        self.conv = ConvBNAct(out_channels, out_channels)

    def forward(self, x):
        return self.conv(self.down(x))


class DecoderStage(nn.Module):
    """Transposed convolution x2, concatenate the encoder's skip, one block."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(out_channels)
        self.act = nn.LeakyReLU(0.2, inplace=True)
        self.conv = ConvBNAct(out_channels + skip_channels, out_channels)

    def forward(self, x, skip):
        return self.conv(torch.cat([self.act(self.norm(self.up(x))), skip], dim=1))


class LatentBottleneck(nn.Module):
    """mu and log sigma^2 (1x1 convs), z = mu + sigma * eps in training, z = mu at inference."""

    def __init__(self, channels: int, latent_channels: int):
        super().__init__()
        self.mu = nn.Conv2d(channels, latent_channels, 1)
        self.logvar = nn.Conv2d(channels, latent_channels, 1)
        self.expand = ConvBNAct(latent_channels, channels)

    def forward(self, x):
        mu, logvar = self.mu(x), self.logvar(x).clamp(-10.0, 10.0)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu) if self.training else mu
        return self.expand(z), mu, logvar


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, 1)), mean over latent elements."""
    return -0.5 * torch.mean(1.0 + logvar - mu.pow(2) - logvar.exp())


class VAEUNet(nn.Module):
    def __init__(self, widths=(16, 32, 64, 128), latent_channels: int = 32):
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if len(widths) < 2:
            raise ValueError(f"widths needs at least two levels, got {widths}")
        self.size_multiple = 2 ** (len(widths) - 1)
        self.head = nn.Sequential(ConvBNAct(1, widths[0]), ConvBNAct(widths[0], widths[0]))
        self.encoders = nn.ModuleList(EncoderStage(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.latent = LatentBottleneck(widths[-1], latent_channels)
        pairs = list(zip(widths[:-1], widths[1:]))
        self.decoders = nn.ModuleList(DecoderStage(b, a, a) for a, b in reversed(pairs))
        self.tail = nn.Conv2d(widths[0], 3, 3, padding=1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, x: torch.Tensor, return_latent: bool = False):
        check_input(x, "VAEUNet")
        height, width = x.shape[-2:]
        gray = pad_to_multiple(luminance(x), self.size_multiple) * 2.0 - 1.0  # [-1, 1]
        features = self.head(gray)
        skips = [features]
        for encoder in self.encoders:
            features = encoder(features)
            skips.append(features)
        features, mu, logvar = self.latent(skips.pop())
        for decoder in self.decoders:
            features = decoder(features, skips.pop())
        out = (gray + self.tail(features) + 1.0) * 0.5  # residual on the gray input, back to [0, 1]
        out = finish(out, self.training, height, width)
        return (out, mu, logvar) if return_latent else out


PRESET = dict(widths=(16, 32, 64, 128), latent_channels=32)

register_model("vae-unet", "restoration", VAEUNet, PRESET,
               "VAE-UNet (source 002, docs/sources.md): Conv+BatchNorm+LeakyReLU encoder, mu/sigma latent with the "
               "reparameterization trick (mu at inference), transposed-conv decoder with skip connections; "
               "L1 + annealed beta*KL. Restores and colourises; 128 px and full resolution (fully convolutional).",
               lesson=("Source (source 002, docs/sources.md): an encoder to a μ/σ latent with the reparameterization "
                       "trick, a decoder with U-Net skips, reconstruction + KL loss with the KL weight tuned (β) to "
                       "balance sharpness against a regular latent. Its known limits: 128×128 images, artefacts on faces "
                       "and complex contours."))
