"""The baseline alembert must beat: a plain PyTorch distillation loop written the usual way.

Same teacher, data, student init (teacher layers 0, 2, 4), losses (5·KL·T² at T=2 + 2·CE + 1·cosine on the last
hidden state), epochs, batch size, learning rate, warm-up and seed as
benchmarks/experiments/sst2_8k/distilbert.yaml; random
shuffling, padding to the longest sequence of each batch, evaluation after each epoch.

Usage: python -m benchmarks.experiments.sst2_8k.plain_loop runs/sst2-8k-teacher/model runs/data/sst2-8k OUT.json [SEED]
(seed 42 by default, the YAML's).
"""

from __future__ import annotations

import copy
import csv
import json
import sys
import time

import torch
import torch.nn.functional as F
from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup


def read(path: str) -> tuple[list[str], list[int]]:
    with open(path, encoding="utf-8") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    return [r[0] for r in rows], [int(r[1]) for r in rows]


@torch.no_grad()
def accuracy(model, tokenizer, texts, labels) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(texts), 128):
        batch = tokenizer(texts[i : i + 128], padding=True, truncation=True, max_length=128, return_tensors="pt")
        correct += (model(**batch).logits.argmax(-1) == torch.tensor(labels[i : i + 128])).sum().item()
    model.train()
    return 100.0 * correct / len(texts)


def main(
    teacher_path: str, data: str, out: str, seed: str = "42", epochs: int = 3, batch_size: int = 32, lr: float = 1e-4
) -> None:
    torch.manual_seed(int(seed))
    tokenizer = AutoTokenizer.from_pretrained(teacher_path)
    teacher = AutoModelForSequenceClassification.from_pretrained(teacher_path).eval()
    config = copy.deepcopy(teacher.config)
    config.num_hidden_layers = 3
    student = AutoModelForSequenceClassification.from_config(config)
    state = teacher.state_dict()
    mapping = {0: 0, 1: 2, 2: 4}
    new_state = {}
    for key in student.state_dict():
        source = key
        for s, t in mapping.items():
            source = source.replace(f".layer.{s}.", f".layer.{t}.") if f".layer.{s}." in key else source
        new_state[key] = state[source].clone()
    student.load_state_dict(new_state)
    texts, labels = read(f"{data}/train.tsv")
    dev_texts, dev_labels = read(f"{data}/dev.tsv")
    steps = epochs * ((len(texts) + batch_size - 1) // batch_size)
    optimizer = torch.optim.AdamW(student.parameters(), lr=lr, weight_decay=0.01)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(0.1 * steps), steps)
    history, start = [], time.perf_counter()
    for epoch in range(epochs):
        order = torch.randperm(len(texts)).tolist()
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            batch = tokenizer(
                [texts[j] for j in idx], padding=True, truncation=True, max_length=128, return_tensors="pt"
            )
            y = torch.tensor([labels[j] for j in idx])
            with torch.no_grad():
                t_out = teacher(**batch, output_hidden_states=True)
            s_out = student(**batch, output_hidden_states=True)
            kd = (
                F.kl_div(F.log_softmax(s_out.logits / 2, -1), F.softmax(t_out.logits / 2, -1), reduction="batchmean")
                * 4
            )
            ce = F.cross_entropy(s_out.logits, y)
            mask = batch["attention_mask"].bool()
            cos = (1 - F.cosine_similarity(s_out.hidden_states[-1][mask], t_out.hidden_states[-1][mask], -1)).mean()
            loss = 5 * kd + 2 * ce + cos
            loss.backward()
            torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
        history.append({"epoch": epoch + 1, "accuracy": accuracy(student, tokenizer, dev_texts, dev_labels)})
        print(history[-1], flush=True)
    seconds = time.perf_counter() - start
    result = {
        "teacher_accuracy": accuracy(teacher, tokenizer, dev_texts, dev_labels),
        "student_final_accuracy": history[-1]["accuracy"],
        "student_best_epoch_accuracy": max(h["accuracy"] for h in history),
        "history": history,
        "train_seconds_including_evals": seconds,
        "threads": torch.get_num_threads(),
        "seed": int(seed),
    }
    json.dump(result, open(out, "w"), indent=2)
    print(result)


if __name__ == "__main__":
    main(*sys.argv[1:5])
