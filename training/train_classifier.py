"""Train an image classifier on a folder-per-class dataset (Tiny ImageNet / EuroSAT layout).

    python -m training.train_classifier --model vgg-mini --data ../shared/datasets/tiny_imagenet_subset

``--data`` holds ``train/<class>/*`` and ``val/<class>/*`` (or a single folder-per-class root,
split 90/10 with a seed). The shipped ``vgg-mini`` is the feature backbone of the perceptual loss
used by the GAN checkpoints trained here (no ImageNet VGG19 weights exist offline).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from studio.data import DATASETS
from studio.checkpoint import count_parameters, save_model
from studio.engine import TrainConfig, Trainer, TrainingTask
from studio.imageio import ImageLoadError, list_images, load_image, to_uint8
from studio.registry import CHECKPOINT_DIR, build_model, get_entry



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


def to_tensor(batch: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2).float().div_(255.0)


class ClassificationTask(TrainingTask):
    optimizers = {"g": ["g"]}

    def __init__(self, model_name: str, train: FolderDataset, val: FolderDataset):
        self.model_name, self.train, self.val = model_name, train, val

    def build_modules(self, cfg):
        return {"g": build_model(self.model_name, num_classes=len(self.train.classes))}

    def sample_batch(self, rng, batch_size, device):
        index = rng.integers(len(self.train), size=batch_size)
        images = augment(self.train.images[index], rng)
        return {"image": to_tensor(images), "label": torch.from_numpy(self.train.labels[index])}

    def loss(self, phase, batch, ctx):
        logits = ctx.models["g"](batch["image"])
        loss = F.cross_entropy(logits, batch["label"])
        accuracy = (logits.argmax(1) == batch["label"]).float().mean()
        return loss, {"loss": loss.item(), "train_accuracy": accuracy.item()}

    def validate(self, ctx):
        model, correct, losses = ctx.modules["g"], 0, []
        for start in range(0, len(self.val), 256):
            images = ctx.to_device(to_tensor(self.val.images[start:start + 256]))
            labels = torch.from_numpy(self.val.labels[start:start + 256]).to(ctx.device)
            logits = model(images)
            losses.append(F.cross_entropy(logits, labels, reduction="sum").item())
            correct += int((logits.argmax(1) == labels).sum())
        return {"val_accuracy": correct / len(self.val), "val_loss": sum(losses) / len(self.val)}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="vgg-mini")
    parser.add_argument("--data", default=str(DATASETS / "tiny_imagenet_subset"))
    parser.add_argument("--classes", type=int, help="use only the first N classes (sorted)")
    parser.add_argument("--run-name")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--val-every", type=int, default=200)
    parser.add_argument("--runs-dir", default="results/runs")
    parser.add_argument("--export", help="folder for the trained model (default checkpoints/<model>; 'none' to skip)")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)
    root = Path(args.data)
    classes = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())
    classes = classes[: args.classes] if args.classes else classes
    train, val = FolderDataset(root / "train", classes), FolderDataset(root / "val", classes)
    task = ClassificationTask(args.model, train, val)
    cfg = TrainConfig(run_name=args.run_name or args.model, runs_dir=args.runs_dir, max_steps=args.steps,
                      batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay, scheduler="cosine",
                      seed=args.seed, threads=args.threads, val_every=args.val_every, ckpt_every=100,
                      resume=args.resume, extra=dict(data=args.data, classes=len(classes)))
    started = time.time()
    trainer = Trainer(task, cfg)
    result = trainer.fit()
    if args.export != "none":
        model = trainer.modules["g"].to("cpu").to(memory_format=torch.contiguous_format)
        export = Path(args.export) if args.export else CHECKPOINT_DIR / args.model
        card = {
            "name": args.model, "task": "classification", "description": get_entry(args.model).description,
            "architecture": dict(get_entry(args.model).config, num_classes=len(classes)),
            "classes": classes,
            "training": {"recipe": {k: v for k, v in asdict(cfg).items() if k not in ("extra", "resume", "runs_dir")},
                         "data": f"{args.data} (train: {len(train)} images, val: {len(val)} images, "
                                 f"{len(classes)} classes, 64x64)",
                         "run_log": f"results/runs/{cfg.run_name}/metrics.csv",
                         "wall_seconds": round(time.time() - started, 1),
                         "validation": result["best"]},
            "command": "python -m training.train_classifier " + shlex.join(argv),
            "metrics": {"val_accuracy": trainer.validate().get("val_accuracy")},
        }
        save_model(model, export, card)
        print(f"exported {args.model} ({count_parameters(model):,} parameters) to {export}")


if __name__ == "__main__":
    main()
