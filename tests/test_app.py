"""The studio answers through its real HTTP API (gradio_client): every tab's main endpoint, the
no-reference mode, the follow-up views, and bad uploads -- each answered with a clear message while
the server keeps serving. One server for the whole module; small images keep it quick."""

from __future__ import annotations

import json
import socket
import zipfile
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"
CLEAN = "Clean photo: degrade it, restore it, score against it"
NO_REFERENCE = "Already degraded photo: restore only (no reference, so no scores)"
# outputs of /compare_<task>
SUMMARY, GRID, TABLE, LEFT, RIGHT, SLIDER, ERRORS, COLORBAR, WHERE, X, Y, CROPS, PD, SPECTRUM, DOWNLOAD, RUN, KERNELS = \
    range(17)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def client():
    import app

    demo = app.build_demo()
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **app.launch_kwargs())
    try:
        yield Client(f"http://127.0.0.1:{port}/", verbose=False)
    finally:
        demo.close()


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    """A 96x96 crop of a real photo (not a shipped sample file, so never served from the cache)."""
    path = tmp_path_factory.mktemp("photos") / "crop.png"
    Image.open(SAMPLES / "set5_butterfly.png").convert("RGB").crop((80, 80, 176, 176)).save(path)
    return path


def sr(client, path, mode=CLEAN, models=("bicubic", "lanczos", "srresnet"), seed=0, scale=4, degradation="bicubic"):
    return client.predict(handle_file(str(path)), mode, list(models), seed, scale, degradation, api_name="/compare_sr")


def raw_call(client, api_name: str, body: str) -> tuple[str, str]:
    """Call an endpoint with a hand-written JSON body (gradio_client cannot send NaN, a raw HTTP
    client can): (event, data) of the answer, e.g. ("error", message) or ("complete", outputs)."""
    import httpx

    base = client.src.rstrip("/")
    started = httpx.post(f"{base}/gradio_api/call/{api_name}", content=body,
                         headers={"Content-Type": "application/json"}, timeout=60)
    started.raise_for_status()
    event = data = ""
    with httpx.stream("GET", f"{base}/gradio_api/call/{api_name}/{started.json()['event_id']}", timeout=120) as answer:
        for line in answer.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event in ("error", "complete"):
                return event, line[5:].strip()
    return event, data


def upload(client, path) -> str:
    """A file uploaded the way a browser does it: its path on the server, for raw_call."""
    import httpx

    with open(path, "rb") as handle:
        answer = httpx.post(f"{client.src.rstrip('/')}/gradio_api/upload", files={"files": handle}, timeout=60)
    answer.raise_for_status()
    return json.dumps({"path": answer.json()[0], "meta": {"_type": "gradio.FileData"}})


def test_endpoints_are_named(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    for task in ("sr", "deblur", "restoration"):
        assert {f"/compare_{task}", f"/slider_{task}", f"/crops_{task}"} <= names
    assert {"/benchmark", "/benchmark_cases", "/recompute_benchmark", "/model_card"} <= names


def test_sr_comparison_scores_every_model_against_ground_truth(client, photo):
    out = sr(client, photo)
    captions = [item["caption"] for item in out[GRID]]
    assert captions[0] == "ground truth" and captions[1].startswith("input")
    assert len(captions) == 5  # ground truth, input, three models
    assert all(Path(item["image"]).suffix == ".png" for item in out[GRID])
    rows = {row[0]: row for row in out[TABLE]["data"]}
    assert set(rows) == {"input", "bicubic", "lanczos", "srresnet"}
    assert rows["bicubic"][4] == 0.0  # bicubic is the SR input reference: Δ = 0
    assert rows["srresnet"][2] > rows["bicubic"][2] > 15  # PSNR-Y in dB, the learned model ahead
    assert all(isinstance(rows[m][5], (int, float)) and rows[m][5] >= 0 for m in ("bicubic", "srresnet"))
    assert "srresnet" in captions[4] and "PSNR-Y" in captions[4] and "vs input" in captions[4] and "ms" in captions[4]
    # the slider opens on the input against the best learned model; every image can be picked
    assert out[LEFT]["value"] == "input" and out[RIGHT]["value"] == "srresnet"
    assert {c[1] for c in out[LEFT]["choices"]} == {"ground_truth", "input", "bicubic", "lanczos", "srresnet"}
    assert len(out[SLIDER]) == 2 and all(Path(p).suffix == ".png" for p in out[SLIDER])
    # error maps on one scale (input + models), a colour bar, the two plots
    assert len(out[ERRORS]) == 4 and "mean |error|" in out[ERRORS][0]["caption"]
    assert Image.open(out[COLORBAR]).size[0] > 200
    pd_plot = json.loads(out[PD]["plot"])
    # SR's bicubic is the input reference itself: one point carries both names
    assert {t["name"] for t in pd_plot["data"]} == {"input = bicubic", "lanczos", "srresnet"}
    assert "PSNR-Y" in pd_plot["layout"]["yaxis"]["title"]["text"]
    assert len(json.loads(out[SPECTRUM]["plot"])["data"]) == 4
    assert len(out[CROPS]) == 5
    # the download holds every image as PNG, the scores and the settings
    with zipfile.ZipFile(out[DOWNLOAD]) as bundle:
        names = bundle.namelist()
        assert "scores.csv" in names and "settings.json" in names
        assert sum(n.endswith(".png") for n in names) >= 5 + 4
        assert json.loads(bundle.read("settings.json"))["params"] == {"scale": 4, "degradation": "bicubic"}


def test_sr_real_photo_degradation_is_a_clean_mode_setting_the_real_trained_model_handles(client, photo):
    bicubic_made = sr(client, photo, models=("bicubic", "srresnet", "real-srresnet"), seed=3)
    out = sr(client, photo, models=("bicubic", "srresnet", "real-srresnet"), seed=3, degradation="real")
    assert "real-photo degradation x4 to 24×24 px (seed 3)" in out[SUMMARY] and "JPEG" in out[SUMMARY]
    rows = {row[0]: row for row in out[TABLE]["data"]}
    plain = {row[0]: row for row in bicubic_made[TABLE]["data"]}
    assert rows["input"][2] < plain["input"][2]  # the real-photo input has lost more than a clean downscale
    # the model trained on such inputs is ahead of the one trained on bicubic downscaling
    assert rows["real-srresnet"][2] > rows["srresnet"][2]
    again = sr(client, photo, models=("bicubic",), seed=3, degradation="real")
    assert {row[0]: row for row in again[TABLE]["data"]}["input"] == rows["input"]  # seeded: the same input


def test_slider_and_crops_follow_up(client, photo):
    out = sr(client, photo, models=("bicubic", "srresnet"))
    pair = client.predict(out[RUN], "bicubic", "srresnet", api_name="/slider_sr")
    assert len(pair) == 2 and np.asarray(Image.open(pair[0])).shape == (96, 96, 3)
    crops, where = client.predict(out[RUN], 10, 20, 32, api_name="/crops_sr")
    assert len(crops) == 4  # ground truth, input, two models
    assert np.asarray(Image.open(crops[0]["image"])).shape[:2] == (256, 256)  # 32 px enlarged x8
    assert "x 0–32, y 4–36" in crops[0]["caption"]
    with pytest.raises(Exception, match="Run a comparison first"):
        client.predict("no-such-run", "bicubic", "srresnet", api_name="/slider_sr")


def test_no_reference_mode_shows_outputs_without_scores(client, tmp_path):
    small = tmp_path / "small.png"
    Image.open(SAMPLES / "set5_bird.png").resize((40, 30)).save(small)
    out = sr(client, small, mode=NO_REFERENCE, models=("bicubic", "srresnet"))
    captions = [item["caption"] for item in out[GRID]]
    assert len(captions) == 3 and not any("ground truth" in c for c in captions)
    assert all("no reference" in c for c in captions[1:])
    assert all(row[2] is None and row[4] is None for row in out[TABLE]["data"])
    assert "No-reference mode" in out[SUMMARY] and "no PSNR" in out[SUMMARY]
    assert out[ERRORS] in (None, []) and out[COLORBAR] is None
    assert "no reference" in json.loads(out[PD]["plot"])["layout"]["title"]["text"]


def test_deblur_clean_mode_with_chosen_kernel_and_real_blur_without_reference(client, photo):
    out = client.predict(handle_file(str(photo)), CLEAN, ["unsharp-mask", "wiener-oracle", "wiener-blind"], 3,
                         "linear", 9, 45, 0.0, 15, api_name="/compare_deblur")
    assert "linear-9px-45deg" in out[SUMMARY]
    rows = {row[0]: row for row in out[TABLE]["data"]}
    assert rows["wiener-oracle"][4] > 1  # the oracle, given the true kernel, gains over the blurred input
    # the true kernel beside the blind model's estimate, at the maximum size asked for
    kernels = [item["caption"] for item in out[KERNELS]["value"]]
    assert kernels[0].startswith("true kernel (linear-9px-45deg)")
    assert kernels[1].startswith("wiener-blind: estimated") and "15x15 px" in kernels[1]
    # the blind model's verdict and the size it chose (the user's maximum: a 9-px blur does not grow)
    assert rows["wiener-blind"][6].split(" · ")[0] in ("CONFIDENT", "KERNEL UNCERTAIN", "NO BLUR FOUND")
    assert "kernel 15 px chosen" in rows["wiener-blind"][6] and "wiener-blind: " in out[SUMMARY]
    with pytest.raises(Exception, match="odd"):
        client.predict(handle_file(str(photo)), CLEAN, ["wiener-blind"], 3, "linear", 9, 45, 0.0, 16,
                       api_name="/compare_deblur")
    # a real blurred frame: no ground truth, and the oracle (which needs the true kernel) is not run
    real = SAMPLES / "real_blur" / "lai2016_bridge.jpg"
    out = client.predict(handle_file(str(real)), NO_REFERENCE, ["unsharp-mask", "wiener-oracle"], 0, "evaluation", 15, 0,
                         0.005, 31, api_name="/compare_deblur")
    assert [row[0] for row in out[TABLE]["data"]] == ["input", "unsharp-mask"]
    assert "wiener-oracle: needs the true blur kernel" in out[SUMMARY]


def test_restoration_tab_runs_what_is_available(client, photo):
    from studio.app.core import available_models

    models = available_models("restoration")
    if not models:
        pytest.skip("no runnable restoration model in this checkout")
    out = client.predict(handle_file(str(photo)), CLEAN, models, 0, ["gaussian"], 0.05, 0.5, 80,
                         api_name="/compare_restoration")
    rows = {row[0]: row for row in out[TABLE]["data"]}
    assert set(models) <= set(rows) and all(rows[m][2] is not None for m in models)
    assert "gaussian at level 0.050" in out[SUMMARY]
    if "classical" in rows:
        assert "gray output" in rows["classical"][6]
    # then the restore -> upscale chain on that run, through the API with the run id it returned
    up = client.predict(out[RUN], "srresnet", api_name="/upscale_restoration")
    chained = {row[0]: row for row in up[TABLE]["data"]}
    assert {f"{m}+bicubic" for m in models} | {f"{m}+srresnet" for m in models} <= set(chained)
    assert "512×512" in up[SUMMARY] or "upscaled x4" in up[SUMMARY]


def test_benchmark_tab_reads_shipped_csvs_and_renders_cases(client):
    description, histogram, table, extremes, model, shown = client.predict("sr", "sr_set5_x4", api_name="/benchmark")
    assert "sr_set5_x4" in description and "5 images" in description
    summary = {row[0]: row for row in table["data"]}
    assert summary["bicubic"][2] == pytest.approx(28.43, abs=0.01)  # the README's Set5 bicubic PSNR-Y
    assert summary["bicubic"][4] == 0.0 and summary["srresnet"][4] > 2
    assert summary["srresnet"][5] == "552,720"
    # a readable default: the input, the best learned model (srresnet) and the best classical one
    traces = json.loads(histogram["plot"])["data"]
    assert [t["name"] for t in traces] == ["input (no model)", "lanczos", "srresnet"]  # in the CSV's order
    assert shown["value"] == ["srresnet", "lanczos"] and "srgan-v3" in [c[0] for c in shown["choices"]]
    chosen = client.predict("sr", "sr_set5_x4", ["srgan-v1", "srgan-v2", "srgan-v3"], api_name="/benchmark_histogram")
    assert [t["name"] for t in json.loads(chosen["plot"])["data"]] == ["input (no model)", "srgan-v1", "srgan-v2",
                                                                       "srgan-v3"]
    with pytest.raises(Exception, match="no-such-model"):  # refused: not one of the test set's models
        client.predict("sr", "sr_set5_x4", ["no-such-model"], api_name="/benchmark_histogram")
    assert {row[0] for row in extremes["data"]} == set(summary) - {"(input)"}
    notes, gallery = client.predict("sr", "sr_set5_x4", "lanczos", api_name="/benchmark_cases")
    from studio.data import DATASETS

    if (DATASETS / "set5").is_dir():
        assert len(gallery) == 8 and notes == ""
        assert gallery[0]["caption"].startswith("best:") and gallery[4]["caption"].startswith("worst:")
    else:
        assert gallery in (None, []) and "not in this checkout" in notes


def test_recompute_benchmark_on_shipped_samples(client):
    from studio.app.core import available_models

    if not available_models("restoration"):
        pytest.skip("no runnable restoration model in this checkout")
    test_set, description, histogram, table, extremes, model, shown, csv_path = client.predict(
        "restoration", api_name="/recompute_benchmark")
    assert "recomputed" in test_set["value"] and "recomputed in this session" in description
    assert Path(csv_path).read_text().startswith("task,model,image")
    assert len(table["data"]) >= 2  # the input row and at least one model


def test_models_tab_cards(client):
    card, strip, curves = client.predict("srgan-v3", api_name="/model_card")
    assert "perceptual" in card and "python -m training.train_sr --preset srgan-v3" in card
    assert any("val_psnr_y" == t.get("name") for t in json.loads(curves["plot"])["data"])
    card, strip, _ = client.predict("unet-standard", api_name="/model_card")
    assert "architecture only" in card and not strip  # no run, no replay
    card, _, _ = client.predict("unet-light-nonorm", api_name="/model_card")
    assert "InstanceNorm" in card


# ---- bad uploads: a clear message each time, and the server keeps serving ------------------------

def _png_bytes(array, mode=None) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("name, content, message", [
    ("text.png", b"not an image at all", "not an image"),
    ("empty.png", b"", "empty"),
    ("truncated.png", None, "corrupt or truncated"),
    ("one.png", "1x1", "too small"),
    ("huge.png", "huge", "MP limit"),
])
def test_bad_upload_gets_clear_error_and_server_keeps_serving(client, photo, tmp_path, name, content, message):
    bad = tmp_path / name
    if content is None:
        bad.write_bytes((SAMPLES / "set5_bird.png").read_bytes()[:5000])
    elif content == "1x1":
        bad.write_bytes(_png_bytes(np.zeros((1, 1, 3), np.uint8)))
    elif content == "huge":  # 9000x5000 = 45 MP of black: a small file that would decode to 540 MB
        Image.new("L", (9000, 5000)).save(bad, optimize=True)
    else:
        bad.write_bytes(content)
    with pytest.raises(Exception, match=message):
        sr(client, bad, models=("bicubic",))
    assert len(sr(client, photo, models=("bicubic",))[GRID]) == 3


def test_too_large_file_is_refused_before_decoding(client, photo, tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(26 * 1024 * 1024))
    with pytest.raises(Exception, match="(?i)size|large|413"):
        sr(client, big, models=("bicubic",))
    assert len(sr(client, photo, models=("bicubic",))[GRID]) == 3


def test_rgba_and_16_bit_uploads_work_with_a_note(client, tmp_path):
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[..., :3] = np.asarray(Image.open(SAMPLES / "set5_bird.png").convert("RGB").resize((64, 64)))
    rgba[..., 3] = 128
    (tmp_path / "rgba.png").write_bytes(_png_bytes(rgba, "RGBA"))
    out = sr(client, tmp_path / "rgba.png", models=("bicubic",))
    assert "transparency" in out[SUMMARY] and len(out[GRID]) == 3
    gray16 = (np.linspace(0, 65535, 64 * 64).reshape(64, 64)).astype(np.uint16)
    Image.fromarray(gray16).save(tmp_path / "gray16.png")
    out = sr(client, tmp_path / "gray16.png", models=("bicubic",))
    assert "16-bit" in out[SUMMARY] and len(out[GRID]) == 3


def test_small_clean_photo_is_explained_and_an_oversized_degraded_photo_downscaled(client, tmp_path):
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (20, 20), "gray").save(tiny)
    with pytest.raises(Exception, match="at least 32 px"):
        sr(client, tiny, models=("bicubic",))
    wide = tmp_path / "wide.png"
    Image.new("RGB", (600, 400), "gray").save(wide)  # x4 would be 3.8 MP of output
    out = sr(client, wide, mode=NO_REFERENCE, models=("bicubic",))
    assert "600×400" in out[SUMMARY] and "downscaled whole" in out[SUMMARY] and len(out[GRID]) == 2
    with pytest.raises(Exception, match="Select at least one model"):
        sr(client, tiny, models=())


# ---- a public server: odd settings, fresh API sessions, what it serves and keeps --------------------

def test_nan_settings_are_refused_by_name_and_the_server_keeps_serving(client, photo):
    file = upload(client, photo)
    cases = [
        ("compare_deblur", f'[{file}, "{CLEAN}", ["unsharp-mask"], 0, "linear", 9, 45, NaN, 15, null, null]',
         "noise sigma must be a finite number"),
        ("compare_deblur", f'[{file}, "{CLEAN}", ["wiener-blind"], 0, "linear", 9, 45, 0.0, NaN, null, null]',
         "max kernel size (px) must be a finite number"),
        ("compare_sr", f'[{file}, "{CLEAN}", ["bicubic"], NaN, 4, "bicubic", null, null]', "seed must be a finite number"),
        ("compare_sr", f'[{file}, "{CLEAN}", ["bicubic"], 2.5, 4, "bicubic", null, null]', "seed must be a whole number"),
        ("compare_restoration", f'[{file}, "{CLEAN}", ["classical"], 0, ["gaussian"], 0.05, NaN, 80, null, null]',
         "blur sigma (px) must be a finite number"),
        ("compare_restoration", f'[{file}, "{CLEAN}", ["classical"], 0, ["gaussian"], 0.05, 0.5, NaN, null, null]',
         "JPEG quality must be a finite number"),
    ]
    for api_name, data, message in cases:
        event, said = raw_call(client, api_name, f'{{"data": {data}}}')
        assert event == "error" and message in said, (api_name, said)
    run = sr(client, photo, models=("bicubic",))[RUN]
    event, said = raw_call(client, "crops_sr", f'{{"data": ["{run}", 10, NaN, 32]}}')
    assert event == "error" and "y must be a finite number" in said, said
    event, said = raw_call(client, "crops_sr", f'{{"data": ["{run}", Infinity, 10, 32]}}')
    assert event == "error" and "x must be a finite number" in said, said
    event, said = raw_call(client, "crops_sr", f'{{"data": ["{run}", 10, 20, 32]}}')
    assert event == "complete", said


def test_api_endpoints_take_what_a_client_knows_without_a_browser_session(client, photo):
    """The slider's image names, the benchmark's models and other tasks' test sets are filled into the
    page per browser session; a fresh gradio_client session must be able to use them all the same."""
    run = sr(client, photo, models=("bicubic", "srresnet"))[RUN]
    fresh = Client(client.src, verbose=False)
    left, right = fresh.predict(run, "bicubic", "srresnet", api_name="/slider_sr")
    assert np.asarray(Image.open(left)).shape == (96, 96, 3) and Path(right).suffix == ".png"
    with pytest.raises(Exception, match="no image named 'nope'"):
        fresh.predict(run, "nope", "srresnet", api_name="/slider_sr")
    from studio.app.benchmark import test_sets

    deblur_set = test_sets("deblur")[0]
    description, *_ = Client(client.src, verbose=False).predict("deblur", deblur_set, api_name="/benchmark")
    assert deblur_set in description
    notes, gallery = Client(client.src, verbose=False).predict("sr", "sr_set5_x4", "srresnet",
                                                                  api_name="/benchmark_cases")
    assert gallery or "not in this checkout" in notes
    with pytest.raises(Exception, match="no rows for model 'no-such-model'"):
        fresh.predict("sr", "sr_set5_x4", "no-such-model", api_name="/benchmark_cases")
    with pytest.raises(Exception, match="no evaluation results named 'nope'"):
        fresh.predict("sr", "nope", api_name="/benchmark")


def test_only_the_app_folders_are_served(client, photo):
    """The run folder is served, the folder around it is not (STUDIO_RUN_DIR=/x/runs once served all of /x)."""
    import uuid

    import httpx

    from studio.app import core as app_core

    secret = app_core.RUN_ROOT.parent / f"secret-{uuid.uuid4().hex}.txt"
    secret.write_text("not for the public")
    try:
        refused = httpx.get(f"{client.src.rstrip('/')}/gradio_api/file={secret}", timeout=30)
        assert refused.status_code == 403
    finally:
        secret.unlink()
    run = sr(client, photo, models=("bicubic",))[RUN]
    png = next((app_core.RUN_ROOT / run).glob("*.png"))
    assert httpx.get(f"{client.src.rstrip('/')}/gradio_api/file={png}", timeout=30).status_code == 200


def test_uploads_above_the_decode_limit_are_refused_and_the_label_says_so(client, photo, tmp_path):
    import httpx

    from studio.app import limits as app_limits

    big = tmp_path / "thirteen.png"
    Image.new("L", (4000, 3250)).save(big, optimize=True)  # 13 MP of black in a few kB
    with pytest.raises(Exception, match=f"13.0 MP, above the {app_limits.MAX_UPLOAD_MP:g} MP limit"):
        sr(client, big, models=("bicubic",))
    config = httpx.get(f"{client.src.rstrip('/')}/config", timeout=30).json()
    labels = [c.get("props", {}).get("label") or "" for c in config["components"]]
    assert any(f"{app_limits.MAX_UPLOAD_MP:g} megapixels" in label for label in labels)
    assert len(sr(client, photo, models=("bicubic",))[GRID]) == 3


def test_run_folders_and_gradio_cache_stay_within_their_size(client, tmp_path, monkeypatch):
    """With a cap below one comparison, each job deletes what the earlier ones left (the newest run
    stays), and a deleted run's follow-up views ask for a new comparison."""
    import app
    from studio.app import core as app_core, limits as app_limits

    monkeypatch.setattr(app_limits, "CACHE_MAX_MB", 0.05)
    demo = next(iter(app._demos))

    def cached_files():
        keep = {str(p) for block in demo.blocks.values() for p in getattr(block, "keep_in_cache", ())}
        return {str(f) for files in demo.temp_file_sets for f in files if str(f) not in keep and Path(f).exists()}

    runs = []
    for offset in (0, 30, 60):
        path = tmp_path / f"crop{offset}.png"
        Image.open(SAMPLES / "set5_butterfly.png").convert("RGB").crop((offset, 40, offset + 64, 104)).save(path)
        runs.append(sr(client, path, models=("bicubic",))[RUN])
        if offset == 0:
            first_files = cached_files()
    # the first comparison's cached copies are gone (files with the same content, such as the colour
    # bar, are cached under the same name and may come back with a later comparison)
    first_truth = {f for f in first_files if f.endswith("ground_truth.png")}
    assert first_truth and not first_truth & cached_files()
    assert [(app_core.RUN_ROOT / run).is_dir() for run in runs] == [False, False, True]
    with pytest.raises(Exception, match="Run a comparison first"):
        client.predict(runs[0], "input", "bicubic", api_name="/slider_sr")
    assert len(client.predict(runs[2], "input", "bicubic", api_name="/slider_sr")) == 2


def test_a_waiting_user_gets_a_place_in_the_queue_and_an_estimate(client):
    """One comparison at a time (STUDIO_CONCURRENCY): a second request waits, and its status says where
    it stands and for about how long; the page says so next to the Compare button."""
    import time

    import httpx

    from studio.app import limits as app_limits

    assert app_limits.MODEL_SLOTS == 1
    args = (handle_file(str(SAMPLES / "skimage_chelsea.png")), CLEAN, ["wiener-blind"], 0, "linear", 9, 45, 0.0, 31)
    client.predict(*args, api_name="/compare_deblur")  # a measured duration for the estimate
    first = Client(client.src, verbose=False).submit(*args, api_name="/compare_deblur")
    second = Client(client.src, verbose=False).submit(*args, api_name="/compare_deblur")
    waiting, began = [], time.time()
    while not second.done() and time.time() - began < 120:
        status = second.status()
        if status.code.name == "IN_QUEUE" and status.rank is not None:
            waiting.append(status)
        time.sleep(0.05)
    first.result(), second.result()
    assert waiting, "the second request never waited in the queue"
    assert waiting[0].rank == 0 and waiting[0].queue_size >= 1 and waiting[0].eta is not None and waiting[0].eta > 0
    config = httpx.get(f"{client.src.rstrip('/')}/config", timeout=30).json()
    notes = [c.get("props", {}).get("value") or "" for c in config["components"] if c.get("type") == "markdown"]
    assert any("1 comparison runs at a time" in str(n) and "place in the queue" in str(n) for n in notes)
