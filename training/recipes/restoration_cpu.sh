#!/usr/bin/env bash
# Reproduce the shipped restoration checkpoints (vae-unet, pix2pix-gan, cnn-two-stage) and their
# evaluations on one CPU thread (about 11-15 minutes of training each, one after the other), then
# the benchmark evaluations on mcmaster and cbsd68 (fixed benchmark degradation, seed 0) with the
# classical baseline, writing the means into each model card. Each step also runs on its own.
set -euo pipefail
cd "$(dirname "$0")/../.."
THREADS="${THREADS:-1}"
export OMP_NUM_THREADS="$THREADS"
DATA="${STUDIO_DATASETS:-../shared/datasets}"
for preset in vae-unet pix2pix-gan cnn-two-stage; do
  [ -f "checkpoints/$preset/model.safetensors" ] || python -m training.train_restoration --preset "$preset" --threads "$THREADS"
done
MODELS=classical,vae-unet,pix2pix-gan,cnn-two-stage
for set in mcmaster cbsd68; do
  python -m studio.evaluate --task restoration --models "$MODELS" --clean "$DATA/$set" \
    --out "results/eval/restoration_${set}.csv" --update-cards
  # restore, then upscale x4 with the SR models (bicubic is the reference); needs the SR checkpoints
  python -m studio.evaluate --task restoration --models "$MODELS" --upscale srresnet,rrdb-psnr,srgan-v3,real-srresnet,real-srgan-lite \
    --clean "$DATA/$set" --out "results/eval/restoration_chain_${set}.csv"
done
