"""Classical deblurring baselines as registered models: unsharp masking and oracle Wiener.

* ``unsharp-mask`` is blind: ``x + amount * (x - gaussian(x))``. It sharpens edges whatever the
  blur was; it cannot undo a motion kernel, which is what the learned models must beat.
* ``wiener-oracle`` is scikit-image's Wiener deconvolution (classic form: a constant
  noise-to-signal ratio of 0.02, i.e. an identity regulariser) given the **true kernel** (an "oracle" no real photo provides): an upper reference for what knowing the
  blur is worth, not a fair competitor. It is a ``TrueKernelModel``, so ``run_model`` /
  ``studio.evaluate`` pass it ``kernel=`` (synthetic blur: the kernel that was applied;
  ``levin2009``: ``kY`` for ``im_X_ker_Y``) and never tile it (the deconvolution is global). The
  image is mirrored by the kernel size before the FFT so the circular model of ``wiener`` does not
  wrap the opposite border in. (The Laplacian regulariser, scikit-image's default, barely damps
  low frequencies: on long straight kernels, whose spectrum has zeros there, the border mismatch
  rings over the whole image and the output can score below its input; with the constant ratio it
  gains on every kernel: see ``wiener-oracle`` in results/eval/deblur_levin2009.csv.)

Both take and return (B, 3, H, W) tensors in [0, 1] like the learned models.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from skimage.restoration import richardson_lucy, wiener
from torch import nn

from studio.deblur.degradation import normalize_kernel
from studio.deblur.interface import TrueKernelModel
from studio.registry import register_model


class UnsharpMask(nn.Module):
    def __init__(self, radius: float = 1.5, amount: float = 1.0):
        super().__init__()
        self.radius, self.amount = float(radius), float(amount)
        half = max(1, int(math.ceil(3 * self.radius)))
        position = torch.arange(-half, half + 1, dtype=torch.float32)
        gauss = torch.exp(-0.5 * (position / self.radius) ** 2)
        self.register_buffer("gauss", gauss / gauss.sum(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels, half = x.shape[1], self.gauss.numel() // 2
        row = self.gauss.to(x.dtype).view(1, 1, 1, -1).repeat(channels, 1, 1, 1)
        col = self.gauss.to(x.dtype).view(1, 1, -1, 1).repeat(channels, 1, 1, 1)
        blurred = x
        # Mirror the border (repeatedly for tiny images), then separable Gaussian.
        for weight, pad in ((row, (half, half, 0, 0)), (col, (0, 0, half, half))):
            padded = blurred
            size = padded.shape[-1] if pad[0] else padded.shape[-2]
            mode = "reflect" if size > half else "replicate"
            blurred = F.conv2d(F.pad(padded, pad, mode=mode), weight, groups=channels)
        return x + self.amount * (x - blurred)


class WienerOracle(nn.Module, TrueKernelModel):
    """Non-blind deconvolution with the true kernel (``method``: "wiener" or "richardson-lucy")."""

    def __init__(self, balance: float = 0.02, method: str = "wiener", regularizer: str = "identity",
                 iterations: int = 30):
        super().__init__()
        if method not in ("wiener", "richardson-lucy"):
            raise ValueError(f"unknown method {method!r} (wiener or richardson-lucy)")
        if regularizer not in ("identity", "laplacian"):
            raise ValueError(f"unknown regularizer {regularizer!r} (identity or laplacian)")
        self.balance, self.method, self.iterations = float(balance), method, int(iterations)
        self.regularizer = regularizer

    def _deconvolve(self, channel: np.ndarray, kernel: np.ndarray) -> np.ndarray:
        pad = kernel.shape[0]
        padded = np.pad(channel, pad, mode="symmetric")
        if self.method == "wiener":
            reg = None  # scikit-image's default: the Laplacian
            if self.regularizer == "identity":
                reg = np.zeros((3, 3))
                reg[1, 1] = 1.0
            out = wiener(padded, kernel, self.balance, reg=reg, clip=False)
        else:
            out = richardson_lucy(padded, kernel, num_iter=self.iterations, clip=False)
        return out[pad:pad + channel.shape[0], pad:pad + channel.shape[1]]

    def forward(self, x: torch.Tensor, kernel=None) -> torch.Tensor:
        if kernel is None:
            raise ValueError("wiener-oracle needs the true blur kernel (kernel=...); it can only be evaluated "
                             "where the blur is known (synthetic blur, levin2009)")
        kernel = normalize_kernel(kernel.detach().cpu().numpy() if torch.is_tensor(kernel) else kernel)
        array = x.detach().to(torch.float64).cpu().numpy()
        out = np.empty_like(array)
        for b in range(array.shape[0]):
            for c in range(array.shape[1]):
                if c > 0 and np.array_equal(array[b, c], array[b, 0]):
                    out[b, c] = out[b, 0]  # grayscale replicated to RGB: deconvolve once
                else:
                    out[b, c] = self._deconvolve(array[b, c], kernel)
        return torch.from_numpy(out).to(x.device, x.dtype)


register_model("unsharp-mask", "deblur", UnsharpMask, dict(radius=1.5, amount=1.0),
               "Unsharp masking (blind): input + 1.0 x (input - Gaussian(sigma 1.5)). Sharpens edges, "
               "cannot invert a motion kernel.", learned=False,
               lesson=("Blind sharpening: it boosts edges whatever the blur was and cannot undo a motion kernel -- the "
                       "floor a learned deblurring model must clear."))
register_model("wiener-oracle", "deblur", WienerOracle, dict(balance=0.02, method="wiener", regularizer="identity"),
               "Wiener deconvolution (scikit-image, noise-to-signal ratio 0.02) with the TRUE kernel -- oracle "
               "kernel: an upper reference that needs what no real photo gives.",
               learned=False,
               lesson=("Wiener deconvolution given the true kernel: an oracle no real photo provides, so it only runs on "
                       "synthetic blur. It shows what knowing the blur is worth, not a fair competitor."))
