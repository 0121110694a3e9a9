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

#: The lesson each model carries, from the source write-ups (000 deblurring logbook, 002 restoration
#: README, 004 SRGAN README; summarised in docs/sources.md), with what this repository reproduced.
#: A figure quoted from a source names it in its sentence ("the logbook reports 27.50 dB"); a figure
#: this repository measured is a field (``{bicubic_set5}``) that ``LESSONS`` fills in from the results
#: files when the lesson is shown (``lesson_figures``). No other braces in these texts.
LESSON_TEXTS = {
    "bicubic": "The reference every SR paper reports. Its Set5 x4 score here ({bicubic_set5} dB PSNR-Y, published "
               "28.42) checks the MATLAB-style downscaler and the metric together; every Δ in the studio is measured "
               "against it.",
    "lanczos": "A slightly sharper classical interpolator (with ringing): the honest 'no learning' competitor.",
    "srresnet": "The PSNR stage of SRGAN: pixel (L1) loss only. The source's v2 and v3 both start from such a "
                "warmup -- 'a stable reconstruction, a good starting point for the GAN, no early collapse'. It is "
                "the most faithful model here (highest PSNR) and also the smoothest: a pixel loss averages over "
                "every plausible texture.",
    "srgan-v1": "Source v1: a small image set, 96×96 patches, pixel + adversarial loss from the first step, no "
                "separate pre-training. Its write-up lists the limits: too little data, over-smoothed textures, "
                "limited PSNR, unstable GAN training. Reproduced here: the discriminator wins (d_real "
                "{v1_late_d_real}, d_fake {v1_late_d_fake} over the last {v1_half_steps} of its {v1_steps} steps; "
                "d_real {v1_d_real}, d_fake {v1_d_fake} averaged over the whole run) and the PSNR ends below "
                "bicubic.",
    "srgan-v2": "Source v2: richer data, larger inputs, unsuitable activations replaced (its example: a sigmoid "
                "at the output), a pixel-loss warmup and then the GAN phase, with PSNR tracked. The lesson: data "
                "and warmup, not a new architecture, made the GAN stable. Here the discriminator does not win "
                "outright as srgan-v1's does, but it stays ahead (d_real {v2_d_real}, d_fake {v2_d_fake} averaged "
                "over its run log; D(real) − D(fake) {v2_gap} on average and {v2_gap_last} at the last logged step, "
                "'D ahead' by the dashboard's rule, not balanced), and {v2_lost} dB of Set5 PSNR-Y is lost in the "
                "GAN phase ({srresnet_last} dB from srresnet, {v2_last} dB at its last validation).",
    "srgan-v3": "Why v3 added a perceptual loss: a pixel loss rewards the average of all plausible textures, "
                "which is a blur; a loss on the features of a pretrained network rewards textures that look "
                "right. The weighted pixel + perceptual + adversarial loss sets the trade-off between fidelity "
                "(PSNR) and perceived quality: expect a lower PSNR and sharper textures -- the "
                "perception–distortion plot shows where it lands. The source used VGG features; no VGG19 weights "
                "exist offline here, so the shipped v3 uses vgg-mini, trained in this repository on Tiny ImageNet.",
    "srgan-v3-ra": "ESRGAN's loss change alone: srgan-v3's generator, warmup, steps and loss weights, with the "
                   "relativistic average loss in place of the standard one. Its discriminator judges whether a real "
                   "image looks more realistic than the average fake, so the generator also learns from the real "
                   "images' scores. Compare it with srgan-v3 to see what the loss does, and with esrgan-lite for "
                   "what the RRDB body adds.",
    "rrdb-psnr": "ESRGAN's architecture change alone: residual-in-residual dense blocks, no BatchNorm, residual "
                 "scaling 0.2, trained with L1 only like srresnet (about the same parameters and step cost; its "
                 "card records steps and wall time). Compare it with srresnet: same loss, different body.",
    "esrgan-lite": "Both ESRGAN changes: rrdb-psnr as the warmup, then the relativistic average GAN loss with "
                   "perceptual and L1 terms (srgan-v3's pixel and perceptual weights, a third of its adversarial "
                   "weight: the relativistic loss pushes harder, and at srgan-v3's weight it gave up more PSNR than "
                   "SRGAN's published Set5 figure; vgg-mini features). The perception–distortion plot shows where "
                   "it lands against srgan-v3 and srgan-v3-ra.",
    "unet-standard": "Where the deblurring logbook started: the 2015 U-Net, ~28–30M parameters, too heavy for the "
                     "hardware at hand (timeouts, out-of-memory), hence the lightweight U-Net below. Shipped as "
                     "architecture only: this project's CPU budget would give it far too few training steps "
                     "(training/train_deblur.py, CPU_NOT_SHIPPED).",
    "unet-light-v1": "Logbook run #1: depthwise-separable convs (~8× fewer weights), 32 filters, bilinear upsampling "
                     "+ conv instead of transposed convs (no checkerboard), a global residual, ReduceLROnPlateau "
                     "(the logbook does not say which normalisation run #1 used; InstanceNorm here, as in its later "
                     "runs). Why cosine replaced plateau: the plateau scheduler was too timid -- the learning rate "
                     "stayed at 2e-4 all night and the model never refined fine detail (the logbook reports 27.50 dB "
                     "on validation); CosineAnnealing forces it down to 1e-6, a 'smooth landing' (the logbook's "
                     "next run: 28.03 dB). The logbook's "
                     "run #4 lesson, reproduced with this model: trained on one split of a pool and scored on two, "
                     "the split moves its score far more than the split it was trained on (the split-robustness "
                     "table of docs/deblur.md and the dashboard): compare models on the same split only.",
    "unet-light-v3": "The logbook's champion: 48 filters, InstanceNorm, cosine to 1e-6, weight decay 1e-3, ±15 % "
                     "colour jitter. Why the split is by sequence: GoPro frames come from videos, so a random shuffle "
                     "puts frame t in training and the nearly identical frame t+1 in validation -- a leak that "
                     "inflates the score. Splitting on sequence names (90/10) keeps validation scenes unseen (the "
                     "same run also stopped applying rotations to validation). The logbook reports 31.15 dB on "
                     "validation crops, 29.57 dB at full resolution; with a harder split (seed 123) 27.21 dB, where v3 itself "
                     "scored 27.44. Here, without GoPro pairs offline, the CPU recipe trains on synthetic blur; "
                     "`--gopro` restores the split by sequence.",
    "unet-light-nonorm": "Why InstanceNorm stayed, in the logbook: the 'No-Norm' challenger (no normalisation, biases "
                         "on, lr 1e-4, hoping for EDSR-like colour fidelity) was unstable, stalled at ~26 dB and was "
                         "stopped at epoch 50, and the logbook judged normalisation indispensable. That run had a "
                         "lower learning rate and a shorter training than v3, so it could not tell the two apart. "
                         "Trained here at one budget (same crops, steps, schedule; also at v3's learning rate), "
                         "No-Norm does learn, but more slowly than v3: docs/deblur.md's 'No-Norm at the same budget' "
                         "table and the dashboard's Source studies page.",
    "unsharp-mask": "Blind sharpening: it boosts edges whatever the blur was and cannot undo a motion kernel -- the "
                    "floor a learned deblurring model must clear.",
    "wiener-oracle": "Wiener deconvolution given the true kernel: an oracle no real photo provides, so it only runs "
                     "on synthetic blur. It shows what knowing the blur is worth, not a fair competitor.",
    "vae-unet": "Source (source 002, docs/sources.md): an encoder to a μ/σ latent with the reparameterization trick, a decoder with "
                "U-Net skips, reconstruction + KL loss with the KL weight tuned (β) to balance sharpness against a "
                "regular latent. Its known limits: 128×128 images, artefacts on faces and complex contours.",
    "pix2pix-gan": "Source (source 002, docs/sources.md): a U-Net generator against a conditional PatchGAN discriminator, L1 + VGG "
                   "perceptual + adversarial losses, and at each epoch one discriminator update then two generator "
                   "updates (this repository runs them at each training step).",
    "cnn-two-stage": "Source (source 002, docs/sources.md): CNN1 restores the structure (L1 + MSE + perceptual), CNN2, a U-Net, "
                     "colourises from the luminance with L1. The lesson it reports: what the structure stage gains "
                     "in texture it loses in colour -- desaturated, faded, sepia-like results; a more generous "
                     "colour loss gave images that were entirely red.",
    "classical": "The classical floor of restoration: denoising without learning. It outputs a gray image -- "
                 "bringing colour back needs a learned model.",
    "pnp-blind": "The second route to deblurring, beside the end-to-end U-Nets: use the physics. Camera shake is "
                 "(nearly) one blur kernel for the whole photo, y = k * x + noise, so the kernel is estimated from the "
                 "photo's own edges (coarse to fine, an L0 gradient prior that keeps only strong edges, kernel fits "
                 "solved in the Fourier domain) and the blur is then inverted in closed form, with a small learned "
                 "denoiser as the image prior between the inversions (plug-and-play HQS, as DPIR). Once the prior's "
                 "iterate is sharper than the estimation's cartoon-like latent image, the kernel is refitted to it "
                 "(midway through the iterations). The kernel's size is chosen from the photo: 31 px first, larger "
                 "where that estimate is cut off by its frame. Every result carries the model's own verdict "
                 "(confident, kernel uncertain, no blur found): a kernel it cannot trust must not pass silently, "
                 "because the learned prior, trusting the data more than Wiener does, turns a wrong kernel into "
                 "artefacts; an uncertain result falls back as the rule in its card says. "
                 "The learned part "
                 "never sees a blur, so it trains in about an hour on a CPU; the U-Nets must learn the inversion "
                 "itself, which the logbook did in 150 GPU epochs. What it cannot do: blur that varies across the "
                 "photo (moving objects, rotation, depth), which the U-Nets can learn. Blind estimation knows the "
                 "kernel only up to a shift, so its output is centred like the input; 'Δ up to shift' in the "
                 "evaluation forgives that, as Levin et al.'s protocol does.",
    "pnp-oracle": "The same deconvolution given the true kernel: the ceiling of the blind pipeline, and the fair "
                  "comparison for wiener-oracle. The gap between the two oracles is what the learned prior adds; "
                  "the gap between pnp-oracle and pnp-blind is what estimating the kernel costs.",
    "wiener-blind": "The classical blind baseline: the kernel estimate pnp-blind starts from, inverted by Wiener "
                    "deconvolution (one global noise-to-signal ratio, no image prior). Its gap to pnp-blind isolates "
                    "the learned prior (in the deconvolution and in the kernel it refits); its gap to wiener-oracle "
                    "isolates the kernel estimate.",
    "drunet-lite": "Not a deblurring model by itself: the learned image prior of pnp-blind and pnp-oracle, a "
                   "DRUNet-style denoiser told the noise level through an extra input map, so one network serves "
                   "every step of the HQS schedule. Trained on bsds500 train+test with synthetic Gaussian noise only.",
    "vgg-mini": "Not a restoration model: the small VGG-style classifier trained here on Tiny ImageNet whose "
                "features drive srgan-v3's perceptual loss (no VGG19 weights are available offline).",
}


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
                       ("patch_hr", "HR patch"), ("wall_seconds", "Wall time (s)"), ("hardware", "Hardware")):
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
