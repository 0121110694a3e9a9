"""drunet-lite, the learned prior: architecture and its training script on generated images."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from studio.checkpoint import count_parameters
from studio.registry import build_model


def test_untrained_denoiser_is_the_identity_at_any_size():
    model = build_model("drunet-lite").eval()
    x = torch.rand(2, 3, 37, 53)
    with torch.no_grad():
        assert torch.equal(model(x, 0.1), x)  # zero-initialised tail: output = input


def test_denoiser_size_and_noise_level_input():
    model = build_model("drunet-lite").eval()
    assert 1_500_000 < count_parameters(model) < 2_000_000
    torch.nn.init.normal_(model.tail.weight, std=0.01)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        per_image = model(x, torch.tensor([0.02, 0.2]))
        low, high = model(x, 0.02), model(x, 0.2)
    # the noise map changes the output, and a per-image sigma equals the scalar calls
    assert not torch.allclose(low, high)
    assert torch.allclose(per_image[0], low[0], atol=1e-6) and torch.allclose(per_image[1], high[1], atol=1e-6)


@pytest.fixture()
def photo_folders(tmp_path):
    rng = np.random.default_rng(0)
    folders = []
    for name in ("train", "val"):
        folder = tmp_path / name
        folder.mkdir()
        for i in range(3):
            # smooth random images with edges: a blurred random field plus a bright square
            image = np.kron(rng.random((9, 9, 3)), np.ones((16, 16, 1)))
            image[40:90, 30:100] = 0.9
            Image.fromarray((image * 255).astype(np.uint8)).save(folder / f"{i}.png")
        folders.append(folder)
    return folders


def test_training_logs_validates_and_exports(photo_folders, tmp_path):
    from training import train_denoiser

    train, val = photo_folders
    common = ["--data", str(train), "--val", str(val), "--val-count", "2", "--patch", "32", "--batch-size", "2",
              "--runs-dir", str(tmp_path / "runs"), "--export", str(tmp_path / "export"), "--run-name", "tiny",
              "--val-every", "2", "--log-every", "1", "--ckpt-every", "2", "--threads", "1"]
    train_denoiser.main(["--steps", "2", *common])
    rows = list(csv.DictReader((tmp_path / "runs" / "tiny" / "metrics.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2]
    assert {"loss_l1", "val_psnr_s15", "val_psnr_s25", "val_psnr_s50"} <= set(rows[-1])
    card = json.loads((tmp_path / "export" / "card.json").read_text())
    assert card["name"] == "drunet-lite" and card["task"] == "denoise"
    assert "python -m training.train_denoiser" in card["command"]
    assert set(card["training"]["validation"]["best"]) == {"val_psnr_s15"}
    model = build_model("drunet-lite")
    from studio.checkpoint import load_weights

    load_weights(model, tmp_path / "export" / "model.safetensors")  # the export loads back into the registry model


def test_missing_training_data_stops_with_one_line(tmp_path, capsys):
    from training import train_denoiser

    with pytest.raises(SystemExit) as stop:
        train_denoiser.main(["--data", str(tmp_path / "nowhere"), "--steps", "1"])
    assert "nowhere" in str(stop.value.code) and "studio.data check" in str(stop.value.code)
