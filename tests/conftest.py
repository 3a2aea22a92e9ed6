"""Shared fixtures: tiny random models of each family, a tiny tokenizer and tiny GLUE-format data (no downloads)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest


os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import datasets  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    BertConfig,
    BertTokenizerFast,
    DistilBertConfig,
    ElectraConfig,
    MPNetConfig,
    RobertaConfig,
)

from alembert.config import StudentConfig  # noqa: E402


datasets.disable_progress_bars()
transformers.utils.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()
torch.set_num_threads(1)  # tiny models: a second OpenMP thread only waits at barriers on a busy machine

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
POSITIVE = ["good", "great", "fine", "lovely", "superb", "moving", "funny", "smart"]
NEGATIVE = ["bad", "awful", "dull", "boring", "weak", "messy", "tired", "flat"]
FILLER = ["the", "film", "movie", "is", "was", "a", "very", "story", "plot", "cast", "and", "but", "quite", "it"]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VOCAB = SPECIAL + sorted(set(POSITIVE + NEGATIVE + FILLER)) + [f"w{i}" for i in range(60)]
FAMILIES = ("bert", "roberta", "distilbert", "electra", "mpnet")


def tiny_config(family: str, *, layers: int = 4, hidden: int = 32, heads: int = 2, ffn: int = 64):
    """A tiny random config of ``family`` using :data:`VOCAB`."""
    common = {"vocab_size": len(VOCAB), "max_position_embeddings": 64, "pad_token_id": 0}
    if family == "bert":
        return BertConfig(
            hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads, intermediate_size=ffn, **common
        )
    if family == "roberta":
        return RobertaConfig(
            hidden_size=hidden,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            intermediate_size=ffn,
            type_vocab_size=2,
            **common,
        )
    if family == "distilbert":
        return DistilBertConfig(dim=hidden, n_layers=layers, n_heads=heads, hidden_dim=ffn, **common)
    if family == "electra":
        return ElectraConfig(
            embedding_size=16,
            hidden_size=hidden,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            intermediate_size=ffn,
            **common,
        )
    if family == "mpnet":
        return MPNetConfig(
            hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads, intermediate_size=ffn, **common
        )
    raise ValueError(family)


def make_tokenizer(folder: Path) -> BertTokenizerFast:
    """A WordPiece tokenizer over :data:`VOCAB`, saved to ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab_file = folder / "vocab.txt"
    vocab_file.write_text("\n".join(VOCAB) + "\n")
    tokenizer = BertTokenizerFast(vocab=str(vocab_file), do_lower_case=True)
    tokenizer.save_pretrained(folder)
    return tokenizer


def save_tiny_model(
    folder: Path, family: str = "bert", *, num_labels: int = 2, mlm: bool = False, seed: int = 0, **shape
) -> Path:
    """Save a tiny random model (+ tokenizer) of ``family`` to ``folder`` and return the folder."""
    torch.manual_seed(seed)
    config = tiny_config(family, **shape)
    if mlm:
        model = AutoModelForMaskedLM.from_config(config)
    else:
        config.num_labels = num_labels
        model = AutoModelForSequenceClassification.from_config(config)
    model.save_pretrained(folder)
    make_tokenizer(folder)
    return folder


def save_diverging_teacher(folder: Path) -> Path:
    """Save a tiny BERT classifier (+ tokenizer) whose classifier weights are infinite: every distillation loss
    is non-finite at the first step."""
    torch.manual_seed(0)
    config = tiny_config("bert")
    config.num_labels = 2
    model = AutoModelForSequenceClassification.from_config(config)
    with torch.no_grad():
        model.classifier.weight.fill_(float("inf"))
    model.save_pretrained(folder)
    make_tokenizer(folder)
    return folder


def sentence(rng: random.Random, label: int) -> str:
    words = [rng.choice(FILLER) for _ in range(rng.randint(3, 9))]
    for _ in range(rng.randint(1, 2)):
        words.insert(rng.randrange(len(words) + 1), rng.choice(POSITIVE if label else NEGATIVE))
    return " ".join(words)


def write_sst2(folder: Path, *, train: int = 96, dev: int = 32, seed: int = 0) -> Path:
    """A tiny SST-2-format task folder (``train.tsv``, ``dev.tsv``) whose labels are learnable from words."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name, count in (("train", train), ("dev", dev)):
        lines = ["sentence\tlabel"]
        for i in range(count):
            label = i % 2
            lines.append(f"{sentence(rng, label)}\t{label}")
        (folder / f"{name}.tsv").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture
def sst2_dir(tmp_path: Path) -> Path:
    """A tiny SST-2-format task folder."""
    return write_sst2(tmp_path / "SST-2")


@pytest.fixture
def bert_teacher(tmp_path: Path) -> Path:
    """A tiny random BERT sequence classifier (4 layers, width 32) with its tokenizer."""
    return save_tiny_model(tmp_path / "teacher", "bert")


@pytest.fixture
def shared_data() -> Path:
    """The shared GLUE files (skips when absent)."""
    if not (SHARED_DATA / "glue").is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


def tiny_distill_config(teacher: Path, data: Path, output: Path, **train) -> dict:
    """A DistilBERT-style run config (KD at T=2 + cosine on the last hidden state + CE) for tiny models.

    ``train`` gives the run's ``train`` section; latency benchmarking is off.
    """
    return {
        "task": "sst2",
        "teacher": {"path": str(teacher)},
        "student": {"init": "every_other"},
        "data": {"train": str(data), "max_length": 32},
        "train": train,
        "stages": [
            {
                "name": "distill",
                "task_loss_weight": 1.0,
                "matches": [
                    {"name": "ce", "representation": "logits", "loss": "kl_div", "params": {"temperature": 2.0}},
                    {"name": "cos", "representation": "hidden", "layers": "final", "loss": "cosine"},
                ],
            }
        ],
        "output_dir": str(output),
        "bench_latency": False,
    }


def tiny_mobilebert_student(intermediate_size: int, mobilebert: dict) -> StudentConfig:
    """A 2-block MobileBERT-family student for tiny tests (width 32, 4 heads) with the given bottleneck fields."""
    return StudentConfig(
        architecture="mobilebert",
        num_layers=2,
        hidden_size=32,
        num_heads=4,
        intermediate_size=intermediate_size,
        mobilebert=mobilebert,
    )
