"""Input and output conventions shared by the restoration models (grayscale in, colour out).

Every restoration model takes the degraded photo as (B, 3, H, W) in [0, 1] with R = G = B (the gray
image replicated, as ``studio.restoration.degradation`` makes it; a (B, 1, H, W) tensor or a colour
image also works: colour is reduced to its BT.601 luminance) and returns RGB (B, 3, H, W) in
[0, 1]. The U-Nets mirror-pad to a multiple of their downsampling factor and crop back, so any
size works, 128 px as in the source or the full resolution.
"""

from __future__ import annotations

import torch

from studio.inference import mirror_pad_to

LUMA = (0.299, 0.587, 0.114)


def check_input(x: torch.Tensor, name: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} expects a torch tensor (B, 3, H, W) in [0, 1], got {type(x).__name__}")
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"{name} expects a (B, 3, H, W) gray-replicated or (B, 1, H, W) image batch, "
                         f"got shape {tuple(x.shape)}")
    if min(x.shape[-2:]) < 1 or x.shape[0] < 1:
        raise ValueError(f"{name}: empty input of shape {tuple(x.shape)}")


def luminance(x: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) BT.601 luma of a (B, 3, H, W) RGB batch; a 1-channel batch is returned as is."""
    if x.shape[1] == 1:
        return x
    weights = torch.tensor(LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * weights).sum(dim=1, keepdim=True)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Mirror bottom/right up to a multiple of ``multiple`` (at least one multiple per side)."""
    height, width = x.shape[-2:]
    return mirror_pad_to(x, max(multiple, -(-height // multiple) * multiple),
                         max(multiple, -(-width // multiple) * multiple))


def finish(out: torch.Tensor, training: bool, height: int, width: int) -> torch.Tensor:
    """Crop the padding back; clamp to [0, 1] at inference (training keeps gradients at the edges)."""
    out = out[..., :height, :width]
    return out if training else out.clamp(0.0, 1.0)
