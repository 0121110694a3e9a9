"""The SR benchmark script runs end to end on a tiny input and writes a well-formed CSV."""

from __future__ import annotations

import csv

from benchmarks.bench_sr import COLUMNS, ROOT, main

# The benchmarks' default photos are in the datasets folder; the tests use the shipped samples of the same sets.
SAMPLES = ROOT / "data" / "samples"
REQUIRED = ["model", "variant", "out_width", "out_height", "median_ms", "min_ms", "gflops", "gflops_per_s",
            "peak_rss_mb", "speedup_vs_fp32", "psnr_vs_fp32_db"]


def _results_snapshot():
    folder = ROOT / "results" / "bench"
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*")} if folder.exists() else None


def test_bench_sr_tiny_run(tmp_path, capsys):
    before = _results_snapshot()
    out = tmp_path / "bench.csv"
    main(["--models", "bicubic,srresnet", "--random-weights", "--sizes", "32x32", "--repeats", "1",
          "--warmup", "0", "--out", str(out), "--no-progress", "--image", str(SAMPLES / "set14_comic.png")])

    with out.open(newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == COLUMNS
        assert reader.fieldnames[:len(REQUIRED)] == REQUIRED
        rows = list(reader)
    assert [(r["model"], r["variant"]) for r in rows] == [
        ("bicubic", "fp32"), ("srresnet", "fp32"), ("srresnet", "fp32_cl"), ("srresnet", "bf16"),
        ("srresnet", "bf16_cl")]
    for row in rows:
        assert (row["out_width"], row["out_height"]) == ("32", "32")
        assert float(row["median_ms"]) > 0 and float(row["min_ms"]) <= float(row["median_ms"])
        assert float(row["peak_rss_mb"]) > 0
        if row["variant"] == "fp32":  # the reference of its model
            assert float(row["speedup_vs_fp32"]) == 1.0
            assert row["psnr_vs_fp32_db"] == "inf"
        else:
            assert float(row["speedup_vs_fp32"]) > 0
            assert float(row["psnr_vs_fp32_db"]) > 30  # bf16 / channels_last keep the 8-bit output close
    by_variant = {r["variant"]: r for r in rows if r["model"] == "srresnet"}
    assert all(float(r["gflops"]) > 0 and float(r["gflops_per_s"]) > 0 for r in by_variant.values())
    assert float(rows[0]["gflops"]) == 0  # classical models count no FLOPs
    # --random-weights only stands in for a missing checkpoint; a shipped one is always used.
    from studio.registry import get_entry

    shipped = (get_entry("srresnet").checkpoint_dir / "model.safetensors").is_file()
    assert all(r["weights"] == ("trained" if shipped else "random") for r in by_variant.values())

    markdown = out.with_suffix(".md").read_text()
    assert markdown.startswith("# SR inference benchmark") and "--models bicubic,srresnet" in markdown
    assert ("RANDOM weights" in capsys.readouterr().out) is not shipped
    assert _results_snapshot() == before  # nothing written under results/


def test_bench_deblur_tiny_run(tmp_path):
    """--task deblur: the frame is the input (scale 1), times compare with unsharp-mask, and the oracle
    (which needs a kernel the frame does not have) is timed with a Levin kernel, said in a note."""
    from benchmarks.bench_inference import main as bench_main

    out = tmp_path / "deblur.csv"
    bench_main(["--task", "deblur", "--models", "unsharp-mask,wiener-oracle,unet-light-v1", "--random-weights",
                "--sizes", "48x32", "--variants", "fp32", "--repeats", "1", "--warmup", "0", "--out", str(out),
                "--no-progress", "--isolation", "none", "--image", str(SAMPLES / "real_blur" / "gopro_seq_id3_frame1.png")])
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["model"], r["variant"]) for r in rows] == [("unsharp-mask", "fp32"), ("wiener-oracle", "fp32"),
                                                          ("unet-light-v1", "fp32")]
    assert all((r["out_width"], r["out_height"]) == ("48", "32") for r in rows)
    assert float(rows[2]["gflops"]) > 0
    markdown = out.with_suffix(".md").read_text()
    assert "Summary vs unsharp-mask" in markdown and "timed with Levin k4 (27 px) as the known kernel" in markdown
    assert "python -m benchmarks.bench_inference --task deblur" in markdown


def test_bench_snapshots_reports_the_snapshot_as_a_ratio_to_the_validation(tmp_path):
    from benchmarks import bench_snapshots
    from studio.imageio import load_image, save_png

    val = tmp_path / "val"
    save_png(load_image(SAMPLES / "set5_butterfly.png")[:64, :96], val / "butterfly.png")
    rows = bench_snapshots.main(["--val", str(val), "--train", str(SAMPLES), "--repeats", "1", "--threads", "1",
                                 "--out", str(tmp_path / "snap.csv")])
    with (tmp_path / "snap.csv").open(newline="") as handle:
        saved = list(csv.DictReader(handle))
    assert [r["measure"] for r in saved] == ["validation", "snapshot"] and saved[0]["ratio_to_validation"] == "1.0000"
    assert rows[1]["ratio_to_validation"] == rows[1]["median_s"] / rows[0]["median_s"] > 0
    assert rows[1]["bytes_per_snapshot"] > 0 and rows[1]["crops"] == 1
