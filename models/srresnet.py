"""SRResNet generator and SRGAN discriminator (Ledig et al. 2017), sized for a CPU budget.

Generator: 9x9 head -> residual blocks (conv-[BN]-PReLU-conv-[BN] + skip) -> conv + long skip
-> conv + pixel-shuffle x4 tail. ``image_skip`` adds a bilinear upsampling of the input
to the output, so the network learns only the missing detail (as VDSR): it converges far faster,
which matters when training on two CPU cores. Fully convolutional: any input size.

Discriminator: strided conv blocks (as SRGAN) ending in global average pooling, so it scores
patches of any size (96 for v1, 128 for v2/v3).
"""

from __future__ import annotations

import torch
from torch import nn

from models.layers import PixelShuffleTail, add_upscaled_input, norm_layer
from studio.registry import register_model


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, norm: str):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), norm_layer(norm, channels), nn.PReLU(channels),
            nn.Conv2d(channels, channels, 3, padding=1), norm_layer(norm, channels),
        )

    def forward(self, x):
        return x + self.body(x)


class SRResNet(nn.Module):
    def __init__(self, scale: int = 4, channels: int = 64, num_blocks: int = 16, norm: str = "none",
                 output_activation: str = "none", image_skip: bool = True):
        super().__init__()
        if scale not in (2, 3, 4):
            raise ValueError(f"scale must be 2, 3 or 4, got {scale}")
        self.scale, self.image_skip, self.output_activation = scale, image_skip, output_activation
        self.head = nn.Sequential(nn.Conv2d(3, channels, 9, padding=4), nn.PReLU(channels))
        self.body = nn.Sequential(*[ResidualBlock(channels, norm) for _ in range(num_blocks)])
        self.body_tail = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), norm_layer(norm, channels))
        self.tail = PixelShuffleTail(channels, scale)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        features = self.head(lr - 0.5)  # centre the [0, 1] input
        features = features + self.body_tail(self.body(features))
        out = add_upscaled_input(self.tail(features), lr, self.scale, self.image_skip)
        if self.output_activation == "sigmoid":  # srgan-v1 here; the source's v2 replaced unsuitable activations (e.g. an output sigmoid)
            return torch.sigmoid((out - 0.5) * 4)
        return out


class Discriminator(nn.Module):
    """SRGAN discriminator: conv-LeakyReLU, then [conv-BN-LeakyReLU] pairs at stride 1/2."""

    def __init__(self, channels: int = 32, num_stages: int = 4):
        super().__init__()
        layers = [nn.Conv2d(3, channels, 3, padding=1), nn.LeakyReLU(0.2, inplace=True)]
        in_ch = channels
        for stage in range(num_stages):
            out_ch = channels * 2**stage
            for stride in ((2,) if stage == 0 else (1, 2)):
                layers += [nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False),
                           nn.BatchNorm2d(out_ch), nn.LeakyReLU(0.2, inplace=True)]
                in_ch = out_ch
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Conv2d(in_ch, in_ch * 2, 1), nn.LeakyReLU(0.2, inplace=True),
                                        nn.Conv2d(in_ch * 2, 1, 1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Real/fake logit per image (patch logits averaged)."""
        return self.classifier(self.features(image - 0.5)).mean(dim=(1, 2, 3))


GENERATOR = dict(scale=4, channels=48, num_blocks=12, norm="none", output_activation="none", image_skip=True)

register_model("srresnet", "sr", SRResNet, GENERATOR,
               "SRResNet generator trained with pixel loss only (the PSNR stage of SRGAN).",
               lesson=("The PSNR stage of SRGAN: pixel (L1) loss only. The source's v2 and v3 both start from such a "
                       "warmup -- 'a stable reconstruction, a good starting point for the GAN, no early collapse'. It is "
                       "the most faithful model here (highest PSNR) and also the smoothest: a pixel loss averages over "
                       "every plausible texture."))
register_model("srgan-v1", "sr", SRResNet, dict(GENERATOR, norm="batch", output_activation="sigmoid"),
               "SRGAN v1: 96x96 patches, small image set, pixel + adversarial loss from the start, no warmup.",
               lesson=("Source v1: a small image set, 96×96 patches, pixel + adversarial loss from the first step, no "
                       "separate pre-training. Its write-up lists the limits: too little data, over-smoothed textures, "
                       "limited PSNR, unstable GAN training. Reproduced here: the discriminator wins (d_real "
                       "{v1_late_d_real}, d_fake {v1_late_d_fake} over the last {v1_half_steps} of its {v1_steps} steps; "
                       "d_real {v1_d_real}, d_fake {v1_d_fake} averaged over the whole run) and the PSNR ends below "
                       "bicubic."))
register_model("srgan-v2", "sr", SRResNet, GENERATOR,
               "SRGAN v2: more data, larger patches, no output sigmoid, pixel-loss warmup then GAN phase.",
               lesson=("Source v2: richer data, larger inputs, unsuitable activations replaced (its example: a sigmoid "
                       "at the output), a pixel-loss warmup and then the GAN phase, with PSNR tracked. The lesson: data "
                       "and warmup, not a new architecture, made the GAN stable. Here the discriminator does not win "
                       "outright as srgan-v1's does, but it stays ahead (d_real {v2_d_real}, d_fake {v2_d_fake} averaged "
                       "over its run log; D(real) − D(fake) {v2_gap} on average and {v2_gap_last} at the last logged "
                       "step, 'D ahead' by the dashboard's rule, not balanced), and {v2_lost} dB of Set5 PSNR-Y is lost "
                       "in the GAN phase ({srresnet_last} dB from srresnet, {v2_last} dB at its last validation)."))
register_model("srgan-v3", "sr", SRResNet, GENERATOR,
               "SRGAN v3: structured warmup, then weighted pixel + perceptual + adversarial losses.",
               lesson=("Why v3 added a perceptual loss: a pixel loss rewards the average of all plausible textures, "
                       "which is a blur; a loss on the features of a pretrained network rewards textures that look "
                       "right. The weighted pixel + perceptual + adversarial loss sets the trade-off between fidelity "
                       "(PSNR) and perceived quality: expect a lower PSNR and sharper textures -- the "
                       "perception–distortion plot shows where it lands. The source used VGG features; no VGG19 weights "
                       "exist offline here, so the shipped v3 uses vgg-mini, trained in this repository on Tiny "
                       "ImageNet."))
register_model("srgan-v3-ra", "sr", SRResNet, GENERATOR,
               "SRGAN v3 with the relativistic average GAN loss (ESRGAN's loss change alone).",
               lesson=("ESRGAN's loss change alone: srgan-v3's generator, warmup, steps and loss weights, with the "
                       "relativistic average loss in place of the standard one. Its discriminator judges whether a real "
                       "image looks more realistic than the average fake, so the generator also learns from the real "
                       "images' scores. Compare it with srgan-v3 to see what the loss does, and with esrgan-lite for "
                       "what the RRDB body adds."))
register_model("real-srresnet", "sr", SRResNet, GENERATOR,
               "srresnet fine-tuned with pixel loss on real-photo degradations (blur, resize, noise, JPEG, twice).",
               lesson=("Every other SR model here learned one degradation: a clean photo shrunk with bicubic. A user's "
                       "photo was blurred by a lens, shrunk by some program, noisy, and JPEG-compressed, often twice. "
                       "Real-ESRGAN's answer is to train on a synthetic model of that chain; this is its first stage "
                       "(pixel loss), started from srresnet. Compare the two on a photo made with the real-photo "
                       "degradation: srresnet sharpens the noise and the JPEG blocks it never saw, this one removes "
                       "them. On a clean bicubic input it gives some PSNR back: it expects more blur than there is."))
register_model("real-srgan-lite", "sr", SRResNet, GENERATOR,
               "real-srresnet's GAN stage: relativistic adversarial + perceptual + pixel loss on real-photo degradations.",
               lesson=("Real-ESRGAN's second stage on this generator: the relativistic GAN loss and a perceptual loss "
                       "(esrgan-lite's weights), on the same real-photo degradations. It trades some PSNR for "
                       "sharper edges and texture, like the other GANs here, but on inputs that look like real photos."))
