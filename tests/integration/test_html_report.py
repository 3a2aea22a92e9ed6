"""alembert report: the papers' table, loss curves and a Pareto plot, as Markdown and as HTML whose images load in
a real browser (headless Chromium; skipped with a reason where it is not installed)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from alembert.cli import main
from alembert.errors import DataError
from alembert.report.compare import comparison_rows, load_run, write_comparison


def fake_run(folder: Path, task: str, recipe: str, teacher: float, student: float, speedup: float) -> Path:
    """A run folder shaped like ``pipeline.distill`` output (``metrics.json`` + ``log.jsonl``)."""
    folder.mkdir(parents=True)
    metric = {"sst2": "accuracy", "mrpc": "f1"}[task]
    metrics = {
        "task": task,
        "recipe": recipe,
        "teacher_path": "bert-base",
        "main_metric": metric,
        "teacher_metrics": {metric: teacher},
        "student_metrics": {metric: student},
        "parameters": {"teacher": {"total": 109_000_000}, "student": {"total": 66_000_000}},
        "latency": {
            "batch_size": 1,
            "seq_len": 128,
            "teacher_ms": 80.0,
            "student_ms": 80.0 / speedup,
            "speedup": speedup,
            "environment": {"threads": 2, "processor": "AMD EPYC", "torch": "2.13.0"},
        },
        "retention": 100 * student / teacher,
    }
    (folder / "metrics.json").write_text(json.dumps(metrics))
    lines = [json.dumps({"event": "start", "time": 0})]
    for stage in ("intermediate", "prediction"):
        lines += [json.dumps({"event": "train", "stage": stage, "step": s, "loss": 2.0 / s}) for s in range(1, 6)]
    lines.append('{"event": "train", "stage": "predi')  # an interrupted write is skipped
    (folder / "log.jsonl").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture
def runs(tmp_path: Path) -> list[Path]:
    return [
        fake_run(tmp_path / "distil-sst2", "sst2", "distilbert-task", 92.0, 90.5, 1.9),
        fake_run(tmp_path / "distil-mrpc", "mrpc", "distilbert-task", 88.0, 86.0, 2.1),
        fake_run(tmp_path / "tiny-sst2", "sst2", "tinybert-task", 92.0, 88.0, 7.5),
    ]


def test_table_in_the_papers_shape(runs):
    rows, tasks = comparison_rows([load_run(r) for r in runs])
    assert tasks == ["sst2", "mrpc"]  # GLUE order
    assert [r.label for r in rows] == ["Teacher", "distilbert-task", "tinybert-task"]
    teacher, distil, tiny = rows
    assert teacher.scores == {"sst2": 92.0, "mrpc": 88.0} and teacher.speedup == 1.0
    assert distil.average == pytest.approx(88.25) and distil.speedup == pytest.approx(2.0)
    assert tiny.scores == {"sst2": 88.0} and tiny.parameters == 66_000_000


def test_markdown_and_html_written(runs, tmp_path):
    written = write_comparison(runs, tmp_path / "report", title="SST-2 and MRPC")
    markdown = written["markdown"].read_text()
    assert "| Model | #Params | SST-2 | MRPC | Average | Inference time | Speed-up |" in markdown
    assert "| distilbert-task | 66.0M | 90.5 | 86.0 | 88.2 | 40.1 ms | 2.00× |" in markdown
    assert "| tinybert-task | 66.0M | 88.0 | – | 88.0* |" in markdown
    assert "![loss_curves](loss_curves.png)" in markdown and "![pareto](pareto.png)" in markdown
    html = written["html"].read_text()
    assert html.count('src="data:image/png;base64,') == 2 and "<table>" in html
    assert written["loss_curves"].stat().st_size > 1000 and written["pareto"].stat().st_size > 1000


def test_report_errors_and_cli(runs, tmp_path, capsys):
    with pytest.raises(DataError, match="no metrics.json"):
        write_comparison([tmp_path], tmp_path / "r")
    assert main(["report", str(tmp_path / "missing"), "--output", str(tmp_path / "r")]) == 2
    assert main(["report", *map(str, runs), "--output", str(tmp_path / "cli")]) == 0
    assert (tmp_path / "cli" / "report.html").is_file() and (tmp_path / "cli" / "report.md").is_file()


_CHECK_IMAGES = """<script>
window.addEventListener("load", () => {
  const images = [...document.images].map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight]);
  document.body.setAttribute("data-images", JSON.stringify(images));
});
</script></body>"""


def render_images(html_file: Path, profile: Path) -> list[list]:
    """Load the page in headless Chromium and return ``[alt, complete, width, height]`` for each image."""
    probe = html_file.with_name("probe.html")
    probe.write_text(html_file.read_text().replace("</body>", _CHECK_IMAGES), encoding="utf-8")
    command = [
        shutil.which("chromium"),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=10000",
        "--dump-dom",
        probe.as_uri(),
    ]
    dom = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout
    marker = 'data-images="'
    start = dom.index(marker) + len(marker)
    return json.loads(dom[start : dom.index('"', start)].replace("&quot;", '"'))


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed (apt-get install chromium)")
def test_html_images_load_in_chromium(runs, tmp_path):
    written = write_comparison(runs, tmp_path / "report")
    images = render_images(written["html"], tmp_path / "chromium-profile")
    assert [alt for alt, *_ in images] == ["loss_curves", "pareto"]
    for alt, complete, width, height in images:
        assert complete and width > 100 and height > 100, alt


def test_distill_writes_html_report(tmp_path, sst2_dir, bert_teacher):
    from alembert import distill
    from tests.integration.test_distill_cpu import distilbert_task_config

    config = distilbert_task_config(bert_teacher, sst2_dir, tmp_path / "run", epochs=1)
    result = distill(config)
    html = (result.output_dir / "report.html").read_text()
    assert "teacher vs student" in html and "loss_curves" in html
    assert (result.output_dir / "loss_curves.png").is_file() and (result.output_dir / "report.md").is_file()
