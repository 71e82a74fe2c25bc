"""The statistics as matplotlib figures, Qt-free (``matplotlib.figure.Figure``: the CLI
renders them with Agg, the GUI embeds the same figures in FigureCanvasQTAgg).

Every plot has a title, axes with units, and the log scales the LVIS paper uses for
the long tail (instances per category) and for relative mask sizes. A plot without
data says so in its middle rather than drawing empty axes.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from .project import ProjectStats

# Every text drawn is plain: a category called "$$" or an annotator "$_$" is a name, not
# mathtext (which raised in the middle of a draw and left half a plot). Set for the
# process rather than per figure: tick labels are made lazily, when a canvas draws.
matplotlib.rcParams["text.parse_math"] = False

SIZE = (8.0, 4.5)
BARS_UP_TO = 60  # categories drawn as separate bars; more are drawn as a filled curve  # inches; 800x450 pixels at the default 100 dpi
GROUP_COLORS = {"r": "#d62728", "c": "#ff7f0e", "f": "#1f77b4"}
GROUP_NAMES = {"r": "rare (1-10 images)", "c": "common (11-100)", "f": "frequent (>100)"}
STAGE_COLORS = {1: "#1f77b4", 2: "#ff7f0e", 3: "#2ca02c", 4: "#d62728", 5: "#9467bd", 6: "#8c564b"}
SHORT_STAGE = {
    1: "1 spotting",
    2: "2 marking",
    3: "3 segmentation",
    4: "4 verification",
    5: "5 exhaustive",
    6: "6 negatives",
}


@dataclass(frozen=True)
class Plot:
    key: str  # file name stem: long_tail -> long_tail.png
    title: str
    draw: Callable[[ProjectStats], Figure]


def _figure() -> Figure:
    figure = Figure(figsize=SIZE, layout="constrained")
    return figure


def _plain_numbers(ax: Axes) -> None:
    """Tick labels of a log axis as plain numbers (1, 10, 100), not powers of ten."""
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain)


def _no_data(figure: Figure, ax: Axes, what: str) -> Figure:
    ax.text(
        0.5,
        0.5,
        f"no {what} yet",
        ha="center",
        va="center",
        transform=ax.transAxes,
        fontsize=12,
        color="#666666",
    )
    ax.set_xticks([])
    ax.set_yticks([])
    return figure


def long_tail(stats: ProjectStats) -> Figure:
    """Instances per category, sorted, log scale, coloured by frequency group."""
    figure = _figure()
    ax = figure.add_subplot()
    ax.set_title("Instances per category (the long tail)")
    cats = [c for c in stats.shape.categories if c.instances > 0]
    if not cats:
        return _no_data(figure, ax, "accepted instances")
    ranks = np.arange(1, len(cats) + 1)
    counts = np.array([c.instances for c in cats])
    groups = np.array([c.frequency for c in cats])
    for group in ("f", "c", "r"):
        chosen = groups == group
        if not chosen.any():
            continue
        label = f"{GROUP_NAMES[group]}: {int(chosen.sum())} categories"
        if len(cats) <= BARS_UP_TO:
            # a thin white edge tells the few bars apart
            ax.bar(
                ranks[chosen],
                counts[chosen],
                width=1.0,
                color=GROUP_COLORS[group],
                edgecolor="white",
                linewidth=0.5,
                label=label,
            )
        else:
            # a thousand bars cost seconds to draw; one filled outline per group does not
            ax.fill_between(
                ranks,
                counts,
                0.8,
                where=chosen,
                step="mid",
                color=GROUP_COLORS[group],
                label=label,
                linewidth=0,
            )
    ax.set_yscale("log")
    _plain_numbers(ax)
    ax.set_ylim(bottom=0.8)
    ax.set_xlim(0.5, len(cats) + 0.5)
    ax.set_xlabel("category index, sorted by number of instances")
    ax.set_ylabel("instances (accepted masks, log scale)")
    if len(cats) <= 25:
        ax.set_xticks(ranks, [c.name for c in cats], rotation=60, ha="right", fontsize=8)
    ax.legend(title="frequency group (train images)", fontsize=8, title_fontsize=8)
    return figure


def categories_per_image(stats: ProjectStats) -> Figure:
    figure = _figure()
    ax = figure.add_subplot()
    ax.set_title("Categories per image")
    histogram = stats.shape.categories_per_image
    total = sum(histogram.values())
    if not total:
        return _no_data(figure, ax, "images")
    ks = np.arange(0, max(histogram) + 1)
    share = np.array([100.0 * histogram.get(int(k), 0) / total for k in ks])
    ax.bar(ks, share, width=0.8, color="#1f77b4")
    ax.set_xlabel("positive categories in the image (with accepted masks)")
    ax.set_ylabel("images (%)")
    mean = stats.shape.mean_categories_per_image()
    ax.text(
        0.98,
        0.95,
        f"{total} images, mean {mean:.2f} categories",
        ha="right",
        va="top",
        transform=ax.transAxes,
        fontsize=9,
    )
    if len(ks) <= 30:
        ax.set_xticks(ks)
    return figure


def mask_sizes(stats: ProjectStats) -> Figure:
    figure = _figure()
    ax = figure.add_subplot()
    ax.set_title("Relative mask size")
    edges, counts = stats.shape.size_histogram()
    total = int(counts.sum())
    if not total:
        return _no_data(figure, ax, "accepted masks")
    share = 100.0 * counts / total
    ax.bar(
        edges[:-1],
        np.where(share > 0, share, np.nan),
        width=np.diff(edges),
        align="edge",
        color="#2ca02c",
        edgecolor="white",
    )
    ax.set_yscale("log")
    _plain_numbers(ax)
    ax.set_xlim(0, 1)
    ax.set_xlabel("relative mask size, sqrt(mask area / image area)")
    ax.set_ylabel("instances (%, log scale)")
    ax.text(
        0.98,
        0.95,
        f"{total} masks, median {float(np.median(stats.shape.mask_sizes)):.3f}",
        ha="right",
        va="top",
        transform=ax.transAxes,
        fontsize=9,
    )
    return figure


def federated_coverage(stats: ProjectStats) -> Figure:
    figure = _figure()
    ax = figure.add_subplot()
    cover = stats.coverage
    quota = cover.negatives_quota
    short = len(cover.under_quota)
    ax.set_title(f"Federated coverage per category ({short} under the negatives quota)")
    cats = list(cover.categories)
    if not cats or not any(c.positives or c.negatives for c in cats):
        return _no_data(figure, ax, "positive or negative labels")
    ranks = np.arange(1, len(cats) + 1)
    ax.step(
        ranks,
        [c.positives for c in cats],
        where="mid",
        color="#1f77b4",
        label="|P_c| images with the category (positives)",
    )
    # Negatives and not-exhaustive counts jump from category to category: dots, not lines.
    dots: dict[str, Any] = {
        "linestyle": "none",
        "marker": ".",
        "markersize": 3 if len(cats) > 60 else 7,
    }
    ax.plot(
        ranks,
        [c.negatives for c in cats],
        color="#d62728",
        label="|N_c| images verified without it (negatives)",
        **dots,
    )
    ax.plot(
        ranks,
        [c.not_exhaustive for c in cats],
        color="#ff7f0e",
        label="positives not exhaustively annotated",
        **dots,
    )
    ax.axhline(
        quota,
        color="#555555",
        linestyle="--",
        linewidth=1,
        label=f"negatives quota ({quota} per category)",
    )
    ax.set_yscale("symlog", linthresh=1)
    _plain_numbers(ax)
    ax.set_ylim(bottom=0)
    ax.set_xlim(0.5, len(cats) + 0.5)
    ax.set_xlabel("category index, sorted by number of positive images")
    ax.set_ylabel("images (log scale)")
    ax.legend(fontsize=8)
    return figure


def burn_down(stats: ProjectStats) -> Figure:
    figure = _figure()
    ax = figure.add_subplot()
    ax.set_title("Open work per stage over time (burn-down)")
    burn = stats.burn_down
    if not burn.times:
        return _no_data(figure, ax, "work items or answers")
    times = np.asarray([datetime.fromtimestamp(t) for t in burn.times])  # dates on the axis
    for stage in burn.stages:
        if any(stage.opened):
            ax.plot(
                times,
                stage.remaining,
                color=STAGE_COLORS[stage.stage],
                label=SHORT_STAGE[stage.stage],
                linewidth=1.6,
            )
    ax.set_xlabel("time (local)")
    ax.set_ylabel("open work items (opened - answered)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, ncols=2)
    figure.autofmt_xdate()
    return figure


def effort_by_stage(stats: ProjectStats) -> Figure:
    figure = _figure()
    ax = figure.add_subplot()
    ax.set_title("Effort per answer, by stage")
    rows = [(k, r) for k, r in sorted(stats.effort.by_stage.items()) if r.answers]
    if not rows:
        return _no_data(figure, ax, "answers")
    labels = [SHORT_STAGE[k] for k, _ in rows]
    means = [r.mean_s or 0.0 for _, r in rows]
    bars = ax.bar(labels, means, color=[STAGE_COLORS[k] for k, _ in rows])
    for bar, (_, r) in zip(bars, rows, strict=True):
        clicks = "-" if r.mean_clicks is None else f"{r.mean_clicks:.1f}"
        ax.annotate(
            f"{r.answers} answers\n{clicks} clicks",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_ylabel("mean seconds per answer (s)")
    ax.set_xlabel("stage")
    ax.margins(y=0.25)
    ax.tick_params(axis="x", labelsize=8)
    return figure


def effort_by_tool(stats: ProjectStats) -> Figure:
    figure = _figure()
    axes = figure.subplots(1, 2)
    figure.suptitle("Segmentation effort per mask, by tool")
    rows = [(t, r) for t, r in sorted(stats.effort.by_tool.items()) if r.answers]
    if not rows:
        figure.clear()
        return _no_data(figure, figure.add_subplot(), "segmentation answers")
    tools = [t for t, _ in rows]
    colors = ["#2ca02c" if t == "proposal" else "#7f7f7f" for t in tools]
    seconds = axes[0].bar(tools, [r.mean_s or 0.0 for _, r in rows], color=colors)
    axes[0].set_ylabel("mean seconds per mask (s)")
    axes[0].set_xlabel("tool")
    axes[0].bar_label(seconds, labels=[f"n={r.answers}" for _, r in rows], fontsize=8)
    axes[1].bar(tools, [r.mean_clicks or 0.0 for _, r in rows], color=colors)
    axes[1].set_ylabel("mean clicks per mask")
    axes[1].set_xlabel("tool")
    for ax in axes:
        ax.margins(y=0.15)
    return figure


def effort_by_annotator(stats: ProjectStats) -> Figure:
    figure = _figure()
    ax = figure.add_subplot()
    ax.set_title("Effort per answer, by annotator and stage")
    rows = stats.effort.by_annotator
    people = sorted({who for who, _ in rows if who is not None})
    if not people:
        return _no_data(figure, ax, "answers")
    stages = sorted({stage for _, stage in rows})
    width = 0.8 / max(1, len(stages))
    x = np.arange(len(people))
    for k, stage in enumerate(stages):
        means = [
            (rows[(who, stage)].mean_s or 0.0) if (who, stage) in rows else 0.0 for who in people
        ]
        ax.bar(
            x + (k - (len(stages) - 1) / 2) * width,
            means,
            width=width,
            color=STAGE_COLORS[stage],
            label=SHORT_STAGE[stage],
        )
    names = [stats.effort.names.get(who, str(who)) for who in people]
    ax.set_xticks(
        x,
        names,
        rotation=30 if len(people) > 6 else 0,
        ha="right" if len(people) > 6 else "center",
        fontsize=8,
    )
    ax.set_ylabel("mean seconds per answer (s)")
    ax.set_xlabel("annotator")
    ax.legend(fontsize=8, ncols=3)
    ax.margins(y=0.2)
    return figure


def agreement(stats: ProjectStats) -> Figure:
    figure = _figure()
    ax = figure.add_subplot()
    agree = stats.agreement
    overall = [
        f"verification reject rate {_pct(agree.reject_rate)}",
        f'"some missing" in exhaustive checks {_pct(agree.some_missing_rate)}',
    ]
    ax.set_title("Agreement: " + ", ".join(overall), fontsize=10)
    people = [a for a in agree.annotators if a.verdicts or a.exhaustive_checks]
    if not people:
        return _no_data(figure, ax, "verdicts or exhaustive checks")
    x = np.arange(len(people))
    ax.bar(
        x - 0.2,
        [100 * (a.reject_rate or 0.0) for a in people],
        width=0.4,
        color="#d62728",
        label="segments they rejected (as verifier)",
    )
    ax.bar(
        x + 0.2,
        [100 * (a.some_missing_rate or 0.0) for a in people],
        width=0.4,
        color="#9467bd",
        label='"some are missing" in their exhaustive checks',
    )
    ax.set_xticks(
        x,
        [a.name for a in people],
        rotation=30 if len(people) > 6 else 0,
        ha="right" if len(people) > 6 else "center",
        fontsize=8,
    )
    ax.set_ylabel("answers (%)")
    ax.set_xlabel("annotator")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    return figure


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{100 * rate:.1f}%"


PLOTS: tuple[Plot, ...] = (
    Plot("long_tail", "Instances per category", long_tail),
    Plot("categories_per_image", "Categories per image", categories_per_image),
    Plot("mask_sizes", "Relative mask size", mask_sizes),
    Plot("coverage", "Federated coverage", federated_coverage),
    Plot("burn_down", "Burn-down", burn_down),
    Plot("effort_by_stage", "Effort by stage", effort_by_stage),
    Plot("effort_by_tool", "Effort by tool", effort_by_tool),
    Plot("effort_by_annotator", "Effort by annotator", effort_by_annotator),
    Plot("agreement", "Agreement", agreement),
)
"""Every plot, in the order the report and the GUI show them."""


def png_bytes(figure: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG (Agg), without pyplot's global state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


__all__ = ["PLOTS", "Plot", "png_bytes"]
