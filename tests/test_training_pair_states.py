"""One rule for a pair's state: a pending pair is never a negative, in every reader.

The LVIS export, the training snapshot (and so the loss) and the held-out evaluation's
ground truth all read :func:`pipeline.federated.pair_state`. A pair whose instance is
still being segmented, with its exhaustiveness not yet asked, was trained as "may
punish" and scored as exhaustive, while the export already called it not exhaustive.
"""

from __future__ import annotations

import pytest
import torch
from sqlalchemy import select, update
from training_support import one_thread, shapes_project  # noqa: F401 (fixture)

from model.training.data import federated_states
from model.training.loss import ClassState, federated_loss
from model.training.snapshot import take_snapshot
from pipeline.federated import PairState, federated_labels, pair_state, pair_states
from pipeline.formats.exporting import export_project
from pipeline.formats.ids import exported_ids
from pipeline.store import schema as s
from pipeline.store.database import now


@pytest.fixture
def pending(tmp_path):
    """A project with one positive pair whose second instance is not accepted yet and
    whose exhaustiveness was never asked; (project, image id, category id)."""
    with shapes_project(tmp_path, train=4, val=2, size=48) as project:
        with project.write() as conn:
            image_id, category_id = conn.execute(
                select(s.instances.c.image_id, s.instances.c.category_id)
                .join(s.images, s.images.c.id == s.instances.c.image_id)
                .where(s.images.c.split == "val")
                .order_by(s.instances.c.id)
                .limit(1)
            ).one()
            conn.execute(
                update(s.image_categories)
                .where(
                    s.image_categories.c.image_id == image_id,
                    s.image_categories.c.category_id == category_id,
                )
                .values(exhaustive=None)
            )
            conn.execute(
                s.instances.insert().values(
                    image_id=image_id, category_id=category_id, status=s.MARKED, created_at=now()
                )
            )
        yield project, image_id, category_id


def test_the_rule_itself():
    assert pair_state(s.NEGATIVE, None, False, False) is PairState.NEGATIVE
    assert pair_state(s.CONFIRMED, None, True, True) is PairState.PENDING
    assert pair_state(s.CONFIRMED, True, True, True) is PairState.PENDING
    assert pair_state(s.CONFIRMED, False, True, False) is PairState.NOT_EXHAUSTIVE
    assert pair_state(s.CONFIRMED, True, True, False) is PairState.EXHAUSTIVE
    assert pair_state(s.CONFIRMED, None, True, False) is PairState.POSITIVE
    assert pair_state(s.CONFIRMED, None, False, False) is PairState.UNVERIFIED
    assert pair_state(s.SPOTTED, None, False, True) is PairState.PENDING
    assert pair_state(s.REJECTED, None, False, True) is PairState.UNVERIFIED
    assert pair_state(None, None, False, False) is PairState.UNVERIFIED
    assert not PairState.PENDING.is_positive and PairState.PENDING.counts_not_exhaustive


def test_a_pending_pair_counts_not_exhaustive_in_export_snapshot_and_evaluation(pending):
    project, image_id, category_id = pending
    with project.read() as conn:
        assert pair_states(conn, [image_id])[(image_id, category_id)] is PairState.PENDING
        label = federated_labels(conn, [image_id])[image_id]
    assert category_id in label.positive_category_ids  # its accepted mask still trains
    assert category_id in label.not_exhaustive_category_ids
    assert category_id not in label.negative_category_ids

    doc, _ = export_project(project, "lvis")
    with project.read() as conn:
        ids = exported_ids(conn)
    exported = {im["id"]: im for im in doc["images"]}
    entry = exported[ids.images[image_id]]
    assert ids.categories[category_id] in entry["not_exhaustive_category_ids"]

    snapshot = take_snapshot(project)
    (image,) = [im for im in snapshot.images if im.id == image_id]
    assert category_id in image.not_exhaustive
    truth = snapshot.ground_truth()
    (entry,) = [im for im in truth["images"] if im["id"] == image_id]
    assert category_id in entry["not_exhaustive_category_ids"]
    assert category_id not in entry["neg_category_ids"]
    states = federated_states(image, snapshot)
    assert states[snapshot.class_of(category_id)] == ClassState.NOT_EXHAUSTIVE


def test_a_pending_pair_gives_no_class_loss_gradient_on_background(pending):
    project, image_id, category_id = pending
    snapshot = take_snapshot(project)
    (image,) = [im for im in snapshot.images if im.id == image_id]
    states = federated_states(image, snapshot).unsqueeze(0)
    column = snapshot.class_of(category_id)
    logits = torch.randn(6, snapshot.num_classes, requires_grad=True)
    labels = torch.zeros(6, dtype=torch.long)  # six background regions
    every_class = torch.arange(1, snapshot.num_classes)
    loss = federated_loss(logits, labels, torch.zeros(6, dtype=torch.long), states, every_class)
    loss.backward()
    assert torch.count_nonzero(logits.grad[:, column]) == 0
    negatives = [snapshot.class_of(c) for c in image.negative]
    if negatives:  # a verified negative still teaches
        assert torch.count_nonzero(logits.grad[:, negatives[0]]) > 0
