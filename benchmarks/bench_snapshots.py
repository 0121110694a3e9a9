"""What the training replay costs: the snapshot written at each validation, against the validation itself.

    python -m benchmarks.bench_snapshots                  # srresnet's validation on Set5 (or the samples)
    python -m benchmarks.bench_snapshots --repeats 10 --val ../shared/datasets/set14

One SR training setup (``training.train_sr``, the srresnet preset, nothing trained) is built once;
then, ``--repeats`` times each, the engine's validation (``Trainer.validate``: the model on every
validation image, PSNR-Y) and its snapshot (``Trainer.snapshot``: the model on the family's crops,
the PNGs and the CSV row) are timed. The figure is the ratio of their medians, measured in the same
run; the size each snapshot adds to a run folder is reported beside it. Results:
``results/bench/snapshots.csv``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from studio.results import write_table  # noqa: E402

COLUMNS = ["measure", "median_s", "min_s", "repeats", "ratio_to_validation", "bytes_per_snapshot", "val", "crops",
           "threads"]
SAMPLES = ROOT / "data" / "samples"


def measure(val: Path, train: Path, repeats: int, threads: int) -> list[dict]:
    import torch

    from studio.data import display_path
    from studio.engine import TrainConfig, Trainer
    from studio.snapshots import SnapshotWriter
    from training import train_sr

    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as scratch:
        args = train_sr.make_args("srresnet", data=[str(train)], val=str(val), steps=1, patch=32, batch_size=2,
                                  runs_dir=scratch, export="none")
        task = train_sr.SuperResolutionTask("srresnet", args)
        trainer = Trainer(task, TrainConfig.from_args(args))
        writer = SnapshotWriter(Path(scratch) / "run", task.snapshot_family, task.snapshot_crops())
        writer.start()
        timings = {"validation": [], "snapshot": []}
        sizes = []
        for repeat in range(repeats + 1):  # the first of each warms up and is not counted
            started = time.perf_counter()
            trainer.validate()
            validation = time.perf_counter() - started
            before = sum(p.stat().st_size for p in writer.folder.rglob("*") if p.is_file())
            trainer.step = repeat + 1
            started = time.perf_counter()
            trainer.snapshot(writer)
            snapshot = time.perf_counter() - started
            if repeat:
                timings["validation"].append(validation)
                timings["snapshot"].append(snapshot)
                sizes.append(sum(p.stat().st_size for p in writer.folder.rglob("*") if p.is_file()) - before)
        crops = len(writer.crops)
    reference = statistics.median(timings["validation"])
    return [{"measure": name, "median_s": statistics.median(values), "min_s": min(values), "repeats": repeats,
             "ratio_to_validation": statistics.median(values) / reference,
             "bytes_per_snapshot": int(statistics.median(sizes)) if name == "snapshot" else "",
             "val": display_path(val), "crops": crops, "threads": threads} for name, values in timings.items()]


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_val = ROOT.parent / "shared" / "datasets" / "set5"
    parser.add_argument("--val", type=Path, default=default_val if default_val.is_dir() else SAMPLES,
                        help="validation images (default: Set5 where present, else the shipped samples)")
    parser.add_argument("--train", type=Path, default=SAMPLES, help="training images (only loaded, never trained on)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "bench" / "snapshots.csv")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    rows = measure(args.val, args.train, args.repeats, args.threads)
    write_table(args.out, rows, COLUMNS, default_digits=4)
    snapshot = rows[1]
    print(f"validation {rows[0]['median_s']:.3f} s, snapshot {snapshot['median_s']:.3f} s "
          f"({snapshot['ratio_to_validation']:.2f}x the validation), {snapshot['bytes_per_snapshot'] / 1024:.0f} KiB "
          f"per snapshot; wrote {args.out}")
    return rows


if __name__ == "__main__":
    main()
