"""The evaluation and restoration CLIs (studio.evaluate, studio.restore) with the classical
baselines, on two of the sample photos the repository ships."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from studio import evaluate, restore
from studio.sr.degradation import downscale
from studio.imageio import list_images, load_image, save_png

DOCUMENTED = ["task", "model", "image", "psnr", "ssim", "psnr_y", "ssim_y", "input_psnr", "input_psnr_y",
              "seconds", "height", "width"]
NUMERIC = ["psnr", "ssim", "psnr_y", "ssim_y", "input_psnr", "input_psnr_y", "height", "width"]


def read_csv(path):
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames), list(reader)


@pytest.fixture(scope="module")
def synthetic(photos, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "sr_photos.csv"
    evaluate.main(["--task", "sr", "--models", "bicubic,lanczos", "--clean", str(photos), "--limit", "2",
                   "--out", str(out)])
    return read_csv(out)


def test_evaluate_csv_columns_and_rows(synthetic, photos):
    columns, rows = synthetic
    assert columns[:len(DOCUMENTED)] == DOCUMENTED
    first_two = [p.stem for p in list_images(photos)[:2]]
    assert sorted((r["model"], r["image"]) for r in rows) == sorted(
        (m, i) for m in ("bicubic", "lanczos") for i in first_two)
    for row in rows:
        assert row["task"] == "sr" and row["scale"] == "4" and row["dataset"] == photos.name
        for key in NUMERIC + ["seconds"]:
            assert np.isfinite(float(row[key])), key
        assert 15 < float(row["psnr_y"]) < 50 and 0 < float(row["ssim_y"]) <= 1
        clean = load_image(photos / f"{row['image']}.png")
        assert (int(row["height"]), int(row["width"])) == (clean.shape[0] // 4 * 4, clean.shape[1] // 4 * 4)


def test_evaluate_on_real_photo_degradations_says_what_each_input_went_through(synthetic, photos, tmp_path):
    out = tmp_path / "real.csv"
    evaluate.main(["--task", "sr", "--models", "bicubic,lanczos", "--clean", str(photos), "--limit", "2",
                   "--degradation", "real", "--out", str(out)])
    columns, rows = read_csv(out)
    assert "degradation" in columns and all(r["degradation"].startswith("1) ") for r in rows)
    # one draw per image, the same for every model; different images draw different chains
    by_image = {}
    for row in rows:
        by_image.setdefault(row["image"], set()).add((row["degradation"], row["input_psnr_y"]))
    assert all(len(draws) == 1 for draws in by_image.values()) and len({d for s in by_image.values() for d in s}) == 2
    plain = {r["image"]: float(r["input_psnr_y"]) for r in synthetic[1] if r["model"] == "bicubic"}
    assert all(float(r["input_psnr_y"]) < plain[r["image"]] for r in rows)  # harder than the clean downscale


def test_bicubic_equals_the_input_reference(synthetic):
    _, rows = synthetic
    for row in rows:
        if row["model"] == "bicubic":
            assert row["psnr_y"] == row["input_psnr_y"] and row["psnr"] == row["input_psnr"]
    # the input reference does not depend on the model
    by_image = {}
    for row in rows:
        by_image.setdefault(row["image"], set()).add(row["input_psnr_y"])
    assert all(len(values) == 1 for values in by_image.values())


def test_degraded_folder_gives_the_same_numbers(synthetic, photos, tmp_path):
    _, rows = synthetic
    lr_dir = tmp_path / "lr"
    for path in list_images(photos)[:2]:
        save_png(downscale(load_image(path), 4), lr_dir / f"{path.stem}.png")
    out = tmp_path / "degraded.csv"
    evaluate.main(["--task", "sr", "--models", "bicubic,lanczos", "--clean", str(photos), "--degraded", str(lr_dir),
                   "--out", str(out)])
    _, degraded_rows = read_csv(out)
    key = lambda row: (row["model"], row["image"])  # noqa: E731
    assert sorted(map(key, degraded_rows)) == sorted(map(key, rows))
    synthetic_by_key = {key(r): r for r in rows}
    for row in degraded_rows:
        for column in NUMERIC:
            assert row[column] == synthetic_by_key[key(row)][column], (key(row), column)


def test_degraded_folder_with_no_matching_stem(photos, tmp_path):
    lr_dir = tmp_path / "lr"
    save_png(np.zeros((8, 8, 3), np.float32), lr_dir / "unrelated.png")
    with pytest.raises(SystemExit) as err:
        evaluate.main(["--task", "sr", "--models", "bicubic", "--clean", str(photos), "--degraded", str(lr_dir),
                       "--out", str(tmp_path / "x.csv")])
    assert "shares a stem" in str(err.value.code)


def test_degraded_input_of_wrong_size_is_reported(photos, tmp_path):
    lr_dir = tmp_path / "lr"
    save_png(np.zeros((10, 10, 3), np.float32), lr_dir / "bird.png")
    with pytest.raises(SystemExit) as err:
        evaluate.main(["--task", "sr", "--models", "bicubic", "--clean", str(photos), "--degraded", str(lr_dir),
                       "--out", str(tmp_path / "x.csv")])
    assert "bird.png" in str(err.value.code) and "size" in str(err.value.code)


def test_unknown_model_exits_with_message(photos, tmp_path):
    out = tmp_path / "x.csv"
    with pytest.raises(SystemExit) as err:
        evaluate.main(["--task", "sr", "--models", "bicubic,no-such-model", "--clean", str(photos), "--out", str(out)])
    message = str(err.value.code)
    assert message.startswith("error:") and "no-such-model" in message and "bicubic" in message
    assert not out.exists()


def test_missing_clean_folder_exits_with_message(tmp_path):
    with pytest.raises(SystemExit) as err:
        evaluate.main(["--task", "sr", "--models", "bicubic", "--clean", str(tmp_path / "nothing"),
                       "--out", str(tmp_path / "x.csv")])
    assert "nothing" in str(err.value.code)


# ---- restore -------------------------------------------------------------------------------------

@pytest.fixture
def small_inputs(photos, tmp_path):
    folder = tmp_path / "inputs"
    save_png(load_image(photos / "bird.png")[:24, :20], folder / "good.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_restore_single_file(small_inputs, tmp_path):
    out = tmp_path / "out"
    code = restore.main(["--task", "sr", "--model", "bicubic", "--input", str(small_inputs / "good.png"),
                         "--output", str(out)])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["good_bicubic.png"]
    with Image.open(out / "good_bicubic.png") as image:
        assert image.size == (80, 96) and image.mode == "RGB"


def test_restore_folder_skips_the_corrupt_file(small_inputs, tmp_path, capsys):
    out = tmp_path / "out"
    code = restore.main(["--task", "sr", "--model", "lanczos", "--input", str(small_inputs), "--output", str(out)])
    assert code == 1
    assert sorted(p.name for p in out.iterdir()) == ["good_lanczos.png"]
    assert load_image(out / "good_lanczos.png").shape == (96, 80, 3)
    err = capsys.readouterr().err
    assert "skipped" in err and "broken.png" in err


def test_restore_missing_input_exits_2(tmp_path, capsys):
    code = restore.main(["--task", "sr", "--model", "bicubic", "--input", str(tmp_path / "missing.png"),
                         "--output", str(tmp_path / "out")])
    assert code == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_restore_empty_folder_and_unknown_model_exit_2(small_inputs, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert restore.main(["--task", "sr", "--model", "bicubic", "--input", str(empty), "--output",
                         str(tmp_path / "out")]) == 2
    assert restore.main(["--task", "sr", "--model", "no-such-model", "--input", str(small_inputs / "good.png"),
                         "--output", str(tmp_path / "out")]) == 2
    assert "no-such-model" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_restore_precision_fp32_is_what_evaluate_measures(small_inputs, tmp_path, capsys):
    from studio.evaluation import load_for_task
    from studio.imageio import quantize
    from studio.inference import run_model

    image = load_image(small_inputs / "good.png")
    outputs = {}
    for precision in ("fp32", "bf16"):
        out = tmp_path / precision
        code = restore.main(["--task", "sr", "--model", "srresnet", "--input", str(small_inputs / "good.png"),
                             "--output", str(out), "--precision", precision])
        assert code == 0
        assert f"({precision})" in capsys.readouterr().out
        outputs[precision] = load_image(out / "good_srresnet.png")
    expected = quantize(run_model(load_for_task("srresnet", "sr", 4), image, scale=4))  # evaluate's default
    np.testing.assert_allclose(outputs["fp32"], expected, atol=1e-6)
    assert 0 < np.abs(outputs["bf16"] - outputs["fp32"]).max() <= 3 / 255  # autocast ran, and stayed close
    with pytest.raises(SystemExit):
        restore.main(["--task", "sr", "--model", "srresnet", "--input", str(small_inputs / "good.png"),
                      "--output", str(tmp_path / "x"), "--precision", "fp16"])


# ---- bad inputs and options: one line, a non-zero exit, and no work thrown away -------------------

def _nan_tiff(path, value=float("nan")):
    """A 32-bit float TIFF (what scientific cameras write) with missing values."""
    array = np.random.default_rng(0).random((40, 48)).astype(np.float32)
    array[5:9, 7:11] = value
    Image.fromarray(array, mode="F").save(path)
    return path


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_evaluate_refuses_non_finite_pixels(tmp_path, value):
    clean = tmp_path / "clean"
    clean.mkdir()
    _nan_tiff(clean / "frame.tif", value)
    out = tmp_path / "scores.csv"
    with pytest.raises(SystemExit) as stop:
        evaluate.main(["--task", "sr", "--models", "bicubic", "--clean", str(clean), "--out", str(out)])
    assert "frame.tif" in str(stop.value.code) and "NaN or infinite" in str(stop.value.code)
    assert not out.exists()  # no CSV of nan scores


def test_restore_skips_an_image_with_nan_pixels(tmp_path, capsys):
    out = tmp_path / "out"
    code = restore.main(["--task", "sr", "--model", "bicubic", "--input", str(_nan_tiff(tmp_path / "frame.tif")),
                         "--output", str(out)])
    assert code == 1 and "NaN or infinite" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())  # no garbage PNG


@pytest.mark.parametrize("options, message", [
    (["--scale", "0"], "argument --scale: must be between 2 and 4"),
    (["--seed", "nan"], "argument --seed: expected a whole number"),
    (["--tile", "-5"], "argument --tile: must be at least 0"),
    (["--tile", "40", "--overlap", "32"], "larger than twice --overlap"),
    (["--limit", "0"], "argument --limit: must be at least 1"),
    (["--models", " , "], "--models"),
    (["--degradation", "jpeg"], "argument --degradation: invalid choice"),
    (["--degradation", "real", "--degraded", "."], "use it with --task sr and without --degraded"),
    (["--degradation", "real", "--task", "deblur"], "use it with --task sr"),
])
def test_evaluate_bad_options_are_one_line(photos, tmp_path, capsys, options, message):
    argv = ["--task", "sr", "--models", "bicubic", "--clean", str(photos), "--out", str(tmp_path / "x.csv")]
    with pytest.raises(SystemExit) as stop:
        evaluate.main(argv + options)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("option, target", [("--out", "a-file/x.csv"), ("--out", "folder"),
                                            ("--save-outputs", "a-file/outputs")])
def test_evaluate_checks_its_outputs_before_the_work(photos, tmp_path, monkeypatch, option, target):
    (tmp_path / "a-file").write_text("")
    (tmp_path / "folder").mkdir()
    monkeypatch.setattr(evaluate, "evaluate", lambda *a, **k: pytest.fail("evaluated before checking " + option))
    argv = ["--task", "sr", "--models", "bicubic", "--clean", str(photos), "--out", str(tmp_path / "x.csv")]
    argv += [option, str(tmp_path / target)]
    with pytest.raises(SystemExit) as stop:
        evaluate.main(argv)
    message = str(stop.value.code)
    assert message.startswith(f"error: {option} ") and "\n" not in message


def test_evaluate_with_no_usable_row_fails(photos, tmp_path):
    """wiener-oracle needs the true kernel, which no --degraded photo here has: no row, no empty CSV."""
    out = tmp_path / "x.csv"
    with pytest.raises(SystemExit) as stop:
        evaluate.main(["--task", "deblur", "--models", "wiener-oracle", "--clean", str(photos), "--degraded",
                       str(photos), "--limit", "1", "--out", str(out)])
    assert "no row to write" in str(stop.value.code) and not out.exists()


@pytest.mark.parametrize("options, message", [
    (["--output", "{tmp}/a-file"], "--output {tmp}/a-file: is a file, not a folder"),
    (["--output", "{tmp}/a-file/out"], "is a file, so no folder can be made under it"),
    (["--tile", "-5"], "argument --tile: must be at least 0"),
    (["--tile", "50"], "the tile (50 px) must be larger than twice --overlap (32)"),
    (["--scale", "0"], "argument --scale: must be between 2 and 4"),
])
def test_restore_bad_options_are_one_line(small_inputs, tmp_path, capsys, options, message):
    (tmp_path / "a-file").write_text("")
    argv = ["--task", "sr", "--model", "bicubic", "--input", str(small_inputs / "good.png"),
            "--output", str(tmp_path / "out")] + [o.format(tmp=tmp_path) for o in options]
    try:
        code = restore.main(argv)
    except SystemExit as stop:
        code = stop.code
    err = capsys.readouterr().err
    assert code == 2 and message.format(tmp=tmp_path) in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("module, argv", [
    ("training.train_deblur", ["--preset", "unet-light-v1"]),
    ("training.train_restoration", ["--preset", "vae-unet"]),
    ("training.train_classifier", ["--model", "dilated-cnn"]),
    ("training.train_sr", ["--preset", "srresnet"]),
])
def test_every_training_command_stops_in_one_line_before_its_data(module, argv, tmp_path):
    import importlib

    main = importlib.import_module(module).main
    with pytest.raises(SystemExit) as stop:
        main(argv + ["--resume", "--run-name", "never-ran", "--runs-dir", str(tmp_path), "--export", "none"])
    assert str(stop.value.code).startswith("error: --resume: no checkpoint at") and "\n" not in str(stop.value.code)
    with pytest.raises(SystemExit) as stop:
        main(argv + ["--lr", "inf", "--runs-dir", str(tmp_path)])
    assert stop.value.code == 2
