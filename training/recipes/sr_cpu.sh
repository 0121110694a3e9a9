#!/usr/bin/env bash
# Reproduce every shipped super-resolution checkpoint and its evaluation on a 2-core CPU
# (about 2 hours on a CPU with native bf16). Each step is also runnable on its own; see docs/sr.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
THREADS="${THREADS:-2}"
# bf16 autocast where the CPU computes bf16 natively (AVX512-BF16 or AMX; each card records the wall
# time it took). Elsewhere bf16 is emulated and far slower than fp32, so fp32 is used, and the
# recipe then takes several times longer.
AMP=$(python -c "from studio.inference import native_bf16; print('--amp' if native_bf16() else '')")
[ -f checkpoints/srresnet/model.safetensors ] || python -m training.train_sr --preset srresnet $AMP --threads "$THREADS"
[ -f checkpoints/vgg-mini/model.safetensors ] || python -m training.train_classifier --model vgg-mini --steps 500 --threads "$THREADS"
[ -f checkpoints/srgan-v1/model.safetensors ] || python -m training.train_sr --preset srgan-v1 --threads "$THREADS"
# v2 and v3 start from srresnet's weights (their pixel-loss warmup), so they come after it
[ -f checkpoints/srgan-v2/model.safetensors ] || python -m training.train_sr --preset srgan-v2 $AMP --threads "$THREADS"
[ -f checkpoints/srgan-v3/model.safetensors ] || python -m training.train_sr --preset srgan-v3 $AMP --threads "$THREADS"
# ESRGAN's two changes, apart and together: the relativistic loss on srgan-v3 (same warmup), the
# RRDB body trained with L1 (its PSNR stage), then the relativistic GAN stage from it
[ -f checkpoints/srgan-v3-ra/model.safetensors ] || python -m training.train_sr --preset srgan-v3-ra $AMP --threads "$THREADS"
[ -f checkpoints/rrdb-psnr/model.safetensors ] || python -m training.train_sr --preset rrdb-psnr $AMP --threads "$THREADS"
[ -f checkpoints/esrgan-lite/model.safetensors ] || python -m training.train_sr --preset esrgan-lite $AMP --threads "$THREADS"
# Real-photo SR (studio.sr.real_degradation): srresnet fine-tuned on the high-order degradation with
# L1, then its GAN stage (half esrgan-lite's steps: one costs several pixel-loss steps here), validated
# (and snapshotted for the replay) every 25 steps
[ -f checkpoints/real-srresnet/model.safetensors ] || python -m training.train_sr --preset real-srresnet $AMP --threads "$THREADS"
[ -f checkpoints/real-srgan-lite/model.safetensors ] || python -m training.train_sr --preset real-srgan-lite $AMP --threads "$THREADS" --val-every 25
bash training/recipes/sr_eval.sh
