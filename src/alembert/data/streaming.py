"""General distillation on corpora of any size: text read lazily and packed into blocks of ``max_length`` tokens.

:class:`TextBlockStream` reads plain text (one document per line), JSON lines or parquet files (or a Hub dataset
in streaming mode) a few hundred lines at a time, tokenises them, joins them with the separator token and cuts
the token stream into blocks of ``max_length`` (special tokens included). Memory is bounded by one read batch,
not by the corpus.

Processes. Under distributed training each process reads its own share: byte range ``[k·S/P, (k+1)·S/P)`` of
every text/JSONL file (a line belongs to the range its first byte falls in), row range of every parquet file,
or shard ``k`` of a Hub stream. Shares are disjoint and cover the corpus once per pass.

Passes. The stream is endless: after the last file it starts the next pass (no partial block is dropped, a block
may straddle two passes), so training is bounded by ``train.max_steps`` and every process makes the same number
of steps. Each block carries ``stream_position`` ``(pass, file, offset, token)``: where the *next* block starts
(``offset`` is a line's first byte, or a row number; -1 the start of this process's share; ``token`` the tokens
of that line already used). A checkpoint stores every process's position and a resumed run seeks there instead
of re-reading what it already consumed.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.data_loader import prepare_data_loader
from torch.utils.data import DataLoader, IterableDataset
from transformers import DataCollatorForLanguageModeling, PreTrainedTokenizerBase

from alembert.data._stream_readers import Line, byte_range_lines, hub_lines, json_text, parquet_lines
from alembert.errors import ConfigError, DataError


__all__ = ["TextBlockStream", "find_stream_files", "prepare_stream_loader", "stream_loader"]

_SUFFIXES = {".txt": "text", ".text": "text", ".raw": "text", ".jsonl": "jsonl", ".parquet": "parquet"}


def find_stream_files(train: str | None, file_format: str) -> list[Path]:
    """The corpus files of ``data.train``: a file, or the text/JSONL/parquet files of a folder (sorted)."""
    if train is None:
        raise DataError("data.train: general distillation needs a text corpus file or folder")
    path = Path(train)
    if not path.exists():
        raise DataError(f"data.train: '{path}' not found")
    files = sorted(p for p in path.iterdir() if p.suffix in _SUFFIXES) if path.is_dir() else [path]
    if not files:
        raise DataError(f"data.train: folder {path} holds no .txt, .jsonl or .parquet file")
    for file in files:
        kind = _file_format(file, file_format)
        if kind not in ("text", "jsonl", "parquet"):
            raise ConfigError(f"data.format: streaming reads text, jsonl or parquet files, not {kind} ({file})")
    return files


def _file_format(path: Path, file_format: str) -> str:
    if file_format != "auto":
        return file_format
    return _SUFFIXES.get(path.suffix, "json" if path.suffix == ".json" else "text")


class TextBlockStream(IterableDataset):
    """Endless stream of packed masked-LM blocks from this process's share of the corpus.

    Args:
        files: corpus files (see :func:`find_stream_files`); ignored when ``hub`` is given.
        tokenizer: the teacher's tokenizer.
        max_length: tokens per block, special tokens included.
        file_format: ``auto`` (from the suffix), ``text``, ``jsonl`` or ``parquet``.
        text_column: field holding the text in JSONL/parquet rows and Hub examples.
        hub: ``(name, config)`` of a Hub dataset streamed instead of files (needs network access).
        read_lines: lines tokenised together.
    """

    def __init__(
        self,
        files: list[Path],
        tokenizer: PreTrainedTokenizerBase,
        *,
        max_length: int,
        file_format: str = "auto",
        text_column: str = "text",
        hub: tuple[str, str | None] | None = None,
        read_lines: int = 256,
    ) -> None:
        super().__init__()
        self.files, self.tokenizer, self.file_format = list(files), tokenizer, file_format
        self.text_column, self.hub, self.read_lines = text_column, hub, read_lines
        if tokenizer.sep_token_id is None or tokenizer.mask_token_id is None:
            raise DataError("streaming packs masked-LM blocks: the tokenizer needs a separator and a mask token")
        template = tokenizer(tokenizer.mask_token, add_special_tokens=True)["input_ids"]
        middle = template.index(tokenizer.mask_token_id)
        self.prefix, self.suffix = template[:middle], template[middle + 1 :]  # e.g. [CLS] … [SEP]
        self.body = max_length - len(self.prefix) - len(self.suffix)
        self.never_masked = {*self.prefix, *self.suffix, tokenizer.sep_token_id}  # [UNK] stays maskable
        if self.body < 1:
            raise ConfigError(f"data.max_length {max_length} leaves no room for text after the special tokens")
        self.with_token_types = "token_type_ids" in tokenizer.model_input_names
        self.process_index, self.num_processes = 0, 1
        self.start = [0, 0, -1, 0]

    def shard(self, process_index: int, num_processes: int, positions: list[list[int]] | None = None) -> None:
        """Read share ``process_index`` of ``num_processes``, from the start or from a checkpoint's positions."""
        if positions is not None and len(positions) != num_processes:
            raise ConfigError(
                f"--resume: the checkpoint holds stream positions of {len(positions)} processes; resume with "
                f"{len(positions)} processes, not {num_processes}"
            )
        self.process_index, self.num_processes = process_index, num_processes
        self.start = list(positions[process_index]) if positions is not None else [0, 0, -1, 0]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        passes, file_index, offset, skip = self.start
        block: list[int] = []
        while True:
            tokens_this_pass, whole_pass = 0, file_index == 0 and offset < 0 and not skip
            for index in range(file_index, 1 if self.hub else len(self.files)):
                for line_offset, next_offset, ids in self._tokenised(index, offset):
                    ids = [*ids, self.tokenizer.sep_token_id]
                    used, skip = skip, 0
                    tokens_this_pass += len(ids) - used
                    while used < len(ids):
                        take = min(self.body - len(block), len(ids) - used)
                        block.extend(ids[used : used + take])
                        used += take
                        if len(block) == self.body:
                            at = [line_offset, used] if used < len(ids) else [next_offset, 0]
                            yield self._example(block, [passes, index, *at])
                            block = []
                offset = -1
            if whole_pass and tokens_this_pass == 0:
                raise DataError(self._empty_message())
            passes, file_index = passes + 1, 0

    def _empty_message(self) -> str:
        where = self.hub[0] if self.hub else ", ".join(str(f) for f in self.files)
        share = f" for process {self.process_index} of {self.num_processes}" if self.num_processes > 1 else ""
        return f"data.train: no text in {where}{share} (an empty corpus, or too small to share between processes)"

    def _example(self, block: list[int], position: list[int]) -> dict[str, Any]:
        ids = [*self.prefix, *block, *self.suffix]
        example = {
            "input_ids": ids,
            "special_tokens_mask": [int(i in self.never_masked) for i in ids],
            "stream_position": position,
        }
        if self.with_token_types:
            example["token_type_ids"] = [0] * len(ids)
        return example

    def _tokenised(self, index: int, offset: int) -> Iterator[tuple[int, int, list[int]]]:
        batch: list[Line] = []
        for line in self._lines(index, offset):
            if line[2].strip():
                batch.append(line)
            if len(batch) == self.read_lines:
                yield from self._encode(batch)
                batch = []
        yield from self._encode(batch)

    def _encode(self, lines: list[Line]) -> Iterator[tuple[int, int, list[int]]]:
        if not lines:
            return
        encoded = self.tokenizer([text for _, _, text in lines], add_special_tokens=False)["input_ids"]
        for (start, end, _), ids in zip(lines, encoded):
            yield start, end, ids

    def _lines(self, index: int, offset: int) -> Iterator[Line]:
        if self.hub:
            yield from hub_lines(self.hub, self.text_column, self.process_index, self.num_processes, offset)
            return
        path = self.files[index]
        kind = _file_format(path, self.file_format)
        if kind == "parquet":
            yield from parquet_lines(path, self.text_column, self.process_index, self.num_processes, offset)
            return
        for start, end, raw in byte_range_lines(path, self.process_index, self.num_processes, offset):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise DataError(f"{path} at byte {start + err.start}: not UTF-8 text ({err.reason})") from None
            yield start, end, json_text(text, self.text_column, path, start) if kind == "jsonl" else text


class _PositionSeededMasking:
    """Masks a batch with a generator seeded by the run's seed and the batch's stream position.

    Masking is then a function of where the blocks are in the corpus: a resumed run masks every block exactly
    as the uninterrupted run did, although the loader collates one batch ahead of the step that checkpoints,
    and the global RNG (dropout, whose state checkpoints restore) is left untouched.
    """

    def __init__(self, collator: DataCollatorForLanguageModeling, seed: int) -> None:
        self.collator, self.seed = collator, seed

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        key = ",".join(str(v) for v in (self.seed, *examples[0]["stream_position"])).encode()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(zlib.crc32(key))
            return self.collator(examples)


def stream_loader(
    stream: TextBlockStream,
    tokenizer: PreTrainedTokenizerBase,
    *,
    batch_size: int,
    mlm_probability: float,
    seed: int,
) -> DataLoader:
    """Masked-LM batches (80/10/10) of a stream; every batch keeps its blocks' ``stream_position``."""
    if tokenizer.mask_token is None:
        raise DataError("masked-LM data needs a tokenizer with a mask token")
    collator = DataCollatorForLanguageModeling(tokenizer, mlm=True, mlm_probability=mlm_probability)
    # its own generator: starting to iterate (again, after a resume) must not draw from the global RNG either
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        stream, batch_size=batch_size, collate_fn=_PositionSeededMasking(collator, seed), generator=generator
    )


def prepare_stream_loader(loader: DataLoader, accelerator: Accelerator) -> DataLoader:
    """Put a stream's batches on the device without Accelerate splitting them again (each process reads its
    own share already, see :meth:`TextBlockStream.shard`)."""
    return prepare_data_loader(
        loader, accelerator.device, num_processes=1, process_index=0, put_on_device=True, dispatch_batches=False
    )


def stream_positions(batch: dict[str, torch.Tensor]) -> list[int]:
    """Where this process's stream continues after ``batch``."""
    return batch["stream_position"][-1].tolist()
