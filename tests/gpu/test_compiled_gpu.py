"""The compiled step on CUDA (``pytest -m gpu tests/gpu``): CUDA graphs (``reduce-overhead``) at the bucket shape,
the same losses as the eager step, no recompiles."""

from __future__ import annotations

import pytest
import torch

from tests.integration.test_compiled_step import STEPS, _event, _losses, _run, pair  # noqa: F401 (a fixture)


pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_compiled_step_on_cuda_uses_cuda_graphs_and_matches_eager(pair):  # noqa: F811
    torch.backends.cuda.matmul.allow_tf32 = False
    eager = _run(pair, "cuda-never", cpu=False, compile="never")
    compiled = _run(pair, "cuda-auto", cpu=False, compile="auto")
    chosen, end = _event(compiled, "compile"), _event(compiled, "compile_end")
    assert chosen["compiled"] and chosen["reason"] == "auto: CUDA" and chosen["mode"] == "reduce-overhead"
    assert end["graphs"] == 1 and end["recompiles"] == 0
    for a, b in zip(_losses(eager), _losses(compiled), strict=True):
        for key in a:
            if isinstance(a[key], float):
                assert b[key] == pytest.approx(a[key], rel=1e-3, abs=1e-6), (a["step"], key)
    assert len(_losses(compiled)) == STEPS
