"""Mask maths, free of the database and of Qt.

- :mod:`.geometry`: masks as polygons or RLE, their areas, boxes and conversions;
- :mod:`.polygon_bytes`: polygons packed as bytes for storage;
- :mod:`.edits`: the pure edits (polygon, hole, vertex, brush, eraser) that the canvas
  applies to a mask being drawn.
"""
