"""Clicks refine a proposal in the mask editor (stage 3 and Explorer corrections use it):
after a box proposal, a left click with the prompt tool adds a positive point, a right
click or Alt+click a negative one; the mask updates in place through the real model
worker, and Ctrl+Z takes each click back."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from app.gui.editor import MaskEditor
from app.gui.workers.model import ModelWorker
from pipeline.masks.geometry import Mask

W, H = 160, 120


class ClassicalPrompts:
    """The classical fallback (GrabCut with the clicks as hard seeds) as the worker's
    predictor: real masks from real pixels, no network."""

    trained = False

    def box_to_mask(self, pixels, box, category=None, points=()):
        from model import fallback

        found = fallback.box_to_mask(pixels, box, None, points)
        return SimpleNamespace(mask=Mask.from_bitmap(found.bitmap), score=1.0, source="grabcut")

    def point_to_mask(self, pixels, point, category=None, points=()):
        x, y = point
        return self.box_to_mask(pixels, (max(0, x - 30), max(0, y - 30), 60, 60), category, points)


def picture() -> np.ndarray:
    """Two bright squares side by side on a dark, slightly noisy ground."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 30, (H, W, 3)).astype(np.uint8)
    image[30:70, 20:60] = (230, 60, 60)
    image[30:70, 62:102] = (60, 60, 230)
    return image


@pytest.fixture
def editor(qtbot):
    worker = ModelWorker(predictor_factory=ClassicalPrompts)
    editor = MaskEditor(model_worker=worker)
    qtbot.addWidget(editor)
    editor.resize(800, 640)
    editor.show()
    qtbot.waitExposed(editor)
    editor.load(picture(), (), None, category="thing")
    editor.view.fit()
    yield editor
    worker.close()


def at(editor, x, y) -> QPoint:
    return editor.image_point_to_view(x, y).toPoint()


def wait_mask(qtbot, editor, count: int) -> None:
    qtbot.waitUntil(
        lambda: editor.undo_stack().count() == count and not editor.waiting_for_proposal,
        timeout=20000,
    )


def test_clicks_refine_the_proposal_in_place_and_each_is_undone(qtbot, editor):
    viewport = editor.view.viewport()
    QTest.keyClick(editor.view, Qt.Key.Key_M)
    assert editor.tool.name == "prompt"
    # a drag over the red square alone proposes its mask
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, pos=at(editor, 15, 25))
    QTest.mouseMove(viewport, at(editor, 45, 55))
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=at(editor, 64, 74))
    wait_mask(qtbot, editor, 1)
    first = editor.current_mask()
    assert first is not None and first.area > 0
    assert editor.clicks == ()

    # a left click on the blue square: positive, the mask grows over it, in place
    QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=at(editor, 85, 50))
    wait_mask(qtbot, editor, 2)
    grown = editor.current_mask()
    assert editor.clicks == ((pytest.approx(85, abs=1), pytest.approx(50, abs=1), True),)
    assert grown.to_bitmap()[50, 85] and grown.area > first.area
    assert editor.undo_stack().text(1) == "Positive click"

    # a right click inside the red square: negative, that area leaves the mask
    QTest.mouseClick(viewport, Qt.MouseButton.RightButton, pos=at(editor, 40, 50))
    wait_mask(qtbot, editor, 3)
    assert [c[2] for c in editor.clicks] == [True, False]
    assert not editor.current_mask().to_bitmap()[50, 40]
    assert editor.undo_stack().text(2) == "Negative click"
    # Alt+click is a negative click too (one-button mice)
    QTest.mouseClick(
        viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.AltModifier, at(editor, 30, 40)
    )
    wait_mask(qtbot, editor, 4)
    assert [c[2] for c in editor.clicks] == [True, False, False]

    # every click is undone on its own: the mask and the clicks go back together
    editor.undo_stack().undo()
    assert [c[2] for c in editor.clicks] == [True, False]
    editor.undo_stack().undo()
    editor.undo_stack().undo()
    assert editor.clicks == ()
    assert editor.current_mask() == first
    # the next click refines what is on screen: the box and this one click
    QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=at(editor, 85, 50))
    wait_mask(qtbot, editor, 2)
    assert len(editor.clicks) == 1


def test_a_click_without_a_prompt_asks_for_a_point_proposal(qtbot, editor):
    QTest.keyClick(editor.view, Qt.Key.Key_M)
    QTest.mouseClick(editor.view.viewport(), Qt.MouseButton.LeftButton, pos=at(editor, 40, 50))
    wait_mask(qtbot, editor, 1)
    assert editor.undo_stack().text(0).startswith("Model proposal")
    assert editor.current_mask().to_bitmap()[50, 40]


def test_stage_views_give_the_editor_its_prompt_so_the_first_click_refines(qtbot, editor):
    # the instance's box holds both squares; the right click says the blue one is not it
    editor.set_prompt(box=(15, 25, 92, 50))
    QTest.keyClick(editor.view, Qt.Key.Key_M)
    QTest.mouseClick(editor.view.viewport(), Qt.MouseButton.RightButton, pos=at(editor, 82, 50))
    wait_mask(qtbot, editor, 1)
    assert editor.undo_stack().text(0) == "Negative click"
    bitmap = editor.current_mask().to_bitmap()
    assert not bitmap[50, 82]
    assert bitmap[50, 40]  # the red square, which the click did not dispute, stays
