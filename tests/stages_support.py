"""Helpers shared by the pipeline tests (tests/test_stages_*.py and friends).

A small real project: a few solid-colour images on disk and a five-category
vocabulary, and short-hands that walk an item through the stages with the service.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import make_image
from sqlalchemy import select

from pipeline.annotations import segment_values
from pipeline.images import add_image_folder
from pipeline.masks.geometry import Mask
from pipeline.stages import (
    EXHAUSTIVE,
    MARKING,
    SEGMENTATION,
    SPOTTING,
    VERIFICATION,
    ExhaustiveAnswer,
    Mark,
    MarkAnswer,
    Pipeline,
    SegmentAnswer,
    Spot,
    SpotAnswer,
    VerifyAnswer,
)
from pipeline.store import schema as s
from pipeline.store.database import Project, now
from pipeline.store.settings import ProjectSettings
from pipeline.vocabulary import Category, add_categories

WIDTH, HEIGHT = 120, 90
NAMES = ("cat", "dog", "bird", "cup", "car")


def make_project(tmp_path: Path, images: int = 2, **settings: Any) -> Project:
    """A project with ``images`` images of 120x90 and the categories of NAMES."""
    folder = tmp_path / "images"
    for i in range(images):
        make_image(folder / f"img{i:02d}.png", WIDTH, HEIGHT, color=(10 + 20 * i, 60, 90))
    project = Project.create(tmp_path / "project", settings=ProjectSettings().updated(**settings))
    add_categories(
        project, [Category(name, definition=f"the definition of a {name}") for name in NAMES]
    )
    add_image_folder(project, folder)
    return project


def category_ids(project: Project) -> dict[str, int]:
    with project.read() as conn:
        return dict(conn.execute(select(s.categories.c.name, s.categories.c.id)).all())


def image_ids(project: Project) -> list[int]:
    with project.read() as conn:
        return list(conn.execute(select(s.images.c.id).order_by(s.images.c.id)).scalars())


def box_mask(x: float, y: float, w: float, h: float) -> Mask:
    return Mask.from_box((x, y, w, h), HEIGHT, WIDTH)


def rows(project: Project, table: Any, *where: Any) -> list[Any]:
    with project.read() as conn:
        return conn.execute(select(table).where(*where)).all()


def pair_state(project: Project, image_id: int, category_id: int) -> Any:
    found = rows(
        project,
        s.image_categories,
        s.image_categories.c.image_id == image_id,
        s.image_categories.c.category_id == category_id,
    )
    return found[0] if found else None


def pending(project: Project, stage: int) -> list[Any]:
    return rows(
        project,
        s.work_items,
        s.work_items.c.stage == stage,
        s.work_items.c.status.in_((s.OPEN, s.LEASED)),
    )


def spot_image(service: Pipeline, who: str, spots: list[Spot]) -> Any:
    """Claim the next spotting item and spot ``spots`` on it; returns the item."""
    item = service.next_item(SPOTTING, who)
    assert item is not None
    service.answer(item, SpotAnswer(spots) if spots else SpotAnswer(nothing_new=True))
    return item


def finish_spotting(service: Pipeline, image_id: int, who: str = "spotter") -> None:
    """Answer "nothing new" on ``image_id`` until it leaves stage 1."""
    for _ in range(20):
        item = service.next_item(SPOTTING, who)
        if item is None:
            return
        if item.image.id != image_id:
            service.skip(item)
            continue
        service.answer(item, SpotAnswer(nothing_new=True))
        if not [r for r in pending(service.project, SPOTTING) if r.image_id == image_id]:
            return
    raise AssertionError("spotting did not finish")


def confirmed_pair(
    service: Pipeline, cats: dict[str, int], boxes: list[tuple[float, float, float, float]]
) -> tuple[int, int]:
    """Spot 'cat' on the first image and mark one instance per box; returns (image, cat)."""
    item = spot_image(service, "spotter", [Spot(cats["cat"], boxes[0][0] + 1, boxes[0][1] + 1)])
    marking = service.next_item(MARKING, "marker")
    marks = [Mark(x + 1, y + 1, (x, y, w, h)) for x, y, w, h in boxes]
    service.answer(marking, MarkAnswer(True, marks))
    return item.image.id, cats["cat"]


def segment_and_accept(service: Pipeline, mask: Mask | None = None) -> None:
    """Segment the next stage-3 item (with its box, or ``mask``) and accept it."""
    item = service.next_item(SEGMENTATION, "drawer")
    box = item.instance.box
    service.answer(item, SegmentAnswer(mask or box_mask(*box)))
    verify = service.next_item(VERIFICATION, "verifier")
    service.answer(verify, VerifyAnswer(True))


def all_segmented(service: Pipeline) -> None:
    item = service.next_item(EXHAUSTIVE, "checker")
    service.answer(item, ExhaustiveAnswer(True))


def store_accepted_segment(
    conn: Any,
    instance_id: int,
    mask: Mask,
    *,
    tool: str | None = "imported",
    source: str = s.SOURCE_IMPORTED,
) -> int:
    """Seed an accepted version 1 of an instance's mask, as the importer stores one
    (pipeline/formats/writer.py, in bulk). New versions in product code have one writer,
    :func:`pipeline.stages.segmentation.new_segment_version`; tests of versions use it."""
    return int(
        conn.execute(
            s.segments.insert().values(
                instance_id=instance_id,
                version=1,
                status=s.SEGMENT_ACCEPTED,
                tool=tool,
                source=source,
                created_at=now(),
                **segment_values(mask),
            )
        ).inserted_primary_key[0]
    )
