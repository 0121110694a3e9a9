"""The Models tab: one card per model -- what it is, its size, how it was trained and on what, the
lesson from the source documents (summarised in ``docs/sources.md``) behind it, its training curves and the
command that reproduces it. Built from the shipped ``checkpoints/<model>/card.json`` files, the
registry and the run logs in ``results/runs``; nothing is loaded until a model is selected.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from studio.registry import ROOT, get_entry, list_models, model_card
from studio.results import curve_groups, read_table, results_root

APP_TASKS = ("restoration", "sr", "deblur")
TASK_TITLES = {"sr": "super-resolution x4", "deblur": "motion deblurring", "restoration": "restoration (gray → colour)",
               "classification": "classification", "denoise": "denoising (the learned prior of deblurring)"}

class _RegisteredLessons(Mapping):
    """The lesson each model carries (``register_model(..., lesson=...)``, beside the model), from the
    source write-ups (000 deblurring logbook, 002 restoration README, 004 SRGAN README; summarised in
    docs/sources.md), with what this repository reproduced. A figure quoted from a source names it
    in its sentence ("the logbook reports 27.50 dB"); a figure this repository measured is a field
    (``{bicubic_set5}``) that ``LESSONS`` fills in from the results files when the lesson is shown
    (``lesson_figures``). No other braces in these texts."""

    @staticmethod
    def _names() -> list[str]:
        return [name for name in list_models() if get_entry(name).lesson]

    def __getitem__(self, name: str) -> str:
        try:
            lesson = get_entry(name).lesson
        except KeyError:
            lesson = ""
        if not lesson:
            raise KeyError(name)
        return lesson

    def __iter__(self):
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())


LESSON_TEXTS = _RegisteredLessons()


def _last_validation(frame) -> float:
    return float(frame["val_psnr_y"].dropna().iloc[-1])


def _span(values) -> str:
    return f"{values.min():.2f}–{values.max():.2f}"


@lru_cache(maxsize=4)
def _read_lesson_figures(root: str) -> dict[str, str]:
    import pandas as pd

    def read(*parts):
        path = Path(root, *parts)
        return pd.read_csv(path) if path.is_file() else None

    figures = {}
    try:  # the Set5 x4 evaluation (python -m studio.evaluate, results/eval/sr_set5_x4.csv)
        set5 = read("eval", "sr_set5_x4.csv")
        figures["bicubic_set5"] = f"{set5[set5['model'] == 'bicubic']['psnr_y'].mean():.2f}"
    except (TypeError, KeyError, ValueError):
        pass
    try:  # srgan-v1's run log: D's outputs over the second half of its steps and over the whole run
        v1 = read("runs", "srgan-v1", "metrics.csv")
        last = v1["step"].max()
        late = v1[v1["step"] > last / 2]
        figures.update(v1_late_d_real=_span(late["d_real"]), v1_late_d_fake=_span(late["d_fake"]),
                       v1_half_steps=f"{int(last / 2)}", v1_steps=f"{int(last)}",
                       v1_d_real=f"{v1['d_real'].mean():.2f}", v1_d_fake=f"{v1['d_fake'].mean():.2f}")
    except (TypeError, KeyError, ValueError):
        pass
    try:  # srgan-v2's run log, and the last validation of the srresnet warmup it starts from
        v2 = read("runs", "srgan-v2", "metrics.csv")
        balance = v2[["d_real", "d_fake"]].dropna()
        gap = balance["d_real"] - balance["d_fake"]
        figures.update(v2_d_real=f"{v2['d_real'].mean():.2f}", v2_d_fake=f"{v2['d_fake'].mean():.2f}",
                       v2_gap=f"{gap.mean():.2f}", v2_gap_last=f"{gap.iloc[-1]:.2f}")
        before, after = _last_validation(read("runs", "srresnet", "metrics.csv")), _last_validation(v2)
        figures.update(srresnet_last=f"{before:.2f}", v2_last=f"{after:.2f}", v2_lost=f"{before - after:.2f}")
    except (TypeError, KeyError, ValueError, IndexError):
        pass
    return figures


def lesson_figures() -> dict[str, str]:
    """The figures the lessons quote from this repository's results (``results_root()``), formatted as
    shown. A file this checkout lacks leaves its fields out (``LESSONS`` shows them as "–")."""
    return dict(_read_lesson_figures(str(results_root())))


class _Figures(dict):
    def __missing__(self, key):
        return "–"


class Lessons(Mapping):
    """``LESSON_TEXTS`` with the figures of ``lesson_figures`` filled in, read when a lesson is shown."""

    def __init__(self, texts: dict[str, str]):
        self._texts = texts

    def __getitem__(self, name: str) -> str:
        return self._texts[name].format_map(_Figures(lesson_figures()))

    def __iter__(self):
        return iter(self._texts)

    def __len__(self) -> int:
        return len(self._texts)


LESSONS = Lessons(LESSON_TEXTS)


#: The Models tab's side-by-side of the two deblurring routes.
DEBLUR_ROUTES = """#### Two routes to motion deblurring
| | end to end (`unet-light-v1`, `-v3`, `-nonorm`) | kernel + learned prior (`pnp-blind`; `pnp-oracle`, `wiener-blind` to isolate each part) |
|---|---|---|
| what is learned | the whole inversion, blurred → sharp | only a denoiser (`drunet-lite`), which never sees a blur |
| what the physics gives | nothing: the network must discover the blur | y = k * x + noise: the kernel is estimated, then inverted in closed form (FFT) |
| training it needs | the logbook: 150 GPU epochs of GoPro pairs; here, a few CPU hours of synthetic blur | about an hour of CPU on clean photos plus Gaussian noise |
| blur it handles | anything seen in training, including blur that varies across the frame | one kernel for the whole photo (camera shake), its size chosen from the photo up to the max kernel size |
| when it fails | silently: the output is what the network makes of it | it says so: a verdict from its own kernel and residual, and a fallback |
| cost per photo | one network pass | kernel estimation, then 8 FFT steps and 8 denoiser passes (kernel refits among them) |
"""


def models_by_task() -> dict[str, list[str]]:
    return {task: list_models(task) for task in (*APP_TASKS, "denoise", "classification")}


def _has_weights(name: str) -> bool:
    entry = get_entry(name)
    return entry.has_weights


def status(name: str) -> str:
    entry = get_entry(name)
    if not entry.learned:
        return "classical (no training)"
    if entry.has_weights:
        return "trained, weights shipped" + (f" (those of {entry.weights_from[0]})" if entry.weights_from else "")
    if name == "unet-standard":
        return "architecture only (not trained on CPU; GPU recipe)"
    return "not trained in this checkout (the command below trains it)"


@lru_cache(maxsize=None)
def parameters(name: str) -> int:
    card = model_card(name)
    if "parameters" in card:
        return int(card["parameters"])
    from studio.checkpoint import count_parameters
    from studio.registry import build_model

    return count_parameters(build_model(name))


def _task_headline(task):
    """The headline of an image task (``studio.tasks``); None for the classifiers and the denoiser."""
    from studio.tasks import TASKS

    return TASKS[task].headline if task in TASKS else None


def _headline(card: dict) -> str:
    metrics = card.get("metrics") or {}
    parts = []
    for key, value in metrics.items():
        if isinstance(value, dict):
            h = _task_headline(card.get("task"))
            score = value.get(h.metric) if h else value.get("psnr", value.get("accuracy"))
            if isinstance(score, (int, float)):
                unit = "" if "accuracy" in value and "psnr" not in value else " dB"
                gain = value.get(h.gain if h else "gain_psnr")
                parts.append(f"{key}: {score:.2f}{unit}" + (f" ({gain:+.2f})" if isinstance(gain, (int, float)) else ""))
    return "; ".join(parts[:3]) or "–"


def overview_rows() -> list[list]:
    rows = []
    for task, names in models_by_task().items():
        for name in names:
            card = model_card(name)
            params = card.get("parameters")
            rows.append([name, TASK_TITLES.get(task, task), status(name),
                         f"{params:,}" if isinstance(params, int) else ("0" if not get_entry(name).learned else "see its card"),
                         _headline(card)])
    return rows


OVERVIEW_HEADERS = ["model", "task", "status", "parameters", "evaluation (PSNR, Δ vs input)"]


def run_log(name: str) -> Path | None:
    card = model_card(name)
    log = (card.get("training") or {}).get("run_log")
    candidates = ([ROOT / log] if log else []) + [results_root() / "runs" / name / "metrics.csv"]
    return next((p for p in candidates if p.is_file()), None)


#: how many training steps a model card's replay strip shows (evenly spread, the first and last included)
REPLAY_STEPS = 5


def replay_strip(name: str) -> list[tuple[str, str]]:
    """The model's output on its run's first snapshot crop at a few steps of training, then the
    ground truth: (PNG path, caption) pairs for a gallery; empty when its run kept no snapshots."""
    from studio.snapshots import read_snapshots

    log = run_log(name)
    run = read_snapshots(log.parent) if log is not None else None
    if run is None or not run.steps or not run.crops:
        return []
    crop = run.crops[0]
    steps = [s for s in run.steps if (s, crop) in run.files]
    picked = sorted({steps[round(i * (len(steps) - 1) / max(1, REPLAY_STEPS - 1))] for i in range(REPLAY_STEPS)}) \
        if steps else []
    strip = [(str(run.files[(s, crop)]), f"step {s} · {run.psnr[(s, crop)]:.2f} dB") for s in picked]
    target = run.folder / "target" / f"{crop}.png"
    return strip + ([(str(target), f"ground truth ({crop})")] if target.is_file() else [])


def curves_figure(name: str):
    """Training curves of the model's shipped run (losses, validation metric, learning rate, D balance)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    path = run_log(name)
    if path is None:
        fig = go.Figure()
        fig.add_annotation(text=f"No training log for {name} in this checkout", showarrow=False, font=dict(size=14))
        fig.update_layout(template="plotly_white", height=260, xaxis_visible=False, yaxis_visible=False)
        return fig
    table = read_table(path, name=str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path))
    frame = table.frame
    if frame is None:
        fig = go.Figure()
        fig.add_annotation(text=table.error or "unreadable log", showarrow=False)
        return fig
    groups = {k: v for k, v in curve_groups(frame).items() if v}
    titles = {"loss": "training losses", "metric": "validation", "lr": "learning rate", "balance": "discriminator D(x)"}
    keys = list(groups)
    rows = (len(keys) + 1) // 2
    fig = make_subplots(rows=rows, cols=2, subplot_titles=[titles[k] for k in keys], horizontal_spacing=0.1,
                        vertical_spacing=0.18)
    for i, key in enumerate(keys):
        r, c = i // 2 + 1, i % 2 + 1
        for column in groups[key]:
            data = frame[["step", column]].dropna()
            if data.empty:
                continue
            fig.add_trace(go.Scatter(x=data["step"], y=data[column], mode="lines+markers" if len(data) < 30 else "lines",
                                     name=column), row=r, col=c)
        if key == "lr":
            fig.update_yaxes(type="log", row=r, col=c)
        fig.update_xaxes(title_text="step", row=r, col=c)
    fig.update_layout(template="plotly_white", height=300 * rows + 60, margin=dict(l=50, r=20, t=60, b=40),
                      title=dict(text=f"{name}: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}",
                                 font=dict(size=13)))
    return fig


def _recipe_lines(card: dict) -> list[str]:
    training = card.get("training") or {}
    if not training:
        return []
    recipe = training.get("recipe") or {}
    lines = []
    keys = ("max_steps", "batch_size", "lr", "weight_decay", "scheduler", "min_lr", "grad_clip", "seed")
    summary = ", ".join(f"{k} {recipe[k]}" for k in keys if k in recipe)
    if summary:
        lines.append(f"- **Recipe**: {summary}")
    for key, label in (("losses", "Losses"), ("perceptual_backbone", "Perceptual backbone"), ("warmup", "Warmup"),
                       ("patch_hr", "HR patch"), ("degradation", "Low-resolution inputs"), ("wall_seconds", "Wall time (s)"),
                       ("hardware", "Hardware")):
        if key in training:
            value = training[key]
            lines.append(f"- **{label}**: {json.dumps(value) if isinstance(value, (dict, list)) else value}")
    first = training.get("init_from")
    if isinstance(first, dict):  # a later training stage: say what it continued
        done = ", ".join(f"{k} {first[k]}" for k in ("steps", "patch", "batch_size", "lr") if first.get(k) is not None)
        lines.append(f"- **Starts from**: `{first.get('source')}`" + (f" ({done})" if done else "")
                     + (f", log `{first['run_log']}`" if first.get("run_log") else ""))
    data = training.get("data")
    if data:
        lines.append(f"- **Data**: {json.dumps(data) if not isinstance(data, str) else data}")
    best = ((training.get("validation") or {}).get("best")) or {}
    if best:
        lines.append("- **Best validation**: " + "; ".join(
            f"{k} {v.get('value', v):.2f} at step {v.get('step', '?')}" if isinstance(v, dict) else f"{k} {v}"
            for k, v in best.items()))
    return lines


def card_markdown(name: str) -> str:
    entry = get_entry(name)
    card = model_card(name)
    try:
        params = f"{parameters(name):,}"
    except Exception as err:  # an architecture that cannot be built here: say why
        params = f"unknown ({err})"
    lines = [f"### {name}", f"*{TASK_TITLES.get(entry.task, entry.task)} · {status(name)} · {params} parameters*", "",
             card.get("description") or entry.description or ""]
    lesson = LESSONS.get(name)
    if lesson:
        lines += ["", f"**The lesson behind it.** {lesson}"]
    if card.get("architecture"):
        lines += ["", f"- **Architecture**: `{json.dumps(card['architecture'])}`"]
    lines += _recipe_lines(card)
    metrics = card.get("metrics") or {}
    if metrics:
        # deblurring evaluations also carry the gain up to a shift (blind kernels have no fixed centre)
        shifted = any(isinstance(m, dict) and "gain_psnr_shift" in m for m in metrics.values())
        lines += ["", "| evaluation | PSNR | SSIM | PSNR-Y | SSIM-Y | Δ vs input |" + (" Δ up to shift |" if shifted else "")
                  + " images |", "|---|---|---|---|---|---|---|" + ("---|" if shifted else "")]
        for key, m in metrics.items():
            if isinstance(m, dict) and "psnr" in m:
                gain = m.get(_task_headline(entry.task).gain if _task_headline(entry.task) else "gain_psnr")
                shift = m.get("gain_psnr_shift")
                shift_cell = (f" {shift:+.2f} |" if isinstance(shift, (int, float)) else " |") if shifted else ""
                lines.append(f"| {key} | {m.get('psnr', float('nan')):.2f} | {m.get('ssim', float('nan')):.4f} | "
                             f"{m.get('psnr_y', float('nan')):.2f} | {m.get('ssim_y', float('nan')):.4f} | "
                             f"{gain:+.2f} |{shift_cell} {m.get('images', '')} |" if isinstance(gain, (int, float)) else
                             f"| {key} | {m.get('psnr', float('nan')):.2f} | | | | |{shift_cell} |")
    command = card.get("command")
    command = command or entry.training_command
    first = (card.get("training") or {}).get("init_from")
    if isinstance(first, dict) and first.get("command"):  # the earlier stage comes first
        command = f"{first['command']}\n{command}"
    lines += ["", "**Reproduce**", "```bash", command or "# classical: nothing to train", "```"]
    if metrics:
        evaluations = {m.get("command") for m in metrics.values() if isinstance(m, dict) and m.get("command")}
        for evaluation in sorted(evaluations)[:3]:
            lines += ["```bash", evaluation, "```"]
    return "\n".join(lines)


def model_choices() -> list[str]:
    return [name for names in models_by_task().values() for name in names]
