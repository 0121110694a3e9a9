"""``--task deblur`` through the shared CLIs: levin2009-style pairs matched by stem prefix with their
true kernels, synthetic blur with a fixed seed, input PSNR on every row, restore on any image.
The pairs are made from shipped photos and kernels (the ``levin_like`` fixture); Set5's published
bicubic figure is checked where the benchmark folder is present."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from studio import evaluate as ev
from studio import evaluation
from studio import restore
from studio.deblur import degradation as B
from studio.imageio import load_image, save_png
from studio.metrics import psnr
from studio.tasks import get_task


@pytest.fixture(scope="module")
def levin_rows(levin_like):
    return evaluation.evaluate("deblur", ["unsharp-mask", "wiener-oracle"], levin_like / "sharp", levin_like / "blurred",
                       limit=6, progress=False)


def test_levin2009_rows(levin_rows):
    assert len(levin_rows) == 12
    assert [r["image"] for r in levin_rows[::2]] == [f"im_1_ker_{k}" for k in range(1, 7)]
    for row in levin_rows:
        assert row["task"] == "deblur" and row["dataset"] == "levin2009" and row["scale"] == 1
        assert row["kernel"] == "levin-k" + row["image"].rsplit("_", 1)[1]
        assert 15 < row["input_psnr"] < 40 and np.isfinite(row["psnr"])
        assert (row["height"], row["width"]) == (255, 255)


def test_oracle_wiener_beats_the_blurred_input(levin_rows):
    oracle = [r for r in levin_rows if r["model"] == "wiener-oracle"]
    gain = np.mean([r["psnr"] - r["input_psnr"] for r in oracle])
    assert gain > 2.0
    summary = evaluation.summarize(levin_rows)
    assert summary["wiener-oracle"]["gain_psnr"] > 2.0
    assert summary["wiener-oracle"]["psnr"] > summary["unsharp-mask"]["psnr"]


def test_input_psnr_is_the_blurred_input_itself(levin_like, levin_rows):
    sharp = load_image(levin_like / "sharp" / "im_1.png")
    blurred = load_image(levin_like / "blurred" / "im_1_ker_2.png")
    row = next(r for r in levin_rows if r["image"] == "im_1_ker_2")
    assert row["input_psnr"] == pytest.approx(psnr(blurred, sharp))


def test_cli_on_levin_writes_kernel_columns(levin_like, tmp_path, capsys):
    out = tmp_path / "levin.csv"
    ev.main(["--task", "deblur", "--models", "unsharp-mask,wiener-oracle", "--clean",
             str(levin_like / "sharp"), "--degraded", str(levin_like / "blurred"),
             "--out", str(out), "--limit", "2"])
    with out.open() as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    assert reader.fieldnames[:len(evaluation.COLUMNS)] == evaluation.COLUMNS and "kernel" in reader.fieldnames
    assert len(rows) == 4 and all(row["input_psnr"] for row in rows)
    assert "wiener-oracle" in capsys.readouterr().out


def test_synthetic_blur_is_fixed_and_uses_evaluation_kernels(photos):
    kwargs = dict(model_names=["unsharp-mask", "wiener-oracle"], clean_dir=photos, limit=2,
                  progress=False)
    a = evaluation.evaluate("deblur", **kwargs)
    b = evaluation.evaluate("deblur", **kwargs)
    assert [(r["psnr"], r["input_psnr"], r["kernel"]) for r in a] == [(r["psnr"], r["input_psnr"], r["kernel"]) for r in b]
    held_out = dict(B.evaluation_kernels())
    for row in a:
        assert row["kernel"] in held_out and row["noise_sigma"] == B.EVAL_NOISE_SIGMA
        assert row["dataset"] == photos.name
    # input PSNR is that of the protocol's blurred input
    clean = load_image(photos / "astronaut.png")  # the first image
    blurred = get_task("deblur").degrade(clean, rng=np.random.default_rng([0, 0]))
    assert a[0]["input_psnr"] == pytest.approx(psnr(blurred, clean))
    oracle = [r for r in a if r["model"] == "wiener-oracle"]
    assert np.mean([r["psnr"] - r["input_psnr"] for r in oracle]) > 0
    c = evaluation.evaluate("deblur", seed=1, **kwargs)
    assert [r["input_psnr"] for r in c] != [r["input_psnr"] for r in a]


def test_prefix_matching_is_deblur_only(tmp_path):
    image = np.full((8, 8, 3), 0.5, dtype=np.float32)
    for stem in ("im_1", "im_10", "a", "a_b"):
        save_png(image, tmp_path / "clean" / f"{stem}.png")
    for stem in ("im_1_ker_1", "im_10_ker_1", "im_1", "a_b_ker_2", "zzz_ker_1"):
        save_png(image, tmp_path / "degraded" / f"{stem}.png")
    pairs = evaluation.pairs(tmp_path / "clean", tmp_path / "degraded", match_prefix=True)
    mapping = {d.stem: c.stem for c, d in pairs}
    assert mapping == {"im_1": "im_1", "im_1_ker_1": "im_1", "im_10_ker_1": "im_10", "a_b_ker_2": "a_b"}
    exact = evaluation.pairs(tmp_path / "clean", tmp_path / "degraded")  # SR's behaviour is unchanged
    assert [(c.stem, d.stem) for c, d in exact] == [("im_1", "im_1")]


def test_oracle_rows_are_skipped_when_the_kernel_is_unknown(tmp_path, capsys):
    rng = np.random.default_rng(0)
    sharp = rng.random((24, 24, 3)).astype(np.float32)
    save_png(sharp, tmp_path / "clean" / "im_1.png")
    # named like levin2009 but not from it: its kernel is not assumed to be Levin's k1
    save_png(B.blur(sharp, B.load_levin_kernels()["k1"]), tmp_path / "blurred" / "im_1_ker_1.png")
    rows = evaluation.evaluate("deblur", ["unsharp-mask", "wiener-oracle"], tmp_path / "clean", tmp_path / "blurred",
                       progress=False)
    assert [r["model"] for r in rows] == ["unsharp-mask"]
    assert "wiener-oracle needs the true blur kernel" in capsys.readouterr().err


def test_sr_evaluation_is_unchanged(benchmark_set):
    rows = evaluation.evaluate("sr", ["bicubic"], benchmark_set("set5"), progress=False)
    assert evaluation.summarize(rows)["bicubic"]["psnr_y"] == pytest.approx(28.43, abs=0.005)
    # the common columns, plus SR's own: the no-reference sharpness of the output and of the input
    assert all(set(row) == set(evaluation.COLUMNS) | {"sharpness", "input_sharpness"} for row in rows)


def test_restore_deblur_any_image(tmp_path, rng):
    source = tmp_path / "in"
    save_png((rng.random((5, 7, 3)) * 255).astype(np.uint8), source / "tiny.png")
    save_png((rng.random((37, 20)) * 255).astype(np.uint8), source / "gray.png")
    assert restore.main(["--task", "deblur", "--model", "unsharp-mask", "--input", str(source),
                         "--output", str(tmp_path / "out")]) == 0
    assert load_image(tmp_path / "out" / "tiny_unsharp-mask.png").shape == (5, 7, 3)
    assert load_image(tmp_path / "out" / "gray_unsharp-mask.png").shape == (37, 20, 3)


def test_restore_oracle_needs_a_kernel(tmp_path, rng):
    save_png((rng.random((30, 30, 3)) * 255).astype(np.uint8), tmp_path / "photo.png")
    args = ["--task", "deblur", "--model", "wiener-oracle", "--input", str(tmp_path / "photo.png"),
            "--output", str(tmp_path / "out")]
    assert restore.main(args) == 2
    np.save(tmp_path / "k.npy", B.load_levin_kernels()["k3"])
    assert restore.main(args + ["--kernel", str(tmp_path / "k.npy")]) == 0
    assert (tmp_path / "out" / "photo_wiener-oracle.png").is_file()


def test_untrained_learned_model_is_a_clear_error(tmp_path, photos):
    # No shipped weights (yet): a CheckpointError the CLI turns into a message, not a traceback.
    from studio.registry import get_entry

    if (get_entry("unet-standard").checkpoint_dir / "model.safetensors").is_file():
        pytest.skip("unet-standard has been trained")
    with pytest.raises(SystemExit, match="no trained weights"):
        ev.main(["--task", "deblur", "--models", "unet-standard", "--clean", str(photos),
                 "--out", str(tmp_path / "x.csv"), "--limit", "1"])
