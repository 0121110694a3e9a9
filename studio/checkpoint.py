"""Checkpoints: safetensors weights + a JSON model card. Loading never unpickles.

A shipped model is a folder ``checkpoints/<name>/`` with ``model.safetensors`` and
``card.json``. Training state (model, optimizers, schedulers, RNG, step) is one
``state.safetensors`` whose JSON parts travel in the safetensors metadata, written through a
temporary file and ``os.replace`` so an interrupted write never leaves a half file behind.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "card.json"
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unsafe or does not fit the model; the message says which."""


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def save_tensors(tensors: dict[str, torch.Tensor], path, metadata: dict | None = None) -> Path:
    """Atomically write tensors (made contiguous, on CPU) with JSON-able metadata."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    meta = {"json": json.dumps(metadata or {})}
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)
    return path


def load_tensors(path) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a safetensors file; refuse pickle-based formats with a clear message."""
    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise CheckpointError(
            f"{path}: pickle-based checkpoints are refused (they can run arbitrary code); "
            "convert it to .safetensors first"
        )
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        tensors = load_file(str(path))
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: not a valid safetensors file ({err})") from None
    return tensors, json.loads(meta.get("json", "{}"))


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def save_model(model: torch.nn.Module, folder, card: dict, dtype: torch.dtype | None = None) -> Path:
    """Export weights and card to ``folder`` (the card gains ``parameters``).

    ``dtype`` (e.g. ``torch.float16``) stores the floating-point weights at that precision to halve
    the file; ``load_weights`` casts them back to the model's own dtype, and the card says so."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    card = dict(card, parameters=count_parameters(model))
    state = model.state_dict()
    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
        card["stored_dtype"] = str(dtype).removeprefix("torch.")
    save_tensors(state, folder / WEIGHTS_FILE, metadata={"name": card.get("name")})
    _atomic_write_text(folder / CARD_FILE, json.dumps(card, indent=2) + "\n")
    return folder


def read_card(folder) -> dict:
    path = Path(folder) / CARD_FILE
    if not path.is_file():
        raise CheckpointError(f"{path}: model card not found")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: malformed model card ({err})") from None


def update_card(folder, **fields) -> dict:
    card = read_card(folder)
    card.update(fields)
    _atomic_write_text(Path(folder) / CARD_FILE, json.dumps(card, indent=2) + "\n")
    return card


def load_weights(model: torch.nn.Module, path, prefix: str = "") -> torch.nn.Module:
    """Load safetensors weights into ``model`` strictly, with a readable mismatch error.

    ``prefix``: take only the keys that start with it, without it (``module.g.`` reads the
    generator out of a training state).
    """
    tensors, _ = load_tensors(path)
    if prefix:
        tensors = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong = [k for k in expected if k in tensors and tensors[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        raise CheckpointError(
            f"{path}: weights do not fit {type(model).__name__} "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]}, wrong shape {wrong[:3]})"
        )
    model.load_state_dict(tensors)
    return model


# ---- training state -------------------------------------------------------------------------

def _flatten_optimizer(prefix: str, state: dict, tensors: dict) -> dict:
    """Optimizer state_dict -> tensors (in ``tensors``) + a JSON-able remainder."""
    rest = {"param_groups": state["param_groups"], "state": {}}
    for param_id, entries in state["state"].items():
        rest["state"][str(param_id)] = {}
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}.{param_id}.{key}"] = value
                rest["state"][str(param_id)][key] = "__tensor__"
            else:
                rest["state"][str(param_id)][key] = value
    return rest


def _unflatten_optimizer(prefix: str, rest: dict, tensors: dict) -> dict:
    state = {}
    for param_id, entries in rest["state"].items():
        state[int(param_id)] = {
            key: tensors[f"{prefix}.{param_id}.{key}"] if value == "__tensor__" else value
            for key, value in entries.items()
        }
    return {"state": state, "param_groups": rest["param_groups"]}


def save_training_state(path, modules: dict, optimizers: dict, schedulers: dict, extra: dict) -> Path:
    tensors, meta = {}, {"extra": extra, "optimizers": {}, "schedulers": {}}
    for name, module in modules.items():
        for key, value in module.state_dict().items():
            tensors[f"module.{name}.{key}"] = value
    for name, optimizer in optimizers.items():
        meta["optimizers"][name] = _flatten_optimizer(f"optim.{name}", optimizer.state_dict(), tensors)
    for name, scheduler in schedulers.items():
        meta["schedulers"][name] = scheduler.state_dict()
    tensors["rng.torch"] = torch.get_rng_state()
    return save_tensors(tensors, path, metadata=meta)


def load_training_state(path, modules: dict, optimizers: dict, schedulers: dict) -> dict:
    tensors, meta = load_tensors(path)
    for name, module in modules.items():
        prefix = f"module.{name}."
        module.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
    for name, optimizer in optimizers.items():
        optimizer.load_state_dict(_unflatten_optimizer(f"optim.{name}", meta["optimizers"][name], tensors))
    for name, scheduler in schedulers.items():
        scheduler.load_state_dict(meta["schedulers"][name])
    torch.set_rng_state(tensors["rng.torch"])
    return meta["extra"]
