"""The restoration family's generated tables (``python -m studio.readme_tables``; torch-free).

* ``restoration-results`` -- ``results/eval/restoration_{mcmaster,cbsd68}.csv``: the degraded input,
  then each model's mean PSNR / PSNR-Y; bold: the best model value of each figure.
* ``restoration-scores`` -- the same CSVs: mean PSNR / SSIM on RGB and PSNR-Y / SSIM-Y per model;
  bold: the best model value of each figure.
* ``restoration-chain`` -- ``results/eval/restoration_chain_{mcmaster,cbsd68}.csv``: restore at 128 px,
  then upscale x4; bold: the best gain over bicubic upscaling per test set.
"""

from __future__ import annotations

from studio.readme_tables import (DASH, Sources, best_keys, bold, input_mean, model_means, ordered, read_csv,
                                  signed, table_header, table_row)


RESTORATION_SETS = (("McMaster", "eval/restoration_mcmaster.csv"), ("CBSD68", "eval/restoration_cbsd68.csv"))
#: label and order of the restoration models; a model not named here follows, as `name`
RESTORATION_LABELS = {
    "classical": "`classical` (median + TV denoising + mild sharpening; stays gray)",
    "vae-unet": "`vae-unet`",
    "pix2pix-gan": "`pix2pix-gan`",
    "cnn-two-stage": "`cnn-two-stage`",
}


def restoration_results(src: Sources) -> list[str]:
    sets = []
    for name, rel in RESTORATION_SETS:
        frame = read_csv(src.results / rel, ("psnr", "psnr_y", "input_psnr", "input_psnr_y"))
        sets.append((name, frame, model_means(frame, ["psnr", "psnr_y"])))
    models = ordered((m for _, _, means in sets for m in means.index), RESTORATION_LABELS)
    shown = [{col: {m: f"{means.at[m, col]:.2f}" for m in means.index} for col in ("psnr", "psnr_y")}
             for _, _, means in sets]
    best = [{col: best_keys(values) for col, values in figures.items()} for figures in shown]
    lines = table_header(["model", *(name for name, _, _ in sets)])
    lines.append(table_row(["degraded gray input", *(f"{input_mean(frame, 'input_psnr'):.2f} / "
                                                     f"{input_mean(frame, 'input_psnr_y'):.2f}"
                                                     for _, frame, _ in sets)]))
    for model in models:
        cells = [RESTORATION_LABELS.get(model, f"`{model}`")]
        for figures, top in zip(shown, best):
            if model not in figures["psnr"]:
                cells.append(DASH)
                continue
            cells.append(" / ".join(bold(figures[col][model], model in top[col]) for col in ("psnr", "psnr_y")))
        lines.append(table_row(cells))
    return lines


#: the figures of ``restoration-scores``: (PSNR, SSIM) on RGB, then on the luminance
SCORE_PAIRS = (("psnr", "ssim", "PSNR / SSIM (RGB)"), ("psnr_y", "ssim_y", "PSNR-Y / SSIM-Y"))


def restoration_scores(src: Sources) -> list[str]:
    """Every mean score of the restoration evaluations: PSNR / SSIM on RGB (structure and colour) and
    PSNR-Y / SSIM-Y (luminance only) per test set, the degraded input's PSNRs first (the CSVs carry no
    input SSIM); bold: the best model value of each figure."""
    columns = [c for psnr, ssim, _ in SCORE_PAIRS for c in (psnr, ssim)]
    sets = []
    for name, rel in RESTORATION_SETS:
        frame = read_csv(src.results / rel, (*columns, "input_psnr", "input_psnr_y"))
        sets.append((name, frame, model_means(frame, columns)))
    models = ordered((m for _, _, means in sets for m in means.index), RESTORATION_LABELS)
    lines = table_header(["model", *(f"{name} {label}" for name, _, _ in sets for _, _, label in SCORE_PAIRS)])
    lines.append(table_row(["degraded gray input", *(f"{input_mean(frame, 'input_' + psnr):.2f}"
                                                     for _, frame, _ in sets for psnr, _, _ in SCORE_PAIRS)]))
    shown = [{c: {m: f"{means.at[m, c]:.{2 if c.startswith('psnr') else 4}f}" for m in means.index} for c in columns}
             for _, _, means in sets]
    best = [{c: best_keys(values) for c, values in figures.items()} for figures in shown]
    for model in models:
        cells = [RESTORATION_LABELS.get(model, f"`{model}`")]
        for figures, top in zip(shown, best):
            for psnr, ssim, _ in SCORE_PAIRS:
                cells.append(DASH if model not in figures[psnr] else
                             " / ".join(bold(figures[c][model], model in top[c]) for c in (psnr, ssim)))
        lines.append(table_row(cells))
    return lines


CHAIN_SETS = (("McMaster", "eval/restoration_chain_mcmaster.csv"), ("CBSD68", "eval/restoration_chain_cbsd68.csv"))


def restoration_chain(src: Sources) -> list[str]:
    """Restore at 128 px, then upscale x4: per (restorer, upscaler) mean PSNR / PSNR-Y at 512 px and
    the PSNR gain over bicubic upscaling of the same restored images; bold: the best gain per set."""
    sets = []
    for name, rel in CHAIN_SETS:
        frame = read_csv(src.results / rel, ("psnr", "psnr_y", "input_psnr", "input_psnr_y"), ("model", "upscaler"))
        means = frame.groupby(["model", "upscaler"], sort=False)[["psnr", "psnr_y"]].mean()
        sets.append((name, frame, means))
    pairs = list(dict.fromkeys(pair for _, _, means in sets for pair in means.index))
    gains = []
    for _, _, means in sets:
        shown = {}
        for restorer, upscaler in means.index:
            if upscaler != "bicubic" and (restorer, "bicubic") in means.index:
                shown[(restorer, upscaler)] = signed(means.at[(restorer, upscaler), "psnr"]
                                                     - means.at[(restorer, "bicubic"), "psnr"])
        gains.append(shown)
    lines = table_header(["restored by → upscaled by", *(f"{name}: PSNR / PSNR-Y (Δ PSNR vs bicubic)" for name, _, _ in sets)])
    lines.append(table_row(["degraded gray input → bicubic", *(f"{input_mean(frame, 'input_psnr'):.2f} / "
                                                               f"{input_mean(frame, 'input_psnr_y'):.2f}"
                                                               for _, frame, _ in sets)]))
    for pair in pairs:
        cells = [f"`{pair[0]}` → `{pair[1]}`"]
        for (_, _, means), shown in zip(sets, gains):
            if pair not in means.index:
                cells.append(DASH)
                continue
            text = f"{means.at[pair, 'psnr']:.2f} / {means.at[pair, 'psnr_y']:.2f}"
            if pair in shown:
                text += f" ({bold(shown[pair], pair in best_keys(shown))})"
            cells.append(text)
        lines.append(table_row(cells))
    return lines
