"""The super-resolution training CLI end to end, on tiny settings: 3 real 64x64 crops of the shipped
sample photos, 32 px patches, batch 2, 3 steps; the exported folder must be a loadable, documented
model."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from models.srresnet import SRResNet
from studio.checkpoint import load_weights
from studio.imageio import load_image, save_png
from studio.sr import real_degradation
from studio.sr.degradation import mod_crop
from studio.registry import get_entry
from training import train_sr


@pytest.fixture(scope="module")
def tiny_data(photos, tmp_path_factory):
    root = tmp_path_factory.mktemp("sr_data")
    train, val = root / "train", root / "val"
    for name in ("bird", "butterfly", "comic"):
        save_png(load_image(photos / f"{name}.png")[64:128, 64:128], train / f"{name}.png")
    save_png(load_image(photos / "astronaut.png")[200:264, 200:264], val / "astronaut.png")
    return train, val


def run_preset(preset, tiny_data, tmp_path, *extra):
    train, val = tiny_data
    argv = ["--preset", preset, "--data", str(train), "--val", str(val), "--patch", "32", "--batch-size", "2",
            "--steps", "3", "--val-every", "3", "--log-every", "1", "--runs-dir", str(tmp_path / "runs"),
            "--export", str(tmp_path / "exp"), *extra]
    train_sr.main(argv)
    return argv


def read_csv(path):
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames), list(reader)


def check_export(tmp_path, preset, argv, tiny_data):
    export = tmp_path / "exp"
    assert (export / "model.safetensors").is_file() and (export / "card.json").is_file()
    card = json.loads((export / "card.json").read_text())
    assert card["name"] == preset and card["task"] == "sr" and card["scale"] == 4
    assert card["command"].startswith(f"python -m training.train_sr --preset {preset} ")
    assert "--steps 3" in card["command"] and "--patch 32" in card["command"]
    training = card["training"]
    assert training["preset"] == preset
    assert training["recipe"]["max_steps"] == 3 and training["recipe"]["batch_size"] == 2
    assert training["patch_hr"] == 32
    assert training["data"] == [str(tiny_data[0].resolve())]
    assert training["validation"]["data"] == str(tiny_data[1].resolve())
    best = training["validation"]["best"]["val_psnr_y"]
    assert best["step"] == 3 and 5 < best["value"] < 60
    assert training["wall_seconds"] >= 0 and training["hardware"]
    # the card points at the run log that was actually written
    assert Path(training["run_log"]) == tmp_path / "runs" / preset / "metrics.csv"
    assert Path(training["run_log"]).is_file()
    # the architecture in the card rebuilds the network and the weights fit it strictly
    model = get_entry(preset).builder(**card["architecture"])
    load_weights(model, export / "model.safetensors")
    assert card["parameters"] == sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        assert model.eval()(torch.rand(1, 3, 8, 8)).shape == (1, 3, 32, 32)
    return card


def test_srresnet_preset_tiny(tiny_data, tmp_path):
    argv = run_preset("srresnet", tiny_data, tmp_path)
    card = check_export(tmp_path, "srresnet", argv, tiny_data)
    assert card["architecture"]["channels"] == 48 and card["architecture"]["num_blocks"] == 12
    assert card["training"]["losses"] == {"pixel_l1": 1.0, "perceptual": 0.0, "adversarial": 0.0, "gan_loss": None}
    columns, rows = read_csv(tmp_path / "runs" / "srresnet" / "metrics.csv")
    assert {"step", "loss_pixel", "loss_g", "lr_g", "val_psnr_y"} <= set(columns)
    assert "loss_d" not in columns
    assert [int(r["step"]) for r in rows] == [1, 2, 3]
    config = json.loads((tmp_path / "runs" / "srresnet" / "config.json").read_text())
    assert config["extra"]["preset"] == "srresnet" and config["max_steps"] == 3


def test_srgan_v1_preset_tiny(tiny_data, tmp_path):
    argv = run_preset("srgan-v1", tiny_data, tmp_path)
    card = check_export(tmp_path, "srgan-v1", argv, tiny_data)
    assert card["architecture"]["norm"] == "batch" and card["architecture"]["output_activation"] == "sigmoid"
    assert card["training"]["losses"]["adversarial"] == pytest.approx(1e-3)
    assert card["training"]["recipe"]["betas"] == [0.5, 0.999]
    columns, rows = read_csv(tmp_path / "runs" / "srgan-v1" / "metrics.csv")
    assert {"loss_d", "loss_adv", "loss_pixel", "lr_d", "lr_g", "d_real", "d_fake"} <= set(columns)
    assert all(r["loss_d"] and r["loss_adv"] for r in rows)


def test_esrgan_pair_tiny_rrdb_then_relativistic_gan(tiny_data, tmp_path):
    argv = run_preset("rrdb-psnr", tiny_data, tmp_path, "--export", str(tmp_path / "exp"))
    card = check_export(tmp_path, "rrdb-psnr", argv, tiny_data)
    assert card["architecture"]["growth"] == 16 and card["architecture"]["num_blocks"] == 3
    assert card["training"]["losses"]["gan_loss"] is None  # no adversarial term in the PSNR stage
    train_sr.main(["--preset", "esrgan-lite", "--init-from", str(tmp_path / "exp"), "--steps", "2",
                   "--data", str(tiny_data[0]), "--val", str(tiny_data[1]), "--patch", "32", "--batch-size", "2",
                   "--log-every", "1", "--val-every", "2", "--runs-dir", str(tmp_path / "runs"),
                   "--export", str(tmp_path / "gan")])
    gan_card = json.loads((tmp_path / "gan" / "card.json").read_text())
    assert gan_card["training"]["losses"]["gan_loss"] == "relativistic"
    assert gan_card["architecture"] == card["architecture"]
    columns, rows = read_csv(tmp_path / "runs" / "esrgan-lite" / "metrics.csv")
    assert {"loss_d", "loss_adv", "loss_perceptual"} <= set(columns) and len(rows) == 2


def test_real_degradation_preset_trains_and_validates_on_real_degradations(tiny_data, tmp_path, monkeypatch):
    calls = []
    original_batch, original_one = real_degradation.degrade_batch, real_degradation.degrade

    def counting_batch(hr, rng, scale):
        calls.append(tuple(hr.shape))
        return original_batch(hr, rng, scale)

    validation_inputs = []

    def counting_one(hr, rng, scale=4):
        lr, info = original_one(hr, rng, scale)
        validation_inputs.append(lr)
        return lr, info

    monkeypatch.setattr(real_degradation, "degrade_batch", counting_batch)
    monkeypatch.setattr(real_degradation, "degrade", counting_one)
    argv = run_preset("real-srresnet", tiny_data, tmp_path)
    card = check_export(tmp_path, "real-srresnet", argv, tiny_data)
    assert calls == [(2, 3, 32, 32)] * 3  # every training batch went through the real-photo model
    assert "real_degradation" in card["training"]["degradation"]
    assert card["training"]["warmup"].startswith("initialised from srresnet")
    # the validation input is drawn before training, seeded, so every run and resume validates on it
    hr = mod_crop(load_image(next(tiny_data[1].iterdir())), 4)
    np.testing.assert_array_equal(validation_inputs[0], original_one(hr, np.random.default_rng([0, 0]), 4)[0])


def test_existing_run_needs_resume(tiny_data, tmp_path):
    run_preset("srresnet", tiny_data, tmp_path, "--export", "none")
    assert not (tmp_path / "exp").exists()
    with pytest.raises(SystemExit, match="already has a checkpoint.*--resume"):
        run_preset("srresnet", tiny_data, tmp_path, "--export", "none")
    # --resume of the finished run trains nothing more and still exports
    run_preset("srresnet", tiny_data, tmp_path, "--resume")
    assert (tmp_path / "exp" / "model.safetensors").is_file()


def test_gan_stage_starts_from_the_pixel_stage(tiny_data, tmp_path):
    run_preset("srresnet", tiny_data, tmp_path, "--export", str(tmp_path / "pixel"))
    train_sr.main(["--preset", "srgan-v2", "--init-from", str(tmp_path / "runs" / "srresnet"), "--steps", "0",
                   "--data", str(tiny_data[0]), "--val", str(tiny_data[1]), "--patch", "32", "--batch-size", "2",
                   "--runs-dir", str(tmp_path / "runs"), "--run-name", "gan", "--export", str(tmp_path / "gan")])
    # with no step taken, the GAN stage's generator is the pixel stage's, weight for weight
    pixel = load_weights(SRResNet(**json.loads((tmp_path / "pixel" / "card.json").read_text())["architecture"]),
                         tmp_path / "pixel" / "model.safetensors")
    gan = load_weights(SRResNet(**json.loads((tmp_path / "gan" / "card.json").read_text())["architecture"]),
                       tmp_path / "gan" / "model.safetensors")
    for key, value in pixel.state_dict().items():
        torch.testing.assert_close(gan.state_dict()[key], value)


# ---- command-line errors: one line, a non-zero exit, and before the images are loaded --------------

@pytest.fixture
def no_loading(monkeypatch):
    """Fails the test if the command gets as far as loading training images."""
    def refuse(*args, **kwargs):
        raise AssertionError("the command loaded its data before finding the error")

    monkeypatch.setattr(train_sr, "ImageBank", refuse)


@pytest.mark.parametrize("extra, message", [
    (["--init-from", "{tmp}/weights.pth"], "pickle-based checkpoints are refused"),
    (["--resume", "--run-name", "never-ran"], "--resume: no checkpoint at"),
    (["--runs-dir", "{tmp}/a-file/runs"], "is a file, so no folder can be made under it"),
    (["--export", "{tmp}/a-file/export"], "--export"),
    (["--run-name", "earlier"], "run 'earlier' already has a checkpoint"),
    (["--data", "{tmp}/nothing-here"], "--data/--val: no images in"),
    (["--lr", "nan"], "argument --lr: expected a finite number"),
    (["--steps", "-1"], "argument --steps: must be at least 0"),
])
def test_training_errors_are_one_line_before_any_work(tiny_data, tmp_path, capsys, no_loading, extra, message):
    (tmp_path / "weights.pth").write_bytes(b"not a safetensors file")
    (tmp_path / "a-file").write_text("")
    (tmp_path / "runs" / "earlier").mkdir(parents=True)
    (tmp_path / "runs" / "earlier" / "state.safetensors").write_bytes(b"")
    train, val = tiny_data
    argv = ["--preset", "srresnet", "--data", str(train), "--val", str(val), "--patch", "32", "--batch-size", "2",
            "--steps", "1", "--runs-dir", str(tmp_path / "runs"), "--export", "none"]
    argv += [item.format(tmp=tmp_path) for item in extra]  # a repeated option: the last one counts
    with pytest.raises(SystemExit) as stop:
        train_sr.main(argv)
    said = str(stop.value.code) if isinstance(stop.value.code, str) else capsys.readouterr().err
    assert stop.value.code != 0 and message in said, said
    assert len(said.strip().splitlines()) == 1, said
