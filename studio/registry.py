"""Model registry, in the spirit of timm's ``create_model``.

Each model file registers its names with a builder and a task; the files are found, not listed:
every module of the ``models`` package is imported on first use (``model_modules``). The trained
weights and the card live in ``checkpoints/<name>/``. ``create_model(name)`` builds the architecture from the
card's config (or the registered defaults) and loads the shipped weights.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from studio.checkpoint import CARD_FILE, WEIGHTS_FILE, CheckpointError, load_weights, read_card

ROOT = Path(__file__).resolve().parent.parent
CHECKPOINT_DIR = ROOT / "checkpoints"
#: every task a model can be registered for, and the command that trains a model of it
TRAINING_COMMANDS = {
    "sr": "python -m training.train_sr --preset {name}",
    "deblur": "python -m training.train_deblur --preset {name}",
    "restoration": "python -m training.train_restoration --preset {name}",
    "classification": "python -m training.train_classifier --model {name}",
    "denoise": "python -m training.train_denoiser",
}
TASKS = tuple(TRAINING_COMMANDS)
#: the package whose modules register the models when imported
MODELS_PACKAGE = "models"


def model_modules() -> list[str]:
    """Every module of ``MODELS_PACKAGE``, by name: importing them registers every model."""
    package = importlib.import_module(MODELS_PACKAGE)
    return [f"{MODELS_PACKAGE}.{info.name}" for info in pkgutil.iter_modules(package.__path__)]


@dataclass
class ModelEntry:
    name: str
    task: str
    builder: Callable[..., torch.nn.Module]
    config: dict = field(default_factory=dict)
    description: str = ""
    learned: bool = True  # False for classical baselines: nothing to train or load
    #: a pipeline whose only learned part is another registered model: (that model, the attribute
    #: of this one that holds it); its weights come from that model's checkpoint
    weights_from: tuple[str, str] | None = None
    #: what the Models tab teaches with it (figures as ``{fields}``, see ``studio.app.model_cards``)
    lesson: str = ""

    @property
    def checkpoint_dir(self) -> Path:
        return CHECKPOINT_DIR / self.name

    @property
    def weights_path(self) -> Path:
        """Where this model's trained weights are (or would be)."""
        owner = self.weights_from[0] if self.weights_from else self.name
        return CHECKPOINT_DIR / owner / WEIGHTS_FILE

    @property
    def training_command(self) -> str | None:
        """How to train it (None for a classical model); the card's own command when it has one."""
        return TRAINING_COMMANDS[self.task].format(name=self.name) if self.learned else None

    @property
    def has_weights(self) -> bool:
        """Whether this checkout can run it: classical, or its weights are shipped."""
        return (not self.learned) or self.weights_path.is_file()


_REGISTRY: dict[str, ModelEntry] = {}
_loaded = False


def register_model(name: str, task: str, builder, config: dict | None = None, description: str = "",
                   learned: bool = True, weights_from: tuple[str, str] | None = None, lesson: str = "") -> None:
    """Register ``name``: its builder, task and defaults, a one-paragraph description, and the lesson
    the studio's Models tab teaches with it (``studio.app.model_cards``: its ``{fields}`` are figures
    filled in from ``results/`` when shown)."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} is already registered")
    _REGISTRY[name] = ModelEntry(name, task, builder, dict(config or {}), description, learned, weights_from, lesson)


def _ensure_loaded() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for module in model_modules():
            importlib.import_module(module)


def get_entry(name: str) -> ModelEntry:
    _ensure_loaded()
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def list_models(task: str | None = None) -> list[str]:
    _ensure_loaded()
    return [name for name, entry in _REGISTRY.items() if task is None or entry.task == task]


def model_card(name: str) -> dict:
    """The shipped card, or a minimal one built from the registration."""
    entry = get_entry(name)
    if (entry.checkpoint_dir / CARD_FILE).is_file():
        return read_card(entry.checkpoint_dir)
    return {"name": name, "task": entry.task, "architecture": entry.config, "description": entry.description,
            "trained": False}


def build_model(name: str, **overrides) -> torch.nn.Module:
    """Architecture only, random weights (config from the card if shipped, else defaults)."""
    entry = get_entry(name)
    config = dict(entry.config)
    if (entry.checkpoint_dir / CARD_FILE).is_file():
        config.update(read_card(entry.checkpoint_dir).get("architecture", {}))
    config.update(overrides)
    return entry.builder(**config)


def create_model(name: str, pretrained: bool = True, checkpoint: str | Path | None = None) -> torch.nn.Module:
    """Build ``name`` and load its weights (shipped ones, or ``checkpoint`` folder/file)."""
    entry = get_entry(name)
    model = build_model(name)
    if entry.learned and (pretrained or checkpoint is not None):
        path = Path(checkpoint) if checkpoint is not None else entry.weights_path
        if path.is_dir():
            path = path / WEIGHTS_FILE
        if not path.is_file():
            owner = f" (the weights of {entry.weights_from[0]!r})" if entry.weights_from else ""
            raise CheckpointError(
                f"no trained weights for {name!r}{owner} at {path}; train it (see README) or pass pretrained=False"
            )
        load_weights(getattr(model, entry.weights_from[1]) if entry.weights_from else model, path)
    return model.eval()
