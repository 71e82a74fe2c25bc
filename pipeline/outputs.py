"""Where longtail writes a user's output file, and how (decision 0023).

Every writer of a file the user names (export, predict ``--out``, stats ``--out``,
model checkpoints) goes through :func:`write_output` or :func:`atomic_output`, so
that one command cannot destroy a project or a special file:

- a path inside the project's own database files (``longtail.db`` and its
  ``-wal``/``-shm``/``-journal`` files, of this project or any other), a hard link
  to them, or the project folder's internals (``models/``, ``stats-cache.json``) is
  refused;
- a folder, a device node, a FIFO or a socket is refused, with one located line;
- a symbolic link is written *through*: the file it points to is replaced
  atomically, the link stays (the checks above apply to that file);
- ``-`` is standard output, where the caller allows it (one-file formats);
- the file is written to a temporary file beside the target, named
  ``.longtail-tmp-<hash of the target's name>-<pid>-<random>.tmp``, flushed and fsynced,
  then renamed over the target (and the folder fsynced). Temporary files of the same
  target left by a killed run (their process is gone) are swept at the next write.
"""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
import stat
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING

from .errors import LongtailError

if TYPE_CHECKING:
    from .store.database import Project

STDOUT = "-"
TEMP_PREFIX = ".longtail-tmp-"

# The database's own files, of any project: never an output.
_DB_NAME = "longtail.db"  # pipeline.store.database.DB_NAME (the store imports nothing from here)
DATABASE_FILES = tuple(_DB_NAME + tail for tail in ("", "-wal", "-shm", "-journal"))
# What a project folder keeps for itself besides the database.
INTERNAL_NAMES = ("models", "stats-cache.json")


class OutputError(LongtailError):
    """An output path longtail will not write; the message names the path and why."""


def is_stdout(path: str | os.PathLike[str] | None) -> bool:
    return path is not None and os.fspath(path) == STDOUT


def output_target(
    path: str | os.PathLike[str],
    *,
    project: Project | None = None,
    stdout_ok: bool = False,
    internal: bool = False,
) -> Path | None:
    """The file a write to ``path`` replaces (a symbolic link followed), or None for
    standard output; OutputError for a path that must not be written.

    ``internal`` is for the project's own writers (a checkpoint under ``models/``):
    they may write inside the project folder's internals, never over its database.
    """
    text = os.fspath(path)
    if text == STDOUT:
        if not stdout_ok:
            raise OutputError(
                "'-' (standard output) is not an output for this command: name a file"
            )
        return None
    if not text or text.endswith(("/", os.sep)):
        raise OutputError(f"{text or '(empty)'}: an output must name a file, not a folder")
    given = Path(text).expanduser()
    target = Path(os.path.realpath(given))  # through any symbolic link, at any depth
    shown = str(given) if target == given.absolute() else f"{given} (a link to {target})"
    if target.name in DATABASE_FILES:
        raise OutputError(f"{shown}: is a longtail project's database file; it is never an output")
    _refuse_special(target, shown)
    if project is not None and project.folder is not None:
        _refuse_project_internals(target, shown, Path(project.folder).resolve(), internal)
    return target


def _refuse_special(target: Path, shown: str) -> None:
    try:
        st = target.stat()
    except FileNotFoundError:
        st = None
    except NotADirectoryError:
        raise OutputError(f"{shown}: a part of the path is a file, not a folder") from None
    except OSError as exc:
        raise OutputError(f"{shown}: cannot be examined ({exc.strerror or exc})") from None
    if st is not None:
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            raise OutputError(f"{shown}: is a folder; name a file to write")
        kind = (
            "a FIFO"
            if stat.S_ISFIFO(mode)
            else "a device"
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else None
        )
        if kind is not None:
            raise OutputError(f"{shown}: is {kind}, not a regular file; longtail writes files only")
    parent = target.parent
    if parent.exists() and not parent.is_dir():
        raise OutputError(f"{shown}: {parent} is a file, not a folder")


def _refuse_project_internals(target: Path, shown: str, folder: Path, internal: bool) -> None:
    db = folder / _DB_NAME
    # A hard link to the database (or its WAL) is the database under another name.
    try:
        st = target.stat()
    except OSError:
        st = None
    if st is not None:
        for name in DATABASE_FILES:
            try:
                other = (folder / name).stat()
            except OSError:
                continue
            if (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino):
                raise OutputError(f"{shown}: is the project's database {db} under another name")
    if internal:
        return
    for name in INTERNAL_NAMES:
        inner = folder / name
        if target == inner or inner in target.parents:
            raise OutputError(
                f"{shown}: is inside the project's own {name} (the project keeps it for itself); "
                "write outside it"
            )


def write_output(
    path: str | os.PathLike[str],
    data: bytes,
    *,
    project: Project | None = None,
    stdout_ok: bool = False,
    internal: bool = False,
) -> Path | None:
    """Write ``data`` whole to ``path`` (checked by :func:`output_target`), or to
    standard output for ``-``; the file written (None for standard output)."""
    target = output_target(path, project=project, stdout_ok=stdout_ok, internal=internal)
    if target is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return None
    with atomic_path(target) as temp, open(temp, "wb") as f:
        f.write(data)
    return target


@contextmanager
def atomic_output(
    path: str | os.PathLike[str],
    *,
    project: Project | None = None,
    stdout_ok: bool = False,
    internal: bool = False,
) -> Iterator[IO[bytes]]:
    """A binary file to stream an output into; it replaces ``path`` whole when the
    block ends without an error, and nothing is left when it raises."""
    target = output_target(path, project=project, stdout_ok=stdout_ok, internal=internal)
    if target is None:
        sys.stdout.flush()
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    with atomic_path(target) as temp, open(temp, "wb") as f:
        yield f


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target`` for the caller to write (``torch.save``...);
    fsynced and renamed over ``target`` when the block ends without an error.

    ``target`` is a path :func:`output_target` returned (a link already followed).
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{target}: cannot create its folder ({exc.strerror or exc})") from None
    sweep_temporaries(target)
    temp = target.parent / temporary_name(target)
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
        os.close(fd)
    except OSError as exc:
        raise OutputError(f"{target}: cannot be written ({exc.strerror or exc})") from None
    try:
        yield temp
        _fsync_file(temp)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_folder(target.parent)


def temporary_name(target: Path) -> str:
    """``.longtail-tmp-<12 hex of the name>-<pid>-<8 hex>.tmp``: a fixed length whatever the
    target's name, recognisable by :func:`sweep_temporaries`."""
    # The ".tmp" tail: torch.save names its archive after the text before the last dot.
    return f"{_name_key(target)}{os.getpid()}-{secrets.token_hex(4)}.tmp"


def _name_key(target: Path) -> str:
    digest = hashlib.sha1(target.name.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return f"{TEMP_PREFIX}{digest}-"


def sweep_temporaries(target: Path) -> list[Path]:
    """Remove the temporary files a killed write of ``target`` left beside it (those of
    a process still running stay), and those of the writer before this helper
    (``.NAME.xxxxxxxx.tmp``, once older than :data:`LEGACY_AGE_S`); the paths removed."""
    key = _name_key(Path(target))
    legacy = f".{Path(target).name}."
    removed: list[Path] = []
    try:
        entries = list(os.scandir(Path(target).parent))
    except OSError:
        return removed
    for entry in entries:
        if entry.name.startswith(legacy) and entry.name.endswith(".tmp"):
            if len(entry.name) != len(legacy) + 8 + len(".tmp") or not _old(entry):
                continue
        elif not entry.name.startswith(key):
            continue
        else:
            pid_text = entry.name[len(key) :].split("-", 1)[0]
            if pid_text.isdigit() and _alive(int(pid_text)):
                continue
        try:
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            pass
    return removed


LEGACY_AGE_S = 600.0  # no write takes this long between creating its file and renaming it


def _old(entry: os.DirEntry[str]) -> bool:
    try:
        return time.time() - entry.stat(follow_symlinks=False).st_mtime > LEGACY_AGE_S
    except OSError:
        return False


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    except OSError:
        return False
    return True


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EBADF, errno.EACCES):
            raise
    finally:
        os.close(fd)
