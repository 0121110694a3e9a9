"""training.protocol on tiny settings: a generated 3-class x 6-image folder of 16x16 images, and 32
px super-resolution patches with a 1-block generator. Every command writes its CSV schema; the
checks the issue names are asserted for real: the initial loss against -log(1/C), overfitting to
near-zero loss, the LR finder restoring weights and optimizer, and a grid search that resumes."""

from __future__ import annotations

import copy
import csv
import math

import numpy as np
import pytest
import torch

import studio.registry as registry
from studio.engine import STATE_FILE, Trainer
from studio.imageio import load_image, save_png
from tests.protocol_fixtures import make_image_folder
from training import protocol
from training.protocol import grid_search

GRID_COLUMNS = ["experiment", "model", "trial", "state", "status", "params_lr", "params_weight_decay",
                "params_blocks_per_stage", "params_dilation", "metric", "value", "best_step", "val_loss",
                "val_macro_f1", "train_loss", "steps", "seconds", "run", "dataset"]


@pytest.fixture(autouse=True)
def no_shipped_cards(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "CHECKPOINT_DIR", tmp_path / "no-checkpoints")


@pytest.fixture(scope="module")
def eurosat(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("data") / "eurosat")


@pytest.fixture(scope="module")
def sr_data(photos, tmp_path_factory):
    root = tmp_path_factory.mktemp("sr")
    for name in ("bird", "butterfly"):
        save_png(load_image(photos / f"{name}.png")[64:128, 64:128], root / "train" / f"{name}.png")
    save_png(load_image(photos / "astronaut.png")[200:264, 200:264], root / "val" / "astronaut.png")
    return root


def classifier_args(eurosat, tmp_path, model="dilated-cnn", name=None):
    return ["--model", model, "--name", name or model, "--data", str(eurosat), "--image-size", "16",
            "--val-fraction", "0.34", "--test-fraction", "0.34", "--batch-size", "6", "--threads", "1",
            "--out-dir", str(tmp_path / "protocol"), "--runs-dir", str(tmp_path / "runs"), "--quiet"]


def sr_args(sr_data, tmp_path):
    return ["--model", "srresnet", "--data", str(sr_data / "train"), "--val", str(sr_data / "val"), "--patch", "32",
            "--batch-size", "2", "--threads", "1", "--set", "channels=8", "--set", "num_blocks=1",
            "--out-dir", str(tmp_path / "protocol"), "--runs-dir", str(tmp_path / "runs"), "--quiet"]


def read(path):
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames), list(reader)


@pytest.mark.parametrize("model", ["dilated-cnn", "resnet-dropout"])
def test_check_init_matches_log_c(eurosat, tmp_path, model):
    rows, gradients = protocol.main(["check-init", *classifier_args(eurosat, tmp_path, model), "--batches", "3"])
    summary = rows[-1]
    assert summary["batch"] == "mean" and summary["expected_loss"] == pytest.approx(math.log(3))
    assert abs(summary["loss"] - math.log(3)) < 0.05  # -log(1/C) on a fresh model
    assert summary["passed"] and summary["gradients_ok"] and summary["zero_grad_tensors"] == 0
    assert summary["param_tensors"] == len(gradients) > 10
    assert all(row["grad_norm"] > 0 for row in gradients)
    columns, written = read(tmp_path / "protocol" / model / "check-init.csv")
    assert columns[:9] == ["experiment", "model", "task", "batch", "batch_size", "loss", "expected_loss",
                           "difference", "expected_source"]
    assert [r["batch"] for r in written] == ["0", "1", "2", "mean"]
    columns, written = read(tmp_path / "protocol" / model / "check-init-gradients.csv")
    assert columns == ["experiment", "model", "parameter", "shape", "numel", "grad_norm", "nonzero_fraction", "zero"]
    assert all(r["zero"] == "False" for r in written)


def test_check_init_flags_a_parameter_without_gradient(eurosat, tmp_path, monkeypatch):
    real = protocol.ClassifierFamily.task

    def frozen_head(self, *args, **kwargs):
        task = real(self, *args, **kwargs)
        build = task.build_modules

        def build_modules(cfg):
            modules = build(cfg)
            modules["g"].head.bias.register_hook(lambda grad: torch.zeros_like(grad))
            return modules

        task.build_modules = build_modules
        return task

    monkeypatch.setattr(protocol.ClassifierFamily, "task", frozen_head)
    rows, _ = protocol.main(["check-init", *classifier_args(eurosat, tmp_path)])
    assert rows[-1]["zero_grad_names"] == "head.bias" and not rows[-1]["gradients_ok"]


def test_overfit_small_reaches_near_zero_loss(eurosat, tmp_path):
    row = protocol.main(["overfit-small", *classifier_args(eurosat, tmp_path), "--examples", "6", "--steps", "200",
                         "--lr", "1e-3"])
    assert row["reached"] and row["final_loss"] <= 0.01 and row["target_loss"] == 0.01
    assert row["initial_loss"] > 0.5 and row["steps_taken"] < 200 and row["weight_decay"] == 0.0
    assert row["train_accuracy_eval"] == 1.0
    run = tmp_path / "runs" / "dilated-cnn-overfit-small"
    columns, logged = read(run / "metrics.csv")
    assert [int(r["step"]) for r in logged] == list(range(1, row["steps_taken"] + 1))
    assert float(logged[-1]["loss"]) <= 0.01 and not (run / STATE_FILE).exists()
    columns, written = read(tmp_path / "protocol" / "dilated-cnn" / "overfit-small.csv")
    assert columns[:12] == ["experiment", "model", "task", "n_examples", "batch_size", "lr", "weight_decay", "augment",
                            "max_steps", "steps_taken", "initial_loss", "final_loss"]
    # a budget too small is reported as such
    short = protocol.main(["overfit-small", *classifier_args(eurosat, tmp_path), "--examples", "6", "--steps", "2"])
    assert not short["reached"] and short["steps_taken"] == 2


def state_copy(trainer):
    return ({n: copy.deepcopy(m.state_dict()) for n, m in trainer.modules.items()},
            {n: copy.deepcopy(o.state_dict()) for n, o in trainer.optimizers.items()})


def assert_same_state(before, after):
    for name, tensors in before[0].items():
        for key, value in tensors.items():
            assert torch.equal(value, after[0][name][key]), key
    for name, state in before[1].items():
        other = after[1][name]
        assert state["param_groups"] == other["param_groups"]
        assert state["state"].keys() == other["state"].keys()
        for index, entries in state["state"].items():
            for key, value in entries.items():
                assert torch.equal(torch.as_tensor(value), torch.as_tensor(other["state"][index][key]))


@pytest.mark.parametrize("model", ["dilated-cnn", "resnet-dropout"])
def test_lr_find_restores_weights_and_optimizer(eurosat, tmp_path, model):
    args = protocol.build_parser().parse_args(["lr-find", *classifier_args(eurosat, tmp_path, model)])
    args.name = model
    family = protocol.make_family(args)
    task = family.task()
    trainer = Trainer(task, protocol.train_config(args, family, "lr-test", lr=1e-3))
    for step in range(2):  # the optimizer has momentum state to restore, not only weights
        batch = protocol.batch_to_device(trainer, task.sample_batch(np.random.default_rng(step), 6, "cpu"))
        trainer.train_step("g", batch)
    before = state_copy(trainer)
    rng_before = torch.get_rng_state()
    moved = []
    real_update = trainer.train_step

    def spy(phase, batch):
        logs = real_update(phase, batch)
        moved.append(not torch.equal(trainer.modules["g"].head.weight, before[0]["g"]["head.weight"]))
        return logs

    trainer.train_step = spy
    result = protocol.lr_range_test(trainer, task, "loss", 1e-5, 1.0, num_steps=12)
    assert len(result["rows"]) >= 6 and any(moved)  # the sweep really trained ...
    assert_same_state(before, state_copy(trainer))  # ... and everything is back
    assert torch.equal(torch.get_rng_state(), rng_before)
    assert trainer.optimizers["g"].param_groups[0]["lr"] == 1e-3
    lrs = [r["lr"] for r in result["rows"]]
    assert lrs == sorted(lrs) and lrs[0] == pytest.approx(1e-5)
    assert np.allclose(np.diff(np.log(lrs)), np.log(lrs[1] / lrs[0]))  # log-spaced


def test_lr_find_cli_writes_curve_and_suggestions(eurosat, tmp_path):
    result = protocol.main(["lr-find", *classifier_args(eurosat, tmp_path), "--num-steps", "15", "--start-lr", "1e-5"])
    columns, rows = read(tmp_path / "protocol" / "dilated-cnn" / "lr-find.csv")
    assert columns == ["experiment", "model", "step", "lr", "loss", "smoothed_loss"]
    assert len(rows) == len(result["rows"]) >= 6
    columns, suggestions = read(tmp_path / "protocol" / "dilated-cnn" / "lr-find-suggestions.csv")
    assert columns[:7] == ["experiment", "model", "method", "index", "lr", "note", "smoothed_loss"]
    assert [s["method"] for s in suggestions] == ["steepest", "min/10", "valley"]
    assert all(1e-6 <= float(s["lr"]) <= 1.0 for s in suggestions)


def test_lr_suggestions_on_a_known_curve():
    lrs = np.logspace(-6, 0, 61)
    x = np.log10(lrs)
    # flat until 1e-4, falls fastest around 1e-3, bottoms at 1e-2, explodes after
    loss = 2.0 - 1.5 / (1 + np.exp(-(x + 3) * 4)) + np.where(x > -2, (x + 2) ** 2 * 5, 0)
    suggestions = {s["method"]: s["lr"] for s in protocol.suggest_lrs(lrs, loss)}
    assert 3e-4 < suggestions["steepest"] < 3e-3
    minimum = lrs[int(np.argmin(loss))]
    assert suggestions["min/10"] == pytest.approx(minimum / 10)
    # the curve decreases from its first point to the minimum (index ~40): fastai's valley sits about
    # half-way along that stretch, in steps
    assert lrs[15] <= suggestions["valley"] <= lrs[25]
    assert protocol.smooth_losses([1.0, 1.0, 1.0]) == pytest.approx([1.0, 1.0, 1.0])


def grid_argv(eurosat, tmp_path, *extra):
    return ["grid-search", *classifier_args(eurosat, tmp_path), "--steps", "2", "--lr", "1e-3", "3e-3",
            "--weight-decay", "0", "--grid", "blocks_per_stage=2", "--grid", "dilation=2,3",
            "--grid-dir", str(tmp_path / "grid"), *extra]


def test_interrupted_grid_search_resumes(eurosat, tmp_path, monkeypatch):
    csv_path = tmp_path / "protocol" / "dilated-cnn" / "grid-search.csv"
    first = protocol.main(grid_argv(eurosat, tmp_path, "--n-trials", "2"))
    assert first["grid_size"] == 4 and first["ran"] == 2 and len(first["rows"]) == 2
    assert (tmp_path / "grid" / "dilated-cnn.db").is_file()  # SQLite storage by default
    columns, rows = read(csv_path)
    assert columns == GRID_COLUMNS and len(rows) == 2
    done_first = {(r["params_lr"], r["params_dilation"]) for r in rows}

    real = grid_search.run_grid_trial
    calls = {"n": 0}

    def interrupted(*args, **kwargs):  # Ctrl-C during the next trial
        calls["n"] += 1
        raise KeyboardInterrupt

    monkeypatch.setattr(grid_search, "run_grid_trial", interrupted)
    second = protocol.main(grid_argv(eurosat, tmp_path))
    assert second["interrupted"] and calls["n"] == 1 and len(read(csv_path)[1]) == 2

    seen = []
    monkeypatch.setattr(grid_search, "run_grid_trial", lambda args, family, params: seen.append(params) or real(
        args, family, params))
    third = protocol.main(grid_argv(eurosat, tmp_path))
    assert third["ran"] == 2 and third["finished_before"] == 2 and not third["interrupted"]
    assert {(str(p["lr"]), str(p["dilation"])) for p in seen}.isdisjoint(
        {(lr, d) for lr, d in done_first})  # only the remaining grid points ran (the interrupted one included)
    columns, rows = read(csv_path)
    assert len(rows) == 4 and all(r["state"] == "COMPLETE" and r["status"] == "ok" for r in rows)
    assert {(float(r["params_lr"]), int(r["params_dilation"])) for r in rows} == {
        (1e-3, 2), (1e-3, 3), (3e-3, 2), (3e-3, 3)}
    for row in rows:
        assert 0.0 <= float(row["value"]) <= 1.0 and row["metric"] == "val_accuracy" and row["steps"] == "2"
        run = tmp_path / "runs" / row["run"]
        assert (run / "metrics.csv").is_file() and not (run / STATE_FILE).exists()
    fourth = protocol.main(grid_argv(eurosat, tmp_path))
    assert fourth["ran"] == 0 and len(read(csv_path)[1]) == 4


def test_grid_search_any_database_url_and_from_grid_training(eurosat, tmp_path):
    url = f"sqlite:///{tmp_path / 'shared' / 'studies.db'}"
    protocol.main(grid_argv(eurosat, tmp_path, "--storage", url, "--study", "shared-study"))
    assert (tmp_path / "shared" / "studies.db").is_file() and not (tmp_path / "grid").exists()
    _, rows = read(tmp_path / "protocol" / "dilated-cnn" / "grid-search.csv")
    best = max(rows, key=lambda r: float(r["value"]))
    export = tmp_path / "export"
    row = protocol.main(["train", *classifier_args(eurosat, tmp_path), "--from-grid", "--steps", "3",
                         "--export", str(export)])
    assert row["from_grid_trial"] == int(best["trial"]) and row["lr"] == float(best["params_lr"])
    assert row["model_config"] == {"blocks_per_stage": 2, "dilation": int(best["params_dilation"])}
    assert (export / "model.safetensors").is_file()
    columns, _ = read(tmp_path / "protocol" / "dilated-cnn" / "train.csv")
    assert columns[:12] == ["experiment", "model", "run", "dataset", "steps", "batch_size", "lr", "weight_decay",
                            "model_config", "from_grid_trial", "metric", "best_value"]


def test_baselines_train_and_evaluate_classifier(eurosat, tmp_path):
    rows = protocol.main(["baselines", *classifier_args(eurosat, tmp_path)])
    assert [(r["split"], r["baseline"]) for r in rows] == [("val", "majority"), ("val", "uniform-random"),
                                                           ("test", "majority"), ("test", "uniform-random")]
    for row in rows:
        assert 0 <= row["accuracy"] <= 1 and 0 <= row["macro_f1"] <= 1 and row["num_classes"] == 3
        if row["baseline"] == "majority":
            assert row["accuracy"] == pytest.approx(row["expected_accuracy"]) == pytest.approx(1 / 3)
            assert row["macro_f1"] == pytest.approx((2 * (1 / 3) / (1 + 1 / 3)) / 3)  # one class predicted
    export = tmp_path / "export"
    protocol.main(["train", *classifier_args(eurosat, tmp_path), "--steps", "4", "--lr", "3e-3",
                   "--export", str(export)])
    result = protocol.main(["evaluate", *classifier_args(eurosat, tmp_path), "--checkpoint", str(export)])
    assert [r["split"] for r in result["rows"]] == ["test", "val"]
    for row in result["rows"]:
        assert row["n"] == 6 and 0 <= row["accuracy"] <= 1
    columns, confusion = read(tmp_path / "protocol" / "dilated-cnn" / "evaluate-confusion.csv")
    assert columns == ["split", "true_index", "true_class", "AnnualCrop", "Forest", "River"]
    test_rows = [r for r in confusion if r["split"] == "test"]
    matrix = np.array([[int(r[c]) for c in columns[3:]] for r in test_rows])
    assert matrix.sum() == 6 and matrix.sum(1).tolist() == [2, 2, 2]
    assert np.trace(matrix) / 6 == pytest.approx(result["rows"][0]["accuracy"])
    columns, _ = read(tmp_path / "protocol" / "dilated-cnn" / "evaluate-per-class.csv")
    assert columns == ["split", "class_index", "class", "name", "precision", "recall", "f1", "support"]
    columns, _ = read(tmp_path / "protocol" / "dilated-cnn" / "evaluate.csv")
    assert columns[:7] == ["experiment", "model", "split", "n", "num_classes", "accuracy", "macro_f1"]


def test_course_protocol_constant_lr_and_best_checkpoint_export(eurosat, sr_data, tmp_path):
    """The course report's full training: no scheduler, and the best validation step exported."""
    import json

    from studio.checkpoint import load_tensors

    export = tmp_path / "best-export"
    row = protocol.main(["train", *classifier_args(eurosat, tmp_path), "--steps", "6", "--val-every", "2",
                         "--lr", "3e-3", "--scheduler", "none", "--export-best", "--export", str(export)])
    log = read(tmp_path / "runs" / "dilated-cnn" / "metrics.csv")[1]
    assert {float(r["lr_g"]) for r in log if r.get("lr_g")} == {3e-3}  # constant: no schedule
    validated = [(int(r["step"]), float(r["val_accuracy"])) for r in log if r.get("val_accuracy")]
    best_step = max(validated, key=lambda sv: sv[1])[0]  # the first of the best (ties keep the earlier)
    card = json.loads((export / "card.json").read_text())
    assert card["training"]["exported"]["step"] == best_step
    assert card["training"]["recipe"]["scheduler"] == "none"
    assert row["scheduler"] == "none" and row["exported_weights"] == f"best validation accuracy (step {best_step})"
    # the exported weights are the best step's, saved when it was reached
    best, _ = load_tensors(tmp_path / "runs" / "dilated-cnn" / "best.safetensors")
    shipped, _ = load_tensors(export / "model.safetensors")
    assert all(torch.equal(best[k], shipped[k]) for k in best)
    assert card["metrics"]["val_accuracy"] == pytest.approx(dict(validated)[best_step])
    with pytest.raises(SystemExit, match="apply to the classifiers"):
        protocol.main(["train", *sr_args(sr_data, tmp_path), "--steps", "1", "--export-best"])


def test_unknown_model_and_task_are_clear_errors(eurosat, tmp_path):
    with pytest.raises(SystemExit, match="unknown model"):
        protocol.main(["check-init", *classifier_args(eurosat, tmp_path, "no-such-model")])
    with pytest.raises(SystemExit, match="covers classification and sr"):
        protocol.main(["check-init", *classifier_args(eurosat, tmp_path, "unet-light-v3")])


def test_super_resolution_protocol(sr_data, tmp_path):
    rows, gradients = protocol.main(["check-init", *sr_args(sr_data, tmp_path), "--batches", "2"])
    summary = rows[-1]
    assert summary["expected_source"].startswith("L1 of the bicubic-upscaled input")
    assert 0 < summary["expected_loss"] < 0.2 and summary["loss"] > 0 and summary["gradients_ok"]
    result = protocol.main(["lr-find", *sr_args(sr_data, tmp_path), "--num-steps", "8", "--start-lr", "1e-5"])
    assert len(result["rows"]) >= 6 and {s["method"] for s in result["suggestions"]} == {"steepest", "min/10", "valley"}
    grid = protocol.main(["grid-search", *sr_args(sr_data, tmp_path), "--steps", "2", "--lr", "1e-3",
                          "--weight-decay", "0", "1e-4", "--grid", "channels=8", "--grid", "num_blocks=1",
                          "--grid-dir", str(tmp_path / "grid")])
    assert grid["ran"] == 2
    columns, rows = read(tmp_path / "protocol" / "srresnet" / "grid-search.csv")
    assert {"params_channels", "params_num_blocks", "val_input_psnr_y"} <= set(columns)
    assert all(r["metric"] == "val_psnr_y" and 5 < float(r["value"]) < 60 for r in rows)
    log_columns, logged = read(tmp_path / "runs" / rows[0]["run"] / "metrics.csv")
    assert {"val_psnr_y", "val_input_psnr_y"} <= set(log_columns)  # the baseline the dashboard draws
    assert float(logged[-1]["val_input_psnr_y"]) > 20
    baselines = protocol.main(["baselines", *sr_args(sr_data, tmp_path)])
    assert [r["baseline"] for r in baselines] == ["input (bicubic-upscaled)", "bicubic", "lanczos"]
    assert baselines[0]["psnr_y"] == pytest.approx(baselines[1]["psnr_y"])


def test_the_reports_settings_reach_every_trial_and_the_final_run(eurosat, tmp_path):
    """The Tiny ImageNet study's settings: a constant LR in the grid, bf16 autocast, the report's
    augmentation and a validation subset, recorded in each run's config and card."""
    import json

    extra = ["--amp", "--augmentation", "resized-crop-jitter", "--val-limit", "3"]
    protocol.main(grid_argv(eurosat, tmp_path, "--scheduler", "none", *extra))
    _, rows = read(tmp_path / "protocol" / "dilated-cnn" / "grid-search.csv")
    for row in rows:
        config = json.loads((tmp_path / "runs" / row["run"] / "config.json").read_text())
        assert config["scheduler"] == "none" and config["amp"] is True
        log = read(tmp_path / "runs" / row["run"] / "metrics.csv")[1]
        assert {float(r["lr_g"]) for r in log if r.get("lr_g")} == {float(row["params_lr"])}
    export = tmp_path / "export"
    protocol.main(["train", *classifier_args(eurosat, tmp_path), *extra, "--steps", "2", "--export", str(export)])
    card = json.loads((export / "card.json").read_text())
    assert card["augmentation"].startswith("train only (the Tiny ImageNet report's)")
    assert card["dataset"]["sizes"]["val"] == 3 and card["training"]["recipe"]["amp"] is True
    assert "--augmentation resized-crop-jitter" in card["command"] and "--val-limit 3" in card["command"]
