"""Restore images that have no ground truth: one file or a whole folder.

    python -m studio.restore --task sr --model srresnet --input photo.jpg --output out/
    python -m studio.restore --task sr --model srgan-v3 --input my_folder/ --output out/
    python -m studio.restore --task deblur --model unet-light-v3 --input blurred.jpg --output out/

Large images are processed by overlapping tiles (``--tile``), so any size fits in memory.
``--precision auto`` (the default) runs learned models under bf16 autocast where the CPU computes
bf16 natively (AVX512-BF16 or AMX; the command prints its measured effect, from ``results/bench``)
and in fp32 elsewhere; ``--precision fp32`` gives exactly what
``studio.evaluate`` measures.
Each output is ``<output>/<stem>_<model>.png`` (lossless). An unreadable file (or one with NaN
pixels) is reported and skipped; the exit code is 1 if any file failed. A bad option or an output
folder that cannot be written is one line and exit code 2, before any image is read. A model that
needs the true blur kernel (``wiener-oracle``, ``pnp-oracle``) takes it from ``--kernel`` (a .npy
array or a grayscale image of the kernel); a blind one (``pnp-blind``, ``wiener-blind``) also saves
the kernel it estimated as ``<stem>_<model>_kernel.png`` (scaled to its maximum) and prints its
verdict on that kernel (confident, kernel uncertain, no blur found; the size it chose).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tqdm.auto import tqdm

from studio import cli
from studio.checkpoint import CheckpointError
from studio.deblur.deconvolution import DeconvolutionError
from studio.deblur.interface import needs_true_kernel
from studio.deblur.views import first_estimate
from studio.evaluation import load_for_task
from studio.imageio import ImageLoadError, list_images, load_image, save_png
from studio.inference import DEFAULT_OVERLAP, DEFAULT_TILE, PRECISIONS, resolve_precision, run_model
from studio.registry import get_entry
from studio.results import bf16_note
from studio.tasks import TASKS, get_task


def _load_kernel(path):
    """A blur kernel from a .npy file or a grayscale image, normalised to sum 1."""
    import numpy as np

    from studio.deblur.degradation import normalize_kernel

    path = Path(path)
    array = np.load(path) if path.suffix.lower() == ".npy" else load_image(path, mode="L")
    return normalize_kernel(array)


def main(argv=None) -> int:
    parser = cli.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", required=True, choices=sorted(TASKS))
    parser.add_argument("--model", required=True)
    parser.add_argument("--input", required=True, help="an image file or a folder of images")
    parser.add_argument("--output", required=True, help="folder for the restored PNGs")
    scale = TASKS["sr"].param("scale")
    parser.add_argument("--scale", type=cli.number(scale.low, scale.high), default=scale.default,
                        help=f"SR scale ({scale.low}-{scale.high}; the other tasks ignore it)")
    parser.add_argument("--tile", type=cli.number(0), default=None,
                        help="tile size in input pixels (default: the model's own; 0: never tile)")
    parser.add_argument("--overlap", type=cli.number(0), default=DEFAULT_OVERLAP)
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="fp32, bf16 autocast, or auto: bf16 where the CPU has it natively (default)")
    parser.add_argument("--kernel", help="true blur kernel (.npy, or a grayscale image) for models that need it")
    args = parser.parse_args(argv)

    source = Path(args.input)
    if not source.exists():
        print(f"error: {source} does not exist", file=sys.stderr)
        return 2
    try:
        cli.check_writable(args.output, "--output", folder=True)
    except cli.CommandError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    files = list_images(source) if source.is_dir() else [source]
    if not files:
        print(f"error: no images in {source}", file=sys.stderr)
        return 2
    try:
        model = load_for_task(args.model, args.task, args.scale)
    except (CheckpointError, KeyError, ValueError) as err:
        print(f"error: {cli.one_line(err)}", file=sys.stderr)
        return 2
    tile = getattr(model, "default_tile", DEFAULT_TILE) if args.tile is None else args.tile
    if tile and tile <= 2 * args.overlap:
        print(f"error: the tile ({tile} px) must be larger than twice --overlap ({args.overlap}); pass a larger "
              "--tile, a smaller --overlap, or --tile 0 (never tile)", file=sys.stderr)
        return 2
    kernel = None
    if needs_true_kernel(model):
        if not args.kernel:
            print(f"error: {args.model} deconvolves with the true blur kernel; pass it with --kernel "
                  "(.npy or a grayscale image)", file=sys.stderr)
            return 2
        try:
            kernel = _load_kernel(args.kernel)
        except (OSError, ValueError) as err:
            print(f"error: --kernel {args.kernel}: {err}", file=sys.stderr)
            return 2
    scale = get_task(args.task).scale(scale=args.scale)
    if not get_entry(args.model).learned:
        print(f"precision: {args.model} is classical and runs as written")
    else:
        bf16 = resolve_precision(args.precision) is not None
        print(f"precision: {'bf16 autocast' if bf16 else 'fp32'} ({args.precision})"
              + (f"; in the benchmarks bf16 was {bf16_note()}" if bf16 else ""))
    failures = 0
    for path in tqdm(files, desc=args.model, disable=len(files) == 1):
        try:
            image = load_image(path)
        except ImageLoadError as err:
            print(f"skipped: {err}", file=sys.stderr)
            failures += 1
            continue
        started = time.perf_counter()
        extra = {"kernel": kernel} if kernel is not None else {}
        try:
            output = run_model(model, image, scale=scale, tile=args.tile, overlap=args.overlap,
                               precision=args.precision, **extra)
        except DeconvolutionError as err:  # e.g. a flat photo, or one smaller than the max kernel
            print(f"skipped: {path}: {err}", file=sys.stderr)
            failures += 1
            continue
        try:
            target = save_png(output, Path(args.output) / f"{path.stem}_{args.model}.png")
        except OSError as err:  # e.g. the disk filled up: the next files would fail the same way
            print(f"error: cannot write to {args.output}: {err.strerror or err}", file=sys.stderr)
            return 1
        print(f"{path.name}: {image.shape[1]}x{image.shape[0]} -> {output.shape[1]}x{output.shape[0]} "
              f"in {time.perf_counter() - started:.2f} s, saved {target}")
        estimate = first_estimate(model)
        if estimate is not None:  # a blind model: its estimate too, and its verdict on it
            kernel_png = Path(args.output) / f"{path.stem}_{args.model}_kernel.png"
            print(f"  estimated kernel: {save_png(estimate.kernel / estimate.kernel.max(), kernel_png)}")
            if estimate.report is not None:
                print(f"  {estimate.report.message}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
