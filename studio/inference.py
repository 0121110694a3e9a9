"""Run any registered model on a numpy image: the one code path for evaluation, CLI and app."""

from __future__ import annotations

import functools
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from studio.deblur.interface import needs_true_kernel
from studio.tiling import tiled_apply

DEFAULT_TILE = 256
DEFAULT_OVERLAP = 32
PRECISIONS = ("fp32", "bf16", "auto")


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none, e.g. macOS)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX); elsewhere it is emulated, and slow."""
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def has_parameters(model: torch.nn.Module) -> bool:
    """Whether ``precision`` applies to ``model``: it has parameters. The registry's ``learned``
    models all do and its classical ones none, so this is the same split, read from the module."""
    return next(model.parameters(), None) is not None


def resolve_precision(precision: str) -> torch.dtype | None:
    """'fp32' -> None (no autocast), 'bf16' -> torch.bfloat16, 'auto' -> bf16 where it is native."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
    if precision == "bf16" or (precision == "auto" and native_bf16()):
        return torch.bfloat16
    return None


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
def run_model(model: torch.nn.Module, image: np.ndarray, scale: int = 1, tile: int | None = None,
              overlap: int = DEFAULT_OVERLAP, channels_last: bool = True, progress=None, kernel=None,
              precision: str = "fp32") -> np.ndarray:
    """Model output for one image in [0, 1]; tiled when a side exceeds ``tile`` (0: never tile).

    ``tile = None``: the model's ``default_tile`` attribute, else ``DEFAULT_TILE``.
    ``precision``: 'fp32', 'bf16' (autocast; its measured speed and PSNR against fp32 are in
    ``results/bench``, summarised by ``studio.results.bf16_note``) or 'auto' (bf16 where the CPU has it natively, see ``native_bf16``). It only applies
    to learned models (``has_parameters``); classical ones always run as written.

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
    tile = getattr(model, "default_tile", DEFAULT_TILE) if tile is None else tile
    autocast_dtype = resolve_precision(precision) if has_parameters(model) else None
    channels_last = channels_last and getattr(model, "channels_last", True)
    if needs_true_kernel(model):
        if kernel is None:
            raise ValueError(f"{type(model).__name__} needs the true blur kernel (kernel=...); it only runs "
                             "where the blur is known")
        with torch.autocast("cpu", dtype=autocast_dtype) if autocast_dtype is not None else nullcontext():
            out = model(x, kernel=kernel).float()
        if progress:
            progress(1, 1)
        return to_image(out)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)

    def forward(piece: torch.Tensor) -> torch.Tensor:
        if channels_last:
            piece = piece.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=autocast_dtype) if autocast_dtype is not None else nullcontext():
            return model(piece).float().contiguous()

    if tile and max(x.shape[-2:]) > tile:
        multiple = int(getattr(model, "size_multiple", 1) or 1)
        height, width = x.shape[-2:]
        if multiple > 1:
            tile, overlap = aligned_tiling(tile, overlap, multiple)
            x = mirror_pad_to(x, -(-height // multiple) * multiple, -(-width // multiple) * multiple)
        out = tiled_apply(forward, x, tile=tile, overlap=overlap, scale=scale, progress=progress, multiple=multiple)
        out = out[..., :height * scale, :width * scale]
    else:
        out = forward(x)
    return to_image(out)
