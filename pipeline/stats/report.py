"""The statistics as one self-contained HTML page: every plot inlined as a base64 PNG,
the numbers as tables, no script, no remote asset (it opens without a network)."""

from __future__ import annotations

import base64
import html
import json
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import LongtailError
from ..formats.jsonio import atomic_write_bytes
from ..store import schema as s
from .plots import PLOTS, png_bytes
from .project import ProjectStats

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.2em 0.6em; text-align: right; }
th { background: #f3f3f3; } td.name, th.name { text-align: left; }
figure { margin: 1em 0; } img { max-width: 100%; border: 1px solid #eee; }
.note { color: #666; font-size: 0.9em; }
"""
ROWS_SHOWN = 40


def _num(value: Any, spec: str = ".2f") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return format(value, spec)
    return str(value)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _table(header: list[str], rows: list[list[Any]], names: int = 1) -> str:
    """An HTML table; the first ``names`` columns are text (left-aligned)."""
    head = "".join(
        f'<th class="name">{html.escape(h)}</th>' if k < names else f"<th>{html.escape(h)}</th>"
        for k, h in enumerate(header)
    )
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="name">{html.escape(str(v))}</td>'
            if k < names
            else f"<td>{html.escape(str(v))}</td>"
            for k, v in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def render_html(
    stats: ProjectStats,
    images: dict[str, bytes] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> str:
    """The report page. ``images`` (plot key -> PNG) reuses plots already rendered."""
    images = dict(images or {})
    for k, plot in enumerate(PLOTS):
        if plot.key not in images:
            images[plot.key] = png_bytes(plot.draw(stats))
        if progress is not None:
            progress(k + 1, len(PLOTS))
    shape, cover, agree, effort = stats.shape, stats.coverage, stats.agreement, stats.effort
    when = datetime.fromtimestamp(stats.computed_at).strftime("%Y-%m-%d %H:%M")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>longtail statistics: {html.escape(stats.project)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Dataset statistics: {html.escape(stats.project)}</h1>",
        f'<p class="note">computed {when} by longtail {html.escape(__version__)} '
        f"in {stats.seconds:.1f} s</p>",
        _table(
            ["what", "count"],
            [[k, v] for k, v in stats.counts.items()]
            + [
                ["accepted instances", shape.instances],
                ["mean categories per image", _num(shape.mean_categories_per_image())],
                ["verification reject rate", _pct(agree.reject_rate)],
                ['"some missing" in exhaustive checks', _pct(agree.some_missing_rate)],
            ],
        ),
    ]

    def figure(key: str, caption: str) -> None:
        data = base64.b64encode(images[key]).decode("ascii")
        parts.append(
            f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption class=note>{html.escape(caption)}</figcaption></figure>"
        )

    parts.append("<h2>Shape of the data</h2>")
    groups = shape.group_counts()
    parts.append(
        _table(
            ["frequency group", "categories"],
            [
                ["rare (r): 1-10 train images", groups["r"]],
                ["common (c): 11-100", groups["c"]],
                ["frequent (f): more than 100", groups["f"]],
            ],
        )
    )
    figure("long_tail", "Accepted instances per category, sorted; log scale (LVIS figure 5).")
    cats = [c for c in shape.categories if c.instances]
    shown = cats[:ROWS_SHOWN]
    parts.append(
        _table(
            ["category", "group", "instances", "images", "train images", "in progress"],
            [
                [c.name, c.frequency, c.instances, c.images, c.train_images, c.in_progress]
                for c in shown
            ],
        )
    )
    if len(cats) > len(shown):
        parts.append(
            f'<p class="note">{len(cats) - len(shown)} more categories with instances '
            "are in the JSON file.</p>"
        )
    figure("categories_per_image", "Share of images by the number of positive categories in them.")
    figure("mask_sizes", "Share of accepted masks by sqrt(mask area / image area); log scale.")

    parts.append("<h2>Federated coverage</h2>")
    figure("coverage", "|P_c|, |N_c| and not-exhaustive counts per category, with the quota.")
    under = cover.under_quota
    parts.append(
        f"<p>{len(under)} of {len(cover.categories)} categories have fewer than "
        f"{cover.negatives_quota} verified negatives (the setting negatives_per_category).</p>"
    )
    parts.append(
        _table(
            ["category", "|P_c|", "|N_c|", "not exhaustive", "negatives missing"],
            [
                [
                    c.name,
                    c.positives,
                    c.negatives,
                    c.not_exhaustive,
                    c.missing_negatives(cover.negatives_quota),
                ]
                for c in under[:ROWS_SHOWN]
            ],
        )
    )

    parts.append("<h2>Progress</h2>")
    figure("burn_down", "Work items opened minus answers given, per stage, over time.")

    parts.append("<h2>Effort</h2>")
    figure("effort_by_stage", "Mean seconds (and clicks) per answer in each stage.")
    parts.append(
        _table(
            ["stage", "answers", "hours", "mean s", "mean clicks"],
            [
                [
                    s.STAGES[k],
                    r.answers,
                    _num(r.total_s / 3600),
                    _num(r.mean_s, ".1f"),
                    _num(r.mean_clicks, ".1f"),
                ]
                for k, r in sorted(effort.by_stage.items())
            ],
        )
    )
    figure("effort_by_tool", "Segmentation: what a mask costs with each tool.")
    parts.append(
        _table(
            ["tool", "masks", "mean s", "mean clicks"],
            [
                [t, r.answers, _num(r.mean_s, ".1f"), _num(r.mean_clicks, ".1f")]
                for t, r in sorted(effort.by_tool.items())
            ],
        )
    )
    figure("effort_by_annotator", "Mean seconds per answer of each annotator in each stage.")

    parts.append("<h2>Agreement</h2>")
    figure("agreement", "Reject rate of each verifier and 'some missing' rate of each checker.")
    parts.append(
        _table(
            [
                "annotator",
                "verdicts",
                "reject rate",
                "exhaustive checks",
                "some missing",
            ],
            [
                [
                    a.name,
                    a.verdicts,
                    _pct(a.reject_rate),
                    a.exhaustive_checks,
                    _pct(a.some_missing_rate),
                ]
                for a in agree.annotators
            ],
        )
    )
    parts.append("</body></html>")
    return "\n".join(parts)


REPORT_NAME, NUMBERS_NAME = "report.html", "stats.json"


def write_outputs(
    stats: ProjectStats,
    folder: str | os.PathLike[str],
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Write every plot as ``<key>.png``, the report as ``report.html`` and the numbers as
    ``stats.json`` into ``folder`` (created); each file is written whole or not at all.
    Returns the paths written."""
    out = Path(folder).expanduser()
    if out.exists() and not out.is_dir():
        raise LongtailError(f"{out} is a file; name a folder for the statistics")
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    images: dict[str, bytes] = {}
    total = len(PLOTS) + 2
    for k, plot in enumerate(PLOTS):
        images[plot.key] = png_bytes(plot.draw(stats))
        path = out / f"{plot.key}.png"
        atomic_write_bytes(path, images[plot.key])
        written.append(path)
        if progress is not None:
            progress(k + 1, total)
    path = out / REPORT_NAME
    atomic_write_bytes(path, render_html(stats, images).encode("utf-8"))
    written.append(path)
    path = out / NUMBERS_NAME
    atomic_write_bytes(path, numbers_json(stats))
    written.append(path)
    if progress is not None:
        progress(total, total)
    return written


def numbers_json(stats: ProjectStats) -> bytes:
    """The numbers as JSON (indented: people read it too)."""
    return json.dumps(stats.as_dict(), indent=1, allow_nan=False).encode("utf-8") + b"\n"
