"""The RRDB generator: shapes at every scale, the parameter count of its blocks, its residual scaling."""

from __future__ import annotations

import pytest
import torch

from models.rrdb import RRDB, DenseBlock, RRDBNet


def dense_block_parameters(channels: int, growth: int) -> int:
    """Five 3x3 convs: the i-th sees channels + i*growth inputs; the last maps back to channels."""
    total = 0
    for i in range(5):
        out = growth if i < 4 else channels
        total += (channels + i * growth) * out * 9 + out
    return total


def test_parameter_count_follows_the_dense_connections():
    assert sum(p.numel() for p in DenseBlock(32, 16, 0.2).parameters()) == dense_block_parameters(32, 16)
    net = RRDBNet(scale=4, channels=32, growth=16, num_blocks=3)
    head = 3 * 32 * 9 + 32
    body_tail = 32 * 32 * 9 + 32
    tail = 32 * 48 * 9 + 48  # to 3 * 4 * 4 channels before the pixel shuffle
    expected = head + 3 * 3 * dense_block_parameters(32, 16) + body_tail + tail
    assert sum(p.numel() for p in net.parameters()) == expected == 564_016


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_output_is_scale_times_larger_for_any_input_size(scale):
    net = RRDBNet(scale=scale, channels=8, growth=4, num_blocks=1).eval()
    with torch.no_grad():
        assert net(torch.rand(2, 3, 7, 11)).shape == (2, 3, 7 * scale, 11 * scale)


def test_residual_scaling_keeps_a_fresh_block_near_identity():
    torch.manual_seed(0)
    x = torch.randn(1, 16, 12, 12)
    with torch.no_grad():
        dense = DenseBlock(16, 8, res_scale=0.2)
        change = (dense(x) - x).abs().mean() / x.abs().mean()
        # ESRGAN's small init and 0.2 scaling: each dense block starts close to identity, so a deep
        # stack trains without normalisation; an RRDB of three then starts close to 1.2 x
        rrdb = RRDB(16, 8, res_scale=0.2)
        rrdb_change = (rrdb(x) - 1.2 * x).abs().mean() / x.abs().mean()
    assert 0 < change < 0.02 and 0 < rrdb_change < 0.02


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="scale must be 2, 3 or 4"):
        RRDBNet(scale=8)
    with pytest.raises(ValueError, match="must be >= 1"):
        RRDBNet(num_blocks=0)
