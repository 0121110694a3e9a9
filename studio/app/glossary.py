"""The words of the studio a student may not know yet, each explained in a sentence or two.

Shown in the "Words used here" accordion of every task tab and of the Models tab; a test keeps
every term in use somewhere in what the studio shows (its page, the model cards and lessons).
"""

from __future__ import annotations

GLOSSARY = {
    "PSNR": "Peak signal-to-noise ratio, in dB: how close an output is to the ground truth, pixel by pixel "
            "(higher is closer). It rewards safe, smooth guesses over invented texture.",
    "PSNR-Y": "PSNR on the luminance (Y) channel only, as the super-resolution literature reports it: the "
              "structure, not the colours.",
    "SSIM": "Structural similarity, from 0 to 1: compares local brightness, contrast and structure rather than "
            "single pixels, closer to what the eye notices.",
    "Δ vs input": "The gain over the degraded input itself (or its bicubic upscaling for SR): what the model adds.",
    "up to shift": "Blind deblurring may return a sharp photo moved by a pixel or two; Levin et al.'s protocol "
                   "scores it at the best small shift (quarter-pixel steps here) so the shift is not counted "
                   "as an error.",
    "kernel": "The blur's shape: how one point of light is smeared by the camera's motion. Deblurring with the "
              "right kernel is a well-posed inversion; the hard part is finding it.",
    "oracle": "A model given something a real photo never provides, here the true blur kernel: an upper bound "
              "for what that knowledge is worth, not a fair competitor.",
    "blind": "Without the true kernel: the model estimates it from the blurred photo itself.",
    "L0 gradient prior": "The assumption that a sharp photo has few, strong edges (most of its gradients exactly zero); "
                "it steers the kernel estimate towards the kernel that makes the photo look like that.",
    "HQS": "Half-quadratic splitting: deblurring by alternating a step that fits the blur model (fast, in the "
           "Fourier domain) and a step that cleans the image (here a learned denoiser), a few times over.",
    "plug-and-play": "Using a denoiser trained on its own as the image prior inside a classical optimisation "
                     "such as HQS, instead of training a network end to end for each degradation.",
    "Wiener": "The classical deconvolution: divide by the kernel in the Fourier domain, damped where the kernel "
              "has little energy so that noise is not amplified without bound.",
    "GAN": "A generator trained against a discriminator that tells its outputs from real photos: it learns "
           "textures that look real, at a cost in PSNR.",
    "d_real / d_fake": "The discriminator's mean output on real photos and on the generator's: near 1 / 0 it "
                       "wins easily (the generator learns little from it); close together, the two are balanced.",
    "perceptual loss": "An error measured on the features of a pretrained network instead of on pixels: it "
                       "rewards textures that look right rather than their average, which is a blur.",
    "bf16 autocast": "Running a network in 16-bit brain floating point where it is safe: faster on CPUs with "
                     "native support, a tiny difference in the output (the published figures use fp32).",
    "perception–distortion": "No method can be both the closest to the ground truth on average (distortion) "
                             "and the most natural-looking (perception): the plot shows where each model sits.",
}


def glossary_markdown() -> str:
    """The glossary as a Markdown list, terms in bold."""
    return "\n".join(f"- **{term}**: {text}" for term, text in GLOSSARY.items())
