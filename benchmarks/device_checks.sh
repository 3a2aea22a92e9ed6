#!/usr/bin/env bash
# The one prepared script for a lent GPU machine (the `device` tool runs it from the repository root).
# It needs the git-ignored folder .gpu, carried with the call:
#   .gpu/whl      wheels the machine's image lacks (datasets, dill, multiprocess, pydantic(-core), annotated-types,
#                 typing-inspection, textbrewer), for its Python 3.12
#   .gpu/teacher  the fine-tuned full-SST-2 teacher (runs/sst2-full-teacher/model) saved in fp16, with its tokenizer
#   .gpu/SST-2    train.tsv and dev.tsv of GLUE SST-2
# QUICK=1 (PYTHON=.venv/bin/python) dry-runs the compiled-step and schedule benchmarks on CPU at tiny shapes instead.
# Results (at most 8 files) go to $OUT; every step has its own time limit so one slow step cannot eat the others.
set -u
OUT=${OUT:-/tmp/alembert-gpu}
mkdir -p "$OUT"
LOG="$OUT/device_checks.log"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
step() { echo "=== $1 $(date +%T)" | tee -a "$LOG"; }
PYTHON=${PYTHON:-python3}
if [ "${QUICK:-0}" = 1 ]; then  # a dry run on CPU (no .gpu needed): the new steps at tiny shapes
  export PYTHONPATH=$PWD/src:$PWD OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
  step "compiled step, QUICK dry run (issue 14)"
  QUICK=1 timeout 600 "$PYTHON" -m benchmarks.speed.compiled_step --output "$OUT/compiled_step_quick.json" >> "$LOG" 2>&1
  status=$?
  step "task-stage schedule vs TextBrewer, QUICK dry run (issue 14; needs textbrewer installed)"
  timeout 600 "$PYTHON" -m benchmarks.compare.textbrewer_schedule --quick --threads 1 \
    --output "$OUT/textbrewer_schedule_quick.json" >> "$LOG" 2>&1 || status=$?
  step done
  exit $status
fi
step install
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/whl/*.whl \
  >> "$LOG" 2>&1 || exit 1
export PYTHONPATH=/tmp/site:$PWD/src:$PWD
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv >> "$LOG" 2>&1
python3 -c "import torch, transformers, accelerate, alembert, textbrewer; print('torch', torch.__version__,
'transformers', transformers.__version__, 'accelerate', accelerate.__version__)" >> "$LOG" 2>&1 || exit 1

step "compiled step: general distillation 256x128 bf16, eager and compiled side by side (issue 14)"
(timeout 240 python3 -m benchmarks.speed.compiled_step --output "$OUT/compiled_step.json") >> "$LOG" 2>&1
step "textbrewer fp32: (a) identical batches, (b) end to end (issues 3, 14)"
(timeout 120 python3 -m benchmarks.compare.textbrewer_throughput --steps 200 --batch-size 32 --examples 8000 \
  --tokenizer .gpu/teacher --data .gpu/SST-2 --output "$OUT/textbrewer_cuda_fp32.json") >> "$LOG" 2>&1
step "textbrewer bf16 (issues 3, 14)"
(timeout 120 python3 -m benchmarks.compare.textbrewer_throughput --steps 200 --batch-size 32 --examples 8000 \
  --mixed-precision bf16 --tokenizer .gpu/teacher --data .gpu/SST-2 --output "$OUT/textbrewer_cuda_bf16.json") \
  >> "$LOG" 2>&1
step "TinyBERT task-stage schedule end to end, 8k SST-2, 10 + 3 epochs, whole (issue 14)"
(timeout 200 python3 -m benchmarks.compare.textbrewer_schedule --mixed-precision bf16 --tokenizer .gpu/teacher \
  --data .gpu/SST-2 --output "$OUT/textbrewer_schedule_cuda.json") >> "$LOG" 2>&1
# Done on the H200 on 2026-11-26 (results in benchmarks/results): gpu_shapes.py (issue 6) and the full-SST-2 bf16
# distillation (issue 2). Rerun them, or ask whether packed batches pay on a GPU (not measured yet), with:
#   (timeout 100 python3 -m benchmarks.speed.gpu_shapes --rounds 3 --runs 20 --output "$OUT/gpu_shapes.json")
#   timeout 150 python3 -m alembert.cli distill benchmarks/experiments/sst2_full/distill.yaml --set teacher.path=.gpu/teacher \
#     --set data.train=.gpu/SST-2 --set train.mixed_precision=bf16 --set bench_latency=false --output /tmp/sst2-gpu
#   (timeout 120 python3 -m benchmarks.compare.textbrewer_throughput --steps 200 --batch-size 32 --examples 8000 \
#     --pack always --tokenizer .gpu/teacher --data .gpu/SST-2 --output "$OUT/textbrewer_cuda_fp32_packed.json")
step "pytest -m gpu"
timeout 60 python3 -m pytest -q -m gpu tests/gpu -p no:cacheprovider >> "$LOG" 2>&1
step done
