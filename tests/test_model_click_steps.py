"""The fallback's clicks as steps: each click edits the mask left by the one before, an
added click costs one click's work, and a far click neither rescales the box's answer
nor loses an earlier click's seed."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from model import fallback as F


def _scene(seed: int, height: int = 120, width: int = 160) -> np.ndarray:
    """A red body and a blue arm on noisy green (the pixels differ with ``seed``)."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), np.int32)
    image[:] = (40, 110, 40)
    image[30:90, 30:90] = (220, 50, 50)
    image[50:70, 90:140] = (50, 50, 220)
    image += rng.integers(-12, 12, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


CLICKS = [(120, 60, True), (100, 40, False), (60, 60, True), (135, 62, True)]


@pytest.fixture
def grabcuts(monkeypatch):
    """How many GrabCuts the fallback runs on this test's thread (OpenCV's, counted, not
    replaced). Calls from other threads are not this test's: a GUI test earlier in the
    same process may leave a proposal worker finishing in the background."""
    calls = []
    real = cv2.grabCut
    mine = threading.get_ident()

    def counted(*args, **kwargs):
        if threading.get_ident() == mine:
            calls.append(args[0].shape)
        return real(*args, **kwargs)

    monkeypatch.setattr(F.cv2, "grabCut", counted)
    return calls


def test_an_added_click_costs_one_click_not_a_replay_of_the_earlier_ones(grabcuts):
    image = _scene(1)
    box = (28, 28, 64, 64)
    F.box_to_mask(image, box)
    for n in range(1, len(CLICKS) + 1):
        grabcuts.clear()
        F.box_to_mask(image, box, points=CLICKS[:n])
        assert len(grabcuts) <= 1, (n, grabcuts)  # the new click's own GrabCut at most


def test_clicks_given_at_once_or_one_by_one_give_the_same_mask():
    image = _scene(2)
    box = (28, 28, 64, 64)
    one_by_one = [F.box_to_mask(image, box, points=CLICKS[:n]).bitmap for n in range(5)]
    F._STEPS.clear()
    at_once = F.box_to_mask(image, box, points=CLICKS).bitmap
    assert np.array_equal(at_once, one_by_one[-1])


def test_other_pixels_under_the_same_box_and_clicks_are_worked_anew():
    box = (28, 28, 64, 64)
    first, second = _scene(3), _scene(4)
    second[30:90, 30:90] = (40, 110, 40)  # the body gone: only the arm is red-free
    F.box_to_mask(first, box, points=CLICKS[:2])
    warm = F.box_to_mask(second, box, points=CLICKS[:3]).bitmap
    F._STEPS.clear()
    cold = F.box_to_mask(second, box, points=CLICKS[:3]).bitmap
    assert np.array_equal(warm, cold)


def test_a_longer_sequence_worked_on_other_pixels_does_not_cost_a_replay(grabcuts):
    box = (28, 28, 64, 64)
    other, image = _scene(6), _scene(7)
    F.box_to_mask(other, box, points=CLICKS[:2])  # the same key, other pixels
    F.box_to_mask(image, box)
    grabcuts.clear()
    F.box_to_mask(image, box, points=CLICKS[:1])  # the box's answer on these pixels is kept
    assert len(grabcuts) <= 1, grabcuts


def _far_scene() -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """A 3000 x 4000 photo: a small red disc in its box, a large red plate far away."""
    rng = np.random.default_rng(0)
    image = rng.integers(60, 120, (3000, 4000, 3), dtype=np.uint8)
    cv2.circle(image, (600, 600), 90, (220, 40, 40), -1)
    cv2.rectangle(image, (2600, 1800), (3800, 2800), (220, 40, 40), -1)
    return image, (500.0, 500.0, 200.0, 200.0)


def test_a_far_click_costs_one_click_and_keeps_the_box_answer(grabcuts):
    # A positive click far outside grows the box, and the view with it (scaled to the
    # same pixel budget, so far coarser): the box's own answer, worked on the box's
    # view, is carried over, not worked again at that coarse scale.
    image, box = _far_scene()
    alone = F.box_to_mask(image, box).bitmap
    grabcuts.clear()
    far = F.box_to_mask(image, box, points=[(3200, 2300, True)]).bitmap
    assert len(grabcuts) <= 1 and max(max(shape[:2]) for shape in grabcuts) <= 120
    near = (slice(480, 720), slice(480, 720))
    both, either = np.logical_and(alone[near], far[near]), np.logical_or(alone[near], far[near])
    assert both.sum() / either.sum() > 0.9
    assert far[2300, 3200] == 1


def test_an_earlier_click_keeps_its_seed_when_a_later_one_disputes_its_area():
    # A positive click on the arm, then a negative click close beside it on the arm:
    # the negative click's edit may take much of the arm, never the earlier click's seed.
    image = _scene(5)
    box = (28, 28, 114, 64)
    clicks = [(118, 60, True), (124, 60, False)]
    bitmap = F.box_to_mask(image, box, points=clicks).bitmap
    assert bitmap[60, 118] == 1 and bitmap[60, 124] == 0
