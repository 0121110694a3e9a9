#!/usr/bin/env bash
# Reproduce every shipped super-resolution checkpoint and its evaluation on a 2-core CPU
# (about 90 minutes in all). Each step is also runnable on its own; see README.
set -euo pipefail
cd "$(dirname "$0")/../.."
THREADS="${THREADS:-2}"
[ -f checkpoints/srresnet/model.safetensors ] || python -m training.train_sr --preset srresnet --threads "$THREADS"
[ -f checkpoints/vgg-mini/model.safetensors ] || python -m training.train_classifier --model vgg-mini --steps 500 --threads "$THREADS"
[ -f checkpoints/srgan-v1/model.safetensors ] || python -m training.train_sr --preset srgan-v1 --threads "$THREADS"
[ -f checkpoints/srgan-v2/model.safetensors ] || python -m training.train_sr --preset srgan-v2 --threads "$THREADS"
[ -f checkpoints/srgan-v3/model.safetensors ] || python -m training.train_sr --preset srgan-v3 --threads "$THREADS"
bash training/recipes/sr_eval.sh
