"""Disk and memory footprint of a long-running studio: many distinct comparisons, then the largest
accepted upload.

    python -m benchmarks.bench_footprint                      # the default --comparisons and --cap-mb
    python -m benchmarks.bench_footprint --comparisons 30 --cap-mb 10

Starts the app in this process with ``STUDIO_CACHE_MAX_MB`` set to ``--cap-mb`` and its own
``STUDIO_RUN_DIR`` and ``GRADIO_TEMP_DIR``, drives it through ``gradio_client`` with distinct
super-resolution comparisons (a different crop of a shipped photo each time, so nothing is served
from the example cache), measures the disk used by the run folders and Gradio's cache after each,
then uploads a photo at the upload limit (``STUDIO_MAX_UPLOAD_MP``; the studio downscales it to its
working size) and one just above it (refused). Reports the largest disk use against the cap and the
process's peak RSS; writes ``results/bench/footprint.md``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "samples" / "skimage_astronaut.png"


def folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6 if path.exists() else 0.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--comparisons", type=int, default=100)
    parser.add_argument("--cap-mb", type=float, default=20.0, help="STUDIO_CACHE_MAX_MB for the run")
    parser.add_argument("--out", default=str(ROOT / "results" / "bench" / "footprint.md"))
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="studio-footprint-"))
    runs, gradio_tmp = scratch / "runs", scratch / "gradio"
    os.environ.update(STUDIO_CACHE_MAX_MB=f"{args.cap_mb:g}", STUDIO_RUN_DIR=str(runs), GRADIO_TEMP_DIR=str(gradio_tmp))
    sys.path.insert(0, str(ROOT))
    import numpy as np
    from gradio_client import Client, handle_file
    from PIL import Image

    import app
    from studio.app import limits as app_limits
    from studio.app.core import MODE_CLEAN

    demo = app.build_demo()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **app.launch_kwargs())
    client = Client(f"http://127.0.0.1:{port}/", verbose=False)
    photo = np.asarray(Image.open(SAMPLE).convert("RGB"))
    worst, started = 0.0, time.perf_counter()
    try:
        for i in range(args.comparisons):
            top, left = (7 * i) % (photo.shape[0] - 96), (13 * i) % (photo.shape[1] - 96)
            path = scratch / f"crop{i}.png"
            Image.fromarray(photo[top:top + 96, left:left + 96]).save(path)
            client.predict(handle_file(str(path)), MODE_CLEAN, ["bicubic", "srresnet"], i, 4, "bicubic", api_name="/compare_sr")
            path.unlink()
            worst = max(worst, folder_mb(runs), folder_mb(gradio_tmp))
        seconds = time.perf_counter() - started
        worst_comparisons = worst
        rss_before_upload = peak_rss_mb()
        side = int((app_limits.max_upload_pixels()) ** 0.5)
        big = scratch / "big.png"
        Image.fromarray(np.resize(photo, (side, side, 3))).save(big)
        client.predict(handle_file(str(big)), MODE_CLEAN, ["bicubic", "srresnet"], 0, 4, "bicubic", api_name="/compare_sr")
        worst = max(worst, folder_mb(runs), folder_mb(gradio_tmp))
        too_big = scratch / "too_big.png"
        Image.fromarray(np.resize(photo, (side + 64, side + 64, 3))).save(too_big)
        try:
            client.predict(handle_file(str(too_big)), MODE_CLEAN, ["bicubic"], 0, 4, "bicubic", api_name="/compare_sr")
            refused = "no (accepted)"
        except Exception as err:  # noqa: BLE001 -- the app's refusal reaches the client as an error
            refused = f"yes: {' '.join(str(err).split())[:160]}"
    finally:
        demo.close()
    lines = [
        "# Footprint of a long-running studio", "", "```", "python -m benchmarks.bench_footprint "
        + shlex.join(argv if argv is not None else sys.argv[1:]), "```", "",
        f"- {args.comparisons} distinct SR comparisons (bicubic + srresnet on 96-px crops) in {seconds:.0f} s",
        f"- cap `STUDIO_CACHE_MAX_MB` = {args.cap_mb:g} MB per folder (run folders; Gradio's cache)",
        f"- largest disk use of either folder after any of the comparisons: **{worst_comparisons:.1f} MB** "
        f"({'under' if worst_comparisons <= args.cap_mb else 'OVER'} the cap)",
        f"- largest after the upload below (the newest job's files, kept whatever the cap): {worst:.1f} MB",
        f"- peak RSS of the server process after the comparisons: {rss_before_upload:.0f} MB",
        f"- then a {side}x{side} upload ({side * side / 1e6:.1f} MP, at the {app_limits.MAX_UPLOAD_MP:g} MP limit): "
        f"peak RSS **{peak_rss_mb():.0f} MB**",
        f"- a {side + 64}x{side + 64} upload (above the limit) refused: {refused}", "",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
