"""The super-resolution family's generated tables (``python -m studio.readme_tables``; torch-free).

* ``sr-results`` -- ``results/eval/sr_{set5,set14,b100}_x4.csv``: mean PSNR-Y / SSIM-Y per model and
  the gain over the bicubic input (``psnr_y - input_psnr_y``); every model of the CSVs, in the order
  of first appearance (Set5 first); bold: the best PSNR-Y of each test set and the whole gain cell of
  the model with the best Set5 gain.
* ``sr-sharpness`` -- the same CSVs: mean PSNR-Y against the no-reference sharpness of the outputs;
  bold: the sharpest output per test set.
* ``sr-bench`` -- ``results/bench/sr_bench.csv``: ``SR_BENCH_MODELS`` at every output size.
* ``sr-budget`` -- the cards of ``SR_BUDGET_MODELS``: what each cost to train.
* ``sr-real-results`` -- ``results/eval/sr_{set14,b100}_x4_real.csv`` (inputs made by the real-photo
  degradation) beside the clean Set5 CSV: PSNR-Y, gain over bicubic and sharpness per model; bold: the
  best PSNR-Y and the sharpest output per real set.
"""

from __future__ import annotations

import json

from studio.readme_tables import (DASH, Sources, TableError, bench_csv, bench_row, best_keys, bold, fmt_db, fmt_ms,
                                  model_means, read_csv, shown_path, signed, table_header, table_row)


SR_SETS = (("Set5", "eval/sr_set5_x4.csv"), ("Set14", "eval/sr_set14_x4.csv"), ("B100", "eval/sr_b100_x4.csv"))
#: the same photos made low-resolution by studio.sr.real_degradation (one seeded draw per image)
SR_REAL_SETS = (("Set14 real", "eval/sr_set14_x4_real.csv"), ("B100 real", "eval/sr_b100_x4_real.csv"))

#: the models of the SR speed table (the CSV holds more), in this order at every output size
SR_BENCH_MODELS = ("srresnet", "srgan-v3", "bicubic")
SR_BENCH_VARIANTS = ("fp32_cl", "bf16", "bf16_cl")  # after the plain fp32 column


def sr_results(src: Sources) -> list[str]:
    sets = []
    for name, rel in SR_SETS:
        frame = read_csv(src.results / rel, ("psnr_y", "ssim_y", "input_psnr_y"))
        means = model_means(frame, ["psnr_y", "ssim_y", "input_psnr_y"])
        means["gain"] = means["psnr_y"] - means["input_psnr_y"]
        sets.append((name, means))
    models = list(dict.fromkeys(m for _, means in sets for m in means.index))
    psnr = [{m: f"{means.at[m, 'psnr_y']:.2f}" for m in means.index} for _, means in sets]
    gains = [{m: signed(means.at[m, "gain"], minus="-") for m in means.index} for _, means in sets]
    best_psnr = [best_keys(column) for column in psnr]
    best_gain = best_keys(gains[0])  # the whole gain cell of the best Set5 gain
    lines = table_header(["model", *(f"{name} PSNR-Y / SSIM-Y" for name, _ in sets),
                          f"gain over bicubic ({' / '.join(name for name, _ in sets)})"])
    for model in models:
        cells = [f"`{model}`"]
        for (_, means), shown, best in zip(sets, psnr, best_psnr):
            cells.append(f"{bold(shown[model], model in best)} / {means.at[model, 'ssim_y']:.4f}"
                         if model in means.index else DASH)
        gain = " / ".join(column.get(model, DASH) for column in gains) + " dB"
        cells.append(bold(gain, model in best_gain))
        lines.append(table_row(cells))
    return lines


def sr_bench(src: Sources) -> list[str]:
    frame, path = bench_csv(src, "bench/sr_bench.csv")
    sizes = list(dict.fromkeys(zip(frame["out_width"].astype(int), frame["out_height"].astype(int))))
    lines = table_header(["output", "model", "fp32 ms", "fp32 channels-last", "bf16 autocast",
                          "bf16 + channels-last", "bf16 output vs fp32"])
    for size in sizes:
        for model in SR_BENCH_MODELS:
            base = bench_row(frame, model, "fp32", size)
            if base is None:
                continue
            cells = [f"{size[0]}x{size[1]}", f"`{model}`", fmt_ms(base["median_ms"])]
            for variant in SR_BENCH_VARIANTS:
                row = bench_row(frame, model, variant, size)
                cells.append(DASH if row is None else f"{fmt_ms(row['median_ms'])} ms ({row['speedup_vs_fp32']:.2f}x)")
            last = bench_row(frame, model, "bf16_cl", size)
            cells.append(DASH if last is None else fmt_db(last["psnr_vs_fp32_db"]))
            lines.append(table_row(cells))
    if len(lines) == 2:
        raise TableError(f"{shown_path(path)}: no fp32 row of {', '.join(SR_BENCH_MODELS)}")
    return lines


def sr_sharpness(src: Sources) -> list[str]:
    """PSNR-Y against the no-reference sharpness of the outputs (``studio.metrics.sharpness``), per
    test set: the perception-distortion trade-off in numbers; bold: the sharpest output per set."""
    sets = []
    for name, rel in SR_SETS:
        frame = read_csv(src.results / rel, ("psnr_y", "sharpness"))
        sets.append((name, model_means(frame, ["psnr_y", "sharpness"])))
    models = list(dict.fromkeys(m for _, means in sets for m in means.index))
    sharpest = [best_keys({m: f"{means.at[m, 'sharpness']:.2f}" for m in means.index}) for _, means in sets]
    lines = table_header(["model", *(f"{name} PSNR-Y / sharpness" for name, _ in sets)])
    for model in models:
        cells = [f"`{model}`"]
        for (_, means), top in zip(sets, sharpest):
            if model not in means.index:
                cells.append(DASH)
                continue
            sharp = f"{means.at[model, 'sharpness']:.2f}"
            cells.append(f"{means.at[model, 'psnr_y']:.2f} / {bold(sharp, model in top)}")
        lines.append(table_row(cells))
    return lines


#: the SR models compared at a CPU budget, in pairs that differ by one thing (body, then loss), then the
#: real-photo pair (fine-tuned from srresnet)
SR_BUDGET_MODELS = ("srresnet", "rrdb-psnr", "srgan-v3", "srgan-v3-ra", "esrgan-lite", "real-srresnet", "real-srgan-lite")


def sr_budget(src: Sources) -> list[str]:
    """What each SR model cost to train, from its card: parameters, starting point, steps, wall time."""
    lines = table_header(["model", "parameters", "starts from", "steps", "wall time", "hardware"])
    for model in SR_BUDGET_MODELS:
        path = src.checkpoints / model / "card.json"
        if not path.is_file():
            continue
        try:
            card = json.loads(path.read_text())
            training = card["training"]
            steps, seconds = int(training["recipe"]["max_steps"]), float(training["wall_seconds"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise TableError(f"{shown_path(path)}: no usable training record ({type(err).__name__}: {err})") from None
        warmup = str(training.get("warmup", ""))
        start = warmup.split(" (")[0].replace("initialised from ", "`") + "`" if warmup.startswith("initialised") \
            else "scratch"
        lines.append(table_row([f"`{model}`", f"{int(card['parameters']):,}", start, f"{steps:,}",
                                f"{seconds / 60:.0f} min", str(training.get("hardware", DASH))]))
    return lines


def sr_real_results(src: Sources) -> list[str]:
    """Each model on the real-photo degradation sets (PSNR-Y, gain over bicubic upscaling of the same
    input, sharpness) and on the clean bicubic Set5, where a model trained on real degradations may
    lose; bold: the best PSNR-Y and the sharpest output of each real set."""
    sets = []
    for name, rel in SR_REAL_SETS:
        frame = read_csv(src.results / rel, ("psnr_y", "input_psnr_y", "sharpness"))
        sets.append((name, model_means(frame, ["psnr_y", "input_psnr_y", "sharpness"])))
    clean = model_means(read_csv(src.results / SR_SETS[0][1], ("psnr_y",)), ["psnr_y"])
    models = list(dict.fromkeys(m for _, means in sets for m in means.index))
    lines = table_header(["model", *(f"{name}: PSNR-Y (gain over bicubic) / sharpness" for name, _ in sets),
                          "clean Set5 PSNR-Y"])
    for model in models:
        cells = [f"`{model}`"]
        for _, means in sets:
            if model not in means.index:
                cells.append(DASH)
                continue
            top_psnr = best_keys({m: f"{means.at[m, 'psnr_y']:.2f}" for m in means.index})
            sharpest = best_keys({m: f"{means.at[m, 'sharpness']:.2f}" for m in means.index})
            gain = signed(means.at[model, "psnr_y"] - means.at[model, "input_psnr_y"], minus="-")
            psnr_text, sharp_text = f"{means.at[model, 'psnr_y']:.2f}", f"{means.at[model, 'sharpness']:.2f}"
            cells.append(f"{bold(psnr_text, model in top_psnr)} ({gain}) / {bold(sharp_text, model in sharpest)}")
        cells.append(f"{clean.at[model, 'psnr_y']:.2f}" if model in clean.index else DASH)
        lines.append(table_row(cells))
    return lines
