"""Read labelled examples from GLUE TSV folders, CSV/TSV/JSON/JSONL/parquet files or the Hub.

Every row keeps its source line so that a bad row is reported as ``file:line`` before any training starts.
"""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembert.errors import DataError
from alembert.tasks.task import Task, label_text


__all__ = ["Example", "find_split_files", "read_examples", "read_text_corpus", "rows_from_records"]

csv.field_size_limit(sys.maxsize)

# Column names used by the Hub's GLUE datasets and by common JSON exports, per task text field position.
_ALT_TEXT_COLUMNS: tuple[tuple[str, ...], ...] = (
    ("sentence", "sentence1", "premise", "question", "question1", "text", "text_a"),
    ("sentence2", "hypothesis", "sentence", "question2", "text_b"),
)


@dataclass(frozen=True)
class Example:
    """One labelled (or unlabelled) example.

    Attributes:
        texts: one or two text fields.
        label: class index, float score (regression), ``None`` (test files), or the label's text while the
            task's labels are not known yet (they are then read from the training data).
        line: 1-based line in the source file (row number for parquet/Hub).
        idx: the row's position in its file (0-based), used for predictions and submissions.
    """

    texts: tuple[str, ...]
    label: int | float | str | None
    line: int
    idx: int


_SUFFIXES = (".tsv", ".jsonl", ".csv", ".json", ".parquet")


def find_split_files(folder: Path, task: Task, split: str) -> list[Path]:
    """Files of ``split`` ("train", "dev", "test") in a task folder: the task's file names (``dev.tsv``; MNLI's
    ``dev_matched.tsv`` ...) with any supported suffix, ``.tsv`` first."""
    names = {"train": ("train.tsv",), "dev": task.dev_files, "test": task.test_files}[split]
    found = []
    for name in names:
        stem = Path(name).stem
        for candidate in (folder / f"{stem}{suffix}" for suffix in _SUFFIXES):
            if candidate.is_file():
                found.append(candidate)
                break
    if split == "dev" and len(found) > 1 and not task.folder:  # dev.* and validation.*: one dev set
        found = found[:1]
    return found


def _convert_label(raw: Any, task: Task, where: str) -> int | float | str:
    """A row's label: a float (regression), a class index, or the label text while the labels are not known."""
    if task.is_regression:
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise DataError(
                f"{where}: label {raw!r} is not a number (task {task.name} is a regression task)"
            ) from None
    text = label_text(raw)
    if task.labels is None:
        return text  # the labels are read from the training data (data.sources)
    if text in task.labels:
        return task.labels.index(text)
    if task.label_names and text in task.label_names:
        return task.label_names.index(text)
    numeric = all(label.lstrip("-").isdigit() for label in task.labels)
    if isinstance(raw, int) and not isinstance(raw, bool) and not numeric and 0 <= raw < len(task.labels):
        return raw  # a class id for named labels (MNLI as integers)
    names = f" or names {list(task.label_names)}" if task.label_names else ""
    raise DataError(
        f"{where}: label {raw!r} is not in the label set of task {task.name} {list(task.labels)}{names} "
        f"({task.labels_from})"
    )


def _pick_columns(available: list[str], task: Task, text_columns: list[str] | None, where: str) -> list[str]:
    if text_columns:
        missing = [c for c in text_columns if c not in available]
        if missing:
            raise DataError(f"{where}: text column(s) {missing} not found; columns are {available}")
        return list(text_columns)
    if all(f in available for f in task.text_fields):
        return list(task.text_fields)
    if task.folder is None:  # a task of one's own names its columns: no guessing
        missing = [f for f in task.text_fields if f not in available]
        raise DataError(f"{where}: text column(s) {missing} of task {task.name} not found; columns are {available}")
    picked = []
    for position in range(len(task.text_fields)):
        options = [c for c in _ALT_TEXT_COLUMNS[position] if c in available and c not in picked]
        if not options:
            raise DataError(
                f"{where}: cannot find text column {position + 1} of task {task.name} "
                f"(expected {task.text_fields[position]!r}); columns are {available}; set data.text_columns"
            )
        picked.append(options[0])
    return picked


def rows_from_records(
    records: list[tuple[int, dict[str, Any]]],
    task: Task,
    source: str,
    text_columns: list[str] | None,
    label_column: str | None,
    require_labels: bool,
) -> list[Example]:
    """Examples from ``(line, record)`` pairs of one file, columns picked by name or by the task's defaults."""
    if not records:
        raise DataError(f"{source}: no examples (the file is empty)")
    columns = list(records[0][1].keys())
    texts = _pick_columns(columns, task, text_columns, f"{source}:{records[0][0]}")
    guesses = (task.label_field, "label", "gold_label") if task.folder else (task.label_field,)
    label_key = label_column or next((c for c in guesses if c in columns), None)
    if require_labels and (label_key is None or label_key not in columns):
        wanted = repr(label_column or task.label_field) + (" or 'label'" if task.folder and not label_column else "")
        raise DataError(f"{source}: no label column {wanted}; columns are {columns}")
    examples = []
    for idx, (line, row) in enumerate(records):
        where = f"{source}:{line}"
        values = []
        for column in texts:
            value = row.get(column)
            if value is None:
                raise DataError(f"{where}: missing text field {column!r}")
            values.append(str(value))
        label = None
        if label_key is not None and label_key in row and row[label_key] not in (None, ""):
            label = _convert_label(row[label_key], task, where)
        elif require_labels:
            raise DataError(f"{where}: missing label field {label_key!r}")
        examples.append(Example(tuple(values), label, line, idx))
    return examples


def _read_delimited(path: Path, task: Task, delimiter: str, glue_layout: bool) -> list[tuple[int, dict[str, Any]]]:
    """Rows of a TSV (GLUE's convention, whatever the options: no quoting, one row per line, so a stray quote in a
    sentence never merges rows) or of a CSV (standard quoting)."""
    tsv = delimiter == "\t"
    quoting = csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter, quoting=quoting)
        rows = [(reader.line_num, row) for row in reader if row and not (len(row) == 1 and not row[0].strip())]
    if tsv:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            lines = sum(1 for line in handle if line.strip() or "\t" in line)
        if lines != len(rows):
            raise DataError(f"{path}: read {len(rows)} rows from {lines} non-empty lines (a field spans lines)")
    if not rows:
        return []
    first_line, first = rows[0]
    if glue_layout and not task.header and "sentence" not in first:
        # CoLA train/dev: no header; source, label, original-label mark, sentence.
        records = []
        for line, row in rows:
            if len(row) != 4:
                raise DataError(f"{path}:{line}: expected 4 tab-separated fields (CoLA layout), got {len(row)}")
            records.append((line, {task.text_fields[0]: row[3], task.label_field: row[1]}))
        return records
    header = first
    records = []
    for line, row in rows[1:]:
        if len(row) != len(header):
            raise DataError(f"{path}:{line}: expected {len(header)} fields like the header, got {len(row)}")
        records.append((line, dict(zip(header, row))))
    return records


def _read_json(path: Path) -> list[tuple[int, dict[str, Any]]]:
    records = []
    with path.open(encoding="utf-8-sig") as handle:
        if path.suffix == ".json":
            text = handle.read()
            try:
                data = json.loads(text)
            except json.JSONDecodeError as err:
                raise DataError(f"{path}:{err.lineno}: invalid JSON ({err.msg})") from None
            if isinstance(data, dict) and "data" in data:
                data = data["data"]
            if not isinstance(data, list):
                raise DataError(f"{path}: expected a JSON list of objects (or JSON lines in a .jsonl file)")
            return [(i + 1, row) for i, row in enumerate(data)]
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{path}:{line_number}: invalid JSON ({err.msg})") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}:{line_number}: expected a JSON object per line")
            records.append((line_number, row))
    return records


def _read_parquet(path: Path) -> list[tuple[int, dict[str, Any]]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as err:
        raise DataError(f"{path}: cannot read parquet ({str(err).splitlines()[0]})") from None
    return [(i + 1, row) for i, row in enumerate(table.to_pylist())]


def read_examples(
    path: str | Path,
    task: Task,
    *,
    file_format: str = "auto",
    text_columns: list[str] | None = None,
    label_column: str | None = None,
    require_labels: bool = True,
) -> list[Example]:
    """Read one file into examples, validating every row (text fields present, label in the task's set).

    Args:
        path: a ``.tsv`` (GLUE layout), ``.csv``, ``.json``, ``.jsonl`` or ``.parquet`` file.
        task: the GLUE task whose fields and labels apply.
        file_format: ``auto`` (from the suffix) or one of glue/tsv/csv/json/jsonl/parquet.
        text_columns: override the text column names.
        label_column: override the label column name.
        require_labels: raise on rows without a label (train/dev); ``False`` for test files.

    Returns:
        The examples in file order.

    Raises:
        DataError: naming ``file:line`` for the first bad row, or the file if it is missing or empty.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: data file not found")
    fmt = file_format if file_format not in ("auto", "hub", "text") else path.suffix.lstrip(".").lower()
    try:
        if fmt in ("tsv", "glue"):
            records = _read_delimited(path, task, "\t", glue_layout=text_columns is None)
        elif fmt == "csv":
            records = _read_delimited(path, task, ",", glue_layout=False)
        elif fmt in ("json", "jsonl"):
            records = _read_json(path)
        elif fmt == "parquet":
            records = _read_parquet(path)
        else:
            raise DataError(f"{path}: unsupported data format '{fmt}' (use tsv, csv, json, jsonl or parquet)")
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except PermissionError:
        raise DataError(f"{path}: permission denied") from None
    return rows_from_records(records, task, str(path), text_columns, label_column, require_labels)


def read_text_corpus(path: str | Path, *, text_column: str = "text") -> list[str]:
    """Unlabelled text for general (pre-training stage) distillation: one example per non-empty line.

    ``.jsonl``/``.json``/``.parquet`` files are read from ``text_column``; anything else as plain text.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: text corpus not found")
    if path.suffix in (".jsonl", ".json", ".parquet"):
        records = _read_json(path) if path.suffix != ".parquet" else _read_parquet(path)
        texts = []
        for line, row in records:
            if text_column not in row:
                raise DataError(f"{path}:{line}: no '{text_column}' field")
            texts.append(str(row[text_column]))
    else:
        try:
            texts = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        except UnicodeDecodeError as err:
            raise DataError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    texts = [t for t in texts if t]
    if not texts:
        raise DataError(f"{path}: no text (the corpus is empty)")
    return texts
