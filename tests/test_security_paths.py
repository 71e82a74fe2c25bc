"""Nothing outside the image root is read or recorded (docs/decisions/0007-image-root.md).

Every case builds its own hostile files in tmp_path: names that climb out with ``..``,
absolute names, ``/etc/passwd``, symbolic links (to files, folders and FIFOs) that
lead out of the root, labelme files doing the same. "Never opened" is checked for
real: the outside file's access time is set to 0 first and must still be 0 after
(reading a file moves it on this file system); and a FIFO outside the root has a
watcher that notices any reader (opening a FIFO to read waits for a writer: the
watcher is that writer, so old code that opened it fails instead of hanging).
"""

from __future__ import annotations

import base64
import io
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import make_image
from PIL import Image
from sqlalchemy import select, update
from test_formats_util import snapshot, write_json

from app.cli.main import main
from pipeline.formats import FormatError, import_coco, import_labelme, import_lvis
from pipeline.images import add_image_folder, check_image_files
from pipeline.store import schema as s
from pipeline.store.database import Project

# ---------------------------------------------------------------- helpers


def _atime_moves_on_read(folder: Path) -> bool:
    probe = folder / ".atime-probe"
    probe.write_bytes(b"x")
    os.utime(probe, ns=(0, probe.stat().st_mtime_ns))
    probe.read_bytes()
    moved = probe.stat().st_atime_ns != 0
    probe.unlink()
    return moved


def watch(path: Path) -> Path:
    """Set ``path``'s access time to 0, so that reading it shows (see :func:`assert_unread`)."""
    os.utime(path, ns=(0, path.stat().st_mtime_ns), follow_symlinks=True)
    return path


def assert_unread(path: Path) -> None:
    """``path`` was not read since :func:`watch` (where the file system records reads)."""
    if _atime_moves_on_read(path.parent):
        assert path.stat().st_atime_ns == 0, f"{path} was read"


class FifoWatch:
    """Writes to ``fifo`` whenever someone opens it to read, and remembers that it happened."""

    def __init__(self, fifo: Path) -> None:
        self.fifo = fifo
        self.opened = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:  # succeeds only while a reader has the FIFO open
                fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                time.sleep(0.02)
                continue
            self.opened = True
            os.close(fd)  # the reader sees an empty file and goes on

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict[str, Path]]:
    """An image root with a good image, and outside it a private image, a FIFO and a
    folder of images; inside, links that lead to each of them."""
    outside = tmp_path / "secret"
    private = watch(make_image(outside / "private.png", 40, 30, color=(250, 0, 0)))
    fifo = outside / "pipe.png"
    os.mkfifo(fifo)
    fifo_watch = FifoWatch(fifo)
    watch(make_image(outside / "album" / "holiday.png", 40, 30, color=(0, 250, 0)))
    images = tmp_path / "data" / "images"
    make_image(images / "a.png", 40, 30)
    (images / "link.png").symlink_to(private)
    (images / "pipe-link.png").symlink_to(fifo)
    (images / "album").symlink_to(outside / "album", target_is_directory=True)
    yield {"root": images, "private": private, "fifo": fifo, "outside": outside}
    fifo_watch.stop()
    assert not fifo_watch.opened, f"{fifo} was opened"


def coco(*file_names: str, width: int = 40, height: int = 30) -> dict:
    return {
        "images": [
            {"id": i, "file_name": name, "width": width, "height": height}
            for i, name in enumerate(file_names, 1)
        ],
        "annotations": [],
        "categories": [{"id": 1, "name": "thing"}],
    }


# ---------------------------------------------------------------- COCO and LVIS


HOSTILE_FILE_NAMES = [
    ("a name climbing out", "../../secret/private.png", "is outside the image root"),
    ("an absolute name outside", "{private}", "is outside the image root"),
    ("a link leading out", "link.png", "leads through a symbolic link to"),
    ("a link to a FIFO", "pipe-link.png", "leads through a symbolic link to"),
    ("an absolute FIFO", "{fifo}", "is outside the image root"),
    ("a name through a linked folder", "album/holiday.png", "leads through a symbolic link"),
]


@pytest.mark.parametrize(("case", "file_name", "expected"), HOSTILE_FILE_NAMES)
def test_coco_file_names_outside_the_root_are_refused_unopened_naming_the_field(
    world, empty_project: Project, tmp_path: Path, case: str, file_name: str, expected: str
):
    name = file_name.format(private=world["private"], fifo=world["fifo"])
    path = write_json(tmp_path / "data" / "set.json", coco("a.png", name))
    before = snapshot(empty_project)
    with pytest.raises(FormatError) as caught:
        import_coco(empty_project, path, images_root=world["root"])
    [problem] = caught.value.report.problems
    assert problem.image_id == 2 and problem.file.endswith("set.json")
    assert problem.message.startswith(f"'file_name' {name!r} {expected}")
    assert "the file was not opened" in problem.message
    assert snapshot(empty_project) == before
    assert_unread(world["private"])
    assert_unread(world["outside"] / "album" / "holiday.png")
    # Lenient: the good image comes in, the outside one is neither read nor recorded.
    report = import_coco(empty_project, path, images_root=world["root"], lenient=True)
    assert (report.images_added, report.images_skipped) == (1, 1)
    with empty_project.read() as conn:
        paths = list(conn.execute(select(s.images.c.path)).scalars())
    assert len(paths) == 1 and paths[0].endswith("data/images/a.png")
    assert_unread(world["private"])


def test_etc_passwd_is_refused_as_outside_the_root_not_as_a_bad_image(
    world, empty_project: Project, tmp_path: Path
):
    path = write_json(tmp_path / "data" / "set.json", coco("/etc/passwd", width=5, height=5))
    with pytest.raises(FormatError) as caught:
        import_coco(empty_project, path, images_root=world["root"])
    text = str(caught.value)
    assert "'file_name' '/etc/passwd' is outside the image root" in text
    assert "not an image" not in text and "cannot be read" not in text


def test_without_images_the_root_is_the_folder_above_the_file(world, empty_project, tmp_path):
    """COCO's layout (annotations/ beside val2017/) still works; a name that climbs
    out of that folder is refused."""
    data = tmp_path / "data"
    make_image(data / "val2017" / "x.png", 40, 30)
    path = write_json(data / "annotations" / "set.json", coco("val2017/x.png"))
    assert import_coco(empty_project, path).images_added == 1
    bad = write_json(data / "annotations" / "bad.json", coco("../../secret/private.png"))
    with pytest.raises(FormatError, match=r"is outside the image root .*data"):
        import_coco(empty_project, bad)
    assert_unread(world["private"])


def test_an_lvis_coco_url_that_climbs_out_is_refused_naming_coco_url(world, empty_project):
    make_image(world["root"].parent / "beside.png", 40, 30)
    watch(world["root"].parent / "beside.png")
    doc = coco("x")
    del doc["images"][0]["file_name"]
    doc["images"][0].update(
        coco_url="http://images.example.org/../beside.png",
        neg_category_ids=[],
        not_exhaustive_category_ids=[],
    )
    path = write_json(world["root"] / "lvis.json", doc)
    with pytest.raises(FormatError) as caught:
        import_lvis(empty_project, path, images_root=world["root"])
    [problem] = caught.value.report.problems
    assert problem.message.startswith("'coco_url' '../beside.png' is outside the image root")
    assert_unread(world["root"].parent / "beside.png")


def test_follow_symlinks_accepts_a_link_out_and_records_the_link(world, empty_project, tmp_path):
    path = write_json(tmp_path / "data" / "set.json", coco("link.png"))
    report = import_coco(empty_project, path, images_root=world["root"], follow_symlinks=True)
    assert report.images_added == 1
    with empty_project.read() as conn:
        [stored] = conn.execute(select(s.images.c.path)).scalars()
    assert stored.endswith("data/images/link.png")  # where it is in the root, not its target
    # The recorded root allows links, so the status check reads it as the import did.
    check = check_image_files(empty_project)
    assert not check.outside and not check.missing and not check.changed


# ---------------------------------------------------------------- labelme


def _labelme(image_path: str | None, data: bytes | None = None) -> dict:
    return {
        "version": "5.4.1",
        "flags": {},
        "shapes": [
            {
                "label": "cup",
                "points": [[1, 1], [9, 1], [9, 9]],
                "shape_type": "polygon",
                "group_id": None,
                "flags": {},
            },
        ],  # fmt: skip
        "imagePath": image_path,
        "imageData": base64.b64encode(data).decode() if data else None,
        "imageHeight": 30,
        "imageWidth": 40,
    }


def _png(width: int = 40, height: int = 30) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 20, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("image_path", "expected"),
    [
        ("../../secret/private.png", "is outside the image root"),
        ("{private}", "is outside the image root"),
        ("/etc/passwd", "is outside the image root"),
        ("link.png", "leads through a symbolic link to"),
        ("pipe-link.png", "leads through a symbolic link to"),
    ],
)
def test_labelme_image_paths_outside_the_root_are_refused_unopened(
    world, empty_project: Project, image_path: str, expected: str
):
    name = image_path.format(private=world["private"])
    write_json(world["root"] / "shot.json", _labelme(name))
    with pytest.raises(FormatError) as caught:
        import_labelme(empty_project, world["root"] / "shot.json")
    [problem] = caught.value.report.problems
    assert problem.file.endswith("shot.json")
    assert problem.message.startswith(f"'imagePath' {name!r} {expected}")
    assert "not an image" not in problem.message
    assert_unread(world["private"])


def test_a_labelme_path_outside_the_root_falls_back_to_its_embedded_image(world, empty_project):
    write_json(world["root"] / "shot.json", _labelme("../../secret/private.png", _png()))
    report = import_labelme(empty_project, world["root"] / "shot.json")
    assert report.instances == 1
    assert any("the embedded imageData is used instead" in n.message for n in report.notes)
    assert (empty_project.folder / "images" / "private.png").read_bytes() == _png()
    assert_unread(world["private"])


def test_labelme_files_linked_from_outside_the_folder_are_not_read(world, empty_project, tmp_path):
    folder = tmp_path / "labelme"
    make_image(folder / "a.png", 40, 30)
    write_json(folder / "a.json", _labelme("a.png"))
    make_image(folder / "b.png", 40, 30, color=(1, 1, 1))
    outside_json = watch(write_json(world["outside"] / "evil.json", _labelme("b.png")))
    (folder / "evil.json").symlink_to(outside_json)
    with pytest.raises(FormatError) as caught:
        import_labelme(empty_project, folder)
    [problem] = caught.value.report.problems
    assert problem.file.endswith("evil.json") and "leads through a symbolic link" in problem.message
    assert_unread(outside_json)
    report = import_labelme(empty_project, folder, follow_symlinks=True)
    assert report.images_added == 2 and report.instances == 2


@pytest.mark.parametrize("image_path", [".", "..", "", "sub/..", "/", "..\\..", "  ", ".hidden"])
def test_embedded_images_are_written_under_a_sanitised_name(
    empty_project: Project, tmp_path: Path, image_path: str
):
    folder = tmp_path / "labelme"
    write_json(folder / "shot.json", _labelme(image_path or None, _png()))
    report = import_labelme(empty_project, folder)
    assert report.instances == 1
    images = empty_project.folder / "images"
    assert images.is_dir()
    assert [p.name for p in images.iterdir()] == ["shot.png"]
    assert (images / "shot.png").read_bytes() == _png()
    with empty_project.read() as conn:
        row = conn.execute(select(s.images.c.path, s.images.c.file_name)).one()
    assert (row.path, row.file_name) == ("images/shot.png", "shot.png")


def test_a_windows_image_path_keeps_only_its_base_name(empty_project: Project, tmp_path: Path):
    write_json(tmp_path / "x.json", _labelme("C:\\Users\\bob\\..\\Desktop\\photo.png", _png()))
    import_labelme(empty_project, tmp_path / "x.json")
    assert (empty_project.folder / "images" / "photo.png").is_file()


# ---------------------------------------------------------------- init and status


def test_init_refuses_links_leading_out_and_lists_them(world, tmp_path: Path, capsys):
    project = tmp_path / "p"
    code = main(["init", str(project), "--images", str(world["root"]), "--vocabulary", "coco"])
    out = capsys.readouterr().out
    assert code == 0 and "1 images added" in out and "3 outside the image root refused" in out
    assert "refused, not opened: link.png: leads through a symbolic link to" in out
    assert "refused, not opened: album/: leads through a symbolic link to" in out
    assert_unread(world["private"])
    assert_unread(world["outside"] / "album" / "holiday.png")
    with Project.open(project) as opened, opened.read() as conn:
        assert list(conn.execute(select(s.images.c.file_name)).scalars()) == ["a.png"]


def test_init_with_follow_symlinks_adds_what_the_links_lead_to(world, tmp_path: Path):
    with Project.create(tmp_path / "p") as project:
        report = add_image_folder(project, world["root"], follow_symlinks=True)
    assert sorted(report.added) == ["a.png", "album/holiday.png", "link.png"]
    assert not report.outside_root
    assert report.unsupported == ["pipe-link.png"]  # a FIFO is no image, even when followed


def test_status_does_not_open_a_file_replaced_by_a_link_leading_out(world, tmp_path, capsys):
    project = tmp_path / "p"
    os.unlink(world["root"] / "link.png")
    os.unlink(world["root"] / "pipe-link.png")
    os.unlink(world["root"] / "album")
    assert main(["init", str(project), "--images", str(world["root"])]) == 0
    os.unlink(world["root"] / "a.png")
    (world["root"] / "a.png").symlink_to(world["private"])  # swapped after the import
    capsys.readouterr()
    assert main(["status", str(project), "--json"]) == 0
    files = json.loads(capsys.readouterr().out)["files"]
    assert files["changed"] == [] and files["missing"] == []
    [outside] = files["outside"]
    assert outside["file_name"] == "a.png" and "symbolic link" in outside["reason"]
    assert_unread(world["private"])
    assert main(["status", str(project)]) == 0
    assert "refused, not opened: a.png:" in capsys.readouterr().out
    # Asked to follow links, status reads it, and finds it is not the image recorded.
    assert main(["status", str(project), "--json", "--follow-symlinks"]) == 0
    assert json.loads(capsys.readouterr().out)["files"]["changed"] == ["a.png"]


def test_status_does_not_open_a_recorded_path_outside_the_roots(world, tmp_path, capsys):
    with Project.create(tmp_path / "p") as project:
        add_image_folder(project, world["root"])
        with project.write() as conn:  # as an import before the rule would have recorded it
            conn.execute(update(s.images).values(path=str(world["private"])))
        check = check_image_files(project)
    [(record, reason)] = check.outside
    assert record.file_name == "a.png" and "is outside the project's image roots" in reason
    assert_unread(world["private"])


def test_labelme_images_beside_the_annotations_need_a_wider_images_root(tmp_path, capsys):
    """labelme's layout with annotations and images in sibling folders: the imported
    folder alone does not hold `../img/x.png`; `--images` names the root that does."""
    make_image(tmp_path / "set" / "img" / "x.png", 40, 30)
    write_json(tmp_path / "set" / "ann" / "x.json", _labelme("../img/x.png"))
    project = str(tmp_path / "p")
    (tmp_path / "empty").mkdir()
    assert main(["init", project, "--images", str(tmp_path / "empty")]) == 0
    ann = str(tmp_path / "set" / "ann")
    assert main(["import", project, ann, "--format", "labelme"]) == 1
    assert "'imagePath' '../img/x.png' is outside the image root" in capsys.readouterr().err
    code = main(
        ["import", project, ann, "--format", "labelme", "--images", str(tmp_path / "set"), "--json"]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and (out["images_added"], out["instances"]) == (1, 1)
    with Project.open(project) as opened, opened.read() as conn:
        assert list(conn.execute(select(s.images.c.file_name)).scalars()) == ["img/x.png"]


# ---------------------------------------------------------------- readers of recorded paths


def _project_on_root(world: dict[str, Path], folder: Path) -> Path:
    """A project made by ``init`` on the image root (its links taken away first)."""
    for name in ("link.png", "pipe-link.png", "album"):
        os.unlink(world["root"] / name)
    assert main(["init", str(folder), "--images", str(world["root"])]) == 0
    return folder


def test_predict_does_not_open_a_recorded_path_outside_the_roots(world, tmp_path, capsys):
    project = _project_on_root(world, tmp_path / "p")
    with Project.open(project) as opened, opened.write() as conn:
        conn.execute(update(s.images).values(path=str(world["fifo"])))  # an edited row
    capsys.readouterr()
    out = tmp_path / "found.json"
    code = main(
        ["predict", str(project), "--image", "a.png", "--box", "2,2,20,20", "--out", str(out)]
    )
    assert code != 0 and not out.exists()
    assert "is outside the project's image roots" in capsys.readouterr().err
    # (the FIFO's watcher fails the test if anything opened it)


def test_a_training_snapshot_refuses_an_image_swapped_for_a_link_out(world, tmp_path):
    from model.training.snapshot import SnapshotError, take_snapshot

    project = _project_on_root(world, tmp_path / "p")
    with Project.open(project) as opened:
        with opened.write() as conn:  # something verified about the image: it is trained on
            category = conn.execute(select(s.categories.c.id).limit(1)).scalar_one()
            conn.execute(
                s.image_categories.insert().values(
                    image_id=1, category_id=category, state=s.NEGATIVE, source="pipeline",
                    updated_at=0.0,
                )
            )  # fmt: skip
        assert [i.path for i in take_snapshot(opened).images] == [
            str(world["root"] / "a.png")
        ]  # fmt: skip
        os.unlink(world["root"] / "a.png")
        (world["root"] / "a.png").symlink_to(world["private"])  # swapped after the import
        with pytest.raises(SnapshotError, match=r"image 1: '.*a.png' leads through a symbolic link"):
            take_snapshot(opened)
    assert_unread(world["private"])


def test_the_window_says_why_it_does_not_open_an_image_outside_the_roots(world, tmp_path, qtbot):
    from gui_stage_support import show_view

    from app.gui.session import Session
    from app.gui.stages.spotting import SpottingView
    from pipeline.stages import Pipeline

    project = Project.open(_project_on_root(world, tmp_path / "p"))
    Pipeline(project).seed()
    with project.write() as conn:
        conn.execute(update(s.images).values(path=str(world["fifo"])))
    session = Session(project, "alice")
    view = SpottingView(session)
    show_view(qtbot, view)
    try:
        assert "is outside the project's image roots" in view.toast.text()
        assert "S skips it" in view.toast.text()
    finally:
        view.deactivate()
        session.close()
        project.close()
