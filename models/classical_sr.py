"""Classical SR baselines as registered models: MATLAB-bicubic and Lanczos-3 upscaling.

They take and return the same (B, 3, H, W) tensors in [0, 1] as the learned models, so the
evaluation, tiling and the app treat every model alike. Lanczos is Pillow's (a well-kept
implementation, run per channel in float mode so nothing is rounded in between).
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import nn

from studio.registry import register_model
from studio.resize import imresize


class BicubicUpscaler(nn.Module):
    def __init__(self, scale: int = 4):
        super().__init__()
        self.scale = scale

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return imresize(lr.double(), float(self.scale)).to(lr.dtype)


class LanczosUpscaler(nn.Module):
    def __init__(self, scale: int = 4):
        super().__init__()
        self.scale = scale

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        height, width = lr.shape[-2:]
        size = (width * self.scale, height * self.scale)
        array = lr.detach().float().cpu().numpy()
        out = np.empty(array.shape[:2] + (size[1], size[0]), dtype=np.float32)
        for b in range(array.shape[0]):
            for c in range(array.shape[1]):
                out[b, c] = np.asarray(Image.fromarray(array[b, c], mode="F").resize(size, Image.LANCZOS))
        return torch.from_numpy(out).to(lr.device, lr.dtype)


register_model("bicubic", "sr", BicubicUpscaler, dict(scale=4),
               "MATLAB-style bicubic interpolation (the reference every SR paper reports).", learned=False,
               lesson=("The reference every SR paper reports. Its Set5 x4 score here ({bicubic_set5} dB PSNR-Y, "
                       "published 28.42) checks the MATLAB-style downscaler and the metric together; every Δ in the "
                       "studio is measured against it."))
register_model("lanczos", "sr", LanczosUpscaler, dict(scale=4),
               "Lanczos-3 interpolation (Pillow): slightly sharper than bicubic, with ringing.", learned=False,
               lesson=("A slightly sharper classical interpolator (with ringing): the honest 'no learning' competitor."))
