"""Sequence packing: run an encoder on the real tokens of a padded batch only, then put the results back.

A padded batch of SST-2 sentences is mostly padding (in file order, a third of a batch of 32 is tokens), and an
encoder's linear layers cost the same for a pad as for a word. Packing lays the sequences of a batch end to end
in a few rows (first-fit decreasing, rows of at most ``max(longest sequence, 128)`` tokens), gives every
token the position it has in its own sequence, and blocks attention between sequences with a 4D mask. The
model's own ``forward`` runs unchanged; every per-token output (hidden states, captured Q/K/V) is scattered back
to the ``(batch, seq, …)`` layout, with zeros at padded positions.

For a token this computes the same function as the padded forward (differences are float rounding), so it is
exact for every loss that ignores padded positions (``mask: attention_mask``). It is not for what reads padded
positions or a whole sequence: sequence logits (the head pools the first token of a *row*), unmasked token
losses. :func:`model_packing_blocker` says when a model cannot be packed at all.

Families: BERT, ELECTRA, DistilBERT (positions from 0), RoBERTa, XLM-R, MPNet (positions from the embeddings'
padding index + 1; MPNet's relative bias depends only on the distance of two tokens, so it is unchanged).
MobileBERT cannot be packed: its embedding convolves each token with its neighbours, which a packed row changes.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from alembert.errors import ConfigError


__all__ = ["PackingPlan", "choose_packing", "pack_inputs", "model_packing_blocker", "plan_packing"]

# model_type -> first position id of a sequence: 0, or "pad" for the embeddings' padding index + 1 (fairseq style)
_FIRST_POSITION: dict[str, int | str] = {
    "bert": 0,
    "electra": 0,
    "distilbert": 0,
    "roberta": "pad",
    "xlm-roberta": "pad",
    "mpnet": "pad",
}
_MASKED_ATTENTION = ("sdpa", "eager")


def model_packing_blocker(model: nn.Module) -> str | None:
    """Why ``model`` cannot run packed (family, attention implementation, no ``position_ids`` input), or ``None``."""
    base = getattr(model, "module", model)
    config = base.config
    if config.model_type not in _FIRST_POSITION:
        return f"packing supports {', '.join(sorted(_FIRST_POSITION))}, not '{config.model_type}'"
    implementation = getattr(config, "_attn_implementation", None) or "eager"
    if implementation not in _MASKED_ATTENTION:
        return f"packing needs sdpa or eager attention (a 4D mask), not '{implementation}'"
    if "position_ids" not in inspect.signature(type(base).forward).parameters:
        return f"{type(base).__name__}.forward takes no position_ids"
    return None


def choose_packing(mode: str, device_type: str, model: nn.Module, objective_blocker: str | None, side: str) -> bool:
    """Whether the ``side`` (``teacher`` or ``student``) model of a stage runs packed (``train.pack_sequences``).

    ``never``: no. ``always``: yes, or :class:`~alembert.errors.ConfigError` saying why it cannot. ``auto``: on CPU,
    whenever it can (there padding costs as much as tokens); not on accelerators, where a step of a small model is
    bound by kernel launches and packing only adds work.

    Args:
        mode: ``auto``, ``always`` or ``never``.
        device_type: where the stage runs (``cpu``, ``cuda``, …).
        model: the teacher or student.
        objective_blocker: why the stage's losses need the padded layout on this side, or ``None``
            (:meth:`alembert.objective.terms.DistillationObjective.packing_blocker`).
        side: ``teacher`` or ``student`` (for the message).
    """
    if mode == "never":
        return False
    blocker = objective_blocker or model_packing_blocker(model)
    if mode == "always":
        if blocker is not None:
            raise ConfigError(f"train.pack_sequences=always: the {side} cannot run packed: {blocker}")
        return True
    return blocker is None and device_type == "cpu"


@dataclass(frozen=True)
class PackingPlan:
    """Where each real token of a padded ``(batch, seq)`` batch sits in the packed ``(rows, width)`` one.

    Attributes:
        batch: rows of the padded batch.
        seq: its padded length.
        rows: packed rows.
        width: packed row length.
        padded_index: ``(tokens,)`` flat index of each real token in ``batch · seq``.
        packed_index: ``(tokens,)`` flat index of the same token in ``rows · width``.
        positions: ``(rows, width)`` position of each packed token in its own sequence (0 for row padding).
        segments: ``(rows, width)`` sequence number of each packed token; row padding is ``-1`` (it attends to
            itself only, so no attention row is empty).
    """

    batch: int
    seq: int
    rows: int
    width: int
    padded_index: Tensor
    packed_index: Tensor
    positions: Tensor
    segments: Tensor

    def pack(self, values: Tensor, fill: int | float = 0) -> Tensor:
        """``(batch, seq, …)`` → ``(rows, width, …)``; row padding holds ``fill``."""
        flat = values.reshape(self.batch * self.seq, *values.shape[2:])
        packed = flat.new_full((self.rows * self.width, *values.shape[2:]), fill)
        packed[self.packed_index] = flat[self.padded_index]
        return packed.view(self.rows, self.width, *values.shape[2:])

    def unpack(self, values: Tensor) -> Tensor:
        """``(rows, width, …)`` → ``(batch, seq, …)`` with zeros at padded positions (differentiable)."""
        flat = values.reshape(self.rows * self.width, *values.shape[2:])
        padded = flat.new_zeros((self.batch * self.seq, *values.shape[2:]))
        padded = padded.index_copy(0, self.padded_index, flat.index_select(0, self.packed_index))
        return padded.view(self.batch, self.seq, *values.shape[2:])


def _first_fit_decreasing(sizes: list[int], capacity: int) -> list[list[int]]:
    """Sequence indices per row: each sequence, longest first, into the first row it fits in."""
    fills: list[int] = []
    members: list[list[int]] = []
    for index in sorted(range(len(sizes)), key=lambda i: -sizes[i]):
        for row, fill in enumerate(fills):
            if fill + sizes[index] <= capacity:
                fills[row] += sizes[index]
                members[row].append(index)
                break
        else:
            fills.append(sizes[index])
            members.append([index])
    return members


def plan_packing(attention_mask: Tensor, max_width: int = 128, min_saving: float = 0.2) -> PackingPlan | None:
    """Plan the packing of a right-padded batch; ``None`` when it is not worth it or not possible.

    Rows are filled first-fit decreasing; of the row capacities that aim at 1, 2, 3, … rows, the one giving the
    fewest ``rows · width`` positions is kept.

    Args:
        attention_mask: ``(batch, seq)``, 1 for tokens, 0 for padding.
        max_width: longest row, unless one sequence is longer: it bounds the attention cost of a token (the
            width), which grows with the row while the linear layers' does not.
        min_saving: the least share of the ``batch · seq`` positions that packing must remove. A batch with
            little padding (length-grouped batches) runs faster padded: packing costs a few index copies and
            a 4D mask, more than it saves there.

    Returns:
        The plan, or ``None`` when the batch is not right-padded (pads first) or packing saves too little.
    """
    mask = attention_mask.detach().to("cpu", torch.bool)
    batch, seq = mask.shape
    lengths = mask.sum(dim=1)
    if batch == 0 or not torch.equal(mask, torch.arange(seq)[None, :] < lengths[:, None]):
        return None
    sizes = lengths.tolist()
    longest, total = max(sizes), sum(sizes)
    if total == 0:
        return None
    members, rows, width = [], 0, 0
    for target_rows in range(max(1, -(-total // max(max_width, longest))), batch + 1):
        capacity = max(longest, -(-total // target_rows))
        candidate = _first_fit_decreasing(sizes, capacity)
        candidate_width = max(sum(sizes[i] for i in row) for row in candidate)
        if not members or len(candidate) * candidate_width < rows * width:
            members, rows, width = candidate, len(candidate), candidate_width
        if capacity == longest:
            break
    if rows * width > (1.0 - min_saving) * batch * seq:
        return None
    positions = torch.zeros(rows, width, dtype=torch.long)
    segments = torch.full((rows, width), -1, dtype=torch.long)
    padded_index, packed_index = [], []
    for row, sequences in enumerate(members):
        offset = 0
        for sequence in sequences:
            size = sizes[sequence]
            positions[row, offset : offset + size] = torch.arange(size)
            segments[row, offset : offset + size] = sequence
            padded_index.append(torch.arange(size) + sequence * seq)
            packed_index.append(torch.arange(size) + row * width + offset)
            offset += size
    device = attention_mask.device
    empty = torch.zeros(0, dtype=torch.long)
    return PackingPlan(
        batch,
        seq,
        rows,
        width,
        torch.cat(padded_index or [empty]).to(device),
        torch.cat(packed_index or [empty]).to(device),
        positions.to(device),
        segments.to(device),
    )


def _first_position(model: nn.Module) -> int:
    """Position id of a sequence's first token: 0, or the embeddings' padding index + 1 (fairseq style; MPNet
    fixes its padding index at 1 whatever the config says)."""
    base = getattr(model, "module", model).base_model
    if _FIRST_POSITION[base.config.model_type] != "pad":
        return int(_FIRST_POSITION[base.config.model_type])
    padding_idx = getattr(base.embeddings, "padding_idx", None)
    return int(base.config.pad_token_id if padding_idx is None else padding_idx) + 1


def pack_inputs(inputs: dict[str, Tensor], plan: PackingPlan, model: nn.Module) -> dict[str, Tensor]:
    """The model inputs of the packed batch: ids and token types packed, positions, and the block-diagonal mask.

    Args:
        inputs: padded model inputs (``input_ids``, ``attention_mask``, optional ``token_type_ids``).
        plan: from :func:`plan_packing` on ``inputs["attention_mask"]``.
        model: the model (family, pad token and attention implementation from its config; its dtype).

    Raises:
        ValueError: an input that packing does not know how to lay out.
    """
    unknown = set(inputs) - {"input_ids", "attention_mask", "token_type_ids"}
    if unknown:
        raise ValueError(f"packing: cannot pack the inputs {sorted(unknown)}")
    config = getattr(model, "module", model).config
    pad_id = int(getattr(config, "pad_token_id", None) or 0)
    packed = {"input_ids": plan.pack(inputs["input_ids"], pad_id)}
    if "token_type_ids" in inputs:
        packed["token_type_ids"] = plan.pack(inputs["token_type_ids"])
    packed["position_ids"] = plan.positions + _first_position(model)
    same_sequence = (plan.segments[:, :, None] == plan.segments[:, None, :])[:, None]  # (rows, 1, width, width)
    if getattr(config, "_attn_implementation", None) == "sdpa":
        packed["attention_mask"] = same_sequence
    else:  # eager adds the mask to the scores
        dtype = next(model.parameters()).dtype
        blocked = torch.zeros(same_sequence.shape, dtype=dtype, device=same_sequence.device)
        packed["attention_mask"] = blocked.masked_fill(~same_sequence, torch.finfo(dtype).min)
    return packed
