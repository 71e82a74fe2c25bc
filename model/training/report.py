"""A model's held-out metrics as one line of text (torch-free, for the CLI and the app)."""

from __future__ import annotations

from typing import Any


def format_metrics(metrics: dict[str, Any] | None) -> str:
    """One line: mask and box AP (COCO) and LVIS mask AP with AP_r/c/f."""
    if not metrics:
        return "not evaluated"
    if "note" in metrics:
        return str(metrics["note"])

    def pct(value: Any) -> str:
        return "-" if value is None or value < 0 else f"{100 * value:.1f}"

    coco, lvis = metrics.get("coco", {}), metrics.get("lvis", {})
    segm, bbox, lseg = coco.get("segm", {}), coco.get("bbox", {}), lvis.get("segm", {})
    return (
        f"mask AP {pct(segm.get('AP'))}, box AP {pct(bbox.get('AP'))}, "
        f"LVIS mask AP {pct(lseg.get('AP'))} (r {pct(lseg.get('APr'))} / "
        f"c {pct(lseg.get('APc'))} / f {pct(lseg.get('APf'))}) on {metrics.get('images')} "
        "held-out images"
    )
