"""Write the 8,000-row SST-2 training subset used by the CPU benchmark runs (deterministic: seed 0).

Usage: python -m benchmarks.experiments.sst2_8k.make_subset ../shared/data/glue/SST-2 runs/data/sst2-8k
The dev set is the full official 872-row dev.tsv.
"""

from __future__ import annotations

import random
import shutil
import sys
from pathlib import Path


def main(source: str, destination: str, rows: int = 8000, seed: int = 0) -> None:
    lines = Path(source, "train.tsv").read_text(encoding="utf-8").splitlines()
    header, body = lines[0], lines[1:]
    sample = random.Random(seed).sample(body, rows)
    out = Path(destination)
    out.mkdir(parents=True, exist_ok=True)
    (out / "train.tsv").write_text("\n".join([header, *sample]) + "\n", encoding="utf-8")
    shutil.copyfile(Path(source, "dev.tsv"), out / "dev.tsv")


if __name__ == "__main__":
    main(*sys.argv[1:3])
