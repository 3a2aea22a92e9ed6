"""CPU time of the ``alembert`` command before it does any work, and where import time goes.

    HF_HUB_OFFLINE=1 .venv/bin/python -m benchmarks.speed.cli_startup

Runs ``alembert --help``, ``alembert distill --help`` and ``alembert recipes list`` several times each as child
processes and reads their CPU time (user + system) from ``resource.getrusage(RUSAGE_CHILDREN)``; checks which heavy
libraries each would load; and summarises ``python -X importtime -c "import alembert.cli"`` (the slowest imports by
cumulative time). Writes ``benchmarks/results/cli_startup.json`` and regenerates ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
from pathlib import Path

from benchmarks.common import RESULTS, command_line, write_result_json
from benchmarks.readme import update_readme


HEAVY = ("torch", "transformers", "datasets", "accelerate", "onnxruntime", "matplotlib")
COMMANDS = (("--help",), ("distill", "--help"), ("recipes", "list"))
IMPORTTIME = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def alembert_executable() -> str:
    """The ``alembert`` console script next to this interpreter."""
    script = Path(sys.executable).parent / "alembert"
    if not script.is_file():
        sys.exit(f"no alembert command next to {sys.executable}: run `make install` first")
    return str(script)


def child_cpu_seconds(argv: list[str]) -> float:
    """User + system CPU seconds of one child process running ``argv`` (output discarded)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def heavy_modules(args: tuple[str, ...]) -> list[str]:
    """The heavy libraries in ``sys.modules`` after ``alembert ARGS`` ran in a fresh interpreter."""
    probe = (
        "import contextlib, io, json, sys\nfrom alembert.cli import main\n"
        f"with contextlib.redirect_stdout(io.StringIO()):\n    try:\n        main({list(args)!r})\n"
        "    except SystemExit:\n        pass\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    done = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def importtime(top: int) -> tuple[float, list[dict]]:
    """Total, and the ``top`` slowest modules imported directly by top-level imports (cumulative ms), of
    ``import alembert.cli``.
    """
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import alembert.cli"], check=True, capture_output=True, text=True
    )
    rows = [m.groups() for line in done.stderr.splitlines() if (m := IMPORTTIME.match(line))]
    total_ms = sum(int(self_us) for self_us, _cum, _indent, _name in rows) / 1000
    roots = [(name, int(cum) / 1000) for _self, cum, indent, name in rows if len(indent) == 3]
    slowest = sorted(roots, key=lambda r: -r[1])[:top]
    return total_ms, [{"module": name, "cumulative_ms": round(ms, 1)} for name, ms in slowest]


def processor() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what :mod:`platform` says."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> int:
    """Measure and write ``results/cli_startup.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="runs of each command")
    parser.add_argument("--top", type=int, default=8, help="slowest imports listed")
    parser.add_argument("--output", type=Path, default=RESULTS / "cli_startup.json")
    args = parser.parse_args(argv)
    exe = alembert_executable()
    commands = []
    for extra in COMMANDS:
        child_cpu_seconds([exe, *extra])  # warm the file cache
        samples = [child_cpu_seconds([exe, *extra]) for _ in range(args.repeats)]
        commands.append(
            {
                "command": " ".join(["alembert", *extra]),
                "cpu_seconds": {
                    "median": round(statistics.median(samples), 4),
                    "min": round(min(samples), 4),
                    "max": round(max(samples), 4),
                    "samples": [round(s, 4) for s in samples],
                },
                "heavy_modules": heavy_modules(extra),
            }
        )
    total_ms, top = importtime(args.top)
    result = {
        "what": "CPU time (user + system) of the alembert command before any work, and its import time",
        "command": command_line("benchmarks.speed.cli_startup", argv),
        "repeats": args.repeats,
        "commands": commands,
        "importtime_total_ms": round(total_ms, 1),
        "importtime_top": top,
        "environment": {
            "processor": processor(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_start": [round(x, 2) for x in os.getloadavg()],
        },
    }
    write_result_json(args.output, result)
    if args.output.resolve().parent == RESULTS.resolve():
        update_readme()
    for row in commands:
        print(f"{row['command']}: {row['cpu_seconds']['median']:.3f} s CPU; heavy modules: {row['heavy_modules']}")
    print(f"import alembert.cli: {total_ms:.0f} ms (-X importtime); wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
