"""Training snapshots (studio.snapshots): written by the engine at every validation on the family's
fixed crops, resumed without duplicates or gaps, capped in size, and read back with bad files named."""

from __future__ import annotations

import json

import numpy as np
import pytest

from studio.imageio import load_image, save_png
from studio.snapshots import SnapshotCrop, SnapshotWriter, nearest_step, read_snapshots, step_folder
from training import train_sr


@pytest.fixture(scope="module")
def tiny_sr_data(photos, tmp_path_factory):
    root = tmp_path_factory.mktemp("snap_data")
    for name in ("bird", "butterfly"):
        save_png(load_image(photos / f"{name}.png")[64:128, 64:128], root / "train" / f"{name}.png")
    save_png(load_image(photos / "astronaut.png")[200:264, 180:276], root / "val" / "astronaut.png")
    save_png(load_image(photos / "comic.png")[:40, :48], root / "val" / "comic.png")
    return root


def train(preset, data, tmp_path, *extra):
    train_sr.main(["--preset", preset, "--data", str(data / "train"), "--val", str(data / "val"), "--patch", "32",
                   "--batch-size", "2", "--steps", "3", "--val-every", "1", "--log-every", "1", "--export", "none",
                   "--runs-dir", str(tmp_path / "runs"), *extra])
    return read_snapshots(tmp_path / "runs" / preset)


def test_every_validation_is_snapshotted_on_crops_shared_by_the_family(tiny_sr_data, tmp_path):
    pixel = train("srresnet", tiny_sr_data, tmp_path)
    gan = train("srgan-v1", tiny_sr_data, tmp_path)
    assert pixel.steps == gan.steps == [1, 2, 3] and not pixel.problems
    assert pixel.family == gan.family == "sr" and pixel.crops == gan.crops == ["astronaut", "comic"]
    record = json.loads((pixel.folder / "crops.json").read_text())
    assert record == json.loads((gan.folder / "crops.json").read_text())
    # the centre of each validation image, whole where it is smaller than the crop size
    assert [c["box"] for c in record["crops"]] == [[0, 16, 64], [0, 4, 40]]
    target = pixel.image("target", "astronaut")
    np.testing.assert_array_equal(target, load_image(tiny_sr_data / "val" / "astronaut.png")[0:64, 16:80])
    shown_input = pixel.image("input", "comic")
    assert shown_input.shape == (40, 40, 3)  # the 10 px LR input at the output's size
    outputs = [pixel.image("output", "astronaut", step) for step in pixel.steps]
    assert all(o.shape == (64, 64, 3) for o in outputs)
    assert not np.array_equal(outputs[0], outputs[2])  # the model changed between validations
    assert all(0 < pixel.psnr[(step, "astronaut")] < 60 for step in pixel.steps)
    assert not np.array_equal(pixel.image("output", "astronaut", 3), gan.image("output", "astronaut", 3))


def test_no_snapshots_when_switched_off(tiny_sr_data, tmp_path):
    assert train("srresnet", tiny_sr_data, tmp_path, "--no-snapshots") is None


def crops(size=16):
    rng = np.random.default_rng(0)
    return [SnapshotCrop(name, f"{name}.png", (0, 0, size), input=rng.random((size // 4, size // 4, 3)),
                         target=rng.random((size, size, 3))) for name in ("a", "b")]


def outputs(value, size=16):
    return {"a": np.full((size, size, 3), value), "b": np.full((size, size, 3), value)}


def test_a_resumed_run_neither_duplicates_nor_loses_a_step(tmp_path):
    writer = SnapshotWriter(tmp_path, "sr", crops())
    writer.start()
    for step in (10, 20, 30):
        writer.write(step, outputs(step / 100))
    # the checkpoint was at step 20: step 30 is trained again and snapshotted again
    resumed = SnapshotWriter(tmp_path, "sr", crops())
    resumed.start(resume_step=20)
    assert read_snapshots(tmp_path).steps == [10, 20] and not (tmp_path / "snapshots" / step_folder(30)).exists()
    for step in (30, 40):
        resumed.write(step, outputs(step / 100 + 0.01))
    read = read_snapshots(tmp_path)
    assert read.steps == [10, 20, 30, 40] and len(read.psnr) == 8
    assert read.image("output", "a", 30)[0, 0, 0] == pytest.approx(0.31, abs=1 / 255)
    # a fresh start (no resume) in the same folder forgets every step
    SnapshotWriter(tmp_path, "sr", crops()).start()
    assert read_snapshots(tmp_path).steps == []


def test_the_size_cap_thins_older_steps_and_keeps_the_first_and_the_last(tmp_path, capsys):
    writer = SnapshotWriter(tmp_path, "sr", crops(64), max_mb=0.2)
    writer.start()
    rng = np.random.default_rng(1)  # noise: PNG cannot compress it, so each step costs about its raw size
    written = [writer.write(step, {"a": rng.random((64, 64, 3)), "b": rng.random((64, 64, 3))})
               for step in range(1, 31)]
    assert all(written)
    size = sum(p.stat().st_size for p in (tmp_path / "snapshots").rglob("*") if p.is_file())
    assert size <= 0.2 * 1024 * 1024
    steps = read_snapshots(tmp_path).steps
    assert steps[0] == 1 and steps[-1] == 30 and 2 < len(steps) < 30  # the whole course, coarser
    assert sorted(p.name for p in (tmp_path / "snapshots").glob("step_*")) == [step_folder(s) for s in steps]
    assert capsys.readouterr().out.count("reached its") == 1
    tiny = SnapshotWriter(tmp_path / "tiny", "sr", crops(64), max_mb=0.01)  # not even one validation fits
    tiny.start()
    assert not tiny.write(1, outputs(0.5, 64)) and read_snapshots(tmp_path / "tiny").steps == []


def test_writer_refuses_missing_outputs_and_repeated_names(tmp_path):
    writer = SnapshotWriter(tmp_path, "sr", crops())
    writer.start()
    with pytest.raises(ValueError, match="no output for crop"):
        writer.write(1, {"a": np.zeros((16, 16, 3))})
    with pytest.raises(ValueError, match="repeat"):
        SnapshotWriter(tmp_path, "sr", crops() + crops())
    with pytest.raises(ValueError, match="at least one crop"):
        SnapshotWriter(tmp_path, "sr", [])


def test_bad_and_missing_snapshot_files_are_named_and_the_rest_is_read(tmp_path):
    writer = SnapshotWriter(tmp_path, "sr", crops())
    writer.start()
    for step in (1, 2, 3):
        writer.write(step, outputs(0.2 * step))
    folder = tmp_path / "snapshots"
    (folder / step_folder(1) / "a.png").unlink()
    (folder / step_folder(2) / "b.png").write_bytes(b"not a png")
    with (folder / "snapshots.csv").open("a") as handle:
        handle.write("three,a,nan-ish,x.png\n")
    (folder / "crops.json").write_text("{")
    read = read_snapshots(tmp_path)
    assert read.steps == [1, 2, 3]
    assert read.image("output", "a", 1) is None and read.image("output", "b", 2) is None
    assert read.image("output", "a", 3) is not None
    text = " | ".join(read.problems)
    assert "crops.json is missing or malformed" in text and "step_0000001/a.png is listed but missing" in text
    assert "line 8 is malformed" in text and "b.png (output of b) could not be read" in text
    assert read_snapshots(tmp_path / "nowhere") is None


def test_runs_logged_at_different_intervals_align_to_their_nearest_step():
    assert nearest_step([250, 500, 750], 600) == 500
    assert nearest_step([250, 500, 750], 625) == 500  # a tie goes to the earlier step
    assert nearest_step([100, 200, 300], 600) == 300
    assert nearest_step([], 10) is None
