"""The tasks: how a clean image becomes a model input, what a model needs, and how it is scored.

Every task-specific decision lives in its ``TaskSpec``: the headline metric, the input's label,
the degradation controls, how a clean image becomes the model input (with what was applied), what
a model needs besides the image (e.g. the true kernel), how its models are built (SR: for a
scale) and how a degraded upload is prepared. ``studio.evaluation``, ``studio.restore`` and the
app ask the task and never test its name. A task's degradation controls are declared once (``Param``):
``TaskSpec.parse_params`` is where every value from the app, its API and the CLIs enters, so a
NaN, a string or an out-of-range number is refused there with a message that names the control.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from studio.deblur import degradation as blur_degradation
from studio.deblur.interface import needs_true_kernel
from studio.sr import degradation as sr_degradation
from studio.sr import real_degradation
from studio.imageio import quantize
from studio.metrics import psnr_up_to_shift, scores_up_to_shift, sharpness


class ParamError(ValueError):
    """A parameter value is unusable (not a number, NaN, out of range, unknown choice)."""


class MissingInput(ValueError):
    """A model needs something besides the image that this input does not provide (the true kernel)."""


@dataclass(frozen=True)
class Headline:
    """The scores a task reports first: SR uses the Y channel, as the literature does."""

    metric: str = "psnr"
    ssim: str = "ssim"
    label: str = "PSNR"
    ssim_label: str = "SSIM"

    @property
    def input_metric(self) -> str:
        return f"input_{self.metric}"

    @property
    def gain(self) -> str:
        return f"gain_{self.metric}"


#: the seed range: what numpy's generators accept, and what a JSON client can send exactly
MAX_SEED = 2**32 - 1


def parse_number(value, label: str, low: float | None = None, high: float | None = None,
                 integer: bool = False, odd: bool = False):
    """``value`` as a finite int (``integer``) or float within [low, high]; ``ParamError`` otherwise.

    Accepts Python/numpy numbers and numeric strings (what a form or a JSON client sends); a whole
    float (4.0) is a valid integer.
    """
    if isinstance(value, (bool, np.bool_)) or value is None:
        raise ParamError(f"{label} must be a number, got {value!r}")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise ParamError(f"{label} must be a number, got {value!r}") from None
    if isinstance(value, (int, np.integer)):
        number = int(value)
    elif isinstance(value, (float, np.floating)):
        number = float(value)
        if not math.isfinite(number):
            raise ParamError(f"{label} must be a finite number, got {number}")
        if integer:
            if not number.is_integer():
                raise ParamError(f"{label} must be a whole number, got {number:g}")
            number = int(number)
    else:
        raise ParamError(f"{label} must be a number, got {type(value).__name__}")
    if (low is not None and number < low) or (high is not None and number > high):
        bounds = (f"between {low:g} and {high:g}" if low is not None and high is not None
                  else f"at least {low:g}" if low is not None else f"at most {high:g}")
        raise ParamError(f"{label} must be {bounds}, got {number:g}")
    if odd and number % 2 == 0:
        raise ParamError(f"{label} must be odd, got {number}")
    return number if integer else float(number)


def parse_seed(value) -> int:
    """A seed from a form or a CLI: a whole number in [0, 2^32 - 1]; empty means 0."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return 0
    return parse_number(value, "seed", 0, MAX_SEED, integer=True)


@dataclass(frozen=True)
class Param:
    """One degradation control of a task: its type, default and range (the app's controls are
    built from these, and ``TaskSpec.parse_params`` enforces them)."""

    name: str
    label: str
    kind: str  # "int" | "float" | "choice" | "choices"
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple = ()
    odd: bool = False
    step: float | None = None  # the app slider's step (a display hint, not enforced)
    #: how the page shows it (display hints, not enforced): a longer label, a label per choice,
    #: the value it starts at when that differs from ``default``, "radio" for a few whole numbers
    ui_label: str = ""
    choice_labels: tuple = ()
    ui_default: Any = None
    widget: str = ""

    def parse(self, value):
        if self.kind in ("int", "float"):
            return parse_number(value, self.label, self.low, self.high, integer=self.kind == "int", odd=self.odd)
        if self.kind == "choice":
            if not isinstance(value, str) or value not in self.choices:
                raise ParamError(f"{self.label} must be one of {', '.join(map(str, self.choices))}, got {value!r}")
            return value
        if self.kind == "choices":
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, (list, tuple)):
                raise ParamError(f"{self.label} must be a list of {', '.join(self.choices)}, got {value!r}")
            unknown = [v for v in items if not isinstance(v, str) or v not in self.choices]
            if unknown:
                raise ParamError(f"{self.label}: unknown {unknown}; choose among {', '.join(self.choices)}")
            return list(dict.fromkeys(items))
        raise AssertionError(self.kind)


@dataclass
class TaskSpec:
    name: str
    title: str
    #: clean image -> clean image cropped to what the protocol scores (e.g. SR mod-crop)
    prepare_clean: Callable[..., np.ndarray]
    #: (clean, rng, **params) -> degraded model input
    degrade: Callable[..., np.ndarray]
    #: degraded input -> an image the size of the clean one (what "input PSNR" is measured on)
    input_reference: Callable[..., np.ndarray]
    #: pixels cropped from each border before scoring
    border: Callable[..., int]
    #: output / input size ratio
    scale: Callable[..., int]
    input_reference_name: str = "input"
    #: optional (clean, rng, **params) -> (degraded, info): like ``degrade`` but also returns what
    #: was applied (e.g. {"kernel": array, "kernel_name": str}); ``info["kernel"]`` reaches models
    #: that declare ``needs_kernel`` (oracle deconvolution)
    degrade_info: Callable[..., tuple[np.ndarray, dict]] | None = None
    #: optional (clean_path, degraded_path) -> info known about a real pair (e.g. its true kernel)
    pair_info: Callable[[Path, Path], dict] | None = None
    #: real pairs may name the degraded file "<clean stem>_<anything>" (levin2009's im_1_ker_3)
    match_prefix: bool = False
    #: optional (output, clean) -> {column: score}: figures this task adds to every evaluation row
    #: (computed for the input reference too, as ``input_<column>``)
    extra_scores: Callable[[np.ndarray, np.ndarray], dict] | None = None
    #: the degradation controls a caller may set (the app's controls, the API, the CLIs)
    params: tuple[Param, ...] = ()
    headline: Headline = Headline()
    #: (params, info, degraded, seed) -> one line saying what the degradation did
    describe: Callable[..., str] | None = None
    #: (degraded size as text, params) -> the label of the input in a comparison
    input_label: Callable[..., str] | None = None
    #: the models take a gray photo: an uploaded colour photo to restore is converted first
    gray_input: bool = False
    #: the models are built for the ``scale`` parameter (and refuse another than they were trained for)
    scaled_models: bool = False
    #: the evaluation's dataset column: a generic folder name (``sharp``, ``gt``) gives way to its parent
    dataset_from_parent: bool = True
    #: its outputs can be upscaled x4 by the SR models (``studio.restoration.chain``: restoration works at 128 px)
    upscale_chain: bool = False

    def param(self, name: str) -> Param:
        return next(p for p in self.params if p.name == name)

    def make_input(self, clean: np.ndarray, rng=None, **params) -> tuple[np.ndarray, dict]:
        """(model input, what was applied): the degradation with its parameters, the true kernel, ..."""
        if self.degrade_info is not None:
            return self.degrade_info(clean, rng, **params)
        return self.degrade(clean, rng, **params), {}

    def model_inputs(self, model, info: dict) -> dict:
        """The keyword arguments ``model`` needs besides the image, from what is known about the
        input (``info``); ``MissingInput`` says what is missing. Models that declare
        are ``TrueKernelModel``s (oracle deconvolution) receive the true kernel."""
        if needs_true_kernel(model):
            if info.get("kernel") is None:
                raise MissingInput("needs the true blur kernel, which only a synthetic blur or a dataset "
                                   "with known kernels (levin2009) provides")
            return {"kernel": info["kernel"]}
        return {}

    def model_overrides(self, scale: int = 4) -> dict:
        """Architecture settings a model of this task is built with (SR: the scale)."""
        return {"scale": scale} if self.scaled_models else {}

    def label_input(self, degraded_size: str, **params) -> str:
        if self.input_label is not None:
            return self.input_label(degraded_size, **params)
        return "input" + (f" ({self.input_reference_name})" if self.input_reference_name != "input" else "")

    def describe_applied(self, params: dict, info: dict, degraded: np.ndarray, seed: int) -> str:
        if self.describe is not None:
            return self.describe(params, info, degraded, seed)
        return str(info.get("degradation") or f"degraded with the {self.title.lower()} protocol; seed {seed}")

    def dataset_name(self, clean_dir) -> str:
        """The dataset column of an evaluation: the folder's name, or its parent's for a generic one
        (levin2009/sharp is levin2009)."""
        path = Path(clean_dir)
        if self.dataset_from_parent and path.name.lower() in GENERIC_FOLDERS and path.resolve().parent.name:
            return path.resolve().parent.name
        return path.name

    def parse_params(self, values: dict | None = None) -> dict:
        """The checked, typed parameters of ``values``; ``ParamError`` names the first bad one.

        A key given as None (or absent) keeps the task's own default, which for some tasks is not
        a fixed value (restoration without parameters is the benchmark setting)."""
        values = {k: v for k, v in dict(values or {}).items() if v is not None}
        known = {p.name: p for p in self.params}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ParamError(f"unknown parameter(s) {', '.join(map(str, unknown))} for {self.title}; "
                             f"it takes {', '.join(known) or 'none'}")
        return {name: known[name].parse(value) for name, value in values.items()}


def _sr_input_reference(lr: np.ndarray, scale: int = 4, **_) -> np.ndarray:
    # An LR image cannot be compared with the HR one directly; the literature's reference for
    # "no model at all" is bicubic upscaling, so the SR gain is always measured against it.
    return quantize(sr_degradation.upscale_bicubic(lr, scale))


#: how the SR task makes a low-resolution input: studio.sr.degradation or studio.sr.real_degradation
SR_DEGRADATIONS = ("bicubic", "real")


def _sr_degrade_info(clean: np.ndarray, rng=None, scale: int = 4, degradation: str = "bicubic",
                     **_) -> tuple[np.ndarray, dict]:
    """The low-resolution input of ``clean``: the bicubic protocol, or a real-photo degradation drawn
    from ``rng`` (its every choice in ``info["degradation"]``, one line)."""
    if degradation == "real":
        lr, choices = real_degradation.degrade(clean, rng if rng is not None else np.random.default_rng(0), scale)
        return lr, {"degradation": real_degradation.describe(choices)}
    if degradation != "bicubic":
        raise ValueError(f"unknown SR degradation {degradation!r}; expected one of {', '.join(SR_DEGRADATIONS)}")
    return sr_degradation.downscale(clean, scale), {}


def _describe_sr(params: dict, info: dict, degraded: np.ndarray, seed: int) -> str:
    scale = params.get("scale", 4)
    if params.get("degradation") == "real":
        return f"real-photo degradation x{scale} to {_size_text(degraded)} (seed {seed}): {info.get('degradation', '')}"
    return f"downscaled x{scale} (MATLAB bicubic) to {_size_text(degraded)}"


#: folder names that say nothing about the dataset (``TaskSpec.dataset_name``)
GENERIC_FOLDERS = {"sharp", "clean", "gt", "hr", "ground_truth", "groundtruth", "target", "images"}


def _size_text(image: np.ndarray) -> str:
    return f"{image.shape[1]}×{image.shape[0]} px"


def _describe_deblur(params: dict, info: dict, degraded: np.ndarray, seed: int) -> str:
    return (f"blurred with kernel {info.get('kernel_name', '?')} ({np.asarray(info.get('kernel')).shape[0]} px), "
            f"Gaussian noise σ {info.get('noise_sigma', 0):g}, 8-bit rounding; seed {seed}")


#: kernel choices of ``_deblur_degrade_info`` besides the evaluation protocol (the app's controls)
DEBLUR_KERNELS = ("evaluation", *(f"levin-{name}" for name in blur_degradation.LEVIN_NAMES), "linear", "shake")


def _deblur_degrade_info(clean: np.ndarray, rng=None, blur_kernel: str | None = None, blur_length: float = 15.0,
                         blur_angle: float = 0.0, noise_sigma: float | None = None, **_) -> tuple[np.ndarray, dict]:
    """Blur ``clean`` and say how. Without ``blur_kernel`` (or "evaluation"): the evaluation protocol
    (kernels never used in training: Levin k1..k8 and the fixed evaluation trajectories, see
    ``studio.deblur.degradation.KERNEL_SPLIT``), fixed noise, 8 bits. A user's choice instead:
    "levin-k1".."levin-k8", "linear" (``blur_length`` px at ``blur_angle`` degrees) or "shake" (a random
    camera-shake trajectory of extent ``blur_length`` drawn from ``rng``); ``noise_sigma`` (default: the
    protocol's) is the added Gaussian noise."""
    rng = rng if rng is not None else np.random.default_rng(0)
    sigma = blur_degradation.EVAL_NOISE_SIGMA if noise_sigma is None else float(noise_sigma)
    if blur_kernel in (None, "", "evaluation"):
        result = blur_degradation.synthesize_eval_blur(clean, rng, noise_sigma=sigma)
    elif blur_kernel.startswith("levin-") and blur_kernel[6:] in blur_degradation.LEVIN_NAMES:
        kernel = blur_degradation.load_levin_kernels()[blur_kernel[6:]]
        result = blur_degradation.apply_blur(clean, kernel, rng, sigma, kernel_name=blur_kernel)
    elif blur_kernel == "linear":
        kernel = blur_degradation.linear_kernel(blur_length, blur_angle)
        result = blur_degradation.apply_blur(clean, kernel, rng, sigma, kernel_name=f"linear-{blur_length:g}px-{blur_angle:g}deg",
                                             params={"length_px": float(blur_length), "angle_deg": float(blur_angle)})
    elif blur_kernel == "shake":
        # a path of length L centred on its centroid fits in 2L + 3 px, whatever its shape
        kernel, params = blur_degradation.trajectory_kernel(rng, length=float(blur_length), min_size=3,
                                                            max_size=2 * math.ceil(blur_length) + 3)
        result = blur_degradation.apply_blur(clean, kernel, rng, sigma, kernel_name=f"shake-{blur_length:g}px", params=params)
    else:
        raise ValueError(f"unknown blur kernel {blur_kernel!r}; expected one of {', '.join(DEBLUR_KERNELS)}")
    return result.image, {"kernel": result.kernel, "kernel_name": result.kernel_name,
                          "noise_sigma": result.noise_sigma}


def _deblur_pair_info(clean_path: Path, degraded_path: Path) -> dict:
    # The true kernel is known for levin2009 (im_X_ker_Y was blurred with kY); only there.
    if "levin" not in str(Path(degraded_path).resolve().parent.parent).lower():
        return {}
    found = blur_degradation.levin_kernel_for(Path(degraded_path).stem)
    return {"kernel_name": found[0], "kernel": found[1]} if found else {}


TASKS: dict[str, TaskSpec] = {
    "sr": TaskSpec(
        name="sr",
        title="Super-resolution",
        prepare_clean=lambda clean, scale=4, **_: sr_degradation.mod_crop(clean, scale),
        degrade=lambda clean, rng=None, **params: _sr_degrade_info(clean, rng, **params)[0],
        degrade_info=_sr_degrade_info,
        input_reference=_sr_input_reference,
        border=lambda scale=4, **_: int(scale),
        scale=lambda scale=4, **_: int(scale),
        input_reference_name="bicubic-upscaled input",
        params=(Param("scale", "SR scale", "int", 4, min(sr_degradation.SCALES), max(sr_degradation.SCALES),
                      ui_label="SR scale (the learned models are trained for x4 only)", widget="radio"),
                Param("degradation", "low-resolution degradation", "choice", "bicubic", choices=SR_DEGRADATIONS,
                      ui_label="How the low-resolution photo is made (clean-photo mode)",
                      choice_labels=("bicubic downscale (the benchmarks' protocol)",
                                     "real-photo degradation: blur, resize, noise, JPEG, twice (drawn from the seed)"))),
        headline=Headline("psnr_y", "ssim_y", "PSNR-Y", "SSIM-Y"),
        # the perception axis: GAN outputs trade PSNR for edges and texture, which only a
        # no-reference measure shows (the border is cropped as for the scores)
        extra_scores=lambda output, clean: {"sharpness": sharpness(output, border=4)},
        describe=_describe_sr,
        input_label=lambda size, scale=4, **_: f"input (x{scale} bicubic view of the {size} low-res image)",
        scaled_models=True,
        dataset_from_parent=False,
    ),
    "deblur": TaskSpec(
        name="deblur",
        title="Motion deblurring",
        prepare_clean=lambda clean, **_: clean,
        degrade=lambda clean, rng=None, **params: _deblur_degrade_info(clean, rng, **params)[0],
        input_reference=lambda blurred, **_: blurred,  # the blurred input itself is the baseline
        border=lambda **_: 0,
        scale=lambda **_: 1,
        input_reference_name="blurred input",
        degrade_info=_deblur_degrade_info,
        pair_info=_deblur_pair_info,
        match_prefix=True,
        # up to a shift: blind deblurring recovers the kernel only up to a translation (integer steps, and
        # Levin et al.'s protocol on Y with quarter-pixel steps, as blind-deblurring tables report)
        extra_scores=lambda output, clean: {"psnr_shift": psnr_up_to_shift(output, clean),
                                            **{f"{k}_shift": v for k, v in scores_up_to_shift(output, clean).items()
                                               if k in ("psnr_y", "ssim_y")}},
        describe=_describe_deblur,
        params=(
            Param("blur_kernel", "blur kernel", "choice", "evaluation", choices=DEBLUR_KERNELS, ui_label="Blur kernel",
                  choice_labels=("evaluation protocol: a held-out kernel picked by the seed",
                                 *(f"Levin {name} (real camera shake)" for name in blur_degradation.LEVIN_NAMES),
                                 "straight motion: length and angle", "random camera shake: length (shape from the seed)"),
                  ui_default="levin-k2"),
            Param("blur_length", "blur length (px)", "float", 15.0, 3, 75, step=1,
                  ui_label="Blur length (px), for straight motion and camera shake"),
            Param("blur_angle", "blur angle (degrees)", "float", 30.0, 0, 180, step=5,
                  ui_label="Angle (degrees), for straight motion"),
            Param("noise_sigma", "noise sigma", "float", blur_degradation.EVAL_NOISE_SIGMA, 0, 0.05, step=0.001,
                  ui_label="Noise σ (on [0, 1])"),
            Param("max_kernel", "max kernel size (px)", "int", 75, 3, 75, odd=True, step=2,
                  ui_label="Max kernel size (px) of the blind models: they start at 31 px and grow up to this "
                           "where the blur is longer (both modes)"),
        ),
    ),
}


def get_task(name: str) -> TaskSpec:
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; available: {', '.join(TASKS)}")
    return TASKS[name]


def _restoration_degrade_info(clean: np.ndarray, rng=None, **params) -> tuple[np.ndarray, dict]:
    # No degradation parameter given: the fixed benchmark setting, its noise seed drawn from rng
    # (studio.evaluate seeds one generator per image). Otherwise the parameters given, the others
    # drawn from rng. ``info`` holds every parameter (degrade(clean, rng, **info_params) reproduces
    # the image) plus a one-line description.
    from studio.restoration import degradation as restoration

    rng = rng if rng is not None else np.random.default_rng(0)
    keys = {f for f in restoration.RestorationDegradation.__dataclass_fields__}
    given = {k: v for k, v in params.items() if k in keys and k != "size"}
    size = params.get("size", 128)
    if given:
        degraded, applied = restoration.degrade(clean, rng, **given, size=size)
    else:
        chosen = restoration.benchmark(rng, size=size)
        degraded, applied = restoration.apply(clean, chosen), chosen.params()
    described = restoration.RestorationDegradation(**applied).describe()
    return degraded, dict(applied, degradation=described, benchmark=restoration.is_benchmark(applied))


def _restoration_prepare_clean(clean: np.ndarray, size: int | None = 128, **_) -> np.ndarray:
    from studio.restoration import degradation as restoration

    return restoration.prepare_clean(clean, size)


def _gray_rgb(image: np.ndarray, **_) -> np.ndarray:
    # The degraded input is the "no model" reference; a gray file read from --degraded (HxW) is
    # replicated to three channels so it compares with the colour ground truth.
    return np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image


from studio.restoration.degradation import BENCHMARK as _RESTORATION_BENCHMARK  # noqa: E402
from studio.restoration.degradation import NOISE_TYPES as _NOISE_TYPES  # noqa: E402

TASKS["restoration"] = TaskSpec(
    name="restoration",
    title="Restoration of degraded grayscale photos to colour",
    prepare_clean=_restoration_prepare_clean,
    degrade=lambda clean, rng=None, **params: _restoration_degrade_info(clean, rng, **params)[0],
    input_reference=_gray_rgb,
    border=lambda **_: 0,
    scale=lambda **_: 1,
    input_reference_name="degraded gray input",
    degrade_info=_restoration_degrade_info,
    gray_input=True,
    upscale_chain=True,
    params=(
        Param("noises", "noise types", "choices", _RESTORATION_BENCHMARK.noises, choices=_NOISE_TYPES,
              ui_label="Noise types"),
        Param("noise_level", "noise strength", "float", _RESTORATION_BENCHMARK.noise_level, 0, 0.3, step=0.01,
              ui_label="Noise strength"),
        Param("blur_sigma", "blur sigma (px)", "float", _RESTORATION_BENCHMARK.blur_sigma, 0, 3, step=0.1,
              ui_label="Blur σ (px)"),
        Param("jpeg_quality", "JPEG quality", "int", _RESTORATION_BENCHMARK.jpeg_quality, 0, 100, step=1,
              ui_label="JPEG quality (0 = no JPEG)"),
    ),
)
