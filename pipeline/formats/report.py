"""What an import found and did: every problem with its location, and the counts.

A :class:`Problem` names where it is (file, image id, annotation id or labelme shape)
and what is wrong. A problem makes a strict import refuse everything; a *note* is
something the import did on purpose that the user should know (a shape type it
skips, a box it took from the mask) and never stops it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import LongtailError
from .jsonio import atomic_write_bytes

# A strict import's error message lists this many problems; the report keeps all.
MESSAGE_PROBLEMS = 100


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, and where it is."""

    message: str
    file: str | None = None
    image_id: int | str | None = None
    annotation_id: int | str | None = None
    category_id: int | str | None = None
    shape: int | None = None  # index of a labelme shape

    def location(self) -> str:
        parts = [self.file] if self.file else []
        if self.image_id is not None:
            parts.append(f"image {self.image_id}")
        if self.annotation_id is not None:
            parts.append(f"annotation {self.annotation_id}")
        if self.category_id is not None:
            parts.append(f"category {self.category_id}")
        if self.shape is not None:
            parts.append(f"shape {self.shape}")
        return ": ".join(str(p) for p in parts)

    def line(self) -> str:
        where = self.location()
        return f"{where}: {self.message}" if where else self.message


@dataclass
class ImportReport:
    """What one import found (problems, notes) and what it imported (counts)."""

    source: str
    format: str
    split: str | None = None
    lenient: bool = False
    problems: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)
    images_added: int = 0
    images_reused: int = 0
    images_skipped: int = 0
    instances: int = 0
    crowd: int = 0
    annotations_skipped: int = 0
    categories_added: int = 0
    categories_matched: int = 0
    # The input's categories that matched none of the project's (non-empty) vocabulary.
    categories_unmatched: list[str] = field(default_factory=list)
    negative_pairs: int = 0
    not_exhaustive_pairs: int = 0
    # Box-only annotations imported as marked instances (stage 3 segments them).
    box_only: int = 0
    # Boxes that disagree with their masks beyond the tolerance (kept, or repaired).
    boxes_disagreeing: int = 0
    largest_box_gap: float = 0.0
    repair_boxes: bool = False
    # Empty placeholder categories (Roboflow's) that were not created.
    placeholders: list[str] = field(default_factory=list)
    # Categories whose id the project's vocabulary decided (COCO-80, LVIS ids win).
    vocabulary_ids: int = 0
    # The input was read as exhaustive over its categories (COCO; docs/decisions/0028).
    exhaustive_source: bool = False
    report_path: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, message: str, **where: object) -> None:
        self.problems.append(Problem(message, **where))  # type: ignore[arg-type]

    def note(self, message: str, **where: object) -> None:
        self.notes.append(Problem(message, **where))  # type: ignore[arg-type]

    def box_disagrees(self, gap: float) -> None:
        self.boxes_disagreeing += 1
        self.largest_box_gap = max(self.largest_box_gap, gap)

    def summary(self) -> str:
        """One line: what was imported, and what was not."""
        images = f"{self.images_added + self.images_reused} images"
        if self.images_reused:
            images += f" ({self.images_reused} already in the project)"
        parts = [
            f"{self.instances} instances"
            + (f" and {self.crowd} crowd regions" if self.crowd else "")
            + f" on {images}",
            f"{self.categories_added + self.categories_matched} categories "
            f"({self.categories_added} new)"
            + (
                f" of which {len(self.categories_unmatched)} not in the project's vocabulary "
                f"({', '.join(self.categories_unmatched[:5])}"
                + (", ..." if len(self.categories_unmatched) > 5 else "")
                + ")"
                if self.categories_unmatched
                else ""
            ),
        ]
        if self.negative_pairs or self.not_exhaustive_pairs:
            parts.append(
                f"{self.negative_pairs} verified negatives, "
                f"{self.not_exhaustive_pairs} not-exhaustive pairs"
                + (
                    " (COCO is exhaustive over its categories; --federated leaves absent "
                    "ones unverified)"
                    if self.exhaustive_source
                    else ""
                )
            )
        if self.box_only:
            parts.append(
                f"{self.box_only} box-only instances (marked; stage 3 segments them from "
                "their boxes)"
            )
        if self.boxes_disagreeing:
            what = "taken from their masks" if self.repair_boxes else "kept as the file has them"
            parts.append(
                f"{self.boxes_disagreeing} boxes disagree with their masks by up to "
                f"{self.largest_box_gap:.3g} px ({what}"
                + ("" if self.repair_boxes else "; --repair-boxes takes the masks' extents")
                + ")"
            )
        if self.placeholders:
            parts.append(
                f"{len(self.placeholders)} empty placeholder categories not created "
                f"({', '.join(self.placeholders[:5])})"
            )
        if self.vocabulary_ids:
            parts.append(f"{self.vocabulary_ids} categories keep the vocabulary's ids")
        if self.split:
            parts.append(f"split {self.split}")
        line = f"imported {', '.join(parts)}"
        if self.problems:
            skipped = []
            if self.images_skipped:
                skipped.append(f"{self.images_skipped} images")
            if self.annotations_skipped:
                skipped.append(f"{self.annotations_skipped} annotations")
            line += f"; {plural(len(self.problems), 'problem')}" + (
                f" ({' and '.join(skipped)} skipped)" if skipped else ""
            )
        if self.notes:
            line += f"; {plural(len(self.notes), 'note')}"
        if self.report_path is not None:
            line += f"; report: {self.report_path}"
        return line

    def lines(self) -> list[str]:
        """Every problem, then every note, one a line."""
        return [p.line() for p in self.problems] + [f"note: {n.line()}" for n in self.notes]

    def text(self, *, limit: int | None = None) -> str:
        """The report as text: a heading, then one line a problem (at most ``limit``)."""
        head = (
            f"{self.format} import of {self.source}: {plural(len(self.problems), 'problem')}, "
            f"{plural(len(self.notes), 'note')}"
        )
        if self.problems and not self.lenient:
            head += "; nothing was imported"
        elif self.lenient:
            head += f"\n{self.summary()}"
        body = self.lines()
        if limit is not None and len(body) > limit:
            rest = len(body) - limit
            body = [*body[:limit], f"... and {rest} more lines (import with --lenient to see all)"]
        return "\n".join([head, *body])

    def write(self, folder: Path | None) -> Path:
        """Write the full report into ``folder`` (the project folder, else the current one)."""
        folder = Path(folder) if folder is not None else Path.cwd()
        stem = Path(self.source).stem or "import"
        path = folder / f"import-report-{stem}.txt"
        number = 1
        while path.exists():
            number += 1
            path = folder / f"import-report-{stem}-{number}.txt"
        self.report_path = path
        atomic_write_bytes(path, (self.text() + "\n").encode("utf-8"))
        return path


class FormatError(LongtailError):
    """An import refused because of bad input; ``report`` holds every problem."""

    def __init__(self, report: ImportReport) -> None:
        self.report = report
        super().__init__(report.text(limit=MESSAGE_PROBLEMS))


def display_path(path: Path | str) -> str:
    """A path as reports show it: relative to the current folder when that is shorter."""
    text = os.fspath(path)
    try:
        rel = os.path.relpath(text)
    except ValueError:
        return text
    return rel if len(rel) < len(text) else text


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
