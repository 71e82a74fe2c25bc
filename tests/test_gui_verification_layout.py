"""Stage 4's page layout: a page shorter than the window's capacity (the last masks of a
project, on a wide screen) is laid out so that each crop gets the most room, not in two
rows of tall, narrow tiles with the crop small in the middle (seen in the issue-18
screenshots at 1920x1080: 11 masks as 2 x 6 tiles of about 240 x 460 px)."""

from __future__ import annotations

from gui_stage_support import verification_view
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest


def test_a_short_page_on_a_wide_view_gets_roomy_tiles(qtbot, tiny_coco, tmp_path):
    with verification_view(qtbot, tiny_coco, tmp_path, (1650, 960)) as (_, view):
        qtbot.waitUntil(lambda: bool(view.tiles), timeout=10000)
        grid = view.grid
        capacity_rows, capacity_columns = grid.capacity()
        count = len(view.tiles)
        assert capacity_columns < count < capacity_rows * capacity_columns  # a short page
        assert grid.rows * grid.columns >= count
        assert grid.rows <= capacity_rows and grid.columns <= capacity_columns
        tile = grid.tile_rect(0)
        assert tile.height() < 1.5 * tile.width(), (grid.rows, grid.columns, tile)
        # the width a 4:3 crop gets is the most any layout of the page gives
        room = min(tile.width(), (tile.height() - 22) * 4 / 3)
        for columns in range(1, capacity_columns + 1):
            rows = -(-count // columns)
            if rows <= capacity_rows:
                other = min(grid.width() / columns - 8, (grid.height() / rows - 30) * 4 / 3)
                assert room >= other - 12, (columns, rows, other, room)
        # the arrows follow the layout: Down moves one row of this page
        QTest.keyClick(grid, Qt.Key.Key_Down)
        assert grid.selected == grid.columns
        # every tile lies inside the grid
        last = grid.tile_rect(count - 1)
        assert grid.rect().contains(last)
