"""Step 3, overfit a small subset: the model and the pipeline can learn at all."""

from __future__ import annotations

import time
from pathlib import Path


from studio.engine import STATE_FILE, Trainer
from training.protocol.common import DEFAULTS, train_config
from training.protocol.families import Converged, OverfitTask


def cmd_overfit_small(args, family) -> dict:
    fixed, subset = family.fixed_examples(args.examples, args.seed)
    inner = family.task(augment=False)
    run_name = f"{args.name}-overfit-small"
    lr = args.lr or DEFAULTS[family.kind]["overfit_lr"]
    cfg = train_config(args, family, run_name, max_steps=args.steps, batch_size=args.examples, lr=lr,
                       weight_decay=0.0, scheduler="none", log_every=1, ckpt_every=10**9)
    run_dir = Path(cfg.runs_dir) / run_name
    for stale in (run_dir / STATE_FILE, run_dir / "metrics.csv"):  # the protocol owns this run: start afresh
        stale.unlink(missing_ok=True)
    target = args.target_loss if args.target_loss is not None else family.default_target(fixed, None)
    task = OverfitTask(inner, fixed, target, family.loss_key)
    trainer = Trainer(task, cfg)
    started = time.time()
    reached = False
    try:
        trainer.fit()
    except Converged:
        reached = True
    seconds = time.time() - started
    (run_dir / STATE_FILE).unlink(missing_ok=True)  # a disposable run: keep its log, not 10+ MB of state
    losses = task.losses
    row = {"experiment": args.name, "model": args.model, "task": family.kind, "n_examples": args.examples,
           "batch_size": args.examples, "lr": lr, "weight_decay": 0.0, "augment": False,
           "max_steps": args.steps, "steps_taken": trainer.step, "initial_loss": losses[0] if losses else None,
           "final_loss": losses[-1] if losses else None, "min_loss": min(losses) if losses else None,
           "target_loss": target, "reached": reached or (bool(losses) and losses[-1] <= target),
           "seconds": round(seconds, 2), "run": run_name, "dataset": family.dataset_label}
    row.update(family.overfit_scores(trainer, subset))
    return row
