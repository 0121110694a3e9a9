"""Speed, memory and FLOPs of a task's models, and whether faster variants keep the output.

    python -m benchmarks.bench_inference --task sr          # every SR model, 256x256 and 1280x720 outputs
    python -m benchmarks.bench_inference --task deblur      # every deblurring model, same sizes
    python -m benchmarks.bench_inference --task sr --models bicubic,srresnet --sizes 1280x720 --threads 2
    python -m benchmarks.bench_sr ...                       # the same as --task sr

For each model of the task (``list_models(task)``), each *output* size and each variant, one fresh process (multiprocessing
'forkserver': forked from a server that has only imported torch and the studio; or 'spawn', or
none, with ``--isolation``) loads the model, runs ``--warmup`` untimed and ``--repeats`` timed
passes of ``studio.inference.run_model`` (tiled as the app and evaluation do: above the model's
own tile size, or ``--tile`` input pixels) and reports:

* median and min wall-clock ms of the timed passes;
* peak RSS (``ru_maxrss`` of that process: the torch runtime, the model and the inference
  high-water; ``base_rss_mb`` is the same figure just before the first pass);
* FLOPs of the forward passes of one fp32 run (``torch.utils.flop_counter.FlopCounterMode``,
  counted once per model and size in the main process; tile overlap included, since that work
  is really done; 0 for classical models) and the achieved GFLOP/s = FLOPs / median time;
* for learned models, four variants: ``fp32`` (contiguous, the reference), ``fp32_cl``
  (channels_last), ``bf16`` (bf16 autocast, ``run_model(precision="bf16")``) and ``bf16_cl``
  (both); each variant's speed-up over ``fp32`` and the PSNR of its 8-bit output against the
  ``fp32`` output (``inf``: identical).

The input is made from a real photo, resized and centre-cropped to the output size: for SR it is
then MATLAB-bicubic downscaled as the SR benchmarks do (the LR input is the size / scale); for
deblurring the photo is a real blurred GoPro frame used as it is. A summary compares every
model's time with the task's classical baseline (``bicubic``, ``unsharp-mask``) at the same size.
Models that need the true blur kernel (``wiener-oracle``, ``pnp-oracle``) are given a Levin kernel (``--kernel``):
the frame's own blur is unknown, and their time depends only on the kernel's size. Results go to a CSV
(``--out``) and a markdown summary (``--markdown``, default: the CSV path with ``.md``), headed
by the command line that produced them. Models without a trained checkpoint are skipped unless
``--random-weights`` is given (then they are timed with random weights, and marked as such).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shlex
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: python benchmarks/bench_sr.py
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from studio.deblur.interface import needs_true_kernel  # noqa: E402
from studio.inference import DEFAULT_OVERLAP, cpu_flags, native_bf16, run_model  # noqa: E402
from studio.results import cell_text, write_table  # noqa: E402
from studio.tasks import get_task  # noqa: E402

DATASETS = ROOT.parent / "shared" / "datasets"
DEFAULT_SIZES = "256x256,1280x720"
# Per task: the default photo, the default CSV, the classical model every time is compared with.
TASK_DEFAULTS = {
    "sr": dict(image=DATASETS / "set14" / "lenna.png", out=ROOT / "results" / "bench" / "sr_bench.csv",
               baseline="bicubic", title="SR inference benchmark"),
    "deblur": dict(image=DATASETS / "gopro_blurred_only" / "seq_id1_frame8.png",
                   out=ROOT / "results" / "bench" / "deblur_bench.csv", baseline="unsharp-mask",
                   title="Deblurring inference benchmark"),
}
REFERENCE = "fp32"
# name -> (channels_last, run_model precision)
VARIANTS = {
    "fp32": (False, "fp32"),
    "fp32_cl": (True, "fp32"),
    "bf16": (False, "bf16"),
    "bf16_cl": (True, "bf16"),
}
COLUMNS = ["model", "variant", "out_width", "out_height", "median_ms", "min_ms", "gflops", "gflops_per_s",
           "peak_rss_mb", "speedup_vs_fp32", "psnr_vs_fp32_db",
           # extra context, after the required columns
           "weights", "base_rss_mb"]


# --------------------------------------------------------------------------------------------
# Environment


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def cpu_bf16_support() -> str:
    """Which native bf16 instructions the CPU has (without them, bf16 is emulated and slow)."""
    flags = cpu_flags()
    if not flags:
        return "unknown"
    found = [flag for flag in ("avx512_bf16", "amx_bf16", "avx512f", "avx2") if flag in flags]
    return ("native" if native_bf16() else "none (emulated)") + (f"; flags: {' '.join(found)}" if found else "")


# --------------------------------------------------------------------------------------------
# Input


def parse_sizes(text: str, scale: int) -> list[tuple[int, int]]:
    sizes = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            width, height = (int(v) for v in item.lower().split("x"))
        except ValueError:
            raise ValueError(f"size {item!r} is not WIDTHxHEIGHT (e.g. 1280x720)") from None
        if width <= 0 or height <= 0 or width % scale or height % scale:
            raise ValueError(f"output size {item} must be positive multiples of the scale x{scale}")
        sizes.append((width, height))
    if not sizes:
        raise ValueError("no output size given")
    return sizes


def resolve_image(path) -> Path:
    """A file, or the first image of a folder (e.g. bsds500/val)."""
    path = Path(path)
    if path.is_dir():
        from studio.imageio import list_images

        images = list_images(path)
        if not images:
            raise FileNotFoundError(f"no images in {path}")
        return images[0]
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such image (pass --image)")
    return path


def make_lr(image: np.ndarray, width: int, height: int, scale: int) -> np.ndarray:
    """Resize (MATLAB bicubic) so the photo covers width x height, centre-crop, downscale by ``scale``
    (scale 1: the crop itself, e.g. a real blurred frame for deblurring)."""
    from studio.sr.degradation import downscale
    from studio.resize import imresize

    src_h, src_w = image.shape[:2]
    factor = max(width / src_w, height / src_h)
    hr = image if factor == 1 else np.clip(imresize(image, factor), 0, 1).astype(np.float32)
    top, left = (hr.shape[0] - height) // 2, (hr.shape[1] - width) // 2
    hr = np.ascontiguousarray(hr[top:top + height, left:left + width])
    if scale == 1:
        return hr
    lr = downscale(hr, scale)  # 8-bit rounded, as the SR benchmarks' LR images
    assert lr.shape[:2] == (height // scale, width // scale), lr.shape
    return lr


# --------------------------------------------------------------------------------------------
# One measurement (runs in a fresh process)


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / 1024 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def _build(name: str, task: str, scale: int) -> torch.nn.Module:
    from studio.registry import build_model

    return build_model(name, **get_task(task).model_overrides(scale)).eval()


def _load(name: str, weights: str, task: str, scale: int) -> torch.nn.Module:
    from studio.registry import get_entry

    if weights == "random":
        torch.manual_seed(0)
        return _build(name, task, scale)
    if not get_entry(name).learned:
        return _build(name, task, scale)
    from studio.evaluation import load_for_task  # checks the card's task and scale; imports more, so only here

    return load_for_task(name, task, scale)


def measure(job: dict) -> dict:
    """Load one model, time ``run_model`` on ``job['lr']`` in one variant; output as uint8."""
    from studio.imageio import to_uint8

    try:
        if job["threads"]:
            torch.set_num_threads(job["threads"])
        model = _load(job["model"], job["weights"], job["task"], job["scale"])
        channels_last, precision = VARIANTS[job["variant"]]
        lr = job["lr"]

        known = {"kernel": job["kernel"]} if job.get("kernel") is not None else {}

        def once():
            return run_model(model, lr, scale=job["scale"], tile=job["tile"], overlap=job["overlap"],
                             channels_last=channels_last, precision=precision, **known)

        base_rss = _peak_rss_mb()
        output = None
        for _ in range(job["warmup"]):
            output = once()
        times = []
        for _ in range(job["repeats"]):
            started = time.perf_counter()
            output = once()
            times.append(time.perf_counter() - started)
        return {"times": times, "peak_rss_mb": _peak_rss_mb(), "base_rss_mb": base_rss,
                "output": to_uint8(output), "threads": torch.get_num_threads(), "error": None}
    except Exception as err:  # reported by the parent, which goes on with the next measurement
        return {"error": f"{type(err).__name__}: {err}"}


def count_flops(name: str, task: str, lr: np.ndarray, scale: int, tile: int, overlap: int, kernel=None) -> int:
    """FLOPs of one fp32 ``run_model`` pass (all tiles, overlap included), architecture from the card.
    Only torch operations count: the numpy FFTs of the deconvolution models are not in it."""
    from torch.utils.flop_counter import FlopCounterMode

    model = _build(name, task, scale)  # the weights' values do not change the count
    counter = FlopCounterMode(display=False)
    with counter:
        run_model(model, lr, scale=scale, tile=tile, overlap=overlap, channels_last=False,
                  **({"kernel": kernel} if kernel is not None else {}))
    return int(counter.get_total_flops())


def _child(job: dict, connection) -> None:
    try:
        connection.send(measure(job))
    finally:
        connection.close()


# Imported once by the fork server, so each measurement process starts in milliseconds instead of
# re-importing torch (seconds); its RSS high-water starts near that baseline, as a spawned one's would.
# Not this module itself: under ``python -m`` each child re-runs it as ``__mp_main__``, and runpy warns
# when it is already imported. Its own import is cheap once these are loaded.
# The registry's model modules are added at run time (``preload_modules``).
PRELOAD = ["torch", "numpy", "studio.inference", "studio.registry", "studio.imageio"]


def preload_modules(trained: bool) -> list[str]:
    from studio.registry import model_modules

    # studio.evaluation (load_for_task, for trained weights) imports scikit-image: only when needed.
    return PRELOAD + model_modules() + (["studio.evaluation"] if trained else [])


def isolation_context(method: str, preload: list[str] | None = None):
    import multiprocessing

    if method == "forkserver":
        if "forkserver" not in multiprocessing.get_all_start_methods():
            method = "spawn"
        else:
            context = multiprocessing.get_context("forkserver")
            if preload is not None:  # only effective before the server starts
                context.set_forkserver_preload(preload)
            return context
    return multiprocessing.get_context(method)


def start_fork_server(method: str) -> None:
    from studio.checkpoint import WEIGHTS_FILE
    from studio.registry import CHECKPOINT_DIR

    context = isolation_context(method, preload_modules(any(CHECKPOINT_DIR.glob(f"*/{WEIGHTS_FILE}"))))
    if context.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def measure_isolated(job: dict, method: str = "forkserver") -> dict:
    """``measure`` in a fresh process (one per measurement), so ``ru_maxrss`` is this measurement's alone.

    ``forkserver`` (default): forked from a clean server process that has imported torch and nothing
    else, never from this one; ``spawn``: a new interpreter each time (slower to start).
    """
    context = isolation_context(method)
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(job, sender), daemon=True)
    process.start()
    sender.close()
    try:
        result = receiver.recv()
    except EOFError:
        result = None
    finally:
        receiver.close()
        process.join()
    if result is None:
        return {"error": f"worker process died (exit code {process.exitcode}; out of memory?)"}
    return result


# --------------------------------------------------------------------------------------------
# Reporting


def write_csv(rows: list[dict], path: Path) -> Path:
    digits = {"median_ms": 3, "min_ms": 3, "gflops": 4, "gflops_per_s": 2, "peak_rss_mb": 1,
              "speedup_vs_fp32": 3, "psnr_vs_fp32_db": 2, "base_rss_mb": 1}
    return write_table(path, [{key: row[key] for key in COLUMNS} for row in rows], COLUMNS, digits=digits,
                       default_digits=0, other_columns=False)


def _baseline_ms(rows: list[dict], size: tuple[int, int], baseline: str) -> float | None:
    for row in rows:
        if row["model"] == baseline and (row["out_width"], row["out_height"]) == size:
            return row["median_ms"]
    return None


def table_lines(rows: list[dict], markdown: bool = False) -> list[str]:
    header = ["model", "variant", "output", "median ms", "min ms", "GFLOP", "GFLOP/s", "peak RSS MB",
              "base RSS MB", "speed-up vs fp32", "PSNR vs fp32 dB", "weights"]
    body = []
    for row in rows:
        body.append([row["model"], row["variant"], f"{row['out_width']}x{row['out_height']}",
                     cell_text(row["median_ms"], 1), cell_text(row["min_ms"], 1), cell_text(row["gflops"], 2),
                     cell_text(row["gflops_per_s"], 1), cell_text(row["peak_rss_mb"], 0), cell_text(row["base_rss_mb"], 0),
                     f"{row['speedup_vs_fp32']:.2f}x" if row["speedup_vs_fp32"] == row["speedup_vs_fp32"] else "",
                     cell_text(row["psnr_vs_fp32_db"], 2), row["weights"]])
    return _render(header, body, markdown)


def summary_lines(rows: list[dict], sizes, markdown: bool = False, baseline: str = "bicubic") -> list[str]:
    """Per model and size: the reference and the fastest variant, as multiples of the baseline's time."""
    header = ["output", "model", "weights", "fp32 ms", f"fp32 x {baseline}", "fastest variant", "fastest ms",
              "speed-up", f"fastest x {baseline}", "PSNR vs fp32 dB"]
    body = []
    for size in sizes:
        reference_ms = _baseline_ms(rows, size, baseline)
        models = dict.fromkeys(r["model"] for r in rows if (r["out_width"], r["out_height"]) == size)
        for name in models:
            mine = [r for r in rows if r["model"] == name and (r["out_width"], r["out_height"]) == size]
            reference = next((r for r in mine if r["variant"] == REFERENCE), None)
            fastest = min(mine, key=lambda r: r["median_ms"])

            def vs_baseline(ms):
                return f"{ms / reference_ms:.1f}x" if reference_ms and ms is not None else ""

            body.append([f"{size[0]}x{size[1]}", name, mine[0]["weights"],
                         cell_text(reference["median_ms"], 1) if reference else "",
                         vs_baseline(reference["median_ms"]) if reference else "",
                         fastest["variant"], cell_text(fastest["median_ms"], 1),
                         f"{fastest['speedup_vs_fp32']:.2f}x" if reference else "",
                         vs_baseline(fastest["median_ms"]), cell_text(fastest["psnr_vs_fp32_db"], 2)])
    return _render(header, body, markdown)


def _render(header: list[str], body: list[list[str]], markdown: bool) -> list[str]:
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return lines + ["| " + " | ".join(cells) + " |" for cells in body]
    widths = [max(len(h), *(len(cells[i]) for cells in body)) if body else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) if i > 2 else h.ljust(w) for i, (h, w) in enumerate(zip(header, widths)))]
    for cells in body:
        lines.append("  ".join(c.rjust(w) if i > 2 else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))))
    return lines


# --------------------------------------------------------------------------------------------
# Main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=sorted(TASK_DEFAULTS), default="sr")
    parser.add_argument("--models", help="comma-separated models of the task (default: every registered one)")
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help="comma-separated OUTPUT sizes WIDTHxHEIGHT "
                        f"(the LR input is size / scale; default {DEFAULT_SIZES})")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"variants for learned models, from {','.join(VARIANTS)} ({REFERENCE} is always run)")
    parser.add_argument("--image", help="source photo, or a folder (first image); default: set14/lenna.png "
                        "for sr, gopro_blurred_only/seq_id1_frame8.png for deblur")
    parser.add_argument("--scale", type=int, default=4, help="SR scale (deblurring is always 1)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (median reported)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs before timing")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's default)")
    parser.add_argument("--tile", type=int, default=None,
                        help="tile size in input pixels (default: the model's own; 0: never tile)")
    parser.add_argument("--overlap", type=int, default=DEFAULT_OVERLAP, help="tile overlap in input pixels")
    parser.add_argument("--random-weights", action="store_true",
                        help="time models that have no checkpoint with random weights (timing only)")
    parser.add_argument("--isolation", choices=["forkserver", "spawn", "none"], default="forkserver",
                        help="one fresh process per measurement from a fork server (default) or spawned, or "
                        "none: all in this process (peak RSS is then cumulative, not per measurement)")
    parser.add_argument("--out", help="CSV file to write (default results/bench/<task>_bench.csv)")
    parser.add_argument("--markdown", help="markdown summary (default: the --out path with .md)")
    parser.add_argument("--baseline", help="the model every time is compared with (default: bicubic for sr, "
                        "unsharp-mask for deblur)")
    parser.add_argument("--kernel", default="k4", help="Levin kernel given to models that need the true kernel "
                        "(timing only; default k4, the largest: 27 px)")
    parser.add_argument("--blur-length", type=float, default=None,
                        help="deblur: blur each input with a camera-shake trajectory of this path length (px; fixed "
                             "seed, noise sigma 0.005, 8 bits) and give that kernel to the models that need the true "
                             "one, to time long blur on a sharp --image (default: the real blurred frame as it is)")
    parser.add_argument("--no-progress", action="store_true")
    return parser


def main(argv=None, entry_point: str = "benchmarks.bench_inference") -> list[dict]:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    defaults = TASK_DEFAULTS[args.task]
    if not get_task(args.task).scaled_models:
        args.scale = 1
    baseline = args.baseline or defaults["baseline"]
    if args.isolation != "none":
        start_fork_server(args.isolation)  # first: it boots (imports) while this process prepares
    from tqdm.auto import tqdm

    from studio.imageio import load_image
    from studio.metrics import psnr
    from studio.registry import get_entry, list_models

    try:
        sizes = parse_sizes(args.sizes, args.scale)
        available = list_models(args.task)
        names = [n.strip() for n in args.models.split(",") if n.strip()] if args.models else available
        unknown = [n for n in names if n not in available]
        if unknown:
            raise ValueError(f"not {args.task} models: {', '.join(unknown)} ({args.task} models: "
                             f"{', '.join(available)})")
        variants = [v.strip() for v in args.variants.split(",") if v.strip()]
        bad = [v for v in variants if v not in VARIANTS]
        if bad:
            raise ValueError(f"unknown variants {bad}; choose from {list(VARIANTS)}")
        variants = [REFERENCE] + [v for v in variants if v != REFERENCE]
        if args.repeats < 1 or args.warmup < 0:
            raise ValueError("--repeats must be >= 1 and --warmup >= 0")
        image_path = resolve_image(args.image or defaults["image"])
        photo = load_image(image_path)
    except (ValueError, FileNotFoundError, OSError) as err:
        sys.exit(f"error: {err}")

    if args.threads:
        torch.set_num_threads(args.threads)
    out_path = Path(args.out or defaults["out"])
    md_path = Path(args.markdown) if args.markdown else out_path.with_suffix(".md")
    env_prefix = "".join(f"{k}={os.environ[k]} " for k in ("OMP_NUM_THREADS",) if k in os.environ)
    shown = argv[2:] if entry_point.endswith("bench_sr") else argv  # bench_sr prepends its "--task sr"
    command = f"{env_prefix}python -m {entry_point} {shlex.join(shown)}".rstrip()

    notes = []
    weights = {}
    timing_kernel = None
    if any(needs_true_kernel(get_entry(n).builder) for n in names):
        from studio.deblur.degradation import load_levin_kernels

        timing_kernel = load_levin_kernels()[args.kernel]
        notes.append(f"models that need the true kernel are timed with Levin {args.kernel} "
                     f"({timing_kernel.shape[0]} px) as the known kernel: the frame's own blur is unknown, and "
                     "their time depends on the kernel's size only")
    for name in names:
        entry = get_entry(name)
        if not entry.learned:
            weights[name] = "none"
        elif entry.has_weights:
            weights[name] = "trained"
        elif args.random_weights:
            weights[name] = "random"
            notes.append(f"{name}: no checkpoint at {entry.weights_path}; timed with RANDOM "
                         "weights (--random-weights): timings are valid, the PSNR-vs-fp32 column less so")
        else:
            notes.append(f"{name}: SKIPPED, no checkpoint at {entry.weights_path} "
                         "(train it, or pass --random-weights to time it with random weights)")
    names = [n for n in names if n in weights]
    if not names:
        print("note: no model left to measure")

    header = [
        f"command: {command}",
        f"torch {torch.__version__}, threads {args.threads or torch.get_num_threads()}"
        f"{'' if args.threads else ' (torch default)'}, interop threads {torch.get_num_interop_threads()}",
        f"CPU: {cpu_model()} ({os.cpu_count()} logical CPUs), bf16 support: {cpu_bf16_support()}",
        f"python {platform.python_version()}, {platform.platform()}",
        f"image: {image_path} ({photo.shape[1]}x{photo.shape[0]}), resized+cropped to each output size"
        + (f", MATLAB-bicubic downscaled x{args.scale}" if args.scale > 1 else ", used as the model input"),
        f"repeats {args.repeats} (median), warmup {args.warmup}, "
        f"tile {'model default' if args.tile is None else args.tile} overlap {args.overlap} (input px), "
        "peak RSS: " + ("cumulative in this process (--isolation none)" if args.isolation == "none" else
                        f"one fresh process per measurement ({args.isolation})"),
    ]
    print("\n".join(header))
    for note in notes:
        print(f"note: {note}")

    jobs = []
    inputs = {size: make_lr(photo, *size, args.scale) for size in sizes}
    if args.blur_length is not None:
        from studio.deblur import degradation as blur_degradation

        if "blur_length" not in {p.name for p in get_task(args.task).params} or not 3 <= args.blur_length <= 150:
            sys.exit("error: --blur-length is for --task deblur, between 3 and 150 px")
        timing_kernel, _ = blur_degradation.trajectory_kernel(np.random.default_rng(0), length=args.blur_length,
                                                              max_size=2 * int(np.ceil(args.blur_length)) + 3)
        inputs = {size: blur_degradation.apply_blur(image, timing_kernel, np.random.default_rng(1),
                                                    blur_degradation.EVAL_NOISE_SIGMA).image
                  for size, image in inputs.items()}
        notes = [n for n in notes if "the frame's own blur" not in n]
        notes.append(f"every input blurred with a {args.blur_length:g}-px camera-shake trajectory "
                     f"({timing_kernel.shape[0]} px kernel, path {blur_degradation.path_extent(timing_kernel)} px; seed 0), "
                     "noise sigma 0.005, 8 bits; models that need the true kernel get that kernel")
        print(f"note: {notes[-1]}")
    for size in sizes:
        for name in names:
            for variant in (variants if get_entry(name).learned else [REFERENCE]):
                jobs.append({"model": name, "variant": variant, "size": size, "lr": inputs[size],
                             "task": args.task, "scale": args.scale, "tile": args.tile, "overlap": args.overlap,
                             "warmup": args.warmup, "repeats": args.repeats, "threads": args.threads,
                             "weights": weights[name],
                             "kernel": timing_kernel if needs_true_kernel(get_entry(name).builder)
                             else None})
    # FLOPs here, not in the measured processes: FlopCounterMode imports torch._dynamo (seconds, and
    # tens of MB that would inflate their peak RSS). They depend on the architecture only.
    flops = {(name, size): count_flops(name, args.task, inputs[size], args.scale, args.tile, args.overlap,
                                       timing_kernel if needs_true_kernel(get_entry(name).builder)
                                       else None)
             for size in sizes for name in names if get_entry(name).learned}

    rows, references = [], {}
    progress = tqdm(jobs, desc=f"bench {args.task}", unit="run", disable=args.no_progress)
    for job in progress:
        name, variant, size = job["model"], job["variant"], job["size"]
        progress.set_postfix_str(f"{name} {variant} {size[0]}x{size[1]}")
        result = measure(job) if args.isolation == "none" else measure_isolated(job, args.isolation)
        if result["error"]:
            message = f"{name} {variant} {size[0]}x{size[1]} FAILED: {result['error']}"
            notes.append(message)
            tqdm.write(f"note: {message}")
            continue
        times_ms = [t * 1000 for t in result["times"]]
        median_ms = statistics.median(times_ms)
        key = (name, size)
        if variant == REFERENCE:
            references[key] = {"median_ms": median_ms, "output": result["output"]}
        reference = references.get(key)
        n_flops = flops.get(key, 0)
        if reference is None:
            speedup = psnr_db = float("nan")
        elif variant == REFERENCE:
            speedup, psnr_db = 1.0, float("inf")
        else:
            speedup = reference["median_ms"] / median_ms
            psnr_db = float(psnr(result["output"].astype(np.float32) / 255,
                                 reference["output"].astype(np.float32) / 255))
        rows.append({"model": name, "variant": variant, "out_width": size[0], "out_height": size[1],
                     "median_ms": median_ms, "min_ms": min(times_ms), "gflops": n_flops / 1e9,
                     "gflops_per_s": n_flops / 1e9 / (median_ms / 1000), "peak_rss_mb": result["peak_rss_mb"],
                     "speedup_vs_fp32": speedup, "psnr_vs_fp32_db": psnr_db, "weights": job["weights"],
                     "base_rss_mb": result["base_rss_mb"], "threads": result["threads"]})
    progress.close()

    worker_threads = sorted({row["threads"] for row in rows})
    if worker_threads:
        header.append(f"threads used by the measurements: {', '.join(map(str, worker_threads))}")
        print(header[-1])
    print()
    print("\n".join(table_lines(rows)))
    print()
    has_baseline = any(row["model"] == baseline for row in rows)
    print(f"summary (x {baseline} = time as a multiple of {baseline}'s at the same output size"
          f"{'' if has_baseline else f'; {baseline} not run, so left empty'}):")
    print("\n".join(summary_lines(rows, sizes, baseline=baseline)))

    write_csv(rows, out_path)
    md = [f"# {defaults['title']}", "", "```", command, "```", ""]
    md += [f"- {line}" for line in header[1:]]
    md += [f"- note: {note}" for note in notes]
    md += ["", f"## Summary vs {baseline}", "",
           f"Time of each model as a multiple of {baseline}'s at the same output size; the fastest variant, its "
           "speed-up over the fp32 contiguous reference and the PSNR of its 8-bit output against the "
           "reference's (inf: identical).", ""]
    md += summary_lines(rows, sizes, markdown=True, baseline=baseline)
    md += ["", "## All measurements", ""] + table_lines(rows, markdown=True) + [
        "", f"CSV: `{out_path}`. Columns and caveats: `benchmarks/README.md`.", ""]
    md_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text("\n".join(md))
    print(f"\nwrote {len(rows)} rows to {out_path} and the summary to {md_path}")
    return rows


if __name__ == "__main__":
    main()
