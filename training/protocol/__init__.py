"""The experiment protocol of the course reports (sources 001 and 003, docs/sources.md): one command per step, for
any registered classifier and for the super-resolution family.

    python -m training.protocol baselines     --model dilated-cnn --classes 10 --name dilated-cnn-tin10
    python -m training.protocol check-init    --model dilated-cnn --classes 10 --name dilated-cnn-tin10
    python -m training.protocol overfit-small --model dilated-cnn --classes 10 --name dilated-cnn-tin10
    python -m training.protocol lr-find       --model dilated-cnn --classes 10 --name dilated-cnn-tin10
    python -m training.protocol grid-search   --model dilated-cnn --classes 10 --name dilated-cnn-tin10 --steps 60
    python -m training.protocol train         --model dilated-cnn --classes 10 --name dilated-cnn-tin10 --from-grid
    python -m training.protocol evaluate      --model dilated-cnn --name dilated-cnn-tin10
    python -m training.protocol lr-find       --model srresnet
    python -m training.protocol grid-search   --model srresnet --steps 40

Commands:
  baselines      classifiers: majority class and uniform random (accuracy, macro-F1) on val/test;
                 restoration: the degraded input (bicubic-upscaled) and the classical models
                 (bicubic, lanczos), scored by studio.evaluate
  check-init     initial loss on a few batches against its expected value (-log(1/C); for SR the
                 L1 of the bicubic-upscaled input), and a gradient check of every parameter tensor
  overfit-small  N examples, no weight decay, no augmentation, constant LR, until the training
                 loss is below --target-loss or --steps runs out
  lr-find        Smith's LR range test: log-spaced LRs, one update each, EMA-smoothed loss,
                 suggestions (steepest, min/10, valley); the weights and optimizer are restored
  grid-search    lr x weight decay x two model hyperparameters with Optuna's GridSampler, stored
                 in a database (default sqlite:///results/grid/<name>.db; any SQLAlchemy URL, so
                 several machines can share a study); rerunning the command resumes the study and
                 runs only the grid points not finished yet
  train          full training through the family's trainer (training.train_classifier or
                 training.train_sr), optionally with the grid search's best point (--from-grid)
  evaluate       classifiers: accuracy, macro-F1, per-class scores and the confusion matrix
                 (scikit-learn) on the test and val splits; SR: studio.evaluate against the baselines

Every command writes results/protocol/<name>/<command>.csv (schemas in docs/protocol.md); every
training goes through the engine (studio.engine), so curves land in results/runs/<run>/metrics.csv
where the dashboard (streamlit run studio/dashboard/app.py) reads them.

One module per step (``baselines``, ``check_init``, ``overfit_small``, ``lr_find``, ``grid_search``,
``train``, ``evaluate``), each a ``cmd_<step>(args, family)``; ``families`` holds the interface every
family implements (``ClassifierFamily``, ``SRFamily``: the engine task, metric and loss names, the
dataset label) and ``common`` what the steps share.
"""

from training.protocol.cli import build_parser, main
from training.protocol.common import batch_to_device, train_config
from training.protocol.families import ClassifierFamily, SRFamily, make_family
from training.protocol.grid_search import run_grid_trial
from training.protocol.lr_find import lr_range_test, smooth_losses, suggest_lrs

__all__ = ["ClassifierFamily", "SRFamily", "batch_to_device", "build_parser", "lr_range_test", "main", "make_family",
           "run_grid_trial", "smooth_losses", "suggest_lrs", "train_config"]
