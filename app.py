"""Restoration Studio: compare image-restoration models side by side.

    python app.py            # http://127.0.0.1:7860

Super-resolution tab: pick a sample or upload a photo. A clean photo is downscaled x4 with the
benchmark protocol (MATLAB bicubic), every selected model upsamples it back, and each output is
scored against the original (PSNR/SSIM on the Y channel, border cropped). A photo that is already
low-resolution can be upscaled without a reference ("no-reference mode": no scores shown).
"""

from __future__ import annotations

import os
import time
from functools import lru_cache
from pathlib import Path

import gradio as gr

from studio.checkpoint import CheckpointError
from studio.degradations.sr import downscale, mod_crop
from studio.evaluate import load_for_task
from studio.imageio import ImageLoadError, load_image, quantize
from studio.inference import run_model
from studio.metrics import all_metrics
from studio.registry import list_models, model_card
from studio.tasks import get_task

ROOT = Path(__file__).resolve().parent
SAMPLES = sorted((ROOT / "data" / "samples").glob("*.png"))
MAX_SIDE_NO_REFERENCE = 512  # LR side above which x4 output would exceed 2048 px


@lru_cache(maxsize=None)
def cached_model(name: str):
    return load_for_task(name, "sr", 4)


def available_sr_models() -> list[str]:
    names = []
    for name in list_models("sr"):
        try:
            cached_model(name)
            names.append(name)
        except CheckpointError:
            pass  # not trained in this checkout; the Models section says so
    return names


def compare(image_path, mode: str, models: list[str]):
    if not image_path:
        raise gr.Error("Pick a sample or upload an image first.")
    if not models:
        raise gr.Error("Select at least one model.")
    try:
        image = load_image(image_path)
    except ImageLoadError as err:
        raise gr.Error(str(err)) from None
    task = get_task("sr")
    gallery, rows = [], []
    if mode.startswith("Clean"):
        if min(image.shape[:2]) < 32:
            raise gr.Error(f"The photo is {image.shape[1]}x{image.shape[0]}: it needs at least 32 px per side "
                           "to be downscaled x4 and still show something.")
        clean = mod_crop(image, 4)
        low = downscale(clean, 4)
        reference = task.input_reference(low, scale=4)
        base = all_metrics(reference, clean, border=4)
        gallery.append((clean, "ground truth"))
        gallery.append((reference, f"input (x4 bicubic view) · PSNR-Y {base['psnr_y']:.2f} dB"))
    else:
        low = image
        if max(low.shape[:2]) > MAX_SIDE_NO_REFERENCE:
            raise gr.Error(f"No-reference mode upscales x4: the input side must be at most "
                           f"{MAX_SIDE_NO_REFERENCE} px (got {low.shape[1]}x{low.shape[0]}).")
        clean = None
        gallery.append((low, "input (low resolution)"))
    for name in models:
        started = time.perf_counter()
        output = quantize(run_model(cached_model(name), low, scale=4))
        ms = (time.perf_counter() - started) * 1000
        if clean is not None:
            scores = all_metrics(output, clean, border=4)
            delta = scores["psnr_y"] - base["psnr_y"]
            caption = f"{name} · PSNR-Y {scores['psnr_y']:.2f} dB ({delta:+.2f}) · SSIM-Y {scores['ssim_y']:.3f} · {ms:.0f} ms"
            rows.append([name, round(float(scores["psnr_y"]), 2), round(float(scores["ssim_y"]), 4), round(float(delta), 2), round(ms)])
        else:
            caption = f"{name} · {ms:.0f} ms (no reference: no score)"
            rows.append([name, None, None, None, round(ms)])
        gallery.append((output, caption))
    return gallery, rows


def models_markdown() -> str:
    lines = ["| model | parameters | how it was trained | Set5 x4 PSNR-Y | reproduce |", "|---|---|---|---|---|"]
    for name in list_models("sr"):
        card = model_card(name)
        set5 = card.get("metrics", {}).get("set5_x4", {})
        psnr = f"{set5['psnr_y']:.2f} dB" if set5 else "see results/eval"
        trained = card.get("training", {})
        recipe = (f"{trained.get('recipe', {}).get('max_steps', '?')} steps, "
                  f"losses {trained.get('losses')}") if trained else ("classical, no training" if card.get("trained") is False else "not trained yet")
        lines.append(f"| `{name}` | {card.get('parameters', 0):,} | {recipe} | {psnr} | `{card.get('command', '-')}` |")
    return "\n".join(lines)


def build_demo() -> gr.Blocks:
    models = available_sr_models()
    with gr.Blocks(title="Restoration Studio") as demo:
        gr.Markdown("# Restoration Studio\nCompare image-restoration models side by side, with the numbers "
                    "that explain the differences.")
        with gr.Tab("Super-resolution"):
            with gr.Row():
                with gr.Column(scale=1):
                    # A file input, not gr.Image: gr.Image decodes uploads itself and answers a corrupt
                    # file with a generic error, while studio.imageio says exactly what is wrong.
                    image = gr.File(label="Photo (PNG, JPEG, TIFF, WebP, ...)", file_types=["image"], type="filepath")
                    gr.Examples([[str(p)] for p in SAMPLES], inputs=[image], label="Samples (Set5/Set14)")
                    mode = gr.Radio(["Clean photo: downscale x4, then compare with it",
                                     "Already low-resolution: upscale x4, no reference"],
                                    value="Clean photo: downscale x4, then compare with it", label="Mode")
                    chosen = gr.CheckboxGroup(models, value=models, label="Models")
                    run = gr.Button("Compare", variant="primary")
                with gr.Column(scale=2):
                    gallery = gr.Gallery(label="Results (lossless PNG)", columns=3, format="png", height=640)
                    table = gr.Dataframe(headers=["model", "PSNR-Y (dB)", "SSIM-Y", "Δ vs bicubic input (dB)", "ms"],
                                         label="Scores (Y channel, 4 px border cropped)")
            run.click(compare, [image, mode, chosen], [gallery, table], api_name="compare_sr")
        with gr.Tab("Models"):
            gr.Markdown(models_markdown())
    demo.queue(default_concurrency_limit=2, max_size=16)
    return demo


if __name__ == "__main__":
    build_demo().launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        max_file_size="20mb", theme=gr.themes.Soft())
