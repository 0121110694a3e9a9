"""``python -m studio.data check`` and ``require_dataset``: every dataset a command reads is listed
with its folder, count and source; a command whose data is missing stops with one line that names
the folder and the check, never a traceback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from studio import data_sources as ds
from studio.data import DATASETS, MissingDataset, has_images, require_dataset
from studio.imageio import save_png

ROOT = Path(__file__).resolve().parent.parent


def run(*args, env_extra=None, timeout=300):
    env = dict(os.environ, PYTHONPATH=str(ROOT), **(env_extra or {}))
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def tiny_images(folder: Path, count: int, size=(12, 10)) -> Path:
    rng = np.random.default_rng(count)
    for i in range(count):
        save_png((rng.random((*size, 3)) * 255).astype(np.uint8), folder / f"img_{i}.png")
    return folder


def test_every_dataset_the_commands_name_is_in_the_check():
    """The folders under the datasets root named by training/, studio.evaluate, the recipes, the
    benchmarks and the README are all catalogued (a new one must come with its source and terms)."""
    named = set()
    for path in [*ROOT.glob("training/*.py"), ROOT / "studio" / "evaluate.py", *ROOT.glob("training/recipes/*.sh"),
                 *ROOT.glob("benchmarks/*.py"), ROOT / "README.md"]:
        text = path.read_text()
        named |= set(re.findall(r'DATASETS / "([A-Za-z0-9_]+)"', text))
        named |= set(re.findall(r'(?:shared/datasets|\$DATA|STUDIO_DATASETS)/([A-Za-z0-9_]+)', text))
    named -= {"path"}  # the README's STUDIO_DATASETS=/path/to/datasets
    catalogued = {d.name for d in ds.CATALOG}
    assert named, "no dataset folder found in the commands: the patterns above are stale"
    assert named <= catalogued, f"not in studio/data_sources.py CATALOG: {sorted(named - catalogued)}"
    for d in ds.CATALOG:
        assert d.used_by and d.source and d.terms and all(n > 0 for n in d.parts.values()), d.name
        assert "http" in d.source or re.search(r"(19|20)\d\d", d.source), d.name  # a URL or a citation


def test_check_reports_present_missing_and_incomplete(tmp_path):
    root = tmp_path / "datasets"
    tiny_images(root / "set5", 5)
    tiny_images(root / "set14", 3)  # 14 expected
    result = run("-m", "studio.data", "check", "--root", str(root))
    assert result.returncode == 1, result.stderr  # required datasets are missing
    out = result.stdout
    assert f"Datasets root: {root}" in out
    assert "[ok] set5:" in out and "[INCOMPLETE] set14:" in out and "[MISSING] bsds500:" in out
    for d in ds.CATALOG:
        assert f"] {d.name}:" in out
    # where it is expected, what was found, who reads it, where the original comes from
    block = out[out.index("[ok] set5:"):out.index("[INCOMPLETE] set14:")]
    assert f"folder    {root / 'set5'}\n" in block and "images    found 5; expected 5\n" in block
    assert "training.train_sr" in block and "studio.evaluate" in block
    assert "Bevilacqua" in block and "http://people.rennes.inria.fr/Aline.Roumy/results/SR_BMVC12.html" in block
    assert "terms" in block
    bsds = out[out.index("[MISSING] bsds500:"):]
    assert "found train/ 0, val/ 0, test/ 0; expected train/ 200, val/ 100, test/ 200" in bsds
    assert "grouping/resources.html" in bsds and "non-commercial" in bsds
    assert "1 of 8 datasets read by default are present" in out
    assert "missing or incomplete: bsds500, t91, set14," in out


def test_check_passes_when_every_required_dataset_is_there(tmp_path, monkeypatch, capsys):
    small = tuple(ds.Dataset(d.name, d.title, {part: 2 for part in d.parts}, d.used_by, d.source, d.terms,
                             required=d.required) for d in ds.CATALOG)
    monkeypatch.setattr(ds, "CATALOG", small)
    root = tmp_path / "datasets"
    for d in small:
        if d.required:
            for part in d.parts:
                tiny_images(root / d.name / part, 2)
    assert ds.main(["check", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "8 of 8 datasets read by default are present." in out
    assert "[MISSING] gopro_blurred_only:" in out  # optional ones are reported, and do not fail the check


def test_the_shared_datasets_match_the_catalogue(datasets):
    statuses = ds.check(datasets)
    assert {s.dataset.name: s.state for s in statuses if s.dataset.required} == {
        d.name: "ok" for d in ds.CATALOG if d.required}


def test_require_dataset_accepts_images_in_class_folders(tmp_path):
    tiny_images(tmp_path / "classes" / "train" / "n01" , 1)
    assert has_images(tmp_path / "classes") and require_dataset(tmp_path / "classes") == tmp_path / "classes"
    (tmp_path / "empty" / "a" / "b").mkdir(parents=True)
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    assert not has_images(tmp_path / "empty")
    with pytest.raises(MissingDataset) as err:
        require_dataset(tmp_path / "empty", "--val")
    message = str(err.value.code)
    assert message.startswith("error: --val: no images in ") and str(tmp_path / "empty") in message
    assert "\n" not in message and "python -m studio.data check" in message


def test_missing_folder_names_its_dataset():
    with pytest.raises(MissingDataset) as err:
        require_dataset(DATASETS / "set14" / "nowhere")
    assert "(missing dataset folder: set14)" in str(err.value.code)


def _one_line_stop(result, folder: Path):
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # no traceback, no progress bar
    assert lines[0].startswith("error: ") and str(folder) in lines[0]
    assert "python -m studio.data check" in lines[0]


def test_a_training_command_without_its_data_stops_with_one_line(tmp_path):
    empty = tmp_path / "datasets"
    empty.mkdir()
    result = run("-m", "training.train_sr", "--preset", "srresnet", "--steps", "1",
                 "--runs-dir", str(tmp_path / "runs"), env_extra={"STUDIO_DATASETS": str(empty)})
    _one_line_stop(result, empty / "bsds500" / "train")
    assert "missing dataset folder: bsds500" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_evaluate_without_its_data_stops_with_one_line(tmp_path):
    missing = tmp_path / "datasets" / "set5"
    result = run("-m", "studio.evaluate", "--task", "sr", "--models", "bicubic", "--clean", str(missing),
                 "--out", str(tmp_path / "x.csv"))
    _one_line_stop(result, missing)
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize("command", ["train_deblur", "train_restoration", "train_classifier", "protocol"])
def test_every_training_command_checks_its_folders(command, tmp_path):
    import importlib

    module = importlib.import_module(f"training.{command}")
    missing = tmp_path / "absent"
    argv = {"train_deblur": ["--preset", "unet-light-v1", "--data", str(missing), "--val", str(missing)],
            "train_restoration": ["--preset", "vae-unet", "--data", str(missing), "--val", str(missing)],
            "train_classifier": ["--model", "dilated-cnn", "--data", str(missing)],
            "protocol": ["baselines", "--model", "dilated-cnn", "--data", str(missing)]}[command]
    with pytest.raises(MissingDataset, match=re.escape(str(missing))):
        module.main([*argv, "--runs-dir", str(tmp_path / "runs")] if command != "protocol" else
                    [*argv, "--out-dir", str(tmp_path / "out")])
    assert not (tmp_path / "runs").exists()


def test_protocol_sr_commands_check_train_and_validation_folders(tmp_path):
    from training import protocol

    tiny_images(tmp_path / "val", 1, size=(64, 64))
    with pytest.raises(MissingDataset, match="--data/--val"):
        protocol.main(["check-init", "--model", "srresnet", "--data", str(tmp_path / "absent"), "--val",
                       str(tmp_path / "val"), "--out-dir", str(tmp_path / "out"), "--quiet"])
    with pytest.raises(MissingDataset, match="--clean/--val"):
        protocol.main(["baselines", "--model", "srresnet", "--clean", str(tmp_path / "absent"),
                       "--out-dir", str(tmp_path / "out"), "--quiet"])


def test_prepare_tiny_imagenet_from_the_official_layout(tmp_path):
    """The official zip has train/<wnid>/images/ and one val/images/ folder with an annotation file;
    the classifiers read train/<wnid>/ and val/<wnid>/."""
    from training.train_classifier import load_classifier_data

    source = tmp_path / "tiny-imagenet-200"
    wnids = ["n001", "n002", "n003"]
    (source / "val").mkdir(parents=True)
    (source / "wnids.txt").write_text("\n".join(wnids) + "\n")
    (source / "words.txt").write_text("".join(f"{w}\tthing {w}\n" for w in wnids))
    annotations = []
    for c, wnid in enumerate(wnids):
        tiny_images(source / "train" / wnid / "images", 5, size=(64, 64))
        for i in range(2):
            name = f"val_{c * 2 + i}.JPEG"
            save_png(np.full((64, 64, 3), 40 * c, np.uint8), source / "val" / "images" / name.replace(".JPEG", ".png"))
            (source / "val" / "images" / name.replace(".JPEG", ".png")).rename(source / "val" / "images" / name)
            annotations.append(f"{name}\t{wnid}\t0\t0\t63\t63")
    (source / "val" / "val_annotations.txt").write_text("\n".join(annotations) + "\n")

    root = tmp_path / "datasets"
    assert ds.main(["prepare-tiny-imagenet", str(source), "--root", str(root), "--per-class", "3"]) == 0
    dest = root / "tiny_imagenet_subset"
    assert sorted(p.name for p in (dest / "train").iterdir()) == wnids
    assert all(len(list((dest / "train" / w).iterdir())) == 3 for w in wnids)
    assert [len(list((dest / "val" / w).iterdir())) for w in wnids] == [2, 2, 2]
    assert (dest / "wnids.txt").read_text().split() == wnids
    data = load_classifier_data(dest, 3, image_size=16, test_fraction=0.5, progress=False)
    assert len(data.train) == 9 and len(data.val) + len(data.test) == 6
    # the same seed picks the same images
    again = tmp_path / "again"
    ds.prepare_tiny_imagenet(source, again, per_class=3)
    assert sorted(p.name for p in (again / "train" / "n002").iterdir()) == sorted(
        p.name for p in (dest / "train" / "n002").iterdir())
    assert ds.main(["prepare-tiny-imagenet", str(tmp_path / "nothing"), "--root", str(root)]) == 2
