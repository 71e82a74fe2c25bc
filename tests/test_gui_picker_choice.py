"""Picking the right category: name prefixes rank above matches inside a word, everyday
synonyms find COCO-80 categories ("fridge"), the toast names what Enter picked, and an
answer taken back (Ctrl+Backspace) comes back with its spots to edit."""

from __future__ import annotations

from gui_stage_support import click_image, rows, spotting_fixtures
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from pipeline.store import schema as s
from pipeline.vocabulary import CategoryIndex, shipped_vocabulary


def names(hits):
    return [c.name for c in hits]


def test_a_name_prefix_ranks_above_a_word_start_a_substring_and_the_definition():
    index = CategoryIndex(shipped_vocabulary("coco").categories)
    # "fri": frisbee's name starts with it; the fridge's synonym only starts a word
    assert names(index.search("fri"))[:2] == ["frisbee", "refrigerator"]
    # everyday synonyms of the same things (WordNet lemmas of the COCO synsets)
    assert names(index.search("fridge"))[0] == "refrigerator"
    assert names(index.search("television"))[0] == "tv"
    assert names(index.search("hotdog"))[0] == "hot dog"
    assert names(index.search("table"))[0] == "dining table"
    # name prefix > synonym prefix > a word start inside a label > a substring
    te = names(index.search("te"))
    assert te[:3] == ["teddy bear", "tennis racket", "tv"]  # television set: a synonym
    assert te.index("cell phone") < te.index("cat")  # "telephone" starts a word; "kitten" holds it
    # "dr": a word of "hair drier" starts with it; "hydrant" holds it; then definitions
    assert names(index.search("dr"))[:2] == ["hair drier", "fire hydrant"]


work, view = spotting_fixtures()  # a 2-image tiny_coco project, its stage-1 view


def test_the_toast_names_the_category_enter_picked(view):
    item = view.items[0]
    click_image(view, item.image.width / 2, item.image.height / 2)
    QTest.keyClicks(view.picker.query, "fri")
    QTest.keyClick(view.picker.query, Qt.Key.Key_Return)
    assert view.toast.isVisible()
    assert view.toast.text() == "Spotted: frisbee"


def test_taking_back_a_spotting_answer_restores_its_spots_for_editing(view, work):
    item = view.items[0]
    w, h = item.image.width, item.image.height
    for query, x, y in (("fridge", w * 0.25, h * 0.25), ("kite", w * 0.75, h * 0.5)):
        click_image(view, x, y)
        QTest.keyClicks(view.picker.query, query)
        QTest.keyClick(view.picker.query, Qt.Key.Key_Return)
    submitted = list(view.spots)
    QTest.keyClick(view.canvas, Qt.Key.Key_Return)  # submits
    assert rows(work.project, s.spots, s.spots.c.image_id == item.image.id)
    assert view.items[0].id != item.id

    QTest.keyClick(view.canvas, Qt.Key.Key_Backspace, Qt.KeyboardModifier.ControlModifier)
    assert view.items[0].id == item.id  # the same image, answered anew
    assert view.spots == submitted  # with its spots, to edit
    assert len(view._spot_items) == 2
    assert not rows(work.project, s.spots, s.spots.c.image_id == item.image.id)
    QTest.keyClick(view.canvas, Qt.Key.Key_Delete)  # edit: the kite goes
    QTest.keyClick(view.canvas, Qt.Key.Key_Return)
    again = rows(work.project, s.spots, s.spots.c.image_id == item.image.id)
    assert [r.category_id for r in again] == [submitted[0].category_id]
