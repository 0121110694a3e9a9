"""The Streamlit dashboard through Streamlit's AppTest: every page renders, from a small results
folder made here, from real protocol outputs, from the repository's own results/, and with
malformed files (a clear message naming the file; the rest keeps working). Its data layer must
never import torch (Streamlit's file watcher trips over it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from studio import results as data
from tests.protocol_fixtures import make_results, write

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = str(ROOT / "studio" / "dashboard" / "app.py")
PAGES = ["Runs", "Replay", "Grid search", "LR finder", "Sanity checks", "GAN balance", "Source studies"]


@pytest.fixture
def results(tmp_path, monkeypatch):
    root = make_results(tmp_path / "results")
    monkeypatch.setenv(data.RESULTS_ENV, str(root))
    monkeypatch.setenv(data.CHECKPOINTS_ENV, str(tmp_path / "checkpoints"))
    return root


def render(page: str | None = None, app: AppTest | None = None) -> AppTest:
    if app is None:
        app = AppTest.from_file(DASHBOARD, default_timeout=60).run()
    if page is None:
        return app
    app.sidebar.radio(key="page").set_value(page)
    return app.run()


def plotly_count(app: AppTest) -> int:
    return len(app.get("plotly_chart"))


def texts(elements) -> list[str]:
    return [str(e.value) for e in elements]


def test_every_page_renders(results):
    app = render()
    assert not app.exception and list(app.sidebar.radio(key="page").options) == PAGES
    expectations = {"Runs": 4, "Grid search": 2, "LR finder": 1, "Sanity checks": 3, "GAN balance": 2}
    for page, charts in expectations.items():
        render(page, app)
        assert not app.exception, (page, texts(app.exception))
        assert not app.error, (page, texts(app.error))
        assert plotly_count(app) >= charts, page


def test_runs_page_overlays_runs_with_input_psnr_baseline(results):
    app = render("Runs")
    assert app.multiselect(key="runs_pick").value == ["cls-run", "gan-run", "sr-run"]
    metrics = {m.label: m for m in app.metric}
    assert metrics["sr-run: best val_psnr_y"].value == "27.30 dB"
    assert "+0.80 dB vs input (val_input_psnr_y in the run log)" in str(metrics["sr-run: best val_psnr_y"].delta)
    # gan-run has no baseline column: it comes from results/eval (set5, x4): mean of 31 and 29
    assert "-4.90 dB vs input (input_psnr_y of set5 in sr_set5_x4.csv)" == metrics["gan-run: best val_psnr_y"].delta


def test_input_psnr_baseline_sources(results, tmp_path):
    frame = data.read_table(results / "runs" / "sr-run" / "metrics.csv").frame
    assert data.input_psnr_baseline(results, "sr-run", frame, {}) == (26.5, "val_input_psnr_y in the run log")
    config = {"extra": {"preset": "srresnet", "val": "/somewhere/set5", "scale": 4}}
    value, source = data.input_psnr_baseline(results, "x", None, config)
    assert value == pytest.approx(30.0) and "sr_set5_x4.csv" in source
    card = tmp_path / "cards" / "srresnet" / "card.json"
    write(card, json.dumps({"metrics": {"set14_x4": {"input_psnr_y": 25.5}}}))
    config["extra"]["val"] = "/somewhere/set14"
    assert data.input_psnr_baseline(results, "x", None, config, tmp_path / "cards") == (25.5, "srresnet card (set14 x4)")
    assert data.input_psnr_baseline(results, "x", None, {"extra": {}}) is None


def test_grid_page_highlights_best_and_shows_effects(results):
    app = render("Grid search")
    assert any("trial 2" in s and "0.42" in s for s in texts(app.success))
    frame = app.dataframe[0].value
    assert {"lr", "weight_decay", "blocks_per_stage", "dilation", "value"} <= set(frame.columns)
    assert len(frame) == 5
    assert plotly_count(app) == 2  # parallel coordinates + heatmap


def test_lr_finder_marks_suggestions(results):
    app = render("LR finder")
    chart = app.get("plotly_chart")[0]
    figure = json.loads(chart.proto.spec)
    annotations = [a["text"] for a in figure["layout"].get("annotations", [])]
    assert any(a.startswith("steepest") for a in annotations) and any(a.startswith("valley") for a in annotations)
    assert figure["layout"]["xaxis"]["type"] == "log"
    assert len(app.dataframe[0].value) == 3


def test_sanity_page_shows_checks_and_evaluation(results):
    app = render("Sanity checks")
    labels = {m.label: m.value for m in app.metric}
    assert labels["initial loss"] == "2.3100" and labels["expected"] == "2.3026"
    assert any("reached" in s for s in texts(app.success))
    assert app.radio(key="sanity_split").options == ["test", "val"]


def test_gan_page_only_lists_gan_runs(results):
    app = render("GAN balance")
    assert app.multiselect(key="gan_pick").options == ["gan-run"]
    assert any(m.label == "last D(real) - D(fake)" for m in app.metric)


def test_relativistic_gan_runs_are_labelled(results):
    # the same log, trained with the relativistic average loss: its D outputs are read as a gap only
    gan = results / "runs" / "gan-run"
    ra = results / "runs" / "ra-run"
    ra.mkdir()
    (ra / "metrics.csv").write_text((gan / "metrics.csv").read_text())
    (ra / "config.json").write_text('{"extra": {"gan_loss": "relativistic"}}')
    assert data.gan_loss_kind(results, "ra-run") == "relativistic"
    assert data.gan_loss_kind(results, "gan-run") == "standard"
    (ra / "config.json").write_text("{not json")
    assert data.gan_loss_kind(results, "ra-run") == "standard"  # an odd config is not fatal
    (ra / "config.json").write_text('{"extra": {"gan_loss": "relativistic"}}')
    app = render("GAN balance")
    app.multiselect(key="gan_pick").set_value(["gan-run", "ra-run"])
    app.run()
    assert not app.exception
    captions = [c.value for c in app.caption]
    assert sum("Relativistic average loss" in c for c in captions) == 1
    verdicts = {m.delta for m in app.metric if m.label == "last D(real) - D(fake)"}
    assert "relativistic: gap only" in verdicts and len(verdicts) == 2


def test_split_robustness_is_drawn_as_two_by_two(results):
    rows = ("model,trained_on_split,evaluated_on_split,images,psnr,input_psnr,gain\n"
            "unet-light-v1,42,42,50,22.50,22.00,0.50\nunet-light-v1,42,123,50,22.10,21.70,0.40\n"
            "unet-light-v1,123,42,50,22.45,22.00,0.45\nunet-light-v1,123,123,50,22.20,21.70,0.50\n")
    write(results / "protocol" / "split-robustness" / "split-robustness.csv", rows)
    app = render("Sanity checks")
    app.selectbox(key="sanity_pick").set_value("split-robustness")
    app.run()
    assert not app.exception
    frames = [d.value for d in app.dataframe]
    psnr = next(f for f in frames if f.shape == (2, 2))
    assert psnr.loc["split 42", "split 123"] == pytest.approx(22.10) and psnr.loc["split 123", "split 42"] == pytest.approx(22.45)


def write_tin200_study(results, done=("baseline", "lr_high")):
    """The report's quoted figures and two of our five final runs (the others not run yet)."""
    base = results / "protocol" / data.TIN200
    write(base / "report-003-final-runs.csv", "run,epoch,val_accuracy,val_f1\n"
          "baseline,56,0.279667,0.266152\nlr_high,41,0.218,0.203994\nwd_high,57,0.212333,0.18273\n"
          "blocks_high,52,0.273333,0.26279\ndropout_high,97,0.267333,0.250162\n")
    write(base / "report-003-lr-wd.csv", "lr,weight_decay,loss\n0.0001,0,4.944475\n0.0001,1e-05,4.906494\n"
          "0.001,0,5.042563\n0.001,1e-05,5.424565\n")
    write(results / "protocol" / f"{data.TIN200}-lr-wd" / "grid-search.csv",
          "trial,value,params_lr,params_weight_decay,val_loss,steps\n0,0.01,0.0001,0,5.21,25\n"
          "1,0.01,0.0001,1e-05,5.2,25\n2,0.02,0.001,0,5.1,25\n3,0.02,0.001,1e-05,5.11,25\n")
    for index, run in enumerate(done):
        experiment = f"{data.TIN200}-{run}"
        write(results / "protocol" / experiment / "train.csv",
              "experiment,run,steps,batch_size,lr,weight_decay,best_value,best_step\n"
              f"{experiment},{experiment},400,32,0.0001,0.0001,{0.05 + index / 100},300\n")
        write(results / "protocol" / experiment / "evaluate.csv",
              f"experiment,split,n,accuracy,macro_f1\n{experiment},test,2000,{0.04 + index / 100},0.03\n")
        write(results / "runs" / experiment / "metrics.csv",
              "step,loss,val_accuracy,val_macro_f1\n200,5.0,0.04,0.02\n300,4.9,0.05,0.031\n400,4.8,0.045,0.03\n")


def test_source_studies_set_ours_beside_the_reports_figures(results):
    write_tin200_study(results)
    for run, label in data.NONORM_FAIR_RUNS.items():
        write(results / "runs" / run / "metrics.csv", "step,loss_l1,val_psnr,val_input_psnr,val_gain\n"
              "50,0.06,,,\n100,0.05,22.1,21.9,0.2\n200,0.045,22.3,21.9,0.4\n")
    frame, notes = data.tin200_final_runs(results)
    assert list(frame["run"]) == list(data.TIN200_FINAL_RUNS)
    baseline = frame.set_index("run").loc["baseline"]
    assert baseline["test_accuracy"] == pytest.approx(0.04) and baseline["val_accuracy"] == pytest.approx(0.05)
    assert baseline["val_macro_f1"] == pytest.approx(0.031)  # the exported (best) step's, not the last one's
    assert baseline["report_val_accuracy"] == pytest.approx(0.279667)
    assert pd.isna(frame.set_index("run").loc["wd_high", "test_accuracy"])  # not run yet: blank, and named
    assert any("wd_high" in note and "train.csv" in note for note in notes)
    ours, report, notes = data.tin200_lr_wd(results)
    assert ours.loc[0.001, 0.0] == pytest.approx(5.1) and report.loc[0.0001, 1e-05] == pytest.approx(4.906494)
    assert "25 training steps" in notes[0]
    curves, notes = data.nonorm_fair_curves(results)
    assert not notes and set(curves["run"]) == set(data.NONORM_FAIR_RUNS)
    app = render("Source studies")
    assert not app.exception and not app.error, texts(app.error)
    assert plotly_count(app) == 5  # finals bars, two LR x WD heatmaps, gain and loss curves
    assert "400 steps of batch 32" in " ".join(texts(app.caption))
    table = next(d.value for d in app.dataframe if "report: val accuracy" in d.value.columns)
    assert table.shape[0] == 5


def test_source_studies_without_results_say_what_is_missing(results):
    app = render("Source studies")
    assert not app.exception and not app.error
    captions = " ".join(texts(app.caption))
    assert "report-003-final-runs.csv" in captions and "nonorm-fair-v3-lr5e-4" in captions


def test_malformed_and_partial_csvs_are_named_and_isolated(results):
    write(results / "runs" / "broken" / "metrics.csv", "step,loss,lr_g\n10,1.0,0.1\n20,0.9,0.1,7,8,9\n30,0.8\n")
    write(results / "runs" / "binary" / "metrics.csv", "")
    (results / "runs" / "binary" / "metrics.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    # a log caught mid-write: the last row is cut (no newline)
    (results / "runs" / "growing" / "metrics.csv").parent.mkdir(parents=True)
    (results / "runs" / "growing" / "metrics.csv").write_text("step,loss,lr_g\n10,1.0,0.1\n20,0.9,0.1\n30,0.")
    write(results / "protocol" / "bad" / "grid-search.csv", "trial,value\n0,0.3,extra,fields\n1,\"unclosed\n")
    write(results / "protocol" / "bad" / "lr-find.csv", "lr,loss\n1e-3,2.0\n")  # no smoothed_loss column
    app = render("Runs")
    app.multiselect(key="runs_pick").set_value(["broken", "binary", "growing", "cls-run"])
    app.run()
    assert not app.exception
    errors = " | ".join(texts(app.error))
    assert "runs/broken/metrics.csv: malformed CSV" in errors
    assert "runs/binary/metrics.csv: not a UTF-8 text file" in errors
    assert any("runs/growing/metrics.csv: the last row is incomplete" in w for w in texts(app.warning))
    assert plotly_count(app) >= 2  # the good runs are still drawn
    render("Grid search", app).selectbox(key="grid_pick").set_value("bad")
    app.run()
    assert not app.exception and any("protocol/bad/grid-search.csv: malformed CSV" in e for e in texts(app.error))
    app.selectbox(key="grid_pick").set_value("tiny-cnn")
    app.run()
    assert not app.error and plotly_count(app) == 2  # the other experiment still works
    render("LR finder", app).selectbox(key="lr_pick").set_value("bad")
    app.run()
    assert any("protocol/bad/lr-find.csv: missing column(s) smoothed_loss" in e for e in texts(app.error))
    for page in PAGES:
        render(page, app)
        assert not app.exception, page


def test_odd_values_are_named_and_the_page_still_drawn(results):
    """A config scale written "x4", blank counts in check-init and overfit-small, a grid parameter
    that mixes words, numbers and a blank: each is named where it is left out; no page is lost."""
    write(results / "runs" / "gan-run" / "config.json",
          json.dumps({"run_name": "gan-run", "extra": {"preset": "srgan-v2", "val": "/x/set5", "scale": "x4"}}))
    exp = results / "protocol" / "tiny-cnn"
    check = (exp / "check-init.csv").read_text().replace(",True,20,0,True,", ",True,,,True,")
    write(exp / "check-init.csv", check)
    overfit = (exp / "overfit-small.csv").read_text().replace("classification,32,32,", "classification,,32,")
    write(exp / "overfit-small.csv", overfit)
    grid = (exp / "grid-search.csv").read_text()
    grid = grid.replace(",0.001,0.0001,3,2,", ",0.001,0.0001,three,2,").replace(",0.003,1e-05,2,3,", ",,1e-05,2,3,")
    write(exp / "grid-search.csv", grid)

    app = render("Runs")
    app.multiselect(key="runs_pick").set_value(["gan-run", "sr-run"])
    app.run()
    assert not app.exception and not app.error, texts(app.error)
    assert any("runs/gan-run/config.json: scale 'x4' is not a number" in w for w in texts(app.warning))
    assert plotly_count(app) >= 3  # the runs are still drawn, sr-run with its baseline
    assert [m.label for m in app.metric] == ["sr-run: best val_psnr_y"]

    render("Sanity checks", app)
    assert not app.exception and not app.error, texts(app.error)
    labels = {m.label: m.value for m in app.metric}
    assert labels["initial loss"] == "2.3100" and labels["parameter tensors with zero gradient"] == "?"
    captions = " | ".join(texts(app.caption))
    assert "check-init.csv: param_tensors, zero_grad_tensors blank or not a number" in captions
    assert "overfit-small.csv: n_examples blank or not a number" in captions
    assert any(s.startswith("? examples: loss 2.31 -> 0.0093 in 41 steps") for s in texts(app.success))
    assert plotly_count(app) >= 3  # gradients, overfit curve, confusion matrix

    render("Grid search", app)
    assert not app.exception and not app.error, texts(app.error)
    assert plotly_count(app) == 2  # parallel coordinates + heatmap
    captions = " | ".join(texts(app.caption))
    assert "lr is not numeric in every trial" in captions and "(blank)" in captions
    assert "blocks_per_stage is not numeric in every trial" in captions and "three" in captions


def test_read_table_messages(tmp_path):
    good = write(tmp_path / "metrics.csv", "step,loss\n1,0.5\n2,oops\n")
    table = data.read_table(good, name="runs/x/metrics.csv")
    assert table.ok and table.frame["loss"].isna().tolist() == [False, True]
    assert "runs/x/metrics.csv: column 'loss' has 1 non-numeric value(s) (first: 'oops'" in table.warnings[0]
    empty = write(tmp_path / "empty" / "metrics.csv", "")
    assert "the file is empty" in data.read_table(empty).error
    missing = data.read_table(tmp_path / "nope.csv", name="nope.csv")
    assert missing.error.startswith("nope.csv: cannot be read")
    header = write(tmp_path / "h" / "grid-search.csv", "trial,trial,value\n1,2,3\n")
    assert "malformed CSV header" in data.read_table(header).error


def test_live_refresh_toggle(results):
    app = render("Runs")
    app.sidebar.toggle(key="live").set_value(True)
    app.run()
    assert not app.exception and plotly_count(app) >= 3


def test_missing_results_folder_is_explained(tmp_path, monkeypatch):
    monkeypatch.setenv(data.RESULTS_ENV, str(tmp_path / "nothing-here"))
    app = render()
    assert not app.exception and any("does not exist yet" in w for w in texts(app.warning))


def test_repository_results_render():
    """Whatever results/ holds in this checkout (the shipped runs, or none) renders without error."""
    env_before = os.environ.pop(data.RESULTS_ENV, None)
    try:
        app = render()
        for page in PAGES:
            render(page, app)
            assert not app.exception, (page, texts(app.exception))
            assert not [e for e in texts(app.error) if "could not draw" in e], page
    finally:
        if env_before is not None:
            os.environ[data.RESULTS_ENV] = env_before


def test_protocol_outputs_render(tmp_path, monkeypatch):
    """The CSVs training.protocol really writes are what the dashboard reads."""
    from tests.protocol_fixtures import make_image_folder
    from training import protocol

    import studio.registry as registry

    monkeypatch.setattr(registry, "CHECKPOINT_DIR", tmp_path / "no-checkpoints")
    folder = make_image_folder(tmp_path / "eurosat")
    results = tmp_path / "results"
    common = ["--model", "dilated-cnn", "--name", "real", "--data", str(folder), "--image-size", "16",
              "--val-fraction", "0.34", "--test-fraction", "0.34", "--batch-size", "6", "--threads", "1",
              "--out-dir", str(results / "protocol"), "--runs-dir", str(results / "runs"), "--quiet"]
    protocol.main(["check-init", *common])
    protocol.main(["baselines", *common])
    protocol.main(["overfit-small", *common, "--examples", "6", "--steps", "30"])
    protocol.main(["lr-find", *common, "--num-steps", "10"])
    protocol.main(["grid-search", *common, "--steps", "2", "--lr", "1e-3", "3e-3", "--weight-decay", "0",
                   "--grid", "blocks_per_stage=2", "--grid", "dilation=2,3", "--grid-dir", str(results / "grid")])
    monkeypatch.setenv(data.RESULTS_ENV, str(results))
    app = render()
    for page in PAGES:
        render(page, app)
        assert not app.exception and not app.error, (page, texts(app.exception), texts(app.error))
    render("Grid search", app)
    assert plotly_count(app) == 2 and len(app.dataframe[0].value) == 4
    render("Sanity checks", app)
    assert plotly_count(app) >= 2 and {m.label for m in app.metric} >= {"initial loss", "expected"}


def test_dashboard_never_imports_torch(results):
    """Checked in a fresh interpreter: the data layer, and a full AppTest run of every page."""
    code = (
        "import sys\n"
        "import studio.results\n"
        "assert 'torch' not in sys.modules, 'the data layer imported torch'\n"
        "from streamlit.testing.v1 import AppTest\n"
        f"app = AppTest.from_file({DASHBOARD!r}, default_timeout=60).run()\n"
        f"for page in {PAGES!r}:\n"
        "    app.sidebar.radio(key='page').set_value(page)\n"
        "    app.run()\n"
        "    assert not app.exception, page\n"
        "print('torch' in sys.modules)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "False"


# ---- Replay ------------------------------------------------------------------------------------------

def snapshot_runs(root: Path) -> None:
    """Two runs of one family with snapshots at different intervals (every 10 and every 15 steps)."""
    import numpy as np

    from studio.snapshots import SnapshotCrop, SnapshotWriter

    rng = np.random.default_rng(0)
    crops = [SnapshotCrop(name, f"{name}.png", (0, 0, 32), input=rng.random((8, 8, 3)), target=rng.random((32, 32, 3)))
             for name in ("baby", "bird")]
    for run, steps in (("sr-every-10", (10, 20, 30)), ("sr-every-15", (15, 30))):
        folder = root / "runs" / run
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "metrics.csv").write_text("step,loss_g\n" + "".join(f"{s},{1 / s}\n" for s in steps))
        writer = SnapshotWriter(folder, "sr", crops)
        writer.start()
        for step in steps:
            writer.write(step, {c.name: np.full((32, 32, 3), step / 40) for c in crops})


def shown_images(app: AppTest) -> dict[str, str]:
    """caption -> served image URL of every image on the page."""
    found = {}

    def walk(node):
        for child in getattr(node, "children", {}).values():
            if getattr(child, "type", None) == "image":
                for image in child.proto.imgs:
                    found[image.caption] = image.url
            walk(child)

    walk(app.main)
    return found


def test_replay_moves_every_run_to_the_step_and_aligns_other_intervals_to_their_nearest(results):
    snapshot_runs(results)
    app = render("Replay")
    assert not app.exception and not app.error
    assert list(app.select_slider(key="replay_step").options) == ["10", "15", "20", "30"]
    last = shown_images(app)
    assert {"sr-every-10 · step 30 · 8.34 dB", "sr-every-15 · step 30 · 8.34 dB", "ground truth"} <= set(last)
    app.select_slider(key="replay_step").set_value(20).run()
    at_20 = shown_images(app)
    assert any(c.startswith("sr-every-10 · step 20 ") for c in at_20)
    assert any(c.startswith("sr-every-15 · nearest step 15 (asked 20)") for c in at_20)
    moved = {c.split(" · ")[0]: url for c, url in at_20.items() if " · " in c}
    before = {c.split(" · ")[0]: url for c, url in last.items() if " · " in c}
    assert moved["sr-every-10"] != before["sr-every-10"]  # another image at another step
    app.button(key="replay_back").click().run()
    back = shown_images(app)  # 20 -> 15: the 10-step run shows its nearest (a tie goes to the earlier step)
    assert any(c.startswith("sr-every-10 · nearest step 10 (asked 15)") for c in back)
    assert any(c.startswith("sr-every-15 · step 15 ") for c in back)
    assert plotly_count(app) == 2  # the crop's PSNR and the losses, each marked at the step


def test_replay_names_a_missing_snapshot_and_draws_the_rest(results):
    snapshot_runs(results)
    (results / "runs" / "sr-every-10" / "snapshots" / "step_0000030" / "baby.png").write_bytes(b"broken")
    app = render("Replay")
    assert not app.exception
    assert any("baby.png (output of baby) could not be read" in w for w in texts(app.warning))
    assert any(c.startswith("sr-every-15 · step 30") for c in shown_images(app))


def test_replay_without_snapshots_says_how_to_get_them(results):
    app = render("Replay")
    assert not app.exception and any("--no-snapshots" in t for t in texts(app.info))
