"""Train an image classifier on a folder-per-class dataset (Tiny ImageNet / EuroSAT layout).

    python -m training.train_classifier --model vgg-mini --data ../shared/datasets/tiny_imagenet_subset

``--data`` holds either ``train/<class>/*`` and ``val/<class>/*`` (Tiny ImageNet's layout; a
``test/<class>/*`` folder is used when present, else ``--test-fraction`` of val is held out as the
test split) or a single folder-per-class root ``<root>/<ClassName>/*.jpg`` (EuroSAT's layout),
split into train/val/test by a seeded stratified split (``--val-fraction``, ``--test-fraction``).
``--classes N`` keeps the first N classes (sorted folder names); the card and the run say so.

Models whose builder takes ``mean``/``std`` (dilated-cnn, resnet-dropout) normalize their input
with the per-channel statistics of the *training* split, computed here, stored in the card
(``normalization`` and ``architecture``) and carried by the weights, so evaluation applies exactly
the same transform. Augmentation (random crop after reflect padding, horizontal flip) is applied
to training batches only. ``--set KEY=VALUE`` overrides an architecture setting
(``--set blocks_per_stage=3 --set dilation=2``).

The shipped ``vgg-mini`` is the feature backbone of the perceptual loss used by the GAN
checkpoints trained here (no ImageNet VGG19 weights exist offline); it keeps its built-in
ImageNet normalization.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from studio import cli
from studio.data import DATASETS, display_argv, display_path, require_dataset
from studio.checkpoint import CheckpointError, count_parameters, load_tensors, save_model, save_tensors
from studio.engine import TrainConfig, Trainer, TrainingDiverged, TrainingTask, check_run_start
from studio.imageio import ImageLoadError, list_images, load_image, to_uint8
from studio.registry import CHECKPOINT_DIR, build_model, get_entry

#: the best validation step's weights, in the run folder (``--export-best``)
BEST_FILE = "best.safetensors"



class FolderDataset:
    """Images of ``<root>/<class>/*`` held in memory as uint8 (N, H, W, 3), all resized to ``size``."""

    def __init__(self, root, classes: list[str] | None = None, size: int = 64, progress: bool = True):
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: dataset folder not found")
        self.classes = classes or sorted(p.name for p in root.iterdir() if p.is_dir())
        if not self.classes:
            raise ValueError(f"{root}: expected one sub-folder per class, found none")
        images, labels = [], []
        files = [(p, label) for label, name in enumerate(self.classes) for p in list_images(root / name)]
        for path, label in tqdm(files, desc=f"loading {root.name}", disable=not progress, leave=False):
            try:
                image = load_image(path)
            except ImageLoadError as err:
                print(f"skipped: {err}", file=sys.stderr)
                continue
            if image.shape[:2] != (size, size):
                from PIL import Image

                image = np.asarray(Image.fromarray(to_uint8(image)).resize((size, size), Image.BICUBIC)) / 255.0
            images.append(to_uint8(image))
            labels.append(label)
        if not images:
            raise ValueError(f"{root}: no readable images")
        self.images, self.labels = np.stack(images), np.asarray(labels, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.labels)

    @classmethod
    def from_arrays(cls, images: np.ndarray, labels: np.ndarray, classes: list[str]) -> "FolderDataset":
        """A dataset over arrays already in memory (a split of another one)."""
        dataset = cls.__new__(cls)
        dataset.images, dataset.labels, dataset.classes = images, np.asarray(labels, dtype=np.int64), list(classes)
        return dataset

    def subset(self, index) -> "FolderDataset":
        index = np.asarray(index, dtype=np.int64)
        return FolderDataset.from_arrays(self.images[index], self.labels[index], self.classes)

    def class_counts(self) -> list[int]:
        return np.bincount(self.labels, minlength=len(self.classes)).tolist()


def channel_stats(images: np.ndarray, chunk: int = 256) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std (population) of uint8 (N, H, W, 3) images, in [0, 1] units."""
    if len(images) == 0:
        raise ValueError("cannot compute normalization statistics of an empty split")
    total = np.zeros(3)
    squares = np.zeros(3)
    count = 0
    for start in range(0, len(images), chunk):
        block = images[start:start + chunk].reshape(-1, 3).astype(np.float64) / 255.0
        total += block.sum(0)
        squares += (block ** 2).sum(0)
        count += block.shape[0]
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean ** 2, 0.0))
    std = np.maximum(std, 1e-3)  # a flat channel must not divide by zero
    return tuple(round(float(v), 6) for v in mean), tuple(round(float(v), 6) for v in std)


def stratified_split(labels: np.ndarray, fractions: dict[str, float], seed: int) -> dict[str, np.ndarray]:
    """Split indices per class with a seeded shuffle: each held-out split gets round(fraction * n_class)
    images of every class (at least one when the fraction is > 0 and the class has two or more);
    ``train`` keeps the rest. Deterministic for a given (labels, fractions, seed)."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    out: dict[str, list[int]] = {"train": [], **{name: [] for name in fractions}}
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        members = members[rng.permutation(len(members))]
        start = 0
        for name, fraction in fractions.items():
            take = int(round(fraction * len(members)))
            if fraction > 0 and take == 0 and len(members) - start > 1:
                take = 1
            take = min(take, len(members) - start - 1)  # train keeps at least one image per class
            out[name].extend(members[start:start + max(take, 0)].tolist())
            start += max(take, 0)
        out["train"].extend(members[start:].tolist())
    return {name: np.sort(np.asarray(index, dtype=np.int64)) for name, index in out.items()}


def read_class_names(root: Path, classes: list[str]) -> dict[str, str]:
    """Readable names from Tiny ImageNet's ``words.txt`` (wnid<TAB>names) when present."""
    words = Path(root) / "words.txt"
    if not words.is_file():
        return {}
    wanted, names = set(classes), {}
    for line in words.read_text(errors="replace").splitlines():
        wnid, _, text = line.partition("\t")
        if wnid in wanted:
            names[wnid] = text.split(",")[0].strip()
    return names


@dataclass
class ClassifierData:
    """Train/val(/test) splits of a folder-per-class dataset and how they were made."""

    train: FolderDataset
    val: FolderDataset
    test: FolderDataset | None
    classes: list[str]
    root: Path
    layout: str  # "train/val folders" | "single folder-per-class"
    total_classes: int
    image_size: int
    split: dict = field(default_factory=dict)
    class_names: dict = field(default_factory=dict)
    normalization: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        """A short, honest name: dataset folder, class subset, image size."""
        name = self.root.name
        subset = (f"{len(self.classes)}-class subset (first {len(self.classes)} of {self.total_classes} classes, "
                  f"sorted)" if len(self.classes) < self.total_classes else f"all {self.total_classes} classes")
        return f"{name}, {subset}, {self.image_size}x{self.image_size}"

    def describe(self) -> dict:
        return {
            "root": display_path(self.root), "layout": self.layout, "label": self.label,
            "classes": len(self.classes), "total_classes": self.total_classes, "image_size": self.image_size,
            "split": self.split,
            "sizes": {"train": len(self.train), "val": len(self.val), "test": len(self.test) if self.test else 0},
        }


def detect_layout(root: Path) -> str:
    root = Path(root)
    if (root / "train").is_dir() and (root / "val").is_dir():
        return "train/val folders"
    return "single folder-per-class"


def load_classifier_data(root, classes: int | list[str] | None = None, image_size: int = 64,
                         val_fraction: float = 0.2, test_fraction: float = 0.0, split_seed: int = 0,
                         progress: bool = True, val_limit: int | None = None) -> ClassifierData:
    """Load a folder-per-class dataset in either layout, with train-split normalization statistics.

    ``classes``: None (all), N (the first N sorted class folders) or an explicit list of names (as
    a model card records them). Tiny ImageNet layout: ``train/`` is the training split, ``val/``
    the validation split (``test_fraction`` of it, stratified, becomes the test split unless a
    ``test/`` folder exists). EuroSAT layout: one folder, split by ``stratified_split``.
    ``val_limit``: keep a stratified subset of that many validation images (after the test split is
    cut, so the test split does not depend on it): validation during training is then cheap.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: dataset folder not found")
    layout = detect_layout(root)
    listing_root = root / "train" if layout == "train/val folders" else root
    available = sorted(p.name for p in listing_root.iterdir() if p.is_dir())
    if not available:
        raise ValueError(f"{listing_root}: expected one sub-folder per class, found none")
    if classes is None:
        chosen = available
    elif isinstance(classes, int):
        if not 1 <= classes <= len(available):
            raise ValueError(f"--classes {classes}: {listing_root} has {len(available)} classes")
        chosen = available[:classes]
    else:
        chosen = list(classes)
        missing = sorted(set(chosen) - set(available))
        if missing:
            raise ValueError(f"{listing_root}: class folders not found: {missing[:5]}")
    test = None
    if layout == "train/val folders":
        train = FolderDataset(root / "train", chosen, size=image_size, progress=progress)
        val = FolderDataset(root / "val", chosen, size=image_size, progress=progress)
        split = {"train": "train/", "val": "val/", "seed": split_seed}
        if (root / "test").is_dir():
            test = FolderDataset(root / "test", chosen, size=image_size, progress=progress)
            split["test"] = "test/"
        elif test_fraction > 0:
            parts = stratified_split(val.labels, {"test": test_fraction}, split_seed)
            val, test = val.subset(parts["train"]), val.subset(parts["test"])
            split["val"] = f"val/ less the held-out test part ({1 - test_fraction:.0%} of val, stratified)"
            split["test"] = f"{test_fraction:.0%} of val/, stratified, seed {split_seed}"
        split["test_fraction"] = test_fraction
    else:
        everything = FolderDataset(root, chosen, size=image_size, progress=progress)
        fractions = {"val": val_fraction, "test": test_fraction}
        parts = stratified_split(everything.labels, {k: v for k, v in fractions.items() if v > 0}, split_seed)
        train, val = everything.subset(parts["train"]), everything.subset(parts.get("val", parts["train"][:0]))
        if len(val) == 0:
            raise ValueError(f"{root}: the validation split is empty (--val-fraction {val_fraction})")
        test = everything.subset(parts["test"]) if test_fraction > 0 else None
        split = {"method": "stratified per class", "seed": split_seed, "val_fraction": val_fraction,
                 "test_fraction": test_fraction}
    if val_limit is not None and val_limit < len(val):
        if val_limit < 1:
            raise ValueError(f"--val-limit must be at least 1, got {val_limit}")
        keep = stratified_split(val.labels, {"kept": val_limit / len(val)}, split_seed)["kept"]
        split["val_limit"] = f"{len(keep)} of {len(val)} validation images (stratified, seed {split_seed})"
        val = val.subset(keep)
    mean, std = channel_stats(train.images)
    normalization = {"mean": list(mean), "std": list(std),
                     "computed_on": f"training split only ({len(train)} images)"}
    return ClassifierData(train, val, test, chosen, root, layout, len(available), image_size, split,
                          read_class_names(root, chosen), normalization)


def accepts_normalization(model_name: str) -> bool:
    """Whether the model's builder takes ``mean``/``std`` (and so normalizes with our statistics)."""
    params = inspect.signature(get_entry(model_name).builder).parameters
    return "mean" in params and "std" in params


def parse_overrides(items) -> dict:
    """``["blocks_per_stage=3", "activation=gelu", "blocks=[3,3,3]"]`` -> typed dict."""
    overrides = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = {"true": True, "false": False}.get(text.lower(), text)
        overrides[key.strip()] = value
    return overrides


def augment(batch: np.ndarray, rng: np.random.Generator, pad: int = 4) -> np.ndarray:
    """Train-only augmentation: random horizontal flip and random crop after reflect padding."""
    count, size = batch.shape[0], batch.shape[1]
    padded = np.pad(batch, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
    out = np.empty_like(batch)
    for i in range(count):
        top, left = rng.integers(0, 2 * pad + 1, size=2)
        crop = padded[i, top:top + size, left:left + size]
        out[i] = crop[:, ::-1] if rng.random() < 0.5 else crop
    return out


def color_jitter(image: np.ndarray, rng: np.random.Generator, strength: float = 0.2) -> np.ndarray:
    """torchvision's ColorJitter(b, c, s, h = strength) on one float (H, W, 3) image in [0, 1]: brightness,
    contrast and saturation factors drawn from [1 - strength, 1 + strength], a hue shift from
    [-strength, strength] of the colour wheel, applied in a random order."""
    from skimage.color import hsv2rgb, rgb2hsv

    from studio.deblur.deconvolution import luminance

    for op in rng.permutation(4):
        if op == 0:
            image = image * rng.uniform(1 - strength, 1 + strength)
        elif op == 1:  # contrast: towards the mean gray level
            gray = float(luminance(image).mean())
            image = gray + (image - gray) * rng.uniform(1 - strength, 1 + strength)
        elif op == 2:  # saturation: towards the pixel's own gray
            gray = luminance(image)[..., None]
            image = gray + (image - gray) * rng.uniform(1 - strength, 1 + strength)
        else:
            hsv = rgb2hsv(np.clip(image, 0, 1))
            hsv[..., 0] = (hsv[..., 0] + rng.uniform(-strength, strength)) % 1.0
            image = hsv2rgb(hsv)
        image = np.clip(image, 0, 1)
    return image


def resized_crop_jitter(batch: np.ndarray, rng: np.random.Generator, scale=(0.8, 1.0), jitter: float = 0.2) -> np.ndarray:
    """The Tiny ImageNet report's train augmentation (docs/sources.md#003-tiny-imagenet-report):
    horizontal flip p=0.5, RandomResizedCrop to the same size with an area scale in ``scale`` and
    aspect ratio 1, ColorJitter 0.2 on brightness, contrast, saturation and hue. uint8 in, uint8 out."""
    count, size = batch.shape[0], batch.shape[1]
    out = np.empty_like(batch)
    for i in range(count):
        side = min(size, int(round(size * np.sqrt(rng.uniform(*scale)))))
        top, left = rng.integers(0, size - side + 1, size=2)
        crop = torch.from_numpy(batch[i, top:top + side, left:left + side]).permute(2, 0, 1)[None].float() / 255.0
        if side != size:
            crop = F.interpolate(crop, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        image = crop[0].permute(1, 2, 0).clamp(0, 1).numpy().astype(np.float64)
        if rng.random() < 0.5:
            image = image[:, ::-1]
        out[i] = to_uint8(color_jitter(image, rng, jitter))
    return out


#: train-only augmentations (``--augmentation``) and how the card describes them
AUGMENTATIONS = {
    "pad-crop-flip": (augment, "train only: random crop after 4 px reflect padding, horizontal flip p=0.5"),
    "resized-crop-jitter": (resized_crop_jitter, "train only (the Tiny ImageNet report's): horizontal flip p=0.5, "
                                                 "RandomResizedCrop scale 0.8-1 ratio 1, ColorJitter 0.2 on "
                                                 "brightness, contrast, saturation and hue"),
    "none": (None, "none"),
}


def augmentation_name(augment: bool | str) -> str:
    """``True``/``False`` (older callers) or a name of ``AUGMENTATIONS``; a clear error otherwise."""
    name = {True: "pad-crop-flip", False: "none"}.get(augment, augment) if isinstance(augment, bool) else augment
    if name not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {augment!r}; expected one of {', '.join(AUGMENTATIONS)}")
    return name


def to_tensor(batch: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2).float().div_(255.0)


class ClassificationTask(TrainingTask):
    """Cross-entropy training of a registered classifier on in-memory folder datasets.

    ``model_config``: architecture overrides (e.g. ``{"dilation": 3}``); ``normalization``:
    ``{"mean": [...], "std": [...]}`` from the training split, handed to builders that accept it;
    ``augment``: the train-only augmentation, a name of ``AUGMENTATIONS`` (or True/False for
    pad-crop-flip/none); validation never augments.
    """

    optimizers = {"g": ["g"]}

    def __init__(self, model_name: str, train: FolderDataset, val: FolderDataset, model_config: dict | None = None,
                 normalization: dict | None = None, augment: bool | str = True, keep_best: bool = False):
        self.model_name, self.train, self.val = model_name, train, val
        self.model_config, self.normalization = dict(model_config or {}), normalization
        self.augmentation = augmentation_name(augment)
        self.keep_best = keep_best

    def on_best(self, ctx):
        """``keep_best``: the weights of each new best validation accuracy go to the run folder (so a
        resumed run keeps them too); the export can then be the best step, as the course asks."""
        if self.keep_best:
            save_tensors(ctx.modules["g"].state_dict(), best_weights_path(ctx.run_dir),
                         {"step": str(ctx.step), "val_accuracy": str(ctx.best["val_accuracy"]["value"])})

    def architecture(self) -> dict:
        """What ``build_model`` receives (and the card's ``architecture`` records)."""
        config = dict(self.model_config, num_classes=len(self.train.classes))
        if self.normalization and accepts_normalization(self.model_name):
            config.update(mean=list(self.normalization["mean"]), std=list(self.normalization["std"]))
        return config

    def build_modules(self, cfg):
        return {"g": build_model(self.model_name, **self.architecture())}

    def sample_batch(self, rng, batch_size, device):
        index = rng.integers(len(self.train), size=batch_size)
        images = self.train.images[index]
        transform = AUGMENTATIONS[self.augmentation][0]
        if transform is not None:
            images = transform(images, rng)
        return {"image": to_tensor(images), "label": torch.from_numpy(self.train.labels[index])}

    def loss(self, phase, batch, ctx):
        logits = ctx.models["g"](batch["image"])
        loss = F.cross_entropy(logits, batch["label"])
        accuracy = (logits.argmax(1) == batch["label"]).float().mean()
        return loss, {"loss": loss.item(), "train_accuracy": accuracy.item()}

    def validate(self, ctx):
        from sklearn.metrics import f1_score

        model, correct, losses, predictions = ctx.modules["g"], 0, [], []
        for start in range(0, len(self.val), 256):
            images = ctx.to_device(to_tensor(self.val.images[start:start + 256]))
            labels = torch.from_numpy(self.val.labels[start:start + 256]).to(ctx.device)
            with ctx.autocast():  # bf16 when the run trains under --amp, as the app's bf16 inference does
                logits = model(images).float()
            losses.append(F.cross_entropy(logits, labels, reduction="sum").item())
            correct += int((logits.argmax(1) == labels).sum())
            predictions.append(logits.argmax(1).cpu().numpy())
        macro_f1 = f1_score(self.val.labels, np.concatenate(predictions), average="macro",
                            labels=list(range(len(self.val.classes))), zero_division=0)
        return {"val_accuracy": correct / len(self.val), "val_loss": sum(losses) / len(self.val),
                "val_macro_f1": float(macro_f1)}


def best_weights_path(run_dir) -> Path:
    return Path(run_dir) / BEST_FILE


def predict(model: torch.nn.Module, dataset: FolderDataset, batch_size: int = 256) -> np.ndarray:
    """Predicted class indices (eval mode, no augmentation)."""
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(dataset), batch_size):
            out.append(model(to_tensor(dataset.images[start:start + batch_size])).argmax(1).numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def build_parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="vgg-mini")
    parser.add_argument("--data", default=str(DATASETS / "tiny_imagenet_subset"))
    parser.add_argument("--classes", type=int, help="use only the first N classes (sorted)")
    parser.add_argument("--image-size", type=int, default=64, help="images are resized to this square size")
    parser.add_argument("--val-fraction", type=float, default=0.2,
                        help="single-folder layout: fraction of each class held out for validation")
    parser.add_argument("--test-fraction", type=float, default=0.0,
                        help="fraction held out as the test split (single folder: of each class; "
                             "train/val layout without test/: of val)")
    parser.add_argument("--split-seed", type=int, default=0, help="seed of the stratified split")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="architecture override, repeatable (e.g. --set dilation=3)")
    parser.add_argument("--augmentation", default="pad-crop-flip", choices=list(AUGMENTATIONS),
                        help="train-only augmentation (resized-crop-jitter: the Tiny ImageNet report's)")
    parser.add_argument("--no-augment", action="store_true", help="train without augmentation (--augmentation none)")
    parser.add_argument("--val-limit", type=cli.number(1),
                        help="validate during training on a stratified, seeded subset of this many validation "
                             "images (the test split is unchanged)")
    parser.add_argument("--run-name")
    parser.add_argument("--steps", type=cli.number(0), default=600)
    parser.add_argument("--batch-size", type=cli.number(1), default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--scheduler", default="cosine", choices=["cosine", "plateau", "none"],
                        help="learning-rate schedule (none: constant, as the course report's protocol asks)")
    parser.add_argument("--export-best", action="store_true",
                        help="export the weights of the best validation accuracy (the card says which step) "
                             "instead of the final ones")
    parser.add_argument("--amp", action="store_true",
                        help="bf16 autocast for training steps and validation (the card records it)")
    parser.add_argument("--seed", type=cli.number(0, 2**32 - 1), default=0)
    parser.add_argument("--threads", type=cli.number(0), default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--val-every", type=cli.number(1), default=200)
    parser.add_argument("--log-every", type=cli.number(1), default=20)
    parser.add_argument("--runs-dir", default="results/runs")
    parser.add_argument("--export", help="folder for the trained model (default checkpoints/<model>; 'none' to skip)")
    parser.add_argument("--resume", action="store_true")
    return parser


@cli.one_line_errors(CheckpointError, TrainingDiverged, FileExistsError, FileNotFoundError, ImageLoadError, ValueError)
def main(argv=None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    return train(cli.parse_as_command(build_parser().parse_args, "training.train_classifier", argv, display_argv))


def make_args(**options):
    """The arguments of a run, from Python: ``options`` as keywords (``image_size=64``), checked by
    the command line's own parser; ``args.command`` is the equivalent command."""
    return cli.parse_as_command(build_parser().parse_args, "training.train_classifier",
                                cli.to_argv(build_parser(), options), display_argv)


def train(args) -> dict:
    """One run (``main`` or ``make_args``): train, export with its card; returns the engine's
    result, the run folder, the data, the architecture, the export folder and the card."""
    # what would stop the run later, checked before the images are loaded
    check_run_start(args.runs_dir, args.run_name or args.model, args.resume, args.export or CHECKPOINT_DIR / args.model)
    require_dataset(args.data, "--data")
    overrides = parse_overrides(args.set)
    data = load_classifier_data(args.data, args.classes, args.image_size, args.val_fraction, args.test_fraction,
                                args.split_seed, val_limit=args.val_limit)
    classes, train, val = data.classes, data.train, data.val
    augmentation = "none" if args.no_augment else args.augmentation
    task = ClassificationTask(args.model, train, val, overrides, data.normalization, augment=augmentation,
                              keep_best=args.export_best)
    cfg = TrainConfig.from_args(args, run_name=args.run_name or args.model, ckpt_every=100,
                      extra=dict(data=args.data, classes=len(classes), dataset=data.label, model_config=overrides,
                                 augment=augmentation))
    trainer = Trainer(task, cfg)
    result = trainer.fit()
    summary = {"result": result, "run_dir": str(trainer.run_dir), "data": data, "architecture": task.architecture(),
               "export": None, "card": None}
    if args.export != "none":
        exported = {"weights": "final", "step": trainer.step}
        if args.export_best:
            best = trainer.best.get("val_accuracy")
            if best is None or not best_weights_path(trainer.run_dir).is_file():
                raise ValueError(f"--export-best: run {cfg.run_name!r} has no validated step to export")
            state, _ = load_tensors(best_weights_path(trainer.run_dir))
            trainer.modules["g"].load_state_dict(state)
            exported = {"weights": "best validation accuracy", "step": best["step"], "val_accuracy": best["value"]}
        model = trainer.modules["g"].to("cpu").to(memory_format=torch.contiguous_format)
        export = Path(args.export) if args.export else CHECKPOINT_DIR / args.model
        normalized = accepts_normalization(args.model)
        card = trainer.model_card(
            args.model, args.command,
            architecture=dict(get_entry(args.model).config, **task.architecture()),
            classes=classes, class_names=data.class_names, dataset=data.describe(),
            normalization=(dict(data.normalization, applied="by the model (buffers), identically at evaluation")
                           if normalized else {"applied": "the model's own built-in constants"}),
            augmentation=AUGMENTATIONS[augmentation][1],
            training={"data": f"{display_path(args.data)}: {data.label} (train: {len(train)} images, "
                              f"val: {len(val)} images, {len(classes)} classes, {args.image_size}x{args.image_size})",
                      "validation": result["best"], "exported": exported})
        card["metrics"] = {k: v for k, v in trainer.validate().items() if k in ("val_accuracy", "val_macro_f1")}
        save_model(model, export, card)
        summary.update(export=str(export), card=card)
        print(f"exported {args.model} ({count_parameters(model):,} parameters) to {export}")
    return summary


if __name__ == "__main__":
    main()
