"""Train the learned prior of the plug-and-play deblurring pipelines: ``drunet-lite``, a Gaussian
denoiser that takes the noise level as an input.

    python -m training.train_denoiser --amp --threads 2          # the shipped CPU recipe
    python -m training.train_denoiser --steps 50 --run-name try  # any override

Data: random crops of bsds500 train+test (400 photos), flips and rot90, additive white Gaussian
noise with a per-crop sigma drawn uniformly in [0, --max-sigma] (default 50/255, the range the
HQS schedule of ``studio.deblur.deconvolution`` walks through), no clipping (the HQS iterates are not
clipped either). L1 loss on the clean crop, AdamW, cosine schedule.
Validation: 8 centre crops (128 px) of bsds500/val with fixed noise at sigma 15, 25 and 50 /255.
The run log goes to results/runs/<run>/, the exported model to checkpoints/drunet-lite/.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch
import torch.nn.functional as F

from studio import cli
from studio.checkpoint import CheckpointError
from studio.data import DATASETS, ImageBank, display_path, require_dataset
from studio.deblur.datasets import center_crop
from studio.engine import TrainConfig, Trainer, TrainingDiverged, TrainingTask, add_run_arguments
from studio.imageio import ImageLoadError, list_images, load_image
from studio.metrics import psnr
from studio.registry import CHECKPOINT_DIR, build_model

MODEL = "drunet-lite"
TRAIN_DATA = [str(DATASETS / "bsds500" / "train"), str(DATASETS / "bsds500" / "test")]
VAL_DATA = str(DATASETS / "bsds500" / "val")
VAL_SIGMAS = (15, 25, 50)  # on the 0-255 scale, the usual denoising benchmark levels
CPU_RECIPE = dict(steps=8000, batch_size=16, patch=96, lr=5e-4, val_every=500)


class DenoiseTask(TrainingTask):
    def __init__(self, args):
        self.args = args
        self.bank = ImageBank(args.data, min_side=args.patch)
        rng = np.random.default_rng(0x5EED)
        files = list_images(args.val)[:args.val_count]
        self.val_clean = [center_crop(load_image(path), 128) for path in files]
        # one fixed noise draw per (image, sigma), so every validation scores the same inputs
        self.val_noisy = {s: [c + rng.standard_normal(c.shape).astype(np.float32) * s / 255 for c in self.val_clean]
                          for s in VAL_SIGMAS}

    def build_modules(self, cfg):
        return {"g": build_model(MODEL)}

    def sample_batch(self, rng, batch_size, device):
        clean = self.bank.random_crops(rng, batch_size, self.args.patch)
        sigma = torch.from_numpy(rng.uniform(0, self.args.max_sigma / 255, batch_size).astype(np.float32))
        noise = torch.from_numpy(rng.standard_normal(clean.shape).astype(np.float32))
        return {"noisy": clean + noise * sigma.view(-1, 1, 1, 1), "clean": clean, "sigma": sigma}

    def loss(self, phase, batch, ctx):
        restored = ctx.models["g"](batch["noisy"], batch["sigma"])
        loss = F.l1_loss(restored, batch["clean"])
        return loss, {"loss_l1": loss.item()}

    def validate(self, ctx):
        model, results = ctx.modules["g"], {}
        for sigma in VAL_SIGMAS:
            noisy = torch.from_numpy(np.stack(self.val_noisy[sigma])).permute(0, 3, 1, 2)
            out = model(ctx.to_device(noisy), sigma / 255).clamp(0, 1).float().cpu().permute(0, 2, 3, 1).numpy()
            results[f"val_psnr_s{sigma}"] = float(np.mean([psnr(o, c) for o, c in zip(out, self.val_clean)]))
        return results


def build_parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-name", default=MODEL, help="folder under results/runs")
    parser.add_argument("--data", nargs="+", default=TRAIN_DATA, help="folders of clean photos")
    parser.add_argument("--val", default=VAL_DATA, help="folder of clean validation photos")
    parser.add_argument("--val-count", type=int, default=8)
    parser.add_argument("--steps", type=int, default=CPU_RECIPE["steps"])
    parser.add_argument("--batch-size", type=int, default=CPU_RECIPE["batch_size"])
    parser.add_argument("--patch", type=int, default=CPU_RECIPE["patch"], help="training crop size")
    parser.add_argument("--lr", type=float, default=CPU_RECIPE["lr"])
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--max-sigma", type=float, default=50.0, help="largest training noise std (0-255 scale)")
    add_run_arguments(parser, grad_clip=1.0, val_every=CPU_RECIPE["val_every"], log_every=20, ckpt_every=100,
                      channels_last_help="channels-last memory format")
    return parser


def parse_args(argv=None):
    args = build_parser().parse_args(argv)
    for folder in (*args.data, args.val):
        require_dataset(folder, "--data/--val")
    return args


@cli.one_line_errors(CheckpointError, TrainingDiverged, FileExistsError, FileNotFoundError, ImageLoadError, ValueError)
def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    return train(cli.parse_as_command(parse_args, "training.train_denoiser", argv))


def make_args(**options):
    """The arguments of a run, from Python: ``options`` as keywords, checked by the command line's
    own parser; ``args.command`` is the equivalent command."""
    return cli.parse_as_command(parse_args, "training.train_denoiser", cli.to_argv(build_parser(), options))


def train(args):
    """One run (``main`` or ``make_args``): train and export with its card; returns the engine's result."""
    command = args.command
    task = DenoiseTask(args)
    cfg = TrainConfig.from_args(args, scheduler="cosine", min_lr=1e-6)
    trainer = Trainer(task, cfg)
    result = trainer.fit()
    if trainer.is_main and args.export != "none":
        model = trainer.modules["g"].to("cpu").to(memory_format=torch.contiguous_format)
        card = trainer.model_card(MODEL, command, scale=1, training={
            "losses": {"pixel_l1": 1.0},
            "data": {"images": [display_path(d) for d in args.data], "train_images": len(task.bank),
                     "patch": args.patch, "augmentation": "random crop, flips, rot90",
                     "noise": f"additive white Gaussian, sigma uniform in [0, {args.max_sigma:g}]/255, unclipped"},
            "validation": {"data": f"{display_path(args.val)}: {len(task.val_clean)} centre crops of 128 px",
                           "sigmas": list(VAL_SIGMAS), "best": result["best"]},
        })
        trainer.export(model, args.export or CHECKPOINT_DIR / MODEL, card)
    trainer.close()
    return result


if __name__ == "__main__":
    main()
