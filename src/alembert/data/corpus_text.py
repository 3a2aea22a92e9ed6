"""Reading, cleaning and sentence-splitting the text of a general-distillation corpus (see :mod:`.corpus`).

:func:`read_documents` reads documents from

* ``.txt`` files: one document per line, or per block of lines separated by blank lines (``documents="block"``;
  ``auto`` picks blocks when some block holds several lines);
* ``.jsonl`` / ``.parquet`` files with a text field;
* ``.tsv`` files with a header: their text columns (GLUE's names, or ``tsv_columns``); labels are ignored and each
  text cell is a document;

and :func:`evaluation_sentences` collects the sentences of evaluation files that a corpus must not hold, keyed by
:func:`normalise_sentence`.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from alembert.errors import DataError


__all__ = [
    "clean_text",
    "evaluation_sentences",
    "normalise_sentence",
    "read_documents",
    "split_sentences",
    "word_count",
]

_TEXT_SUFFIXES = (".txt", ".text", ".raw")
_GLUE_TEXT_COLUMNS = ("sentence", "sentence1", "sentence2", "question", "question1", "question2", "premise",
                      "hypothesis", "text", "#1 String", "#2 String")  # fmt: skip
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[`]*[A-Z0-9])")
_HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_WIKITEXT_JOINS = ((" @-@ ", "-"), (" @,@ ", ","), (" @.@ ", "."))
_SPACES = re.compile(r"\s+")
_PTB_BRACKETS = re.compile(r"-(lrb|rrb|lsb|rsb|lcb|rcb)-", re.IGNORECASE)
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


def normalise_sentence(text: str) -> str:
    """The key under which two sentences count as the same: tokenisation, case, punctuation and mojibake ignored.

    ``"It 's -LRB- very -RRB- good ."`` and ``"it's (very) good"`` give the same key, as do the SST files'
    Latin-1-decoded UTF-8 (``LucÃ­a``) and the proper ``Lucía``.
    """
    try:
        text = text.encode("cp1252").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return _NOT_ALNUM.sub("", _PTB_BRACKETS.sub(" ", text))


def clean_text(text: str) -> str:
    """HTML line breaks and WikiText's ``@-@`` joins undone, whitespace collapsed."""
    text = _HTML_BREAK.sub(" ", text)
    for marker, joined in _WIKITEXT_JOINS:
        text = text.replace(marker, joined)
    return _SPACES.sub(" ", text).strip()


def split_sentences(text: str) -> list[str]:
    """Sentences of a cleaned document: a break after ``.``, ``!`` or ``?`` (and closing quotes) before a capital
    letter or digit. Lower-cased text (SST) stays one sentence per line, which is what those files hold."""
    return [s for s in (part.strip() for part in _SENTENCE_END.split(text)) if s]


def word_count(text: str) -> int:
    """Words holding at least one letter or digit."""
    return sum(1 for word in text.split() if any(ch.isalnum() for ch in word))


def read_documents(
    path: Path, *, documents: str = "auto", text_field: str = "text", tsv_columns: Sequence[str] | None = None
) -> Iterator[str]:
    """Raw documents of one input file (see the module docstring for the formats)."""
    if not path.is_file():
        raise DataError(f"corpus input '{path}' not found")
    suffix = path.suffix.lower()
    if suffix in _TEXT_SUFFIXES:
        yield from _text_documents(path, documents)
    elif suffix == ".jsonl":
        yield from _jsonl_documents(path, text_field)
    elif suffix == ".parquet":
        yield from _parquet_documents(path, text_field)
    elif suffix == ".tsv":
        for _line, cells in _tsv_text_cells(path, tsv_columns):
            yield from cells
    else:
        raise DataError(f"corpus input '{path}': unsupported file type '{suffix}' (use .txt, .jsonl, .parquet, .tsv)")


def _read_lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    # str.splitlines would also break at U+0085, U+2028 and friends, which occur inside JSON strings
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def _text_documents(path: Path, documents: str) -> Iterator[str]:
    if documents not in ("auto", "line", "block"):
        raise DataError(f"documents: '{documents}' is not one of auto, line, block")
    lines = _read_lines(path)
    blocks: list[list[str]] = [[]]
    for line in lines:
        if line.strip():
            blocks[-1].append(line)
        elif blocks[-1]:
            blocks.append([])
    if documents == "auto":
        documents = "block" if any(len(block) > 1 for block in blocks) and len(blocks) > 1 else "line"
    if documents == "line":
        yield from lines
    else:
        yield from (" ".join(block) for block in blocks if block)


def _jsonl_documents(path: Path, text_field: str) -> Iterator[str]:
    for number, line in enumerate(_read_lines(path), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{number}: invalid JSON ({err.msg})") from None
        if not isinstance(row, dict) or text_field not in row:
            raise DataError(f"{path}:{number}: expected a JSON object with a '{text_field}' field (--text-field)")
        yield str(row[text_field] or "")


def _parquet_documents(path: Path, text_field: str) -> Iterator[str]:
    import pyarrow.parquet as pq

    table = pq.ParquetFile(path)
    if text_field not in table.schema_arrow.names:
        raise DataError(f"{path}: no '{text_field}' column (--text-field); columns are {table.schema_arrow.names}")
    for batch in table.iter_batches(columns=[text_field]):
        yield from (str(v or "") for v in batch.column(0).to_pylist())


def _tsv_text_cells(path: Path, columns: Sequence[str] | None) -> Iterator[tuple[int, list[str]]]:
    """``(line, text cells)`` per row of a TSV read as GLUE writes it (no quoting)."""
    lines = _read_lines(path)
    if not lines:
        return
    header = lines[0].split("\t")
    wanted = list(columns) if columns else [c for c in header if c in _GLUE_TEXT_COLUMNS]
    missing = [c for c in wanted if c not in header]
    if missing or not wanted:
        raise DataError(
            f"{path}:1: text column(s) {missing or 'none known'} not in the header {header}; name them with "
            "--tsv-column"
        )
    indices = [header.index(c) for c in wanted]
    for number, line in enumerate(lines[1:], start=2):
        cells = line.split("\t")
        yield number, [cells[i] for i in indices if i < len(cells)]


def evaluation_sentences(paths: Iterable[Path]) -> set[str]:
    """Normalised sentences of evaluation files: every cell of a TSV (headerless ones too, e.g. CoLA) and every
    string of a JSONL row that holds a letter, whole and split into sentences."""
    keys: set[str] = set()
    for path in paths:
        if not path.is_file():
            raise DataError(f"--exclude: '{path}' not found")
        for text in _all_text_cells(path):
            if not any(ch.isalpha() for ch in text):
                continue
            for piece in (text, *split_sentences(clean_text(text))):
                key = normalise_sentence(piece)
                if key:
                    keys.add(key)
    return keys


def _all_text_cells(path: Path) -> Iterator[str]:
    if path.suffix.lower() == ".jsonl":
        for number, line in enumerate(_read_lines(path), start=1):
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as err:
                    raise DataError(f"{path}:{number}: invalid JSON ({err.msg})") from None
                yield from (v for v in (row.values() if isinstance(row, dict) else []) if isinstance(v, str))
    else:
        for line in _read_lines(path):
            yield from line.split("\t")
