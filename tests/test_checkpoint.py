"""studio.checkpoint: safetensors weights + card, no unpickling, exact training-state resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import studio.checkpoint as checkpoint
from models.srresnet import SRResNet
from studio.checkpoint import (
    CARD_FILE,
    WEIGHTS_FILE,
    CheckpointError,
    count_parameters,
    load_tensors,
    load_training_state,
    load_weights,
    read_card,
    save_model,
    save_tensors,
    save_training_state,
    update_card,
)

SMALL = dict(scale=4, channels=8, num_blocks=2)


def _small_model(seed: int, **overrides) -> SRResNet:
    torch.manual_seed(seed)
    return SRResNet(**dict(SMALL, **overrides)).eval()


def _no_tmp_files(folder) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


def test_save_model_then_load_weights_gives_identical_outputs(tmp_path):
    model = _small_model(0)
    folder = save_model(model, tmp_path / "srresnet-small", {"name": "srresnet-small", "architecture": SMALL})
    assert (folder / WEIGHTS_FILE).is_file() and (folder / CARD_FILE).is_file()

    fresh = _small_model(1)
    x = torch.rand(1, 3, 12, 10, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        assert not torch.equal(fresh(x), model(x))  # different random init before loading
        load_weights(fresh, folder / WEIGHTS_FILE)
        assert torch.equal(fresh(x), model(x))
    for key, value in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value)
    assert _no_tmp_files(tmp_path)


def test_card_written_with_parameters(tmp_path):
    model = _small_model(0)
    folder = save_model(model, tmp_path / "m", {"name": "m", "task": "sr", "scale": 4})
    card = json.loads((folder / CARD_FILE).read_text())
    assert card == {"name": "m", "task": "sr", "scale": 4, "parameters": count_parameters(model)}
    assert card["parameters"] == sum(p.numel() for p in model.parameters()) > 0
    assert read_card(folder) == card
    _, meta = load_tensors(folder / WEIGHTS_FILE)
    assert meta == {"name": "m"}


def test_update_card(tmp_path):
    folder = save_model(_small_model(0), tmp_path / "m", {"name": "m"})
    updated = update_card(folder, psnr_y=28.5, name="m")
    assert updated["psnr_y"] == 28.5
    assert read_card(folder)["psnr_y"] == 28.5 and "parameters" in read_card(folder)
    assert _no_tmp_files(tmp_path)


def test_read_card_errors(tmp_path):
    with pytest.raises(CheckpointError, match="card not found"):
        read_card(tmp_path)
    (tmp_path / CARD_FILE).write_text("{not json")
    with pytest.raises(CheckpointError, match="malformed"):
        read_card(tmp_path)


def test_save_and_load_tensors_with_metadata(tmp_path):
    tensors = {"a": torch.arange(6, dtype=torch.float32).reshape(2, 3).t(),  # non-contiguous
               "b": torch.tensor(3, dtype=torch.int64)}
    path = save_tensors(tensors, tmp_path / "deep" / "t.safetensors", metadata={"x": [1, 2], "s": "ok"})
    loaded, meta = load_tensors(path)
    assert set(loaded) == {"a", "b"}
    assert torch.equal(loaded["a"], tensors["a"]) and torch.equal(loaded["b"], tensors["b"])
    assert meta == {"x": [1, 2], "s": "ok"}
    assert _no_tmp_files(tmp_path)


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".ckpt", ".PT"])
def test_pickle_checkpoints_are_refused(tmp_path, suffix):
    path = tmp_path / f"model{suffix}"
    torch.save(_small_model(0).state_dict(), path)
    with pytest.raises(CheckpointError, match="pickle"):
        load_tensors(path)
    with pytest.raises(CheckpointError, match="pickle"):
        load_weights(_small_model(0), path)


def test_pickle_file_renamed_to_safetensors_is_not_unpickled(tmp_path):
    path = tmp_path / "sneaky.safetensors"
    torch.save({"w": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="not a valid safetensors"):
        load_tensors(path)


def test_corrupt_safetensors_is_refused(tmp_path):
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(np.random.default_rng(0).bytes(300))
    with pytest.raises(CheckpointError, match="not a valid safetensors"):
        load_tensors(garbage)
    good = save_tensors({"w": torch.rand(64, 64)}, tmp_path / "good.safetensors")
    data = good.read_bytes()
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a valid safetensors"):
        load_tensors(truncated)
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError):
        load_tensors(empty)


def test_missing_weights_file(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_tensors(tmp_path / "absent.safetensors")


def test_wrong_architecture_names_the_mismatch(tmp_path):
    folder = save_model(_small_model(0), tmp_path / "m", {"name": "m"})
    wider = _small_model(0, channels=16)
    with pytest.raises(CheckpointError) as info:
        load_weights(wider, folder / WEIGHTS_FILE)
    message = str(info.value)
    assert "SRResNet" in message and "wrong shape ['head.0.weight'" in message

    deeper = _small_model(0, num_blocks=3)
    with pytest.raises(CheckpointError) as info:
        load_weights(deeper, folder / WEIGHTS_FILE)
    assert "missing ['body.2." in str(info.value)

    shallower = _small_model(5, num_blocks=1)
    before = {k: v.clone() for k, v in shallower.state_dict().items()}
    with pytest.raises(CheckpointError) as info:
        load_weights(shallower, folder / WEIGHTS_FILE)
    assert "unexpected ['body.1." in str(info.value)
    # The model keeps its own weights when loading fails (nothing is half-loaded).
    assert all(torch.equal(before[k], v) for k, v in shallower.state_dict().items())


def _train_steps(model, optimizer, scheduler, steps: int, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        lr = torch.rand(2, 3, 8, 8, generator=generator)
        loss = (model(lr) - 0.5).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()


def test_training_state_round_trip_is_exact(tmp_path):
    model = _small_model(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.8, 0.95))
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    _train_steps(model, optimizer, scheduler, 3, seed=1)
    torch.manual_seed(42)
    torch.rand(7)  # move the RNG somewhere non-trivial
    path = save_training_state(tmp_path / "run" / "state.safetensors", {"generator": model},
                               {"generator": optimizer}, {"generator": scheduler}, {"step": 3, "best": 27.5})
    expected_random = torch.rand(5)
    assert _no_tmp_files(tmp_path)

    # Continue the original for two more steps.
    _train_steps(model, optimizer, scheduler, 2, seed=9)

    # A fresh model/optimizer/scheduler, with the RNG elsewhere, restored from the file.
    torch.manual_seed(0)
    restored = _small_model(7)
    restored_opt = torch.optim.Adam(restored.parameters(), lr=1e-3, betas=(0.8, 0.95))
    restored_sched = torch.optim.lr_scheduler.StepLR(restored_opt, step_size=2, gamma=0.5)
    extra = load_training_state(path, {"generator": restored}, {"generator": restored_opt},
                                {"generator": restored_sched})
    assert extra == {"step": 3, "best": 27.5}
    assert torch.equal(torch.rand(5), expected_random)  # RNG state restored exactly

    state = restored_opt.state_dict()
    assert len(state["state"]) == len(list(restored.parameters()))
    assert float(state["state"][0]["step"]) == 3.0
    assert restored_sched.last_epoch == 3
    assert restored_opt.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.5)

    _train_steps(restored, restored_opt, restored_sched, 2, seed=9)
    for key, value in model.state_dict().items():
        assert torch.equal(restored.state_dict()[key], value), key
    original_state = optimizer.state_dict()["state"]
    for param_id, entries in restored_opt.state_dict()["state"].items():
        for name, value in entries.items():
            assert torch.equal(value, original_state[param_id][name]), (param_id, name)
    assert restored_opt.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]


def test_interrupted_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = save_tensors({"w": torch.ones(3)}, tmp_path / "state.safetensors", metadata={"v": 1})

    def crash(tensors, filename, metadata=None):
        with open(filename, "wb") as handle:
            handle.write(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "save_file", crash)
    with pytest.raises(KeyboardInterrupt):
        save_tensors({"w": torch.zeros(3)}, path, metadata={"v": 2})
    tensors, meta = load_tensors(path)
    assert torch.equal(tensors["w"], torch.ones(3)) and meta == {"v": 1}


def test_fp16_storage_halves_the_file_and_loads_back_into_fp32(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(16, 64, 3), torch.nn.BatchNorm2d(64))
    save_model(model, tmp_path / "fp32", {"name": "m"})
    save_model(model, tmp_path / "fp16", {"name": "m"}, dtype=torch.float16)
    size = lambda name: (tmp_path / name / "model.safetensors").stat().st_size  # noqa: E731
    assert size("fp16") < 0.6 * size("fp32")
    assert read_card(tmp_path / "fp16")["stored_dtype"] == "float16"
    loaded = torch.nn.Sequential(torch.nn.Conv2d(16, 64, 3), torch.nn.BatchNorm2d(64))
    load_weights(loaded, tmp_path / "fp16" / "model.safetensors")
    for (name, ours), theirs in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert theirs.dtype == ours.dtype, name  # cast back; the integer batch counter stays integer
        assert torch.allclose(theirs.float(), ours.float(), rtol=1e-3, atol=1e-4), name
