"""studio.registry: names, builders, cards and weight loading (timm-style create_model)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import studio.registry as registry
from models.classical_sr import BicubicUpscaler, LanczosUpscaler
from models.srresnet import SRResNet
from studio.checkpoint import CARD_FILE, WEIGHTS_FILE, CheckpointError, save_model
from studio.registry import build_model, create_model, get_entry, list_models, model_card, register_model

SR_MODELS = {"bicubic", "lanczos", "srresnet", "srgan-v1", "srgan-v2", "srgan-v3"}


@pytest.fixture(autouse=True)
def empty_checkpoints(tmp_path, monkeypatch):
    """Every test sees its own empty checkpoints folder, whatever training has shipped."""
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    monkeypatch.setattr(registry, "CHECKPOINT_DIR", folder)
    return folder


@pytest.fixture
def scratch_registry(monkeypatch):
    """Registrations made by a test are undone afterwards."""
    list_models()  # make sure the model files have registered themselves first
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


def test_list_models_by_task():
    sr = list_models("sr")
    assert SR_MODELS <= set(sr)
    assert "vgg-mini" not in sr
    assert "vgg-mini" in list_models("classification")
    assert set(list_models()) >= SR_MODELS | {"vgg-mini"}
    assert all(get_entry(name).task == "sr" for name in sr)
    assert len(sr) == len(set(sr))


def test_unknown_model_lists_known_ones():
    with pytest.raises(KeyError) as info:
        get_entry("esrgan-9000")
    message = str(info.value)
    assert "esrgan-9000" in message
    for name in SR_MODELS:
        assert name in message


def test_register_twice_raises(scratch_registry):
    with pytest.raises(ValueError, match="already registered"):
        register_model("bicubic", "sr", BicubicUpscaler, dict(scale=4), learned=False)
    register_model("test-identity", "sr", nn.Identity)
    with pytest.raises(ValueError, match="already registered"):
        register_model("test-identity", "sr", nn.Identity)
    assert get_entry("test-identity").builder is nn.Identity


def test_register_unknown_task_raises(scratch_registry):
    with pytest.raises(ValueError, match="unknown task"):
        register_model("test-inpainter", "inpaint", nn.Identity)
    assert "test-inpainter" not in list_models()


def test_scratch_registry_does_not_leak():
    assert "test-identity" not in list_models()


def test_entries_describe_themselves(empty_checkpoints):
    entry = get_entry("srresnet")
    assert entry.task == "sr" and entry.learned and entry.description
    assert entry.checkpoint_dir == empty_checkpoints / "srresnet"
    assert not get_entry("bicubic").learned and not get_entry("lanczos").learned


def test_build_model_class_and_config():
    model = build_model("srresnet")
    assert isinstance(model, SRResNet)
    config = get_entry("srresnet").config
    assert model.scale == config["scale"] == 4
    assert len(model.body) == config["num_blocks"]
    assert model.head[0].out_channels == config["channels"]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())

    v1 = build_model("srgan-v1")
    assert v1.output_activation == "sigmoid"
    assert any(isinstance(m, nn.BatchNorm2d) for m in v1.modules())
    assert build_model("srgan-v2").output_activation == "none"

    small = build_model("srresnet", channels=8, num_blocks=1, scale=2)
    assert (small.head[0].out_channels, len(small.body), small.scale) == (8, 1, 2)
    assert get_entry("srresnet").config["channels"] == config["channels"]  # overrides do not stick

    assert isinstance(build_model("bicubic"), BicubicUpscaler) and build_model("bicubic").scale == 4
    assert isinstance(build_model("lanczos", scale=2), LanczosUpscaler)


def test_create_model_without_weights_is_helpful(empty_checkpoints):
    with pytest.raises(CheckpointError) as info:
        create_model("srresnet")
    message = str(info.value)
    assert "srresnet" in message and "no trained weights" in message
    assert str(empty_checkpoints / "srresnet") in message
    assert "pretrained=False" in message
    with pytest.raises(CheckpointError, match="no trained weights"):
        create_model("srresnet", checkpoint=empty_checkpoints / "elsewhere")


def test_create_model_pretrained_false_gives_random_eval_model():
    model = create_model("srgan-v2", pretrained=False)
    assert isinstance(model, SRResNet) and not model.training


def test_create_model_loads_shipped_weights_and_card_config(empty_checkpoints):
    small = dict(scale=4, channels=8, num_blocks=1, norm="none", output_activation="none", image_skip=True)
    torch.manual_seed(3)
    trained = SRResNet(**small)
    save_model(trained, empty_checkpoints / "srresnet", {"name": "srresnet", "architecture": small, "scale": 4})

    assert isinstance(build_model("srresnet"), SRResNet)
    assert build_model("srresnet").head[0].out_channels == 8  # the card's architecture wins
    model = create_model("srresnet")
    assert not model.training
    for key, value in trained.state_dict().items():
        assert torch.equal(model.state_dict()[key], value)

    card = model_card("srresnet")
    assert card["name"] == "srresnet" and card["parameters"] > 0 and card["architecture"]["channels"] == 8


def test_create_model_from_explicit_checkpoint(tmp_path):
    config = dict(get_entry("srgan-v3").config)
    torch.manual_seed(11)
    trained = SRResNet(**config)
    folder = save_model(trained, tmp_path / "run" / "export", {"name": "srgan-v3"})
    for source in (folder, folder / WEIGHTS_FILE, str(folder)):
        model = create_model("srgan-v3", checkpoint=source)
        assert torch.equal(model.tail.conv.weight, trained.tail.conv.weight)


def test_create_model_wrong_card_architecture_fails_clearly(empty_checkpoints):
    torch.manual_seed(0)
    trained = SRResNet(channels=8, num_blocks=1)
    folder = save_model(trained, empty_checkpoints / "srgan-v2", {"name": "srgan-v2"})  # card lacks architecture
    assert (folder / CARD_FILE).is_file()
    with pytest.raises(CheckpointError, match="do not fit SRResNet"):
        create_model("srgan-v2")


def test_classical_models_need_no_weights(empty_checkpoints):
    for name in ("bicubic", "lanczos"):
        model = create_model(name)  # nothing in the checkpoints folder, and that is fine
        assert not model.training
        x = torch.full((1, 3, 6, 5), 0.25)
        out = model(x)
        assert out.shape == (1, 3, 24, 20)
        torch.testing.assert_close(out, torch.full_like(out, 0.25), atol=1e-5, rtol=0)
    assert not any(empty_checkpoints.iterdir())


def test_model_card_fallback():
    card = model_card("srgan-v1")
    assert card == {"name": "srgan-v1", "task": "sr", "architecture": get_entry("srgan-v1").config,
                    "description": get_entry("srgan-v1").description, "trained": False}
    assert model_card("bicubic")["trained"] is False
    with pytest.raises(KeyError):
        model_card("nope")
