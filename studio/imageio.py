"""Image I/O shared by training, evaluation and the app.

Every image inside the studio is a float32 numpy array in [0, 1], shaped HxWx3 (RGB)
or HxW (L). Loading accepts whatever Pillow reads (PNG, JPEG, TIFF, BMP, WebP, ...) and
normalises the odd cases explicitly: EXIF orientation, alpha, palettes, CMYK, 16-bit and
float images, grayscale. Anything unreadable raises ``ImageLoadError`` with a message a
person can act on. A float image with NaN or infinite pixels (a TIFF with missing values) is
refused: no clipping can say what those pixels should be. Saving is always lossless PNG.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# A 4K frame is 8.3 MP; 40 MP leaves room for large photos while keeping a float32 RGB copy
# (and a model's activations over tiles) far below the memory of a laptop.
MAX_PIXELS = 40_000_000
MIN_SIDE = 2
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


class ImageLoadError(ValueError):
    """An input image could not be turned into a usable array; the message says why."""


def _describe(source) -> str:
    return str(source) if isinstance(source, (str, os.PathLike)) else "uploaded image"


def _open(source, max_pixels: int | None = None) -> Image.Image:
    name = _describe(source)
    max_pixels = MAX_PIXELS if max_pixels is None else max_pixels
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise ImageLoadError(f"{name}: file not found")
        if path.is_dir():
            raise ImageLoadError(f"{name}: is a folder, not an image file")
        if path.stat().st_size == 0:
            raise ImageLoadError(f"{name}: file is empty (0 bytes)")
    elif isinstance(source, (bytes, bytearray)):
        if len(source) == 0:
            raise ImageLoadError("uploaded image: empty (0 bytes)")
        source = io.BytesIO(source)
    try:
        # Pillow's own decompression-bomb guard would raise before we can give our message.
        Image.MAX_IMAGE_PIXELS = None
        image = Image.open(source)
        width, height = image.size
        if width * height > max_pixels:
            raise ImageLoadError(
                f"{name}: {width}x{height} is {width * height / 1e6:.1f} MP, above the "
                f"{max_pixels / 1e6:g} MP limit; downscale it first"
            )
        image.load()
    except ImageLoadError:
        raise
    except UnidentifiedImageError:
        raise ImageLoadError(f"{name}: not an image Pillow can read (unknown or corrupt format)") from None
    except (OSError, SyntaxError, ValueError) as err:  # truncated or corrupt data
        raise ImageLoadError(f"{name}: corrupt or truncated image ({err})") from None
    return image


# Formats whose mode "I" always holds 16-bit samples (16-bit PGM/PPM, 16-bit PNG in older Pillow):
# their peak is 65535 even when the picture is dark.
SIXTEEN_BIT_I_FORMATS = ("PNG", "PPM")


def _to_float_array(image: Image.Image, source_format: str | None = None) -> np.ndarray:
    """Pillow image in any mode -> float32 array in [0, 1] (HxW or HxWxC)."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.asarray(image, dtype=np.float32) / 65535.0
    if mode == "I":  # 32-bit int; 16-bit PGM (and PNG in older Pillow) decode to this mode
        array = np.asarray(image, dtype=np.float64)
        sixteen_bit = source_format in SIXTEEN_BIT_I_FORMATS or array.max(initial=0) > 255
        peak = 65535.0 if sixteen_bit else 255.0
        return np.clip(array / peak, 0, 1).astype(np.float32)
    if mode == "F":
        array = np.asarray(image, dtype=np.float32)
        if array.size and float(array.max()) > 1.0:
            array = array / 255.0
        return np.clip(array, 0, 1)
    if mode == "1":
        return np.asarray(image, dtype=np.float32)
    return np.asarray(image, dtype=np.float32) / 255.0


def _flatten_alpha(image: Image.Image) -> Image.Image:
    # Transparent pixels are composited on white, as an image viewer shows them.
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _check_finite(image: Image.Image, name: str) -> None:
    # Only float ("F") images can hold NaN or infinity; np.clip would keep a NaN, and every score
    # and model output computed from it would be NaN or garbage.
    if image.mode != "F":
        return
    array = np.asarray(image, dtype=np.float32)
    bad = int(np.count_nonzero(~np.isfinite(array)))
    if bad:
        raise ImageLoadError(f"{name}: {bad} of {array.size} pixels are NaN or infinite (a float image with "
                             "missing values); fill them in first")


def load_image(source, mode: str = "RGB", max_pixels: int | None = None) -> np.ndarray:
    """Load a path, bytes or PIL image as float32 in [0, 1].

    ``mode="RGB"`` gives HxWx3 (grayscale is replicated); ``mode="L"`` gives HxW luminance
    (ITU-R 601-2, Pillow's conversion). 16-bit inputs keep their precision. ``max_pixels``
    (default ``MAX_PIXELS``) refuses larger files before they are decoded.
    """
    if mode not in ("RGB", "L"):
        raise ValueError(f"mode must be 'RGB' or 'L', got {mode!r}")
    image = source if isinstance(source, Image.Image) else _open(source, max_pixels)
    name = _describe(source)
    _check_finite(image, name)
    source_format = image.format  # exif_transpose returns a copy, which has no format
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block should not cost the user the picture
        pass
    width, height = image.size
    if min(width, height) < MIN_SIDE:
        raise ImageLoadError(f"{name}: {width}x{height} is too small (each side needs at least {MIN_SIDE} pixels)")

    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F", "1"):
        gray = _to_float_array(image, source_format)
        if gray.ndim == 3:
            gray = gray[..., 0]
        return gray if mode == "L" else np.repeat(gray[..., None], 3, axis=2)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = _flatten_alpha(image)
    elif image.mode == "CMYK":
        image = image.convert("RGB")
    elif image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    if mode == "L":
        image = image.convert("L")
    elif image.mode == "L":
        image = image.convert("RGB")
    array = _to_float_array(image)
    return np.ascontiguousarray(array)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """[0, 1] float -> uint8 with rounding (what saving and the metrics see)."""
    return np.clip(np.round(np.asarray(image, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)


def quantize(image: np.ndarray) -> np.ndarray:
    """Round to the 8-bit grid while staying float32 in [0, 1]."""
    return to_uint8(image).astype(np.float32) / 255.0


def save_png(image: np.ndarray, path) -> Path:
    """Save a [0, 1] float (or uint8) image as lossless 8-bit PNG, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    array = image if image.dtype == np.uint8 else to_uint8(image)
    tmp = path.with_name(path.name + ".tmp")
    Image.fromarray(array).save(tmp, format="PNG")
    os.replace(tmp, path)
    return path


def list_images(folder) -> list[Path]:
    """Image files in a folder (not recursive), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: not a folder")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
