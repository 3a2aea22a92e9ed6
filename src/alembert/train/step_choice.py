"""The stage's training step, eager or compiled (``train.compile``): ``never`` is the eager step, ``always`` the
:class:`~alembert.train.compiled.CompiledStep`, and ``auto`` compiles on CUDA and, on CPU, only where a probe at the
stage's first batch times the compiled step faster than the eager one (forward and backward, side by side, compile
time excluded). A stage too short to repay a compile is not probed. The probe changes nothing: gradients are dropped
and the random state is restored. The choice and the probe's times go to ``log.jsonl`` (``compile`` events), the
compiled step's graphs and recompiles at the end (``compile_end``).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping

import torch
from accelerate.utils import broadcast_object_list
from torch import Tensor

from alembert.train.compiled import CompiledStep, Step
from alembert.train.setup import PreparedStage, compile_setting


__all__ = ["MIN_EAGER_SECONDS", "PROBE_STEPS", "SPEED_MARGIN", "TrainingStep"]

PROBE_STEPS = 3  # timed steps of each kind
MIN_EAGER_SECONDS = 600.0  # a shorter stage is not probed: a compile takes minutes on a CPU, lost if eager wins
SPEED_MARGIN = 0.95  # compiled must take at most this share of the eager step


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


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0][:200]}" if text else type(err).__name__


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
