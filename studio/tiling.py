"""Tiled inference with overlap and blending, for images of any size in bounded memory.

The input is cut into tiles of at most ``tile`` pixels that overlap by ``overlap``. Along each
axis, the tiles are then shrunk to the smallest length that still covers the image with the same
number of tiles ("balanced" tiles): a 720-px side cut by 512-px tiles gets two 384-px tiles rather
than two 512-px tiles that overlap by 304 px, so the work stays close to the image's own area.
Each tile's output is weighted by a window that is zero for ``margin`` pixels next to an interior
tile edge (where the model saw zero padding instead of the real neighbours), then ramps linearly
to one. The weighted outputs are summed and normalised. When ``margin`` covers the model's
receptive field radius, the result equals untiled inference up to float rounding; the ramp hides
any residual seam for models whose receptive field is larger (or that normalise per tile).
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


def axis_tiles(length: int, tile: int, overlap: int, multiple: int = 1) -> tuple[int, list[int]]:
    """Balanced tiling of one axis: (tile length, tile starts).

    The count is what ``tile`` needs; the length is then the smallest multiple of ``multiple``
    that covers ``length`` with that count (``n * t - (n - 1) * (overlap + overlap // 2) >=
    length``). With ``multiple`` dividing ``tile``, the step and ``length`` (a U-Net's grid),
    every start stays on that grid.
    """
    if length <= tile:
        return length, [0]
    shared = overlap + overlap // 2  # pixels that neighbouring tiles have in common
    count = len(_starts(length, tile, tile - shared))
    balanced = max(-(-(length + (count - 1) * shared) // count), 2 * overlap + 1)
    balanced = min(tile, -(-balanced // multiple) * multiple)
    return balanced, _starts(length, balanced, balanced - shared)


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
                overlap: int = 32, scale: int = 1, progress: Callable[[int, int], None] | None = None,
                multiple: int = 1) -> torch.Tensor:
    """Apply ``fn`` ((1, C, h, w) -> (1, C', h*scale, w*scale)) to a (1, C, H, W) image by tiles.

    ``overlap`` is in input pixels: half of it is the zero-weight margin, half the blend ramp
    (neighbouring tiles share ``overlap + overlap // 2`` pixels). Accumulation is float32 (an
    output-sized sum and weight map), on top of the model's activations for one tile.
    ``progress(done, total)`` is called after each tile. ``multiple``: tile lengths stay multiples
    of it (see ``axis_tiles``).
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
    tile_h, rows = axis_tiles(height, tile, overlap, multiple)
    tile_w, cols = axis_tiles(width, tile, overlap, multiple)
    output = weight_sum = None
    total, done = len(rows) * len(cols), 0
    for top in rows:
        for left in cols:
            piece = image[:, :, top:top + tile_h, left:left + tile_w]
            out = fn(piece).to(torch.float32)
            if output is None:
                channels = out.shape[1]
                output = torch.zeros(1, channels, height * scale, width * scale, dtype=torch.float32)
                weight_sum = torch.zeros(1, 1, height * scale, width * scale, dtype=torch.float32)
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
