"""Train the restoration family: degraded gray photo -> restored colour photo (source 002, docs/sources.md).

    python -m training.train_restoration --preset vae-unet                     # CPU-budget recipe
    python -m training.train_restoration --preset pix2pix-gan --recipe gpu     # full size
    python -m training.train_restoration --preset cnn-two-stage --steps 50 --run-name try   # any override
    python -m training.train_restoration --preset vae-unet --time-step         # time a step, train nothing

Presets (the source's three approaches):
  vae-unet       reconstruction L1 + beta * KL, beta annealed linearly from 0 to --beta over the first
                 --beta-warmup share of the steps; logs loss_recon, loss_kl (the raw KL) and beta
  pix2pix-gan    --warmup-steps L1-only generator steps (as srgan-v2's pixel warm-up), then the GAN
                 phase: each step 1 discriminator update then 2 generator updates (phases d, g, g);
                 generator loss = w_adv * adversarial (BCE) + w_l1 * L1 + w_perceptual * perceptual;
                 cosine learning-rate schedules for both (D at --lr-d); logs loss_d, d_real, d_fake,
                 loss_adv, loss_l1, loss_perceptual, loss_g
  cnn-two-stage  both stages in one run, two optimizers, two phases per step: "cnn1" (CNN1 in
                 [-1, 1], L1 + MSE + perceptual against the colour target), then "cnn2" (CNN2 on the
                 luminance of CNN1's detached output, L1); logs loss_cnn1, loss_cnn2 and their terms
The perceptual loss is studio.losses.PerceptualLoss on the vgg-mini backbone trained here (no VGG19
weights offline; --perceptual vgg19 --perceptual-weights FILE uses VGG19 where you have it).

Data: every training pair is made on the fly from a random crop of bsds500 train+test (height and
width drawn independently between --patch px and the full side, so scale and aspect vary as when a
whole photo is resized; --patch is 96 in the cpu recipe, 128 in the gpu one), resized to --patch px
and passed through studio.restoration.degradation.degrade with every parameter drawn at random (the
training distribution); the clean target is the same crop resized.
cbsd68's images are excluded from the training bank by ID (they are BSDS500 *val* images, so none
of train+test is removed; the card records this). Validation: the 32 bsds500/val images that are
not in cbsd68, resized to --patch px (96 in the cpu recipe), with the fixed benchmark degradation
(seeded); the evaluation (studio.evaluate) is at 128 px.

Two recipes (``--recipe``): ``cpu`` produced the shipped checkpoints on one CPU thread (each run's
time: the ``seconds`` column of results/runs/<preset>/metrics.csv); ``gpu`` is the full-size schedule
(same architectures, 128 px, ``GPU_RECIPES``' steps and batch).
The run log goes to results/runs/<run>/, the exported model to checkpoints/<preset>/.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from models.gray_input import luminance
from models.pix2pix import DISCRIMINATOR, PatchDiscriminator
from models.vae_unet import kl_divergence
from studio import cli
from studio.checkpoint import CheckpointError
from studio.data import DATASETS, ImageBank, display_path, require_dataset
from studio.restoration import degradation as R
from studio.engine import TrainConfig, Trainer, TrainingDiverged, TrainingTask, add_run_arguments, check_run_start
from studio.imageio import ImageLoadError, list_images, load_image, quantize
from studio.losses import PerceptualLoss, gan_loss, load_feature_backbone
from studio.metrics import psnr
from studio.registry import CHECKPOINT_DIR, build_model
from studio.snapshots import SnapshotCrop

TRAIN_DATA = [str(DATASETS / "bsds500" / "train"), str(DATASETS / "bsds500" / "test")]
VAL_DATA = str(DATASETS / "bsds500" / "val")
EXCLUDE_DATA = str(DATASETS / "cbsd68")  # benchmark images: never trained or validated on
PRESETS = ("vae-unet", "pix2pix-gan", "cnn-two-stage")

# What each preset trains with (the source's losses), before the recipe's size and schedule.
LOSSES = {
    "vae-unet": dict(beta=1e-3, beta_warmup=0.3, w_l1=1.0, w_mse=0.0, w_perceptual=0.0, w_adv=0.0),
    "pix2pix-gan": dict(w_l1=1.0, w_mse=0.0, w_perceptual=0.1, w_adv=0.01),
    "cnn-two-stage": dict(w_l1=1.0, w_mse=1.0, w_perceptual=0.1, w_adv=0.0),
}
# CPU-budget recipes (one thread each; the CPU was shared with another training; each run's time is
# in its log, results/runs/<preset>/metrics.csv). One step is timed by ``OMP_NUM_THREADS=1 python -m
# training.train_restoration --preset P --time-step --threads 1``: pix2pix-gan's GAN phase (1 D + 2 G
# updates, the perceptual loss in each G update) costs several of its L1 warm-up steps, and the
# vgg-mini perceptual loss of CNN1 is about half of a cnn-two-stage step. At 128 px x 8 the first,
# wider models (24-32 channels at full resolution) left only a few hundred steps in the budget, hence
# 96 px crops and 16-channel full-resolution stages. Validation is at the same 96 px (the evaluation
# is at 128 px). pix2pix-gan: without the warm-up (GAN steps from scratch, lr 1e-3 / D 2e-4) it scored
# below the classical baseline on cbsd68; see docs/restoration.md.
CPU_RECIPES = {
    "vae-unet": dict(patch=96, batch_size=12, steps=1100, lr=2e-3, lr_d=None, val_every=100),
    "pix2pix-gan": dict(patch=96, batch_size=8, steps=1250, warmup_steps=900, lr=2e-3, lr_d=1e-3, val_every=50),
    "cnn-two-stage": dict(patch=96, batch_size=8, steps=650, lr=2e-3, lr_d=None, val_every=50),
}
# Full size: the same architectures, a long schedule on a GPU (or more data via --data).
GPU_RECIPES = {
    "vae-unet": dict(patch=128, batch_size=32, steps=100_000, lr=5e-4, lr_d=None, val_every=2000),
    "pix2pix-gan": dict(patch=128, batch_size=32, steps=100_000, warmup_steps=10_000, lr=2e-4, lr_d=2e-4,
                        val_every=2000),
    "cnn-two-stage": dict(patch=128, batch_size=32, steps=100_000, lr=5e-4, lr_d=None, val_every=2000),
}
SUPPORTS = {"128px": True, "full_resolution": True,
            "how": "fully convolutional (mirror-padded to a multiple of 8 and cropped back); large images are "
                   "tiled by studio.inference.run_model on the size_multiple grid"}


def benchmark_ids() -> set[str]:
    """Stems of the cbsd68 images (BSDS IDs), excluded from training and validation."""
    return {p.stem for p in list_images(EXCLUDE_DATA)} if Path(EXCLUDE_DATA).is_dir() else set()


def random_pair(bank: ImageBank, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(degraded, clean), each size x size x 3 float32: a random crop through the random degradation."""
    image = bank.images[rng.integers(len(bank))]
    height, width = image.shape[:2]
    crop_h = int(rng.integers(min(size, height), height + 1))
    crop_w = int(rng.integers(min(size, width), width + 1))
    top, left = int(rng.integers(height - crop_h + 1)), int(rng.integers(width - crop_w + 1))
    crop = image[top:top + crop_h, left:left + crop_w]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    crop = crop.astype(np.float32) / 255.0
    degraded, _ = R.degrade(crop, rng, size=size)
    return degraded, R.prepare_clean(crop, size)


#: how many validation images the replay snapshots (studio.snapshots), the same for every restoration run
SNAPSHOT_CROPS = 3


def to_batch(images: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous().float()


def validation_set(folder, exclude: set[str], size: int = 128, seed: int = 1234) -> list[dict]:
    """bsds500/val minus the benchmark IDs: clean, benchmark-degraded (seeded per image)."""
    items = []
    for index, path in enumerate(p for p in list_images(folder) if p.stem not in exclude):
        clean = R.prepare_clean(load_image(path), size)
        degraded = R.apply(clean, R.benchmark(np.random.default_rng([seed, index]), size=size))
        items.append({"name": path.stem, "clean": clean, "degraded": degraded})
    if not items:
        raise ValueError(f"no validation images left in {folder} once the benchmark IDs are excluded")
    return items


class RestorationTask(TrainingTask):
    def __init__(self, preset: str, args):
        self.preset, self.args = preset, args
        self.gan = args.w_adv > 0 and preset == "pix2pix-gan"
        if preset == "pix2pix-gan":
            self.optimizers = {"g": ["g"], "d": ["d"]}
        elif preset == "cnn-two-stage":
            self.optimizers = {"cnn1": ["cnn1"], "cnn2": ["cnn2"]}
        else:
            self.optimizers = {"g": ["g"]}
        self.excluded = benchmark_ids() if args.exclude_benchmark else set()
        self.bank = ImageBank(args.data, min_side=min(args.patch, 64), exclude_stems=self.excluded)
        names = {p.stem for folder in args.data for p in list_images(folder)}
        self.removed_from_training = sorted(names & self.excluded)
        self.val_items = validation_set(args.val, self.excluded, args.patch)
        self.val_degraded = to_batch([item["degraded"] for item in self.val_items])
        self.val_input_psnr = float(np.mean([psnr(i["degraded"], i["clean"]) for i in self.val_items]))
        self.val_input_psnr_y = float(np.mean([psnr(i["degraded"], i["clean"], y_channel=True)
                                                for i in self.val_items]))
        self.perceptual = None
        if args.w_perceptual > 0:
            self.perceptual = PerceptualLoss(load_feature_backbone(args.perceptual, args.perceptual_weights))
        self.wrapper = None  # cnn-two-stage: the inference module that holds both stages

    # ---- modules and phases ------------------------------------------------------------------
    def build_modules(self, cfg):
        model = build_model(self.preset)
        if self.preset == "cnn-two-stage":
            self.wrapper = model
            return {"cnn1": model.cnn1, "cnn2": model.cnn2}
        modules = {"g": model}
        if self.preset == "pix2pix-gan":
            modules["d"] = PatchDiscriminator(**DISCRIMINATOR)
        return modules

    def in_gan_phase(self, step: int) -> bool:
        return self.gan and step >= self.args.warmup_steps

    def phases(self, step):
        if self.preset == "pix2pix-gan":
            return ["d", "g", "g"] if self.in_gan_phase(step) else ["g"]
        if self.preset == "cnn-two-stage":
            return ["cnn1", "cnn2"]
        return ["g"]

    def optimizer_config(self, name, cfg):
        return {"lr": self.args.lr_d} if name == "d" and self.args.lr_d else {}

    def sample_batch(self, rng, batch_size, device):
        pairs = [random_pair(self.bank, rng, self.args.patch) for _ in range(batch_size)]
        return {"degraded": to_batch([p[0] for p in pairs]), "clean": to_batch([p[1] for p in pairs])}

    # ---- losses ------------------------------------------------------------------------------
    def beta(self, step: int) -> float:
        warmup = max(1, int(self.args.beta_warmup * self.args.steps))
        return self.args.beta * min(1.0, step / warmup)

    def _pixel_terms(self, output, target, logs: dict, prefix: str = "") -> torch.Tensor:
        a = self.args
        total = output.new_zeros(())
        if a.w_l1 > 0:
            l1 = F.l1_loss(output, target)
            total, logs[f"loss_{prefix}l1"] = total + a.w_l1 * l1, l1.item()
        if a.w_mse > 0:
            mse = F.mse_loss(output, target)
            total, logs[f"loss_{prefix}mse"] = total + a.w_mse * mse, mse.item()
        return total

    def _perceptual(self, output01, target01, logs: dict, prefix: str = "") -> torch.Tensor:
        if self.perceptual is None:
            return output01.new_zeros(())
        if next(self.perceptual.parameters()).device != output01.device:
            self.perceptual.to(output01.device)
        value = self.perceptual(output01, target01)
        logs[f"loss_{prefix}perceptual"] = value.item()
        return self.args.w_perceptual * value

    def loss(self, phase, batch, ctx):
        degraded, clean = batch["degraded"], batch["clean"]
        logs: dict[str, float] = {}
        if self.preset == "vae-unet":
            out, mu, logvar = ctx.models["g"](degraded, return_latent=True)
            recon = self._pixel_terms(out, clean, logs)
            kl = kl_divergence(mu, logvar)
            beta = self.beta(ctx.step)
            total = recon + beta * kl
            logs.update(loss_recon=recon.item(), loss_kl=kl.item(), beta=beta, loss_total=total.item())
            return total, logs
        if self.preset == "cnn-two-stage":
            gray = degraded[:, :1].expand(-1, 3, -1, -1) * 2.0 - 1.0  # R = G = B: the luminance
            target = clean * 2.0 - 1.0
            if phase == "cnn1":
                restored = ctx.models["cnn1"](gray)
                total = self._pixel_terms(restored, target, logs, "cnn1_")
                total = total + self._perceptual((restored.clamp(-1, 1) + 1) / 2, clean, logs, "cnn1_")
                logs["loss_cnn1"] = total.item()
                return total, logs
            with torch.no_grad():
                restored = ctx.models["cnn1"](gray)
            colour = ctx.models["cnn2"](luminance(restored))
            total = F.l1_loss(colour, target)
            logs["loss_cnn2"] = total.item()
            return total, logs
        # pix2pix-gan
        generator = ctx.models["g"]
        if phase == "d":
            with torch.no_grad():
                fake = generator(degraded).clamp(0, 1)
            real_logits, fake_logits = ctx.models["d"](degraded, clean), ctx.models["d"](degraded, fake)
            loss = 0.5 * (gan_loss(real_logits, True) + gan_loss(fake_logits, False))
            return loss, {"loss_d": loss.item(), "d_real": torch.sigmoid(real_logits).mean().item(),
                          "d_fake": torch.sigmoid(fake_logits).mean().item()}
        out = generator(degraded)
        total = self._pixel_terms(out, clean, logs)
        if self.in_gan_phase(ctx.step):  # the pixel-loss warm-up has neither (as srgan-v2's)
            total = total + self._perceptual(out.clamp(0, 1), clean, logs)
            adversarial = gan_loss(ctx.models["d"](degraded, out), True)
            total = total + self.args.w_adv * adversarial
            logs["loss_adv"] = adversarial.item()
        logs["loss_g"] = total.item()
        return total, logs

    # ---- validation --------------------------------------------------------------------------
    def inference_model(self, ctx) -> torch.nn.Module:
        return self.wrapper if self.preset == "cnn-two-stage" else ctx.modules["g"]

    # ---- the replay (studio.snapshots): the first validation images, whole, at the working size ---------
    snapshot_family = "restoration"

    def snapshot_crops(self) -> list[SnapshotCrop]:
        return [SnapshotCrop(item["name"], item["name"], (0, 0, item["clean"].shape[0]), input=item["degraded"],
                             target=item["clean"]) for item in self.val_items[:SNAPSHOT_CROPS]]

    def snapshot_outputs(self, ctx, crops):
        out = self.inference_model(ctx)(ctx.to_device(to_batch([c.input for c in crops]))).clamp(0, 1).float().cpu()
        return {crop.name: image.permute(1, 2, 0).numpy() for crop, image in zip(crops, out)}

    def validate(self, ctx):
        model = self.inference_model(ctx)
        was_training = model.training
        model.eval()
        values, values_y = [], []
        for start in range(0, len(self.val_items), 8):
            out = model(ctx.to_device(self.val_degraded[start:start + 8])).clamp(0, 1).float().cpu()
            for i, restored in enumerate(out):
                image, clean = quantize(restored.permute(1, 2, 0).numpy()), self.val_items[start + i]["clean"]
                values.append(psnr(image, clean))
                values_y.append(psnr(image, clean, y_channel=True))
        model.train(was_training)
        value, value_y = float(np.mean(values)), float(np.mean(values_y))
        return {"val_psnr": value, "val_psnr_y": value_y, "val_input_psnr": self.val_input_psnr,
                "val_input_psnr_y": self.val_input_psnr_y, "val_gain": value - self.val_input_psnr}


def build_parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", required=True, choices=PRESETS)
    parser.add_argument("--recipe", choices=["cpu", "gpu"], default="cpu")
    parser.add_argument("--run-name", help="folder under results/runs (default: the preset name)")
    parser.add_argument("--data", nargs="+", default=TRAIN_DATA, help="folders of clean colour photos")
    parser.add_argument("--val", default=VAL_DATA, help="folder of clean validation photos")
    parser.add_argument("--exclude-benchmark", action=argparse.BooleanOptionalAction, default=True,
                        help="leave cbsd68's BSDS IDs out of training and validation (default on)")
    parser.add_argument("--patch", type=int, help="training image size (the degradation's resize target)")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--lr-d", type=float, help="discriminator learning rate (pix2pix-gan)")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--beta", type=float, help="vae-unet: final KL weight")
    parser.add_argument("--beta-warmup", type=float, help="vae-unet: share of the steps over which beta grows from 0")
    parser.add_argument("--w-l1", type=float)
    parser.add_argument("--w-mse", type=float)
    parser.add_argument("--w-perceptual", type=float)
    parser.add_argument("--w-adv", type=float)
    parser.add_argument("--warmup-steps", type=int,
                        help="pix2pix-gan: L1-only generator steps before the GAN phase (1 D + 2 G updates per step)")
    parser.add_argument("--perceptual", default="vgg-mini", help="feature backbone: vgg-mini (trained here) or vgg19")
    parser.add_argument("--perceptual-weights", "--vgg19-weights", dest="perceptual_weights",
                        help="local weights file for the perceptual backbone")
    add_run_arguments(parser, grad_clip=1.0, log_every=10, ckpt_every=50, channels_last_help="channels-last memory format")
    parser.add_argument("--time-step", action="store_true",
                        help="time 3 training steps of this recipe (data + every phase), print them, train nothing")
    return parser


def parse_args(argv=None):
    """The command line's arguments, with the preset's and the recipe's settings where not given."""
    parser = build_parser()
    args = parser.parse_args(argv)
    recipes = CPU_RECIPES if args.recipe == "cpu" else GPU_RECIPES
    defaults = {"beta": 0.0, "beta_warmup": 0.3, "warmup_steps": 0, **LOSSES[args.preset], **recipes[args.preset]}
    for key, value in defaults.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    for key in ("patch", "batch_size", "steps"):
        if getattr(args, key) < 1:
            parser.error(f"--{key.replace('_', '-')} must be positive, got {getattr(args, key)}")
    if args.patch < 16:
        parser.error(f"--patch must be at least 16 px, got {args.patch}")
    args.run_name = args.run_name or args.preset
    return args


def time_steps(trainer: Trainer, task: RestorationTask, cfg: TrainConfig, count: int = 3) -> list[float]:
    """Seconds of ``count`` training steps (sampling + every phase's update), nothing saved; a GAN
    with a warm-up is timed in both parts."""
    for module in trainer.modules.values():
        module.train()
    starts = [0] + ([task.args.warmup_steps] if task.gan and 0 < task.args.warmup_steps < cfg.max_steps else [])
    seconds = []
    for start in starts:
        part = []
        for step in range(start, start + count):
            trainer.step = step
            began = time.perf_counter()
            batch = task.sample_batch(np.random.default_rng([cfg.seed, 0, step]), cfg.batch_size, trainer.device)
            batch = {k: trainer.to_device(v) for k, v in batch.items()}
            sampled = time.perf_counter() - began
            for phase in task.phases(step):
                trainer.train_step(phase, batch)
            part.append(time.perf_counter() - began)
            print(f"{task.preset}: step {step} of {cfg.batch_size} x {task.args.patch}px took {part[-1]:.3f} s "
                  f"(data {sampled:.3f} s; phases {task.phases(step)}; {torch.get_num_threads()} threads)",
                  flush=True)
        steady = min(part[1:] or part)
        end = starts[starts.index(start) + 1] if start != starts[-1] else cfg.max_steps
        print(f"steady state {steady:.3f} s/step -> steps {start}-{end} ~ {steady * (end - start) / 60:.1f} min")
        seconds += part
    trainer.step = 0
    return seconds


def export_model(trainer: Trainer, task: RestorationTask) -> torch.nn.Module:
    model = task.inference_model(trainer)
    return model.to("cpu").to(memory_format=torch.contiguous_format).eval()


@cli.one_line_errors(CheckpointError, TrainingDiverged, FileExistsError, FileNotFoundError, ImageLoadError, ValueError)
def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    return train(cli.parse_as_command(parse_args, "training.train_restoration", argv))


def make_args(preset: str, **options):
    """The arguments of a run, from Python: ``options`` as keywords, checked by the command line's
    own parser; ``args.command`` is the equivalent command."""
    return cli.parse_as_command(parse_args, "training.train_restoration",
                                ["--preset", preset, *cli.to_argv(build_parser(), options)])


def train(args):
    """One run (``main`` or ``make_args``): train and export with its card; returns the engine's result."""
    if not args.time_step:  # what would stop the run later, checked before the images are loaded
        check_run_start(args.runs_dir, args.run_name, args.resume, args.export or CHECKPOINT_DIR / args.preset)
    for folder in (*args.data, args.val):
        require_dataset(folder, "--data/--val")
    task = RestorationTask(args.preset, args)
    cfg = TrainConfig.from_args(args, betas=(0.5, 0.999) if args.preset == "pix2pix-gan" else (0.9, 0.999),
                                scheduler="cosine", min_lr=1e-6)
    trainer = Trainer(task, cfg)
    if args.time_step:
        return time_steps(trainer, task, cfg)
    result = trainer.fit()
    if trainer.is_main and args.export != "none":
        model = export_model(trainer, task)
        export = Path(args.export) if args.export else CHECKPOINT_DIR / args.preset
        losses = {k: getattr(args, k) for k in ("w_l1", "w_mse", "w_perceptual", "w_adv")}
        if args.preset == "vae-unet":
            losses = {"reconstruction_l1": args.w_l1, "kl_beta": args.beta,
                      "kl_beta_schedule": f"linear from 0 over the first {args.beta_warmup:.0%} of the steps"}
        elif args.preset == "cnn-two-stage":
            losses = {"cnn1": {"l1": args.w_l1, "mse": args.w_mse, "perceptual": args.w_perceptual, "range": "[-1, 1]"},
                      "cnn2": {"l1": 1.0, "input": "luminance of CNN1's output (detached)"}}
        else:
            losses = {"l1": args.w_l1, "perceptual": args.w_perceptual, "adversarial": args.w_adv,
                      "schedule": "per step: 1 discriminator update, then 2 generator updates",
                      "warmup": f"{args.warmup_steps} L1-only generator steps before the GAN phase",
                      "discriminator": dict(DISCRIMINATOR, kind="conditional PatchGAN", lr=args.lr_d or args.lr)}
        card = trainer.model_card(
            args.preset, args.command, scale=1,
            supports=SUPPORTS, colourizes=True,
            training={
                "preset": args.preset,
                "recipe_name": args.recipe,
                "losses": losses,
                "perceptual_backbone": args.perceptual if args.w_perceptual > 0 else None,
                "data": {
                    "images": [display_path(d) for d in args.data], "train_images": len(task.bank),
                    "pairs": f"random crop (height and width each between {args.patch} px and the full side), "
                             f"horizontal flip, resized to {args.patch} px, degraded by studio.restoration.degradation.degrade "
                             "with every parameter random",
                    "degradation_ranges": R.TRAIN_RANGES,
                    "excluded_benchmark_ids": {
                        "source": display_path(EXCLUDE_DATA), "count": len(task.excluded),
                        "removed_from_training": len(task.removed_from_training),
                        "note": "cbsd68 = 68 BSDS500 val images; training uses train+test, so none is removed; "
                                "validation uses the 32 other val images"},
                },
                "patch": args.patch,
                "validation": {
                    "data": f"{display_path(args.val)} minus cbsd68: {len(task.val_items)} images at {args.patch} px, "
                            "benchmark degradation",
                    "input_psnr": round(task.val_input_psnr, 4), "input_psnr_y": round(task.val_input_psnr_y, 4),
                    "best": result["best"],
                    "exported": "the final weights (not the best validation step)",
                },
            })
        trainer.export(model, export, card)
    trainer.close()


if __name__ == "__main__":
    main()
