"""Run any registered model on a numpy image: the one code path for evaluation, CLI and app."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from studio.tiling import tiled_apply

DEFAULT_TILE = 256
DEFAULT_OVERLAP = 32


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """HxWx3 (or HxW) float [0, 1] -> (1, C, H, W) float32."""
    array = image[..., None] if image.ndim == 2 else image
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).permute(2, 0, 1)[None]


def to_image(tensor: torch.Tensor) -> np.ndarray:
    array = tensor[0].detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()
    return array[..., 0] if array.shape[-1] == 1 else array


def mirror_pad_to(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Pad a (B, C, h, w) tensor at the bottom/right to (height, width) by mirroring.

    Mirrors as often as needed, so even a 5x7 image reaches 32x32; a 1-pixel side is repeated.
    """
    while x.shape[-2] < height or x.shape[-1] < width:
        h, w = x.shape[-2:]
        if (h == 1 and height > 1) or (w == 1 and width > 1):
            return F.pad(x, (0, max(width - w, 0), 0, max(height - h, 0)), mode="replicate")
        pad_h, pad_w = max(min(height - h, h - 1), 0), max(min(width - w, w - 1), 0)
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect")
    return x


def aligned_tiling(tile: int, overlap: int, multiple: int) -> tuple[int, int]:
    """Tile and overlap such that every tile starts on a multiple of ``multiple``.

    Models that downsample by ``multiple`` (U-Nets) only give the same output for a tile as for
    the whole image when the tile sits on their pixel grid. ``tiled_apply`` steps by
    ``tile - overlap - overlap // 2``: the tile is rounded down and the overlap up until that step
    is a multiple (the defaults 256/32 already are for multiples of 16).
    """
    if multiple <= 1:
        return tile, overlap
    tile = max(multiple, tile // multiple * multiple)
    while True:  # a tile too small for its overlap grows by one multiple
        for candidate in range(overlap, (tile + 1) // 2):
            if (tile - candidate - candidate // 2) % multiple == 0:
                return tile, candidate
        tile += multiple


@torch.inference_mode()
def run_model(model: torch.nn.Module, image: np.ndarray, scale: int = 1, tile: int = DEFAULT_TILE,
              overlap: int = DEFAULT_OVERLAP, channels_last: bool = True, progress=None, kernel=None) -> np.ndarray:
    """Model output for one image in [0, 1]; tiled when a side exceeds ``tile`` (0: never tile).

    Two optional model attributes change how it is run (other models are unaffected):
    ``needs_kernel = True`` (a non-blind "oracle" deconvolution): the model is called as
    ``model(x, kernel=kernel)`` on the whole image, and ``kernel`` is required;
    ``size_multiple = m`` (a U-Net downsampling by m): for tiling, the image is mirrored up to a
    multiple of m and tiles are aligned on that grid (``aligned_tiling``), then the output is
    cropped back, so tiles see exactly what the whole image would show them;
    ``channels_last = False`` (depthwise-separable nets, slower in that layout on CPU): keep NCHW.
    """
    model.eval()
    x = to_tensor(image)
    channels_last = channels_last and getattr(model, "channels_last", True)
    if getattr(model, "needs_kernel", False):
        if kernel is None:
            raise ValueError(f"{type(model).__name__} needs the true blur kernel (kernel=...); it only runs "
                             "where the blur is known")
        out = model(x, kernel=kernel).float()
        if progress:
            progress(1, 1)
        return to_image(out)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)

    def forward(piece: torch.Tensor) -> torch.Tensor:
        if channels_last:
            piece = piece.contiguous(memory_format=torch.channels_last)
        return model(piece).float().contiguous()

    if tile and max(x.shape[-2:]) > tile:
        multiple = int(getattr(model, "size_multiple", 1) or 1)
        height, width = x.shape[-2:]
        if multiple > 1:
            tile, overlap = aligned_tiling(tile, overlap, multiple)
            x = mirror_pad_to(x, -(-height // multiple) * multiple, -(-width // multiple) * multiple)
        out = tiled_apply(forward, x, tile=tile, overlap=overlap, scale=scale, progress=progress)
        out = out[..., :height * scale, :width * scale]
    else:
        out = forward(x)
    return to_image(out)
