"""The compiled training step (``train.compile``): the teacher forward, the student forward and every loss term of
a stage in one ``torch.compile`` region; the backward pass runs through the compiled graph.

* **Length buckets.** Batches are padded to a few lengths (:mod:`alembert.train.buckets`), and the step is compiled
  for fixed shapes, so it is compiled at most once per bucket (and last, shorter batch); a limit on recompiles
  makes any further shape run eagerly rather than compile again. A stage whose loss reads padded positions is not
  padded; its shapes are left dynamic instead. On CUDA with buckets the step is compiled with
  ``mode="reduce-overhead"`` (CUDA graphs).
* **Attention capture.** The hooks of :class:`~alembert.features.capture.AttentionCapture` are installed once,
  before the first compiled call, and never inside it (installing a hook is a graph break); so are the hooks with
  which transformers records hidden states. The step compiles to one graph, without a break per hooked layer.

Whether a stage runs this step or the eager one is decided in :mod:`alembert.train.step_choice`.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn
from transformers import PreTrainedModel

from alembert.data.paired import STUDENT_PREFIX, student_view
from alembert.features.capture import ATTENTION_REPRESENTATIONS, AttentionCapture
from alembert.features.extract import Features, model_inputs
from alembert.train.buckets import bucket_blocker, buckets_for, pad_to_buckets, recompile_limit
from alembert.train.setup import PreparedStage


__all__ = ["CompiledStep", "Step"]

Step = Callable[[Mapping[str, Tensor]], tuple[Tensor, dict[str, Tensor]]]
_AMP = {"bf16": torch.bfloat16, "fp16": torch.float16}


class CompiledStep:
    """One batch's features and loss, compiled: ``step(batch) -> (loss, {term: value})`` like the eager step.

    Args:
        stage: the prepared stage (its student, teacher or teacher cache, objective, accelerator).
        requested_student: ``(representation, layer)`` pairs the objective reads from the student.
        requested_teacher: the same for the teacher.
    """

    def __init__(self, stage: PreparedStage, requested_student: set, requested_teacher: set) -> None:
        inputs, self.accelerator = stage.inputs, stage.inputs.accelerator
        self.student, self.objective = stage.student, stage.objective
        self.cache = inputs.teacher_cache if inputs.objective.needs_teacher else None
        self.teacher = inputs.teacher if stage.runs_teacher else None
        self.unbucketed = bucket_blocker(inputs.objective.matches)
        self.buckets = () if self.unbucketed else buckets_for(stage.spec.max_length)
        self.pad_ids = (_pad_id(self.teacher or self.student), _pad_id(self.student))
        self.hidden = {
            "teacher": any(rep in ("hidden", "embeddings") for rep, _ in requested_teacher),
            "student": any(rep in ("hidden", "embeddings") for rep, _ in requested_student),
        }
        models = {"student": (self.student, requested_student), "teacher": (self.teacher, requested_teacher)}
        captures = {side: _capture(model, wanted) for side, (model, wanted) in models.items() if model is not None}
        self.captures = {side: capture for side, capture in captures.items() if capture is not None}
        for model in (self.student, self.teacher):
            _install_output_hooks(model)
        device = self.accelerator.device.type
        self.cuda_graphs = device == "cuda" and bool(self.buckets)
        self.graphs, self.shapes, self.limit = 0, set(), None
        self.amp = _AMP.get(self.accelerator.mixed_precision)
        forward = _own_code(self._forward)  # compiled versions and the recompile limit are per code object
        self.compiled = torch.compile(forward, backend=self._backend, dynamic=False if self.buckets else None)

    @property
    def mode(self) -> str:
        """The ``torch.compile`` mode: ``reduce-overhead`` (CUDA graphs) on CUDA with buckets, else ``default``."""
        return "reduce-overhead" if self.cuda_graphs else "default"

    def _backend(self, graph: torch.fx.GraphModule, example_inputs: list) -> Callable:
        from torch._inductor import list_mode_options
        from torch._inductor.compile_fx import compile_fx

        self.graphs += 1
        return compile_fx(graph, example_inputs, config_patches=list_mode_options(self.mode))

    def __call__(self, batch: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """``(loss, terms)`` of ``batch``, padded to its bucket, from the compiled step."""
        if self.buckets:
            batch = pad_to_buckets(batch, self.buckets, *self.pad_ids)
        if self.limit is None:
            self.limit = recompile_limit(self.buckets or (0,), f"{STUDENT_PREFIX}input_ids" in batch)
        keys = [key for key in ("input_ids", f"{STUDENT_PREFIX}input_ids") if key in batch]
        self.shapes.add(tuple(tuple(batch[key].shape) for key in keys))
        cached = self.cache.features(batch) if self.cache is not None else None
        student_batch = student_view(batch)
        teacher_inputs = model_inputs(self.teacher, batch) if self.teacher is not None else None
        for capture in self.captures.values():
            capture.reset()  # drop what an evaluation pass left
        if self.cuda_graphs:
            torch.compiler.cudagraph_mark_step_begin()
        with torch._dynamo.config.patch(recompile_limit=self.limit, accumulated_recompile_limit=self.limit):
            loss, terms = self.compiled(
                teacher_inputs, model_inputs(self.student, student_batch), cached, batch, student_batch
            )
        if self.cuda_graphs:  # a CUDA graph's outputs are overwritten by its next replay
            terms = {name: value.clone() for name, value in terms.items()}
        return loss, terms

    def _forward(
        self,
        teacher_inputs: dict[str, Tensor] | None,
        student_inputs: dict[str, Tensor],
        teacher: Features | None,
        batch: Mapping[str, Tensor],
        student_batch: Mapping[str, Tensor],
    ) -> tuple[Tensor, dict[str, Tensor]]:
        if teacher_inputs is not None:
            device = batch["input_ids"].device.type
            with torch.no_grad(), torch.autocast(device, dtype=self.amp, enabled=self.amp is not None):
                outputs = self.teacher(**teacher_inputs, output_hidden_states=self.hidden["teacher"], return_dict=True)
                teacher = Features(outputs, self._captured("teacher", batch))
        outputs = self.student(**student_inputs, output_hidden_states=self.hidden["student"], return_dict=True)
        student = Features(outputs, self._captured("student", student_batch))
        return self.objective(student, teacher, batch)

    def _captured(self, side: str, batch: Mapping[str, Tensor]) -> dict | None:
        capture = self.captures.get(side)
        return None if capture is None else capture.features(batch.get("attention_mask"))

    @property
    def recompiles(self) -> int:
        """Compilations after the first."""
        return max(self.graphs - 1, 0)

    def close(self) -> None:
        """Remove the capture hooks."""
        for capture in self.captures.values():
            capture.__exit__(None, None, None)
        self.captures.clear()


def _own_code(method: Callable) -> Callable:
    """``method`` bound to a copy of its function's code: a new stage's step does not count the compiled versions
    of an earlier one's (dynamo keeps them, and counts them against the limit, on the code object)."""
    function = method.__func__
    code = function.__code__.replace()
    copy = types.FunctionType(code, function.__globals__, function.__name__, function.__defaults__)
    return types.MethodType(copy, method.__self__)


def _pad_id(model: nn.Module) -> int:
    pad = getattr(getattr(model, "module", model).config, "pad_token_id", None)
    return 0 if pad is None else int(pad)


def _capture(model: nn.Module, requested: set) -> AttentionCapture | None:
    """Hooks for the requested attention representations, installed now (outside any compiled region)."""
    hooked = [(rep, int(layer)) for rep, layer in requested if rep in ATTENTION_REPRESENTATIONS]
    return AttentionCapture(model, hooked, None).__enter__() if hooked else None


def _install_output_hooks(model: nn.Module | None) -> None:
    """Install now the hooks with which transformers records hidden states (on the base model, as its first forward
    pass would): installing them takes a lock, which would break the compiled graph on its first call."""
    if model is None:
        return
    try:
        from transformers.utils.output_capturing import maybe_install_capturing_hooks
    except ImportError:  # an older transformers: nothing to install
        return
    base = getattr(getattr(model, "module", model), "base_model", None)
    if isinstance(base, PreTrainedModel):
        try:
            maybe_install_capturing_hooks(base)
        except (AttributeError, KeyError, TypeError):  # a model that records nothing
            return
