"""A scripted user of the main window: works every stage view with QTest mouse and key
events only, answering from the ground truth, and writes down what it clicked.

Used by the end-to-end test (one window works a project until every queue is empty)
and the two-window test. The user never calls a view's methods to answer; it reads the
views (what is shown, where) to know where to click, as a person reads the screen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from PySide6.QtCore import QPointF, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from pipeline.masks.geometry import Mask
from pipeline.stages import EXHAUSTIVE, MARKING, NEGATIVES, SEGMENTATION, SPOTTING, VERIFICATION

ACCEPT_IOU = 0.5  # the scripted verifier's bar (clicked polygons are a pixel off)
CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier


@dataclass
class Clicked:
    """What the scripted user answered, to compare with the export."""

    drawn: dict[int, Mask] = field(default_factory=dict)  # instance id -> last mask submitted
    absent: set[tuple[int, int]] = field(default_factory=set)  # (image, category) said N
    not_exhaustive: set[tuple[int, int]] = field(default_factory=set)  # said M
    rejected: int = 0
    answers: dict[int, int] = field(default_factory=lambda: dict.fromkeys(range(1, 7), 0))
    seen_items: list[tuple[int, int]] = field(default_factory=list)  # (stage, item id) shown


class GuiAnnotator:
    """Drives a MainWindow (see the module docstring)."""

    def __init__(self, qtbot: Any, window: Any, truth: Any, *, names: dict[int, str]) -> None:
        self.qtbot = qtbot
        self.win = window
        self.truth = truth
        self.names = names
        self.clicked = Clicked()
        self.mark_missing_once = True  # answer one stage-5 pair "missing, not marked"

    # ------------------------------------------------------------ driving

    def focus(self) -> None:
        """Make this user's window the active one (shortcuts act on the active window)."""
        if not self.win.isActiveWindow():
            self.win.activateWindow()
            self.qtbot.waitUntil(self.win.isActiveWindow, timeout=3000)

    def go(self, stage: int) -> Any:
        self.focus()
        QTest.keyClick(self.win, Qt.Key(Qt.Key.Key_0 + stage), CTRL)
        assert self.win.current_stage == stage
        return self.win.views[stage]

    def work_stage(self, stage: int, limit: int = 400) -> int:
        """Answer what the stage shows until it is empty; returns how many answers."""
        view = self.go(stage)
        done = 0
        while view.items and done < limit:
            done += self.answer_one(stage)
        return done

    def answer_one(self, stage: int) -> int:
        """Answer the item (or page) the current view of ``stage`` shows; 0 if none."""
        self.focus()
        view = self.win.views[stage]
        if not view.items:
            return 0
        for item in view.items[:1] if stage != VERIFICATION else view.items:
            self.clicked.seen_items.append((stage, item.id))
        answer = {
            SPOTTING: self.spot,
            MARKING: self.mark,
            SEGMENTATION: self.segment,
            VERIFICATION: self.verify,
            EXHAUSTIVE: self.exhaustive,
            NEGATIVES: self.negative,
        }[stage]
        done = answer(view)
        self.clicked.answers[stage] += done
        return done

    def work_all(self, rounds: int = 30) -> None:
        """Every stage in turn until a whole round answers nothing."""
        for _ in range(rounds):
            if not sum(self.work_stage(stage) for stage in range(1, 7)):
                return
        raise AssertionError("the stages did not run dry")

    # ------------------------------------------------------------ clicks

    @staticmethod
    def click_canvas(canvas: Any, x: float, y: float, button=Qt.MouseButton.LeftButton) -> None:
        pos = canvas.image_to_view(QPointF(x, y)).toPoint()
        QTest.mouseClick(canvas.viewport(), button, pos=pos)

    def image(self, item: Any) -> Any:
        found = self.truth.images[item.image.id]
        found.ensure_points()
        return found

    # ------------------------------------------------------------ the stages

    def spot(self, view: Any) -> int:
        item = view.items[0]
        truth = self.image(item)
        known = {k.category_id for k in item.known} | set(item.excluded_category_ids)
        new = sorted(truth.present - known)
        for category_id in new:
            self.click_canvas(view.canvas, *truth.of(category_id)[0].point)
            QTest.keyClicks(view.picker.query, self.names[category_id])
            QTest.keyClick(view.picker.query, Qt.Key.Key_Return)
        QTest.keyClick(view.canvas, Qt.Key.Key_Return if new else Qt.Key.Key_N)
        return 1

    def mark(self, view: Any) -> int:
        item = view.items[0]
        instances = self.image(item).of(item.category.id)
        if not instances:
            QTest.keyClick(view.canvas, Qt.Key.Key_N)
            return 1
        QTest.keyClick(view.canvas, Qt.Key.Key_Y)
        existing = [(m.x, m.y) for m in item.marks if m.x is not None] + [
            (m.x, m.y) for m in view.marks
        ]
        for t in instances:
            px, py = t.point
            if any(abs(px - x) <= 2 and abs(py - y) <= 2 for x, y in existing):
                continue  # the spotted (or imported) instance is marked already
            self.click_canvas(view.canvas, px, py)
        QTest.keyClick(view.canvas, Qt.Key.Key_Return)
        return 1

    def segment(self, view: Any) -> int:
        item = view.items[0]
        target = self.image(item).match(item.category.id, item.instance.x, item.instance.y)
        # let a proposal on its way land first: drawing starts from a settled editor
        self.qtbot.waitUntil(
            lambda: view.editor.current_mask() is not None or item.id not in view.proposals,
            timeout=20000,
        )
        canvas = view.editor.view
        if view.editor.current_mask() is not None:
            QTest.keyClick(canvas, Qt.Key.Key_Backspace, CTRL | SHIFT)  # clear
        QTest.keyClick(canvas, Qt.Key.Key_P)
        for ring in self.rings(target.mask, canvas.scale_factor):
            for x, y in ring:
                self.click_canvas(canvas, x, y)
            QTest.keyClick(canvas, Qt.Key.Key_Return)  # closes the polygon
        drawn = view.editor.current_mask()
        assert drawn is not None and drawn.area > 0
        QTest.keyClick(canvas, Qt.Key.Key_Return)  # submits
        self.clicked.drawn[item.instance.id] = drawn
        return 1

    @staticmethod
    def rings(mask: Mask, scale: float) -> list[list[tuple[float, float]]]:
        """The outline(s) to click: each part's exterior, simplified to about a screen
        pixel, no vertex near the first one (a click there would close the polygon)."""
        bitmap = mask.to_bitmap()
        contours, _ = cv2.findContours(bitmap, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        rings = []
        for contour in sorted(contours, key=cv2.contourArea, reverse=True):
            if cv2.contourArea(contour) < 200:
                continue  # specks: not worth a polygon
            simple = cv2.approxPolyDP(contour, max(1.0, 2.0 / scale), True).reshape(-1, 2)
            points = [(float(x) + 0.5, float(y) + 0.5) for x, y in simple]
            first = np.array(points[0])
            kept = [points[0]] + [
                p for p in points[1:] if np.hypot(*(np.array(p) - first)) * scale > 12
            ]
            if len(kept) >= 3:
                rings.append(kept)
        return rings

    def verify(self, view: Any) -> int:
        grid = view.grid
        count = len(view.tiles)
        for index in range(count):
            tile = view.tiles[index]
            QTest.mouseClick(grid, Qt.MouseButton.LeftButton, pos=grid.tile_rect(index).center())
            target = self.image(tile.item).match(
                tile.item.category.id, tile.item.instance.x, tile.item.instance.y
            )
            if tile.item.segment.mask.iou(target.mask) >= ACCEPT_IOU:
                QTest.keyClick(grid, Qt.Key.Key_A)
            else:
                self.choose_reason(Qt.Key.Key_1)
                QTest.keyClick(grid, Qt.Key.Key_R)
                self.clicked.rejected += 1
        QTest.keyClick(grid, Qt.Key.Key_Return)
        return count

    @staticmethod
    def choose_reason(key: Qt.Key) -> None:
        def choose() -> None:
            popup = QApplication.activePopupWidget()
            assert popup is not None, "the reason menu did not open"
            QTest.keyClick(popup, key)

        QTimer.singleShot(30, choose)

    def exhaustive(self, view: Any) -> int:
        item = view.items[0]
        truth = self.image(item)
        pair = (item.image.id, item.category.id)
        if self.mark_missing_once:
            self.mark_missing_once = False
            QTest.keyClick(view.canvas, Qt.Key.Key_M)
            self.clicked.not_exhaustive.add(pair)
            return 1
        covered = set()
        for a in item.annotations:
            found = truth.match(a.instance.category_id, a.instance.x, a.instance.y)
            if found is not None:
                covered.add(id(found))
        missing = [t for t in truth.of(item.category.id) if id(t) not in covered]
        if not missing:
            QTest.keyClick(view.canvas, Qt.Key.Key_A)
            return 1
        for t in missing:
            self.click_canvas(view.canvas, *t.point)
        QTest.keyClick(view.canvas, Qt.Key.Key_Return)
        return 1

    def negative(self, view: Any) -> int:
        item = view.items[0]
        present = item.category.id in self.image(item).anywhere
        QTest.keyClick(view.canvas, Qt.Key.Key_Y if present else Qt.Key.Key_N)
        if not present:
            self.clicked.absent.add((item.image.id, item.category.id))
        return 1
