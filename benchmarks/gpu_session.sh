#!/bin/bash
# One GPU session (about 9 minutes) that trains the two ViTs the attention-map comparison needs:
#
#   bash benchmarks/gpu_session.sh OUTDIR [DINO_SECONDS=240]
#
# Side by side on one GPU:
#   - the CUDA memory test of tests/test_vit.py (attention bytes against the allocator);
#   - supervised-vit-shapes, two schedules of the same ~5 M images seen:
#       S1: the recipe's defaults (50,000 images, 100 epochs)
#       S2: 150,000 images, 30 epochs (more distinct images, fewer repeats)
#     the one with the higher held-out accuracy is bundled (the card says so);
#   - dino-vit-shapes: benchmarks/dino_gpu_run.sh (three configurations, the best bundled).
# The comparison (DINO vs supervised vs random) runs afterwards on any machine:
#   python -m course_lib.experiments dino compare
set -u
OUTD=${1:?usage: gpu_session.sh OUTDIR [DINO_SECONDS]}; DINO_SECONDS=${2:-240}
SUP_LIMIT=${SUP_LIMIT:-500}; SUP_DEV=${SUP_DEV:-cuda}; PY=${PY:-python3}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
R=${RUNS:-/tmp/gpu_session}; rm -rf "$R"; mkdir -p "$R" "$OUTD"
nvidia-smi --query-gpu=name,memory.total --format=csv > "$R/gpu.txt" 2>&1
$PY -m pytest -q -p no:cacheprovider tests/test_vit.py -k cuda > "$R/pytest_cuda.log" 2>&1 &

SUP="$PY -m course_lib.train supervised-vit --device $SUP_DEV --no-progress --log-every 100"
S1=${S1:-""}
S2=${S2:-"--train-size 150000 --epochs 30"}
for n in S1 S2; do eval "ARGS=\$$n"
  OMP_NUM_THREADS=2 timeout "$SUP_LIMIT" $SUP $ARGS --out "$R/sup_$n" > "$R/sup_$n.log" 2>&1 &
done

RUNS="$R/dino" COMPARE=0 bash benchmarks/dino_gpu_run.sh "$DINO_SECONDS" "$R/dino_out" > "$R/dino.log" 2>&1
wait
echo "all runs ended after $SECONDS s"

$PY - "$R" <<'PYEOF'
import json, sys
from pathlib import Path
from course_lib.train.engine import bundle_final
runs = Path(sys.argv[1])
finished = {}
for n in ("S1", "S2"):
    summary = runs / f"sup_{n}" / "summary.json"
    if summary.exists():
        finished[n] = json.loads(summary.read_text())["card"]["metrics"]
    print(n, finished.get(n, "not finished: see its log"))
if finished:
    best = max(finished, key=lambda n: finished[n].get("test_accuracy", 0))
    others = "; ".join(f"{n}: {finished[n].get('test_accuracy', 0):.4f}" for n in finished)
    note = (f"Best of two schedules trained side by side on one GPU (benchmarks/gpu_session.sh), "
            f"chosen by held-out shape accuracy ({others}).")
    bundle_final(runs / f"sup_{best}", "supervised-vit-shapes", note)
    print("bundled", best)
PYEOF

for n in S1 S2; do tail -n 3 "$R/sup_$n.log"; done
tail -n 25 "$R/dino.log"; tail -n 3 "$R/pytest_cuda.log"
cp data/checkpoints/supervised-vit-shapes.* data/checkpoints/dino-vit-shapes.* "$OUTD/" 2>/dev/null
cp "$R/dino_out/dino_gpu_runs.json" "$OUTD/" 2>/dev/null
tar czf "$OUTD/logs.tar.gz" -C "$R" --exclude='*.safetensors' --exclude='*.pt' . 2>/dev/null
ls -la "$OUTD"
