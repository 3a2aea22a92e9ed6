"""Lazy line readers of the text stream (see :mod:`alembert.data.streaming`): each yields
``(offset, next offset, text)`` for one process's share of a text/JSONL file, a parquet file or a Hub stream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from alembert.errors import DataError


__all__ = ["Line", "byte_range_lines", "hub_lines", "json_text", "parquet_lines"]

Line = tuple[int, int, str]  # (offset of this line, offset of the next one, text)


def byte_range_lines(path: Path, share: int, shares: int, offset: int) -> Iterator[tuple[int, int, bytes]]:
    """Lines whose first byte lies in share ``share`` of ``shares`` of the file, from ``offset`` (-1: the start)."""
    try:
        handle = path.open("rb")
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None
    with handle:
        size = handle.seek(0, 2)
        begin, end = size * share // shares, size * (share + 1) // shares
        if offset >= 0:
            handle.seek(offset)
        elif begin > 0:
            handle.seek(begin - 1)
            handle.readline()  # the line that holds byte begin-1 belongs to the previous share
        else:
            handle.seek(0)
        position = handle.tell()
        while position < end:
            raw = handle.readline()
            if not raw:
                return
            following = position + len(raw)
            if position == 0 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            yield position, following, raw.rstrip(b"\r\n")
            position = following


def json_text(line: str, column: str, path: Path, offset: int) -> str:
    if not line.strip():
        return ""
    try:
        row = json.loads(line)
    except json.JSONDecodeError as err:
        raise DataError(f"{path} at byte {offset}: invalid JSON ({err.msg})") from None
    if not isinstance(row, dict) or column not in row:
        raise DataError(f"{path} at byte {offset}: expected a JSON object with a '{column}' field")
    return str(row[column] or "")


def parquet_lines(path: Path, column: str, share: int, shares: int, offset: int) -> Iterator[Line]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
        if column not in parquet.schema_arrow.names:
            raise DataError(f"{path}: no '{column}' column; columns are {parquet.schema_arrow.names}")
        rows = parquet.metadata.num_rows
        begin, end = rows * share // shares, rows * (share + 1) // shares
        row = begin if offset < 0 else offset
        first_group, group_start = 0, 0
        while first_group < parquet.num_row_groups:
            group_rows = parquet.metadata.row_group(first_group).num_rows
            if group_start + group_rows > row:
                break
            group_start, first_group = group_start + group_rows, first_group + 1
        groups = list(range(first_group, parquet.num_row_groups))
        current = group_start
        for batch in parquet.iter_batches(batch_size=1024, row_groups=groups, columns=[column]) if groups else []:
            for value in batch.column(0).to_pylist():
                if current >= end:
                    return
                if current >= row:
                    yield current, current + 1, "" if value is None else str(value)
                current += 1
    except (pa.ArrowException, OSError) as err:
        raise DataError(f"{path}: cannot read parquet ({str(err).splitlines()[0]})") from None


def hub_lines(hub: tuple[str, str | None], column: str, share: int, shares: int, offset: int) -> Iterator[Line]:
    """Examples of a Hub dataset streamed over the network; ``offset`` counts this process's examples."""
    import datasets
    from datasets.distributed import split_dataset_by_node

    try:
        stream = datasets.load_dataset(hub[0], hub[1], split="train", streaming=True)
    except Exception as err:  # the Hub raises many types; report one line
        raise DataError(f"data.hub_name: cannot stream '{hub[0]}': {str(err).splitlines()[0]}") from None
    stream = split_dataset_by_node(stream, rank=share, world_size=shares)
    start = max(offset, 0)
    for number, example in enumerate(stream.skip(start) if start else stream, start=start):
        if column not in example:
            raise DataError(f"data.hub_name: '{hub[0]}' examples have no '{column}' field; set data.text_columns")
        yield number, number + 1, str(example[column] or "")
