#!/usr/bin/env bash
# The Tiny ImageNet report's study (docs/sources.md#003-tiny-imagenet-report) as it was run, on all
# 200 classes at 64x64 with resnet-dropout at the report's widths (64/128/256): the report's train
# augmentation (flip, RandomResizedCrop 0.8-1, ColorJitter 0.2), no LR scheduler, the best
# validation step kept; its initial-loss check, its LR x weight-decay table, an activation table
# (the report offers GeLU/SeLU/LeakyReLU/ELU beside ReLU and reports no run with them), its grid
# over blocks x dropout at LR 1e-4 / WD 1e-4, and its five final runs.
#
# Scaled to a 2-core CPU, in steps of batch 32 (an epoch of the 20,000 training images is 625
# steps): LR x WD cells 60 steps, activations 40, grid points 150 (the report: 15 epochs), final
# runs 600 (the report: 100 epochs). One bf16 step of [3,3,3] takes about 1.2-1.5 s on one thread.
# Validation during training uses 1,000 of the 8,000 validation images (5 per class, --val-limit;
# 400 for the table's cells); the test split is 2,000 images (10 per class, --test-fraction 0.2 of
# val/), scored once per final run.
#   PHASE=search   checks, baselines, activations, grid     (~30 min on one thread)
#   PHASE=table    the LR x WD table                        (~40 min)
#   PHASE=final-a  baseline, lr_high, wd_high               (~50 min)
#   PHASE=final-b  blocks_high, dropout_high                (~40 min)
# Two phases can run at once (one thread each). Everything resumes when rerun: grid points are
# skipped when done, a final run continues from its checkpoint and is skipped once evaluated.
set -euo pipefail
cd "$(dirname "$0")/../.."
THREADS="${THREADS:-1}"
PHASE="${PHASE:-all}"
FINAL_STEPS="${FINAL_STEPS:-600}"
P="python -m training.protocol"
E="--model resnet-dropout --image-size 64 --test-fraction 0.2 --val-limit 1000 --batch-size 32 \
  --augmentation resized-crop-jitter --amp --threads $THREADS --quiet"
phase() { [ "$PHASE" = all ] || [ "$PHASE" = "$1" ]; }

if phase search; then
  $P check-init $E --name resnet-dropout-tin200 --set blocks=3 --set dropout=0.1
  $P baselines $E --name resnet-dropout-tin200
  $P grid-search $E --name resnet-dropout-tin200-activation --steps 40 --scheduler none --set dropout=0.1 \
    --lr 1e-4 --weight-decay 1e-4 --grid activation=relu,gelu,selu,leaky_relu,elu --grid blocks=3
  # the report's grid: LR 1e-4, WD 1e-4, blocks x dropout
  $P grid-search $E --name resnet-dropout-tin200 --steps 150 --val-every 75 --scheduler none \
    --lr 1e-4 --weight-decay 1e-4 --grid blocks=2,3 --grid dropout=0.1,0.3
fi
if phase table; then
  # the report's LR x WD table: the same seed and batches in every cell, so only LR and WD differ
  $P grid-search $E --name resnet-dropout-tin200-lr-wd --steps 60 --val-limit 400 --scheduler none \
    --lr 1e-5 5e-5 1e-4 5e-4 1e-3 5e-3 1e-2 --weight-decay 0 1e-5 1e-4 1e-3 --grid blocks=3 --grid dropout=0.1
fi

final() {  # final RUN LR WD BLOCKS DROPOUT
  local name="resnet-dropout-tin200-$1" resume=""
  [ -f "results/protocol/$name/evaluate.csv" ] && return 0
  [ -f "results/runs/$name/state.safetensors" ] && resume=--resume
  $P train $E --name "$name" --steps "$FINAL_STEPS" --val-every 100 --scheduler none --export-best \
    --lr "$2" --weight-decay "$3" --set "blocks=$4" --set "dropout=$5" --export "results/protocol/$name/model" $resume
  $P evaluate $E --name "$name" --split test --checkpoint "results/protocol/$name/model"
}
if phase final-a; then
  final baseline 1e-4 1e-4 3 0.1
  final lr_high 5e-4 1e-4 3 0.1
  final wd_high 1e-4 1e-3 3 0.1
fi
if phase final-b; then
  final blocks_high 1e-4 1e-4 4 0.1
  final dropout_high 1e-4 1e-4 3 0.3
fi
