"""The SR benchmark: ``benchmarks.bench_inference`` with ``--task sr`` (the default).

    python -m benchmarks.bench_sr --repeats 3 --threads 2

Kept as its own entry point because the shipped ``results/bench/sr_bench.md`` names it.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: python benchmarks/bench_sr.py
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_inference import COLUMNS, main as _main  # noqa: E402

__all__ = ["COLUMNS", "ROOT", "main"]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--task" in argv:
        sys.exit("error: bench_sr is the SR benchmark; use python -m benchmarks.bench_inference --task ...")
    return _main(["--task", "sr", *argv], entry_point="benchmarks.bench_sr")


if __name__ == "__main__":
    main()
