"""Model cards (``README.md`` next to the weights) as ``huggingface_hub.ModelCard``: metadata the Hub reads
(``base_model``, ``pipeline_tag``, ``model-index`` results), the results table, hyper-parameters, the recipe's
paper and the software versions."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import torch
import transformers
from huggingface_hub import EvalResult, ModelCard, ModelCardData

import alembert
from alembert.config import DistillConfig, FinetuneConfig
from alembert.report.summary import RunReport, markdown_table
from alembert.tasks.glue import GLUE_TASKS
from alembert.tasks.task import Task


__all__ = ["PAPERS", "paper_for", "software_versions", "write_finetune_card", "write_student_card"]

# recipe-name prefix -> (citation, link, BibTeX); the longest matching prefix wins (minilmv2 before minilm)
PAPERS: dict[str, tuple[str, str, str]] = {
    "distilbert": (
        "Sanh et al. 2019, DistilBERT, a distilled version of BERT: smaller, faster, cheaper and lighter",
        "https://arxiv.org/abs/1910.01108",
        "@article{sanh2019distilbert,\n  title={DistilBERT, a distilled version of BERT: smaller, faster, cheaper "
        "and lighter},\n  author={Sanh, Victor and Debut, Lysandre and Chaumond, Julien and Wolf, Thomas},\n"
        "  journal={arXiv preprint arXiv:1910.01108},\n  year={2019}\n}",
    ),
    "tinybert": (
        "Jiao et al. 2020, TinyBERT: Distilling BERT for Natural Language Understanding",
        "https://arxiv.org/abs/1909.10351",
        "@inproceedings{jiao2020tinybert,\n  title={TinyBERT: Distilling BERT for Natural Language Understanding},"
        "\n  author={Jiao, Xiaoqi and Yin, Yichun and Shang, Lifeng and Jiang, Xin and Chen, Xiao and Li, Linlin "
        "and Wang, Fang and Liu, Qun},\n  booktitle={Findings of EMNLP},\n  year={2020}\n}",
    ),
    "mobilebert": (
        "Sun et al. 2020, MobileBERT: a Compact Task-Agnostic BERT for Resource-Limited Devices",
        "https://arxiv.org/abs/2004.02984",
        "@inproceedings{sun2020mobilebert,\n  title={MobileBERT: a Compact Task-Agnostic BERT for Resource-Limited "
        "Devices},\n  author={Sun, Zhiqing and Yu, Hongkun and Song, Xiaodan and Liu, Renjie and Yang, Yiming and "
        "Zhou, Denny},\n  booktitle={ACL},\n  year={2020}\n}",
    ),
    "minilm": (
        "Wang et al. 2020, MiniLM: Deep Self-Attention Distillation for Task-Agnostic Compression of Pre-Trained "
        "Transformers",
        "https://arxiv.org/abs/2002.10957",
        "@inproceedings{wang2020minilm,\n  title={MiniLM: Deep Self-Attention Distillation for Task-Agnostic "
        "Compression of Pre-Trained Transformers},\n  author={Wang, Wenhui and Wei, Furu and Dong, Li and Bao, "
        "Hangbo and Yang, Nan and Zhou, Ming},\n  booktitle={NeurIPS},\n  year={2020}\n}",
    ),
    "minilmv2": (
        "Wang et al. 2021, MiniLMv2: Multi-Head Self-Attention Relation Distillation for Compressing Pretrained "
        "Transformers",
        "https://arxiv.org/abs/2012.15828",
        "@inproceedings{wang2021minilmv2,\n  title={MiniLMv2: Multi-Head Self-Attention Relation Distillation for "
        "Compressing Pretrained Transformers},\n  author={Wang, Wenhui and Bao, Hangbo and Huang, Shaohan and Dong, "
        "Li and Wei, Furu},\n  booktitle={Findings of ACL},\n  year={2021}\n}",
    ),
}
PAPERS["ibbert"] = PAPERS["mobilebert"]


def paper_for(recipe: str | None) -> tuple[str, str, str] | None:
    """The paper a recipe implements (by name prefix), or ``None`` for a custom recipe."""
    name = (recipe or "").lower()
    matches = [prefix for prefix in PAPERS if name.startswith(prefix)]
    return PAPERS[max(matches, key=len)] if matches else None


def software_versions() -> dict[str, str]:
    """Versions that produced a model or report."""
    return {
        "alembert": alembert.__version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
    }


def _dataset(task: str) -> tuple[str, str | None]:
    return ("nyu-mll/glue", task) if task in GLUE_TASKS else (task, None)


def _results(model_name: str, task: str, metrics: dict[str, float]) -> list[EvalResult]:
    dataset, config = _dataset(task)
    return [
        EvalResult(
            task_type="text-classification",
            dataset_type=dataset,
            dataset_name=task,
            dataset_config=config,
            dataset_split="dev",
            metric_type=metric,
            metric_value=round(value, 2),
        )
        for metric, value in metrics.items()
        if metric != "neg_perplexity"
    ]


def _yaml_block(values: dict[str, Any]) -> str:
    return "\n".join(f"- {key}: {value}" for key, value in values.items())


def _train_values(config: DistillConfig | FinetuneConfig) -> dict[str, Any]:
    train = config.train
    values = {k: getattr(train, k) for k in ("epochs", "max_steps", "batch_size", "learning_rate", "weight_decay")}
    values |= {"warmup_ratio": train.warmup_ratio, "seed": train.seed, "max_length": config.data.max_length}
    return {k: v for k, v in values.items() if v is not None}


def _stages(config: DistillConfig) -> str:
    lines = []
    for stage in config.stages:
        terms = [f"{stage.task_loss_weight:g} × task loss"] if stage.task_loss_weight else []
        terms += [
            f"{m.weight:g} × {m.loss}({m.representation}{', ' + str(m.layers) if m.layers else ''})"
            + (f" {dict(m.params)}" if m.params else "")
            for m in stage.matches
            if m.weight
        ]
        lines.append(
            f"- stage `{stage.name}`: " + " + ".join(terms) + (f"; train {stage.train}" if stage.train else "")
        )
    return "\n".join(lines)


def _card(data: ModelCardData, body: str) -> ModelCard:
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}")


def write_student_card(path: Path, report: RunReport, config: DistillConfig) -> ModelCard:
    """The distilled student's card: teacher as ``base_model``, dev results, recipe, paper, hyper-parameters."""
    paper = paper_for(report.recipe)
    regression = bool((report.task_spec or {}).get("regression"))
    tags = ["alembert", "knowledge-distillation", *(t for t in (report.recipe, report.task) if t)]
    data = ModelCardData(
        base_model=report.teacher_path,
        pipeline_tag="fill-mask" if report.task == "mlm" else "text-classification",
        library_name="transformers",
        tags=tags,
        model_name=f"{report.recipe or 'distilled'}-{report.task}",
        eval_results=_results(f"{report.recipe or 'distilled'}-{report.task}", report.task, report.student_metrics)
        or None,
    )
    cite = f"\n## Citation\n\n{paper[0]} ({paper[1]}):\n\n```bibtex\n{paper[2]}\n```\n" if paper else ""
    kind = "regression (one score)" if regression else "classification"
    labels = (report.task_spec or {}).get("label_names")
    body = (
        f"# {report.recipe or 'Distilled'} student for {report.task}\n\nDistilled with alembert from the teacher "
        f"`{report.teacher_path}` on task `{report.task}` ({kind}"
        + (f"; labels {labels}" if labels and not regression else "")
        + f"), recipe `{report.recipe or 'custom'}`"
        + (f" ([{paper[0].split(',')[0]}]({paper[1]}))" if paper else "")
        + ".\n\n"
        + (f"Student layers initialised from teacher layers {report.student_init}.\n\n" if report.student_init else "")
        + f"## Results (dev set)\n\n{markdown_table(report)}\n\n## Training\n\n{_yaml_block(_train_values(config))}\n"
        + f"\nLoss terms:\n\n{_stages(config)}\n{cite}\n## Software\n\n{_yaml_block(report.versions)}\n\n"
        + "## Use\n\n```python\nfrom transformers import pipeline\n\n"
        + "classifier = pipeline('text-classification', model='path/to/this/folder')\n"
        + "classifier('A film worth watching.')\n```\n"
    )
    card = _card(data, body)
    card.save(path)
    return card


def write_finetune_card(
    path: Path, config: FinetuneConfig, task: Task, summary: dict[str, Any], versions: dict[str, str] | None = None
) -> ModelCard:
    """The fine-tuned model's card (typically a teacher): base model, dev results and hyper-parameters."""
    data = ModelCardData(
        base_model=config.model.path,
        pipeline_tag="text-classification",
        library_name="transformers",
        tags=["alembert", "fine-tuned", task.name],
        model_name=f"{Path(config.model.path).name}-{task.name}",
        eval_results=_results(f"{Path(config.model.path).name}-{task.name}", task.name, summary["metrics"]) or None,
    )
    scores = ", ".join(f"{k} {v:.2f}" for k, v in summary["metrics"].items()) or "no dev set"
    body = (
        f"# {Path(config.model.path).name} fine-tuned on {task.name}\n\nFine-tuned with alembert from "
        f"`{config.model.path}`; labels {list(task.names) or 'regression'}.\n\n## Results (dev set)\n\n{scores}\n\n"
        f"## Training\n\n{_yaml_block(_train_values(config))}\n\n## Software\n\n"
        f"{_yaml_block(versions or software_versions())}\n"
    )
    card = _card(data, body)
    card.save(path)
    return card
