"""A general-distillation corpus from local text: cleaned, deduplicated, cut into segments, shuffled.

:func:`build_corpus` reads documents (``.txt``, ``.jsonl``, ``.parquet``, TSV text columns; see
:mod:`alembert.data.corpus_text`), drops empty and near-empty documents and exact duplicates, removes every
sentence that occurs in the ``exclude`` evaluation files, and packs consecutive sentences of a document into
segments of at most ``max_length`` tokens of the teacher's tokenizer, special tokens included (the papers' 128),
so a long document becomes several segments instead of being truncated. The segments are shuffled with a seed and
written one per line to ``<output>/corpus.jsonl`` (field ``text``), the statistics to ``<output>/corpus.json``.
General distillation streams the folder: ``data.train: <output>``, ``data.streaming: true``.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from alembert.data.corpus_text import (
    clean_text,
    evaluation_sentences,
    normalise_sentence,
    read_documents,
    split_sentences,
    word_count,
)
from alembert.errors import DataError
from alembert.files import atomic_folder, write_json_atomic
from alembert.models.load import load_tokenizer


__all__ = ["CORPUS_FILE", "STATS_FILE", "CorpusStats", "build_corpus"]

CORPUS_FILE, STATS_FILE = "corpus.jsonl", "corpus.json"


@dataclass(frozen=True)
class CorpusStats:
    """What :func:`build_corpus` read, dropped and wrote.

    Attributes:
        documents: documents kept (after dropping empty, near-empty and duplicate ones).
        segments: segments written (lines of ``corpus.jsonl``).
        tokens: tokens of the written segments, special tokens included.
        sentences: sentences kept.
        dropped_empty: documents dropped as empty or near-empty (fewer than ``min_words`` words).
        dropped_duplicates: documents dropped as exact duplicates of an earlier one.
        excluded_sentences: sentences removed because they occur in an ``exclude`` file.
        evaluation_sentences: distinct (normalised) sentences read from the ``exclude`` files.
        per_input: documents kept per input file.
        settings: tokenizer, max_length, seed, inputs and exclude files, as given.
    """

    documents: int
    segments: int
    tokens: int
    sentences: int
    dropped_empty: int
    dropped_duplicates: int
    excluded_sentences: int
    evaluation_sentences: int
    per_input: dict[str, int] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The statistics as a JSON-ready dict."""
        return asdict(self)


def build_corpus(
    inputs: Sequence[str | Path],
    output: str | Path,
    *,
    tokenizer: str,
    max_length: int = 128,
    seed: int = 42,
    exclude: Sequence[str | Path] = (),
    documents: str = "auto",
    text_field: str = "text",
    tsv_columns: Sequence[str] | None = None,
    min_words: int = 3,
    say: Callable[[str], None] | None = None,
) -> CorpusStats:
    """Build a shuffled corpus of segments from local text files (see the module docstring).

    Args:
        inputs: text, JSONL, parquet or TSV files, in any mix.
        output: a new folder for ``corpus.jsonl`` and ``corpus.json`` (an existing non-empty one is refused).
        tokenizer: folder or Hub name of the teacher's tokenizer; segment lengths are counted in its tokens.
        max_length: tokens per segment, special tokens included.
        seed: shuffles the segments.
        exclude: evaluation files whose sentences must not appear in the corpus.
        documents: ``.txt`` files: ``line`` (a document per line), ``block`` (per blank-line block) or ``auto``.
        text_field: the text field of JSONL and parquet rows.
        tsv_columns: the text columns of TSV inputs (default: GLUE's column names found in the header).
        min_words: documents with fewer words are dropped as near-empty.
        say: receives progress lines.

    Returns:
        The statistics, also written to ``corpus.json``.

    Raises:
        DataError: a missing input, an existing output, or no text left after cleaning (nothing is written).
    """
    say = say or (lambda _msg: None)
    paths, excluded_paths, output = [Path(p) for p in inputs], [Path(p) for p in exclude], Path(output)
    if not paths:
        raise DataError("corpus: give at least one input file")
    for path in [*paths, *excluded_paths]:
        if not path.is_file():
            raise DataError(f"corpus input '{path}' not found" if path in paths else f"--exclude: '{path}' not found")
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise DataError(f"--output '{output}' already exists; choose a new folder")
    tok = load_tokenizer(tokenizer)
    body = max_length - tok.num_special_tokens_to_add(pair=False)
    if body < 8:
        raise DataError(f"--max-length {max_length} leaves {body} tokens for text; use at least 16")
    forbidden = evaluation_sentences(excluded_paths)
    if excluded_paths:
        say(f"{len(forbidden):,} distinct sentences in {len(excluded_paths)} evaluation files")
    counts = {"empty": 0, "duplicates": 0, "excluded": 0}
    seen: set[bytes] = set()
    docs: list[list[str]] = []
    per_input: dict[str, int] = {}
    for path in paths:
        before = len(docs)
        for raw in read_documents(path, documents=documents, text_field=text_field, tsv_columns=tsv_columns):
            text = clean_text(raw)
            if word_count(text) < min_words:
                counts["empty"] += 1
                continue
            digest = hashlib.blake2b(text.encode("utf-8"), digest_size=12).digest()
            if digest in seen:
                counts["duplicates"] += 1
                continue
            seen.add(digest)
            sentences = split_sentences(text)
            kept = [s for s in sentences if normalise_sentence(s) not in forbidden] if forbidden else sentences
            counts["excluded"] += len(sentences) - len(kept)
            if kept:
                docs.append(kept)
        per_input[str(path)] = len(docs) - before
        say(f"{path}: {len(docs) - before:,} documents")
    if not docs:
        raise DataError(f"corpus: no text left after cleaning {', '.join(map(str, paths))} (every document empty, "
                        f"shorter than {min_words} words, a duplicate or excluded)")  # fmt: skip
    segments = _segments(docs, tok, body, say)
    if forbidden:  # a cut or joined segment can form a sentence no document had: check the segments themselves
        segments, removed = _drop_forbidden(segments, forbidden, tok)
        counts["excluded"] += removed
    random.Random(seed).shuffle(segments)
    specials = max_length - body
    stats = CorpusStats(
        documents=len(docs),
        segments=len(segments),
        tokens=sum(n for _, n in segments) + specials * len(segments),
        sentences=sum(len(d) for d in docs),
        dropped_empty=counts["empty"],
        dropped_duplicates=counts["duplicates"],
        excluded_sentences=counts["excluded"],
        evaluation_sentences=len(forbidden),
        per_input=per_input,
        settings={
            "tokenizer": str(tokenizer),
            "max_length": max_length,
            "seed": seed,
            "min_words": min_words,
            "inputs": [str(p) for p in paths],
            "exclude": [str(p) for p in excluded_paths],
        },
    )

    def write(folder: Path) -> None:
        with (folder / CORPUS_FILE).open("w", encoding="utf-8") as handle:
            for text, _ in segments:
                handle.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
        write_json_atomic(folder / STATS_FILE, stats.to_dict())

    if output.is_dir():
        output.rmdir()  # an empty folder made for us
    atomic_folder(output, write)
    return stats


def _segments(docs: list[list[str]], tok, body: int, say: Callable[[str], None]) -> list[tuple[str, int]]:
    """Consecutive sentences of each document packed into ``(text, tokens)`` segments of at most ``body``
    tokens; a longer sentence is cut at word boundaries."""
    flat = [s for doc in docs for s in doc]
    lengths: list[int] = []
    for start in range(0, len(flat), 4096):
        lengths.extend(len(ids) for ids in tok(flat[start : start + 4096], add_special_tokens=False)["input_ids"])
        if start and start % (4096 * 50) == 0:
            say(f"tokenised {start:,} of {len(flat):,} sentences")
    segments: list[tuple[str, int]] = []
    cursor = 0
    for doc in docs:
        parts: list[str] = []
        size = 0
        for sentence in doc:
            length = lengths[cursor]
            cursor += 1
            pieces = [(sentence, length)] if length <= body else _cut(sentence, tok, body)
            for text, n in pieces:
                if parts and size + n > body:
                    segments.append((" ".join(parts), size))
                    parts, size = [], 0
                parts.append(text)
                size += n
        if parts:
            segments.append((" ".join(parts), size))
    return segments


def _drop_forbidden(segments: list[tuple[str, int]], forbidden: set[str], tok) -> tuple[list[tuple[str, int]], int]:
    """Segments re-split into sentences with every forbidden one removed (token counts redone where changed)."""
    kept_segments, removed = [], 0
    for text, count in segments:
        parts = split_sentences(text)
        kept = [part for part in parts if normalise_sentence(part) not in forbidden]
        if len(kept) != len(parts):
            removed += len(parts) - len(kept)
            text = " ".join(kept)
            count = len(tok(text, add_special_tokens=False)["input_ids"]) if text else 0
        if text:
            kept_segments.append((text, count))
    return kept_segments, removed


def _cut(sentence: str, tok, body: int) -> list[tuple[str, int]]:
    """A sentence longer than ``body`` tokens as pieces of at most ``body`` tokens, cut where a word starts."""
    encoded = tok(sentence, add_special_tokens=False, return_offsets_mapping=True)
    offsets = encoded["offset_mapping"]
    pieces, start = [], 0
    while start < len(offsets):
        end = min(start + body, len(offsets))
        if end < len(offsets):
            cut = end
            while cut > start + 1 and offsets[cut][0] == offsets[cut - 1][1]:  # inside a word: move back
                cut -= 1
            end = cut if cut > start + 1 else end
        text = sentence[offsets[start][0] : offsets[end - 1][1]].strip()
        if text:
            pieces.append((text, end - start))
        start = end
    return pieces
