"""Train the super-resolution family: srresnet, the three SRGAN versions and the ESRGAN pair.

    python -m training.train_sr --preset srresnet
    python -m training.train_sr --preset srgan-v3 --steps 200 --run-name try-v3   # any override
    torchrun --nproc_per_node 2 -m training.train_sr --preset srresnet            # data-parallel

Each preset follows the source README (source 004, docs/sources.md): v1 trains pixel + adversarial loss from
scratch on a small set with 96x96 patches; v2 uses more data, larger patches, no output sigmoid
and a pixel-loss warmup before the GAN phase; v3 adds a perceptual loss with explicit weights.
``rrdb-psnr`` and ``esrgan-lite`` are ESRGAN's two stages on the RRDB generator (L1, then
relativistic GAN + perceptual + L1); ``srgan-v3-ra`` is srgan-v3 with only the relativistic loss
changed, which separates what the loss does from what the architecture does.
The run log goes to results/runs/<run>/, the exported model to checkpoints/<preset>/.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from models.srresnet import Discriminator
from studio import cli
from studio.checkpoint import CheckpointError
from studio.data import DATASETS, ImageBank, display_path, require_dataset
from studio.snapshots import SnapshotCrop
from studio.sr import real_degradation
from studio.sr.degradation import downscale, downscale_batch, mod_crop
from studio.engine import (TrainConfig, Trainer, TrainingDiverged, TrainingTask, add_run_arguments, check_run_start,
                           init_source, load_initial_weights)
from studio.imageio import ImageLoadError, list_images, load_image, quantize
from studio.losses import PerceptualLoss, gan_loss, load_feature_backbone, relativistic_gan_loss
from studio.metrics import psnr
from studio.registry import CHECKPOINT_DIR, build_model, get_entry
from studio.tasks import TASKS

TRAIN_DATA = [str(DATASETS / "bsds500" / "train"), str(DATASETS / "bsds500" / "test"), str(DATASETS / "t91")]
VAL_DATA = str(DATASETS / "set5")

# CPU-budget recipes: what produced the shipped checkpoints on 2 cores. docs/sr.md ("Train") gives
# the full-size equivalents (more steps, 64x16 generator).
PRESETS = {
    "srresnet": dict(data=TRAIN_DATA, patch=128, batch_size=16, lr=5e-4, steps=25000, warmup_steps=0,
                     w_pixel=1.0, w_perceptual=0.0, w_adv=0.0, perceptual=None, init_from=None),
    "srgan-v1": dict(data=[str(DATASETS / "t91")], patch=96, batch_size=16, lr=1e-4, steps=600,
                     warmup_steps=0, w_pixel=1.0, w_perceptual=0.0, w_adv=1e-3, perceptual=None, init_from=None),
    "srgan-v2": dict(data=TRAIN_DATA, patch=128, batch_size=16, lr=1e-4, steps=500, warmup_steps=0,
                     w_pixel=1.0, w_perceptual=0.0, w_adv=1e-3, perceptual=None, init_from="srresnet"),
    "srgan-v3": dict(data=TRAIN_DATA, patch=128, batch_size=16, lr=1e-4, steps=500, warmup_steps=0,
                     w_pixel=1.0, w_perceptual=0.1, w_adv=3e-3, perceptual="vgg-mini", init_from="srresnet"),
    # srgan-v3 with the relativistic average loss: the same warmup, steps and weights
    "srgan-v3-ra": dict(data=TRAIN_DATA, patch=128, batch_size=16, lr=1e-4, steps=500, warmup_steps=0,
                        w_pixel=1.0, w_perceptual=0.1, w_adv=3e-3, perceptual="vgg-mini", init_from="srresnet",
                        gan_loss="relativistic"),
    # ESRGAN's two stages on the small RRDB generator. Stage 1: L1 only, srresnet's recipe with
    # fewer steps (one RRDB step costs about 1.1 srresnet steps; the card records the wall time).
    "rrdb-psnr": dict(data=TRAIN_DATA, patch=128, batch_size=16, lr=5e-4, steps=16000, warmup_steps=0,
                      w_pixel=1.0, w_perceptual=0.0, w_adv=0.0, perceptual=None, init_from=None),
    # Stage 2 from rrdb-psnr. ESRGAN weights perceptual 1 : adversarial 5e-3 : L1 1e-2 with VGG19
    # features; vgg-mini's feature distances are on another scale, so srgan-v3's pixel and perceptual
    # weights are kept, with a third of its adversarial weight: at srgan-v3's 3e-3 the relativistic
    # loss took this body's Set5 PSNR-Y below SRGAN's published 29.40 dB (results/runs/esrgan-lite).
    "esrgan-lite": dict(data=TRAIN_DATA, patch=128, batch_size=16, lr=1e-4, steps=500, warmup_steps=0,
                        w_pixel=1.0, w_perceptual=0.1, w_adv=1e-3, perceptual="vgg-mini", init_from="rrdb-psnr",
                        gan_loss="relativistic"),
    # Real-photo SR (studio.sr.real_degradation): srresnet fine-tuned on LR crops made by the
    # high-order degradation model (blur, resize, noise, JPEG, twice), L1 first ...
    "real-srresnet": dict(data=TRAIN_DATA, patch=128, batch_size=16, lr=2e-4, steps=2500, warmup_steps=0,
                          w_pixel=1.0, w_perceptual=0.0, w_adv=0.0, perceptual=None, init_from="srresnet",
                          degradation="real"),
    # ... then Real-ESRGAN's second stage on the same inputs, with esrgan-lite's loss and weights and half its
    # steps (one GAN step costs several pixel steps)
    "real-srgan-lite": dict(data=TRAIN_DATA, patch=128, batch_size=16, lr=1e-4, steps=250, warmup_steps=0,
                            w_pixel=1.0, w_perceptual=0.1, w_adv=1e-3, perceptual="vgg-mini",
                            init_from="real-srresnet", gan_loss="relativistic", degradation="real"),
}
GAN_LOSSES = ("standard", "relativistic")
#: the replay's crops (studio.snapshots): the centre of the first validation images, in HR pixels
SNAPSHOT_CROPS, SNAPSHOT_SIZE = 3, 128
#: how the LR crops are made: the literature's clean bicubic downscale, or studio.sr.real_degradation
DEGRADATIONS = ("bicubic", "real")


class SuperResolutionTask(TrainingTask):
    def __init__(self, preset: str, args):
        self.preset, self.args = preset, args
        self.scale = args.scale
        self.gan = args.w_adv > 0
        self.relativistic = args.gan_loss == "relativistic"
        self.optimizers = {"g": ["g"], "d": ["d"]} if self.gan else {"g": ["g"]}
        self.bank = ImageBank(args.data, min_side=args.patch)
        self.val_paths = list_images(args.val)
        self.val_images = [mod_crop(load_image(p), self.scale) for p in self.val_paths]
        # validation inputs are fixed: one seeded draw per image, the same at every validation
        self.val_inputs = [self.make_lr(hr, np.random.default_rng([0, index])) for index, hr in enumerate(self.val_images)]
        self.perceptual = None
        if args.w_perceptual > 0:
            self.perceptual = PerceptualLoss(load_feature_backbone(args.perceptual, args.perceptual_weights))

    def build_modules(self, cfg):
        generator = build_model(self.preset, scale=self.scale)
        if self.args.init_from:
            load_initial_weights(generator, self.args.init_from)
        modules = {"g": generator}
        if self.gan:
            modules["d"] = Discriminator()
        return modules

    def phases(self, step):
        if not self.gan or step < self.args.warmup_steps:
            return ["g"]
        return ["d", "g"]

    def make_lr(self, hr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.args.degradation == "real":
            return real_degradation.degrade(hr, rng, self.scale)[0]
        return downscale(hr, self.scale)

    def sample_batch(self, rng, batch_size, device):
        hr = self.bank.random_crops(rng, batch_size, self.args.patch)
        if self.args.degradation == "real":
            return {"lr": real_degradation.degrade_batch(hr, rng, self.scale), "hr": hr}
        return {"lr": downscale_batch(hr, self.scale), "hr": hr}

    def loss(self, phase, batch, ctx):
        generator = ctx.models["g"]
        if phase == "d":
            with torch.no_grad():
                fake = generator(batch["lr"]).clamp(0, 1)
            real_logits, fake_logits = ctx.models["d"](batch["hr"]), ctx.models["d"](fake)
            if self.relativistic:  # d_real / d_fake below stay sigmoid(logit): not what this D is trained on
                loss = relativistic_gan_loss(real_logits, fake_logits, for_generator=False)
            else:
                loss = 0.5 * (gan_loss(real_logits, True) + gan_loss(fake_logits, False))
            return loss, {"loss_d": loss.item(), "d_real": torch.sigmoid(real_logits).mean().item(),
                          "d_fake": torch.sigmoid(fake_logits).mean().item()}
        sr = generator(batch["lr"])
        pixel = F.l1_loss(sr, batch["hr"])
        total, logs = self.args.w_pixel * pixel, {"loss_pixel": pixel.item()}
        in_gan_phase = self.gan and ctx.step >= self.args.warmup_steps
        if self.perceptual is not None and in_gan_phase:
            perceptual = self.perceptual(sr, batch["hr"])
            total = total + self.args.w_perceptual * perceptual
            logs["loss_perceptual"] = perceptual.item()
        if in_gan_phase and self.relativistic:
            with torch.no_grad():
                real_logits = ctx.models["d"](batch["hr"])
            adversarial = relativistic_gan_loss(real_logits, ctx.models["d"](sr), for_generator=True)
            total = total + self.args.w_adv * adversarial
            logs["loss_adv"] = adversarial.item()
        elif in_gan_phase:
            adversarial = gan_loss(ctx.models["d"](sr), True)
            total = total + self.args.w_adv * adversarial
            logs["loss_adv"] = adversarial.item()
        logs["loss_g"] = total.item()
        return total, logs

    snapshot_family = "sr"

    def snapshot_crops(self) -> list[SnapshotCrop]:
        """The centre of the first SNAPSHOT_CROPS validation images, SNAPSHOT_SIZE px of HR (or the
        whole image where it is smaller), with this run's own LR input of that region."""
        crops, s = [], self.scale
        for path, hr, lr in list(zip(self.val_paths, self.val_images, self.val_inputs))[:SNAPSHOT_CROPS]:
            size = min(SNAPSHOT_SIZE, *hr.shape[:2]) // s * s
            top, left = (hr.shape[0] - size) // 2 // s * s, (hr.shape[1] - size) // 2 // s * s
            crops.append(SnapshotCrop(path.stem, path.name, (top, left, size),
                                      input=lr[top // s:(top + size) // s, left // s:(left + size) // s],
                                      target=hr[top:top + size, left:left + size]))
        return crops

    def snapshot_outputs(self, ctx, crops):
        generator, outputs = ctx.modules["g"], {}
        for crop in crops:
            lr = torch.from_numpy(np.ascontiguousarray(crop.input)).permute(2, 0, 1)[None]
            outputs[crop.name] = generator(ctx.to_device(lr)).clamp(0, 1)[0].permute(1, 2, 0).float().cpu().numpy()
        return outputs

    def validate(self, ctx):
        generator, values = ctx.modules["g"], []
        for hr, lr in zip(self.val_images, self.val_inputs):
            lr = torch.from_numpy(lr).permute(2, 0, 1)[None]
            sr = generator(ctx.to_device(lr)).clamp(0, 1)[0].permute(1, 2, 0).float().cpu().numpy()
            values.append(psnr(quantize(sr), hr, border=self.scale, y_channel=True))
        return {"val_psnr_y": float(np.mean(values))}


def build_parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", required=True, choices=sorted(PRESETS))
    parser.add_argument("--run-name", help="folder under results/runs (default: the preset name)")
    parser.add_argument("--data", nargs="+", help="folders of HR training images")
    parser.add_argument("--val", default=VAL_DATA, help="folder of HR validation images (default set5)")
    scale = TASKS["sr"].param("scale")
    parser.add_argument("--scale", type=cli.number(scale.low, scale.high), default=scale.default)
    parser.add_argument("--patch", type=cli.number(8), help="HR patch size")
    parser.add_argument("--batch-size", type=cli.number(1))
    parser.add_argument("--lr", type=cli.number(0, integer=False))
    parser.add_argument("--steps", type=cli.number(0))
    parser.add_argument("--warmup-steps", type=cli.number(0), help="pixel-loss-only steps before the GAN phase")
    parser.add_argument("--w-pixel", type=cli.number(0, integer=False))
    parser.add_argument("--w-perceptual", type=cli.number(0, integer=False))
    parser.add_argument("--w-adv", type=cli.number(0, integer=False))
    parser.add_argument("--perceptual", help="feature backbone: vgg-mini (trained here) or vgg19")
    parser.add_argument("--perceptual-weights", "--vgg19-weights", dest="perceptual_weights",
                        help="local weights file for the perceptual backbone")
    parser.add_argument("--gan-loss", choices=GAN_LOSSES,
                        help="standard (SRGAN) or relativistic average (ESRGAN) adversarial loss")
    parser.add_argument("--degradation", choices=DEGRADATIONS,
                        help="how LR crops are made: bicubic downscale, or the real-photo degradation model")
    parser.add_argument("--init-from", help="start the generator from a model folder or name (the warmup)")
    add_run_arguments(parser, grad_clip=0.0, val_every=250, log_every=20, ckpt_every=100)
    return parser


def parse_args(argv=None):
    """The command line's arguments, with the preset's settings where an option was not given."""
    parser = build_parser()
    args = parser.parse_args(argv)
    defaults = dict(gan_loss="standard", degradation="bicubic") | PRESETS[args.preset]
    for key, value in defaults.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.patch % args.scale:
        parser.error(f"--patch {args.patch} must be a multiple of --scale {args.scale}")
    args.run_name = args.run_name or args.preset
    return args


def make_args(preset: str, **options):
    """The arguments of a run, from Python: ``options`` as keywords (``patch=64``, ``data=[...]``),
    checked by the command line's own parser; ``args.command`` is the equivalent command."""
    return cli.parse_as_command(parse_args, "training.train_sr",
                                ["--preset", preset, *cli.to_argv(build_parser(), options)])


@cli.one_line_errors(CheckpointError, TrainingDiverged, FileExistsError, FileNotFoundError, ImageLoadError, ValueError)
def main(argv=None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    return train(cli.parse_as_command(parse_args, "training.train_sr", argv))


def train(args) -> dict:
    """One run (``parse_args`` or ``make_args``): train, export the generator with its card;
    returns the engine's result (the best validation figures) with the run and export folders."""
    # what would stop the run later, checked before the images are loaded
    check_run_start(args.runs_dir, args.run_name, args.resume, args.export or CHECKPOINT_DIR / args.preset)
    if args.init_from:
        init_source(args.init_from)
    for folder in (*args.data, args.val):
        require_dataset(folder, "--data/--val")
    task = SuperResolutionTask(args.preset, args)
    cfg = TrainConfig.from_args(args, betas=(0.9, 0.999) if not task.gan else (0.5, 0.999), scheduler="cosine",
                                min_lr=1e-6)
    trainer = Trainer(task, cfg)
    result = trainer.fit()
    if trainer.is_main and args.export != "none":
        generator = trainer.modules["g"].to("cpu").to(memory_format=torch.contiguous_format)
        export = Path(args.export) if args.export else CHECKPOINT_DIR / args.preset
        card = trainer.model_card(
            args.preset, args.command,
            architecture=dict(get_entry(args.preset).config, scale=args.scale), scale=args.scale,
            training={
                "preset": args.preset,
                "losses": {"pixel_l1": args.w_pixel, "perceptual": args.w_perceptual, "adversarial": args.w_adv,
                           "gan_loss": args.gan_loss if args.w_adv > 0 else None},
                "perceptual_backbone": args.perceptual if args.w_perceptual > 0 else None,
                "warmup": (f"initialised from {args.init_from} (pixel-loss training, its own card)"
                           if args.init_from else f"{args.warmup_steps} pixel-only steps"),
                "data": [display_path(d) for d in args.data],
                "patch_hr": args.patch,
                "degradation": ("studio.sr.real_degradation (high-order: blur, resize, noise, JPEG, twice)"
                                if args.degradation == "real" else "MATLAB bicubic downscale"),
                "validation": {"data": display_path(args.val), "best": result["best"],
                               "inputs": ("one seeded real-photo degradation per image" if args.degradation == "real"
                                          else "bicubic downscale")},
            })
        trainer.export(generator, export, card)
    trainer.close()
    return {"result": result, "run_dir": str(trainer.run_dir),
            "export": None if args.export == "none" else str(args.export or CHECKPOINT_DIR / args.preset)}


if __name__ == "__main__":
    main()
