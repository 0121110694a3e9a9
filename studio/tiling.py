"""Tiled inference with overlap and blending, for images of any size in bounded memory.

The input is cut into tiles of ``tile`` pixels that overlap by ``overlap``. Each tile's output
is weighted by a window that is zero for ``margin`` pixels next to an interior tile edge (where
the model saw zero padding instead of the real neighbours), then ramps linearly to one. The
weighted outputs are summed and normalised. When ``margin`` covers the model's receptive field
radius, the result equals untiled inference up to float rounding; the ramp hides any residual
seam for models whose receptive field is larger (or that normalise per tile).
"""

from __future__ import annotations

from typing import Callable

import torch


def _starts(length: int, tile: int, stride: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def _ramp(length: int, margin: int, ramp: int, at_start: bool, at_end: bool) -> torch.Tensor:
    """1D window: 0 over ``margin`` px at interior edges, linear over ``ramp`` px, then 1."""
    position = torch.arange(length, dtype=torch.float64)
    window = torch.ones(length, dtype=torch.float64)
    rising = ((position - margin + 1) / (ramp + 1)).clamp(0, 1)
    if not at_start:
        window = torch.minimum(window, rising)
    if not at_end:
        window = torch.minimum(window, rising.flip(0))
    return window


def tiled_apply(fn: Callable[[torch.Tensor], torch.Tensor], image: torch.Tensor, tile: int = 256,
                overlap: int = 32, scale: int = 1, progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """Apply ``fn`` ((1, C, h, w) -> (1, C', h*scale, w*scale)) to a (1, C, H, W) image by tiles.

    ``overlap`` is in input pixels: half of it is the zero-weight margin, half the blend ramp
    (neighbouring tiles share ``overlap + overlap // 2`` pixels). Accumulation is float32, so a
    4K frame costs ~130 MB on top of the model's activations for one tile.
    ``progress(done, total)`` is called after each tile.
    """
    if image.dim() != 4 or image.shape[0] != 1:
        raise ValueError(f"tiled_apply expects a (1, C, H, W) tensor, got {tuple(image.shape)}")
    if tile <= 2 * overlap:
        raise ValueError(f"tile ({tile}) must be larger than twice the overlap ({overlap})")
    _, _, height, width = image.shape
    if height <= tile and width <= tile:
        out = fn(image)
        if progress:
            progress(1, 1)
        return out
    margin = overlap // 2
    ramp = overlap - margin
    stride = tile - overlap - margin  # neighbouring windows overlap by margin + ramp past the margin
    rows, cols = _starts(height, tile, stride), _starts(width, tile, stride)
    output = weight_sum = None
    total, done = len(rows) * len(cols), 0
    for top in rows:
        for left in cols:
            piece = image[:, :, top:top + tile, left:left + tile]
            out = fn(piece).to(torch.float32)
            if output is None:
                channels = out.shape[1]
                output = torch.zeros(1, channels, height * scale, width * scale, dtype=torch.float32)
                weight_sum = torch.zeros(1, 1, height * scale, width * scale, dtype=torch.float32)
            tile_h, tile_w = piece.shape[-2:]
            window_y = _ramp(tile_h * scale, margin * scale, ramp * scale, top == 0, top + tile_h >= height)
            window_x = _ramp(tile_w * scale, margin * scale, ramp * scale, left == 0, left + tile_w >= width)
            window = (window_y[:, None] * window_x[None, :])[None, None].float()
            ys, xs = top * scale, left * scale
            output[:, :, ys:ys + tile_h * scale, xs:xs + tile_w * scale] += out * window
            weight_sum[:, :, ys:ys + tile_h * scale, xs:xs + tile_w * scale] += window
            done += 1
            if progress:
                progress(done, total)
    return (output / weight_sum.clamp_min(1e-12)).to(image.dtype)
