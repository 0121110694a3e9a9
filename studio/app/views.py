"""Pictures and plots of the comparison view, computed from numpy images (torch-free).

* error maps |output - ground truth| on **one shared colour scale** and the colour bar that goes
  with them (``error_maps``, ``colorbar``);
* zoomed crops of one region of every image (``crop``);
* a no-reference sharpness measure and the perception-distortion plot (``sharpness``,
  ``perception_distortion_figure``);
* the radially averaged spectrum of each output's error (``radial_spectrum``,
  ``spectrum_figure``).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from studio.imageio import to_uint8
from studio.metrics import error_map, rgb_to_y

# Magma-like perceptual colour map (dark = no error, bright = large error): anchors of matplotlib's
# "inferno", interpolated linearly in RGB (256 entries).
_ANCHORS = np.array([
    [0, 0, 4], [22, 11, 57], [66, 10, 104], [106, 23, 110], [147, 38, 103], [188, 55, 84],
    [221, 81, 58], [243, 120, 25], [252, 165, 10], [246, 215, 70], [252, 255, 164],
], dtype=np.float64)
LUT = np.stack([np.interp(np.linspace(0, 1, 256), np.linspace(0, 1, len(_ANCHORS)), _ANCHORS[:, c])
                for c in range(3)], axis=-1).round().astype(np.uint8)


def colorize(values: np.ndarray, vmax: float) -> np.ndarray:
    """HxW values in [0, vmax] -> HxWx3 uint8 through the colour map (values above vmax saturate)."""
    index = np.clip(np.asarray(values, dtype=np.float64) / max(vmax, 1e-12), 0, 1) * 255
    return LUT[np.round(index).astype(np.int64)]


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k at or above ``value`` (a readable colour-bar maximum)."""
    if not value > 0 or not math.isfinite(value):
        return 0.01
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * 10**exponent >= value - 1e-12:
            return step * 10**exponent
    return 10 ** (exponent + 1)


def shared_error_scale(maps: list[np.ndarray], percentile: float = 99.5) -> float:
    """One colour-scale maximum for all maps: the largest per-map high percentile, rounded up."""
    if not maps:
        return 0.1
    return nice_ceiling(max(float(np.percentile(m, percentile)) for m in maps))


def error_maps(outputs: dict[str, np.ndarray], target: np.ndarray, scale_from: list[str] | None = None
               ) -> tuple[dict[str, np.ndarray], dict[str, float], float]:
    """({name: HxWx3 uint8 colour map}, {name: mean |error|}, shared vmax) for the given outputs. The
    one colour scale is fitted to the maps of ``scale_from`` (default: all); the others saturate
    where their error passes it."""
    raw = {name: error_map(image, target) for name, image in outputs.items()}
    vmax = shared_error_scale([raw[name] for name in (scale_from or raw)])
    return ({name: colorize(m, vmax) for name, m in raw.items()},
            {name: float(m.mean()) for name, m in raw.items()}, vmax)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def colorbar(vmax: float, width: int = 520, height: int = 64) -> np.ndarray:
    """A horizontal colour bar from 0 to ``vmax`` (|error| on [0, 1] images, and in 8-bit levels)."""
    bar_top, bar_height, margin = 22, 16, 14
    canvas = Image.new("RGB", (width, height), "white")
    ramp = colorize(np.tile(np.linspace(0, vmax, width - 2 * margin), (bar_height, 1)), vmax)
    canvas.paste(Image.fromarray(ramp), (margin, bar_top))
    draw = ImageDraw.Draw(canvas)
    font = _font(12)
    draw.text((margin, 3), "|output - ground truth|, same scale for every map", fill="black", font=font)
    for fraction in (0, 0.25, 0.5, 0.75, 1.0):
        x = margin + fraction * (width - 2 * margin - 1)
        draw.line([(x, bar_top + bar_height), (x, bar_top + bar_height + 4)], fill="black")
        value = fraction * vmax
        label = f"{value:.3g} ({value * 255:.0f}/255)" if fraction in (0.5, 1.0) else f"{value:.3g}"
        text_width = draw.textlength(label, font=font)
        draw.text((min(max(x - text_width / 2, 0), width - text_width), bar_top + bar_height + 6), label,
                  fill="black", font=font)
    return np.asarray(canvas)


def crop_box(height: int, width: int, cx: float, cy: float, size: int) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of a ``size`` square centred near (cx, cy), kept inside the image."""
    size = int(max(4, min(size, height, width)))
    left = int(round(min(max(cx - size / 2, 0), width - size)))
    top = int(round(min(max(cy - size / 2, 0), height - size)))
    return top, left, top + size, left + size


def crop(image: np.ndarray, box: tuple[int, int, int, int], display: int = 256) -> np.ndarray:
    """The box of ``image``, enlarged with nearest-neighbour (pixels stay visible) to ~``display`` px."""
    top, left, bottom, right = box
    piece = image[top:bottom, left:right]
    factor = max(1, display // max(piece.shape[:2]))
    return np.repeat(np.repeat(piece, factor, axis=0), factor, axis=1)


def outline(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """``image`` (float or uint8) as uint8 with the crop box drawn on it."""
    canvas = Image.fromarray(image if image.dtype == np.uint8 else to_uint8(image))
    top, left, bottom, right = box
    width = max(1, round(max(canvas.size) / 300))
    ImageDraw.Draw(canvas).rectangle([left - width, top - width, right + width - 1, bottom + width - 1],
                                     outline=(255, 40, 40), width=width)
    return np.asarray(canvas)


# ---- no-reference sharpness and the perception-distortion plane ------------------------------

def radial_spectrum(image: np.ndarray, bins: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies in cycles/pixel, mean power in dB) of a luma image, averaged over rings.

    A Hann window first, so the image's borders do not add a cross of false high frequencies.
    """
    luma = rgb_to_y(image) if image.ndim == 3 else np.asarray(image, dtype=np.float64)
    height, width = luma.shape
    window = np.outer(np.hanning(height), np.hanning(width))
    power = np.abs(np.fft.fftshift(np.fft.fft2(luma * window))) ** 2 / window.sum() ** 2
    fy = np.fft.fftshift(np.fft.fftfreq(height))[:, None]
    fx = np.fft.fftshift(np.fft.fftfreq(width))[None, :]
    radius = np.hypot(fy, fx)
    edges = np.linspace(0, 0.5, bins + 1)
    index = np.digitize(radius.ravel(), edges) - 1
    valid = (index >= 0) & (index < bins)
    total = np.bincount(index[valid], weights=power.ravel()[valid], minlength=bins)
    count = np.bincount(index[valid], minlength=bins)
    mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return (edges[:-1] + edges[1:]) / 2, 10 * np.log10(np.maximum(mean, 1e-20))


# The two comparison plots are plain plotly JSON dicts ({"data": [...], "layout": {...}}): building
# them through plotly.graph_objects validates every property, a noticeable share of a comparison's time.
_AXIS = {"gridcolor": "#e5e5e5", "zerolinecolor": "#cccccc", "linecolor": "#888888", "automargin": True}


def _figure(traces: list[dict], title: str, x: str, y: str, **layout) -> dict:
    base = {"title": {"text": title, "font": {"size": 14}}, "height": 380, "template": None,
            "margin": {"l": 60, "r": 20, "t": 50, "b": 50}, "plot_bgcolor": "white", "paper_bgcolor": "white",
            "xaxis": dict(_AXIS, title={"text": x}), "yaxis": dict(_AXIS, title={"text": y}),
            "legend": {"font": {"size": 11}}}
    base.update(layout)
    return {"data": traces, "layout": base}


def _finite(values) -> list:
    return [float(v) if v is not None and math.isfinite(float(v)) else None for v in values]


def perception_distortion_figure(points: list[dict], reference_sharpness: float | None, metric_label: str) -> dict:
    """One point per model: x = sharpness (no reference), y = PSNR (absent in no-reference mode)."""
    scored = bool(points) and all(p.get("psnr") is not None for p in points)
    traces = []
    for p in points:
        hover = f"{p['name']}<br>sharpness %{{x:.2f}}" + ("<br>%{y:.2f} dB" if scored else "") + "<extra></extra>"
        traces.append({"type": "scatter", "x": _finite([p["sharpness"]]), "y": _finite([p["psnr"] if scored else 0]),
                       "mode": "markers+text", "name": p["name"], "text": [p["name"]], "textposition": "top center",
                       "marker": {"size": 12, "symbol": p.get("symbol", "circle")}, "hovertemplate": hover})
    shapes, annotations = [], []
    if reference_sharpness is not None and math.isfinite(reference_sharpness):
        shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": reference_sharpness, "x1": reference_sharpness,
                       "y0": 0, "y1": 1, "line": {"dash": "dash", "color": "gray"}})
        annotations.append({"x": reference_sharpness, "xref": "x", "y": 0, "yref": "paper", "text": "ground truth sharpness",
                            "showarrow": False, "xanchor": "left", "yanchor": "bottom", "font": {"color": "gray"}})
    x_label = "sharpness: mean luma gradient (no reference)"
    if scored:
        return _figure(traces, "Perception–distortion: fidelity (up) vs sharpness (right)", x_label,
                       f"{metric_label} (dB)", showlegend=False, shapes=shapes, annotations=annotations)
    figure = _figure(traces, "Sharpness of each output (no reference: no PSNR)", x_label, "", showlegend=False,
                     shapes=shapes, annotations=annotations)
    figure["layout"]["yaxis"]["visible"] = False
    return figure


def spectrum_figure(curves: dict[str, tuple[np.ndarray, np.ndarray]], of_error: bool) -> dict:
    traces = [{"type": "scatter", "x": _finite(freq), "y": _finite(power), "mode": "lines", "name": name,
               "line": {"dash": "dot"} if name.startswith("input") else {}} for name, (freq, power) in curves.items()]
    x_label = "spatial frequency (cycles/pixel; 0.5 = finest detail)"
    if of_error:
        return _figure(traces, "Radial spectrum of the error (output − ground truth)", x_label, "error power (dB)")
    return _figure(traces, "Radial spectrum of each output (no reference)", x_label, "power (dB)")
