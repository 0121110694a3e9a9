"""Run any registered model on a numpy image: the one code path for evaluation, CLI and app."""

from __future__ import annotations

import numpy as np
import torch

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


@torch.inference_mode()
def run_model(model: torch.nn.Module, image: np.ndarray, scale: int = 1, tile: int = DEFAULT_TILE,
              overlap: int = DEFAULT_OVERLAP, channels_last: bool = True, progress=None) -> np.ndarray:
    """Model output for one image in [0, 1]; tiled when a side exceeds ``tile`` (0: never tile)."""
    model.eval()
    x = to_tensor(image)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)

    def forward(piece: torch.Tensor) -> torch.Tensor:
        if channels_last:
            piece = piece.contiguous(memory_format=torch.channels_last)
        return model(piece).float().contiguous()

    if tile and max(x.shape[-2:]) > tile:
        out = tiled_apply(forward, x, tile=tile, overlap=overlap, scale=scale, progress=progress)
    else:
        out = forward(x)
    return to_image(out)
