"""Score sentence embeddings offline as the embedding community does (MTEB's protocols on GLUE files).

* **STS-B** (MTEB ``STSBenchmark``, here its dev split): Spearman correlation × 100 between the cosine similarity
  of the two sentences' embeddings and the gold score; zero-shot, nothing is trained.
* **Classification** (MTEB's ``AbsTaskClassification``): a logistic regression (scikit-learn, ``max_iter`` 100) on
  the frozen embeddings of the training split, capped at ``max_train_samples`` examples drawn with a seed, scored
  on the dev split (accuracy × 100; F1 too for MRPC). A sentence pair (MRPC) is represented as
  ``[u, v, |u − v|, u ⊙ v]`` (SentEval's pair features).

The model is any encoder folder; a sentence-transformers folder pools as its ``1_Pooling`` says, a plain model
folder by masked mean (:func:`alembert.models.sentence.read_pooling`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from torch import nn
from transformers import PreTrainedTokenizerBase

from alembert.config import DataConfig
from alembert.data.readers import Example, find_split_files
from alembert.data.sources import load_examples
from alembert.errors import DataError
from alembert.files import write_json_atomic
from alembert.models.load import load_model, load_tokenizer
from alembert.models.sentence import SentencePooling, encode, read_pooling
from alembert.tasks.glue import get_task


__all__ = ["EMBEDDING_TASKS", "embedding_eval_fn", "evaluate_embeddings", "find_embedding_tasks", "score_embeddings"]

EMBEDDING_TASKS = ("stsb", "sst2", "mrpc")
Embedder = Callable[[Sequence[str]], np.ndarray]


def find_embedding_tasks(root: str | Path) -> dict[str, Path]:
    """The GLUE folders under ``root`` (or ``root`` itself) that hold an STS-B, SST-2 or MRPC dev file."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data.dev: '{root}' is not a folder (a GLUE root with STS-B/, SST-2/, MRPC/, or one of them)")
    found = {}
    for name in EMBEDDING_TASKS:
        task = get_task(name)
        own = (root,) if root.name.lower() == task.folder.lower() else ()  # a task folder itself, by its GLUE name
        for folder in (root / task.folder, *own):
            if folder.is_dir() and find_split_files(folder, task, "dev"):
                found[name] = folder
                break
    if not found:
        raise DataError(f"data.dev: no STS-B, SST-2 or MRPC dev file under '{root}'")
    return found


def _examples(folder: Path, name: str, split: str, limit: int | None, seed: int) -> list[Example]:
    examples = next(iter(load_examples(DataConfig(train=str(folder)), get_task(name), split).values()), [])
    if limit and len(examples) > limit:
        examples = random.Random(seed).sample(examples, limit)
    return examples


def _features(embed: Embedder, examples: list[Example]) -> np.ndarray:
    if len(examples[0].texts) == 1:
        return embed([e.texts[0] for e in examples])
    u, v = embed([e.texts[0] for e in examples]), embed([e.texts[1] for e in examples])
    return np.concatenate([u, v, np.abs(u - v), u * v], axis=1)


def sts_spearman(embed: Embedder, examples: list[Example]) -> float:
    """Spearman × 100 between the cosine similarities of the pairs' embeddings and the gold scores."""
    u, v = embed([e.texts[0] for e in examples]), embed([e.texts[1] for e in examples])
    u = u / np.linalg.norm(u, axis=1, keepdims=True).clip(1e-12)
    v = v / np.linalg.norm(v, axis=1, keepdims=True).clip(1e-12)
    return float(100.0 * spearmanr((u * v).sum(axis=1), [float(e.label) for e in examples]).statistic)


def linear_probe(embed: Embedder, train: list[Example], dev: list[Example], *, seed: int = 42) -> dict[str, float]:
    """Logistic regression on frozen embeddings of ``train``; accuracy (and binary F1) × 100 on ``dev``."""
    classifier = LogisticRegression(max_iter=100, random_state=seed)
    classifier.fit(_features(embed, train), [int(e.label) for e in train])
    predicted = classifier.predict(_features(embed, dev))
    gold = [int(e.label) for e in dev]
    return {"accuracy": 100.0 * accuracy_score(gold, predicted), "f1": 100.0 * f1_score(gold, predicted)}


def score_embeddings(
    embed: Embedder,
    tasks: dict[str, Path],
    *,
    max_train_samples: int = 2000,
    max_eval_samples: int | None = None,
    seed: int = 42,
) -> dict[str, float]:
    """``stsb_spearman``, ``sst2_accuracy``, ``mrpc_accuracy``, ``mrpc_f1`` (those of ``tasks``), all × 100."""
    metrics = {}
    for name, folder in tasks.items():
        dev = _examples(folder, name, "dev", max_eval_samples, seed)
        if name == "stsb":
            metrics["stsb_spearman"] = sts_spearman(embed, dev)
            continue
        probe = linear_probe(embed, _examples(folder, name, "train", max_train_samples, seed), dev, seed=seed)
        metrics[f"{name}_accuracy"] = probe["accuracy"]
        if name == "mrpc":
            metrics["mrpc_f1"] = probe["f1"]
    return metrics


def embedding_eval_fn(
    tasks: dict[str, Path],
    tokenizer: PreTrainedTokenizerBase,
    pooling: SentencePooling,
    *,
    max_length: int,
    batch_size: int = 128,
    max_train_samples: int = 2000,
    max_eval_samples: int | None = None,
) -> Callable[[nn.Module], dict[str, float]]:
    """A run's scorer of a model's embeddings (the teacher's pooling) on ``tasks``."""

    def evaluate(model: nn.Module) -> dict[str, float]:
        def embed(texts: Sequence[str]) -> np.ndarray:
            return encode(model, tokenizer, texts, pooling, batch_size=batch_size, max_length=max_length)

        return score_embeddings(embed, tasks, max_train_samples=max_train_samples, max_eval_samples=max_eval_samples)

    return evaluate


def evaluate_embeddings(
    model_path: str,
    data: str | Path,
    output_dir: str | Path | None = None,
    *,
    batch_size: int = 128,
    max_length: int = 128,
    max_train_samples: int = 2000,
) -> dict[str, float]:
    """Score a saved encoder's sentence embeddings on the STS-B, SST-2 and MRPC folders under ``data``.

    Args:
        model_path: a sentence-transformers folder (its pooling is used) or a plain model folder (masked mean).
        data: a GLUE root holding ``STS-B/``, ``SST-2/``, ``MRPC/`` (any of them), or one such folder.
        output_dir: where ``metrics.json`` goes; ``None`` writes nothing.
        batch_size: sentences per forward pass.
        max_length: tokens per sentence (the folder's ``max_seq_length`` when it has one).
        max_train_samples: cap on the logistic regressions' training examples.

    Returns:
        The metrics, e.g. ``{"stsb_spearman": 82.1, "sst2_accuracy": 80.3, ...}``.
    """
    tasks = find_embedding_tasks(data)
    pooling = read_pooling(model_path)
    tokenizer = load_tokenizer(model_path)
    model = load_model(model_path, head="base")
    scorer = embedding_eval_fn(
        tasks, tokenizer, pooling, max_length=pooling.max_seq_length or max_length, batch_size=batch_size,
        max_train_samples=max_train_samples,
    )  # fmt: skip
    metrics = scorer(model)
    if output_dir is not None:
        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        record = {"model": model_path, "pooling": pooling.describe(), "metrics": metrics}
        write_json_atomic(out / "metrics.json", record)
    return metrics
