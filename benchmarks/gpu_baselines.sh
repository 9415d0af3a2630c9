#!/usr/bin/env bash
# One GPU session for the supervised baselines (about 5 minutes on one H100), from the repo root:
#   OUT=/some/dir bash benchmarks/gpu_baselines.sh
# 1. training throughput on the GPU (images/s and fraction of the bf16 matmul peak);
# 2. the bundled ViT, supervised-vit-shapes (DINO's architecture; ~5 M images seen).
# Everything lands in $OUT; if the time limit stops training, continue later with the same
# command plus --resume (the checkpoints are in $OUT/vit/checkpoints).
set -uo pipefail
OUT=${OUT:-gpu_out}
LIMIT=${LIMIT:-420}  # seconds of ViT training at most
mkdir -p "$OUT"
python benchmarks/train_throughput.py --device cuda --batch-size 512 --out "$OUT/train_throughput_cuda.json"
timeout "$LIMIT" python -m course_lib.train supervised-vit --device cuda --no-progress \
    --out "$OUT/vit" --bundle supervised-vit-shapes
cp data/checkpoints/supervised-vit-shapes.* "$OUT/" 2>/dev/null || echo "not finished: see $OUT/vit"
grep '"split"' "$OUT/vit/metrics.jsonl" | tail -3
