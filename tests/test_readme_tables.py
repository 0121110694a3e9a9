"""The result tables of README.md and docs/*.md are generated from results/ (``python -m
studio.readme_tables``): the shipped files are in sync, a changed figure or a hand-edited table in
any of them makes the check fail naming the table and the file, regenerating fixes it, and missing
markers, unknown names or an unreadable CSV are one clear line. Only the repository's own files are
read (no datasets)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from studio import readme_tables as rt

ROOT = Path(__file__).resolve().parent.parent


def test_readme_and_docs_tables_match_results():
    assert rt.check() == [], "README.md or docs/*.md is out of date: run `python -m studio.readme_tables`"


def test_the_documents_are_the_readme_and_every_doc():
    assert rt.documents() == [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    # every registered table is somewhere, the README holds one headline table per family
    placed = {name for path in rt.documents()
              for name in rt.find_blocks(path.read_text(encoding="utf-8").splitlines(keepends=True), path)}
    assert placed == set(rt.TABLES)
    readme = rt.find_blocks((ROOT / "README.md").read_text(encoding="utf-8").splitlines(keepends=True))
    assert set(readme) == {"sr-results", "restoration-results", "deblur-results", "protocol-classifiers"}


def test_module_and_family_tables_are_torch_free():
    code = ("import sys, studio.readme_tables as rt; rt.tables(); "
            "import studio.sr.tables, studio.deblur.tables, studio.restoration.tables, studio.classify.tables; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


def test_every_table_function_lives_with_its_family():
    families = {"sr": "studio.sr.tables", "restoration": "studio.restoration.tables",
                "deblur": "studio.deblur.tables", "kernel": "studio.deblur.tables", "long": "studio.deblur.tables",
                "nonorm": "studio.deblur.tables", "split": "studio.deblur.tables",
                "tin200": "studio.classify.tables", "protocol": "studio.classify.tables",
                "app": "studio.readme_tables"}
    for name, (function, _) in rt.TABLES.items():
        assert function.__module__ == families[name.split("-")[0]], name


@pytest.fixture
def copy(tmp_path):
    """A copy of README.md, docs/*.md and of the files the tables read (results/eval, results/bench,
    the split-robustness table, the protocol's and the source studies' tables and run logs, the
    tuning summaries). Returns (the copy's root, its results folder)."""
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    (tmp_path / "docs").mkdir()
    for doc in (ROOT / "docs").glob("*.md"):
        shutil.copy(doc, tmp_path / "docs" / doc.name)
    results = tmp_path / "results"
    studies = [p.relative_to(ROOT / "results").as_posix()
               for pattern in ("protocol/resnet-dropout-tin200*", "runs/resnet-dropout-tin200-*", "runs/nonorm-fair-*",
                               "protocol/dilated-cnn-tin10*", "protocol/resnet-dropout-tin10*", "protocol/srresnet-protocol",
                               "runs/dilated-cnn-tin10", "runs/dilated-cnn-tin10-course", "runs/resnet-dropout-tin10-32px")
               for p in (ROOT / "results").glob(pattern) if p.is_dir()]
    for sub in ("eval", "bench", "tuning", "protocol/split-robustness", *studies):
        (results / sub).mkdir(parents=True)
        for path in (ROOT / "results" / sub).glob("*"):
            if path.suffix in (".csv", ".json"):
                shutil.copy(path, results / sub / path.name)
    return tmp_path, results


def _texts(root: Path) -> dict[str, str]:
    return {path.relative_to(root).as_posix(): path.read_text(encoding="utf-8") for path in rt.documents(root)}


def test_changed_figure_is_stale_and_regenerating_fixes_it(copy, capsys):
    root, results = copy
    before = _texts(root)
    assert rt.check(root, results) == []
    bench = results / "bench" / "sr_bench.csv"
    frame = pd.read_csv(bench)
    row = (frame["model"] == "srresnet") & (frame["variant"] == "fp32") & (frame["out_width"] == 256)
    assert row.sum() == 1
    frame.loc[row, "median_ms"] = 45.2
    frame.to_csv(bench, index=False)

    assert rt.check(root, results) == ["sr-bench"]
    assert rt.stale(root, results) == [(root / "docs" / "sr.md", "sr-bench")]
    assert rt.main(["--check", "--root", str(root), "--results", str(results)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "sr.md: table 'sr-bench'" in err[0] and "run `python -m studio.readme_tables`" in err[0]

    assert rt.main(["--root", str(root), "--results", str(results)]) == 0
    assert "sr.md: regenerated table 'sr-bench'" in capsys.readouterr().out
    assert rt.check(root, results) == []
    assert rt.main(["--check", "--root", str(root), "--results", str(results)]) == 0
    after = _texts(root)
    assert [name for name in before if before[name] != after[name]] == ["docs/sr.md"]
    old, new = before["docs/sr.md"].splitlines(), after["docs/sr.md"].splitlines()
    assert len(old) == len(new)
    assert [(a, b) for a, b in zip(old, new) if a != b] == [
        ("| 256x256 | `srresnet` | 32 | 30 ms (1.08x) | 23 ms (1.42x) | 18 ms (1.74x) | 60 dB |",
         "| 256x256 | `srresnet` | 45 | 30 ms (1.08x) | 23 ms (1.42x) | 18 ms (1.74x) | 60 dB |")]


def test_hand_edited_table_in_a_doc_is_reported_with_its_file(copy, capsys):
    root, results = copy
    doc = root / "docs" / "deblur.md"
    text = doc.read_text(encoding="utf-8")
    edited = text.replace("| `unsharp-mask` | ", "| `unsharp-mask` (edited) | ", 1)
    assert edited != text
    doc.write_text(edited, encoding="utf-8")
    assert rt.stale(root, results) == [(doc, "deblur-bench")]
    assert rt.main(["--check", "--root", str(root), "--results", str(results)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "deblur.md: table 'deblur-bench' is stale" in err[0]
    assert rt.write(root, results) == ["deblur-bench"]
    assert doc.read_text(encoding="utf-8") == text


def test_a_table_in_two_files_is_checked_in_both(copy, capsys):
    """The README's headline tables are also on their family's page: a changed figure makes both
    stale, each reported with its file, and regenerating fixes both."""
    root, results = copy
    evaluation = results / "eval" / "sr_set5_x4.csv"
    frame = pd.read_csv(evaluation)
    frame.loc[frame["model"] == "srresnet", "psnr_y"] += 0.5
    frame.to_csv(evaluation, index=False)
    stale = rt.stale(root, results)
    assert (root / "README.md", "sr-results") in stale and (root / "docs" / "sr.md", "sr-results") in stale
    assert rt.main(["--check", "--root", str(root), "--results", str(results)]) == 1
    err = capsys.readouterr().err
    assert "README.md: table 'sr-results'" in err and "sr.md: table 'sr-results'" in err
    rt.write(root, results)
    assert rt.check(root, results) == []
    readme = rt.find_blocks((root / "README.md").read_text(encoding="utf-8").splitlines(keepends=True))["sr-results"]
    lines = (root / "README.md").read_text(encoding="utf-8").splitlines()[readme.start + 1:readme.end]
    assert lines == rt.render("sr-results", results)
    assert "\n".join(lines) in (root / "docs" / "sr.md").read_text(encoding="utf-8")


def test_explicit_files_on_the_command_line(copy, capsys):
    root, results = copy
    files = [str(path) for path in rt.documents(root)]
    assert rt.main(["--check", "--results", str(results), *files]) == 0
    assert f"in {len(files)} files match" in capsys.readouterr().out
    # without the doc that holds them, the deblurring tables are in none of the files given
    assert rt.main(["--check", "--results", str(results), *[f for f in files if not f.endswith("deblur.md")]]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no marker pair for table(s)") and "'deblur-per-kernel'" in err


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
    root, results = copy
    doc = root / "docs" / "deblur.md"
    lines = doc.read_text(encoding="utf-8").splitlines(keepends=True)
    marks = {"begin": rt.begin_marker("deblur-bench"), "end": rt.end_marker("deblur-bench")}
    gone = [marks[drop]] if drop != "both" else list(marks.values())
    doc.write_text("".join(line for line in lines if line.strip() not in gone), encoding="utf-8")
    with pytest.raises(rt.TableError, match="deblur-bench"):
        rt.check(root, results)
    assert rt.main(["--check", "--root", str(root), "--results", str(results)]) == 1
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
    root, results = copy
    before = _texts(root)
    damage(results / "eval" / "sr_set5_x4.csv")
    with pytest.raises(rt.TableError, match=message):
        rt.check(root, results)
    assert rt.main(["--root", str(root), "--results", str(results)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "sr_set5_x4.csv" in err and err.count("\n") == 1
    assert _texts(root) == before  # nothing written


def test_unreadable_kernel_size_is_a_clear_error(copy, tmp_path):
    root, results = copy
    (tmp_path / "kernels").mkdir()
    with pytest.raises(rt.TableError, match="kernel 'levin-k1'"):
        rt.check(root, results, kernels=tmp_path / "kernels")


def test_marker_errors(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"{rt.begin_marker('no-such-table')}\n{rt.end_marker('no-such-table')}\n", encoding="utf-8")
    with pytest.raises(rt.TableError, match="unknown table 'no-such-table'"):
        rt.check(readme)
    twice = f"{rt.begin_marker('sr-bench')}\n{rt.end_marker('sr-bench')}\n"
    readme.write_text(twice * 2, encoding="utf-8")
    with pytest.raises(rt.TableError, match="marked twice"):
        rt.check(readme, names=["sr-bench"])


def test_unknown_name_in_a_doc_names_the_doc(copy, capsys):
    root, results = copy
    doc = root / "docs" / "design.md"
    doc.write_text(doc.read_text(encoding="utf-8")
                   + f"\n{rt.begin_marker('no-such-table')}\n{rt.end_marker('no-such-table')}\n", encoding="utf-8")
    with pytest.raises(rt.TableError, match=r"design\.md:\d+: unknown table 'no-such-table'"):
        rt.check(root, results)
    assert rt.main(["--check", "--root", str(root), "--results", str(results)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "design.md" in err and "'no-such-table'" in err


def test_command_line_error_is_one_line(tmp_path):
    """``python -m studio.readme_tables`` (the module run as __main__) reports a table error as one
    line and status 1, as the imported module's ``main`` does."""
    result = subprocess.run([sys.executable, "-m", "studio.readme_tables", "--check", "--results", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1 and "no such file" in result.stderr
