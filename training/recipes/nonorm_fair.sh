#!/usr/bin/env bash
# A fair No-Norm test (deblurring logbook, docs/sources.md#000-deblurring-logbook): unet-light-nonorm
# and unet-light-v3 trained with the same crops (96 px, batch 8), steps, cosine schedule, weight
# decay and jitter; No-Norm both at v3's learning rate (5e-4) and at the logbook's own (1e-4).
# The only difference in the first two runs is InstanceNorm (and the conv biases it makes redundant).
# Logs: results/runs/nonorm-fair-{v3-lr5e-4,nonorm-lr5e-4,nonorm-lr1e-4}/metrics.csv; nothing is
# exported (the shipped checkpoints stay). The dashboard's "Deblurring: No-Norm vs v3" page overlays them.
# About 15-16 minutes per run under bf16 autocast on one thread of a busy 2-core CPU; rerunning
# resumes an interrupted run and skips a finished one.
set -euo pipefail
cd "$(dirname "$0")/../.."
THREADS="${THREADS:-1}"
STEPS="${STEPS:-1000}"
run() {  # run NAME PRESET LR; a run whose log reached the last step is done
  local resume=""
  grep -q "^$STEPS," "results/runs/$1/metrics.csv" 2>/dev/null && return 0
  [ -f "results/runs/$1/state.safetensors" ] && resume=--resume
  python -m training.train_deblur --preset "$2" --run-name "$1" --lr "$3" --steps "$STEPS" --patch 96 \
    --batch-size 8 --scheduler cosine --val-every 100 --amp --threads "$THREADS" --export none $resume
}
run nonorm-fair-v3-lr5e-4 unet-light-v3 5e-4
run nonorm-fair-nonorm-lr5e-4 unet-light-nonorm 5e-4
run nonorm-fair-nonorm-lr1e-4 unet-light-nonorm 1e-4
