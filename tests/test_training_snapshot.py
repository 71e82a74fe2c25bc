"""model.training.snapshot and data: what a run sees, its split, hash, samples and transforms."""

from __future__ import annotations

import pytest
import torch
from sqlalchemy import select, update
from training_support import shapes_project

from model.training.data import (
    Augment,
    SnapshotDataset,
    boxes_of,
    federated_states,
    large_scale_jitter,
    scale_jitter_sizes,
)
from model.training.loss import ClassState
from model.training.snapshot import SnapshotError, heldout_by_hash, take_snapshot
from pipeline.store import schema as s
from pipeline.store.database import now


@pytest.fixture
def project(tmp_path):
    with shapes_project(tmp_path, train=6, val=2, size=64) as p:
        yield p


def test_images_imported_as_val_are_held_out(project):
    snap = take_snapshot(project)
    assert snap.heldout_rule == "val split"
    assert len(snap.train) == 6 and len(snap.heldout) == 2
    with project.read() as conn:
        val = set(conn.execute(select(s.images.c.id).where(s.images.c.split == "val")).scalars())
    assert {im.id for im in snap.heldout} == val


def test_without_a_val_split_a_stable_hash_holds_out_the_set_fraction(project):
    with project.write() as conn:
        conn.execute(update(s.images).values(split="train"))
    project.update_settings(heldout_fraction=0.5)
    first = take_snapshot(project)
    assert first.heldout_rule == "hash 50%"
    assert 0 < len(first.heldout) < len(first.images)
    assert [im.split for im in take_snapshot(project).images] == [im.split for im in first.images]
    project.update_settings(heldout_fraction=0.0)
    assert take_snapshot(project).heldout == []


def test_the_hash_split_is_about_the_fraction_asked():
    held = sum(heldout_by_hash(f"image-{i}", 0.1) for i in range(5000))
    assert 400 < held < 600


def test_only_accepted_masks_enter_and_unaccepted_pairs_are_unverified(project):
    with project.write() as conn:
        image_id, category_id = conn.execute(
            select(s.instances.c.image_id, s.instances.c.category_id).limit(1)
        ).one()
        # Another instance of the same pair, marked but never accepted ...
        conn.execute(
            s.instances.insert().values(
                image_id=image_id, category_id=category_id, status=s.MARKED, created_at=now()
            )
        )
        # ... and a third category merely spotted on the image.
        negative = conn.execute(
            select(s.image_categories.c.category_id).where(
                s.image_categories.c.image_id == image_id,
                s.image_categories.c.state == s.NEGATIVE,
            )
        ).first()[0]
        conn.execute(
            update(s.image_categories)
            .where(
                s.image_categories.c.image_id == image_id,
                s.image_categories.c.category_id == negative,
            )
            .values(state=s.SPOTTED)
        )
        accepted = conn.execute(
            select(s.instances.c.id).where(
                s.instances.c.image_id == image_id, s.instances.c.status == s.ACCEPTED
            )
        ).all()
    image = next(im for im in take_snapshot(project).images if im.id == image_id)
    assert len(image.instances) == len(accepted)
    assert negative in image.unverified and negative not in image.negative
    assert category_id in image.positive


def test_the_data_hash_changes_with_the_data_and_only_then(project):
    first = take_snapshot(project).data_hash
    assert take_snapshot(project).data_hash == first
    with project.write() as conn:
        conn.execute(
            update(s.image_categories)
            .where(s.image_categories.c.state == s.NEGATIVE)
            .values(state=s.SPOTTED)
        )
    assert take_snapshot(project).data_hash != first


def test_a_project_without_categories_cannot_be_snapshotted(empty_project):
    with pytest.raises(SnapshotError, match="no categories"):
        take_snapshot(empty_project)


# ---------------------------------------------------------------- samples


def test_a_sample_holds_the_image_its_accepted_masks_and_federated_states(project):
    snap = take_snapshot(project)
    image = snap.train[0]
    tensor, target = SnapshotDataset(snap, snap.train)[0]
    assert tensor.shape == (3, image.height, image.width) and tensor.max() <= 1.0
    assert len(target["masks"]) == len(image.instances) == len(target["boxes"])
    for mask, box in zip(target["masks"], target["boxes"], strict=True):
        ys, xs = torch.nonzero(mask, as_tuple=True)
        assert box.tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    states = target["fed_states"]
    for c in image.negative:
        assert states[snap.class_of(c)] == ClassState.VERIFIED_NEGATIVE
    for c in image.positive:
        assert states[snap.class_of(c)] == ClassState.MAY_PUNISH


def test_states_follow_the_federated_labels(project):
    snap = take_snapshot(project)
    image = snap.train[0]
    from dataclasses import replace

    odd = replace(
        image,
        positive=frozenset({1, 2}),
        not_exhaustive=frozenset({2}),
        negative=frozenset(),
        unverified=frozenset({3}),
        spotting_finished=False,
    )
    states = federated_states(odd, snap).tolist()
    assert states == [
        ClassState.UNVERIFIED,
        ClassState.MAY_PUNISH,
        ClassState.NOT_EXHAUSTIVE,
        ClassState.UNVERIFIED,
    ]
    finished = replace(odd, unverified=frozenset(), spotting_finished=True)
    assert federated_states(finished, snap).tolist()[3] == ClassState.MAY_PUNISH  # likely absent


def test_a_flip_moves_masks_and_boxes_with_the_pixels(project):
    snap = take_snapshot(project)
    data = SnapshotDataset(snap, snap.train, Augment(hflip=1.0))
    plain, plain_target = SnapshotDataset(snap, snap.train, Augment(hflip=0.0))[(0, 5)]
    flipped, target = data[(0, 5)]
    assert torch.equal(flipped, plain.flip(-1))
    assert torch.equal(target["masks"], plain_target["masks"].flip(-1))
    width = plain.shape[-1]
    x0, y0, x1, y1 = plain_target["boxes"][0].tolist()
    assert target["boxes"][0].tolist() == [width - x1, y0, width - x0, y1]


def test_the_same_draw_seed_gives_the_same_sample(project):
    snap = take_snapshot(project)
    data = SnapshotDataset(snap, snap.train, Augment(lsj=True, lsj_size=64))
    a, b = data[(1, 42)], data[(1, 42)]
    assert torch.equal(a[0], b[0]) and torch.equal(a[1]["masks"], b[1]["masks"])


def test_large_scale_jitter_keeps_a_square_canvas_and_aligned_masks():
    image = torch.zeros(3, 40, 80)
    image[:, 10:20, 30:50] = 1.0
    masks = (image[:1] > 0).to(torch.uint8)
    for seed in range(6):
        out, out_masks = large_scale_jitter(
            image, masks, 64, (0.1, 2.0), torch.Generator().manual_seed(seed)
        )
        assert out.shape == (3, 64, 64) and out_masks.shape == (1, 64, 64)
        # the mask covers exactly the bright pixels (nearest resize: within the edge)
        bright = out[0] > 0.5
        assert (out_masks[0].bool() & ~bright).sum() <= out_masks[0].sum() * 0.5 + 4


def test_scale_jitter_sizes_end_at_min_size_in_steps_of_32():
    sizes = scale_jitter_sizes(800)
    assert sizes[-1] == 800 and sizes[0] == 640 and all(v % 32 == 0 for v in sizes)


def test_boxes_of_empty_masks_is_empty():
    assert boxes_of(torch.zeros(0, 5, 5, dtype=torch.uint8)).shape == (0, 4)
