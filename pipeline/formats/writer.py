"""Storing an import: categories, images, instances, segments and federated labels.

Everything happens in the caller's transaction (one import, one transaction). Imported
annotations are stored as an accepted instance with an accepted segment version 1
(``source='imported'``, ``tool='imported'``; the columns of
:func:`annotations.instance_values` and :func:`annotations.segment_values`), in bulk: rows are
written with ``executemany`` and ids are handed out here, under the write lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import chain
from typing import Any

from sqlalchemy import Table, and_, bindparam, exists, func, literal, null, select, text, true
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Select
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from ..images import stored_path
from ..store import schema as s
from ..store.database import Project, inserted_id, now, read_meta_json, write_meta_json
from ..vocabulary import merge_categories, normalize
from .report import ImportReport
from .source import BOX_ONLY, Encoded, Key, SourceCategory, SourceImage

# Rows buffered before they are sent to the database.
FLUSH_ROWS = 20_000

# Project meta keys: what COCO/LVIS files carry that the schema has no column for.
META_SUPERCATEGORIES = "formats.supercategories"  # {category id: supercategory}
META_LICENSES = "formats.licenses"  # [{"id", "name", "url"}, ...]

# SQLite page cache of the importing connection (KiB): see ImportWriter.__init__.
CACHE_KIB = 256 * 1024

# Rows a multi-row INSERT carries: one statement (and one trip through SQLite's
# parser and the GIL) per this many rows instead of one per row.
ROWS_PER_STATEMENT = 500

# The columns an import sets per row; the others are the same for every row of an
# import (status, source, tool, version, created_at) and go in as constants.
INSTANCE_COLUMNS = (
    "id", "image_id", "category_id", "box_x", "box_y", "box_w", "box_h", "is_crowd",
    "source_id",
)  # fmt: skip
SEGMENT_COLUMNS = (
    "id", "instance_id", "mask_kind", "mask", "area", "bbox_x", "bbox_y", "bbox_w", "bbox_h",
)  # fmt: skip
PAIR_COLUMNS = ("image_id", "category_id", "state", "exhaustive")
# A box-only annotation: a marked instance (its point the box's centre), no segment.
MARKED_COLUMNS = (
    "id", "image_id", "category_id", "x", "y", "box_x", "box_y", "box_w", "box_h", "source_id",
)  # fmt: skip
_NO_BOX = (None, None, None, None)


class ImportWriter:
    """Writes one import into an open write transaction."""

    def __init__(
        self,
        conn: Connection,
        project: Project,
        report: ImportReport,
        *,
        split: str,
        exhaustive: bool | None,
    ) -> None:
        self.conn = conn
        self.project = project
        self.report = report
        self.split = split
        # What the input says about an imported positive pair's exhaustiveness when it
        # does not list it as not exhaustive: LVIS asserts True, COCO and labelme nothing.
        self.exhaustive = exhaustive
        # The categories the input is exhaustive over (COCO): on each image, those it
        # does not annotate become verified negatives. None: the input says nothing.
        self.exhaustive_over: list[int] | None = None
        self.exhaustive_images: list[int] = []
        self.created = now()
        self.sqlite = conn.dialect.name == "sqlite"
        if self.sqlite:
            # A bulk insert touches index pages all over (one per category); a page cache
            # that holds them saves re-reading them from the OS. Only this connection.
            conn.exec_driver_sql(f"PRAGMA cache_size = -{CACHE_KIB}")
        if conn.dialect.name == "postgresql":
            # Ids are handed out here: keep other writers out of these tables meanwhile.
            conn.execute(
                text(
                    "LOCK TABLE images, instances, segments, image_categories "
                    "IN SHARE ROW EXCLUSIVE MODE"
                )
            )
        self.next_image = self._next_id(s.images)
        self.next_instance = self._next_id(s.instances)
        self.next_segment = self._next_id(s.segments)
        self.instances: list[tuple] = []
        self.marked: list[tuple] = []
        self.segments: list[tuple] = []
        self.pairs: list[tuple] = []
        self.reused: set[int] = set()
        self.existing_pairs: dict[tuple[int, int], tuple[str, bool | None]] = {}
        self.imported_ids: dict[int, set[int]] = {}
        self.pair_updates: list[dict[str, Any]] = []

    # ------------------------------------------------------------ categories

    def categories(self, sources: Sequence[SourceCategory]) -> dict[Key, int]:
        """Merge the input's categories into the vocabulary by name; input key -> category id."""
        added, kept = merge_categories(self.conn, [c.category for c in sources])
        self.report.categories_added += added
        self.report.categories_matched += kept
        rows = self.conn.execute(
            select(s.categories.c.id, s.categories.c.name, s.categories.c.source_id)
        ).all()
        by_name = {normalize(r.name): r for r in rows}
        used = {r.source_id for r in rows if r.source_id is not None}
        ids: dict[Key, int] = {}
        supercategories = read_meta_json(self.conn, META_SUPERCATEGORIES, {})
        for source in sources:
            row = by_name[source.category.key]
            ids[source.key] = row.id
            wanted = source.category.source_id
            # A category the project had without an id takes the file's, so that an
            # export gives it back under the same id (unless another category has it).
            if row.source_id is None and wanted is not None and wanted not in used:
                self.conn.execute(
                    s.categories.update()
                    .where(s.categories.c.id == row.id)
                    .values(source_id=wanted)
                )
                used.add(wanted)
            if source.supercategory and str(row.id) not in supercategories:
                supercategories[str(row.id)] = source.supercategory
        write_meta_json(self.conn, META_SUPERCATEGORIES, supercategories)
        return ids

    def licenses(self, licenses: Iterable[dict[str, Any]]) -> None:
        """Keep the input's license list (merged by id, the first one seen wins)."""
        known = read_meta_json(self.conn, META_LICENSES, [])
        ids = {item.get("id") for item in known}
        for item in licenses:
            if item.get("id") not in ids:
                known.append(item)
                ids.add(item.get("id"))
        known.sort(key=lambda item: (str(type(item.get("id"))), item.get("id")))
        write_meta_json(self.conn, META_LICENSES, known)

    # ------------------------------------------------------------ images

    def images(self, images: Sequence[SourceImage]) -> dict[Key, int]:
        """Store new images, reuse those already in the project (same file); key -> image id.

        An image whose file is already in the project with another size, or that names
        the same file as another image of the input, is a problem and gets no id.
        """
        known = {
            r.path: r
            for r in self.conn.execute(
                select(s.images.c.id, s.images.c.path, s.images.c.width, s.images.c.height)
            )
        }
        seen: dict[str, Key] = {}
        ids: dict[Key, int] = {}
        rows = []
        updates: list[dict[str, Any]] = []
        for image in images:
            stored = stored_path(self.project, image.path)  # a followed link stays itself
            if stored in seen:
                self.report.problem(
                    f"names the same image file as image {seen[stored]} ({stored})",
                    file=image.file,
                    image_id=image.key,
                )
                self.report.images_skipped += 1
                continue
            seen[stored] = image.key
            row = known.get(stored)
            if row is not None:
                if (row.width, row.height) != (image.width, image.height):
                    self.report.problem(
                        f"the project already has this file ({stored}) as a "
                        f"{row.width}x{row.height} image, the input says "
                        f"{image.width}x{image.height}",
                        file=image.file,
                        image_id=image.key,
                    )
                    self.report.images_skipped += 1
                    continue
                ids[image.key] = row.id
                self.reused.add(row.id)
                self.report.images_reused += 1
                updates.append(
                    {
                        "b_id": row.id,
                        "b_split": image.split or self.split,
                        "b_coco_url": image.coco_url,
                        "b_extra": image.extra or None,
                    }
                )
                continue
            image_id = self.next_image
            self.next_image += 1
            ids[image.key] = image_id
            info = image.info
            rows.append(
                {
                    "id": image_id,
                    "path": stored,
                    "file_name": image.file_name,
                    "width": image.width,
                    "height": image.height,
                    "sha256": info.sha256 if info else None,
                    "file_size": info.file_size if info else None,
                    "mtime_ns": info.mtime_ns if info else None,
                    "split": image.split or self.split,
                    "coco_url": image.coco_url,
                    "extra": image.extra or None,
                    "created_at": self.created,
                }
            )
        for start in range(0, len(rows), FLUSH_ROWS):
            self.conn.execute(s.images.insert(), rows[start : start + FLUSH_ROWS])
        self.report.images_added += len(rows)
        if updates:
            # A reused image joins the import's split and gains what it lacked.
            table = s.images
            self.conn.execute(
                table.update()
                .where(table.c.id == bindparam("b_id"))
                .values(
                    split=bindparam("b_split"),
                    coco_url=func.coalesce(table.c.coco_url, bindparam("b_coco_url")),
                    extra=func.coalesce(
                        table.c.extra, bindparam("b_extra", type_=table.c.extra.type)
                    ),
                ),
                updates,
            )
        if self.reused:
            self._load_reused()
        return ids

    def _load_reused(self) -> None:
        """Pairs and imported annotation ids of the images this import adds to."""
        reused = sorted(self.reused)
        for start in range(0, len(reused), 500):
            chunk = reused[start : start + 500]
            pairs = s.pair_labels  # an earlier import's implicit negatives too
            for r in self.conn.execute(
                select(
                    pairs.c.image_id, pairs.c.category_id, pairs.c.state, pairs.c.exhaustive
                ).where(pairs.c.image_id.in_(chunk))
            ):
                self.existing_pairs[(r.image_id, r.category_id)] = (r.state, r.exhaustive)
            for row in self.conn.execute(
                select(s.instances.c.image_id, s.instances.c.source_id).where(
                    s.instances.c.image_id.in_(chunk),
                    s.instances.c.source == s.SOURCE_IMPORTED,
                    s.instances.c.source_id.is_not(None),
                )
            ):
                self.imported_ids.setdefault(row.image_id, set()).add(row.source_id)

    # ------------------------------------------------------------ annotations and labels

    def annotations(
        self,
        image: SourceImage,
        image_id: int,
        rows: Sequence[Encoded],
        category_ids: dict[Key, int],
    ) -> None:
        """Buffer the image's annotations and its federated labels."""
        negatives = {category_ids[k] for k in image.negative_keys if k in category_ids}
        not_exhaustive = {category_ids[k] for k in image.not_exhaustive_keys if k in category_ids}
        if image_id in self.reused:
            positives = self._checked_rows(image, image_id, rows, category_ids)
        else:
            positives = self._rows(image_id, rows, category_ids)
        for category_id in sorted(positives | not_exhaustive):
            flag = False if category_id in not_exhaustive else self.exhaustive
            self._pair(image_id, category_id, s.CONFIRMED, flag, image)
        for category_id in sorted(negatives):
            self._pair(image_id, category_id, s.NEGATIVE, None, image)
        if self.exhaustive_over is not None:
            self.exhaustive_images.append(image_id)  # its absent categories: see finish()
        if len(self.instances) >= FLUSH_ROWS:
            self.flush()

    def _rows(
        self, image_id: int, rows: Sequence[Encoded], category_ids: dict[Key, int]
    ) -> set[int]:
        """Buffer the rows of a new image (nothing to check against); its positive categories."""
        positives = set()
        instances, segments = self.instances, self.segments
        instance_id, segment_id = self.next_instance, self.next_segment
        crowd = 0
        for source_id, key, is_crowd, box, kind, data, area, bbox in rows:
            category_id = category_ids[key]
            if kind == BOX_ONLY:
                x, y, w, h = bbox
                self.marked.append(
                    (instance_id, image_id, category_id, x + w / 2, y + h / 2, *bbox, source_id)
                )
                instance_id += 1
                positives.add(category_id)
                continue
            instances.append(
                (instance_id, image_id, category_id, *(box or _NO_BOX), is_crowd, source_id)
            )
            segments.append((segment_id, instance_id, kind, data, area, *bbox))
            instance_id += 1
            segment_id += 1
            if is_crowd:
                crowd += 1
            else:
                positives.add(category_id)
        self.report.crowd += crowd
        self.report.instances += len(rows) - crowd
        self.next_instance, self.next_segment = instance_id, segment_id
        return positives

    def _checked_rows(
        self,
        image: SourceImage,
        image_id: int,
        rows: Sequence[Encoded],
        category_ids: dict[Key, int],
    ) -> set[int]:
        """Buffer the rows of an image already in the project: not twice, and not against
        what the project knows of its categories."""
        before = self.imported_ids.get(image_id, set())
        good = []
        for row in rows:
            category_id = category_ids[row.category_key]
            where = {"file": image.file, "image_id": image.key, "annotation_id": row.source_id}
            if row.source_id is not None and row.source_id in before:
                self.report.problem("was already imported into this image", **where)
                self.report.annotations_skipped += 1
                continue
            state = self.existing_pairs.get((image_id, category_id), (None, None))[0]
            if not row.is_crowd and state in (s.NEGATIVE, s.REJECTED):
                self.report.problem(
                    f"the project holds this category as {state} on this image", **where
                )
                self.report.annotations_skipped += 1
                continue
            good.append(row)
        return self._rows(image_id, good, category_ids)

    def _pair(
        self, image_id: int, category_id: int, state: str, flag: bool | None, image: SourceImage
    ) -> None:
        old = self.existing_pairs.get((image_id, category_id)) if self.existing_pairs else None
        if old is None:
            self.pairs.append((image_id, category_id, state, flag))
        else:
            old_state, old_flag = old
            said = "a verified negative" if state == s.NEGATIVE else "present"
            if (state == s.NEGATIVE) != (old_state in (s.NEGATIVE, s.REJECTED)):
                self.report.problem(
                    f"the input says category {category_id} is {said} on this image; "
                    f"the project has it as {old_state}",
                    file=image.file,
                    image_id=image.key,
                )
                return
            new_flag = old_flag if flag is None else flag
            if state == s.CONFIRMED and (old_state, old_flag) != (state, new_flag):
                self.pair_updates.append(
                    {"b_image": image_id, "b_category": category_id, "b_exhaustive": new_flag}
                )
        if state == s.NEGATIVE:
            self.report.negative_pairs += 1
        elif flag is False:
            self.report.not_exhaustive_pairs += 1

    def flush(self) -> None:
        """Send the buffered rows to the database."""
        created = self.created
        self._insert(
            s.instances,
            INSTANCE_COLUMNS,
            self.instances,
            {"status": s.ACCEPTED, "source": s.SOURCE_IMPORTED, "created_at": created},
        )
        self._insert(
            s.instances,
            MARKED_COLUMNS,
            self.marked,
            {"status": s.MARKED, "is_crowd": False, "source": s.SOURCE_IMPORTED,
             "created_at": created},
        )  # fmt: skip
        self._insert(
            s.segments,
            SEGMENT_COLUMNS,
            self.segments,
            {
                "version": 1,
                "status": s.SEGMENT_ACCEPTED,
                "tool": "imported",
                "source": s.SOURCE_IMPORTED,
                "created_at": created,
            },
        )
        self._insert(
            s.image_categories,
            PAIR_COLUMNS,
            self.pairs,
            {"source": s.SOURCE_IMPORTED, "updated_at": created},
        )
        if self.pair_updates:
            pairs = s.image_categories
            self.conn.execute(
                pairs.update()
                .where(
                    pairs.c.image_id == bindparam("b_image"),
                    pairs.c.category_id == bindparam("b_category"),
                )
                .values(state=s.CONFIRMED, exhaustive=bindparam("b_exhaustive"), updated_at=now()),
                self.pair_updates,
            )
        self.instances, self.segments, self.pairs, self.pair_updates = [], [], [], []
        self.marked = []

    def finish(self) -> None:
        """Store everything buffered, and on PostgreSQL move the id sequences past the
        ids handed out here."""
        self.flush()
        self._absent_negatives()
        if self.conn.dialect.name == "postgresql":
            for table in ("images", "instances", "segments"):
                self.conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"
                    )
                )

    def _absent_negatives(self) -> None:
        """The input is exhaustive over ``exhaustive_over`` (COCO): on each image it
        annotated, those categories with no instance and no pair yet become verified
        negatives. Stored once per image (decision 0080): one category set for the
        import, and one ``exhaustive_images`` row per image naming it; the
        ``pair_labels`` view reads the negatives out of them. An image some earlier
        import already made exhaustive keeps its set, and the categories this import
        adds to it get explicit negative rows (rare: a file imported onto its images
        again)."""
        if self.exhaustive_over is None or not self.exhaustive_images:
            return
        conn, members = self.conn, sorted(set(self.exhaustive_over))
        made = conn.execute(
            s.category_sets.insert().values(source=s.SOURCE_IMPORTED, created_at=self.created)
        )
        set_id = inserted_id(made)
        conn.execute(
            s.category_set_members.insert(),
            [{"set_id": set_id, "category_id": c} for c in members],
        )
        images = sorted(set(self.exhaustive_images))
        already: dict[int, int] = {}
        for start in range(0, len(images), 500):
            chunk = [i for i in images[start : start + 500] if i in self.reused]
            if chunk:
                ex = s.exhaustive_images
                query = select(ex.c.image_id, ex.c.set_id).where(ex.c.image_id.in_(chunk))
                already.update({r.image_id: r.set_id for r in conn.execute(query)})
        fresh = [i for i in images if i not in already]
        rows = [{"image_id": i, "set_id": set_id, "created_at": self.created} for i in fresh]
        for start in range(0, len(rows), FLUSH_ROWS):
            conn.execute(s.exhaustive_images.insert(), rows[start : start + FLUSH_ROWS])
        self.report.negative_pairs += self._implicit_negatives(set_id, len(fresh), len(members))
        if already:
            self._explicit_negatives(already, set_id)

    def _implicit_negatives(self, set_id: int, images: int, members: int) -> int:
        """How many negatives the ``images`` new exhaustive rows of set ``set_id`` make:
        every member pair, less those with a pair row or an instance (counted from those
        rows, which are few, rather than by listing the many negatives: one query)."""
        pairs, instances = s.image_categories, s.instances
        ex, mem = s.exhaustive_images, s.category_set_members

        def on_set_images(table: Table) -> Select:
            # joined, not two IN lists: SQLite would probe every (image, category) pair
            return (
                select(table.c.image_id, table.c.category_id)
                .join(ex, ex.c.image_id == table.c.image_id)
                .join(
                    mem, and_(mem.c.set_id == ex.c.set_id, mem.c.category_id == table.c.category_id)
                )
                .where(ex.c.set_id == set_id)
            )

        present = on_set_images(pairs).union(on_set_images(instances)).subquery()
        taken = int(self.conn.execute(select(func.count()).select_from(present)).scalar_one())
        return images * members - taken

    def _explicit_negatives(self, already: dict[int, int], set_id: int) -> None:
        """Explicit negative rows for the images that were exhaustive over another set:
        the categories of this import's set that are not negatives there already."""
        pairs, implicit = s.image_categories, s.implicit_negatives
        images, members = s.images, s.category_set_members
        columns = ["image_id", "category_id", "state", "exhaustive", "source", "updated_at"]
        chosen = sorted(already)
        for start in range(0, len(chosen), 500):
            chunk = chosen[start : start + 500]
            absent = (
                select(
                    images.c.id,
                    members.c.category_id,
                    literal(s.NEGATIVE),
                    null(),
                    literal(s.SOURCE_IMPORTED),
                    literal(self.created),
                )
                .select_from(images.join(members, true()))
                .where(
                    images.c.id.in_(chunk),
                    members.c.set_id == set_id,
                    # the parts of pair_labels, each: SQLite takes a correlated condition
                    # into a join view, not into a UNION ALL one
                    ~exists().where(
                        pairs.c.image_id == images.c.id,
                        pairs.c.category_id == members.c.category_id,
                    ),
                    ~exists().where(
                        implicit.c.image_id == images.c.id,
                        implicit.c.category_id == members.c.category_id,
                    ),
                    ~exists().where(
                        s.instances.c.image_id == images.c.id,
                        s.instances.c.category_id == members.c.category_id,
                    ),
                )
            )
            done = self.conn.execute(s.image_categories.insert().from_select(columns, absent))
            self.report.negative_pairs += max(done.rowcount, 0)

    # ------------------------------------------------------------ helpers

    def _next_id(self, table: Table) -> int:
        return (
            int(self.conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()) + 1
        )

    def _insert(
        self,
        table: Table,
        columns: Sequence[str],
        rows: list[tuple],
        constants: dict[str, Any],
    ) -> None:
        """Insert ``rows`` (values of ``columns``); every row also gets ``constants``, and
        any column added to the schema later its scalar default, as Core would give it."""
        if not rows:
            return
        constants = dict(constants)
        for column in table.columns:
            default = column.default
            unset = column.name not in columns and column.name not in constants
            if unset and isinstance(default, ScalarElementColumnDefault):
                constants[column.name] = default.arg
        if not self.sqlite:
            self.conn.execute(
                table.insert(),
                [{**dict(zip(columns, row, strict=True)), **constants} for row in rows],
            )
            return
        names = ", ".join([*columns, *constants])
        one = (
            "(" + ", ".join(["?"] * len(columns) + [_literal(v) for v in constants.values()]) + ")"
        )
        head = f"INSERT INTO {table.name} ({names}) VALUES "
        driver = self.conn.connection.driver_connection
        assert driver is not None  # an open connection's
        cursor = driver.cursor()
        try:
            full = len(rows) - len(rows) % ROWS_PER_STATEMENT
            if full:
                statement = head + ", ".join([one] * ROWS_PER_STATEMENT)
                for start in range(0, full, ROWS_PER_STATEMENT):
                    cursor.execute(
                        statement,
                        list(chain.from_iterable(rows[start : start + ROWS_PER_STATEMENT])),
                    )
            if full < len(rows):
                rest = rows[full:]
                cursor.execute(head + ", ".join([one] * len(rest)), list(chain.from_iterable(rest)))
        finally:
            cursor.close()


def _literal(value: Any) -> str:
    """A constant as SQL text (SQLite): NULL, a number, or a quoted string."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"no SQL literal for {value!r}")
