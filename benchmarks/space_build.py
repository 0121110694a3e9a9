"""Reproduce a Hugging Face Space build of the studio, with nothing beside the repository, and time it.

    python -m benchmarks.space_build                            # clone, fresh venv, start, drive every tab
    python -m benchmarks.space_build --venv /tmp/space-venv     # keep the venv there (reused when present)
    python -m benchmarks.space_build --worktree                 # the working tree instead of the last commit

What a Space does with the repository, step by step:

1. **files**: ``git clone`` of the repository into a temporary folder: the committed files only,
   and no ``../shared`` beside them. ``--worktree`` copies instead the files git does not ignore
   (what ``hf upload`` sends; README, "Deploy to a Space").
2. **environment**: ``python3.11 -m venv`` and ``pip install -r requirements.txt``, from that file
   alone (pip's own index and configuration).
3. **start**: ``python app.py`` with ``STUDIO_DATASETS`` pointing at an empty folder, and without
   the thread settings of this shell (a Space sets none). *Cold start* is the first launch in the
   fresh environment, until the server answers its config over HTTP (the time a visitor waits for
   the page); the launches after it (``--starts``) give the warm figure, and a bare
   ``import torch, gradio`` in the venv the floor under both. Target: under
   ``COLD_START_TARGET`` seconds.
4. **a visitor**, through ``gradio_client``: in each task tab, a comparison of the tab's first
   shipped sample photo (clean-photo mode) with every model the tab offers; the first call also
   loads the models, a second one with another seed is the answer time after that (target: under
   ``TARGETS["compare"]`` seconds, as ``benchmarks.bench_app``). Then the Benchmark tab (every test
   set of the task it opens on, and one best/worst case, which explains itself without the datasets)
   and the Models tab (every card). Every answer is checked, so a broken Space fails the run.

Results: ``results/bench/space_build.csv`` (one row per measurement) and ``.md`` (summary).
Start, launch and client functions are ``benchmarks.bench_app``'s.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_app import TARGETS, compare_args, free_port, load1, start_app, stop, write_rows  # noqa: E402

COLUMNS = ["measure", "tab", "item", "run", "seconds", "target_s", "detail", "load1", "cpus"]
COLD_START_TARGET = 5.0
TAB_ORDER = ("restoration", "sr", "deblur")


class BuildError(RuntimeError):
    pass


def timed(command: list[str], log: Path, **kwargs) -> float:
    """Run a build step, its output appended to ``log``; seconds taken, or BuildError with the log's tail."""
    started = time.perf_counter()
    with log.open("a") as handle:
        handle.write(f"\n$ {shlex.join(map(str, command))}\n")
        handle.flush()
        result = subprocess.run([str(c) for c in command], stdout=handle, stderr=subprocess.STDOUT, **kwargs)
    if result.returncode != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-30:])
        raise BuildError(f"{shlex.join(map(str, command))} failed (exit {result.returncode}):\n{tail}")
    return time.perf_counter() - started


def folder_bytes(folder: Path, skip=(".git",)) -> int:
    total = 0
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink() and not any(part in skip for part in path.relative_to(folder).parts):
            total += path.stat().st_size
    return total


def copy_source(dest: Path, worktree: bool, log: Path, repo: Path = ROOT) -> tuple[float, str]:
    """The Space's files in ``dest``: a clone of the last commit, or the working tree's non-ignored files."""
    started = time.perf_counter()
    if worktree:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=repo,
                                check=True, capture_output=True).stdout.decode().split("\0")
        for name in filter(None, listed):
            source = repo / name
            if source.is_file():  # a tracked file deleted in the working tree is not sent
                (dest / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, dest / name)
        described = "working tree (files git does not ignore)"
    else:
        timed(["git", "clone", "--quiet", "--no-hardlinks", str(repo), str(dest)], log)
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=dest, check=True, capture_output=True,
                                text=True).stdout.strip()
        described = f"git clone of commit {commit}"
    return time.perf_counter() - started, described


def api_choices(parameters: list[dict], component: str) -> list:
    """The choices (and default) a Dropdown/CheckboxGroup parameter of an endpoint offers."""
    for parameter in parameters:
        if parameter.get("component", "").lower() == component.lower():
            kind = parameter.get("type", {})
            return list(kind.get("enum") or kind.get("items", {}).get("enum") or [])
    return []


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", default="python3.11", help="interpreter that creates the venv (a Space: 3.11)")
    parser.add_argument("--venv", help="venv folder to create and keep (reused, pip install re-run, when present); "
                                       "default: a temporary one, removed at the end")
    parser.add_argument("--worktree", action="store_true", help="the working tree's files instead of a clone of HEAD")
    parser.add_argument("--starts", type=int, default=3, help="launches of python app.py (the first is the cold one)")
    parser.add_argument("--workdir", help="where to clone (default: a new temporary folder, removed at the end)")
    parser.add_argument("--out", default=str(ROOT / "results" / "bench" / "space_build.csv"))
    parser.add_argument("--markdown", help="summary path (default: --out with .md)")
    args = parser.parse_args(argv)

    # The driver's own imports come first, so they do not share the CPU with the measured start.
    from gradio_client import Client

    from studio.app.samples import samples_for

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="space-build-"))
    workdir.mkdir(parents=True, exist_ok=True)
    source, empty_datasets, log = workdir / "space", workdir / "empty-datasets", workdir / "build.log"
    if source.exists():
        raise SystemExit(f"error: {source} exists; pass an empty --workdir")
    empty_datasets.mkdir(exist_ok=True)
    venv = Path(args.venv) if args.venv else workdir / "venv"
    rows: list[dict] = []
    cpus = os.cpu_count()

    def record(measure, tab, item, run, seconds, target="", detail=""):
        rows.append({"measure": measure, "tab": tab, "item": item, "run": run, "seconds": round(seconds, 3),
                     "target_s": target, "detail": detail, "load1": load1(), "cpus": cpus})
        print(f"{measure:<18}{tab:<13}{str(item)[:28]:<30}{seconds:8.2f} s  {detail}", flush=True)

    process = None
    try:
        seconds, described = copy_source(source, args.worktree, log)
        record("files", "build", described, 0, seconds)
        if (source.parent / "shared").exists() or not (source / "requirements.txt").is_file():
            raise BuildError(f"{source.parent / 'shared'} must not exist, and {source} must hold requirements.txt")
        python = venv / "bin" / "python"
        reused = python.is_file()
        if not reused:
            record("create venv", "build", args.python, 0, timed([args.python, "-m", "venv", str(venv)], log))
        seconds = timed([python, "-m", "pip", "install", "--quiet", "-r", source / "requirements.txt"], log, cwd=source)
        record("pip install", "build", "-r requirements.txt", 0, seconds, detail="venv reused" if reused else "fresh venv")
        versions = subprocess.run(
            [str(python), "-c", "import platform, importlib.metadata as m; print(platform.python_version(), "
             "*(m.version(p) for p in ('gradio', 'torch', 'gradio_client')), len(list(m.distributions())))"],
            check=True, capture_output=True, text=True).stdout.split()

        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "VIRTUAL_ENV", "OMP_NUM_THREADS", "STUDIO_THREADS", "STUDIO_DATASETS")}
        port = free_port()
        env.update(STUDIO_DATASETS=str(empty_datasets), GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False",
                   VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")
        for run in range(max(1, args.starts)):
            if process is not None:
                stop(process)
            process, seconds = start_app(port, env, timeout=300, python=python, root=source)
            record("cold start" if run == 0 else "warm start", "app", "python app.py", run, seconds,
                   COLD_START_TARGET if run == 0 else "")
        # The floor under the start: the venv's interpreter importing the two big libraries, nothing else
        # (after the cold start, which must find nothing warmed up).
        started = time.perf_counter()
        subprocess.run([str(python), "-c", "import torch, gradio"], check=True, env=env, cwd=source)
        record("import floor", "app", "import torch, gradio", 0, time.perf_counter() - started)

        client = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=False)
        endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
        for task in TAB_ORDER:
            name = f"/compare_{task}"
            if name not in endpoints:
                raise BuildError(f"the Space has no {name} endpoint")
            models = api_choices(endpoints[name]["parameters"], "checkboxgroup")
            sample = next(s for s in samples_for(task) if not s.degraded)
            photo = source / "data" / "samples" / sample.file
            for run, seed in enumerate((0, 1)):
                started = time.perf_counter()
                out = client.predict(*compare_args(task, photo, models, seed), api_name=name)
                seconds = time.perf_counter() - started
                scored = {row[0] for row in out[2]["data"]}
                if not set(models) <= scored:
                    raise BuildError(f"{name}: no scores for {sorted(set(models) - scored)}")
                record("compare", task, sample.file, run, seconds, "" if run == 0 else TARGETS["compare"],
                       f"{len(models)} models" + (", loads them" if run == 0 else ""))

        bench = endpoints["/benchmark"]["parameters"]
        task = next(p for p in bench if p["parameter_name"] == "task_value")["parameter_default"]
        sets = api_choices(bench[1:], "dropdown")
        last_table = None
        for run, test_set in enumerate(sets):
            started = time.perf_counter()
            description, _, table, *_ = client.predict(task, test_set, api_name="/benchmark")
            record("read", "benchmark", test_set, run, time.perf_counter() - started)
            if test_set not in description or not table["data"]:
                raise BuildError(f"/benchmark {task} {test_set}: no summary")
            last_table = (test_set, table)
        test_set, table = last_table
        model = next(row[0] for row in table["data"] if not str(row[0]).startswith("("))
        started = time.perf_counter()
        notes, gallery = client.predict(task, test_set, model, api_name="/benchmark_cases")
        record("best/worst case", "benchmark", f"{test_set} {model}", 0, time.perf_counter() - started,
               detail="shown" if gallery else "explained: " + (notes or "").splitlines()[0][:60])
        for run, model in enumerate(api_choices(endpoints["/model_card"]["parameters"], "dropdown")):
            started = time.perf_counter()
            card, _ = client.predict(model, api_name="/model_card")
            record("read card", "models", model, run, time.perf_counter() - started)
            if model not in card:
                raise BuildError(f"/model_card {model}: the card does not name its model")
    except BuildError as err:
        raise SystemExit(f"error: the Space build failed: {err}") from None
    finally:
        if process is not None:
            stop(process)

    app_bytes, venv_bytes = folder_bytes(source), folder_bytes(venv)
    out = write_rows(rows, args.out, COLUMNS)
    command = "python -m benchmarks.space_build " + shlex.join(argv if argv is not None else sys.argv[1:])
    environment = [
        f"files: {described}, {app_bytes / 1e6:.1f} MB without .git; nothing beside it (no ../shared), "
        "STUDIO_DATASETS = an empty folder",
        f"venv: `{args.python} -m venv` + `pip install -r requirements.txt` ({'reused venv' if reused else 'fresh'}), "
        f"{venv_bytes / 1e9:.2f} GB; python {versions[0]}, gradio {versions[1]}, torch {versions[2]}, "
        f"gradio_client {versions[3]}, {versions[4]} distributions",
        f"machine: {platform.processor() or platform.machine()}, {cpus} logical CPUs; OMP_NUM_THREADS and "
        "STUDIO_THREADS unset for the app (as on a Space)",
    ]
    markdown = Path(args.markdown) if args.markdown else out.with_suffix(".md")
    markdown.write_text(summarize(rows, command.strip(), environment))
    print(f"wrote {out} and {markdown}")
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    return rows


def summarize(rows: list[dict], command: str, environment: list[str]) -> str:
    lines = ["# Space build: a fresh clone, a fresh virtualenv, no datasets", "", "```", command, "```", ""]
    lines += [f"- {item}" for item in environment] + [""]
    lines += ["| step | seconds |", "|---|---|"]
    for row in rows:
        if row["tab"] == "build":
            lines.append(f"| {row['measure']} ({row['item']}{', ' + row['detail'] if row['detail'] else ''}) | "
                         f"{row['seconds']:.1f} |")
    lines += ["", "| measure | tab | calls | first s | median s (after the first) | max s | target | met | load1 |",
              "|---|---|---|---|---|---|---|---|---|"]
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        if row["tab"] != "build":
            key = ("start", "app") if row["measure"].endswith(" start") else (row["measure"], row["tab"])
            groups.setdefault(key, []).append(row)
    for (measure, tab), group in groups.items():
        seconds = [float(r["seconds"]) for r in group]
        rest = seconds[1:] or seconds
        target = next((r["target_s"] for r in group if r["target_s"] not in ("", None)), "")
        if measure == "start":
            met = "yes" if seconds[0] < COLD_START_TARGET else "**no**"
            label, target_text = "cold start (first) / warm starts", f"< {COLD_START_TARGET:g} s (cold)"
        else:
            met = "–" if target == "" else ("yes" if statistics.median(rest) < float(target) else "**no**")
            label, target_text = measure, (f"< {target:g} s" if target != "" else "–")
        loads = [float(r["load1"]) for r in group]
        if measure == "compare":
            label = f"compare {group[0]['item']} ({group[-1]['detail']})"
        lines.append(f"| {label} | {tab} | "
                     f"{len(group)} | {seconds[0]:.2f} | {statistics.median(rest):.2f} | {max(seconds):.2f} | "
                     f"{target_text} | {met} | {min(loads):.2f}–{max(loads):.2f} |")
    lines += ["", "Cold start: from launching `python app.py` in the fresh venv to its HTTP config answering (the "
              "page can load); `import floor` is the venv's interpreter importing torch and gradio alone, the part "
              "of the start the studio cannot shorten. A compare's first call also loads the tab's models; the median is the call after it "
              "(another seed, so not served from the example cache). Benchmark and Models read the shipped CSVs, "
              "cards and run logs; without the datasets a best/worst case is explained, not re-run.",
              "A load average above the CPU count means something else (e.g. a training run) shared the CPU: the "
              "figures are then pessimistic."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
