"""Step 2, the initial-loss check and a gradient check of every parameter tensor."""

from __future__ import annotations


import numpy as np

from studio.engine import Trainer
from training.protocol.common import DEFAULTS, batch_to_device, train_config


def cmd_check_init(args, family) -> tuple[list[dict], list[dict]]:
    task = family.task()
    trainer = Trainer(task, train_config(args, family, f"{args.name}-check-init"))
    model = trainer.modules["g"]
    model.train()
    for optimizer in trainer.optimizers.values():
        optimizer.zero_grad(set_to_none=True)
    relative = args.tolerance if args.tolerance is not None else DEFAULTS[family.kind]["tolerance"]
    rows, losses, expectations = [], [], []
    for index in range(args.batches):
        rng = np.random.default_rng([args.seed, 0, index])
        batch = batch_to_device(trainer, task.sample_batch(rng, trainer.cfg.batch_size, trainer.device))
        with trainer.autocast():
            loss, logs = task.loss("g", batch, trainer)
        (loss.float() / args.batches).backward()
        expected, source = family.expected_loss(batch, trainer)
        loss = loss.detach().float()
        losses.append(float(loss))
        expectations.append(expected)
        rows.append({"experiment": args.name, "model": args.model, "task": family.kind, "batch": index,
                     "batch_size": trainer.cfg.batch_size, "loss": float(loss), "expected_loss": expected,
                     "difference": float(loss) - expected, "expected_source": source})
    mean_loss, mean_expected = float(np.mean(losses)), float(np.mean(expectations))
    tolerance = relative * mean_expected
    gradient_rows = []
    for name, param in model.named_parameters():
        grad = param.grad
        norm = float(grad.norm()) if grad is not None else 0.0
        nonzero = float((grad != 0).float().mean()) if grad is not None else 0.0
        gradient_rows.append({"experiment": args.name, "model": args.model, "parameter": name,
                              "shape": "x".join(map(str, param.shape)), "numel": param.numel(), "grad_norm": norm,
                              "nonzero_fraction": nonzero, "zero": grad is None or norm == 0.0})
    zero = [row["parameter"] for row in gradient_rows if row["zero"]]
    rows.append({"experiment": args.name, "model": args.model, "task": family.kind, "batch": "mean",
                 "batch_size": trainer.cfg.batch_size, "loss": mean_loss, "expected_loss": mean_expected,
                 "difference": mean_loss - mean_expected, "expected_source": rows[0]["expected_source"],
                 "tolerance": tolerance, "relative_tolerance": relative,
                 "passed": abs(mean_loss - mean_expected) <= tolerance,
                 "param_tensors": len(gradient_rows), "zero_grad_tensors": len(zero),
                 "gradients_ok": not zero, "zero_grad_names": ";".join(zero),
                 "dataset": family.dataset_label})
    return rows, gradient_rows
