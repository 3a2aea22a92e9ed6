"""Write a benchmark's table into ``benchmarks/README.md`` between its own markers (tables are generated, never
typed): ``<!-- NAME:start -->`` ... ``<!-- NAME:end -->``, appended at the end the first time."""

from __future__ import annotations

from pathlib import Path


README = Path(__file__).resolve().parent / "README.md"


def update_readme_section(name: str, title: str, body: str, readme: Path = README) -> None:
    """Replace (or append) the section ``name`` with a ``### title`` heading and ``body``."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n### {title}\n\n{body.strip()}\n{end}"
    text = readme.read_text(encoding="utf-8") if readme.is_file() else "# Benchmarks\n"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    readme.write_text(text, encoding="utf-8")
