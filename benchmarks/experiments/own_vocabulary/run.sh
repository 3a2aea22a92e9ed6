#!/usr/bin/env bash
# A 4x312 student with an 8,000-token WordPiece vocabulary of its own, against the same student with the teacher's
# vocabulary, on the 8,000-row SST-2 subset: TinyBERT task stages (No GD, No DA), seed 42, one thread, one row after
# another, then the collected table (results/own_vocabulary.json and benchmarks/README.md).
# The own-vocabulary student is matched word by word (embeddings@words, hidden@words, attention_scores@words: the
# score from word i to word j is the mean over their pieces). Rows: own vocabulary with and without the attention
# term, the teacher's vocabulary without it and with the full recipe.
# Every row skips what is finished and resumes what was started.
# Usage: bash benchmarks/experiments/own_vocabulary/run.sh GLUE_SST2_DIR TEACHER   (TEACHER: a fine-tuned SST-2 model)
set -euo pipefail
SST2=${1:?GLUE_SST2_DIR}
TEACHER=${2:?TEACHER}
RUNS=runs/own-vocabulary
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
ALEMBERT=${ALEMBERT:-alembert}
PYTHON=${PYTHON:-python}
[ -f runs/data/sst2-8k/train.tsv ] || "$PYTHON" -m benchmarks.experiments.sst2_8k.make_subset "$SST2" runs/data/sst2-8k
BASE=(benchmarks/experiments/sst2_8k/tinybert.yaml --set "teacher.path=$TEACHER")
NO_ATTN=(--set stages.intermediate.matches.attn.weight=0)
OWN_VOCAB=(--set student.tokenizer=8000 --set stages.intermediate.matches.embd.representation=embeddings@words
  --set stages.intermediate.matches.hidn.representation=hidden@words)

row() {  # row NAME [--set ...]: run (or resume) one row into runs/own-vocabulary/NAME
  local out="$RUNS/$1" resume=()
  shift
  [ -f "$out/metrics.json" ] && return 0
  [ -f "$out/config.yaml" ] && resume=(--resume)
  $ALEMBERT distill "${BASE[@]}" "$@" --output "$out" "${resume[@]}"
}
row own-vocab-8k "${NO_ATTN[@]}" "${OWN_VOCAB[@]}"
row teacher-vocab-no-attn "${NO_ATTN[@]}"
row teacher-vocab
row own-vocab-8k-attn "${OWN_VOCAB[@]}" --set stages.intermediate.matches.attn.representation=attention_scores@words
# latency side by side: one pass over the SST-2 dev set at batch 1, teacher and the four students interleaved in one
# process, each with its own tokenizer (run it while nothing else loads the machine)
[ -f "$RUNS/bench-dev.json" ] || OMP_NUM_THREADS=1 $ALEMBERT bench "$TEACHER" "$RUNS"/{own-vocab-8k,teacher-vocab-no-attn,teacher-vocab,own-vocab-8k-attn}/student \
  --dev-task sst2 --data "$SST2" --output "$RUNS/bench-dev.json"
"$PYTHON" -m benchmarks.experiments.own_vocabulary.collect --runs "$RUNS" --teacher "$TEACHER" --bench "$RUNS/bench-dev.json"
