#!/usr/bin/env bash
# Reproduce every shipped super-resolution checkpoint and its evaluation on a 2-core CPU
# (about 2 hours on a CPU with native bf16). Each step is also runnable on its own; see README.
set -euo pipefail
cd "$(dirname "$0")/../.."
THREADS="${THREADS:-2}"
# bf16 autocast where the CPU computes bf16 natively (AVX512-BF16 or AMX): a srresnet step is ~3x
# faster there (25000 steps in 84 min). Elsewhere bf16 is emulated and far slower, so fp32 is used
# (25000 steps then take 4-5 hours on 2 cores: 0.55-0.69 s per fp32 step, measured on two EPYCs).
AMP=$(python -c "from studio.inference import native_bf16; print('--amp' if native_bf16() else '')")
[ -f checkpoints/srresnet/model.safetensors ] || python -m training.train_sr --preset srresnet $AMP --threads "$THREADS"
[ -f checkpoints/vgg-mini/model.safetensors ] || python -m training.train_classifier --model vgg-mini --steps 500 --threads "$THREADS"
[ -f checkpoints/srgan-v1/model.safetensors ] || python -m training.train_sr --preset srgan-v1 --threads "$THREADS"
# v2 and v3 start from srresnet's weights (their pixel-loss warmup), so they come after it
[ -f checkpoints/srgan-v2/model.safetensors ] || python -m training.train_sr --preset srgan-v2 $AMP --threads "$THREADS"
[ -f checkpoints/srgan-v3/model.safetensors ] || python -m training.train_sr --preset srgan-v3 $AMP --threads "$THREADS"
bash training/recipes/sr_eval.sh
