"""Text tables of an :class:`EvalResult`, laid out like the reference tools print them."""

from __future__ import annotations

from .result import EvalResult

_COCO_LINES = (
    # key, AP or AR, IoU, area, maxDets
    ("AP", 1, None, "all", 100),
    ("AP50", 1, 0.5, "all", 100),
    ("AP75", 1, 0.75, "all", 100),
    ("APs", 1, None, "small", 100),
    ("APm", 1, None, "medium", 100),
    ("APl", 1, None, "large", 100),
    ("AR1", 0, None, "all", 1),
    ("AR10", 0, None, "all", 10),
    ("AR100", 0, None, "all", 100),
    ("ARs", 0, None, "small", 100),
    ("ARm", 0, None, "medium", 100),
    ("ARl", 0, None, "large", 100),
)


def _iou_text(iou: float | None) -> str:
    return "0.50:0.95" if iou is None else f"{iou:0.2f}"


def format_summary(result: EvalResult) -> str:
    """The summary block: pycocotools' twelve lines, lvis-api's thirteen, or VOC's mAP."""
    if result.metric == "coco":
        template = " {:<18} {} @[ IoU={:<9} | area={:>6s} | maxDets={:>3d} ] = {:0.3f}"
        lines = []
        for key, ap, iou, area, max_dets in _COCO_LINES:
            title = "Average Precision" if ap else "Average Recall"
            kind = "(AP)" if ap else "(AR)"
            lines.append(
                template.format(title, kind, _iou_text(iou), area, max_dets, result.stats[key])
            )
        return "\n".join(lines)
    if result.metric == "lvis":
        template = " {:<18} {} @[ IoU={:<9} | area={:>6s} | maxDets={:>3d} catIds={:>3s}] = {:0.3f}"
        lines = []
        for key, value in result.stats.items():
            ap = key.startswith("AP")
            title = "Average Precision" if ap else "Average Recall"
            kind = "(AP)" if ap else "(AR)"
            iou = float(key[2:]) / 100 if len(key) > 2 and key[2].isdigit() else None
            group = key[2] if len(key) > 2 and key[2] in "rcf" else "all"
            area = {"s": "small", "m": "medium", "l": "large"}.get(key[2:3], "all")
            lines.append(template.format(title, kind, _iou_text(iou), area, 300, group, value))
        return "\n".join(lines)
    return f" mean Average Precision (VOC, all-point) @[ IoU=0.50 ] = {result.stats['mAP50']:0.4f}"


def format_per_category(result: EvalResult, limit: int | None = None) -> str:
    """One line per category: id, name, AP (AP50, AP75), ground truths and detections."""

    def cell(v: float | None) -> str:
        return "     -" if v is None else f"{v:6.3f}"

    if result.metric == "voc":
        header = f"{'id':>6}  {'category':<32}{'AP50':>6}{'gt':>8}{'dets':>8}"
        rows = [
            f"{c.category_id:>6}  {c.name[:31]:<32}{cell(c.ap50)}{c.n_gt:>8}{c.n_det:>8}"
            for c in result.per_category.values()
        ]
    else:
        header = (
            f"{'id':>6}  {'category':<32}{'freq':>5}{'AP':>7}{'AP50':>7}{'AP75':>7}"
            f"{'gt':>8}{'dets':>8}"
        )
        rows = [
            f"{c.category_id:>6}  {c.name[:31]:<32}{(c.frequency or '-'):>5} {cell(c.ap)} "
            f"{cell(c.ap50)} {cell(c.ap75)}{c.n_gt:>8}{c.n_det:>8}"
            for c in result.per_category.values()
        ]
    if limit is not None:
        rows = rows[:limit]
    return "\n".join([header, *rows])
