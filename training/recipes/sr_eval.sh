#!/usr/bin/env bash
# Evaluate every SR model on Set5, Set14 and B100 (BSDS500 val) at x4, then on Set14 and B100 made
# low-resolution by the real-photo degradation (one seeded draw per image); writes results/eval/*.csv
# and records the means, with the command, in each model card.
set -euo pipefail
cd "$(dirname "$0")/../.."
MODELS=bicubic,lanczos,srresnet,srgan-v1,srgan-v2,srgan-v3,srgan-v3-ra,rrdb-psnr,esrgan-lite,real-srresnet,real-srgan-lite
for set in set5 set14; do
  python -m studio.evaluate --task sr --models "$MODELS" --clean "../shared/datasets/$set" \
    --out "results/eval/sr_${set}_x4.csv" --update-cards
done
python -m studio.evaluate --task sr --models "$MODELS" --clean ../shared/datasets/bsds500/val \
  --out results/eval/sr_b100_x4.csv --update-cards
python -m studio.evaluate --task sr --degradation real --models "$MODELS" --clean ../shared/datasets/set14 \
  --out results/eval/sr_set14_x4_real.csv --update-cards
python -m studio.evaluate --task sr --degradation real --models "$MODELS" --clean ../shared/datasets/bsds500/val \
  --out results/eval/sr_b100_x4_real.csv --update-cards
