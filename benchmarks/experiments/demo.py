"""Record what ``make demo`` printed into ``results/demo.json``; the top README's quickstart output is rendered
from it.

    (time make demo) 2>&1 | tee /tmp/demo.log
    python -m benchmarks.experiments.demo --log /tmp/demo.log --seconds 420
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from benchmarks.common import RESULTS, command_line, write_result_json
from benchmarks.readme import update_readme


def printed_table(log: str) -> str:
    """The report table ``alembert distill`` printed: from its title line to the retention summary (joined)."""
    lines = log.splitlines()
    start = next(i for i, line in enumerate(lines) if "alembert ·" in line)
    retention = next(i for i in range(start, len(lines)) if lines[i].startswith("retention"))
    end = next(i for i in range(retention, len(lines)) if lines[i].startswith("student saved"))
    speed = next((i for i in range(retention, end) if lines[i].startswith("Speed:")), end)
    summary = " ".join(line.strip() for line in lines[retention:speed])
    note = [" ".join(line.strip() for line in lines[speed:end])] if speed < end else []
    return "\n".join([*(line.rstrip() for line in lines[start:retention]), summary, *note])


def main(argv: list[str] | None = None) -> int:
    """Write ``results/demo.json`` from the demo's captured output and run folder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", type=Path, required=True, help="captured stdout of make demo")
    parser.add_argument("--seconds", type=float, required=True, help="wall time of make demo")
    parser.add_argument("--run", type=Path, default=Path("runs/demo/student-run"))
    parser.add_argument("--hardware", default="a 2-core AMD EPYC shared with other jobs, OMP_NUM_THREADS=1")
    args = parser.parse_args(argv)
    metrics = json.loads((args.run / "metrics.json").read_text(encoding="utf-8"))
    record = {
        "command": "make demo",
        "collected_by": command_line("benchmarks.experiments.demo", argv),
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "hardware": args.hardware,
        "wall_seconds": args.seconds,
        "table": printed_table(args.log.read_text(encoding="utf-8")),
        "teacher_metrics": metrics.get("teacher_metrics"),
        "student_metrics": metrics.get("student_metrics"),
        "retention": metrics.get("retention"),
        "parameters": metrics.get("parameters"),
        "latency": metrics.get("latency"),
    }
    write_result_json(RESULTS / "demo.json", record)
    update_readme()
    print(record["table"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
