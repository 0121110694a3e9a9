"""``python -m training.protocol``: one subcommand per step."""

from __future__ import annotations

import argparse
import sys


from studio import cli
from studio.checkpoint import CheckpointError
from studio.engine import TrainingDiverged
from training.protocol.baselines import cmd_baselines
from training.protocol.check_init import cmd_check_init
from training.protocol.common import GRID_DIR, OUT_DIR, RUNS_DIR, out_path, write_csv
from training.protocol.evaluate import cmd_evaluate
from training.protocol.families import make_family
from training.protocol.grid_search import cmd_grid_search
from training.protocol.lr_find import cmd_lr_find
from training.protocol.overfit_small import cmd_overfit_small
from training.protocol.train import cmd_train


def _package_doc() -> str:
    import training.protocol  # the package's docstring is the command's help

    return training.protocol.__doc__


def build_parser() -> argparse.ArgumentParser:
    common = cli.ArgumentParser(add_help=False)
    common.add_argument("--model", required=True, help="a registered model name (python -m studio.registry lists them)")
    common.add_argument("--name", help="experiment name: results/protocol/<name>/ (default: the model name)")
    common.add_argument("--data", nargs="+", help="classifier: one dataset folder (train/val layout or one folder per "
                        "class; default ../shared/datasets/tiny_imagenet_subset); SR: HR training folders")
    common.add_argument("--classes", type=int, help="classifier: keep the first N classes (sorted)")
    common.add_argument("--image-size", type=int, default=64)
    common.add_argument("--val-fraction", type=float, default=0.2, help="single-folder layout: validation share")
    common.add_argument("--test-fraction", type=float, default=0.5,
                        help="test share (single folder: of each class; train/val layout: of val)")
    common.add_argument("--split-seed", type=int, default=0)
    common.add_argument("--val", help="SR: folder of HR validation images (default set5)")
    common.add_argument("--patch", type=int, help="SR: HR patch size (protocol default 64)")
    common.add_argument("--scale", type=int, default=4)
    common.add_argument("--val-limit", type=int, help="classifier: validate on a stratified subset of this many "
                        "validation images (the test split is unchanged)")
    common.add_argument("--augmentation", default="pad-crop-flip",
                        choices=["pad-crop-flip", "resized-crop-jitter", "none"],
                        help="classifier: train-only augmentation (resized-crop-jitter: the Tiny ImageNet report's)")
    common.add_argument("--amp", action="store_true", help="bf16 autocast for the training steps")
    common.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="architecture override")
    common.add_argument("--batch-size", type=int)
    common.add_argument("--seed", type=int, default=0)
    common.add_argument("--threads", type=int, default=0)
    common.add_argument("--device", default="auto")
    common.add_argument("--log-every", type=int, default=10)
    common.add_argument("--out-dir", default=OUT_DIR, help="CSV root (results/protocol)")
    common.add_argument("--runs-dir", default=RUNS_DIR, help="engine run logs (results/runs)")
    common.add_argument("--quiet", action="store_true", help="no progress bars while loading")

    parser = cli.ArgumentParser(prog="python -m training.protocol", description=_package_doc(),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    baselines = sub.add_parser("baselines", parents=[common], help="majority / random; input / classical")
    baselines.add_argument("--clean", help="restoration: folder of clean images to score (default --val or set5)")
    check = sub.add_parser("check-init", parents=[common], help="initial loss and gradients")
    check.add_argument("--batches", type=int, default=4)
    check.add_argument("--tolerance", type=float,
                       help="allowed |loss - expected| as a fraction of expected (classification 0.05, SR 0.5)")
    overfit = sub.add_parser("overfit-small", parents=[common], help="memorise N examples")
    overfit.add_argument("--examples", type=int, default=32)
    overfit.add_argument("--steps", type=int, default=300, help="step budget")
    overfit.add_argument("--lr", type=float)
    overfit.add_argument("--target-loss", type=float,
                         help="stop below this training loss (classification 0.01; SR half the bicubic input's L1)")
    finder = sub.add_parser("lr-find", parents=[common], help="LR range test")
    finder.add_argument("--start-lr", type=float, default=1e-7)
    finder.add_argument("--end-lr", type=float, default=1.0)
    finder.add_argument("--num-steps", type=int, default=100)
    finder.add_argument("--beta", type=float, default=0.98, help="EMA smoothing of the loss")
    finder.add_argument("--diverge", type=float, default=4.0, help="stop when the smoothed loss exceeds this x min")
    finder.add_argument("--weight-decay", type=float, default=0.0)
    grid = sub.add_parser("grid-search", parents=[common], help="Optuna grid search")
    grid.add_argument("--lr", dest="lrs", type=float, nargs="+", help="learning rates of the grid")
    grid.add_argument("--weight-decay", dest="weight_decays", type=float, nargs="+", help="weight decays of the grid")
    grid.add_argument("--grid", action="append", metavar="KEY=V1,V2", help="a model hyperparameter and its values "
                      "(twice: two hyperparameters); default per model, see DEFAULT_GRIDS")
    grid.add_argument("--steps", type=int, default=60, help="training steps per trial")
    grid.add_argument("--val-every", type=int, help="validation interval per trial (default: at the end)")
    grid.add_argument("--scheduler", default="cosine", choices=["cosine", "none"],
                      help="each trial's LR schedule (none: constant, as the course reports ran)")
    grid.add_argument("--storage", help="database URL (default sqlite:///results/grid/<name>.db)")
    grid.add_argument("--grid-dir", default=GRID_DIR)
    grid.add_argument("--study", help="study name in the storage (default: --name)")
    grid.add_argument("--n-trials", type=int, help="run at most this many grid points now (the rest on a rerun)")
    grid.add_argument("--heartbeat", type=int, default=60, help="seconds; a trial silent for 4x this counts as failed")
    grid.add_argument("--keep-state", action="store_true", help="keep each trial's state.safetensors")
    train = sub.add_parser("train", parents=[common], help="full training (the family's trainer)")
    train.add_argument("--steps", type=int, default=500)
    train.add_argument("--lr", type=float)
    train.add_argument("--weight-decay", type=float)
    train.add_argument("--from-grid", nargs="?", const=True, default=None, metavar="EXPERIMENT",
                       help="lr, weight decay and model settings of the best completed grid point of this "
                            "experiment (or of EXPERIMENT's grid; explicit --lr/--weight-decay/--set win)")
    train.add_argument("--run-name", help="default: --name")
    train.add_argument("--val-every", type=int)
    train.add_argument("--export", help="model folder (default checkpoints/<model>; 'none' to skip)")
    train.add_argument("--scheduler", default="cosine", choices=["cosine", "none"],
                       help="classifiers: cosine, or none (a constant LR, the course report's protocol)")
    train.add_argument("--export-best", action="store_true",
                       help="classifiers: export the best validation step's weights, not the final ones")
    train.add_argument("--resume", action="store_true")
    evaluate = sub.add_parser("evaluate", parents=[common], help="test metrics and confusion matrix")
    evaluate.add_argument("--checkpoint", help="classifier: model folder (default checkpoints/<model>)")
    evaluate.add_argument("--split", default="both", choices=["test", "val", "both"])
    evaluate.add_argument("--clean", help="restoration: folder of clean images (default --val or set5)")
    evaluate.add_argument("--update-card", action="store_true", help="record the scores in the model card")
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    args.name = args.name or args.model
    try:
        family = make_family(args)
        if args.command == "baselines":
            rows = cmd_baselines(args, family)
            path = write_csv(out_path(args, "baselines.csv"), rows)
            for row in rows:
                print(f"{row['split']:>5} {row['baseline']:<26} " + "  ".join(
                    f"{k}={row[k]:.4g}" for k in ("accuracy", "macro_f1", "psnr_y") if isinstance(row.get(k), float)))
            print(f"wrote {path}")
            return rows
        if args.command == "check-init":
            rows, gradients = cmd_check_init(args, family)
            write_csv(out_path(args, "check-init-gradients.csv"), gradients)
            path = write_csv(out_path(args, "check-init.csv"), rows)
            summary = rows[-1]
            print(f"initial loss {summary['loss']:.4f} vs expected {summary['expected_loss']:.4f} "
                  f"({summary['expected_source']}): {'OK' if summary['passed'] else 'OFF'} within "
                  f"{summary['tolerance']:.3g}; zero-gradient tensors: {summary['zero_grad_tensors']} of "
                  f"{summary['param_tensors']}")
            print(f"wrote {path}")
            return rows, gradients
        if args.command == "overfit-small":
            row = cmd_overfit_small(args, family)
            path = write_csv(out_path(args, "overfit-small.csv"), [row])
            print(f"{row['n_examples']} examples: loss {row['initial_loss']:.4g} -> {row['final_loss']:.4g} in "
                  f"{row['steps_taken']} steps (target {row['target_loss']:.3g}: "
                  f"{'reached' if row['reached'] else 'NOT reached'})")
            print(f"wrote {path}")
            return row
        if args.command == "lr-find":
            result = cmd_lr_find(args, family)
            write_csv(out_path(args, "lr-find.csv"), result["rows"])
            path = write_csv(out_path(args, "lr-find-suggestions.csv"), result["suggestions"])
            for s in result["suggestions"]:
                print(f"{s['method']:>9}: lr {s['lr']:.3g}")
            print(f"sweep: {len(result['rows'])} steps ({result['stopped']}); wrote {path}")
            return result
        if args.command == "grid-search":
            return cmd_grid_search(args, family)
        if args.command == "train":
            row = cmd_train(args, family)
            path = write_csv(out_path(args, "train.csv"), [row])
            print(f"best {row['metric']} {row['best_value']} ; wrote {path}")
            return row
        if args.command == "evaluate":
            result = cmd_evaluate(args, family)
            path = write_csv(out_path(args, "evaluate.csv"), result["rows"])
            if result["confusion"]:
                write_csv(out_path(args, "evaluate-confusion.csv"), result["confusion"])
                write_csv(out_path(args, "evaluate-per-class.csv"), result["per_class"])
            for row in result["rows"]:
                print("  ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
                                if k in ("model", "split", "n", "accuracy", "macro_f1", "psnr_y", "gain_psnr_y")))
            print(f"wrote {path}")
            return result
    except KeyError as err:
        sys.exit(f"error: {err.args[0]}")
    except (FileNotFoundError, FileExistsError, ValueError, CheckpointError, TrainingDiverged) as err:
        sys.exit(f"error: {cli.one_line(err)}")
    raise AssertionError(args.command)


if __name__ == "__main__":
    outcome = main()
    if isinstance(outcome, dict) and outcome.get("interrupted"):
        sys.exit(130)  # a grid search stopped by Ctrl-C: its CSV is written, rerun to resume
