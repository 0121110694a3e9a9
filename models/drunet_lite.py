"""DRUNetLite: a small noise-level-conditioned denoiser, the learned prior of the deblurring pipelines.

The plug-and-play route (DPIR, Zhang et al. 2021) splits deconvolution into a closed-form data
step and a denoising step; the denoiser is the only learned part, and it never sees a blur kernel,
so one network serves every kernel. This is DRUNet's design at a size this CPU can train:

* the **noise level is an input**: a constant map of sigma is concatenated to the image, so one
  network denoises at every level the HQS schedule asks for (from ~49/255 down to the photo's noise);
* a U-Net of 4 levels (32, 64, 128, 192 channels), one bias-free residual block (conv-ReLU-conv)
  per level and at the bottleneck, 2x2 stride-2 convolutions down and 2x2 transposed convolutions
  up, skips added (not concatenated), as in DRUNet;
* a global residual: ``output = noisy + network(noisy, sigma)`` with a zero-initialised tail, so an
  untrained network is the identity.

A small fraction of DRUNet's size (DRUNet: 32.6M, four blocks per level at 64-512 channels); the count is
``parameters`` in checkpoints/drunet-lite/card.json.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from studio.inference import mirror_pad_to
from studio.registry import register_model


class ResBlock(nn.Module):
    """conv3x3 - ReLU - conv3x3 with an identity skip, no bias (DRUNet's block)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)

    def forward(self, x):
        return x + self.conv2(F.relu(self.conv1(x)))


class DRUNetLite(nn.Module):
    #: tiled inference may use any tile that is a multiple of this (three halvings)
    size_multiple = 8
    default_tile = 512

    def __init__(self, channels=(32, 64, 128, 192), blocks: int = 1, in_channels: int = 3):
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if len(channels) < 2:
            raise ValueError(f"channels needs at least two levels, got {channels}")
        self.size_multiple = 2 ** (len(channels) - 1)
        self.head = nn.Conv2d(in_channels + 1, channels[0], 3, padding=1, bias=False)
        self.encoders = nn.ModuleList(
            nn.Sequential(*[ResBlock(c) for _ in range(blocks)]) for c in channels[:-1])
        self.downs = nn.ModuleList(
            nn.Conv2d(c, c_next, 2, stride=2, bias=False) for c, c_next in zip(channels[:-1], channels[1:]))
        self.middle = nn.Sequential(*[ResBlock(channels[-1]) for _ in range(blocks)])
        self.ups = nn.ModuleList(
            nn.ConvTranspose2d(c_next, c, 2, stride=2, bias=False)
            for c, c_next in zip(reversed(channels[:-1]), reversed(channels[1:])))
        self.decoders = nn.ModuleList(
            nn.Sequential(*[ResBlock(c) for _ in range(blocks)]) for c in reversed(channels[:-1]))
        self.tail = nn.Conv2d(channels[0], in_channels, 3, padding=1, bias=False)
        nn.init.zeros_(self.tail.weight)

    def forward(self, noisy: torch.Tensor, sigma) -> torch.Tensor:
        """``noisy`` (B, C, H, W) in [0, 1]; ``sigma`` the Gaussian noise std on that scale: a float
        or a (B,) tensor."""
        height, width = noisy.shape[-2:]
        multiple = self.size_multiple
        padded = mirror_pad_to(noisy, -(-height // multiple) * multiple, -(-width // multiple) * multiple)
        sigma = torch.as_tensor(sigma, dtype=padded.dtype, device=padded.device).reshape(-1, 1, 1, 1)
        noise_map = sigma.expand(padded.shape[0], 1, *padded.shape[-2:])
        features = self.head(torch.cat([padded, noise_map], dim=1))
        skips = []
        for encoder, down in zip(self.encoders, self.downs):
            features = encoder(features)
            skips.append(features)
            features = down(features)
        features = self.middle(features)
        for up, decoder in zip(self.ups, self.decoders):
            features = decoder(up(features) + skips.pop())
        return (padded + self.tail(features))[..., :height, :width]


PRESET = dict(channels=[32, 64, 128, 192], blocks=1)

register_model("drunet-lite", "denoise", DRUNetLite, PRESET,
               "DRUNet-style denoiser, noise level as an input map: the learned prior that "
               "the plug-and-play deblurring pipelines call between their FFT data steps.",
               lesson=("Not a deblurring model by itself: the learned image prior of pnp-blind and pnp-oracle, a "
                       "DRUNet-style denoiser told the noise level through an extra input map, so one network serves "
                       "every step of the HQS schedule. Trained on bsds500 train+test with synthetic Gaussian noise "
                       "only."))
