"""README.md's result tables are generated from results/ (``python -m studio.readme_tables``): the
shipped README is in sync, a changed figure makes the check fail naming the table and regenerating
fixes it, and missing markers or an unreadable CSV are one clear line. Only the repository's own
files are read (no datasets)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from studio import readme_tables as rt

ROOT = Path(__file__).resolve().parent.parent


def test_readme_tables_match_results():
    assert rt.check() == [], "README.md is out of date: run `python -m studio.readme_tables`"


def test_module_is_torch_free():
    code = "import sys, studio.readme_tables; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


@pytest.fixture
def copy(tmp_path):
    """A copy of README.md and of the CSVs the tables read (results/eval, results/bench, the
    split-robustness table, the source studies' protocol tables and run logs, the tuning summaries)."""
    readme = tmp_path / "README.md"
    shutil.copy(ROOT / "README.md", readme)
    results = tmp_path / "results"
    source_studies = [p.relative_to(ROOT / "results").as_posix()
                      for pattern in ("protocol/resnet-dropout-tin200*", "runs/resnet-dropout-tin200-*", "runs/nonorm-fair-*")
                      for p in (ROOT / "results").glob(pattern) if p.is_dir()]
    for sub in ("eval", "bench", "tuning", "protocol/split-robustness", *source_studies):
        (results / sub).mkdir(parents=True)
        for csv in (ROOT / "results" / sub).glob("*.csv"):
            shutil.copy(csv, results / sub / csv.name)
    return readme, results


def test_changed_figure_is_stale_and_regenerating_fixes_it(copy, capsys):
    readme, results = copy
    before = readme.read_text(encoding="utf-8")
    assert rt.check(readme, results) == []
    bench = results / "bench" / "sr_bench.csv"
    frame = pd.read_csv(bench)
    row = (frame["model"] == "srresnet") & (frame["variant"] == "fp32") & (frame["out_width"] == 256)
    assert row.sum() == 1
    frame.loc[row, "median_ms"] = 45.2
    frame.to_csv(bench, index=False)

    assert rt.check(readme, results) == ["sr-bench"]
    assert rt.main(["--check", "--readme", str(readme), "--results", str(results)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'sr-bench'" in err[0] and "run `python -m studio.readme_tables`" in err[0]

    assert rt.main(["--readme", str(readme), "--results", str(results)]) == 0
    assert "'sr-bench'" in capsys.readouterr().out
    assert rt.check(readme, results) == []
    assert rt.main(["--check", "--readme", str(readme), "--results", str(results)]) == 0
    after = readme.read_text(encoding="utf-8")
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines()) if a != b]
    assert len(before.splitlines()) == len(after.splitlines())
    assert changed == [("| 256x256 | `srresnet` | 32 | 30 ms (1.08x) | 23 ms (1.42x) | 18 ms (1.74x) | 60 dB |",
                        "| 256x256 | `srresnet` | 45 | 30 ms (1.08x) | 23 ms (1.42x) | 18 ms (1.74x) | 60 dB |")]


def _restoration_csv(path: Path, rows):
    pd.DataFrame(rows, columns=["task", "model", "image", "psnr", "psnr_y", "input_psnr", "input_psnr_y"]) \
        .to_csv(path, index=False)


def test_hand_made_csv_gives_the_expected_table(tmp_path):
    """Two images, two models: the means, the input row, the labels and the bold done by hand."""
    results = tmp_path / "results"
    (results / "eval").mkdir(parents=True)
    _restoration_csv(results / "eval" / "restoration_mcmaster.csv", [
        ("restoration", "vae-unet", "a", 20.0, 25.0, 15.0, 22.0),
        ("restoration", "classical", "a", 16.0, 24.0, 15.0, 22.0),
        ("restoration", "vae-unet", "b", 22.0, 27.0, 17.0, 24.0),
        ("restoration", "classical", "b", 18.0, 29.0, 17.0, 24.0),
    ])
    _restoration_csv(results / "eval" / "restoration_cbsd68.csv", [
        ("restoration", "classical", "c", 19.0, 23.0, 18.0, 21.5),
        ("restoration", "new-model", "c", 19.5, 22.0, 18.0, 21.5),
    ])
    readme = tmp_path / "README.md"
    begin, end = rt.begin_marker("restoration-results"), rt.end_marker("restoration-results")
    readme.write_text(f"# title\n\ntext before\n{begin}\n| old | table |\n|---|---|\n| 1 | 2 |\n{end}\ntext after\n",
                      encoding="utf-8")
    names = ["restoration-results"]
    assert rt.check(readme, results, names=names) == names
    assert rt.write(readme, results, names=names) == names
    expected = [
        "# title", "", "text before", begin,
        "| model | McMaster | CBSD68 |",
        "|---|---|---|",
        "| degraded gray input | 16.00 / 23.00 | 18.00 / 21.50 |",
        "| `classical` (median + TV denoising + mild sharpening; stays gray) | 17.00 / **26.50** | 19.00 / **23.00** |",
        "| `vae-unet` | **21.00** / 26.00 | – |",
        "| `new-model` | – | **19.50** / 22.00 |",
        end, "text after", ""]
    assert readme.read_text(encoding="utf-8") == "\n".join(expected)
    assert rt.check(readme, results, names=names) == []


def test_indented_table_keeps_its_indentation(tmp_path):
    readme = tmp_path / "README.md"
    begin, end = rt.begin_marker("deblur-bench"), rt.end_marker("deblur-bench")
    readme.write_text(f"- item\n\n  {begin}\n  | x |\n  {end}\n", encoding="utf-8")
    assert rt.write(readme, names=["deblur-bench"]) == ["deblur-bench"]
    lines = readme.read_text(encoding="utf-8").splitlines()
    assert lines[3] == "  | model | fp32 | bf16 autocast | bf16 output vs fp32 | peak RSS (bf16) |"
    assert all(line.startswith("  ") for line in lines[2:])


@pytest.mark.parametrize("drop", ["begin", "end", "both"])
def test_missing_markers_are_a_clear_error(copy, capsys, drop):
    readme, results = copy
    lines = readme.read_text(encoding="utf-8").splitlines(keepends=True)
    marks = {"begin": rt.begin_marker("deblur-bench"), "end": rt.end_marker("deblur-bench")}
    gone = [marks[drop]] if drop != "both" else list(marks.values())
    readme.write_text("".join(line for line in lines if line.strip() not in gone), encoding="utf-8")
    with pytest.raises(rt.TableError, match="deblur-bench"):
        rt.check(readme, results)
    assert rt.main(["--check", "--readme", str(readme), "--results", str(results)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "deblur-bench" in err and err.count("\n") == 1
    assert "Traceback" not in err


@pytest.mark.parametrize("damage, message", [
    (lambda path: path.unlink(), "no such file"),
    (lambda path: path.write_text("task,model,image\nsr,bicubic,a\n"), "missing column"),
    (lambda path: path.write_text(path.read_text().replace(",31.7867,", ",n/a,", 1)), "'psnr_y' is not a number"),
    (lambda path: path.write_bytes(b"\xff\xfe\x00garbage\n\x00\x01"), "sr_set5_x4.csv"),
])
def test_unreadable_csv_is_a_clear_error(copy, capsys, damage, message):
    readme, results = copy
    damage(results / "eval" / "sr_set5_x4.csv")
    with pytest.raises(rt.TableError, match=message):
        rt.check(readme, results)
    assert rt.main(["--readme", str(readme), "--results", str(results)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "sr_set5_x4.csv" in err and err.count("\n") == 1
    assert readme.read_text(encoding="utf-8") == (ROOT / "README.md").read_text(encoding="utf-8")


def test_unreadable_kernel_size_is_a_clear_error(copy, tmp_path):
    readme, results = copy
    (tmp_path / "kernels").mkdir()
    with pytest.raises(rt.TableError, match="kernel 'levin-k1'"):
        rt.check(readme, results, kernels=tmp_path / "kernels")


def test_marker_errors(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"{rt.begin_marker('no-such-table')}\n{rt.end_marker('no-such-table')}\n", encoding="utf-8")
    with pytest.raises(rt.TableError, match="unknown table 'no-such-table'"):
        rt.check(readme)
    twice = f"{rt.begin_marker('sr-bench')}\n{rt.end_marker('sr-bench')}\n"
    readme.write_text(twice * 2, encoding="utf-8")
    with pytest.raises(rt.TableError, match="marked twice"):
        rt.check(readme, names=["sr-bench"])
