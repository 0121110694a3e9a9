"""training/train_deblur.py: presets from the logbook, both recipes, and a two-step run through
the shared engine (gradient accumulation and clipping) that exports a loadable model + card."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from studio.checkpoint import CARD_FILE, CheckpointError, load_tensors, save_model
from studio.engine import describe_init, load_initial_weights
from studio.registry import build_model, create_model
from training import train_deblur as td


def _args(*extra):
    return td.parse_args(["--preset", *extra])


def test_presets_follow_the_logbook():
    # the full-size recipe: the logbook's settings (v3's lr, which the logbook does not give, is v1's 2e-4)
    v1, v3, nonorm = (_args(p, "--recipe", "gpu") for p in ("unet-light-v1", "unet-light-v3", "unet-light-nonorm"))
    assert (v1.scheduler, v1.lr, v1.weight_decay, v1.jitter) == ("plateau", 2e-4, 1e-4, 0.0)
    assert (v3.scheduler, v3.lr, v3.weight_decay, v3.jitter) == ("cosine", 2e-4, 1e-3, 0.15)
    assert (nonorm.scheduler, nonorm.lr, nonorm.weight_decay) == ("cosine", 1e-4, 1e-3)
    # the CPU budget keeps everything but the learning rate of v1/v3 (5e-4 for a few hundred steps)
    cpu = {p: _args(p) for p in ("unet-light-v1", "unet-light-v3", "unet-light-nonorm")}
    assert [cpu[p].lr for p in cpu] == [5e-4, 5e-4, 1e-4]
    for full, args in zip((v1, v3, nonorm), cpu.values()):
        assert (args.scheduler, args.weight_decay, args.jitter) == (full.scheduler, full.weight_decay, full.jitter)
        assert args.grad_clip > 0 and args.recipe == "cpu" and args.patch < 256


def test_gpu_recipes_are_full_size():
    for preset in ("unet-light-v1", "unet-light-v3", "unet-light-nonorm", "unet-standard"):
        args = _args(preset, "--recipe", "gpu")
        assert args.patch == 256 and 8 <= args.batch_size <= 16
        assert args.steps is None  # counted from the data once it is loaded: 150 epochs of the real split
    from types import SimpleNamespace

    # an epoch is the training pairs of the split actually used (GoPro after the split by sequence) ...
    gopro = SimpleNamespace(args=SimpleNamespace(gopro="/GOPRO_Large"), source=[None] * 1890)
    assert td.epoch_steps(gopro, 8) == 1890 // 8 and td.GOPRO_EPOCHS == 150
    # ... or GoPro's own train size when the recipe runs on synthetic blur
    synthetic = SimpleNamespace(args=SimpleNamespace(gopro=None), source=[None] * 5)
    assert td.epoch_steps(synthetic, 16) == td.GOPRO_TRAIN_PAIRS // 16


def test_unet_standard_has_no_cpu_recipe(capsys):
    with pytest.raises(SystemExit):
        _args("unet-standard")
    assert "architecture only" in capsys.readouterr().err


def test_overrides_win_over_presets():
    args = _args("unet-light-v3", "--lr", "5e-4", "--patch", "64", "--steps", "3")
    assert (args.lr, args.patch, args.steps, args.weight_decay) == (5e-4, 64, 3, 1e-3)


def test_two_step_run_exports_a_loadable_model(tmp_path, photos):
    export = tmp_path / "export"
    argv = ["--preset", "unet-light-v1", "--steps", "2", "--patch", "32", "--batch-size", "2", "--grad-accum", "2",
            "--val-count", "2", "--val-every", "2", "--log-every", "1", "--ckpt-every", "2", "--max-kernel", "9",
            "--data", str(photos), "--val", str(photos), "--runs-dir", str(tmp_path / "runs"),
            "--run-name", "tiny", "--export", str(export), "--threads", "1"]
    td.main(argv)
    card = json.loads((export / CARD_FILE).read_text())
    assert card["name"] == "unet-light-v1" and card["task"] == "deblur" and card["trained"] is True
    assert card["architecture"]["start_filters"] == 32
    training = card["training"]
    assert training["recipe"]["grad_accum"] == 2 and training["recipe"]["grad_clip"] == 1.0
    assert training["recipe"]["scheduler"] == "plateau"
    assert training["augmentation"]["in_validation"] == "none"
    assert set(training["data"]["kernels"]) >= {"train", "validation", "evaluation"}
    assert "val_psnr" in training["validation"]["best"]
    assert card["command"].startswith("python -m training.train_deblur --preset unet-light-v1")
    assert "logbook" in card and card["parameters"] > 2.5e6
    with (tmp_path / "runs" / "tiny" / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {"loss_l1", "grad_norm_g", "val_psnr", "val_input_psnr", "val_gain"} <= set(rows[-1])
    model = create_model("unet-light-v1", checkpoint=export)
    assert any(p.abs().sum() > 0 for p in model.tail.parameters())  # trained away from the identity
    with torch.no_grad():
        assert model(torch.rand(1, 3, 9, 11)).shape == (1, 3, 9, 11)


def test_time_step_prints_and_trains_nothing(tmp_path, photos, capsys):
    seconds = td.main(["--preset", "unet-light-nonorm", "--time-step", "--patch", "32", "--batch-size", "2",
                       "--max-kernel", "9", "--data", str(photos), "--val", str(photos),
                       "--val-count", "1", "--runs-dir", str(tmp_path / "runs"), "--export", str(tmp_path / "x")])
    assert len(seconds) == 3 and all(s > 0 for s in seconds)
    assert "s/step" in capsys.readouterr().out
    assert not (tmp_path / "x").exists() and not (tmp_path / "runs").exists()


def test_task_batches_are_a_function_of_the_generator(photos):
    args = _args("unet-light-v3", "--patch", "32", "--max-kernel", "9", "--data", str(photos),
                 "--val", str(photos), "--val-count", "2")
    task = td.DeblurTask("unet-light-v3", args)
    a = task.sample_batch(np.random.default_rng([0, 0, 5]), 3, "cpu")
    b = task.sample_batch(np.random.default_rng([0, 0, 5]), 3, "cpu")
    assert a["blurred"].shape == a["sharp"].shape == (3, 3, 32, 32)
    torch.testing.assert_close(a["blurred"], b["blurred"])
    assert not torch.equal(a["blurred"], a["sharp"])
    assert isinstance(task.build_modules(None)["g"], type(build_model("unet-light-v3")))


def test_second_stage_starts_from_the_first_and_its_card_names_it(tmp_path, photos):
    common = ["--preset", "unet-light-v1", "--steps", "1", "--patch", "32", "--batch-size", "2", "--val-count", "1",
              "--val-every", "1", "--max-kernel", "9", "--data", str(photos), "--val", str(photos),
              "--runs-dir", str(tmp_path / "runs"), "--threads", "1"]
    td.main([*common, "--run-name", "stage1", "--export", "none"])
    stage1 = tmp_path / "runs" / "stage1"
    # the run folder's fp32 state is what the second stage loads, weight for weight
    model = build_model("unet-light-v1")
    assert load_initial_weights(model, stage1) == stage1 / "state.safetensors"
    tensors, _ = load_tensors(stage1 / "state.safetensors")
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, tensors[f"module.g.{key}"])
    assert not torch.equal(model.state_dict()["tail.weight"], build_model("unet-light-v1").state_dict()["tail.weight"])

    export = tmp_path / "export"
    td.main([*common, "--run-name", "stage2", "--init-from", str(stage1), "--patch", "48", "--export", str(export)])
    card = json.loads((export / CARD_FILE).read_text())
    first = card["training"]["init_from"]
    assert first["source"] == str(stage1) and first["patch"] == 32 and first["steps"] == 1
    assert first["run_log"].endswith("stage1/metrics.csv") and card["training"]["patch"] == 48
    assert "--run-name stage1" in first["command"] and "--init-from" in card["command"]
    # an exported model folder works as a source too
    load_initial_weights(build_model("unet-light-v1"), export)


def test_init_from_refuses_what_does_not_fit(tmp_path):
    with pytest.raises(CheckpointError, match="no model folder"):
        load_initial_weights(build_model("unet-light-v1"), tmp_path / "nowhere")
    save_model(build_model("unet-light-v1"), tmp_path / "v1", {"name": "unet-light-v1"})
    with pytest.raises(CheckpointError, match="do not fit"):  # 32-filter weights into the 48-filter v3
        load_initial_weights(build_model("unet-light-v3"), tmp_path / "v1")


def test_first_stage_command_falls_back_to_the_card_it_exported(tmp_path):
    run = tmp_path / "runs" / "old"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"max_steps": 7, "extra": {"patch": 96}}))  # no command logged
    (run / "state.safetensors").touch()  # describing a stage reads its config, not its weights
    (tmp_path / "cards" / "m").mkdir(parents=True)
    (tmp_path / "cards" / "m" / "card.json").write_text(json.dumps(
        {"command": "python -m training.train_deblur --preset unet-light-v3", "training": {"run_log": str(run / "metrics.csv")}}))
    info = describe_init(run, cards_dir=tmp_path / "cards")
    assert info["command"] == "python -m training.train_deblur --preset unet-light-v3" and info["steps"] == 7
    assert "command" not in describe_init(run, cards_dir=tmp_path / "elsewhere")
