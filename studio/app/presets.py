"""Teaching presets: model selections that tell one family's story in a single comparison.

Each task tab offers its presets above the model list; picking one ticks exactly its models (the
ones this checkout can run) and sets the degradation controls its story needs, so a class sees one
lesson at a time instead of every model at once.
"""

from __future__ import annotations

#: per task: (title, the story it tells, the models it selects in the order the story reads, and the
#: degradation settings it needs: task parameter -> value; the others keep what the page shows)
PRESETS = {
    "sr": [
        ("SRGAN v1 → v2 → v3 vs the PSNR model",
         "How data and warm-up (v2), then a perceptual loss (v3), turn an adversarial failure into "
         "texture, beside the PSNR-trained generator they all start from.",
         ["bicubic", "srresnet", "srgan-v1", "srgan-v2", "srgan-v3"], {"degradation": "bicubic"}),
        ("ESRGAN's changes, one at a time",
         "The relativistic-average GAN loss alone (srgan-v3-ra), then the RRDB generator trained for PSNR "
         "(rrdb-psnr) and as a GAN (esrgan-lite).",
         ["bicubic", "srgan-v3", "srgan-v3-ra", "rrdb-psnr", "esrgan-lite"], {"degradation": "bicubic"}),
        ("A real photo: bicubic-trained vs real-degradation-trained",
         "The same photo blurred, resized, noised and JPEG-compressed twice, as cameras and the web do: the "
         "models trained on clean bicubic downscaling sharpen the noise and the blocks, the ones trained on "
         "the real-photo degradation remove them.",
         ["bicubic", "srresnet", "esrgan-lite", "real-srresnet", "real-srgan-lite"], {"degradation": "real"}),
    ],
    "deblur": [
        ("End to end vs kernel route",
         "A U-Net that must learn the inversion, against kernel estimation plus a learned denoiser, "
         "with the classical Wiener step on the same estimate.",
         ["unet-light-v3", "wiener-blind", "pnp-blind"], {}),
        ("What knowing the kernel is worth",
         "The same two deconvolutions given the true kernel and given an estimate: the gaps are what "
         "the prior adds and what estimation costs.",
         ["wiener-oracle", "pnp-oracle", "wiener-blind", "pnp-blind"], {}),
        ("The logbook's U-Nets",
         "v1 (plateau), v3 (cosine, the champion) and No-Norm, beside unsharp masking.",
         ["unsharp-mask", "unet-light-v1", "unet-light-v3", "unet-light-nonorm"], {}),
    ],
    "restoration": [
        ("Three restoration approaches",
         "A VAE-UNet, a pix2pix GAN and a two-stage CNN (restore, then colourise), beside the classical "
         "filters that stay gray.",
         ["classical", "vae-unet", "pix2pix-gan", "cnn-two-stage"], {}),
    ],
}


def presets_for(task: str) -> list[tuple[str, str, list[str], dict]]:
    """The presets of ``task`` (an empty list where it has none)."""
    return list(PRESETS.get(task, []))


def _preset(task: str, title: str) -> tuple[str, str, list[str], dict]:
    for preset in presets_for(task):
        if preset[0] == title:
            return preset
    raise KeyError(f"no preset {title!r} for {task}; have: {', '.join(p[0] for p in presets_for(task))}")


def preset_models(task: str, title: str, available: list[str]) -> list[str]:
    """The models preset ``title`` of ``task`` selects, among ``available``, in the preset's order."""
    return [m for m in _preset(task, title)[2] if m in available]


def preset_settings(task: str, title: str) -> dict:
    """The degradation settings preset ``title`` of ``task`` sets (task parameter -> value)."""
    return dict(_preset(task, title)[3])
