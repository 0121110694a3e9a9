"""MATLAB-compatible bicubic ``imresize``: the resampling every SR benchmark is defined with.

Published SR figures (bicubic 28.42 dB on Set5 x4, SRCNN, SRResNet, ...) make their low-res
inputs with MATLAB's ``imresize(hr, 1/s, 'bicubic')``: a cubic kernel (a = -0.5) that is
*widened by 1/s when downscaling* (antialiasing) and symmetric padding at the borders.
OpenCV, Pillow and ``torch.nn.functional.interpolate`` all differ from it (no antialiasing
or another kernel), which shifts PSNR by tenths of a dB, so no library we can depend on
offers it; this file writes it once. Resizing is linear and separable, so each axis is a
small weight matrix (``resize_matrix``) and an image is ``W_h @ image @ W_w.T``.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's 'bicubic')."""
    absx = np.abs(x)
    absx2, absx3 = absx**2, absx**3
    return (1.5 * absx3 - 2.5 * absx2 + 1) * (absx <= 1) + (
        -0.5 * absx3 + 2.5 * absx2 - 4 * absx + 2
    ) * ((absx > 1) & (absx <= 2))


@lru_cache(maxsize=256)
def resize_matrix(in_length: int, out_length: int, scale: float, antialias: bool = True) -> np.ndarray:
    """(out_length, in_length) float64 matrix that resamples one axis like MATLAB."""
    kernel_width = 4.0
    if scale < 1 and antialias:
        kernel_width /= scale  # the kernel stretches by 1/scale: this is the antialiasing
    out_idx = np.arange(1, out_length + 1, dtype=np.float64)
    # Position of each output pixel centre in input coordinates (1-based, as MATLAB).
    center = out_idx / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(center - kernel_width / 2)
    taps = int(math.ceil(kernel_width)) + 2
    indices = left[:, None] + np.arange(taps)[None, :]
    distance = center[:, None] - indices
    if scale < 1 and antialias:
        weights = scale * cubic(distance * scale)
    else:
        weights = cubic(distance)
    weights = weights / weights.sum(axis=1, keepdims=True)
    # Symmetric ('mirror with edge repeat') padding, as MATLAB: 1..n, n..1, 1..n, ...
    mirror = np.concatenate([np.arange(in_length), np.arange(in_length)[::-1]])
    source = mirror[np.mod(indices.astype(np.int64) - 1, 2 * in_length)]
    matrix = np.zeros((out_length, in_length), dtype=np.float64)
    rows = np.repeat(np.arange(out_length), taps)
    np.add.at(matrix, (rows, source.ravel()), weights.ravel())
    return matrix


def output_size(height: int, width: int, scale: float) -> tuple[int, int]:
    return int(math.ceil(height * scale)), int(math.ceil(width * scale))


def _apply(image, out_h: int, out_w: int, scale_h: float, scale_w: float, antialias: bool):
    """Separable resize of numpy HxW(xC) or torch (..., H, W) to out_h x out_w, one scale per axis."""
    if isinstance(image, torch.Tensor):
        height, width = image.shape[-2:]
        weight_h = torch.from_numpy(resize_matrix(height, out_h, scale_h, antialias)).to(image)
        weight_w = torch.from_numpy(resize_matrix(width, out_w, scale_w, antialias)).to(image)
        return weight_h @ image @ weight_w.T
    array = np.asarray(image, dtype=np.float64)
    height, width = array.shape[:2]
    weight_h = resize_matrix(height, out_h, scale_h, antialias)
    weight_w = resize_matrix(width, out_w, scale_w, antialias)
    if array.ndim == 2:
        return weight_h @ array @ weight_w.T
    return np.einsum("oh,hwc,pw->opc", weight_h, array, weight_w, optimize=True)


def _size(image) -> tuple[int, int]:
    return tuple(image.shape[-2:]) if isinstance(image, torch.Tensor) else tuple(np.shape(image)[:2])


def imresize(image, scale: float, antialias: bool = True):
    """Resize by ``scale`` like MATLAB's bicubic imresize.

    Accepts a numpy array HxW or HxWxC, or a torch tensor (..., H, W). Returns the same type,
    float, unclipped (bicubic overshoots; clip or quantize where the caller needs it).
    """
    out_h, out_w = output_size(*_size(image), scale)
    return _apply(image, out_h, out_w, scale, scale, antialias)


def imresize_to(image, height: int, width: int, antialias: bool = True):
    """Resize to exactly ``height`` x ``width`` (each axis its own scale, MATLAB bicubic).

    The aspect ratio is not kept (e.g. a 481x321 photo -> 128x128); numpy HxW(xC) or torch
    (..., H, W) in, same type out, float and unclipped like ``imresize``.
    """
    height, width = int(height), int(width)
    if height < 1 or width < 1:
        raise ValueError(f"cannot resize to {width}x{height}")
    in_h, in_w = _size(image)
    return _apply(image, height, width, height / in_h, width / in_w, antialias)
