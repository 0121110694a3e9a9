"""The figures the Models tab's lessons quote from run logs and evaluation CSVs are those files'
figures: recomputed here, so a retrained model or a re-run evaluation cannot leave stale text."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from studio.app.model_cards import LESSONS

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


def test_srgan_v2_lesson_quotes_its_log_and_the_warmup_it_started_from():
    frame, text = log("srgan-v2"), LESSONS["srgan-v2"]
    assert f"d_real {frame['d_real'].mean():.2f}, d_fake {frame['d_fake'].mean():.2f}" in text
    warmup, after = last_validation("srresnet"), last_validation("srgan-v2")
    assert f"{warmup - after:.2f} dB" in text
    assert f"{warmup:.2f} dB from srresnet" in text and f"{after:.2f} dB at its last validation" in text


def test_bicubic_lesson_quotes_the_set5_evaluation():
    frame = pd.read_csv(ROOT / "results" / "eval" / "sr_set5_x4.csv")
    bicubic = frame[frame["model"] == "bicubic"]["psnr_y"].mean()
    assert f"{bicubic:.2f} dB PSNR-Y" in LESSONS["bicubic"]


@pytest.mark.parametrize("name", sorted(LESSONS))
def test_no_lesson_quotes_a_run_it_does_not_have(name):
    # a lesson that cites "its log" / "its run log" needs a shipped log to cite
    if "its log" in LESSONS[name] or "its run log" in LESSONS[name]:
        assert (RUNS / name / "metrics.csv").is_file(), name
