"""The studio answers through its real HTTP API (gradio_client), including bad uploads."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

ROOT = Path(__file__).resolve().parent.parent
CLEAN_MODE = "Clean photo: downscale x4, then compare with it"
NO_REFERENCE_MODE = "Already low-resolution: upscale x4, no reference"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def client():
    import app

    demo = app.build_demo()
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield Client(f"http://127.0.0.1:{port}/", verbose=False)
    finally:
        demo.close()


def test_compare_scores_every_model_against_ground_truth(client):
    gallery, table = client.predict(handle_file(str(ROOT / "data/samples/set5_butterfly.png")), CLEAN_MODE,
                                    ["bicubic", "lanczos"], api_name="/compare_sr")
    assert len(gallery) == 4  # ground truth, input, two models
    rows = {row[0]: row for row in table["data"]}
    assert set(rows) == {"bicubic", "lanczos"}
    assert rows["bicubic"][3] == 0.0  # bicubic is the input reference
    assert rows["lanczos"][1] > rows["bicubic"][1] > 15  # real PSNR-Y values in dB
    assert all(Path(item["image"]).suffix == ".png" for item in gallery)


def test_no_reference_mode_has_no_scores(client, tmp_path):
    from PIL import Image

    Image.open(ROOT / "data/samples/set5_bird.png").resize((40, 30)).save(tmp_path / "small.png")
    gallery, table = client.predict(handle_file(str(tmp_path / "small.png")), NO_REFERENCE_MODE, ["bicubic"],
                                    api_name="/compare_sr")
    assert len(gallery) == 2
    assert table["data"][0][1] is None
    assert "no reference" in gallery[1]["caption"]


@pytest.mark.parametrize("content, message", [(b"not an image at all", "not an image"), (b"", "empty")])
def test_bad_upload_gets_clear_error_and_server_keeps_serving(client, tmp_path, content, message):
    bad = tmp_path / "bad.png"
    bad.write_bytes(content)
    with pytest.raises(Exception, match=message):
        client.predict(handle_file(str(bad)), CLEAN_MODE, ["bicubic"], api_name="/compare_sr")
    gallery, _ = client.predict(handle_file(str(ROOT / "data/samples/set5_bird.png")), CLEAN_MODE, ["bicubic"],
                                api_name="/compare_sr")
    assert len(gallery) == 3
