#!/usr/bin/env bash
# Reproduce every shipped deblurring checkpoint and its evaluation on a 2-core CPU
# (the shipped runs: 24 + 67 + 19 minutes on one thread each, then the evaluations, ~5 minutes).
# Each step is also runnable on its own.
# unet-standard (31M) is not trained here: architecture only (see training/train_deblur.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
THREADS="${THREADS:-2}"
DATA="${STUDIO_DATASETS:-../shared/datasets}"
for preset in unet-light-v1 unet-light-v3 unet-light-nonorm; do
  [ -f "checkpoints/$preset/model.safetensors" ] || python -m training.train_deblur --preset "$preset" --threads "$THREADS"
done
MODELS=unsharp-mask,wiener-oracle,unet-light-v1,unet-light-v3,unet-light-nonorm
# Real blur with ground truth: levin2009 (im_X_ker_Y against im_X; the oracle gets kY).
python -m studio.evaluate --task deblur --models "$MODELS" --clean "$DATA/levin2009/sharp" \
  --degraded "$DATA/levin2009/blurred" --out results/eval/deblur_levin2009.csv --update-cards
# Synthetic blur (fixed seed, evaluation kernels never used in training).
for set in set5 set14; do
  python -m studio.evaluate --task deblur --models "$MODELS" --clean "$DATA/$set" \
    --out "results/eval/deblur_${set}_synthetic.csv" --update-cards
done
