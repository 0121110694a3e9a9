"""The two families the protocol covers and the interface each step uses: the engine task, the metric and loss names, the dataset label."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from studio.data import DATASETS, require_dataset
from studio.engine import TrainingTask
from studio.registry import get_entry, list_models
from models.srresnet import Discriminator
from training import train_sr
from training.train_sr import SuperResolutionTask
from training.train_classifier import (ClassificationTask, FolderDataset, load_classifier_data, parse_overrides,
                                       to_tensor)
from training.protocol.common import DEFAULTS


class Converged(Exception):
    """Raised by OverfitTask when the training loss reached the target (ends Trainer.fit early)."""


class OverfitTask(TrainingTask):
    """Wraps a family task: every step trains on the same fixed examples, and the run stops as soon
    as the loss of a step is below ``target`` (the next batch request raises ``Converged``; the
    engine has logged and flushed that step, and the modules hold its weights)."""

    def __init__(self, inner: TrainingTask, fixed_batch: dict, target: float, loss_key: str):
        self.inner, self.fixed, self.target, self.loss_key = inner, fixed_batch, target, loss_key
        self.optimizers = inner.optimizers
        self.losses: list[float] = []

    def build_modules(self, cfg):
        return self.inner.build_modules(cfg)

    def phases(self, step):
        return self.inner.phases(step)

    def optimizer_config(self, name, cfg):
        return self.inner.optimizer_config(name, cfg)

    def sample_batch(self, rng, batch_size, device):
        if self.losses and self.losses[-1] <= self.target:
            raise Converged()
        return {k: v.clone() for k, v in self.fixed.items()}

    def loss(self, phase, batch, ctx):
        loss, logs = self.inner.loss(phase, batch, ctx)
        if self.loss_key in logs:
            self.losses.append(float(logs[self.loss_key]))
        return loss, logs

    def validate(self, ctx):
        return {}


class ClassifierFamily:
    """What the protocol's steps do for a classifier: its data, task, scores and full training."""

    kind = "classification"
    metric = "val_accuracy"
    loss_key = "loss"

    def baselines(self, args) -> list[dict]:
        from training.protocol.baselines import classifier_baselines

        return classifier_baselines(args, self)

    def evaluate(self, args) -> dict:
        from training.protocol.evaluate import classifier_evaluate

        return classifier_evaluate(args)

    def full_training(self, args, common: dict, weight_decay: float, model_config: dict):
        from training.protocol.train import train_classifier_family

        return train_classifier_family(args, self, common, weight_decay, model_config)

    def overfit_scores(self, trainer, subset) -> dict:
        """The memorised subset's accuracy, measured in eval mode."""
        from training.train_classifier import predict

        model = trainer.modules["g"].to(memory_format=torch.contiguous_format)
        return {"train_accuracy_eval": float(np.mean(predict(model, subset) == subset.labels))}

    def __init__(self, model: str, args):
        self.model, self.args = model, args
        self.overrides = parse_overrides(args.set)
        self._data = None

    @property
    def data(self):
        if self._data is None:
            data = self.args.data or [str(DATASETS / "tiny_imagenet_subset")]
            if len(data) != 1:
                raise ValueError("a classifier takes one --data folder (train/val layout or one folder per class)")
            require_dataset(data[0], "--data")
            self._data = load_classifier_data(data[0], self.args.classes, self.args.image_size,
                                              self.args.val_fraction, self.args.test_fraction, self.args.split_seed,
                                              progress=not self.args.quiet,
                                              val_limit=getattr(self.args, "val_limit", None))
        return self._data

    @property
    def dataset_label(self) -> str:
        return self.data.label

    def task(self, model_config: dict | None = None, augment: bool = True, train: FolderDataset | None = None):
        """``augment``: the experiment's ``--augmentation`` when True, none when False."""
        augmentation = getattr(self.args, "augmentation", "pad-crop-flip") if augment else "none"
        return ClassificationTask(self.model, train or self.data.train, self.data.val,
                                  {**self.overrides, **(model_config or {})}, self.data.normalization, augmentation)

    def expected_loss(self, batch, ctx) -> tuple[float, str]:
        classes = len(self.data.classes)
        return math.log(classes), f"-log(1/C), C = {classes} classes"

    def fixed_examples(self, count: int, seed: int) -> tuple[dict, FolderDataset]:
        """``count`` training examples (seeded choice, classes mixed), no augmentation."""
        train = self.data.train
        index = np.sort(np.random.default_rng([seed, 7]).permutation(len(train))[:count])
        subset = train.subset(index)
        return {"image": to_tensor(subset.images), "label": torch.from_numpy(subset.labels)}, subset

    def default_target(self, fixed, ctx) -> float:
        return DEFAULTS["classification"]["target_loss"]


class SRProtocolTask(SuperResolutionTask):
    """A super-resolution task (training.train_sr) that shares an already loaded one's images, with
    architecture overrides (channels, num_blocks, ...) and the bicubic input's validation PSNR-Y
    logged beside the model's (``val_input_psnr_y``), so the dashboard can draw that baseline."""

    def __init__(self, base: SuperResolutionTask, family: "SRFamily", overrides: dict):
        self.__dict__.update(base.__dict__)  # no reload: the image bank and val images are shared
        self.family, self.overrides = family, dict(overrides)

    def architecture(self) -> dict:
        entry = get_entry(self.preset)
        return dict(entry.config, scale=self.scale, **self.overrides)

    def build_modules(self, cfg):
        if not self.overrides:
            return super().build_modules(cfg)
        modules = {"g": get_entry(self.preset).builder(**self.architecture())}
        if self.gan:
            modules["d"] = Discriminator()
        return modules

    def validate(self, ctx):
        values = super().validate(ctx)  # val_psnr_y first: it drives "best"
        values["val_input_psnr_y"] = self.family.input_psnr_y()
        return values


class SRFamily:
    """What the protocol's steps do for an SR generator: its data, task, scores and full training."""

    kind = "sr"
    metric = "val_psnr_y"
    loss_key = "loss_g"

    def baselines(self, args) -> list[dict]:
        from training.protocol.baselines import classical_baselines

        return classical_baselines(args)

    def evaluate(self, args) -> dict:
        from training.protocol.evaluate import sr_evaluate

        return sr_evaluate(args)

    def full_training(self, args, common: dict, weight_decay: float, model_config: dict):
        from training.protocol.train import train_sr_family

        return train_sr_family(args, self, common, weight_decay, model_config)

    def overfit_scores(self, trainer, subset) -> dict:
        return {}

    def __init__(self, model: str, args):
        if model not in train_sr.PRESETS:
            raise ValueError(f"{model!r}: the protocol trains the SR presets {sorted(train_sr.PRESETS)}")
        self.model, self.args = model, args
        self.sr_args = train_sr.make_args(model, scale=args.scale, data=args.data or None, val=args.val or None,
                                          patch=args.patch)
        if args.patch is None:
            self.sr_args.patch = 64  # protocol default: small patches, many cheap steps
        self.overrides = parse_overrides(args.set)
        self._base = None
        self._input_psnr = None

    @property
    def base(self) -> SuperResolutionTask:
        if self._base is None:
            for folder in (*self.sr_args.data, self.sr_args.val):
                require_dataset(folder, "--data/--val")
            self._base = SuperResolutionTask(self.model, self.sr_args)
        return self._base

    @property
    def dataset_label(self) -> str:
        from studio.data import display_path

        return (f"HR patches {self.sr_args.patch}px from {', '.join(display_path(d) for d in self.sr_args.data)}; "
                f"val {display_path(self.sr_args.val)} x{self.sr_args.scale}")

    def input_psnr_y(self) -> float:
        """PSNR-Y of the bicubic-upscaled validation inputs (the 'no model' baseline)."""
        if self._input_psnr is None:
            from studio.sr.degradation import downscale, upscale_bicubic
            from studio.imageio import quantize
            from studio.metrics import psnr

            scale = self.sr_args.scale
            values = [psnr(quantize(upscale_bicubic(downscale(hr, scale), scale)), hr, border=scale, y_channel=True)
                      for hr in self.base.val_images]
            self._input_psnr = float(np.mean(values))
        return self._input_psnr

    def task(self, model_config: dict | None = None, augment: bool = True, train=None) -> SRProtocolTask:
        return SRProtocolTask(self.base, self, {**self.overrides, **(model_config or {})})

    def expected_loss(self, batch, ctx) -> tuple[float, str]:
        from studio.resize import imresize

        upscaled = imresize(batch["lr"].double(), float(self.sr_args.scale)).clamp(0, 1).to(batch["hr"].dtype)
        return float(F.l1_loss(upscaled, batch["hr"])), "L1 of the bicubic-upscaled input (no model)"

    def fixed_examples(self, count: int, seed: int) -> tuple[dict, None]:
        from studio.sr.degradation import downscale_batch

        hr = self.base.bank.random_crops(np.random.default_rng([seed, 7]), count, self.sr_args.patch, augment=False)
        return {"lr": downscale_batch(hr, self.sr_args.scale), "hr": hr}, None

    def default_target(self, fixed, ctx) -> float:
        reference, _ = self.expected_loss(fixed, ctx)
        return 0.5 * reference  # memorised: half the interpolation error on the training patches


#: the families the protocol covers, by task
FAMILIES = {family.kind: family for family in (ClassifierFamily, SRFamily)}


def make_family(args):
    """The protocol family of ``args.model``; None for a classical model (only ``baselines`` applies)."""
    entry = get_entry(args.model)
    family = FAMILIES.get(entry.task)
    if family is not None and not entry.learned:
        if args.command not in ("baselines",):
            raise ValueError(f"{args.model!r} is a classical (untrained) model: only `baselines` applies to it")
        return None
    if family is not None:
        return family(args.model, args)
    raise ValueError(f"{args.model!r} is a {entry.task!r} model; the protocol covers classification and sr models "
                     f"(classification: {', '.join(list_models('classification'))})")
