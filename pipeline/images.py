"""Images: added by reference, with size (as displayed) and content hash recorded.

Adding a folder reads every file once: it is decoded (so a truncated or corrupt file
is caught now, not in the middle of a labelling session), its EXIF orientation is
applied to the recorded width and height, and its SHA-256 is taken. Files that are
corrupt, duplicates of another image, or not images are listed in the report; the
good ones are added in one transaction.

Every image lies inside an *image root* (:class:`ImageRoot`): the folder given to
``init``, the folder an annotation file's images are searched in, the project's own
``images/`` folder. :meth:`ImageRoot.place` is the one check every way in goes
through (init, COCO/LVIS/labelme import, the status re-check): a path that leaves
its root, or a symbolic link that leads out of it, is refused before the file is
opened (see docs/decisions/0007-image-root.md). The roots a project's images came
from are recorded in the project, so that later checks hold to the same fence.
"""

from __future__ import annotations

import hashlib
import os
import stat
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import select

from .errors import ImageError, LongtailError, NotFoundError
from .store import schema as s
from .store.database import Project, now, read_meta_json, write_meta_json
from .text import clean as clean_text

SUPPORTED_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"})
# EXIF orientations 5-8 turn the picture by 90 degrees: width and height swap.
_TRANSPOSED = frozenset({5, 6, 7, 8})
_ORIENTATION_TAG = 0x0112

Progress = Callable[[int, int], None]
"""Called with (done, total); may raise to cancel."""


@dataclass(frozen=True)
class ImageInfo:
    """What reading one file tells: its displayed size, hash and file stamp."""

    path: Path
    width: int
    height: int
    sha256: str
    file_size: int
    mtime_ns: int


@dataclass(frozen=True)
class ImageRecord:
    """An image of the project."""

    id: int
    path: str
    file_name: str
    width: int
    height: int
    sha256: str | None
    split: str
    coco_url: str | None = None
    extra: dict[str, Any] | None = None


@dataclass
class ImageImportReport:
    """What adding images did, file by file."""

    added: list[str] = field(default_factory=list)
    corrupt: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (file, same as)
    unsupported: list[str] = field(default_factory=list)
    already_present: list[str] = field(default_factory=list)
    outside_root: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)

    @property
    def problems(self) -> int:
        return (
            len(self.corrupt) + len(self.duplicates) + len(self.unsupported)
            + len(self.outside_root)
        )  # fmt: skip

    def summary(self) -> str:
        parts = [f"{len(self.added)} images added"]
        if self.already_present:
            parts.append(f"{len(self.already_present)} already in the project")
        if self.duplicates:
            parts.append(f"{len(self.duplicates)} duplicates skipped")
        if self.corrupt:
            parts.append(f"{len(self.corrupt)} unreadable")
        if self.unsupported:
            parts.append(f"{len(self.unsupported)} not images")
        if self.outside_root:
            parts.append(f"{len(self.outside_root)} outside the image root refused")
        return ", ".join(parts)

    def lines(self) -> list[str]:
        """One line a problem, for a report file or the terminal."""
        out = [f"unreadable: {f}: {why}" for f, why in self.corrupt]
        out += [f"duplicate: {f} (same content as {other})" for f, other in self.duplicates]
        out += [f"not an image: {f}" for f in self.unsupported]
        out += [f"refused, not opened: {f}: {why}" for f, why in self.outside_root]
        return out


# ---------------------------------------------------------------- image roots

META_IMAGE_ROOTS = "images.roots"  # project meta: [{"path": ..., "follow_symlinks": ...}]


class OutsideRootError(ImageError):
    """A path that leaves its image root; refused before the file is opened.
    ``reason`` is the message without the path, for reports that show the path."""

    def __init__(self, name: str, reason: str, *, by_link: bool = False) -> None:
        self.name = name
        self.reason = reason
        self.by_link = by_link  # inside by name, but a symbolic link leads out
        super().__init__(f"{name!r} {reason}")


def _realpath(lexical: str, folders: dict[str, str]) -> str:
    """``os.path.realpath`` of a normalised absolute path, its folder's part resolved
    once per ``folders`` cache: the last part is read on each call (``lstat``), and a
    link there, or a path whose last part is not a plain name, is resolved in full."""
    head, tail = os.path.split(lexical)
    if not tail or tail in (".", ".."):
        return os.path.realpath(lexical)
    try:
        if stat.S_ISLNK(os.lstat(lexical).st_mode):
            return os.path.realpath(lexical)
    except OSError:
        pass  # absent (or unreadable): realpath appends it as it is
    real_head = folders.get(head)
    if real_head is None:
        real_head = folders[head] = os.path.realpath(head)
    return os.path.join(real_head, tail)


def _inside(path: str, folder: str) -> bool:
    if os.name == "posix" and path.startswith("/") and folder.startswith("/"):
        # Both normalised and absolute: a prefix test ends where commonpath would, at a
        # separator, at a fifth of its cost (it runs for each image an import places).
        return path == folder or path.startswith(folder if folder == "/" else folder + "/")
    try:
        return os.path.commonpath([path, folder]) == folder
    except ValueError:  # another drive (Windows), or a relative and an absolute path
        return False


@dataclass(frozen=True)
class ImageRoot:
    """A folder that images must lie in.

    ``folder`` is absolute with its symbolic links resolved. ``follow_symlinks`` lets
    links inside the folder lead out of it (the user asked for it explicitly);
    paths that leave it by name (``..``, an absolute path) are refused regardless.
    """

    folder: Path
    follow_symlinks: bool = False

    @classmethod
    def at(cls, folder: str | os.PathLike[str], *, follow_symlinks: bool = False) -> ImageRoot:
        return cls(Path(os.path.realpath(Path(folder).expanduser())), follow_symlinks)

    def place(self, name: str | os.PathLike[str], folders: dict[str, str] | None = None) -> Path:
        """The file ``name`` names (relative to the root, or absolute), checked to lie
        inside the root: :class:`OutsideRootError` says why not. Opens no file; only
        symbolic links on the way are read. The path returned is the one checked:
        open that one, not ``name``.

        ``folders``: a cache of resolved folders (lexical -> real) for one batch of
        names, e.g. one import: each folder's links are then read once per batch, and
        each name's last part still by itself (a link there is resolved in full)."""
        return Path(self.check(name, folders))

    def check(self, name: str | os.PathLike[str], folders: dict[str, str] | None = None) -> str:
        """What :meth:`place` checks and returns, as text (an import checks every image's
        candidates; most are not found, and a Path for each costs more than the check)."""
        text = os.fspath(name)
        if not text or "\x00" in text:
            raise OutsideRootError(text, "is not a file name")
        lexical = os.path.normpath(os.path.join(self.folder, text))
        folder = str(self.folder)
        if not _inside(lexical, folder):
            raise OutsideRootError(text, f"is outside the image root {folder}")
        if not self.follow_symlinks:
            if folders is not None and os.name == "posix":  # Windows: junctions too
                real = _realpath(lexical, folders)
            else:
                real = os.path.realpath(lexical)
            if not _inside(real, folder):
                raise OutsideRootError(
                    text,
                    f"leads through a symbolic link to {real}, outside the image root {folder} "
                    "(--follow-symlinks allows links that leave it)",
                    by_link=True,
                )
        return lexical

    def holds(self, name: str | os.PathLike[str]) -> bool:
        """Whether ``name`` lies inside the root by name alone (no link is read): a
        cheap first test to choose among candidates; :meth:`place` is the check."""
        text = os.fspath(name)
        return (
            bool(text)
            and "\x00" not in text
            and _inside(os.path.normpath(os.path.join(self.folder, text)), str(self.folder))
        )

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.folder), "follow_symlinks": self.follow_symlinks}


def stored_path(project: Project, path: Path) -> str:
    """How an image placed by :meth:`ImageRoot.place` is stored: relative to the project
    folder where possible. Unlike :meth:`Project.relative` the file's own links are not
    resolved, so a followed link is recorded where it is (inside its root)."""
    if project.folder is None:
        return str(path)
    real = _real_folder(project)
    text = os.fspath(path)
    if os.name == "posix" and text.startswith(real + "/") and os.path.normpath(text) == text:
        return text[len(real) + 1 :]  # what relpath gives, without its abspath calls
    try:
        return os.path.relpath(path, real)
    except ValueError:  # another drive on Windows
        return str(path)


def _real_folder(project: Project) -> str:
    """The project folder with its links resolved, read once per open project (an import
    asks for every image; the folder holding an open database does not move under it)."""
    folder = os.fspath(project.folder or "")
    known = _REAL_FOLDERS.get(project)
    if known is None or known[0] != folder:
        known = _REAL_FOLDERS[project] = (folder, os.path.realpath(folder))
    return known[1]


_REAL_FOLDERS: weakref.WeakKeyDictionary[Project, tuple[str, str]] = weakref.WeakKeyDictionary()


def record_image_roots(conn: Any, roots: Iterable[ImageRoot]) -> None:
    """Add ``roots`` to the project's recorded image roots, inside the caller's transaction.
    A root recorded again with ``follow_symlinks`` keeps the wider permission."""
    known = {item["path"]: item for item in read_meta_json(conn, META_IMAGE_ROOTS, [])}
    before = dict(known)
    for root in roots:
        item = known.get(str(root.folder))
        follow = root.follow_symlinks or bool(item and item.get("follow_symlinks"))
        known[str(root.folder)] = {"path": str(root.folder), "follow_symlinks": follow}
    if known != before:
        write_meta_json(conn, META_IMAGE_ROOTS, [known[k] for k in sorted(known)])


def image_roots(project: Project) -> list[ImageRoot]:
    """The image roots recorded in the project (none for a project made before they were)."""
    with project.read() as conn:
        items = read_meta_json(conn, META_IMAGE_ROOTS, [])
    return [ImageRoot(Path(i["path"]), bool(i.get("follow_symlinks"))) for i in items]


def place_in_roots(roots: Sequence[ImageRoot], path: Path) -> Path:
    """``path`` checked against the first root that holds it by name (see
    :meth:`ImageRoot.place`); OutsideRootError when none does."""
    text = os.path.normpath(os.path.abspath(path))
    for root in roots:
        if _inside(text, str(root.folder)):
            return root.place(text)
    folders = ", ".join(str(r.folder) for r in roots) or "(none recorded)"
    raise OutsideRootError(str(path), f"is outside the project's image roots ({folders})")


class ImageFiles:
    """Where the project's image rows point, each path checked against the recorded image
    roots before anything opens it (decision 0007): a row edited to name ``/etc/passwd``
    or ``../../secret.png``, or a link placed since import that leads out of a root, is
    an :class:`OutsideRootError` naming the file, never a read. A project made before
    roots were recorded has none: its paths are used as stored (``longtail status``
    says so). Used by every reader of image rows: the window, the explorer, ``predict``,
    the training snapshot and ``status``'s file check. ``follow_symlinks`` lets links
    inside every root lead out of it (``status --follow-symlinks``).
    """

    def __init__(self, project: Project, *, follow_symlinks: bool = False) -> None:
        self.project = project
        self.follow_symlinks = follow_symlinks
        self.roots = self._recorded_roots()

    def _recorded_roots(self) -> list[ImageRoot]:
        roots = image_roots(self.project)
        if self.follow_symlinks:
            roots = [ImageRoot(r.folder, True) for r in roots]
        return roots

    def path(self, stored: str) -> Path:
        """The checked file of an image row's ``path``. A refusal first reads the roots
        again (an import since may have recorded a new one)."""
        path = self.project.resolve(stored)
        if not self.roots:
            return path
        try:
            return place_in_roots(self.roots, path)
        except OutsideRootError:
            fresh = self._recorded_roots()
            if fresh == self.roots:
                raise
            self.roots = fresh
            return place_in_roots(self.roots, path)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_image(path: str | os.PathLike[str]) -> np.ndarray:
    """An image file as an H x W x 3 uint8 RGB array, as displayed (EXIF orientation
    applied, as :func:`probe_image` measures it). ImageError if unreadable."""
    try:
        with Image.open(path) as img:
            return np.asarray(ImageOps.exif_transpose(img).convert("RGB"))
    except FileNotFoundError:
        raise ImageError(f"{path}: file not found") from None
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{path}: {exc}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path}: cannot be read as an image ({exc})") from None


def probe_image(path: Path) -> ImageInfo:
    """Decode ``path`` once; its displayed size, hash and stamp. ImageError if unreadable."""
    try:
        stat = path.stat()
        with Image.open(path) as img:
            width, height = img.size
            orientation = img.getexif().get(_ORIENTATION_TAG, 1)
            if img.format == "JPEG":
                # Decoding at 1/8 scale still reads every byte of the stream.
                img.draft("RGB", (max(1, width // 8), max(1, height // 8)))
            img.load()
    except FileNotFoundError as exc:
        raise ImageError(f"{path}: file not found") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path}: cannot be read as an image ({exc})") from exc
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{path}: {exc}") from exc
    if orientation in _TRANSPOSED:
        width, height = height, width
    return ImageInfo(path, width, height, file_sha256(path), stat.st_size, stat.st_mtime_ns)


def scan_folder(folder: Path) -> Iterator[Path]:
    """Every file under ``folder``, recursively, in a stable order; hidden ones skipped.
    Linked folders are not entered (see :func:`scan_root`)."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(root) / name


def scan_root(root: ImageRoot, refused: list[tuple[str, str]]) -> Iterator[Path]:
    """Every file under ``root`` (hidden ones skipped), each checked with
    :meth:`ImageRoot.place`. Linked folders are entered where the root allows their
    target (each real folder once, so a link loop ends); what is refused is appended
    to ``refused`` as (path relative to the root, reason) and never opened."""
    seen = {os.path.realpath(root.folder)}
    for current, dirs, files in os.walk(root.folder, followlinks=True):
        keep = []
        for name in sorted(d for d in dirs if not d.startswith(".")):
            path = Path(current) / name
            rel = path.relative_to(root.folder).as_posix()
            try:
                root.place(path)
            except OutsideRootError as exc:
                refused.append((rel + "/", exc.reason))
                continue
            real = os.path.realpath(path)
            if real not in seen:
                seen.add(real)
                keep.append(name)
        dirs[:] = keep
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = Path(current) / name
            try:
                yield root.place(path)
            except OutsideRootError as exc:
                refused.append((path.relative_to(root.folder).as_posix(), exc.reason))


def add_image_folder(
    project: Project,
    folder: str | os.PathLike[str],
    *,
    split: str | None = None,
    progress: Progress | None = None,
    follow_symlinks: bool = False,
) -> ImageImportReport:
    """Add every image under ``folder`` by reference (see the module docstring).

    ``folder`` is the images' root: a file (or linked folder) whose link leads out of
    it is refused unopened and listed, unless ``follow_symlinks``.
    """
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise LongtailError(f"image folder {path} does not exist or is not a folder")
    root = ImageRoot.at(path, follow_symlinks=follow_symlinks)
    report = ImageImportReport()
    candidates = []
    for path in scan_root(root, report.outside_root):
        # A FIFO or device named like an image would block or stream forever when read.
        if path.suffix.lower() in SUPPORTED_SUFFIXES and path.is_file():
            candidates.append(path)
        else:
            report.unsupported.append(path.relative_to(root.folder).as_posix())
    infos = []
    for path, result in zip(candidates, probe_files(candidates, progress), strict=True):
        if isinstance(result, ImageInfo):
            infos.append(result)
        else:
            report.corrupt.append((path.relative_to(root.folder).as_posix(), result))
    add_images(
        project,
        [(info, info.path.relative_to(root.folder).as_posix()) for info in infos],
        split=split,
        report=report,
        root=root,
    )
    return report


def probe_files(paths: Sequence[Path], progress: Progress | None = None) -> list[ImageInfo | str]:
    """:func:`probe_image` of each path, in order, on a few threads; a reason where it fails."""
    results: list[ImageInfo | str] = []
    if not paths:
        return results
    workers = min(8, (os.cpu_count() or 2) * 2)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        # map keeps the order; decoding and hashing release the GIL so threads overlap.
        for done, result in enumerate(pool.map(_try_probe, paths), 1):
            results.append(result)
            if progress is not None:
                progress(done, len(paths))
    return results


def _try_probe(path: Path) -> ImageInfo | str:
    try:
        return probe_image(path)
    except ImageError as exc:
        return str(exc).split(": ", 1)[-1]


def add_images(
    project: Project,
    items: Iterable[tuple[ImageInfo, str]],
    *,
    split: str | None = None,
    report: ImageImportReport | None = None,
    root: ImageRoot | None = None,
) -> ImageImportReport:
    """Add probed images, each with the name it is exported under, in one transaction.

    Duplicates (same hash as an image already added) and paths already in the project
    are skipped and listed in the report. ``root``, the folder the images were placed
    in, is recorded with them.
    """
    report = report if report is not None else ImageImportReport()
    split = clean_text("split", split or project.settings().default_split, where="split")
    with project.write() as conn:
        if root is not None:
            record_image_roots(conn, [root])
        known_paths = set(conn.execute(select(s.images.c.path)).scalars())
        known_hashes = dict(conn.execute(select(s.images.c.sha256, s.images.c.file_name)).all())
        rows = []
        for info, file_name in items:
            stored = stored_path(project, info.path)
            if stored in known_paths:
                report.already_present.append(file_name)
                continue
            if info.sha256 in known_hashes:
                report.duplicates.append((file_name, known_hashes[info.sha256]))
                continue
            known_hashes[info.sha256] = file_name
            known_paths.add(stored)
            rows.append(
                {
                    "path": stored,
                    "file_name": file_name,
                    "width": info.width,
                    "height": info.height,
                    "sha256": info.sha256,
                    "file_size": info.file_size,
                    "mtime_ns": info.mtime_ns,
                    "split": split,
                    "created_at": now(),
                }
            )
            report.added.append(file_name)
        if rows:
            conn.execute(s.images.insert(), rows)
    return report


# ---------------------------------------------------------------- reading


def image_from_row(row: Any) -> ImageRecord:
    return ImageRecord(
        id=row.id,
        path=row.path,
        file_name=row.file_name,
        width=row.width,
        height=row.height,
        sha256=row.sha256,
        split=row.split,
        coco_url=row.coco_url,
        extra=row.extra,
    )


def list_images(project: Project, *, split: str | None = None) -> list[ImageRecord]:
    query = select(s.images).order_by(s.images.c.id)
    if split is not None:
        query = query.where(s.images.c.split == split)
    with project.read() as conn:
        return [image_from_row(r) for r in conn.execute(query)]


def get_image(project: Project, image_id: int) -> ImageRecord:
    if not -(2**63) <= image_id < 2**63:  # no id is that large (64-bit columns)
        raise NotFoundError(f"image {image_id} is not in the project (ids fit in 64 bits)")
    with project.read() as conn:
        row = conn.execute(select(s.images).where(s.images.c.id == image_id)).first()
    if row is None:
        raise NotFoundError(f"image {image_id} is not in the project")
    return image_from_row(row)


def find_image(project: Project, key: str | int) -> ImageRecord:
    """An image by id, exported file name, or stored path."""
    if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
        return get_image(project, int(key))
    with project.read() as conn:
        row = conn.execute(
            select(s.images).where((s.images.c.file_name == key) | (s.images.c.path == key))
        ).first()
        if row is None:
            stored = project.relative(Path(key))
            row = conn.execute(select(s.images).where(s.images.c.path == stored)).first()
    if row is None:
        raise NotFoundError(f"image {key!r} is not in the project")
    return image_from_row(row)


# ---------------------------------------------------------------- checking files


@dataclass
class ImageCheck:
    """Images whose file is gone, or whose content is no longer what was recorded, or
    whose path now leaves the project's image roots (``outside``: not opened)."""

    checked: int = 0
    missing: list[ImageRecord] = field(default_factory=list)
    changed: list[ImageRecord] = field(default_factory=list)
    outside: list[tuple[ImageRecord, str]] = field(default_factory=list)  # (image, reason)
    roots_recorded: bool = True


def check_image_files(
    project: Project, *, progress: Progress | None = None, follow_symlinks: bool = False
) -> ImageCheck:
    """Compare each image's file with what was recorded at import.

    Each path is first placed in the project's recorded image roots: one that leaves
    them (by name, or through a link added since, unless the root or
    ``follow_symlinks`` allows links) is listed in ``outside`` and neither opened nor
    hashed. Size and modification time are compared next; only a file whose stamp
    moved is hashed again, so a check of an unchanged project reads no image data.
    """
    files = ImageFiles(project, follow_symlinks=follow_symlinks)
    with project.read() as conn:
        rows = conn.execute(select(s.images).order_by(s.images.c.id)).all()
    result = ImageCheck(roots_recorded=bool(files.roots))
    for done, row in enumerate(rows, 1):
        try:
            path = files.path(row.path)
        except OutsideRootError as exc:
            result.outside.append((image_from_row(row), str(exc)))
            result.checked += 1
            if progress is not None:
                progress(done, len(rows))
            continue
        try:
            stat = path.stat()
        except OSError:
            result.missing.append(image_from_row(row))
        else:
            moved = stat.st_size != row.file_size or stat.st_mtime_ns != row.mtime_ns
            if moved and row.sha256 is not None and file_sha256(path) != row.sha256:
                result.changed.append(image_from_row(row))
        result.checked += 1
        if progress is not None:
            progress(done, len(rows))
    return result
