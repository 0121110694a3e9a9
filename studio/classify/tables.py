"""The classifiers' generated tables (``python -m studio.readme_tables``; torch-free): the experiment
protocol's classifier runs, and the Tiny ImageNet report's study rerun through the protocol
(``training/recipes/tin200_cpu.sh``), read through ``studio.results``, which the dashboard's Source
studies page reads too.

* ``protocol-classifiers`` -- ``results/protocol/<experiment>/{evaluate,train,baselines}.csv`` of
  ``PROTOCOL_EXPERIMENTS`` and each run's ``config.json``: data, training, the test split's baselines,
  test and val accuracy / macro-F1; bold: the best test figures.
* ``protocol-steps`` -- every step of the protocol for ``PROTOCOL_STEP_EXPERIMENTS`` (the two classifiers
  and srresnet), from ``results/protocol/<experiment>/*.csv``.
* ``tin200-finals`` -- the report's five final runs, ours beside the report's.
* ``tin200-lr-wd`` -- the LR x weight-decay table, ours beside the report's; bold: our lowest loss.
* ``tin200-grid`` -- the blocks x dropout grid, ours beside the report's.
* ``tin200-activation`` -- one short run per activation the report offers.
"""

from __future__ import annotations

import json
import math

from studio import results as result_files
from studio.readme_tables import DASH, Sources, TableError, bold, read_csv, shown_path, table_header, table_row


TIN200_GRID = f"protocol/{result_files.TIN200_TABLES['grid']}/grid-search.csv"
TIN200_REPORT_GRID = f"protocol/{result_files.TIN200}/report-003-grid.csv"
TIN200_ACTIVATION = f"protocol/{result_files.TIN200_TABLES['activation']}/grid-search.csv"


def _pct(value, decimals: int = 1) -> str:
    number = result_files.as_number(value)
    return DASH if number is None else f"{100 * number:.{decimals}f} %"


def _f1(value) -> str:
    number = result_files.as_number(value)
    return DASH if number is None else f"{number:.3f}"


def tin200_finals(src: Sources) -> list[str]:
    """The Tiny ImageNet report's five final runs: ours (steps, best validation step, its validation
    accuracy / macro-F1, test accuracy / macro-F1) beside the report's (best epoch, validation
    accuracy / F1)."""
    frame, notes = result_files.tin200_final_runs(src.results)
    if frame.get("steps") is None or frame["steps"].isna().all():
        raise TableError(f"tin200-finals: no final run trained yet ({'; '.join(notes)})")
    lines = table_header(["run", "blocks / dropout / lr / wd", "ours: steps (best)", "ours: val acc / macro-F1",
                          "ours: **test** acc / macro-F1", "report: epoch", "report: val acc / F1"])
    for row in frame.to_dict("records"):
        config = json.loads(row["model_config"]) if isinstance(row.get("model_config"), str) else {}
        setting = DASH if "blocks" not in config else (
            f"[{config['blocks']},{config['blocks']},{config['blocks']}] / {config.get('dropout', DASH)} / "
            f"{result_files.fmt(row.get('lr'), 'g')} / {result_files.fmt(row.get('weight_decay'), 'g')}")
        trained = (DASH if result_files.as_number(row.get("steps")) is None else
                   f"{int(row['steps'])} ({result_files.fmt(row.get('best_step'), 'g')})")
        lines.append(table_row([f"`{row['run']}`", setting, trained,
                                f"{_pct(row.get('val_accuracy'))} / {_f1(row.get('val_macro_f1'))}",
                                f"{_pct(row.get('test_accuracy'))} / {_f1(row.get('test_macro_f1'))}",
                                result_files.fmt(row.get("report_epoch"), "g", DASH),
                                f"{_pct(row.get('report_val_accuracy'))} / {_f1(row.get('report_val_f1'))}"]))
    return lines


def tin200_lr_wd(src: Sources) -> list[str]:
    """Rows LR, columns weight decay; cells: our validation loss after the short run / the report's "Loss"."""
    ours, report, notes = result_files.tin200_lr_wd(src.results)
    if ours is None:
        raise TableError(f"tin200-lr-wd: {'; '.join(notes)}")
    decays = sorted(set(ours.columns) | set(report.columns if report is not None else []))
    lines = table_header(["lr ↓ / weight decay →", *(f"{d:g}" for d in decays)])
    best = ours.stack().idxmin()
    for lr in sorted(set(ours.index) | set(report.index if report is not None else [])):
        cells = [f"{lr:g}"]
        for decay in decays:
            mine = ours.loc[lr, decay] if lr in ours.index and decay in ours.columns else float("nan")
            quoted = report is not None and lr in report.index and decay in report.columns
            theirs = report.loc[lr, decay] if quoted else float("nan")
            text = f"{DASH if math.isnan(mine) else f'{mine:.3f}'} / {DASH if math.isnan(theirs) else f'{theirs:.3f}'}"
            cells.append(bold(text, (lr, decay) == best))
        lines.append(table_row(cells))
    return lines


def tin200_grid(src: Sources) -> list[str]:
    """The report's grid (blocks x dropout at LR 1e-4, WD 1e-4): our best validation accuracy of each
    short run beside the report's best at 15 epochs; and the activation table (ours only)."""
    grid = read_csv(src.results / TIN200_GRID, ("value", "best_step", "steps"), ("params_blocks", "params_dropout"))
    report = read_csv(src.results / TIN200_REPORT_GRID, ("dropout", "val_accuracy", "best_epoch"), ("blocks",))
    lines = table_header(["blocks", "dropout", "ours: best val acc (step of the run)", "report: best val acc (epoch of 15)"])
    for row in grid.sort_values("value", ascending=False).to_dict("records"):
        blocks = int(float(row["params_blocks"]))
        quoted = report[(report["blocks"] == f"[{blocks},{blocks},{blocks}]")
                        & (report["dropout"] == float(row["params_dropout"]))]
        lines.append(table_row([f"[{blocks},{blocks},{blocks}]", f"{float(row['params_dropout']):g}",
                                f"{_pct(row['value'])} ({int(row['best_step'])} of {int(row['steps'])})",
                                DASH if quoted.empty else f"{_pct(quoted['val_accuracy'].iloc[0])} "
                                                     f"({int(quoted['best_epoch'].iloc[0])})"]))
    return lines


def tin200_activation(src: Sources) -> list[str]:
    """The activation choices the report offers (it reports no run with them): ours, one short run each."""
    frame = read_csv(src.results / TIN200_ACTIVATION, ("value", "val_loss", "steps"), ("params_activation",))
    lines = table_header(["activation", "val acc", "val loss", "steps"])
    for row in frame.sort_values("val_loss").to_dict("records"):
        lines.append(table_row([f"`{row['params_activation']}`", _pct(row["value"]), f"{row['val_loss']:.3f}",
                                f"{int(row['steps'])}"]))
    return lines


#: the 10-class protocol runs (``training/recipes/protocol_cpu.sh``): the two shipped classifiers, then
#: the EuroSAT course's full-training step as written (constant LR, the best validation step kept)
PROTOCOL_EXPERIMENTS = ("dilated-cnn-tin10", "resnet-dropout-tin10-32px", "dilated-cnn-tin10-course")


def _split_row(frame, split: str, what: str = "split"):
    rows = frame[frame[what] == split]
    return None if rows.empty else rows.iloc[-1]


def protocol_classifiers(src: Sources) -> list[str]:
    """The protocol's classifier experiments: data, training (steps, schedule, which weights were
    kept), the test split's baselines, and the kept weights' accuracy / macro-F1 on test and val;
    bold: the best test figures."""
    rows = []
    for experiment in PROTOCOL_EXPERIMENTS:
        folder = src.results / "protocol" / experiment
        evaluated = read_csv(folder / "evaluate.csv", ("accuracy", "macro_f1", "num_classes"), ("model", "split"))
        trained = read_csv(folder / "train.csv", ("steps",), ("model", "run"))
        baselines = (read_csv(folder / "baselines.csv", ("accuracy",), ("split", "baseline"))
                     if (folder / "baselines.csv").is_file() else None)
        test, val = _split_row(evaluated, "test"), _split_row(evaluated, "val")
        if test is None:
            raise TableError(f"{shown_path(folder / 'evaluate.csv')}: no test row")
        train = trained.iloc[-1]
        config_path = src.results / "runs" / str(train["run"]) / "config.json"
        try:
            schedule = json.loads(config_path.read_text()).get("scheduler", DASH)
        except (OSError, ValueError) as err:
            raise TableError(f"{shown_path(config_path)}: unreadable ({' '.join(str(err).split())})") from None
        kept = str(train.get("exported_weights", "")) if "exported_weights" in trained.columns else ""
        kept = "final weights" if kept in ("", "nan") else kept
        size = str(test.get("dataset", "")).rsplit(",", 1)[-1].strip()
        baseline = DASH
        if baselines is not None:
            majority = _split_row(baselines[baselines["split"] == "test"], "majority", "baseline")
            uniform = _split_row(baselines[baselines["split"] == "test"], "uniform-random", "baseline")
            baseline = f"{_pct(None if majority is None else majority['accuracy'])} / " \
                       f"{_pct(None if uniform is None else uniform['accuracy'])}"
        rows.append(dict(experiment=experiment, model=str(test["model"]),
                         data=f"{int(test['num_classes'])} classes, {size}",
                         training=f"{int(train['steps'])} steps, {'constant LR' if schedule == 'none' else schedule}; "
                                  f"{kept}",
                         baseline=baseline, test=test, val=val))
    best_acc = _pct(max(float(r["test"]["accuracy"]) for r in rows))  # compared as shown: ties are all bold
    best_f1 = _f1(max(float(r["test"]["macro_f1"]) for r in rows))
    lines = table_header(["experiment", "data (Tiny ImageNet)", "training", "test: majority / uniform random",
                          "**test** accuracy / macro-F1", "val accuracy / macro-F1"])
    for r in rows:
        acc, f1 = _pct(r["test"]["accuracy"]), _f1(r["test"]["macro_f1"])
        lines.append(table_row([f"`{r['experiment']}` (`{r['model']}`)", r["data"], r["training"], r["baseline"],
                                f"{bold(acc, acc == best_acc)} / {bold(f1, f1 == best_f1)}",
                                DASH if r["val"] is None else
                                f"{_pct(r['val']['accuracy'])} / {_f1(r['val']['macro_f1'])}"]))
    return lines


#: the columns of ``protocol-steps``: the experiments of ``training/recipes/protocol_cpu.sh``, labelled
PROTOCOL_STEP_EXPERIMENTS = {
    "dilated-cnn-tin10": "`dilated-cnn` (10 Tiny ImageNet classes, 64×64)",
    "resnet-dropout-tin10-32px": "`resnet-dropout` (same classes, 32×32)",
    "srresnet-protocol": "`srresnet` (x4, Set5)",
}


def _protocol_file(src: Sources, experiment: str, name: str):
    """One protocol CSV as a frame, or None where the experiment did not run that step."""
    path = src.results / "protocol" / experiment / f"{name}.csv"
    return read_csv(path, (), ()) if path.is_file() else None


def _sci(value) -> str:
    """A learning rate or weight decay as the protocol's commands write it: 1e-3, 1.5e-3, 0."""
    value = float(value)
    if value == 0 or value >= 0.01:
        return f"{value:g}"
    return f"{value:.1e}".replace(".0e", "e").replace("e-0", "e-")


def _metric(value, metric: str) -> str:
    return _pct(value) if metric.endswith("accuracy") else f"{float(value):.2f} dB"


def _steps_cells(src: Sources, experiment: str) -> list[str]:
    """The cells of one experiment, in the order of ``protocol_steps``' rows."""
    cells = []
    baselines = _protocol_file(src, experiment, "baselines")
    if baselines is None:
        cells.append(DASH)
    elif "accuracy" in baselines.columns:
        test = baselines[baselines["split"] == "test"]
        cells.append(", ".join(f"{row['baseline'].replace('-', ' ')} {_pct(row['accuracy'])}"
                               for row in test.to_dict("records")) + " (test)")
    else:
        rows = baselines[~baselines["baseline"].astype(str).str.startswith("input")]
        cells.append(", ".join(f"{row['baseline']} {float(row['psnr_y']):.2f} dB" for row in rows.to_dict("records"))
                     + " PSNR-Y")
    check = _protocol_file(src, experiment, "check-init")
    mean = None if check is None else check[check["batch"].astype(str) == "mean"]
    if mean is None or mean.empty:
        cells.append(DASH)
    else:
        row = mean.iloc[-1]
        passed = str(row["passed"]).lower() == "true"
        cells.append(f"loss {float(row['loss']):.3f} vs {float(row['expected_loss']):.3f} ({row['expected_source']}; "
                     f"mean of {len(check) - 1} batches): {'pass' if passed else 'fail'}")
    overfit = _protocol_file(src, experiment, "overfit-small")
    if overfit is None:
        cells.append(DASH)
    else:
        row = overfit.iloc[-1]
        reached = str(row["reached"]).lower() == "true"
        cells.append(f"{int(row['n_examples'])} examples: {float(row['initial_loss']):.2f} → "
                     f"{float(row['final_loss']):.4f} in {int(row['steps_taken'])} steps"
                     + ("" if reached else " (target not reached)"))
    suggestions = _protocol_file(src, experiment, "lr-find-suggestions")
    tenth = None if suggestions is None else suggestions[suggestions["method"] == "min/10"]
    cells.append(DASH if tenth is None or tenth.empty else _sci(tenth["lr"].iloc[-1]))
    grid = _protocol_file(src, experiment, "grid-search")
    done = None if grid is None else grid[grid["state"] == "COMPLETE"]
    best_index = None if done is None else result_files.best_index(done)  # the dashboard's best trial
    if best_index is None:
        cells.append(DASH)
    else:
        best = done.loc[best_index]
        short = {"params_lr": "lr", "params_weight_decay": "wd"}
        named = ", ".join(f"{short.get(c, c.removeprefix('params_'))} "
                          f"{_sci(best[c]) if c in short else f'{float(best[c]):g}'}"
                          for c in done.columns if c.startswith("params_"))
        text = f"{len(done)} points; best {named}: {_metric(best['value'], str(best['metric']))}"
        if result_files.as_number(best.get("val_input_psnr_y")) is not None:
            text += f" after {int(best['steps'])} steps (bicubic input {float(best['val_input_psnr_y']):.2f} dB)"
        cells.append(text)
    train = _protocol_file(src, experiment, "train")
    if train is None:
        cells.append(DASH)
    else:
        row = train.iloc[-1]
        metric = str(row["metric"])
        final = row.get("final_val_accuracy") if metric.endswith("accuracy") else row.get("final_val_psnr_y")
        cells.append(f"{int(row['steps'])} steps: {_metric(final, metric)} val at the end "
                     f"(best {_metric(row['best_value'], metric)} at step {int(row['best_step'])})")
    evaluated = _protocol_file(src, experiment, "evaluate")
    test = None if evaluated is None or "accuracy" not in evaluated.columns else \
        evaluated[evaluated["split"] == "test"]
    cells.append(DASH if test is None or test.empty else
                 f"{_pct(test['accuracy'].iloc[-1])} accuracy, macro-F1 {_f1(test['macro_f1'].iloc[-1])}")
    return cells


def protocol_steps(src: Sources) -> list[str]:
    """Every step of the protocol for each experiment of ``PROTOCOL_STEP_EXPERIMENTS``, from its
    ``results/protocol/<experiment>/*.csv``: the baselines, the initial-loss check, overfitting a
    small subset, the LR finder's min/10 suggestion, the grid's best point, the training of that
    point and the test evaluation (a dash where the experiment has no such step)."""
    steps = ["baselines", "check-init", "overfit a small subset", "LR finder (min/10)", "grid (short runs)",
             "train (best grid point)", "test"]
    columns = [_steps_cells(src, experiment) for experiment in PROTOCOL_STEP_EXPERIMENTS]
    lines = table_header(["step", *PROTOCOL_STEP_EXPERIMENTS.values()])
    for index, step in enumerate(steps):
        lines.append(table_row([step, *(column[index] for column in columns)]))
    return lines
