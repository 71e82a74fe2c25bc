"""The explorer's queries (pipeline.explorer): filters give the expected image sets on
the hand-made project of stats_support; one image's history; thumbnails."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_image
from stages_support import box_mask, category_ids, make_project, rows
from stats_support import build_hand_made

from pipeline import explorer as ex
from pipeline.corrections import correct_mask
from pipeline.errors import LongtailError, NotFoundError
from pipeline.stages import SPOTTING, Pipeline, Spot, SpotAnswer
from pipeline.store import schema as s


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    made = build_hand_made(tmp_path_factory.mktemp("explore"))
    yield made
    made.project.close()


def ids(made, **chosen) -> set[int]:
    with made.project.read() as conn:
        found = ex.filter_images(conn, ex.ImageFilter(**chosen))
    assert list(found) == sorted(found)
    return {int(i) for i in found}


def test_category_filters_follow_the_federated_labels(made):
    img0, img1, img2 = made.images
    cat, dog, car = made.cats["cat"], made.cats["dog"], made.cats["car"]
    assert ids(made, category_id=cat, category_state=ex.PRESENT) == {img0, img1}
    assert ids(made, category_id=dog, category_state=ex.NOT_EXHAUSTIVE) == {img0}
    assert ids(made, category_id=cat, category_state=ex.NOT_EXHAUSTIVE) == set()
    for category in (cat, car):
        absent = {i for i, c in made.absent if c == category}
        assert ids(made, category_id=category, category_state=ex.ABSENT) == absent
    assert ids(made, category_id=cat, category_state=ex.ABSENT) == {img2}


def test_a_state_without_a_category_asks_it_of_any_category(made):
    img0, img1, img2 = made.images
    assert ids(made, category_state=ex.PRESENT) == {img0, img1}  # img02 has no positive
    assert ids(made, category_state=ex.NOT_EXHAUSTIVE) == {img0}  # the dog
    assert ids(made, category_state=ex.ABSENT) == {i for i, _ in made.absent}
    assert ids(made, category_state=ex.ANY_STATE) == {img0, img1, img2}
    # a category alone (state "any") is every image where it is labelled, negatives too
    assert ids(made, category_id=made.cats["cat"]) == {img0, img1, img2}
    assert not ex.ImageFilter(category_state=ex.PRESENT).is_empty


def test_spotted_pairs_are_not_present(tmp_path):
    """The bug the screenshots showed: on a fresh project every image passed "present"
    with "any category", though none had a positive."""
    project = make_project(tmp_path, images=3, spot_done_after=1)
    try:
        service = Pipeline(project)
        service.seed()
        item = service.next_item(SPOTTING, "spotter")
        service.answer(item, SpotAnswer([Spot(category_ids(project)["cat"], 15, 15)]))
        with project.read() as conn:
            present = ex.filter_images(conn, ex.ImageFilter(category_state=ex.PRESENT))
            cat = ex.ImageFilter(category_id=category_ids(project)["cat"])
            labelled = ex.filter_images(conn, cat)
        assert list(present) == []
        assert list(labelled) == [item.image.id]
    finally:
        project.close()


def test_stage_annotator_and_rejection_filters(made):
    img0, img1, img2 = made.images
    assert ids(made) == {img0, img1, img2}
    assert ids(made, stage=ex.NO_WORK) == {img0, img1, img2}  # every queue ran empty
    assert ids(made, stage=s.VERIFICATION) == set()
    people = {p.name: p.id for p in rows(made.project, s.annotators)}
    assert ids(made, annotator_id=people["drawer"]) == {img0, img1}
    assert ids(made, annotator_id=people["spotter"]) == {img0, img1, img2}
    assert ids(made, has_rejections=True) == {img0}
    assert ids(made, has_rejections=True, category_id=made.cats["cat"]) == {img0}
    assert ids(made, has_rejections=True, annotator_id=people["negator"]) == (
        {img0} & {i for i, _ in made.absent}
    )


def test_a_correction_puts_its_image_in_the_verification_filter(tmp_path):
    made = build_hand_made(tmp_path)
    img0, img1, _ = made.images
    (instance,) = [r for r in rows(made.project, s.instances) if r.image_id == img1]
    correct_mask(made.project, instance.id, box_mask(12, 12, 30, 30), "editor")
    assert ids(made, stage=s.VERIFICATION) == {img1}
    assert img1 not in ids(made, stage=ex.NO_WORK)
    cat = made.cats["cat"]
    # img1's cat awaits verification
    assert ids(made, category_id=cat, category_state=ex.PRESENT) == {img0}
    made.project.close()


def test_image_history_lists_pairs_versions_and_verdicts(made):
    img0 = made.images[0]
    with made.project.read() as conn:
        history = ex.image_history(conn, img0)
        with pytest.raises(NotFoundError, match="image 999 is not in the project"):
            ex.image_history(conn, 999)
    pairs = {p.category: p for p in history.pairs}
    assert pairs["cat"].positive and pairs["cat"].exhaustive is True
    assert pairs["dog"].positive and pairs["dog"].exhaustive is False
    assert len(history.instances) == 3
    redrawn = [i for i in history.instances if len(i.versions) == 2]
    assert len(redrawn) == 1
    first, second = redrawn[0].versions
    assert (first.status, first.tool) == (s.SEGMENT_REJECTED, "proposal")
    assert [(v.annotator, v.accept, v.reason) for v in first.verdicts] == [
        ("verifier", False, "too loose")
    ]
    assert (second.status, second.tool, second.annotator) == (
        s.SEGMENT_ACCEPTED,
        "polygon",
        "drawer",
    )
    assert history.waiting == {}


def test_page_keeps_the_order_of_the_ids(made):
    with made.project.read() as conn:
        page = ex.image_page(conn, np.array(made.images[::-1]), 1, 5)
    assert [r.id for r in page] == list(made.images[::-1][1:])


def test_thumbnails_fit_the_size_and_report_missing_files(tmp_path):
    path = make_image(tmp_path / "big.jpg", 640, 320)
    picture = ex.thumbnail(path, 160)
    assert picture.shape == (80, 160, 3)
    with pytest.raises(NotFoundError, match="file not found"):
        ex.thumbnail(tmp_path / "gone.jpg")
    with pytest.raises(LongtailError, match="unknown category state"):
        ex.ImageFilter(category_id=1, category_state="maybe")


def test_the_first_page_is_the_first_ids_of_the_unfiltered_list(made):
    with made.project.read() as conn:
        assert list(ex.first_image_ids(conn, 2)) == sorted(made.images)[:2]
        assert list(ex.first_image_ids(conn, 10)) == list(ex.filter_images(conn, ex.ImageFilter()))
