"""The CUDA path (deselected by default; run on a GPU machine with ``pytest -m gpu tests/gpu``).

Distillation in bf16 on the GPU through Accelerate, the lagged loss read-back, and hooked attention capture on
CUDA tensors against the eager model's own attention probabilities, packed against padded features on CUDA.
"""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForSequenceClassification

from alembert import DistillConfig, distill, parse_config
from alembert.features.capture import AttentionCapture
from alembert.features.extract import forward_features
from alembert.train.control import LaggedLoss
from tests.conftest import save_tiny_model, tiny_config, tiny_distill_config


pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_fp16_is_accepted_on_a_gpu_and_recorded(tmp_path, sst2_dir):
    """fp16 is refused on a CPU only (it would run in fp32 there); on a GPU it runs, and config.yaml says fp16."""
    from accelerate.state import AcceleratorState

    teacher = save_tiny_model(tmp_path / "teacher", "bert")
    train = {"max_steps": 2, "batch_size": 16, "mixed_precision": "fp16"}
    AcceleratorState._reset_state(True)  # one precision per process state: leave the others' as it was
    try:
        run = distill(parse_config(DistillConfig, tiny_distill_config(teacher, sst2_dir, tmp_path / "run", **train)))
    finally:
        AcceleratorState._reset_state(True)
    assert "mixed_precision: fp16" in (run.output_dir / "config.yaml").read_text()


def test_bf16_distillation_on_cuda_trains_and_saves(tmp_path, sst2_dir):
    teacher = save_tiny_model(tmp_path / "teacher", "bert")
    train = {"epochs": 3, "batch_size": 16, "learning_rate": 1e-3, "log_every": 1, "mixed_precision": "bf16"}
    run = distill(parse_config(DistillConfig, tiny_distill_config(teacher, sst2_dir, tmp_path / "run", **train)))
    losses = [
        json.loads(line)["loss"]
        for line in (run.output_dir / "log.jsonl").read_text().splitlines()
        if json.loads(line).get("event") == "train"
    ]
    assert losses and all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3
    reloaded = AutoModelForSequenceClassification.from_pretrained(run.student_dir)  # on CPU, fp32 weights
    assert next(reloaded.parameters()).dtype == torch.float32


def test_lagged_loss_reads_cuda_values_one_step_late():
    lagged = LaggedLoss()
    device = torch.device("cuda")
    assert lagged.swap(1, torch.tensor(2.0, device=device), {"a": torch.tensor(0.5, device=device)}) is None
    previous = lagged.swap(2, torch.tensor(float("nan"), device=device), {"a": torch.tensor(1.0, device=device)})
    assert previous == (1, 2.0, {"a": 0.5})
    step, loss, terms = lagged.pop()
    assert step == 2 and loss != loss and terms == {"a": 1.0}


def test_hooked_attention_probs_match_eager_on_cuda():
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(tiny_config("bert"), attn_implementation="eager").cuda()
    model.eval()
    input_ids = torch.randint(5, 40, (3, 12), device="cuda")
    mask = torch.ones_like(input_ids)
    mask[0, 8:] = 0
    with torch.no_grad(), AttentionCapture(model, [("attention_probs", 2)], mask) as capture:
        outputs = model(input_ids=input_ids, attention_mask=mask, output_attentions=True)
    captured = capture.features()[("attention_probs", 2)]
    torch.testing.assert_close(captured, outputs.attentions[1].float(), atol=1e-5, rtol=1e-4)


def test_packed_features_match_padded_features_on_cuda():
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(tiny_config("bert")).eval().to("cuda")
    lengths = torch.tensor([9, 3, 7, 1, 5])
    mask = (torch.arange(9)[None, :] < lengths[:, None]).long()
    batch = {"input_ids": torch.randint(5, 90, (5, 9)) * mask, "attention_mask": mask}
    batch = {key: value.to("cuda") for key, value in batch.items()}
    requested = [("hidden", 4), ("attention_scores", 4)]
    with torch.no_grad():
        padded = forward_features(model, batch, requested)
        packed = forward_features(model, batch, requested, pack=True)
    assert packed.packing is not None and packed.packing.padded_index.device.type == "cuda"
    tokens = batch["attention_mask"].bool()
    torch.testing.assert_close(packed.get("hidden", 4)[tokens], padded.get("hidden", 4)[tokens], atol=1e-4, rtol=1e-4)
    pairs = (tokens[:, None, :, None] & tokens[:, None, None, :]).expand(padded.get("attention_scores", 4).shape)
    torch.testing.assert_close(
        packed.get("attention_scores", 4)[pairs], padded.get("attention_scores", 4)[pairs], atol=1e-4, rtol=1e-4
    )
