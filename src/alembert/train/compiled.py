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
* **auto.** Compiles on CUDA. On CPU a probe at the stage's first batch times eager and compiled steps (forward and
  backward, side by side, compile time excluded) and compiles only where the compiled step is faster; a stage too
  short to repay a compile is not probed. The probe changes nothing: gradients are dropped and the random state
  is restored. The choice, the probe's times, the buckets and the recompiles go to the run's ``log.jsonl``
  (``compile`` and ``compile_end`` events).
"""

from __future__ import annotations

import statistics
import time
import types
from collections.abc import Callable, Mapping

import torch
from accelerate.utils import broadcast_object_list
from torch import Tensor, nn
from transformers import PreTrainedModel

from alembert.data.paired import STUDENT_PREFIX, student_view
from alembert.features.capture import ATTENTION_REPRESENTATIONS, AttentionCapture
from alembert.features.extract import Features, model_inputs
from alembert.train.buckets import bucket_blocker, buckets_for, pad_to_buckets, recompile_limit
from alembert.train.setup import PreparedStage, compile_setting


__all__ = ["CompiledStep", "TrainingStep"]

Step = Callable[[Mapping[str, Tensor]], tuple[Tensor, dict[str, Tensor]]]
PROBE_STEPS = 3  # timed steps of each kind
MIN_EAGER_SECONDS = 600.0  # a shorter stage is not probed: a compile takes minutes on a CPU, lost if eager wins
SPEED_MARGIN = 0.95  # compiled must take at most this share of the eager step
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


class TrainingStep:
    """The stage's step, eager or compiled as ``train.compile`` and (``auto`` on CPU) the probe decide.

    Args:
        stage: the prepared stage.
        eager: the eager step (features and loss of one batch).
        requested_student: see :class:`CompiledStep`.
        requested_teacher: see :class:`CompiledStep`.
    """

    def __init__(self, stage: PreparedStage, eager: Step, requested_student: set, requested_teacher: set) -> None:
        self.stage, self.eager, self.log = stage, eager, stage.inputs.log
        cfg, device = stage.spec.cfg, stage.inputs.accelerator.device.type
        self.use, reason = compile_setting(cfg.compile, device, cfg.pack_sequences)
        self.always = cfg.compile == "always"
        self.compiled = CompiledStep(stage, requested_student, requested_teacher) if self.use is not False else None
        if self.use is not None:
            self._record(reason)

    def __call__(self, batch: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """``(loss, terms)`` of ``batch`` (the first batch of ``auto`` on CPU runs the probe first)."""
        if self.use is None:
            self._probe(batch)
        if not self.use:
            return self.eager(batch)
        if self.compiled.graphs or self.always:
            return self.compiled(batch)
        try:  # auto's first compiled call: a model the compiler cannot handle trains eagerly
            return self.compiled(batch)
        except Exception as err:  # noqa: BLE001 (any compiler error)
            self.use = False
            self._record(f"auto: compile failed ({_first_line(err)})")
            return self.eager(batch)

    def _record(self, reason: str, **probe: float) -> None:
        values = {"compiled": bool(self.use), "reason": reason}
        if self.use:
            values.update(mode=self.compiled.mode, buckets=list(self.compiled.buckets))
            if self.compiled.unbucketed:
                values["unbucketed"] = self.compiled.unbucketed
        self.log.event("compile", stage=self.stage.spec.name, **values, **probe)
        if not self.use and self.compiled is not None:
            self.compiled.close()
            self.compiled = None

    def _probe(self, batch: Mapping[str, Tensor]) -> None:
        """Time eager and compiled steps on ``batch`` side by side; compile where that is faster (see the module)."""
        stage = self.stage
        rng = torch.get_rng_state()
        parameters = [p for group in stage.optimizer.param_groups for p in group["params"]]
        try:
            eager = _time_steps(self.eager, batch, parameters, PROBE_STEPS + 1)[1:]
            remaining = stage.total_steps - stage.state.global_step
            estimate = statistics.median(eager) * remaining * stage.spec.cfg.gradient_accumulation_steps
            if stage.inputs.accelerator.num_processes > 1:  # every process probes, or none
                estimate = broadcast_object_list([estimate])[0]
            if estimate < MIN_EAGER_SECONDS:
                use = False
                reason = f"auto: the stage's {remaining} steps take about {estimate:.0f} s eager, too few to repay a "
                reason += "compile (probe not run)"
                probe = {"eager_step_ms": round(statistics.median(eager) * 1e3, 3)}
            else:
                use, reason, probe = self._timed_probe(batch, parameters, eager)
        finally:
            for parameter in parameters:
                parameter.grad = None
            torch.set_rng_state(rng)
        if stage.inputs.accelerator.num_processes > 1:  # every process runs the main process's choice
            use, reason = broadcast_object_list([use, reason])
        self.use = use
        self._record(reason, **probe)

    def _timed_probe(self, batch: Mapping[str, Tensor], parameters: list, eager: list[float]) -> tuple:
        begin = time.perf_counter()
        try:
            _time_steps(self.compiled, batch, parameters, 2)  # compile, then the backward's first run
        except Exception as err:  # noqa: BLE001 (a compiler missing or failing: auto trains eagerly)
            return False, f"auto: compile failed ({_first_line(err)})", {}
        compile_seconds = time.perf_counter() - begin
        compiled = []
        for _ in range(PROBE_STEPS):  # taking turns, so both see the same machine load
            eager += _time_steps(self.eager, batch, parameters, 1)
            compiled += _time_steps(self.compiled, batch, parameters, 1)
        eager_s, compiled_s = statistics.median(eager), statistics.median(compiled)
        faster = compiled_s <= SPEED_MARGIN * eager_s
        verdict = "faster" if faster else "not faster"
        times = f"{compiled_s * 1e3:.1f} ms vs {eager_s * 1e3:.1f} ms eager"
        reason = f"auto: CPU probe, compiled step {verdict} ({times})"
        probe = {
            "eager_step_ms": round(eager_s * 1e3, 3),
            "compiled_step_ms": round(compiled_s * 1e3, 3),
            "compile_seconds": round(compile_seconds, 2),
            "probe_steps": PROBE_STEPS,
        }
        return faster, reason, probe

    def close(self) -> None:
        """Log the compiled step's recompiles and remove its hooks."""
        if self.compiled is None:
            return
        compiled = self.compiled
        self.log.event(
            "compile_end", stage=self.stage.spec.name, graphs=compiled.graphs, recompiles=compiled.recompiles,
            shapes=sorted(compiled.shapes), recompile_limit=compiled.limit,
        )  # fmt: skip
        compiled.close()
        self.compiled = None


def _time_steps(step: Step, batch: Mapping[str, Tensor], parameters: list, count: int) -> list[float]:
    """Seconds of ``count`` forward and backward passes of ``step`` on ``batch`` (gradients dropped after each)."""
    seconds = []
    for _ in range(count):
        begin = time.perf_counter()
        loss, _ = step(batch)
        loss.backward()
        _synchronize(loss.device)
        seconds.append(time.perf_counter() - begin)
        for parameter in parameters:
            parameter.grad = None
    return seconds


def _own_code(method: Callable) -> Callable:
    """``method`` bound to a copy of its function's code: a new stage's step does not count the compiled versions
    of an earlier one's (dynamo keeps them, and counts them against the limit, on the code object)."""
    function = method.__func__
    code = function.__code__.replace()
    copy = types.FunctionType(code, function.__globals__, function.__name__, function.__defaults__)
    return types.MethodType(copy, method.__self__)


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0][:200]}" if text else type(err).__name__


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


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
