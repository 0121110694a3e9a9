"""How quick the studio is, measured from outside: start ``python app.py`` and drive it with gradio_client.

    python -m benchmarks.bench_app                       # start-up x3, 256x256 comparisons x5 per task
    python -m benchmarks.bench_app --tasks sr --repeats 10 --startup-runs 5

Two figures, each against its target:

* **start-up** -- from launching ``python app.py`` (a fresh interpreter, nothing cached in-process)
  to the server answering its config over HTTP: ready for a browser. Target: under
  ``TARGETS["startup"]`` seconds. Next to it, the floor: a bare ``python -c "import torch, gradio"``.
* **comparison** -- one ``/compare_<task>`` call on a 256x256 photo with every runnable model of the
  task, clean-photo mode (degrade, run every model, score, error maps, plots, the zip), timed
  end to end through gradio_client: upload, queue, processing, the answer. Reported apart: the
  same call when the client also downloads every result file (one by one; a browser fetches them
  in parallel and only as they are displayed).
  The first call loads the models and is reported on its own; the target (under ``TARGETS["compare"]``
  seconds) is for the calls after it. For restoration the protocol works at 128x128 whatever the upload.

The photo is a 256x256 centre crop of ``data/samples/skimage_astronaut.png`` (not a shipped sample
file, so the app's lazy example cache never answers). The load average is recorded next to every
figure: measurements taken while something else uses the CPU (a training run) are pessimistic.
Results: ``results/bench/app_bench.csv`` (one row per measurement) and ``.md`` (summary).
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from studio.results import write_table  # noqa: E402 -- torch-free: the app is timed in its own process

COLUMNS = ["measure", "task", "run", "seconds", "target_s", "models", "size", "load1", "cpus"]
TARGETS = {"startup": 10.0, "compare": 2.0}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_app(port: int, env: dict, timeout: float = 120, python: str = sys.executable,
              root: Path = ROOT) -> tuple[subprocess.Popen, float]:
    """Launch ``python app.py`` (by default this interpreter and this checkout) and return
    (process, seconds until its config answers over HTTP)."""
    started = time.perf_counter()
    process = subprocess.Popen([str(python), str(Path(root) / "app.py")], cwd=root, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/config"
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"app.py exited early (code {process.returncode}): {process.stderr.read()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return process, time.perf_counter() - started
        except OSError:
            time.sleep(0.05)
    stop(process)
    raise TimeoutError(f"app.py did not answer {url} within {timeout:.0f} s")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def make_photo(size: int) -> Path:
    from PIL import Image

    image = Image.open(ROOT / "data" / "samples" / "skimage_astronaut.png").convert("RGB")
    width, height = image.size
    box = ((width - size) // 2, (height - size) // 2, (width + size) // 2, (height + size) // 2)
    path = Path(tempfile.mkdtemp(prefix="bench-app-")) / f"photo_{size}.png"
    image.crop(box).save(path)
    return path


def write_rows(rows: list[dict], path, columns: list[str]) -> Path:
    """The measurements as a CSV (the folder is created); the path."""
    unknown = sorted({k for row in rows for k in row} - set(columns))
    if unknown:
        raise ValueError(f"columns {unknown} are not in {columns}")
    return write_table(path, rows, columns, other_columns=False)


#: settings other than the task's defaults: a Levin kernel (real camera shake, the same every run)
BENCH_SETTINGS = {"deblur": {"blur_kernel": "levin-k2", "max_kernel": 31}}


def compare_args(task: str, photo: Path, models: list[str], seed: int):
    """The Compare endpoint's arguments: the photo, clean mode, the models, the seed, then every
    control of the task at its default (``BENCH_SETTINGS`` where set)."""
    from gradio_client import handle_file

    from studio.app.core import MODE_CLEAN

    from studio.tasks import get_task

    settings = {p.name: p.default for p in get_task(task).params}  # ValueError for an unknown task
    settings.update(BENCH_SETTINGS.get(task, {}))
    return [handle_file(str(photo)), MODE_CLEAN, models, seed] + [
        list(v) if isinstance(v, tuple) else v for v in settings.values()]


def load1() -> float:
    return round(os.getloadavg()[0], 2)


def summarize(rows: list[dict], command: str, environment: list[str]) -> str:
    lines = ["# Studio benchmark (app.py driven through gradio_client)", "", "```", command, "```", ""]
    lines += [f"- {item}" for item in environment] + [""]
    lines += ["| measure | task | models | runs | median s | min s | max s | target | met (median) | load1 during |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["measure"], row["task"]), []).append(row)
    for (measure, task), group in groups.items():
        seconds = [float(r["seconds"]) for r in group]
        target = group[0]["target_s"]
        median = statistics.median(seconds)
        met = "–" if target in ("", None) else ("yes" if median < float(target) else "**no**")
        loads = [float(r["load1"]) for r in group]
        lines.append(f"| {measure} | {task} | {group[0]['models']} | {len(group)} | {median:.2f} | {min(seconds):.2f} | "
                     f"{max(seconds):.2f} | {'< ' + str(target) + ' s' if target not in ('', None) else '–'} | {met} | "
                     f"{min(loads):.2f}–{max(loads):.2f} |")
    lines += ["", "`compare (first call)` includes loading the task's models (once per server); `compare` is every "
              "call after it, until the server's answer (every model run and scored, error maps, plots, zip, file "
              "URLs); `compare + download all files` also fetches every result PNG and the zip, one by one. "
              "Start-up is from launching `python app.py` to its HTTP config answering; `import torch + gradio only` is a "
              "bare interpreter importing the two libraries, the part of the start-up the studio cannot shorten.",
              "A load average above the core count means other processes (e.g. training) shared the CPU: "
              "the figures are then pessimistic."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default="sr,deblur,restoration", help="comma-separated tasks to compare")
    parser.add_argument("--repeats", type=int, default=5, help="timed comparisons per task (after the first call)")
    parser.add_argument("--download-repeats", type=int, default=2,
                        help="extra comparisons per task that also download every result file")
    parser.add_argument("--startup-runs", type=int, default=3, help="times python app.py is started")
    parser.add_argument("--size", type=int, default=256, help="side of the square photo")
    parser.add_argument("--out", default=str(ROOT / "results" / "bench" / "app_bench.csv"))
    parser.add_argument("--markdown", help="summary path (default: --out with .md)")
    args = parser.parse_args(argv)
    from gradio_client import Client

    from studio.app.core import available_models

    port = free_port()
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cpus = os.cpu_count()
    rows: list[dict] = []
    tasks = [t for t in args.tasks.split(",") if t]

    def record(measure, task, run, seconds, target, models=""):
        rows.append({"measure": measure, "task": task, "run": run, "seconds": round(seconds, 3),
                     "target_s": target, "models": models, "size": f"{args.size}x{args.size}",
                     "load1": load1(), "cpus": cpus})
        print(f"{measure:<22}{task:<13}run {run}: {seconds:6.2f} s  (load {rows[-1]['load1']})", flush=True)

    # What the server will offer: read before it starts (a checkpoint appearing later is offered after a restart).
    offered = {task: available_models(task) for task in tasks}
    # The floor under the start-up figure: a bare interpreter importing the two big libraries.
    for run in range(max(1, args.startup_runs)):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch, gradio"], check=True, env=env)
        record("import torch + gradio only", "baseline", run, time.perf_counter() - started, "")
    process = None
    for run in range(max(1, args.startup_runs)):
        if process is not None:
            stop(process)
        process, seconds = start_app(port, env)
        record("startup", "app", run, seconds, TARGETS["startup"])
    photo = make_photo(args.size)
    try:
        # The answer: the server has run every model and returns the whole view (captions, scores, plots,
        # file URLs), which is when a browser starts showing it. A second client also downloads every
        # result file one after the other (~30 PNGs), which a browser does in parallel and lazily.
        client = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=False)
        downloader = Client(f"http://127.0.0.1:{port}/", verbose=False,
                            download_files=tempfile.mkdtemp(prefix="bench-dl-"))
        for task in tasks:
            models = offered[task]
            if not models:
                print(f"{task}: no runnable model, skipped")
                continue
            label = f"{len(models)}: " + ",".join(models)
            started = time.perf_counter()
            client.predict(*compare_args(task, photo, models, 0), api_name=f"/compare_{task}")
            record("compare (first call)", task, 0, time.perf_counter() - started, "", label)
            for run in range(args.repeats):
                started = time.perf_counter()
                client.predict(*compare_args(task, photo, models, run + 1), api_name=f"/compare_{task}")
                record("compare", task, run + 1, time.perf_counter() - started, TARGETS["compare"], label)
            for run in range(args.download_repeats):
                started = time.perf_counter()
                downloader.predict(*compare_args(task, photo, models, 100 + run), api_name=f"/compare_{task}")
                record("compare + download all files", task, run + 1, time.perf_counter() - started, "", label)
    finally:
        stop(process)

    out = write_rows(rows, args.out, COLUMNS)
    import gradio
    import torch

    environment = [f"python {platform.python_version()}, gradio {gradio.__version__}, torch {torch.__version__}",
                   f"CPU: {platform.processor() or platform.machine()}, {cpus} logical CPUs; "
                   f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
                   f"STUDIO_THREADS={os.environ.get('STUDIO_THREADS', 'unset')} (the server inherits both; unset: "
                   "torch uses half the cores, see studio.app.core.configure_threads)",
                   f"photo: {args.size}x{args.size} centre crop of data/samples/skimage_astronaut.png, clean-photo mode, seed = run"]
    command = "python -m benchmarks.bench_app " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    markdown = Path(args.markdown) if args.markdown else out.with_suffix(".md")
    markdown.write_text(summarize(rows, command.strip(), environment))
    print(f"wrote {out} and {markdown}")
    return rows


if __name__ == "__main__":
    main()
