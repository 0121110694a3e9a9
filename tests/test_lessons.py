"""The figures the Models tab's lessons quote from run logs and evaluation CSVs are read from those
files when a lesson is shown (``studio.app.model_cards.lesson_figures``): recomputed here from the
files, and the claims the text makes around them (who wins, below bicubic) checked against them,
so a retrained model or a re-run evaluation cannot leave stale text."""

from __future__ import annotations

import json
import shutil
import string
from pathlib import Path

import pandas as pd
import pytest

from studio.app.model_cards import LESSON_TEXTS, LESSONS, lesson_figures
from studio.registry import get_entry

ROOT = Path(__file__).resolve().parent.parent
RUNS = ROOT / "results" / "runs"


def log(run: str) -> pd.DataFrame:
    return pd.read_csv(RUNS / run / "metrics.csv")


def last_validation(run: str) -> float:
    return float(log(run)["val_psnr_y"].dropna().iloc[-1])


def test_srgan_v1_lesson_quotes_its_discriminator_outputs():
    late = log("srgan-v1")
    late = late[late["step"] > late["step"].max() / 2]
    text = LESSONS["srgan-v1"]
    assert f"d_real {late['d_real'].min():.2f}–{late['d_real'].max():.2f}" in text
    assert f"d_fake {late['d_fake'].min():.2f}–{late['d_fake'].max():.2f}" in text
    assert f"last {int(late['step'].max() / 2)} of its {int(late['step'].max())} steps" in text


def test_srgan_v1_lesson_quotes_its_whole_run_means():
    frame = log("srgan-v1")
    assert (f"d_real {frame['d_real'].mean():.2f}, d_fake {frame['d_fake'].mean():.2f} averaged over the whole run"
            in LESSONS["srgan-v1"])
    # the dashboard's rule: a last D(real) - D(fake) above 0.6 is "D wins easily"
    balance = frame[["d_real", "d_fake"]].dropna()
    assert balance["d_real"].iloc[-1] - balance["d_fake"].iloc[-1] > 0.6


def test_srgan_v1_ends_below_bicubic_as_its_lesson_says():
    set5 = pd.read_csv(ROOT / "results" / "eval" / "sr_set5_x4.csv")
    assert last_validation("srgan-v1") < set5[set5["model"] == "bicubic"]["psnr_y"].mean()
    assert "the PSNR ends below bicubic" in LESSONS["srgan-v1"]


def test_srgan_v2_lesson_quotes_its_log_and_the_warmup_it_started_from():
    frame, text = log("srgan-v2"), LESSONS["srgan-v2"]
    assert f"d_real {frame['d_real'].mean():.2f}, d_fake {frame['d_fake'].mean():.2f}" in text
    # the gap the dashboard's GAN page judges: its rule says "D ahead" between 0.3 and 0.6
    balance = frame[["d_real", "d_fake"]].dropna()
    gap = balance["d_real"] - balance["d_fake"]
    assert f"D(real) − D(fake) {gap.mean():.2f} on average and {gap.iloc[-1]:.2f} at the last logged step" in text
    assert 0.3 <= gap.iloc[-1] <= 0.6 and "'D ahead'" in text
    warmup, after = last_validation("srresnet"), last_validation("srgan-v2")
    assert f"{warmup - after:.2f} dB" in text
    assert f"{warmup:.2f} dB from srresnet" in text and f"{after:.2f} dB at its last validation" in text


def test_bicubic_lesson_quotes_the_set5_evaluation():
    frame = pd.read_csv(ROOT / "results" / "eval" / "sr_set5_x4.csv")
    bicubic = frame[frame["model"] == "bicubic"]["psnr_y"].mean()
    assert f"{bicubic:.2f} dB PSNR-Y" in LESSONS["bicubic"]


@pytest.mark.parametrize("name", sorted(LESSONS))
def test_every_figure_of_a_lesson_is_filled_from_the_results(name):
    fields = {field for _, field, _, _ in string.Formatter().parse(LESSON_TEXTS[name]) if field}
    assert fields <= set(lesson_figures()), sorted(fields - set(lesson_figures()))
    assert "{" not in LESSONS[name] and "}" not in LESSONS[name]


def test_lessons_read_the_results_when_shown(tmp_path, monkeypatch):
    (tmp_path / "eval").mkdir()
    frame = pd.read_csv(ROOT / "results" / "eval" / "sr_set5_x4.csv")
    frame.loc[frame["model"] == "bicubic", "psnr_y"] = 12.345
    frame.to_csv(tmp_path / "eval" / "sr_set5_x4.csv", index=False)
    shutil.copytree(RUNS / "srgan-v1", tmp_path / "runs" / "srgan-v1")
    monkeypatch.setenv("STUDIO_RESULTS", str(tmp_path))
    assert "(12.35 dB PSNR-Y" in LESSONS["bicubic"]
    # srgan-v2's log and srresnet's are absent here: their figures show as "–", the text still renders
    assert "– dB of Set5 PSNR-Y" in LESSONS["srgan-v2"] and "d_real 0." in LESSONS["srgan-v1"]


@pytest.mark.parametrize("name", sorted(LESSONS))
def test_no_lesson_quotes_a_run_it_does_not_have(name):
    # a lesson that cites "its log" / "its run log" needs a shipped log to cite
    if "its log" in LESSONS[name] or "its run log" in LESSONS[name]:
        assert (RUNS / name / "metrics.csv").is_file(), name


def test_deblur_v1_description_quotes_the_rate_its_run_started_from():
    config = json.loads((RUNS / "unet-light-v1" / "config.json").read_text())
    first_lr = float(log("unet-light-v1")["lr_g"].dropna().iloc[0])
    assert config["lr"] == first_lr == 5e-4
    assert "ReduceLROnPlateau from lr 5e-4" in get_entry("unet-light-v1").description


@pytest.mark.parametrize("run", ["vae-unet", "pix2pix-gan", "cnn-two-stage"])
def test_restoration_runs_trained_and_validated_at_96_px(run):
    # training/train_restoration.py: the cpu recipe's crops and validation images are 96 px
    config = json.loads((RUNS / run / "config.json").read_text())
    assert config["extra"]["patch"] == 96
    card = json.loads((ROOT / "checkpoints" / run / "card.json").read_text())
    assert "images at 96 px" in card["training"]["validation"]["data"]
