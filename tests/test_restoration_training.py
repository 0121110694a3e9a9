"""training.train_restoration on tiny configs (a few steps, tiny images), its logs as the dashboard
reads them, and ``--task restoration`` through studio.evaluate."""

from __future__ import annotations

import csv
import json
from types import SimpleNamespace

import numpy as np
import pytest

from studio import results as dash
from studio import evaluate as ev
from studio import evaluation
from studio.metrics import psnr
from studio.registry import create_model
from studio.tasks import get_task
from training import train_restoration as tr

TINY = ["--steps", "3", "--patch", "24", "--batch-size", "2", "--val-every", "3", "--log-every", "1",
        "--threads", "1"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, photos):
    """One tiny run per preset, on the shipped sample photos (training and validation)."""
    root = tmp_path_factory.mktemp("restoration")
    out = {}
    for preset in tr.PRESETS:
        export = root / "ckpt" / preset
        warmup = ["--warmup-steps", "1"] if preset == "pix2pix-gan" else []
        tr.main(["--preset", preset, *TINY, *warmup, "--data", str(photos), "--val", str(photos),
                 "--runs-dir", str(root / "runs"), "--export", str(export)])
        with (root / "runs" / preset / "metrics.csv").open() as handle:
            rows = list(csv.DictReader(handle))
        out[preset] = SimpleNamespace(rows=rows, export=export, card=json.loads((export / "card.json").read_text()),
                                      metrics=root / "runs" / preset / "metrics.csv")
    return out


def test_every_preset_snapshots_the_same_validation_images_for_the_replay(runs):
    from studio.snapshots import read_snapshots

    replays = {preset: read_snapshots(run.metrics.parent) for preset, run in runs.items()}
    crops = {tuple(replay.crops) for replay in replays.values()}
    assert len(crops) == 1 and len(next(iter(crops))) == tr.SNAPSHOT_CROPS  # one set of crops for the family
    for preset, replay in replays.items():
        assert replay.family == "restoration" and replay.steps == [3] and not replay.problems, preset
        crop = replay.crops[0]
        output, target = replay.image("output", crop, 3), replay.image("target", crop)
        assert output.shape == target.shape == (24, 24, 3), preset
        assert replay.psnr[(3, crop)] == pytest.approx(psnr(output, target), abs=1e-3)


def test_every_preset_logs_its_losses_and_validation(runs):
    expected = {
        "vae-unet": {"loss_recon", "loss_kl", "beta"},
        "pix2pix-gan": {"loss_d", "d_real", "d_fake", "loss_adv", "loss_l1", "loss_perceptual", "loss_g"},
        "cnn-two-stage": {"loss_cnn1", "loss_cnn1_l1", "loss_cnn1_mse", "loss_cnn1_perceptual", "loss_cnn2"},
    }
    for preset, run in runs.items():
        assert len(run.rows) == 3
        assert expected[preset] <= set(run.rows[0]), preset
        last = run.rows[-1]
        assert all(last[key] != "" for key in expected[preset]), preset
        for key in ("val_psnr", "val_psnr_y", "val_input_psnr", "val_input_psnr_y"):
            assert np.isfinite(float(last[key]))


def test_the_dashboard_reads_the_kl_and_gan_columns(runs):
    vae = dash.read_table(runs["vae-unet"].metrics, dash.REQUIRED["metrics.csv"]).frame
    assert "loss_kl" in dash.curve_groups(vae)["loss"] and dash.run_kind(vae) == "psnr"
    gan = dash.read_table(runs["pix2pix-gan"].metrics, dash.REQUIRED["metrics.csv"]).frame
    groups = dash.curve_groups(gan)
    assert dash.is_gan(gan) and {"loss_d", "loss_adv", "loss_g"} <= set(groups["loss"])
    assert gan["loss_d"].isna().iloc[0] and gan["loss_d"].notna().iloc[-1]  # warm-up row, then GAN rows
    assert set(groups["balance"]) == {"d_real", "d_fake"}
    found = dash.input_psnr_baseline(runs["vae-unet"].metrics.parent.parent.parent, "vae-unet", vae, None)
    assert found and found[1].startswith("val_input_psnr")


def test_export_card_and_weights_load(runs):
    for preset, run in runs.items():
        card = run.card
        assert card["task"] == "restoration" and card["trained"] and card["parameters"] > 0
        assert card["supports"]["128px"] and card["supports"]["full_resolution"]
        assert card["command"].startswith("python -m training.train_restoration --preset " + preset)
        assert card["training"]["data"]["excluded_benchmark_ids"]["count"] == len(tr.benchmark_ids())  # 68 with cbsd68
        model = create_model(preset, checkpoint=run.export)
        x = np.repeat(np.random.default_rng(0).random((21, 30, 1)), 3, axis=-1).astype(np.float32)
        from studio.inference import run_model

        assert run_model(model, x).shape == (21, 30, 3)


def test_gan_does_one_d_then_two_g_updates_and_vae_beta_anneals():
    args = tr.parse_args(["--preset", "pix2pix-gan"])
    task = object.__new__(tr.RestorationTask)
    task.preset, task.args, task.gan = "pix2pix-gan", args, True
    assert args.warmup_steps > 0 and task.phases(0) == ["g"]  # L1-only warm-up of the generator
    assert task.phases(args.warmup_steps) == ["d", "g", "g"] == task.phases(args.steps - 1)
    assert task.optimizer_config("d", None) == {"lr": args.lr_d} and task.optimizer_config("g", None) == {}
    vae = object.__new__(tr.RestorationTask)
    vae.args = tr.parse_args(["--preset", "vae-unet", "--steps", "100", "--beta", "0.01", "--beta-warmup", "0.5"])
    assert [vae.beta(s) for s in (0, 25, 50, 99)] == pytest.approx([0.0, 0.005, 0.01, 0.01])


def test_cbsd68_ids_are_bsds_val_images_kept_out_of_training(benchmark_set):
    benchmark_set("cbsd68")
    bsds = benchmark_set("bsds500")
    ids = tr.benchmark_ids()
    assert len(ids) == 68
    val = {p.stem for p in (bsds / "val").iterdir()}
    train = {p.stem for split in ("train", "test") for p in (bsds / split).iterdir()}
    assert ids <= val and not ids & train


def test_bad_recipe_values_are_refused():
    with pytest.raises(SystemExit):
        tr.parse_args(["--preset", "vae-unet", "--patch", "8"])
    with pytest.raises(SystemExit):
        tr.parse_args(["--preset", "vae-unet", "--steps", "0"])
    with pytest.raises(SystemExit):
        tr.parse_args(["--preset", "esrgan"])


def test_evaluate_restoration_rows_and_cli(photos, tmp_path):
    kwargs = dict(model_names=["classical"], clean_dir=photos, limit=2, progress=False)
    rows = evaluation.evaluate("restoration", **kwargs)
    again = evaluation.evaluate("restoration", **kwargs)
    assert [(r["psnr"], r["input_psnr"]) for r in rows] == [(r["psnr"], r["input_psnr"]) for r in again]
    for row in rows:
        assert row["task"] == "restoration" and row["dataset"] == photos.name and row["scale"] == 1
        assert (row["height"], row["width"]) == (128, 128)
        assert "salt_pepper" in row["degradation"] and np.isfinite(row["psnr_y"])
        assert np.isfinite(row["input_psnr_y"]) and row["input_psnr"] < row["input_psnr_y"]  # gray vs colour
    task = get_task("restoration")
    from studio.imageio import list_images, load_image

    clean = task.prepare_clean(load_image(list_images(photos)[0]))
    degraded, _ = task.degrade_info(clean, rng=np.random.default_rng([0, 0]))
    assert rows[0]["input_psnr"] == pytest.approx(psnr(degraded, clean))
    out = tmp_path / "rest.csv"
    ev.main(["--task", "restoration", "--models", "classical", "--clean", str(photos),
             "--out", str(out), "--limit", "1"])
    with out.open() as handle:
        reader = csv.DictReader(handle)
        written = list(reader)
    assert reader.fieldnames[:len(evaluation.COLUMNS)] == evaluation.COLUMNS and "degradation" in reader.fieldnames
    assert len(written) == 1 and float(written[0]["psnr_y"]) > 0
