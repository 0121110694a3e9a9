"""Super-resolution degradation: the standard MATLAB-bicubic protocol of the SR literature.

HR images are cropped to a multiple of the scale ("mod crop"), downscaled with antialiased
bicubic and rounded to 8 bits, exactly as the LR images of Set5/Set14/B100 are made.
"""

from __future__ import annotations

import numpy as np
import torch

from studio.imageio import quantize
from studio.resize import imresize

SCALES = (2, 3, 4)


def check_scale(scale: int) -> int:
    if int(scale) not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale}")
    return int(scale)


def mod_crop(image: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom/right so both sides are multiples of ``scale``."""
    height, width = image.shape[:2]
    if height < scale or width < scale:
        raise ValueError(f"image {width}x{height} is smaller than the scale x{scale}")
    return image[: height - height % scale, : width - width % scale]


def downscale(hr: np.ndarray, scale: int, round_to_uint8: bool = True) -> np.ndarray:
    """HR [0, 1] float -> LR [0, 1] float, MATLAB bicubic with antialiasing."""
    scale = check_scale(scale)
    lr = np.clip(imresize(mod_crop(hr, scale), 1.0 / scale), 0, 1)
    return quantize(lr) if round_to_uint8 else lr.astype(np.float32)


def upscale_bicubic(lr: np.ndarray, scale: int) -> np.ndarray:
    """LR -> HR size with MATLAB bicubic (the classical 'bicubic' baseline)."""
    return np.clip(imresize(lr, float(scale)), 0, 1).astype(np.float32)


def downscale_batch(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """Batched torch version for training: (B, C, H, W) -> (B, C, H/s, W/s), 8-bit rounded."""
    scale = check_scale(scale)
    height, width = hr.shape[-2:]
    if height % scale or width % scale:
        raise ValueError(f"patch {height}x{width} is not a multiple of x{scale}")
    lr = imresize(hr.double(), 1.0 / scale).clamp(0, 1)
    return (torch.round(lr * 255) / 255).to(hr.dtype)
