"""The README's picture of real blurred photos (no ground truth): input, the best end-to-end U-Net,
the classical blind baseline and the blind pipeline with its learned prior, plus each estimated kernel.

    python docs/make_deblur_figure.py            # writes docs/images/deblur_real.png

Crops of real camera-shake photos from ``real_blurred_lai2016`` and ``gopro_blurred_only``; there is
no sharp original, so nothing is scored: judge by eye.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from studio.data import DATASETS, require_dataset  # noqa: E402
from studio.evaluation import load_for_task  # noqa: E402
from studio.imageio import load_image, to_uint8  # noqa: E402
from studio.inference import run_model  # noqa: E402

#: (dataset folder, file): centre crops of 400 px (full resolution: the blur keeps its true size)
PHOTOS = [("real_blurred_lai2016", "bridge.jpg"), ("real_blurred_lai2016", "book1.jpg"),
          ("gopro_blurred_only", "seq_id1_frame8.png")]
CROP = 400
MODELS = ["unet-light-v3", "wiener-blind", "pnp-blind"]
OUT = ROOT / "docs" / "images" / "deblur_real.png"


def center_crop(image: np.ndarray, size: int) -> np.ndarray:
    height, width = image.shape[:2]
    size = min(size, height, width)
    top, left = (height - size) // 2, (width - size) // 2
    return image[top:top + size, left:left + size]


def kernel_tile(kernel: np.ndarray, size: int) -> np.ndarray:
    picture = np.kron(kernel / kernel.max(), np.ones((max(1, size // kernel.shape[0]),) * 2))
    return np.repeat(picture[..., None], 3, axis=-1)


def main() -> None:
    models = {name: load_for_task(name, "deblur") for name in MODELS}
    rows = []
    for folder, name in PHOTOS:
        path = require_dataset(DATASETS / folder, folder) / name
        image = center_crop(load_image(path), CROP)
        cells = [(image, f"{folder}/{name} (input)")]
        for model_name, model in models.items():
            cells.append((run_model(model, image, precision="fp32"), model_name))
        cells.append((kernel_tile(models["pnp-blind"].last_estimates[0].kernel, image.shape[0] // 3), "pnp-blind's kernel"))
        rows.append(cells)
    tile, caption = 300, 22
    canvas = Image.new("RGB", (tile * len(rows[0]), (tile + caption) * len(rows)), "white")
    draw = ImageDraw.Draw(canvas)
    for r, cells in enumerate(rows):
        for c, (picture, label) in enumerate(cells):
            resample = Image.NEAREST if "kernel" in label else Image.LANCZOS
            thumb = Image.fromarray(to_uint8(np.clip(picture, 0, 1))).resize((tile, tile), resample)
            canvas.paste(thumb, (c * tile, r * (tile + caption) + caption))
            draw.text((c * tile + 4, r * (tile + caption) + 4), label, fill="black")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(OUT)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
