"""The category picker over the real LVIS vocabulary, driven by real keys and clicks."""

from __future__ import annotations

from dataclasses import replace

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtTest import QTest

from app.gui.widgets.category_picker import RESULT_LIMIT, CategoryPicker
from pipeline.vocabulary import shipped_vocabulary


@pytest.fixture(scope="module")
def lvis():
    categories = shipped_vocabulary("lvis").categories
    return [replace(c, id=i + 1) for i, c in enumerate(categories)]


@pytest.fixture
def picker(qtbot, lvis):
    widget = CategoryPicker(lvis)
    qtbot.addWidget(widget)
    widget.resize(420, 500)
    widget.show()
    qtbot.waitExposed(widget)
    widget.reset()
    return widget


def by_name(lvis, name):
    return next(c for c in lvis if c.name == name)


def names(picker):
    return [c.name for c in picker.model.hits]


def test_typing_a_name_lists_it_first_and_enter_picks_it(qtbot, picker):
    QTest.keyClicks(picker.query, "zebra")
    assert names(picker)[0] == "zebra"
    with qtbot.waitSignal(picker.picked) as signal:
        QTest.keyClick(picker.query, Qt.Key.Key_Return)
    assert signal.args[0].name == "zebra"


def test_a_synonym_and_words_of_a_definition_find_the_category(picker, lvis):
    QTest.keyClicks(picker.query, "automobile")  # a synonym of car_(automobile)
    assert "car_(automobile)" in names(picker)[:3]
    picker.query.clear()
    QTest.keyClicks(picker.query, "striped")  # only in definitions: zebra's among them
    assert "zebra" in names(picker)


def test_down_and_up_move_the_choice_and_a_click_picks_a_row(qtbot, picker):
    QTest.keyClicks(picker.query, "bat")
    first, second = picker.model.hits[0], picker.model.hits[1]
    QTest.keyClick(picker.query, Qt.Key.Key_Down)
    assert picker.current() == second
    QTest.keyClick(picker.query, Qt.Key.Key_Up)
    assert picker.current() == first
    rect = picker.list.visualRect(picker.model.index(1))
    with qtbot.waitSignal(picker.picked) as signal:
        QTest.mouseClick(picker.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert signal.args[0] == second


def test_the_most_used_categories_of_the_project_come_first(picker, lvis):
    QTest.keyClicks(picker.query, "bag")
    plain = names(picker)
    rarely_first = [n for n in plain if n != plain[0] and "bag" in n][-1]
    picker.set_usage({by_name(lvis, rarely_first).id: 40})
    picker.query.clear()
    QTest.keyClicks(picker.query, "bag")
    # usage orders within a rank: the used one now leads the categories ranked like it
    assert names(picker).index(rarely_first) < plain.index(rarely_first)
    picker.query.clear()
    assert names(picker)[0] == rarely_first  # the empty query lists by usage


def test_the_last_used_categories_are_one_key_away(qtbot, picker, lvis):
    for name in ("zebra", "banana"):
        picker.reset()
        QTest.keyClicks(picker.query, name)
        QTest.keyClick(picker.query, Qt.Key.Key_Return)
    picker.reset()
    assert names(picker)[:2] == ["banana", "zebra"]  # the empty query: most recent first
    with qtbot.waitSignal(picker.picked) as signal:
        QTest.keyClick(picker.query, Qt.Key.Key_2, Qt.KeyboardModifier.AltModifier)
    assert signal.args[0].name == "zebra"
    assert "Alt+1 zebra   Alt+2 banana" in picker.recent_label.text()  # zebra just used


def test_an_excluded_category_cannot_be_picked_and_the_picker_says_why(qtbot, picker, lvis):
    zebra = by_name(lvis, "zebra")
    picker.set_excluded({zebra.id: "verified absent in this image"})
    QTest.keyClicks(picker.query, "zebra")
    assert names(picker)[0] == "zebra"  # still shown, greyed, and selected
    assert picker.current() == zebra
    with qtbot.assertNotEmitted(picker.picked):
        QTest.keyClick(picker.query, Qt.Key.Key_Return)
    assert "cannot be picked" in picker.message.text()
    assert "verified absent" in picker.message.text()


def test_with_nothing_typed_the_pickable_categories_come_before_the_excluded(picker, lvis):
    shown = names(picker)[:3]
    picker.set_excluded({by_name(lvis, name).id: "rejected at marking" for name in shown})
    after = names(picker)
    assert not set(shown) & set(after[: len(after) - 3])  # the excluded ones moved down
    assert picker.current() is not None and picker.current().name not in shown
    QTest.keyClicks(picker.query, shown[0])  # typed, the best hit leads even when excluded
    assert names(picker)[0] == shown[0]


def test_escape_cancels_and_no_match_says_so(qtbot, picker):
    QTest.keyClicks(picker.query, "qqxqq")
    assert picker.model.hits == []
    assert "No category matches" in picker.message.text()
    with qtbot.waitSignal(picker.cancelled):
        QTest.keyClick(picker.query, Qt.Key.Key_Escape)


def test_typing_narrows_the_search_without_changing_its_result(picker, lvis):
    from pipeline.vocabulary import CategoryIndex

    index = CategoryIndex(lvis)
    for word in ("baseball bat", "a container for", "bottlecap", "t shirt", "zz top"):
        picker.reset()
        for end in range(1, len(word) + 1):
            QTest.keyClick(picker.query, word[end - 1])
            assert picker.model.hits == index.search(word[:end], limit=RESULT_LIMIT)


def test_a_keystroke_signals_only_the_rows_whose_category_changed(picker):
    QTest.keyClicks(picker.query, "baseball")
    signalled: list[tuple[int, int]] = []
    picker.model.dataChanged.connect(
        lambda first, last, *_: signalled.append((first.row(), last.row()))
    )
    kept = list(picker.model.hits)
    QTest.keyClick(picker.query, Qt.Key.Key_Space)  # 'baseball ' is 'baseball': the same list
    assert picker.model.hits == kept and signalled == []
    QTest.keyClick(picker.query, "g")  # 'baseball g': baseball glove alone
    changed = {row for row, category in enumerate(picker.model.hits) if kept[row] is not category}
    assert changed and {first for first, _ in signalled} == changed
    assert all(first == last for first, last in signalled)  # row by row: no full repaint


def test_excluding_or_using_a_category_redraws_every_row(picker, lvis):
    QTest.keyClicks(picker.query, "bag")
    signalled: list[tuple[int, int]] = []
    picker.model.dataChanged.connect(
        lambda first, last, *_: signalled.append((first.row(), last.row()))
    )
    picker.set_excluded({by_name(lvis, "bagel").id: "rejected at marking"})
    assert (0, len(picker.model.hits) - 1) in signalled  # its greyed look and reason


def darkest_in_name_line(picker, row: int) -> int:
    """The darkest grey level on the first text line of ``row`` as painted."""
    rect = picker.list.visualRect(picker.model.index(row))
    image = picker.list.viewport().grab(rect).toImage()
    line = picker.list.fontMetrics().height()
    return min(
        QColor(image.pixel(x, y)).lightness()
        for y in range(4, 4 + line)
        for x in range(image.width())
    )


def test_rows_laid_out_in_idle_time_draw_names_and_grey_an_excluded_one(qtbot, picker):
    qtbot.waitUntil(lambda: not picker.warming(), timeout=10_000)  # rows laid out ahead
    QTest.keyClicks(picker.query, "bat")
    plain = darkest_in_name_line(picker, 2)
    assert plain < 80  # the name in the text colour
    picker.set_excluded({picker.model.hits[1].id: "verified absent"})
    assert darkest_in_name_line(picker, 1) > plain + 40  # greyed
    assert darkest_in_name_line(picker, 2) == plain  # its neighbour unchanged
