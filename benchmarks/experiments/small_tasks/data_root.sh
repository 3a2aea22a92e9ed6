#!/usr/bin/env bash
# The task data of the small-task experiments: CoLA, MRPC, STS-B, RTE whole (linked), SST-2 as a random 20,000-row
# sample of its 67,349 training rows (seed 0; the full 872-row dev set), so that every 4-layer row of the table
# fits a 2-core CPU.   Usage: bash benchmarks/experiments/small_tasks/data_root.sh GLUE_ROOT OUTPUT
set -euo pipefail
GLUE=$(cd "${1:?GLUE_ROOT}" && pwd)
OUT=${2:?OUTPUT}
mkdir -p "$OUT"
for task in CoLA MRPC STS-B RTE; do ln -sfn "$GLUE/$task" "$OUT/$task"; done
python - "$GLUE/SST-2" "$OUT/SST-2" <<'PY'
import random, shutil, sys
from pathlib import Path
source, out = Path(sys.argv[1]), Path(sys.argv[2])
lines = (source / "train.tsv").read_text(encoding="utf-8").splitlines()
sample = random.Random(0).sample(lines[1:], 20000)
out.mkdir(parents=True, exist_ok=True)
(out / "train.tsv").write_text("\n".join([lines[0], *sample]) + "\n", encoding="utf-8")
shutil.copyfile(source / "dev.tsv", out / "dev.tsv")
PY
echo "task folders in $OUT"
