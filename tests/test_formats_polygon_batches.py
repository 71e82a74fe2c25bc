"""PolygonBatches (the import's polygons encoded many images at a time) gives for each
image exactly what encode_polygons gives for that image alone: problems, kinds, bytes,
pixel areas and extents, whatever else is in the batch (other sizes, broken parts)."""

from __future__ import annotations

import numpy as np

from pipeline.formats.masks import EncodedMasks, PolygonBatches, encode_polygons


def _images() -> list[tuple[list, int, int]]:
    rng = np.random.default_rng(3)
    images = []
    for k in range(12):
        height, width = ((48, 64), (64, 48), (30, 40))[k % 3]
        segs: list = []
        for _ in range(int(rng.integers(0, 6))):
            parts = []
            for _ in range(int(rng.integers(1, 3))):
                n = int(rng.integers(3, 9))
                xs = rng.uniform(0, width, n).round(2)
                ys = rng.uniform(0, height, n).round(2)
                parts.append(np.stack([xs, ys], axis=1).reshape(-1).tolist())
            segs.append(parts)
        images.append((segs, height, width))
    # Broken ones: a point outside the image, a part on one line, a part too short,
    # something that is not a number (the batch falls back one by one), an empty list.
    images[0][0].append([[1, 1, 5, 1, 3, 99.0]])
    images[1][0].append([[1, 1, 2, 2, 3, 3]])
    images[2][0].append([[1, 1, 2, 2]])
    images[3][0].append([[1, 1, "x", 2, 3, 9]])
    images[4][0].append([])
    images[5][0].append([[1, 1, 9, 1, 5, 7], [2, 2, 2, 2, 2, 2]])
    return images


def _same(got: EncodedMasks, want: EncodedMasks) -> None:
    assert got.count == want.count
    assert got.problems == want.problems
    assert got.kinds == want.kinds
    assert got.data == want.data
    assert got.areas == want.areas
    np.testing.assert_array_equal(got.boxes, want.boxes)


def test_each_image_gets_what_encode_polygons_gives_it_alone():
    images = _images()
    batches = PolygonBatches()
    batches.prepare(images)
    assert any(e.problems for e in (encode_polygons(*i) for i in images))
    for segs, height, width in images:
        _same(batches.encode(segs, height, width), encode_polygons(segs, height, width))


def test_what_is_not_in_the_batch_is_encoded_on_the_spot():
    images = _images()
    batches = PolygonBatches()
    batches.prepare(images[:4])
    for segs, height, width in images:  # the last eight were not prepared
        _same(batches.encode(segs, height, width), encode_polygons(segs, height, width))
    # The same lists asked for at another size are not taken from the batch.
    segs, height, width = images[0]
    _same(batches.encode(segs, width, height), encode_polygons(segs, width, height))
