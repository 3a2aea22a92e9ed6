"""alembert report: the papers' table, loss curves and a Pareto plot, as Markdown and as HTML whose images load in
a real browser (headless Chromium; skipped with a reason where it is not installed)."""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
from pathlib import Path

import pytest

from alembert.cli import main
from alembert.errors import DataError
from alembert.report.compare import comparison_rows, load_run, write_comparison
from alembert.report.runs import name_runs


def fake_run(
    folder: Path, task: str, recipe: str, teacher: float, student: float, speedup: float, *, seed: int = 42,
    reliable: bool = True, legacy: bool = False,
) -> Path:  # fmt: skip
    """A run folder shaped like ``alembert distill`` output (``metrics.json`` + ``log.jsonl`` + ``config.yaml``)."""
    folder.mkdir(parents=True)
    metric = {"sst2": "accuracy", "mrpc": "f1"}[task]
    reasons = [] if reliable else ["machine busy (load average 3.1 on 2 cores)"]
    setting = {"name": "seq 128", "lengths": [128], "teacher_ms": 80.0, "student_ms": 80.0 / speedup,
               "speedup": speedup, "speedup_min": 0.97 * speedup, "speedup_max": 1.02 * speedup, "spread": 0.025,
               "reliable": reliable, "reasons": reasons}  # fmt: skip
    latency = {
        "batch_size": 1,
        "teacher_ms": 80.0,
        "student_ms": 80.0 / speedup,
        "speedup": speedup,
        "reliable": reliable,
        "settings": [{**setting, "name": "task lengths", "lengths": [20, 30]}, setting],
        "rounds": 5,
        "load_average": {"start": [1.0, 1.0, 1.0], "end": [1.1, 1.0, 1.0], "cores": 2},
        "environment": {"threads": 2, "processor": "AMD EPYC", "torch": "2.13.0"},
    }
    if legacy:  # metrics.json of a run made before the side-by-side settings and verdicts
        latency = {"batch_size": 1, "seq_len": 128, "teacher_ms": 80.0, "student_ms": 80.0 / speedup,
                   "speedup": speedup, "environment": latency["environment"]}  # fmt: skip
    metrics = {
        "task": task,
        "recipe": recipe,
        "seed": seed,
        "teacher_path": "bert-base",
        "main_metric": metric,
        "teacher_metrics": {metric: teacher},
        "student_metrics": {metric: student},
        "parameters": {"teacher": {"total": 109_000_000}, "student": {"total": 66_000_000}},
        "latency": latency,
        "retention": 100 * student / teacher,
        "versions": {"alembert": "0.1.0", "torch": "2.13.0"},
    }
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "config.yaml").write_text(f"recipe: {recipe}\ntask: {task}\ntrain:\n  seed: {seed}\n")
    lines = [json.dumps({"event": "start", "time": 0})]
    for stage in ("intermediate", "prediction"):
        lines += [
            json.dumps({"event": "train", "stage": stage, "step": s, "loss": 2.0 / s, "kd": 1.5 / s, "lr": 1e-4})
            for s in range(1, 6)
        ]
        lines.append(json.dumps({"event": "eval", "stage": stage, "step": 5, metric: student - 1.0}))
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
    assert distil.retention == pytest.approx(statistics.median([100 * 90.5 / 92, 100 * 86 / 88]))
    assert tiny.scores == {"sst2": 88.0} and tiny.parameters == 66_000_000


def test_markdown_and_html_written(runs, tmp_path):
    written = write_comparison(runs, tmp_path / "report", title="SST-2 and MRPC")
    markdown = written["markdown"].read_text()
    header = "| Model | #Params | SST-2 | MRPC | Average | Retention | Speed-up (task lengths) | Speed-up (seq 128) |"
    assert header in markdown and "Inference time" not in markdown  # no absolute times across runs
    assert "| distilbert-task | 66.0M | 90.5 | 86.0 | 88.2 | 98.0% | 2.00× | 2.00× |" in markdown
    assert "| tinybert-task | 66.0M | 88.0 | – | 88.0* | 95.7% | 7.50× | 7.50× |" in markdown
    assert "![loss_curves](loss_curves.png)" in markdown and "![pareto](pareto.png)" in markdown
    html = written["html"].read_text()
    assert html.count('src="data:image/png;base64,') == 2 and "<table>" in html
    assert "configs and versions" in html and "recipe: tinybert-task" in html and "alembert 0.1.0" in html
    assert written["loss_curves"].stat().st_size > 1000 and written["pareto"].stat().st_size > 1000


def test_runs_with_the_same_folder_name_all_appear(tmp_path):
    """Two glue-suite-like runs both in folders called ``seed-42``, and two runs that share task, recipe and seed."""
    runs = [
        fake_run(tmp_path / "sst2" / "distilbert-task" / "seed-42", "sst2", "distilbert-task", 92.0, 90.5, 1.9),
        fake_run(tmp_path / "mrpc" / "distilbert-task" / "seed-42", "mrpc", "distilbert-task", 88.0, 86.0, 2.1),
        fake_run(tmp_path / "a" / "seed-42", "sst2", "tinybert-task", 92.0, 88.0, 7.5),
        fake_run(tmp_path / "b" / "seed-42", "sst2", "tinybert-task", 92.0, 87.0, 7.4),
    ]
    names = [run.name for run in name_runs([load_run(r) for r in runs])]
    assert names[:2] == ["sst2/distilbert-task/seed-42", "mrpc/distilbert-task/seed-42"]
    assert names[2:] == ["sst2/tinybert-task/seed-42 (a/seed-42)", "sst2/tinybert-task/seed-42 (b/seed-42)"]
    written = write_comparison(runs, tmp_path / "report")
    html = written["html"].read_text()
    assert all(html.count(name) >= 1 for name in names)  # every run has its config section (and curves row)
    markdown = written["markdown"].read_text()
    assert "tinybert-task/seed-42 (a/seed-42)" in markdown and "tinybert-task/seed-42 (b/seed-42)" in markdown


def test_unreliable_and_older_speed_figures_are_marked(tmp_path):
    runs = [
        fake_run(tmp_path / "busy", "sst2", "distilbert-task", 92.0, 90.5, 1.9, reliable=False),
        fake_run(tmp_path / "old", "mrpc", "tinybert-task", 88.0, 86.0, 7.0, legacy=True),
    ]
    markdown = write_comparison(runs, tmp_path / "report")["markdown"].read_text()
    assert "| distilbert-task | 66.0M | 90.5 | – | 90.5* | 98.4% | ≈1.90×? | ≈1.90×? |" in markdown
    assert "| tinybert-task | 66.0M | – | 86.0 | 86.0* | 97.7% | – | ≈7.00×? |" in markdown
    assert "1.90× (rounds 1.84–1.94×), UNRELIABLE (machine busy (load average 3.1 on 2 cores))" in markdown
    assert "measured once, no spread or load recorded (not checked)" in markdown


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
