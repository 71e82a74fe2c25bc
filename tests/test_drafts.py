"""The Qt-free draft (pipeline.masks.edits: polygon, hole, vertex, brush and eraser
edits) and its store rows (pipeline.drafts)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from stages_support import HEIGHT, WIDTH, image_ids, make_project

from pipeline.drafts import (
    delete_draft,
    load_draft,
    mask_from_json,
    mask_to_json,
    save_draft,
    save_mask_draft,
)
from pipeline.masks.edits import (
    Draft,
    DraftError,
    nearest_edge,
    nearest_vertex,
    repaired,
    stroke_pixels,
)
from pipeline.masks.geometry import Mask, self_intersection_problem
from pipeline.store import schema as s
from pipeline.store.database import now

SQUARE = [(10, 10), (60, 10), (60, 50), (10, 50)]


def test_a_polygon_gives_the_mask_of_its_vertices():
    draft = Draft(HEIGHT, WIDTH)
    mask = draft.add_polygon(SQUARE)
    assert mask.kind == "polygon"
    assert mask.bbox == (10.0, 10.0, 50.0, 40.0)
    assert mask.area == Mask.from_box((10, 10, 50, 40), HEIGHT, WIDTH).area == 50 * 40
    assert sorted(map(tuple, mask.parts[0].exterior.tolist())) == sorted(
        (float(x), float(y)) for x, y in SQUARE
    )


def test_a_hole_lowers_the_area_by_the_holes_area():
    draft = Draft(HEIGHT, WIDTH)
    before = draft.add_polygon(SQUARE).area
    hole = [(20, 20), (30, 20), (30, 30), (20, 30)]
    after = draft.cut_hole(hole)
    assert after.has_holes
    assert after.area == before - Mask.from_polygons([hole], HEIGHT, WIDTH).area == before - 100


def test_a_hole_in_a_painted_mask_cuts_exactly_its_pixels():
    draft = Draft(HEIGHT, WIDTH)
    draft.brush([(30, 30)], 15)
    before = draft.mask.to_bitmap()
    hole = [(25, 25), (35, 25), (35, 35), (25, 35)]
    after = draft.cut_hole(hole).to_bitmap()
    expected = before.copy()
    expected[25:35, 25:35] = 0
    assert np.array_equal(after, expected)


def test_a_second_overlapping_polygon_joins_the_first_and_a_disjoint_one_is_a_new_part():
    draft = Draft(HEIGHT, WIDTH)
    draft.add_polygon([(0, 0), (20, 0), (20, 20), (0, 20)])
    joined = draft.add_polygon([(10, 10), (30, 10), (30, 30), (10, 30)])
    assert len(joined.parts) == 1 and joined.area == 400 + 400 - 100
    apart = draft.add_polygon([(80, 60), (90, 60), (90, 70)])
    assert len(apart.parts) == 2


def test_what_is_drawn_beside_the_image_is_cut_at_its_edge():
    draft = Draft(HEIGHT, WIDTH)
    mask = draft.add_polygon([(-20, -10), (50, -10), (50, 40), (-20, 40)])
    assert mask.bbox == (0.0, 0.0, 50.0, 40.0) and mask.area == 50 * 40
    moved = draft.move_vertex(nearest_vertex(mask, (50, 40))[0], (WIDTH + 30, HEIGHT + 5))
    assert moved.bbox[0] + moved.bbox[2] == WIDTH and moved.bbox[1] + moved.bbox[3] == HEIGHT
    draft.brush([(5, 5)], 3)  # now a painted mask: the rasteriser clips
    before = draft.mask.to_bitmap()
    triangle = [(100, 80), (140, 80), (140, 100)]
    painted = draft.add_polygon(triangle).to_bitmap()
    inside = Draft(HEIGHT, WIDTH).add_polygon(triangle).to_bitmap()  # cut at the edge
    assert np.array_equal(painted, before | inside) and inside[85, 119] == 1


def test_a_bow_tie_polygon_is_repaired_into_its_two_triangles():
    draft = Draft(HEIGHT, WIDTH)
    mask = draft.add_polygon([(0, 0), (40, 40), (40, 0), (0, 40)])
    assert len(mask.parts) == 2


def _expected_disc(cx: float, cy: float, r: float) -> np.ndarray:
    out = np.zeros((HEIGHT, WIDTH), np.uint8)
    for row in range(HEIGHT):
        for col in range(WIDTH):
            if (col + 0.5 - cx) ** 2 + (row + 0.5 - cy) ** 2 <= r * r:
                out[row, col] = 1
    return out


def test_a_brush_dab_paints_the_pixels_whose_centres_lie_within_the_radius():
    draft = Draft(HEIGHT, WIDTH)
    mask = draft.brush([(40.5, 30.5)], 5)
    assert mask.kind == "rle"
    assert np.array_equal(mask.to_bitmap(), _expected_disc(40.5, 30.5, 5))


def test_a_brush_stroke_paints_a_capsule_and_the_eraser_takes_exactly_its_pixels_out():
    draft = Draft(HEIGHT, WIDTH)
    draft.brush([(20, 40), (80, 40)], 6)
    painted = draft.mask.to_bitmap()
    # A horizontal capsule: rows whose centre is within 6 of y=40, columns 20..80 fully.
    assert painted[40 - 6 : 40 + 6, 20:80].all()
    assert not painted[:34].any() and not painted[46:].any()
    assert painted.sum() == stroke_pixels([(20, 40), (80, 40)], 6, HEIGHT, WIDTH).sum()
    draft.erase([(50, 30), (50, 50)], 3)
    erased = draft.mask.to_bitmap()
    cut = stroke_pixels([(50, 30), (50, 50)], 3, HEIGHT, WIDTH)
    assert np.array_equal(erased, painted & (1 - cut))
    assert (painted.astype(int) - erased).sum() == (painted & cut).sum() > 0


def test_painting_on_a_polygon_keeps_its_pixels_and_adds_the_stroke():
    draft = Draft(HEIGHT, WIDTH)
    polygon = draft.add_polygon(SQUARE).to_bitmap()
    painted = draft.brush([(70, 70)], 4).to_bitmap()
    assert np.array_equal(painted, polygon | stroke_pixels([(70, 70)], 4, HEIGHT, WIDTH))


def test_erasing_everything_leaves_no_mask():
    draft = Draft(HEIGHT, WIDTH)
    draft.brush([(30, 30)], 3)
    assert draft.erase([(30, 30)], 10) is None and draft.empty


def test_vertex_move_insert_and_delete():
    draft = Draft(HEIGHT, WIDTH)
    draft.add_polygon(SQUARE)
    ref, dist = nearest_vertex(draft.mask, (61, 51))
    assert dist < 2
    moved = draft.move_vertex(ref, (70, 60))
    assert (70.0, 60.0) in map(tuple, moved.parts[0].exterior.tolist())
    assert moved.area > 50 * 40
    edge_ref, foot, _ = nearest_edge(draft.mask, (35, 9))
    assert foot == (35.0, 10.0)
    inserted = draft.insert_vertex(edge_ref, (35, 2))
    assert len(inserted.parts[0].exterior) == 5
    assert inserted.bbox[1] == 2.0
    deleted = draft.delete_vertex((0, 0, edge_ref[2]))
    assert len(deleted.parts[0].exterior) == 4 and deleted.bbox[1] == 10.0


def test_a_vertex_dragged_across_an_edge_is_repaired_into_valid_parts():
    draft = Draft(HEIGHT, WIDTH)
    draft.add_polygon(SQUARE)  # (10,10) (60,10) (60,50) (10,50)
    ref, _ = nearest_vertex(draft.mask, (60, 50))
    crossed = draft.move_vertex(ref, (35, 0))  # its edge to (10, 50) now crosses the top
    fixed = repaired(crossed)
    assert fixed is not crossed and len(fixed.parts) == 2
    assert all(self_intersection_problem(p) is None for p in fixed.parts)
    valid = Draft(HEIGHT, WIDTH).add_polygon(SQUARE)
    assert repaired(valid) is valid
    # Overlapping parts (a vertex dragged into another part) are joined.
    two = Draft(HEIGHT, WIDTH)
    two.add_polygon([(0, 0), (20, 0), (20, 20), (0, 20)])
    two.add_polygon([(40, 0), (60, 0), (60, 20), (40, 20)])
    ref, _ = nearest_vertex(two.mask, (20, 20))
    overlapping = two.move_vertex(ref, (50, 10))
    assert len(repaired(overlapping).parts) == 1


def test_deleting_a_triangles_vertex_removes_it():
    draft = Draft(HEIGHT, WIDTH)
    draft.add_polygon([(0, 0), (10, 0), (0, 10)])
    assert draft.delete_vertex((0, 0, 1)) is None


def test_vertex_edits_on_a_painted_mask_ask_for_tracing_first():
    draft = Draft(HEIGHT, WIDTH)
    draft.brush([(30, 30)], 6)
    with pytest.raises(DraftError, match="trace"):
        draft.move_vertex((0, 0, 0), (1, 1))
    before = draft.mask.to_bitmap()
    traced = draft.traced()
    assert traced.kind == "polygon"
    assert np.array_equal(traced.to_bitmap(), before)


def test_edits_that_cannot_apply_say_why():
    draft = Draft(HEIGHT, WIDTH)
    with pytest.raises(DraftError, match="no mask to cut"):
        draft.cut_hole(SQUARE)
    with pytest.raises(DraftError, match="at least 3 points"):
        draft.add_polygon([(0, 0), (1, 1)])
    with pytest.raises(DraftError, match="no area"):
        draft.add_polygon([(0, 0), (1, 1), (2, 2)])
    with pytest.raises(DraftError, match="radius"):
        draft.brush([(1, 1)], 0)


@pytest.mark.parametrize("make", ["polygon", "holed", "rle"])
def test_a_mask_survives_its_json_form_unchanged(make):
    draft = Draft(HEIGHT, WIDTH)
    draft.add_polygon(SQUARE)
    if make == "holed":
        draft.cut_hole([(20, 20), (30, 20), (30, 30), (20, 30)])
    if make == "rle":
        draft.brush([(5, 5)], 4)
    back = mask_from_json(mask_to_json(draft.mask))
    assert back.kind == draft.mask.kind and back.to_bytes() == draft.mask.to_bytes()


# ---------------------------------------------------------------- the store


def _work_item(project, image_id: int) -> int:
    with project.write() as conn:
        return conn.execute(
            s.work_items.insert().values(stage=3, image_id=image_id, created_at=now())
        ).inserted_primary_key[0]


def test_a_draft_round_trips_through_the_store_and_is_replaced_then_deleted(tmp_path: Path):
    project = make_project(tmp_path, images=1)
    with project:
        image_id = image_ids(project)[0]
        item = _work_item(project, image_id)
        ann = project.annotator("ann").id
        other = project.annotator("bob").id
        draft = Draft(HEIGHT, WIDTH)
        draft.add_polygon(SQUARE)
        draft.cut_hole([(20, 20), (30, 20), (30, 30), (20, 30)])
        save_mask_draft(project, item, ann, image_id, draft.mask, tool="hole")
        stored = load_draft(project, item, ann)
        assert stored.image_id == image_id and stored.content["tool"] == "hole"
        assert stored.mask.to_bytes() == draft.mask.to_bytes()
        assert load_draft(project, item, other) is None  # drafts are per annotator
        draft.brush([(70, 70)], 4)
        save_mask_draft(project, item, ann, image_id, draft.mask)
        assert load_draft(project, item, ann).mask.to_bytes() == draft.mask.to_bytes()
        assert delete_draft(project, item, ann) is True
        assert load_draft(project, item, ann) is None
        assert delete_draft(project, item, ann) is False


def test_drafts_are_written_from_worker_threads(tmp_path: Path):
    project = make_project(tmp_path, images=1)
    with project:
        image_id = image_ids(project)[0]
        items = [_work_item(project, image_id) for _ in range(4)]
        ann = project.annotator("ann").id
        errors: list[BaseException] = []

        def write(item: int) -> None:
            try:
                for k in range(5):
                    save_draft(project, item, ann, image_id, {"step": k})
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(i,)) for i in items]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert [load_draft(project, i, ann).content for i in items] == [{"step": 4}] * 4


def test_a_draft_that_is_not_json_is_refused_with_its_work_item(tmp_path: Path):
    project = make_project(tmp_path, images=1)
    with project:
        image_id = image_ids(project)[0]
        item = _work_item(project, image_id)
        with pytest.raises(Exception, match=f"work item {item}"):
            save_draft(project, item, project.annotator("a").id, image_id, {"x": object()})
        assert load_draft(project, item, project.annotator("a").id) is None
