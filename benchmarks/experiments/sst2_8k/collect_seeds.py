"""alembert vs the plain PyTorch loop on the 8k-row SST-2 subset over several seeds, and what the batch order does.

Reads the finished runs (``metrics.json`` of alembert runs, the plain loop's JSON) and writes
``results/sst2_8k_seeds.json`` and the ``sst2_8k_seeds`` table of ``benchmarks/README.md``. Runs (from the repository
root, one thread each)::

    alembert distill benchmarks/experiments/sst2_8k/distilbert.yaml --set train.seed=S --set bench_latency=false \\
        --output runs/seeds/shuffled-sS                       # length-grouped batches in random order (default)
    alembert distill … --set data.length_grouped=false --output runs/seeds/nogroup-sS      # random batches
    python -m benchmarks.experiments.sst2_8k.plain_loop runs/sst2-8k-teacher/model runs/data/sst2-8k \\
        runs/seeds/plain-sS.json S

The "mega-batch order" row holds the runs made before the sampler shuffled its batches (``runs/sst2-8k-distilbert``
for seed 42, ``runs/seeds/alembert-s1``); seed 2 of the default row is ``runs/seeds/alembert-s2``, run after it.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from benchmarks import tables
from benchmarks.common import RESULTS, write_result_json
from benchmarks.readme import update_readme


HARDWARE = "AMD EPYC, 2 cores (shared), 1 thread per process"


RUNS = Path("runs")
SEEDS = (42, 1, 2)
SHUFFLED = {42: "seeds/shuffled-s42", 1: "seeds/shuffled-s1", 2: "seeds/alembert-s2"}  # seed 2 ran after the fix
BEFORE_FIX = {42: "sst2-8k-distilbert", 1: "seeds/alembert-s1"}
VARIANTS = {
    "alembert, length-grouped batches in random order (default)": lambda s: RUNS / SHUFFLED[s],
    "alembert, random batches (`data.length_grouped=false`)": lambda s: RUNS / "seeds" / f"nogroup-s{s}",
    "alembert, length-grouped in mega-batch order (the earlier sampler)": lambda s: RUNS / BEFORE_FIX.get(s, "none"),
    "plain PyTorch loop (random batches)": lambda s: (
        RUNS / "plain_loop_8k.json" if s == 42 else RUNS / "seeds" / f"plain-s{s}.json"
    ),
}


def score(path: Path) -> tuple[float, float] | None:
    """(last epoch, best epoch) dev accuracy of one run, from its per-epoch evaluations."""
    if path.suffix == ".json":
        if not path.is_file():
            return None
        history = [h["accuracy"] for h in json.loads(path.read_text())["history"]]
    else:
        if not (path / "metrics.json").is_file():
            return None
        events = [json.loads(line) for line in (path / "log.jsonl").read_text().splitlines()]
        history = [e["accuracy"] for e in events if e.get("event") == "eval"]
    return history[-1], max(history)


def main() -> None:
    rows = []
    for name, where in VARIANTS.items():
        scores = {seed: score(where(seed)) for seed in SEEDS}
        done = [v for v in scores.values() if v is not None]
        rows.append(
            {
                "variant": name,
                "last_epoch": {s: v[0] if v else None for s, v in scores.items()},
                "best_epoch": {s: v[1] if v else None for s, v in scores.items()},
                "mean_last": statistics.mean(v[0] for v in done) if done else None,
                "mean_best": statistics.mean(v[1] for v in done) if done else None,
                "runs": len(done),
            }
        )
    record = {"command": "python -m benchmarks.experiments.sst2_8k.collect_seeds", "hardware": HARDWARE,
              "seeds": SEEDS, "rows": rows}  # fmt: skip
    write_result_json(RESULTS / "sst2_8k_seeds.json", record)
    update_readme()
    print(tables.sst2_8k_seeds(json.loads(json.dumps(record))))


if __name__ == "__main__":
    main()
