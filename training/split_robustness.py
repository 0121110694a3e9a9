"""Split robustness, the deblurring logbook's run #4 lesson (its section 11): the same model scores
differently on a harder split, so models are compared on the same split only.

    python -m training.split_robustness --seed 42        # train on split 42, score on splits 42 and 123
    python -m training.split_robustness --seed 123       # the other split (may run at the same time)

The pool (bsds500 train + test + val) is split by image with each seed (``--val-fraction`` of it
held out). One model per split is trained at the same budget (the ``unet-light-v1`` CPU recipe,
``--steps`` each: the cheapest of the logbook's U-Nets, and the split effect shows in every model's
input and output PSNR alike), then each is scored on the held-out images of *both* splits: centre
crops blurred with the fixed validation kernels. Each run fills its rows of
``results/protocol/split-robustness/split-robustness.csv`` (the 2x2 table; the dashboard's Sanity
checks page shows it); the run logs go to ``results/runs/split-<seed>/``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from studio import cli
from studio.data import DATASETS, require_dataset
from studio.deblur.datasets import pool_split, synthetic_validation_set
from studio.imageio import quantize
from studio.inference import run_model
from studio.metrics import psnr
from studio.registry import create_model
from studio.results import read_table, write_table
from training import train_deblur

POOL = [str(DATASETS / "bsds500" / "train"), str(DATASETS / "bsds500" / "test")]
VAL = str(DATASETS / "bsds500" / "val")
SEEDS = (42, 123)  # the logbook's two split seeds
MODEL = "unet-light-v1"
OUT = Path("results/protocol/split-robustness/split-robustness.csv")
COLUMNS = ["model", "trained_on_split", "evaluated_on_split", "images", "psnr", "input_psnr", "gain", "steps",
           "command"]


def held_out(seed: int, val_fraction: float) -> list[Path]:
    return pool_split([*POOL, VAL], seed, val_fraction)[1]


def score(model, items: list[dict]) -> dict:
    """Mean PSNR of ``model`` on validation pairs, and of their blurred inputs."""
    outputs = [quantize(run_model(model, item["blurred"])) for item in items]
    return {"images": len(items), "psnr": float(np.mean([psnr(o, i["sharp"]) for o, i in zip(outputs, items)])),
            "input_psnr": float(np.mean([psnr(i["blurred"], i["sharp"]) for i in items]))}


def merge_rows(path: Path, rows: list[dict], seed: int) -> Path:
    """The table with this seed's rows replaced (the other seed's run may have written its own)."""
    table = read_table(path) if path.is_file() else None
    kept = []
    if table is not None and table.ok:
        kept = [r for r in table.frame.to_dict("records") if int(r["trained_on_split"]) != seed]
    rows = sorted(kept + rows, key=lambda r: (int(r["trained_on_split"]), int(r["evaluated_on_split"])))
    return write_table(path, rows, COLUMNS, default_digits=4)


def main(argv=None) -> None:
    parser = cli.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, required=True, choices=SEEDS, help="the split to train on")
    parser.add_argument("--steps", type=cli.number(1), default=600, help="training steps (the same for every split)")
    parser.add_argument("--val-fraction", type=cli.number(0.01, 0.5, integer=False), default=0.1)
    parser.add_argument("--eval-crop", type=cli.number(32), default=192, help="scored centre-crop size (px)")
    parser.add_argument("--threads", type=cli.number(0), default=0)
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    cli.check_writable(args.out, "--out")
    for folder in (*POOL, VAL):
        require_dataset(folder, "the bsds500 pool")
    with tempfile.TemporaryDirectory(prefix="split-robustness-") as scratch:
        run = train_deblur.make_args(MODEL, pool_split=args.seed, val_fraction=args.val_fraction, steps=args.steps,
                                     run_name=f"split-{args.seed}", export=str(Path(scratch) / "model"),
                                     threads=args.threads, data=POOL, val=VAL)
        print(run.command)
        train_deblur.train(run)
        model = create_model(MODEL, checkpoint=Path(scratch) / "model")
    command = "python -m training.split_robustness " + " ".join(sys.argv[1:] if argv is None else argv)
    rows = []
    for split in SEEDS:
        items = synthetic_validation_set(held_out(split, args.val_fraction), count=10**6, crop=args.eval_crop)
        scores = score(model, items)
        rows.append({"model": MODEL, "trained_on_split": args.seed, "evaluated_on_split": split, **scores,
                     "gain": scores["psnr"] - scores["input_psnr"], "steps": args.steps, "command": command})
        print(f"trained on split {args.seed}, scored on split {split}: {scores['psnr']:.2f} dB "
              f"(input {scores['input_psnr']:.2f} dB, {scores['images']} images)")
    print(f"wrote {merge_rows(Path(args.out), rows, args.seed)}")


if __name__ == "__main__":
    main()
