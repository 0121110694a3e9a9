"""The two protocol classifiers (dilated-cnn, resnet-dropout) and the folder-per-class data they
train on: shapes, exact parameter counts, the dilated/unpooled stage 3, Dropout2d in every block,
both dataset layouts on small generated folders, normalization from training statistics only,
and augmentation on training batches only."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

import studio.registry as registry
from models.dilated_cnn import DilatedCNN
from models.resnet_dropout import DropoutResidualBlock, ResNetDropout
from studio.registry import build_model, list_models
from training import train_classifier
from tests.protocol_fixtures import CLASSES, make_image_folder
from training.train_classifier import (ClassificationTask, augment, channel_stats, color_jitter,
                                       load_classifier_data, resized_crop_jitter, stratified_split)



@pytest.fixture(autouse=True)
def no_shipped_cards(tmp_path, monkeypatch):
    """Models are built from their registered defaults, whatever checkpoints/ holds."""
    monkeypatch.setattr(registry, "CHECKPOINT_DIR", tmp_path / "no-checkpoints")


@pytest.fixture
def eurosat(tmp_path):
    return make_image_folder(tmp_path / "eurosat")


# ---- models ----------------------------------------------------------------------------------

def conv_bn_params(in_ch, out_ch, k=3, bias=False):
    return k * k * in_ch * out_ch + (out_ch if bias else 0) + 2 * out_ch


def expected_dilated_params(blocks, classes):
    total, in_ch = 0, 3
    for width in (64, 128, 256):
        for _ in range(blocks):
            total += conv_bn_params(in_ch, width)
            in_ch = width
    return total + 256 * classes + classes


def test_classifiers_are_registered():
    names = list_models("classification")
    assert {"dilated-cnn", "resnet-dropout", "vgg-mini"} <= set(names)
    assert registry.get_entry("dilated-cnn").task == "classification"
    assert "dilated-cnn" not in list_models("sr")


@pytest.mark.parametrize("blocks", [2, 3])
@pytest.mark.parametrize("dilation", [2, 3])
def test_dilated_cnn_shapes_params_and_stage3(blocks, dilation):
    model = build_model("dilated-cnn", num_classes=10, blocks_per_stage=blocks, dilation=dilation).eval()
    assert isinstance(model, DilatedCNN)
    with torch.no_grad():
        assert model(torch.rand(2, 3, 64, 64)).shape == (2, 10)
        assert model(torch.rand(1, 3, 32, 32)).shape == (1, 10)  # fully convolutional up to the GAP
    # exact count: convs without bias + BN + head; the report's 2-block, 10-class model is ~1.15M
    assert sum(p.numel() for p in model.parameters()) == expected_dilated_params(blocks, 10)
    if blocks == 2:
        assert 1.1e6 < expected_dilated_params(2, 10) < 1.2e6
    stages = list(model.stages)
    convs = [[m for m in stage.modules() if isinstance(m, nn.Conv2d)] for stage in stages]
    assert [len(c) for c in convs] == [blocks] * 3
    for conv in convs[0] + convs[1]:
        assert conv.dilation == (1, 1) and conv.padding == (1, 1)
    for conv in convs[2]:
        assert conv.dilation == (dilation, dilation) and conv.padding == (dilation, dilation)
    pools = [[m for m in stage.modules() if isinstance(m, nn.MaxPool2d)] for stage in stages]
    assert [len(p) for p in pools] == [1, 1, 0]  # pooling after stages 1 and 2, none in stage 3
    assert all(isinstance(m, nn.BatchNorm2d) for stage in stages for block in stage
               if isinstance(block, nn.Sequential) for m in block if not isinstance(m, (nn.Conv2d, nn.ReLU)))
    # stage 3 keeps the 16x16 map it receives (padding = dilation)
    sizes = []
    hooks = [stage.register_forward_hook(lambda m, i, o: sizes.append((i[0].shape[-1], o.shape[-1])))
             for stage in stages]
    with torch.no_grad():
        model(torch.rand(1, 3, 64, 64))
    for hook in hooks:
        hook.remove()
    assert sizes == [(64, 32), (32, 16), (16, 16)]


def test_dilated_cnn_rejects_bad_settings():
    with pytest.raises(ValueError):
        DilatedCNN(blocks_per_stage=0)
    with pytest.raises(ValueError):
        DilatedCNN(dilation=0)
    with pytest.raises(ValueError):
        DilatedCNN(std=(0.2, 0.0, 0.2))


def expected_resnet_params(per_stage, classes):
    """Stem conv+BN, then per block two conv3x3+BN (and a conv1x1+BN shortcut where the width or
    stride changes), then the linear head: counted from the layout, not from the model."""
    total, in_ch = conv_bn_params(3, 64), 64
    for width in (64, 128, 256):
        for _ in range(per_stage):
            total += conv_bn_params(in_ch, width) + conv_bn_params(width, width)
            if in_ch != width:
                total += conv_bn_params(in_ch, width, k=1)
            in_ch = width
    return total + 256 * classes + classes


@pytest.mark.parametrize("blocks,expected", [(2, 2_826_504), ([3, 3, 3], 4_376_584)])
def test_resnet_dropout_shapes_blocks_and_params(blocks, expected):
    model = build_model("resnet-dropout", num_classes=200, blocks=blocks, dropout=0.3).eval()
    assert isinstance(model, ResNetDropout)
    with torch.no_grad():
        assert model(torch.rand(2, 3, 64, 64)).shape == (2, 200)
    count = sum(p.numel() for p in model.parameters())
    per_stage = 2 if blocks == 2 else 3
    # the report states "2 805 448 or 4 584 776 depending on the number of residual blocks" without
    # saying which is which (docs/sources.md#003-tiny-imagenet-report); its text's layout gives these
    assert count == expected == expected_resnet_params(per_stage, 200)
    residual = [m for m in model.modules() if isinstance(m, DropoutResidualBlock)]
    assert len(residual) == 3 * per_stage
    for block in residual:  # Dropout2d inside every residual branch, between the two convs
        layers = list(block.body)
        drop = [i for i, m in enumerate(layers) if isinstance(m, nn.Dropout2d)]
        convs = [i for i, m in enumerate(layers) if isinstance(m, nn.Conv2d)]
        assert len(drop) == 1 and convs[0] < drop[0] < convs[1]
        assert layers[drop[0]].p == 0.3
    assert not any(isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)) for m in model.modules())


def test_resnet_dropout_dropout_is_active_only_in_training():
    torch.manual_seed(0)
    model = ResNetDropout(num_classes=5, blocks=2, dropout=0.3)
    x = torch.rand(2, 3, 16, 16)
    model.train()
    with torch.no_grad():
        assert not torch.allclose(model(x), model(x))
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


@pytest.mark.parametrize("activation,kind", [("relu", nn.ReLU), ("gelu", nn.GELU), ("silu", nn.SiLU),
                                             ("leaky_relu", nn.LeakyReLU), ("elu", nn.ELU)])
def test_resnet_dropout_activation_choice(activation, kind):
    model = ResNetDropout(num_classes=3, activation=activation)
    acts = [m for m in model.modules() if isinstance(m, (nn.ReLU, nn.GELU, nn.SiLU, nn.LeakyReLU, nn.ELU))]
    assert acts and all(type(m) is kind for m in acts)


def test_resnet_dropout_options():
    without = ResNetDropout(num_classes=3, batch_norm=False)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in without.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in ResNetDropout(num_classes=3).modules())
    with pytest.raises(ValueError, match="activation"):
        ResNetDropout(activation="tanhh")
    with pytest.raises(ValueError, match="dropout"):
        ResNetDropout(dropout=1.5)
    with pytest.raises(ValueError, match="blocks"):
        ResNetDropout(blocks=[2, 2])


@pytest.mark.parametrize("name", ["dilated-cnn", "resnet-dropout"])
def test_fresh_model_logits_are_near_zero(name):
    model = build_model(name, num_classes=10).train()
    logits = model(torch.rand(8, 3, 32, 32))
    loss = torch.nn.functional.cross_entropy(logits, torch.randint(0, 10, (8,)))
    assert abs(float(loss.detach()) - math.log(10)) < 0.05
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


# ---- data ------------------------------------------------------------------------------------

def digests(dataset):
    return {hashlib.sha1(image.tobytes()).hexdigest() for image in dataset.images}


def test_eurosat_layout_is_split_stratified_and_seeded(eurosat):
    data = load_classifier_data(eurosat, val_fraction=1 / 3, test_fraction=1 / 3, split_seed=0, image_size=16, progress=False)
    assert data.layout == "single folder-per-class"
    assert data.classes == CLASSES and data.total_classes == 3
    assert (len(data.train), len(data.val), len(data.test)) == (6, 6, 6)
    for split in (data.train, data.val, data.test):
        assert split.class_counts() == [2, 2, 2]  # stratified: every class in every split
        assert split.images.shape[1:] == (16, 16, 3) and split.images.dtype == np.uint8
    train, val, test = digests(data.train), digests(data.val), digests(data.test)
    assert len(train | val | test) == 18 and not (train & val or train & test or val & test)
    again = load_classifier_data(eurosat, val_fraction=1 / 3, test_fraction=1 / 3, split_seed=0, image_size=16, progress=False)
    assert digests(again.test) == test
    other = load_classifier_data(eurosat, val_fraction=1 / 3, test_fraction=1 / 3, split_seed=5, image_size=16, progress=False)
    assert digests(other.test) != test
    described = data.describe()
    assert described["layout"] == "single folder-per-class" and described["sizes"] == {"train": 6, "val": 6, "test": 6}
    assert described["split"]["seed"] == 0


def test_class_subset_is_labelled(eurosat):
    data = load_classifier_data(eurosat, classes=2, val_fraction=0.5, image_size=16, progress=False)
    assert data.classes == CLASSES[:2] and set(data.train.labels) == {0, 1}
    assert "2-class subset (first 2 of 3 classes" in data.label
    assert "all 3 classes" in load_classifier_data(eurosat, val_fraction=0.5, image_size=16, progress=False).label
    with pytest.raises(ValueError, match="has 3 classes"):
        load_classifier_data(eurosat, classes=5, image_size=16, progress=False)


def test_stratified_split_keeps_a_train_image_per_class():
    labels = np.array([0, 0, 0, 0, 1, 1])
    parts = stratified_split(labels, {"val": 0.25, "test": 0.25}, seed=1)
    assert sorted(np.concatenate(list(parts.values())).tolist()) == list(range(6))
    assert set(labels[parts["train"]]) == {0, 1}
    assert np.bincount(labels[parts["val"]], minlength=2).tolist() == [1, 1]


def test_tiny_imagenet_layout_with_test_held_out_of_val(tmp_path):
    root = tmp_path / "tiny"
    make_image_folder(root / "train", ["n01", "n02"], per_class=4, seed=1)
    make_image_folder(root / "val", ["n01", "n02"], per_class=4, seed=2, suffix=".JPEG")
    (root / "words.txt").write_text("n01\tgoldfish, Carassius auratus\nn02\tsalamander\nn03\tother\n")
    data = load_classifier_data(root, test_fraction=0.5, image_size=16, progress=False)
    assert data.layout == "train/val folders"
    assert (len(data.train), len(data.val), len(data.test)) == (8, 4, 4)
    assert data.val.class_counts() == [2, 2] and data.test.class_counts() == [2, 2]
    assert not digests(data.val) & digests(data.test)
    assert data.class_names == {"n01": "goldfish", "n02": "salamander"}
    whole = load_classifier_data(root, image_size=16, progress=False)  # the trainer's default: all of val, no test
    assert whole.test is None and len(whole.val) == 8


def test_normalization_comes_from_the_training_split_only(tmp_path):
    root = tmp_path / "tiny"
    make_image_folder(root / "train", ["a", "b"], per_class=4, seed=1)
    make_image_folder(root / "val", ["a", "b"], per_class=4, seed=2, brightness=80)  # a much brighter val
    data = load_classifier_data(root, image_size=16, progress=False)
    pixels = data.train.images.reshape(-1, 3).astype(np.float64) / 255
    assert np.allclose(data.normalization["mean"], pixels.mean(0), atol=1e-5)
    assert np.allclose(data.normalization["std"], pixels.std(0), atol=1e-5)
    everything = np.concatenate([data.train.images, data.val.images])
    assert not np.allclose(channel_stats(everything)[0], data.normalization["mean"], atol=1e-2)
    assert "training split only (8 images)" == data.normalization["computed_on"]
    # the model receives the statistics and applies them itself
    task = ClassificationTask("dilated-cnn", data.train, data.val, normalization=data.normalization)
    model = task.build_modules(None)["g"]
    assert torch.allclose(model.normalize.mean.flatten(), torch.tensor(data.normalization["mean"]))
    assert torch.allclose(model.normalize.std.flatten(), torch.tensor(data.normalization["std"]))
    mean_image = torch.tensor(data.normalization["mean"]).view(1, 3, 1, 1).expand(1, 3, 8, 8)
    assert torch.allclose(model.normalize(mean_image), torch.zeros(1, 3, 8, 8), atol=1e-6)
    # vgg-mini keeps its own ImageNet constants: nothing is passed to it
    assert "mean" not in ClassificationTask("vgg-mini", data.train, data.val,
                                            normalization=data.normalization).architecture()


def test_augmentation_is_train_only(eurosat, monkeypatch):
    data = load_classifier_data(eurosat, val_fraction=1 / 3, image_size=16, progress=False)
    calls = []
    real, text = train_classifier.AUGMENTATIONS["pad-crop-flip"]
    monkeypatch.setitem(train_classifier.AUGMENTATIONS, "pad-crop-flip",
                        (lambda batch, rng: calls.append(len(batch)) or real(batch, rng), text))
    task = ClassificationTask("dilated-cnn", data.train, data.val, normalization=data.normalization)
    batch = task.sample_batch(np.random.default_rng(0), 5, "cpu")
    assert calls == [5] and batch["image"].shape == (5, 3, 16, 16)
    seen = []

    class Ctx:  # what validate needs from the engine, recording what the model receives
        device = torch.device("cpu")
        modules = {"g": lambda images: seen.append(images.clone()) or torch.zeros(len(images), 3)}

        @staticmethod
        def to_device(tensor):
            return tensor

        @staticmethod
        def autocast():
            return contextlib.nullcontext()

    results = task.validate(Ctx())
    assert calls == [5]  # validation never augments
    assert torch.equal(seen[0], train_classifier.to_tensor(data.val.images))
    assert set(results) >= {"val_accuracy", "val_loss", "val_macro_f1"}
    plain = ClassificationTask("dilated-cnn", data.train, data.val, augment=False)
    rng = np.random.default_rng(3)
    index = np.random.default_rng(3).integers(len(data.train), size=4)
    assert torch.equal(plain.sample_batch(rng, 4, "cpu")["image"], train_classifier.to_tensor(data.train.images[index]))


def test_augment_changes_pixels_not_shape():
    rng = np.random.default_rng(0)
    batch = rng.integers(0, 256, size=(8, 16, 16, 3), dtype=np.uint8)
    out = augment(batch, np.random.default_rng(1))
    assert out.shape == batch.shape and out.dtype == np.uint8
    assert not np.array_equal(out, batch)


def test_trainer_cli_exports_a_card_with_the_normalization(eurosat, tmp_path):
    export = tmp_path / "export"
    summary = train_classifier.main(["--model", "dilated-cnn", "--data", str(eurosat), "--image-size", "16",
                                     "--val-fraction", "0.34", "--test-fraction", "0.34", "--steps", "2",
                                     "--batch-size", "4", "--val-every", "2", "--set", "dilation=3",
                                     "--runs-dir", str(tmp_path / "runs"), "--run-name", "tiny", "--export", str(export)])
    card = json.loads((export / "card.json").read_text())
    assert card["architecture"]["dilation"] == 3 and card["architecture"]["num_classes"] == 3
    assert card["normalization"]["mean"] == card["architecture"]["mean"] == summary["data"].normalization["mean"]
    assert card["dataset"]["layout"] == "single folder-per-class" and card["dataset"]["sizes"]["test"] == 6
    assert card["classes"] == CLASSES and card["augmentation"].startswith("train only")
    assert "--set dilation=3" in card["command"]
    assert (tmp_path / "runs" / "tiny" / "metrics.csv").is_file()


# ---- the Tiny ImageNet report's augmentation, SELU, a validation subset ----------------------------

def test_color_jitter_of_strength_zero_is_the_identity_and_hue_keeps_grays_gray():
    rng = np.random.default_rng(0)
    image = rng.random((12, 12, 3))
    assert np.allclose(color_jitter(image, np.random.default_rng(1), strength=0.0), image, atol=1e-9)
    gray = np.repeat(rng.random((12, 12, 1)), 3, axis=2)
    for seed in range(5):  # brightness/contrast may change a gray, hue and saturation cannot colour it
        out = color_jitter(gray, np.random.default_rng(seed), strength=0.2)
        assert np.allclose(out[..., 0], out[..., 1], atol=1e-6) and np.allclose(out[..., 1], out[..., 2], atol=1e-6)
    colourful = np.zeros((4, 4, 3))
    colourful[..., 0] = 0.8
    shifted = [color_jitter(colourful, np.random.default_rng(seed), strength=0.2) for seed in range(8)]
    assert any(not np.allclose(s[..., 1], 0, atol=1e-3) or not np.allclose(s[..., 2], 0, atol=1e-3)
               for s in shifted)  # a pure red does not stay pure red under every hue draw


def test_resized_crop_jitter_keeps_shape_and_is_seeded():
    rng = np.random.default_rng(0)
    batch = rng.integers(0, 256, size=(6, 32, 32, 3), dtype=np.uint8)
    first = resized_crop_jitter(batch, np.random.default_rng(7))
    assert first.shape == batch.shape and first.dtype == np.uint8
    assert np.array_equal(first, resized_crop_jitter(batch, np.random.default_rng(7)))
    assert not np.array_equal(first, batch)
    # no jitter and the full area: each image is itself or its mirror (a crop of scale 1 is the image)
    plain = resized_crop_jitter(batch, np.random.default_rng(3), scale=(1.0, 1.0), jitter=0.0)
    for out, image in zip(plain, batch):
        assert np.abs(out.astype(int) - image).max() <= 1 or np.abs(out.astype(int) - image[:, ::-1]).max() <= 1


def test_the_task_runs_the_augmentation_it_is_given(eurosat, monkeypatch):
    data = load_classifier_data(eurosat, val_fraction=1 / 3, image_size=16, progress=False)
    calls = []
    monkeypatch.setitem(train_classifier.AUGMENTATIONS, "resized-crop-jitter",
                        (lambda batch, rng: calls.append(len(batch)) or batch, "x"))
    task = ClassificationTask("dilated-cnn", data.train, data.val, augment="resized-crop-jitter")
    task.sample_batch(np.random.default_rng(0), 4, "cpu")
    assert calls == [4]
    with pytest.raises(ValueError, match="unknown augmentation 'mixup'"):
        ClassificationTask("dilated-cnn", data.train, data.val, augment="mixup")


def test_val_limit_keeps_a_stratified_subset_and_the_same_test_split(eurosat):
    full = load_classifier_data(eurosat, val_fraction=0.5, test_fraction=0.17, image_size=16, progress=False)
    limited = load_classifier_data(eurosat, val_fraction=0.5, test_fraction=0.17, image_size=16, progress=False,
                                   val_limit=3)
    assert np.bincount(full.val.labels).tolist() == [3, 3, 3]
    assert np.bincount(limited.val.labels).tolist() == [1, 1, 1]  # one per class, not the first three
    assert np.array_equal(limited.test.images, full.test.images) and len(limited.train) == len(full.train)
    assert "3 of 9 validation images" in limited.split["val_limit"]


def test_selu_is_one_of_the_activations():
    model = ResNetDropout(num_classes=5, blocks=1, activation="selu", widths=(8, 8, 8))
    assert any(isinstance(m, nn.SELU) for m in model.modules())
    assert model(torch.rand(2, 3, 16, 16)).shape == (2, 5)
