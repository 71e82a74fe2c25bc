"""Issue 20, "Why" 6, 7 and 8: one text policy for both backends (pipeline/text.py),
terminal escapes never printed raw, and matplotlib draws names as plain text."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import run
from conftest import make_image
from sqlalchemy import create_engine

from app.cli import main
from pipeline.errors import LongtailError
from pipeline.stats.plots import PLOTS
from pipeline.store.database import DB_NAME, Project
from pipeline.text import clean, for_terminal, problem
from pipeline.vocabulary import Category, add_categories

HOSTILE = "ev\x1b]0;pwned\x07il\x1b[2J\0"


def _no_raw_controls(text: str) -> None:
    assert not any(c in text for c in "\x1b\x07\0\x9b"), repr(text)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    make_image(tmp_path / "imgs" / "a.png")
    assert (
        main(
            [
                "init",
                str(tmp_path / "P"),
                "--images",
                str(tmp_path / "imgs"),
                "--vocabulary",
                "coco",
            ]
        )
        == 0
    )
    return tmp_path / "P"


# ---------------------------------------------------------------- 8: one policy, both backends

POLICY_CASES = [
    ("annotator", "a" * 10_000, "at most 128"),
    ("split", "s" * 40, "at most 32"),
    ("category", "cat\0dog", "NUL"),
    ("annotator", "bob\x1b[31m", "control character \\x1b"),
    ("category", "left\u202eright", "control character \\u202e"),
    ("annotator", "   ", "empty"),
]


@pytest.mark.parametrize("kind,value,words", POLICY_CASES)
def test_the_policy_refuses_with_a_located_reason(kind, value, words):
    assert words in (problem(kind, value) or "")
    with pytest.raises(LongtailError, match="annotator name|split|category name"):
        clean(kind, value, where="here")


def test_nfc_is_kept():
    assert clean("annotator", "Jose\u0301") == "Jos\u00e9"


def test_sqlite_refuses_what_postgresql_would(project: Path, tmp_path: Path, capsys):
    with Project.open(project) as p:
        with pytest.raises(LongtailError, match="at most 128"):
            p.annotator("x" * 10_000)
        with pytest.raises(LongtailError, match="NUL"):
            add_categories(p, [Category(name="bad\0name")])
        assert p.counts()["annotators"] == 0
    make_image(tmp_path / "more" / "b.png")
    code, _, err = run(capsys, "init", str(tmp_path / "Q"), "--images", str(tmp_path / "more"),
                       "--vocabulary", "coco", "--split", "s" * 40)  # fmt: skip
    assert code == 1 and "at most 32" in err
    assert not (tmp_path / "Q" / DB_NAME).exists()  # init is all or nothing


# ---------------------------------------------------------------- 7: terminal escapes


def test_team_list_prints_a_hostile_stored_name_escaped(project: Path, capsys):
    engine = create_engine(f"sqlite:///{project / DB_NAME}")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO annotators (name, is_bot, created_at, role) VALUES (?, 0, 0, 'admin')",
            (HOSTILE,),
        )
    engine.dispose()
    code, out, err = run(capsys, "team", str(project), "list")
    _no_raw_controls(out + err)
    assert "\\x1b]0;pwned\\x07" in out


def test_init_prints_unreadable_file_names_escaped(tmp_path: Path, capsys):
    images = tmp_path / "imgs"
    make_image(images / "ok.png")
    (images / "bad\x1b]0;x\x07.png").write_bytes(b"not an image")
    code, out, err = run(
        capsys, "init", str(tmp_path / "P"), "--images", str(images), "--vocabulary", "coco"
    )
    assert code == 0
    _no_raw_controls(out + err)
    assert "bad\\x1b]0;x\\x07.png" in out


def test_an_error_line_is_escaped(tmp_path: Path, capsys):
    code, _, err = run(capsys, "status", str(tmp_path / "no\x1b[2Jproject"))
    assert code == 1
    _no_raw_controls(err)


def test_for_terminal_keeps_plain_text():
    assert for_terminal("plain name, café") == "plain name, café"
    assert for_terminal("a\nb") == "a\nb"


# ---------------------------------------------------------------- 6: plain text in plots


def test_dollar_names_draw_as_plain_text(tmp_path: Path, capsys):
    from stats_support import build_hand_made

    made = build_hand_made(tmp_path / "hand")
    made.project.close()
    folder = made.project.folder
    engine = create_engine(f"sqlite:///{folder / DB_NAME}")
    with engine.begin() as conn:  # names that are mathtext bait, in every plot's labels
        conn.exec_driver_sql("UPDATE categories SET name = '$$' WHERE name = 'cat'")
        conn.exec_driver_sql("UPDATE categories SET name = '$_$' WHERE name = 'dog'")
        conn.exec_driver_sql("UPDATE annotators SET name = '$_$' WHERE name = 'drawer'")
    engine.dispose()
    code, out, err = run(capsys, "stats", str(folder), "--out", str(tmp_path / "S"))
    assert code == 0, err
    assert all((tmp_path / "S" / f"{plot.key}.png").stat().st_size > 1000 for plot in PLOTS)


def test_team_and_settings_take_the_same_policy(project: Path, capsys):
    code, _, err = run(
        capsys, "team", str(project), "add", "mal\x1b]0;x\x07lory", "--role", "admin"
    )
    assert code == 1 and "control character \\x1b" in err
    _no_raw_controls(err)
    with Project.open(project) as p, pytest.raises(LongtailError, match="at most 32"):
        p.update_settings(default_split="s" * 40)
