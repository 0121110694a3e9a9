"""Step 5, the grid search (Optuna's GridSampler, resumable)."""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path


from studio.engine import STATE_FILE, Trainer, TrainingDiverged
from training.protocol.common import DEFAULT_GRIDS, last_values, out_path, parse_grid, train_config, write_csv


def grid_space(args) -> dict[str, list]:
    default = DEFAULT_GRIDS.get(args.model, {"lr": [1e-3, 3e-3], "weight_decay": [0.0, 1e-4]})
    space = {"lr": args.lrs or default["lr"], "weight_decay": args.weight_decays or default["weight_decay"]}
    model_params = parse_grid(args.grid) if args.grid else {k: v for k, v in default.items()
                                                            if k not in ("lr", "weight_decay")}
    space.update(model_params)
    return space


def grid_run_name(name: str, params: dict) -> str:
    short = {"lr": "lr", "weight_decay": "wd"}
    parts = [f"{short.get(k, k)}{v:g}" if isinstance(v, float) else f"{short.get(k, k)}{v}"
             for k, v in sorted(params.items())]
    return f"{name}-grid-" + "-".join(parts)


def resumable_grid_sampler(search_space: dict, seed: int):
    """Optuna's GridSampler, except that a FAILED trial (an interrupted run: Ctrl-C, a crash, a
    heartbeat-stale trial) leaves its grid point to be run again; Optuna's own counts it as done."""
    import optuna
    from optuna.trial import TrialState

    class ResumableGridSampler(optuna.samplers.GridSampler):
        def _get_unvisited_grid_ids(self, study):
            done, running = set(), set()
            for trial in study._storage.get_all_trials(study._study_id, deepcopy=False):
                if "grid_id" not in trial.system_attrs or not self._same_search_space(
                        trial.system_attrs["search_space"]):
                    continue
                if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
                    done.add(trial.system_attrs["grid_id"])
                elif trial.state == TrialState.RUNNING:
                    running.add(trial.system_attrs["grid_id"])
            unvisited = set(range(self._n_min_trials)) - done - running
            if not unvisited:  # everything started: wait on nothing, finish what is not done
                unvisited = set(range(self._n_min_trials)) - done
            return sorted(unvisited)

    return ResumableGridSampler(search_space, seed=seed)


def open_study(args, search_space: dict):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = args.storage or f"sqlite:///{Path(args.grid_dir) / (args.name + '.db')}"
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # heartbeats are marked experimental; they are what fails a killed trial
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = optuna.storages.RDBStorage(url, heartbeat_interval=args.heartbeat,
                                             grace_period=4 * args.heartbeat)
    sampler = resumable_grid_sampler(search_space, args.seed)
    study = optuna.create_study(study_name=args.study or args.name, storage=storage, sampler=sampler,
                                direction="maximize", load_if_exists=True)
    return study, sampler, url


def run_grid_trial(args, family, params: dict) -> dict:
    """One short training through the engine; returns the figures the trial records."""
    model_config = {k: v for k, v in params.items() if k not in ("lr", "weight_decay")}
    run_name = grid_run_name(args.name, params)
    run_dir = Path(args.runs_dir) / run_name
    cfg = train_config(args, family, run_name, max_steps=args.steps, lr=params["lr"],
                       weight_decay=params["weight_decay"], scheduler=args.scheduler,
                       val_every=args.val_every or args.steps, ckpt_every=max(10, args.steps // 4),
                       resume=(run_dir / STATE_FILE).is_file(),
                       extra={"protocol": "grid-search", "model": args.model, "experiment": args.name,
                              "params": params, "dataset": family.dataset_label})
    started = time.time()
    trainer = Trainer(family.task(model_config), cfg)
    result = trainer.fit()
    best = result["best"].get(family.metric, {})
    last = last_values(run_dir / "metrics.csv")
    figures = {"value": best.get("value"), "best_step": best.get("step"), "steps": result["step"],
               "seconds": round(time.time() - started, 2), "run": run_name,
               "train_loss": last.get(family.loss_key)}
    for key in ("val_loss", "val_macro_f1", "val_input_psnr_y"):
        if key in last:
            figures[key] = last[key]
    if not args.keep_state:
        (run_dir / STATE_FILE).unlink(missing_ok=True)
    return figures


def grid_rows(args, family, study, sampler, search_space) -> list[dict]:
    from optuna.trial import TrialState

    rows = []
    for trial in study.get_trials(deepcopy=False):
        if trial.state not in (TrialState.COMPLETE, TrialState.PRUNED):
            continue
        if not sampler._same_search_space(trial.system_attrs.get("search_space", {})):
            continue
        attrs = trial.user_attrs
        row = {"experiment": args.name, "model": args.model, "trial": trial.number, "state": trial.state.name,
               "status": attrs.get("status", "ok")}
        row.update({f"params_{k}": trial.params.get(k) for k in search_space})
        row.update({"metric": family.metric, "value": trial.value if trial.state == TrialState.COMPLETE else None,
                    "best_step": attrs.get("best_step"), "val_loss": attrs.get("val_loss")})
        for key in ("val_macro_f1", "val_input_psnr_y"):
            if key in attrs:
                row[key] = attrs[key]
        row.update({"train_loss": attrs.get("train_loss"), "steps": attrs.get("steps"),
                    "seconds": attrs.get("seconds"), "run": attrs.get("run"), "dataset": family.dataset_label})
        rows.append(row)
    return rows


def cmd_grid_search(args, family) -> dict:
    import optuna

    search_space = grid_space(args)
    study, sampler, url = open_study(args, search_space)
    grid_size = len(sampler._all_grids)
    remaining = len([g for g in sampler._get_unvisited_grid_ids(study)])
    finished = grid_size - remaining
    to_run = remaining if args.n_trials is None else min(remaining, args.n_trials)
    counter = {"ran": 0}
    print(f"grid search {args.name}: {grid_size} grid points ({' x '.join(f'{k}{v}' for k, v in search_space.items())}),"
          f" {finished} already finished, running {to_run}; storage {url}")

    def objective(trial):
        params = {name: trial.suggest_categorical(name, values) for name, values in search_space.items()}
        counter["ran"] += 1
        try:
            figures = run_grid_trial(args, family, params)
        except TrainingDiverged as err:
            trial.set_user_attr("status", "diverged")
            trial.set_user_attr("run", grid_run_name(args.name, params))
            raise optuna.TrialPruned(str(err)) from None
        for key, value in figures.items():
            if key != "value" and value is not None:
                trial.set_user_attr(key, value)
        trial.set_user_attr("status", "ok")
        return figures["value"]

    interrupted = False
    try:
        if to_run > 0:
            study.optimize(objective, n_trials=to_run, catch=())
    except KeyboardInterrupt:
        interrupted = True
    rows = grid_rows(args, family, study, sampler, search_space)
    path = write_csv(out_path(args, "grid-search.csv"), rows)
    if interrupted:
        print(f"interrupted: {len(rows)} of {grid_size} grid points done, written to {path}; rerun the same command "
              "to resume", file=sys.stderr)
    return {"grid_size": grid_size, "ran": counter["ran"], "finished_before": finished, "rows": rows,
            "interrupted": interrupted, "csv": str(path), "storage": url}
