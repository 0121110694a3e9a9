"""Evaluate models of a task on a folder of images; one CSV row per (model, image).

    python -m studio.evaluate --task sr --models bicubic,srresnet --clean ../shared/datasets/set5 \
        --out results/eval/sr_set5_x4.csv

    python -m studio.evaluate --task deblur --models unsharp-mask,wiener-oracle,unet-light-v3 \
        --clean ../shared/datasets/levin2009/sharp --degraded ../shared/datasets/levin2009/blurred \
        --out results/eval/deblur_levin2009.csv

With only ``--clean``, inputs are made by the task's degradation (seeded); with ``--degraded``,
inputs are read from that folder and matched to the clean images by file stem (for deblur, a
degraded file may also be named ``<clean stem>_<anything>``: levin2009's ``im_1_ker_3`` pairs with
``im_1``; the row's image is then the degraded stem). Columns:
task, model, image, psnr, ssim, psnr_y, ssim_y, input_psnr, input_psnr_y, seconds, height, width
(+ scale, seed, dataset; deblur rows add kernel and noise_sigma, restoration rows the degradation
applied: the fixed benchmark setting, its noise seed drawn per image; SR rows made with
``--degradation real`` the choices drawn for each input). For deblur the input PSNR is the
blurred input's own, and models that declare ``needs_kernel`` (the oracle Wiener) receive the
true kernel: the one applied (synthetic blur) or ``kY`` (levin2009); where it is unknown their
rows are skipped with a warning. Scores crop the task's border (``scale`` pixels for SR, as the
literature does). ``--update-cards`` writes the per-model means into each shipped model card,
together with this command. Every error is one line and a non-zero exit; ``--out`` and
``--save-outputs`` are checked for writability before any image is evaluated.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from studio import cli
from studio.checkpoint import CheckpointError, update_card
from studio.data import require_dataset
from studio.restoration.chain import evaluate_chain, summarize_chain
from studio.evaluation import evaluate, summarize, write_csv
from studio.imageio import ImageLoadError
from studio.inference import DEFAULT_OVERLAP, PRECISIONS
from studio.registry import get_entry, model_card
from studio.tasks import SR_DEGRADATIONS, TASKS, ParamError, TaskSpec, get_task


def card_metrics_key(task: TaskSpec, clean_dir, degraded_dir, scale: int, degradation: str = "bicubic") -> str:
    """The key of an evaluation in a model card: ``set5_x4``, ``set14_x4_real``; ``levin2009``,
    ``set5_synthetic``."""
    if task.scaled_models:
        return f"{Path(clean_dir).name}_x{scale}" + ("" if degradation == "bicubic" else f"_{degradation}")
    return task.dataset_name(clean_dir) + ("" if degraded_dir else "_synthetic")


def print_summary(summary: dict) -> None:
    width = max([14] + [len(name) + 1 for name in summary])
    shift = all("psnr_shift" in m for m in summary.values())  # deblur: also up to a shift
    print(f"{'model':<{width}}{'PSNR':>8}{'SSIM':>8}{'PSNR-Y':>9}{'SSIM-Y':>9}{'ΔY vs input':>13}"
          + (f"{'Δ up to shift':>15}" if shift else "") + f"{'ms/img':>9}")
    for name, m in summary.items():
        print(f"{name:<{width}}{m['psnr']:8.2f}{m['ssim']:8.4f}{m['psnr_y']:9.2f}{m['ssim_y']:9.4f}"
              f"{m['gain_psnr_y']:+13.2f}" + (f"{m['gain_psnr_shift']:+15.2f}" if shift else "")
              + f"{m['seconds'] * 1000:9.0f}")


def run_chain(parser, args, names: list[str]) -> None:
    """``--upscale``: each restored output upscaled x4, one row per (restorer, upscaler, image)."""
    if not get_task(args.task).upscale_chain:
        parser.error(f"--upscale: the {args.task} task has no restore-then-upscale chain")
    if args.degraded or args.update_cards:
        parser.error("--upscale degrades the clean images itself and writes no card: drop --degraded/--update-cards")
    upscalers = list(dict.fromkeys(["bicubic", *(n.strip() for n in args.upscale.split(",") if n.strip())]))
    try:
        wrong = [n for n in upscalers if not getattr(TASKS.get(get_entry(n).task), "scaled_models", False)]
    except KeyError as err:
        parser.error(f"--upscale: {err.args[0]}")
    if wrong:
        parser.error(f"--upscale: not a super-resolution model: {', '.join(wrong)}")
    rows = evaluate_chain(names, upscalers, args.clean, args.seed, args.limit, precision=args.precision)
    write_csv(rows, args.out)
    summary = summarize_chain(rows)
    width = max(len(f"{r} -> {u}") for r, u in summary) + 2
    print(f"{'restorer -> upscaler':<{width}}{'PSNR':>8}{'SSIM':>8}{'PSNR-Y':>9}{'vs bicubic':>12}")
    for (restorer, upscaler), m in summary.items():
        print(f"{restorer + ' -> ' + upscaler:<{width}}{m['psnr']:8.2f}{m['ssim']:8.4f}{m['psnr_y']:9.2f}"
              f"{m.get('gain_over_bicubic', float('nan')):+12.2f}")
    print(f"wrote {len(rows)} rows to {args.out}")


@cli.one_line_errors(ImageLoadError, CheckpointError, FileNotFoundError, ParamError, ValueError, OSError)
def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = cli.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", required=True, choices=sorted(TASKS))
    parser.add_argument("--models", required=True, help="comma-separated registered model names")
    parser.add_argument("--clean", required=True, help="folder of ground-truth images")
    parser.add_argument("--degraded", help="folder of degraded inputs matched by file stem")
    parser.add_argument("--out", required=True, help="CSV file to write")
    parser.add_argument("--save-outputs", help="folder for the output PNGs (<model>/<image>.png)")
    parser.add_argument("--seed", type=cli.number(0, 2**32 - 1), default=0)
    scale = TASKS["sr"].param("scale")
    parser.add_argument("--scale", type=cli.number(scale.low, scale.high), default=scale.default,
                        help=f"SR scale ({scale.low}-{scale.high}; the other tasks ignore it)")
    parser.add_argument("--degradation", choices=SR_DEGRADATIONS, default="bicubic",
                        help="SR: how the low-resolution inputs are made from --clean: the bicubic protocol, or the "
                             "real-photo degradation (studio.sr.real_degradation), one seeded draw per image")
    parser.add_argument("--tile", type=cli.number(0), default=None,
                        help="tile size in input pixels (default: the model's own; 0: never tile)")
    parser.add_argument("--overlap", type=cli.number(0), default=DEFAULT_OVERLAP)
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="fp32 (default: the published figures), bf16 autocast, or auto")
    parser.add_argument("--limit", type=cli.number(1), help="evaluate only the first N images")
    parser.add_argument("--upscale", help="restore, then upscale x4 with these comma-separated SR models (bicubic "
                                          "is always added as the reference); scored at 512 px (studio.restoration.chain)")
    parser.add_argument("--update-cards", action="store_true", help="record the means in each model's card")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    if not names:
        parser.error(f"--models {args.models!r}: no model name (a comma-separated list of registered models)")
    if args.degradation != "bicubic" and (not get_task(args.task).scaled_models or args.degraded):
        parser.error("--degradation makes super-resolution inputs from --clean: use it with --task sr and without "
                     "--degraded")
    if args.tile and args.tile <= 2 * args.overlap:
        parser.error(f"--tile {args.tile} must be larger than twice --overlap ({args.overlap}), or 0 (never tile)")
    # before any work: a bad output path must not cost the evaluation
    cli.check_writable(args.out, "--out")
    if args.save_outputs:
        cli.check_writable(args.save_outputs, "--save-outputs", folder=True)
    for folder, option in ((args.clean, "--clean"), (args.degraded, "--degraded")):
        if folder is not None:
            require_dataset(folder, option)
    if args.upscale is not None:
        return run_chain(parser, args, names)
    rows = evaluate(args.task, names, args.clean, args.degraded, args.scale, args.seed, args.save_outputs,
                    args.tile, args.overlap, args.limit, precision=args.precision,
                    params={"degradation": args.degradation} if get_task(args.task).scaled_models else None)
    if not rows:
        raise cli.CommandError(f"no row to write: none of {', '.join(names)} could run on {args.clean} "
                               "(see the warnings above)")
    write_csv(rows, args.out)
    summary = summarize(rows)
    print_summary(summary)
    print(f"wrote {len(rows)} rows to {args.out}")
    if args.update_cards:
        command = "python -m studio.evaluate " + shlex.join(argv)
        key = card_metrics_key(get_task(args.task), args.clean, args.degraded, args.scale, args.degradation)
        for name in names:
            if get_entry(name).learned and name in summary:
                card = model_card(name)
                metrics = dict(card.get("metrics", {}))
                metrics[key] = {k: round(v, 4) for k, v in summary[name].items()} | {
                    "csv": str(args.out), "command": command}
                update_card(get_entry(name).checkpoint_dir, metrics=metrics)


if __name__ == "__main__":
    main()
