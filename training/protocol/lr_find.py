"""Step 4, Smith's learning-rate range test."""

from __future__ import annotations

import copy
import math
import time

import numpy as np
import torch

from studio.engine import Trainer, TrainingDiverged, TrainingTask
from training.protocol.common import batch_to_device, train_config


def smooth_losses(losses, beta: float = 0.98) -> list[float]:
    """Bias-corrected exponential moving average (as fastai's LR finder)."""
    out, average = [], 0.0
    for index, loss in enumerate(losses):
        average = beta * average + (1 - beta) * loss
        out.append(average / (1 - beta ** (index + 1)))
    return out


def valley_index(losses) -> int:
    """fastai's 'valley': the longest decreasing run of the curve, 2/3 of the way down it."""
    n = len(losses)
    if n < 3:
        return int(np.argmin(losses))
    lds = [1] * n
    max_start = max_end = 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end, max_start = i, i - lds[i]
    sections = (max_end - max_start) / 3
    return int(min(n - 1, max(0, max_start + int(sections) + int(sections / 2))))


def suggest_lrs(lrs, smoothed) -> list[dict]:
    lrs, smoothed = np.asarray(lrs, dtype=float), np.asarray(smoothed, dtype=float)
    if len(lrs) < 2:
        return []
    minimum = int(np.argmin(smoothed))
    suggestions = []
    upto = max(minimum, 1)  # steepest descent before the minimum
    gradient = np.gradient(smoothed[:upto + 1], np.log10(lrs[:upto + 1]))
    steep = int(np.argmin(gradient))
    suggestions.append({"method": "steepest", "index": steep, "lr": float(lrs[steep]),
                        "note": "steepest descent of the smoothed loss (per decade of LR)"})
    min_lr = float(lrs[minimum]) / 10
    min_index = int(np.argmin(np.abs(np.log10(lrs) - math.log10(min_lr))))
    suggestions.append({"method": "min/10", "index": min_index, "lr": min_lr,
                        "note": f"a tenth of the LR at the minimum ({lrs[minimum]:.3g})"})
    valley = valley_index(list(smoothed))
    suggestions.append({"method": "valley", "index": valley, "lr": float(lrs[valley]),
                        "note": "fastai's valley: 2/3 down the longest decreasing stretch"})
    for suggestion in suggestions:
        suggestion["smoothed_loss"] = float(smoothed[suggestion["index"]])
    return suggestions


def lr_range_test(trainer: Trainer, task: TrainingTask, loss_key: str, start_lr: float = 1e-7, end_lr: float = 1.0,
                  num_steps: int = 100, beta: float = 0.98, diverge: float = 4.0, seed: int = 0) -> dict:
    """Smith's range test on the trainer's modules and optimizers; both are restored afterwards
    (weights, buffers, optimizer state and LR, and torch's RNG), whatever happens during the sweep."""
    saved_modules = {name: copy.deepcopy(module.state_dict()) for name, module in trainer.modules.items()}
    saved_optimizers = {name: copy.deepcopy(opt.state_dict()) for name, opt in trainer.optimizers.items()}
    saved_rng = torch.get_rng_state()
    rows, stopped = [], "end of sweep"
    factor = (end_lr / start_lr) ** (1.0 / max(1, num_steps - 1))
    average, best = 0.0, math.inf
    try:
        for module in trainer.modules.values():
            module.train()
        for index in range(num_steps):
            lr = start_lr * factor ** index
            for optimizer in trainer.optimizers.values():
                for group in optimizer.param_groups:
                    group["lr"] = lr
            rng = np.random.default_rng([seed, 0, index])
            batch = batch_to_device(trainer, task.sample_batch(rng, trainer.cfg.batch_size, trainer.device))
            logs: dict = {}
            try:
                for phase in task.phases(index):
                    logs.update(trainer.train_step(phase, batch))
            except TrainingDiverged:
                stopped = f"non-finite loss at lr {lr:.3g}"
                break
            loss = float(logs.get(loss_key, next(iter(logs.values()))))
            average = beta * average + (1 - beta) * loss
            smoothed = average / (1 - beta ** (index + 1))
            rows.append({"step": index, "lr": lr, "loss": loss, "smoothed_loss": smoothed})
            best = min(best, smoothed)
            if index >= 5 and smoothed > diverge * best:
                stopped = f"smoothed loss above {diverge:g}x its minimum at lr {lr:.3g}"
                break
    finally:
        for name, module in trainer.modules.items():
            module.load_state_dict(saved_modules[name])
        for name, optimizer in trainer.optimizers.items():
            optimizer.load_state_dict(saved_optimizers[name])
        torch.set_rng_state(saved_rng)
    suggestions = suggest_lrs([r["lr"] for r in rows], [r["smoothed_loss"] for r in rows])
    return {"rows": rows, "suggestions": suggestions, "stopped": stopped}


def cmd_lr_find(args, family) -> dict:
    task = family.task()
    trainer = Trainer(task, train_config(args, family, f"{args.name}-lr-find", weight_decay=args.weight_decay or 0.0))
    started = time.time()
    result = lr_range_test(trainer, task, family.loss_key, args.start_lr, args.end_lr, args.num_steps, args.beta,
                           args.diverge, args.seed)
    common = {"experiment": args.name, "model": args.model}
    result["rows"] = [dict(common, **row) for row in result["rows"]]
    result["suggestions"] = [dict(common, **row, stopped=result["stopped"], seconds=round(time.time() - started, 1),
                                  batch_size=trainer.cfg.batch_size, dataset=family.dataset_label)
                             for row in result["suggestions"]]
    return result
