"""Restoration Studio dashboard: training curves, grid searches, LR finder, sanity checks, GANs, and
the source documents' experiments rerun beside the figures they report.

    streamlit run studio/dashboard/app.py                    # reads ./results
    STUDIO_RESULTS=/path/to/results streamlit run studio/dashboard/app.py

Torch-free on purpose (Streamlit's file watcher trips over torch): it reads only the CSV/JSON files
that the engine and ``training.protocol`` write, through ``studio.results``. A malformed or
partial file is reported by name and skipped; an odd value (a blank count, text where a number
belongs) is named and left out of its figure; a part of a page that still fails says so in place
(``part``), and the rest of the page is drawn. With "Live refresh"
on, the selected page re-reads its files every few seconds (``st.fragment(run_every=...)``), so
curves grow while a training is running.
"""

from __future__ import annotations

import math
import sys
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `streamlit run studio/dashboard/app.py` puts only this folder on the path
    sys.path.insert(0, str(ROOT))

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from studio import results as data
from studio import snapshots as snaps

PAGES = ("Runs", "Replay", "Grid search", "LR finder", "Sanity checks", "GAN balance", "Source studies")
BEST_STYLE = "background-color: #c8f7c5; font-weight: bold"


# ---- reading, cached on (path, mtime, size): a growing log is re-read, an unchanged one is not --

@st.cache_data(show_spinner=False, max_entries=256)
def _cached_table(path: str, mtime: int, size: int, name: str) -> data.Table:
    return data.read_table(path, name=name)


def load(path: Path, root: Path) -> data.Table:
    name = data.display(path, root)
    try:
        stat = path.stat()
    except OSError:
        return data.Table(path, error=f"{name}: file not found")
    return _cached_table(str(path), stat.st_mtime_ns, stat.st_size, name)


def report(table: data.Table) -> bool:
    """Show the table's problems; True when it can be drawn."""
    if table.error:
        st.error(table.error, icon="⚠️")
        return False
    for warning in table.warnings:
        st.warning(warning)
    if table.frame is not None and table.frame.empty:
        st.info(f"{table.path.name}: no rows yet")
        return False
    return True


@contextmanager
def part(what: str):
    """One part of a page: if it fails on a file nobody foresaw, it says so in place, and the parts
    after it are still drawn."""
    try:
        yield
    except Exception as err:  # noqa: BLE001 -- one odd file must not cost the whole page
        st.error(f"{what}: could not draw this part ({type(err).__name__}: {err}); the rest of the page is shown")


def chart(fig: go.Figure, key: str) -> None:
    fig.update_layout(margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.2))
    st.plotly_chart(fig, key=key, width="stretch")


# ---- pages -----------------------------------------------------------------------------------

def page_runs(root: Path) -> None:
    st.header("Runs")
    runs = data.list_runs(root)
    if not runs:
        st.info(f"No run logs under {root / 'runs'} yet (each training writes results/runs/<run>/metrics.csv).")
        return
    plain = [r for r in runs if "-grid-" not in r] or runs
    chosen = st.multiselect("Runs to overlay", runs, default=plain[: min(3, len(plain))], key="runs_pick")
    if not chosen:
        st.info("Pick one or more runs.")
        return
    frames: dict[str, pd.DataFrame] = {}
    baselines = []
    for run in chosen:
        with part(f"run {run}"):
            metrics_path, config_path = data.run_paths(root, run)
            table = load(metrics_path, root)
            if not report(table):
                continue
            config, config_error = data.read_json(config_path)
            if config_error:
                st.warning(config_error)
            frames[run] = table.frame
            if data.run_kind(table.frame) in ("psnr", "gan"):
                notes: list[str] = []
                found = data.input_psnr_baseline(root, run, table.frame, config, notes=notes)
                for note in notes:
                    st.warning(note)
                if found:
                    baselines.append((run, *found))
    if not frames:
        return
    for group, title in (("loss", "Loss"), ("metric", "Validation / training metric"), ("psnr", "PSNR (dB)"),
                         ("lr", "Learning rate")):
        with part(f"{title} chart"):
            _runs_chart(frames, baselines, group, title)
    with part("best validation PSNR"):
        _best_psnr(frames, baselines)
    with part("last logged rows"), st.expander("Last logged row of each run"):
        st.dataframe(pd.DataFrame({run: frame.ffill().iloc[-1] for run, frame in frames.items()}).T, width="stretch")


def _runs_chart(frames: dict, baselines: list, group: str, title: str) -> None:
    fig = go.Figure()
    for run, frame in frames.items():
        groups = data.curve_groups(frame)
        psnr = [c for c in groups["metric"] if "psnr" in c and not c.startswith("val_input_psnr")]
        columns = {"psnr": psnr, "metric": [c for c in groups["metric"] if "psnr" not in c]}.get(group)
        for column in (columns if columns is not None else groups[group]):
            series = frame[["step", column]].dropna()
            if series.empty:
                continue
            dashed = column.startswith("val_") and group == "loss"
            fig.add_trace(go.Scatter(x=series["step"], y=series[column], name=f"{run} · {column}",
                                     mode="lines+markers" if len(series) < 30 else "lines",
                                     line=dict(dash="dash" if dashed else "solid")))
    if group == "psnr":
        for run, value, source in baselines:
            fig.add_hline(y=value, line_dash="dot", line_color="gray",
                          annotation_text=f"input PSNR {value:.2f} dB · {run}",  # SR: the bicubic-upscaled input
                          annotation_position="bottom right")
    if not fig.data:
        return
    fig.update_layout(title=title, xaxis_title="step", yaxis_type="log" if group == "lr" else None)
    chart(fig, key=f"runs_{group}")


def _best_psnr(frames: dict, baselines: list) -> None:
    for run, value, source in baselines:
        frame = frames[run]
        metric = next((c for c in ("val_psnr_y", "val_psnr") if c in frame.columns), None)
        if metric and frame[metric].notna().any():
            best = float(frame[metric].max())
            st.metric(f"{run}: best {metric}", f"{best:.2f} dB", f"{best - value:+.2f} dB vs input ({source})")


# ---- Replay: what each run outputs at every validation, one step slider for all --------------------

REPLAY_STEP = "replay_step"


def _snapshot_runs(root: Path) -> dict[str, snaps.RunSnapshots]:
    runs = Path(root) / "runs"
    found = {}
    for folder in sorted(runs.iterdir()) if runs.is_dir() else []:
        read = snaps.read_snapshots(folder) if folder.is_dir() else None
        if read is not None:
            found[folder.name] = read
    return found


def _move_step(steps: list[int], by: int) -> None:
    current = st.session_state.get(REPLAY_STEP, steps[0])
    index = steps.index(current) if current in steps else 0
    st.session_state[REPLAY_STEP] = steps[max(0, min(len(steps) - 1, index + by))]


def page_replay(root: Path) -> None:
    st.header("Replay")
    found = _snapshot_runs(root)
    if not found:
        st.info(f"No run under {root / 'runs'} has snapshots yet: a training run writes its outputs on a few fixed "
                "validation crops at every validation (results/runs/<run>/snapshots/; off with --no-snapshots).")
        return
    families = sorted({run.family or "unknown" for run in found.values()})
    family = st.selectbox("Family (its runs share the same crops)", families, key="replay_family")
    names = [name for name, run in found.items() if (run.family or "unknown") == family]
    chosen = st.multiselect("Runs", names, default=names[: min(3, len(names))], key="replay_runs")
    if not chosen:
        st.info("Pick one or more runs.")
        return
    runs = {name: found[name] for name in chosen}
    steps = sorted({step for run in runs.values() for step in run.steps})
    if not steps:
        st.info("The chosen runs have no readable snapshot yet.")
        return
    pending = st.session_state.pop("replay_pending", None)  # Play's next step, set on the previous run
    if pending in steps:
        st.session_state[REPLAY_STEP] = pending
    if st.session_state.get(REPLAY_STEP) not in steps:
        st.session_state[REPLAY_STEP] = steps[-1]
    back, forward, play = st.columns([1, 1, 6])
    back.button("◀ step", on_click=_move_step, args=(steps, -1), key="replay_back")
    forward.button("step ▶", on_click=_move_step, args=(steps, 1), key="replay_forward")
    playing = play.toggle("Play (one validation a second)", key="replay_play")
    step = st.select_slider("Step", options=steps, key=REPLAY_STEP)
    crops = list(dict.fromkeys(c for run in runs.values() for c in run.crops))
    crop = st.radio("Crop", crops, horizontal=True, key="replay_crop")
    first = next(iter(runs.values()))
    columns = st.columns(len(runs) + 2)
    with part("input"):
        image = first.image("input", crop)
        if image is not None:
            columns[0].image(image, caption=f"input ({first.run})", width="stretch", output_format="PNG")
    for column, (name, run) in zip(columns[1:], runs.items()):
        with part(f"run {name}"):
            shown = snaps.nearest_step(run.steps, step)
            if shown is None:
                column.info(f"{name}: no snapshot")
                continue
            image = run.image("output", crop, shown)
            label = f"step {shown}" if shown == step else f"nearest step {shown} (asked {step})"
            score = run.psnr.get((shown, crop))
            if image is not None:
                column.image(image, caption=f"{name} · {label}" + (f" · {score:.2f} dB" if score is not None else ""),
                             width="stretch", output_format="PNG")
    with part("ground truth"):
        image = first.image("target", crop)
        if image is not None:
            columns[-1].image(image, caption="ground truth", width="stretch", output_format="PNG")
    for run in runs.values():
        for problem in dict.fromkeys(run.problems):
            st.warning(problem)
    with part("curves"):
        _replay_curves(root, runs, crop, step)
    if playing and step != steps[-1]:
        import time

        time.sleep(1.0)
        st.session_state["replay_pending"] = steps[steps.index(step) + 1]
        st.rerun()


def _replay_curves(root: Path, runs: dict, crop: str, step: int) -> None:
    fig = go.Figure()
    for name, run in runs.items():
        points = sorted((s, v) for (s, c), v in run.psnr.items() if c == crop)
        if points:
            fig.add_trace(go.Scatter(x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers",
                                     name=f"{name} · PSNR on {crop}"))
    fig.add_vline(x=step, line_dash="dot", line_color="gray")
    fig.update_layout(title=f"PSNR of the snapshot crop {crop} (dB)", xaxis_title="step")
    chart(fig, key="replay_psnr")
    losses = go.Figure()
    for name in runs:
        table = load(data.run_paths(root, name)[0], root)
        if table.error or table.frame is None or table.frame.empty:
            continue
        for column in data.curve_groups(table.frame)["loss"]:
            series = table.frame[["step", column]].dropna()
            losses.add_trace(go.Scatter(x=series["step"], y=series[column], mode="lines", name=f"{name} · {column}"))
    if losses.data:
        losses.add_vline(x=step, line_dash="dot", line_color="gray")
        losses.update_layout(title="Training losses", xaxis_title="step")
        chart(losses, key="replay_losses")


def page_grid(root: Path) -> None:
    st.header("Grid searches")
    experiments = data.list_experiments(root, "grid-search.csv")
    if not experiments:
        st.info("No grid search yet: `python -m training.protocol grid-search --model NAME` writes "
                "results/protocol/<name>/grid-search.csv.")
        return
    experiment = st.selectbox("Experiment", experiments, key="grid_pick")
    table = load(data.protocol_path(root, experiment, "grid-search.csv"), root)
    if not report(table):
        return
    frame = table.frame.copy()
    params = data.grid_params(frame)
    best = data.best_index(frame)
    shown = frame.rename(columns={p: p[len("params_"):] for p in params})
    names = [p[len("params_"):] for p in params]
    metric = str(frame["metric"].dropna().iloc[0]) if "metric" in frame.columns and frame["metric"].notna().any() else "value"
    with part("best trial"):
        if best is not None:
            row = shown.loc[best]
            st.success(f"Best: trial {row['trial']} · {metric} = {data.fmt(row['value'], '.4g')} · "
                       + ", ".join(f"{n} = {row[n]}" for n in names))
    with part("trial table"):
        styled = shown.style.apply(lambda r: [BEST_STYLE if r.name == best else "" for _ in r], axis=1)
        st.caption("Click a column header to sort; the best trial is highlighted.")
        st.dataframe(styled, width="stretch", hide_index=True)
    finished = shown.dropna(subset=["value"])
    if len(finished) < 2 or not names:
        return
    plot = finished.copy()
    dims = []
    for name in names:
        values = pd.to_numeric(plot[name], errors="coerce")
        if values.notna().all() and name in ("lr", "weight_decay") and (values > 0).all():
            plot[f"log10 {name}"] = values.map(math.log10)
            dims.append(f"log10 {name}")
        elif values.notna().all():
            plot[name] = values
            dims.append(name)
        else:  # words, blanks or a mix with numbers: one code per distinct label, said in a caption
            text = data.labels(plot[name])
            codes = {v: i for i, v in enumerate(sorted(text.unique()))}
            plot[f"{name} (code)"] = text.map(codes)
            dims.append(f"{name} (code)")
            st.caption(f"{name} is not numeric in every trial: drawn as codes "
                       + ", ".join(f"{i} = {v}" for v, i in codes.items()))
    with part("parallel coordinates"):
        fig = px.parallel_coordinates(plot, dimensions=dims + ["value"], color="value",
                                      color_continuous_scale=px.colors.sequential.Viridis,
                                      labels={"value": metric})
        fig.update_layout(title="Each hyperparameter's effect (parallel coordinates)")
        chart(fig, key="grid_parallel")
    if len(names) >= 2:
        with part("heatmap"):
            _grid_heatmap(finished, names, metric)


def _grid_heatmap(finished: pd.DataFrame, names: list[str], metric: str) -> None:
    left, right = st.columns(2)
    x = left.selectbox("Heatmap x", names, index=0, key="grid_hx")
    y = right.selectbox("Heatmap y", names, index=1, key="grid_hy")
    if x == y:
        return
    for axis in (x, y):  # an axis with words or blanks: every value as a label ("(blank)" for none)
        numbers = pd.to_numeric(finished[axis], errors="coerce")
        finished = finished.assign(**{axis: numbers if numbers.notna().all() else data.labels(finished[axis])})
    pivot = finished.pivot_table(index=y, columns=x, values="value", aggfunc="max")
    heat = px.imshow(pivot, text_auto=".3g", aspect="auto", color_continuous_scale="Viridis",
                     labels=dict(color=f"best {metric}"))
    heat.update_layout(title=f"best {metric} by {x} x {y} (max over the other hyperparameters)")
    heat.update_xaxes(type="category")
    heat.update_yaxes(type="category")
    chart(heat, key="grid_heat")


def page_lr_finder(root: Path) -> None:
    st.header("LR finder")
    experiments = data.list_experiments(root, "lr-find.csv")
    if not experiments:
        st.info("No LR range test yet: `python -m training.protocol lr-find --model NAME`.")
        return
    experiment = st.selectbox("Experiment", experiments, key="lr_pick")
    table = load(data.protocol_path(root, experiment, "lr-find.csv"), root)
    if not report(table):
        return
    frame = table.frame.dropna(subset=["lr"])
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=frame["lr"], y=frame["loss"], name="loss", mode="lines",
                             line=dict(color="lightgray")))
    fig.add_trace(go.Scatter(x=frame["lr"], y=frame["smoothed_loss"], name="smoothed loss", mode="lines",
                             line=dict(color="royalblue", width=3)))
    suggestions_path = data.protocol_path(root, experiment, "lr-find-suggestions.csv")
    suggestions = []
    if suggestions_path.is_file():
        stable = load(suggestions_path, root)
        if report(stable):
            suggestions = data.lr_suggestions(stable.frame)
            if "stopped" in stable.frame.columns and stable.frame["stopped"].notna().any():
                st.caption(f"Sweep ended: {stable.frame['stopped'].dropna().iloc[0]}")
    colours = ["crimson", "darkorange", "seagreen", "purple"]
    for index, suggestion in enumerate(suggestions):
        fig.add_vline(x=suggestion["lr"], line_dash="dash", line_color=colours[index % len(colours)],
                      annotation_text=f"{suggestion['method']}: {suggestion['lr']:.2g}",
                      annotation_position="top left" if index % 2 else "top right")
    low, high = frame["smoothed_loss"].min(), frame["smoothed_loss"].quantile(0.9)
    fig.update_layout(title=f"{experiment}: loss vs learning rate", xaxis_type="log", xaxis_title="learning rate",
                      yaxis_title="loss")
    if data.as_number(low) is not None and data.as_number(high) is not None:  # else plotly's own range
        fig.update_layout(yaxis_range=[low - 0.05 * abs(low), high + 0.25 * abs(high - low) + 1e-9])
    with part("loss vs learning rate"):
        chart(fig, key="lr_curve")
    if suggestions:
        st.dataframe(pd.DataFrame(suggestions), width="stretch", hide_index=True)


def page_sanity(root: Path) -> None:
    st.header("Sanity checks and evaluation")
    experiments = sorted(set(data.list_experiments(root)))
    if not experiments:
        st.info("No protocol results yet: run `python -m training.protocol check-init --model NAME` (and "
                "baselines, overfit-small, evaluate).")
        return
    experiment = st.selectbox("Experiment", experiments, key="sanity_pick")

    found = []  # the sections whose file exists (readable or not)

    def section(title: str, filename: str) -> data.Table | None:
        path = data.protocol_path(root, experiment, filename)
        if not path.is_file():
            return None
        found.append(filename)
        st.subheader(title)
        table = load(path, root)
        return table if report(table) else None

    with part("Baselines"):
        baselines = section("Baselines", "baselines.csv")
        if baselines is not None:
            st.dataframe(baselines.frame, width="stretch", hide_index=True)
    with part("Initial loss (check-init)"):
        check = section("Initial loss (check-init)", "check-init.csv")
        if check is not None:
            _check_init(check)
    with part("Gradients at initialisation"):
        gradients = section("Gradients at initialisation", "check-init-gradients.csv")
        if gradients is not None:
            frame = gradients.frame
            zero = frame[frame["grad_norm"].fillna(0) == 0]
            if len(zero):
                st.error(f"{len(zero)} parameter tensor(s) received no gradient: "
                         f"{', '.join(zero['parameter'].astype(str))}")
            fig = px.bar(frame, x="parameter", y="grad_norm", log_y=True, title="gradient norm per parameter tensor")
            chart(fig, key="sanity_grads")
    with part("Overfit a small subset"):
        overfit = section("Overfit a small subset", "overfit-small.csv")
        if overfit is not None:
            _overfit(root, overfit)
    with part("Test evaluation"):
        evaluation = section("Test evaluation", "evaluate.csv")
        if evaluation is not None:
            st.dataframe(evaluation.frame, width="stretch", hide_index=True)
    with part("Confusion matrix"):
        confusion = section("Confusion matrix", "evaluate-confusion.csv")
        if confusion is not None:
            frame = confusion.frame
            splits = list(dict.fromkeys(frame["split"].astype(str)))
            split = st.radio("Split", splits, horizontal=True, key="sanity_split") if len(splits) > 1 else splits[0]
            rows = frame[frame["split"].astype(str) == split]
            matrix = rows.drop(columns=[c for c in ("split", "true_index") if c in rows.columns])
            matrix = matrix.set_index(data.labels(matrix["true_class"])).drop(columns="true_class")
            matrix = matrix.apply(pd.to_numeric, errors="coerce")
            fig = px.imshow(matrix, text_auto=True, aspect="auto", color_continuous_scale="Blues",
                            labels=dict(x="predicted", y="true", color="count"))
            fig.update_layout(title=f"confusion matrix ({split})")
            chart(fig, key="sanity_confusion")
    with part("Split robustness"):
        splits = section("Split robustness (trained on one split, scored on both)", "split-robustness.csv")
        if splits is not None:
            _split_robustness(splits)
    if not found:
        st.info(f"results/protocol/{experiment} has no sanity-check files yet.")


def _split_robustness(table: data.Table) -> None:
    """The 2x2 table: rows the split a model was trained on, columns the split it is scored on."""
    frame = table.frame.copy()
    for column in ("psnr", "input_psnr", "gain"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    frame["trained on"] = "split " + frame["trained_on_split"].astype(str)
    frame["scored on"] = "split " + frame["evaluated_on_split"].astype(str)
    st.caption("The logbook's run #4 lesson: one model scores differently on another split of the same pool, "
               "so compare models on the same split. Read down a column (the same images) to compare models, "
               "along a row to see how much the split alone moves one model's score; the input's PSNR moves "
               "with it.")
    for value, title in (("psnr", "PSNR (dB)"), ("input_psnr", "blurred input PSNR (dB)"), ("gain", "gain over the input (dB)")):
        pivot = frame.pivot_table(index="trained on", columns="scored on", values=value, aggfunc="mean")
        st.markdown(f"**{title}**")
        st.dataframe(pivot.round(2), width="stretch")


def _blank(row: pd.Series, columns, filename: str) -> None:
    """Name the cells of ``row`` that are not numbers (so what is left out is said, not guessed)."""
    odd = [c for c in columns if c in row.index and data.as_number(row[c]) is None]
    if odd:
        st.caption(f"{filename}: {', '.join(odd)} blank or not a number in this row; shown as ?")


def _check_init(check: data.Table) -> None:
    frame = check.frame
    summary = frame[frame["batch"].astype(str) == "mean"]
    if len(summary):
        row = summary.iloc[-1]
        _blank(row, ("loss", "expected_loss", "tolerance", "param_tensors", "zero_grad_tensors"), "check-init.csv")
        loss, expected = data.as_number(row["loss"]), data.as_number(row["expected_loss"])
        cols = st.columns(3)
        cols[0].metric("initial loss", data.fmt(loss, ".4f"),
                       f"{loss - expected:+.4f} vs expected" if loss is not None and expected is not None else None)
        cols[1].metric("expected", data.fmt(expected, ".4f"), str(row.get("expected_source", "")), delta_color="off")
        if "zero_grad_tensors" in row:
            cols[2].metric("parameter tensors with zero gradient", data.fmt(row["zero_grad_tensors"], "d"),
                           f"of {data.fmt(row.get('param_tensors'), 'd')}", delta_color="off")
        passed = str(row.get("passed", "")).lower() == "true"
        (st.success if passed else st.warning)(
            f"initial loss {'within' if passed else 'outside'} {data.fmt(row.get('tolerance'), '.3g')} of the "
            f"expected value")
    st.dataframe(frame[frame["batch"].astype(str) != "mean"], width="stretch", hide_index=True)


def _overfit(root: Path, overfit: data.Table) -> None:
    row = overfit.frame.iloc[-1]
    _blank(row, ("n_examples", "initial_loss", "final_loss", "steps_taken", "target_loss"), "overfit-small.csv")
    reached = str(row.get("reached", "")).lower() == "true"
    (st.success if reached else st.warning)(
        f"{data.fmt(row['n_examples'], 'd')} examples: loss {data.fmt(row.get('initial_loss'), '.4g')} -> "
        f"{data.fmt(row['final_loss'], '.4g')} in {data.fmt(row['steps_taken'], 'd')} steps "
        f"(target {data.fmt(row.get('target_loss'), '.3g')}: {'reached' if reached else 'not reached'})")
    run = row.get("run")
    if isinstance(run, str):
        metrics_path, _ = data.run_paths(root, run)
        if metrics_path.is_file():
            curve = load(metrics_path, root)
            if report(curve):
                loss = next((c for c in ("loss", "loss_g") if c in curve.frame.columns), None)
                if loss:
                    fig = px.line(curve.frame, x="step", y=loss, log_y=True, title=f"{run}: training loss")
                    chart(fig, key="sanity_overfit")


def page_gan(root: Path) -> None:
    st.header("GAN: generator / discriminator balance")
    gan_runs = []
    for run in data.list_runs(root):
        metrics_path, _ = data.run_paths(root, run)
        table = load(metrics_path, root)
        if table.ok and data.is_gan(table.frame):
            gan_runs.append(run)
    if not gan_runs:
        st.info("No run logs with a discriminator (loss_d) yet; the SRGAN presets write them.")
        return
    chosen = st.multiselect("GAN runs", gan_runs, default=gan_runs[:2], key="gan_pick")
    for run in chosen:
        with part(f"run {run}"):
            _gan_run(root, run)


def _gan_run(root: Path, run: str) -> None:
    metrics_path, _ = data.run_paths(root, run)
    table = load(metrics_path, root)
    if not report(table):
        return
    frame = table.frame
    st.subheader(run)
    losses = [c for c in ("loss_d", "loss_adv", "loss_g", "loss_pixel", "loss_l1", "loss_perceptual") if c in frame.columns]
    long = frame.melt(id_vars="step", value_vars=losses, var_name="loss", value_name="value").dropna()
    fig = px.line(long, x="step", y="value", color="loss", title="discriminator vs generator losses")
    chart(fig, key=f"gan_losses_{run}")
    balance = [c for c in ("d_real", "d_fake") if c in frame.columns]
    relativistic = data.gan_loss_kind(root, run) == "relativistic"
    if relativistic:
        st.caption("Relativistic average loss (ESRGAN): the discriminator is trained on real − mean(fake) and "
                   "fake − mean(real), not on each image alone, so σ(D(x)) below is not its probability that x "
                   "is real: read the gap between the two curves, not their level, and do not compare the "
                   "verdict with a standard GAN's.")
    if balance:
        long = frame.melt(id_vars="step", value_vars=balance, var_name="output", value_name="D(x)").dropna()
        fig = px.line(long, x="step", y="D(x)", color="output",
                      title=("σ of D's raw output on real and generated images (relativistic: only the gap counts)"
                             if relativistic else "D's mean output on real and generated images (0.5 = cannot tell)"))
        fig.add_hline(y=0.5, line_dash="dot", line_color="gray")
        fig.update_yaxes(range=[0, 1])
        chart(fig, key=f"gan_balance_{run}")
        last = frame[balance].dropna()
        if len(last):
            gap = float(last["d_real"].iloc[-1] - last["d_fake"].iloc[-1]) if len(balance) == 2 else float("nan")
            verdict = ("relativistic: gap only" if relativistic else
                       "D wins easily (generator starved of signal)" if gap > 0.6 else
                       "balanced" if gap < 0.3 else "D ahead")
            st.metric("last D(real) - D(fake)", f"{gap:.3f}", verdict, delta_color="off")


def page_studies(root: Path) -> None:
    st.header("Source studies, rerun")
    st.caption("Experiments of the source documents (docs/sources.md) run again here, beside the figures the "
               "documents report. The recipes: `bash training/recipes/tin200_cpu.sh` and "
               "`bash training/recipes/nonorm_fair.sh`.")
    with part("Tiny ImageNet report: the five final runs"):
        _tin200_finals(root)
    with part("Tiny ImageNet report: LR x weight decay"):
        _tin200_lr_wd(root)
    with part("Deblurring logbook: No-Norm vs v3"):
        _nonorm_fair(root)


def _tin200_finals(root: Path) -> None:
    st.subheader("Tiny ImageNet report (003): 200 classes, the five final runs")
    frame, notes = data.tin200_final_runs(root)
    for note in notes:
        st.caption(note)
    steps = ", ".join(sorted({f"{data.fmt(s, 'g')} steps of batch {data.fmt(b, 'g')}"
                              for s, b in zip(frame.get("steps", []), frame.get("batch_size", []))}))
    st.caption(f"Ours: resnet-dropout at the report's widths on all 200 classes at 64x64, the report's augmentation, "
               f"no scheduler, the best validation step kept, {steps or 'no run yet'}, where the report trained "
               f"100 epochs. Our validation and test images are held out from val/ (the report gives no test "
               f"figure); the report's figures are its validation split.")
    shown = frame.rename(columns={"val_accuracy": "ours: best val accuracy", "val_macro_f1": "ours: val macro-F1",
                                  "test_accuracy": "ours: test accuracy", "test_macro_f1": "ours: test macro-F1",
                                  "report_val_accuracy": "report: val accuracy", "report_val_f1": "report: val F1",
                                  "report_epoch": "report: epoch", "best_step": "ours: best step"})
    st.dataframe(shown, width="stretch", hide_index=True)
    scores = frame.melt(id_vars="run", value_vars=[c for c in ("test_accuracy", "report_val_accuracy")
                                                   if c in frame.columns], var_name="figure", value_name="accuracy")
    scores = scores.dropna(subset=["accuracy"])
    if len(scores):
        fig = px.bar(scores, x="run", y="accuracy", color="figure", barmode="group",
                     title="accuracy: ours (test split) vs the report's (validation split)")
        chart(fig, key="studies_tin200_finals")


def _tin200_lr_wd(root: Path) -> None:
    st.subheader("Tiny ImageNet report (003): the LR x weight-decay table")
    ours, report, notes = data.tin200_lr_wd(root)
    for note in notes:
        st.caption(note)
    left, right = st.columns(2)
    for column, pivot, title in ((left, ours, "ours: validation loss after each short run"),
                                 (right, report, "the report's \"Loss\" (iterations and split not stated)")):
        if pivot is None:
            continue
        fig = px.imshow(pivot, text_auto=".3f", aspect="auto", color_continuous_scale="Viridis_r",
                        labels=dict(x="weight decay", y="learning rate", color="loss"))
        fig.update_xaxes(type="category")
        fig.update_yaxes(type="category")
        fig.update_layout(title=title)
        with column:
            chart(fig, key=f"studies_lr_wd_{'ours' if pivot is ours else 'report'}")


def _nonorm_fair(root: Path) -> None:
    st.subheader("Deblurring logbook (000): No-Norm vs v3 at the same budget")
    curves, notes = data.nonorm_fair_curves(root)
    for note in notes:
        st.caption(note)
    if curves.empty:
        return
    st.caption("Same 96-px crops, batch, steps, cosine schedule, weight decay and jitter; the first two runs differ "
               "only by InstanceNorm. The logbook stopped No-Norm at ~26 dB and judged InstanceNorm indispensable.")
    gains = curves.dropna(subset=["val_gain"])
    fig = px.line(gains, x="step", y="val_gain", color="label", markers=True,
                  title="validation gain over the blurred input (dB)")
    chart(fig, key="studies_nonorm_gain")
    losses = curves.dropna(subset=["loss_l1"])
    if len(losses):
        fig = px.line(losses, x="step", y="loss_l1", color="label", title="training L1 loss", log_y=True)
        chart(fig, key="studies_nonorm_loss")


# ---- layout ----------------------------------------------------------------------------------

def main() -> None:
    st.set_page_config(page_title="Restoration Studio dashboard", layout="wide")
    root = data.results_root()
    st.sidebar.title("Restoration Studio")
    page = st.sidebar.radio("Page", PAGES, key="page")
    live = st.sidebar.toggle("Live refresh", value=False, key="live",
                             help="Re-read the files of this page every few seconds (while a training runs)")
    every = st.sidebar.number_input("Refresh every (s)", min_value=1, max_value=600, value=5, key="every",
                                    disabled=not live)
    st.sidebar.caption(f"results: `{root}`")
    if not root.is_dir():
        st.warning(f"The results folder {root} does not exist yet (set {data.RESULTS_ENV} to read another).")
        return
    render = {"Runs": page_runs, "Replay": page_replay, "Grid search": page_grid, "LR finder": page_lr_finder,
              "Sanity checks": page_sanity, "GAN balance": page_gan,
              "Source studies": page_studies}[page]

    def body() -> None:
        try:
            render(root)
        except Exception as err:  # a file we did not foresee: say which page, keep the app alive
            st.error(f"{page}: could not draw this page ({type(err).__name__}: {err})")

    st.fragment(body, run_every=float(every) if live else None)()


main()
