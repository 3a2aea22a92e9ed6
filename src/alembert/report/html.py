"""The HTML page of a comparison report: one self-contained file (figures embedded as base64), with each run's
resolved config and the software versions it was made with."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path

from alembert.report.runs import RunSummary


__all__ = ["render_html"]

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}"
    "table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}"
    "td:first-child,th:first-child{text-align:left}th{background:#f3f3f3}img{max-width:100%}"
    "pre{background:#f7f7f7;padding:8px;overflow-x:auto;font-size:12px}details{margin:4px 0}"
)


def _versions(run: RunSummary) -> str:
    versions = run.metrics.get("versions") or {}
    if not versions:
        env = (run.metrics.get("latency") or {}).get("environment") or {}
        versions = {k: env[k] for k in ("torch", "transformers", "python") if k in env}
    return ", ".join(f"{k} {v}" for k, v in versions.items()) or "not recorded"


def _run_details(runs: Sequence[RunSummary]) -> str:
    esc = html.escape
    items = []
    for run in runs:
        config = f"<pre>{esc(run.config)}</pre>" if run.config else "<p>no config.yaml</p>"
        items.append(
            f"<details><summary><b>{esc(run.name)}</b>: {esc(str(run.path))} · {esc(_versions(run))}</summary>"
            f"{config}</details>"
        )
    return "<h2>Runs: configs and versions</h2>\n" + "\n".join(items) + "\n"


def render_html(
    title: str,
    headers: list[str],
    body: list[list[str]],
    notes: list[str],
    images: list[tuple[str, Path]],
    runs: Sequence[RunSummary],
) -> str:
    """The report page: title, table, notes, figures, then each run's config and versions (collapsed)."""
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    rows = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>\n" for cells in body)
    figures = "".join(
        f'<figure><img alt="{esc(kind)}" src="data:image/png;base64,'
        f'{base64.b64encode(path.read_bytes()).decode("ascii")}"><figcaption>{esc(kind.replace("_", " "))}'
        "</figcaption></figure>\n"
        for kind, path in images
    )
    paragraphs = "".join(f"<p>{esc(note)}</p>\n" for note in notes)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
        f"<style>{_STYLE}</style></head>\n<body><h1>{esc(title)}</h1>\n<table><thead><tr>{head}</tr></thead>"
        f"<tbody>\n{rows}</tbody></table>\n{paragraphs}{figures}{_run_details(runs)}</body></html>\n"
    )
