"""The database enforces the team's rules (issue 17, decision 0020): every test connects
as a plain annotator and as a verifier with psycopg directly, without longtail's code,
and shows PostgreSQL refusing; the same statements as an admin succeed.

Runs when LONGTAIL_TEST_POSTGRES_URL names a server whose user has CREATEDB and
CREATEROLE (``.ci/run`` gives it both); each test makes its own database and logins and
drops them.
"""

from __future__ import annotations

import pytest
import skips
from team_logins import TeamServer, add_logins, make_images, team_server
from team_support import POSTGRES

from pipeline.errors import NotAllowedError
from pipeline.images import add_image_folder
from pipeline.stages import NEGATIVES, SPOTTING, NegativeAnswer, Pipeline, SpotAnswer
from pipeline.store import schema as s
from pipeline.store.database import Project
from pipeline.store.settings import ProjectSettings
from pipeline.team import roles
from pipeline.vocabulary import Category, add_categories

pytestmark = pytest.mark.skipif(not POSTGRES, reason=skips.POSTGRES)

MEMBERS = {"ann": roles.ANNOTATOR, "ver": roles.VERIFIER, "adm": roles.ADMIN}
MEMBERS_BELOW_ADMIN = ("ann", "ver")
EVERYONE = ("ann", "ver", "adm")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One secured project (two images, two categories, seeded), three member logins,
    and on it a segment drawn by the verifier and a stage-1 item the annotator holds."""
    folder = make_images(tmp_path_factory.mktemp("images"), 2)
    with team_server(MEMBERS) as srv:
        settings = ProjectSettings(spot_done_after=1)
        with Project.create(srv.owner_url, settings=settings) as project:
            add_categories(project, [Category("cat"), Category("dog")])
            add_image_folder(project, folder)
            add_logins(srv, project)
            Pipeline(project).seed()
        with Project.open(srv.url("ann")) as project:
            held = Pipeline(project).next_item(SPOTTING, srv.login("ann"))
            assert held is not None
        with Project.open(srv.url("ver")) as project:  # the other image, held by the verifier
            held_by_ver = Pipeline(project).next_item(SPOTTING, srv.login("ver"))
            assert held_by_ver is not None
        with srv.connect() as owner:  # a segment the verifier drew, as data (the owner)
            ver_id = _id(owner, srv.login("ver"))
            instance = owner.execute(
                "INSERT INTO instances (image_id, category_id, annotator_id, status, is_crowd,"
                " source, created_at) VALUES (1, 1, %s, 'segmented', false, 'pipeline', 0)"
                " RETURNING id",
                (ver_id,),
            ).fetchone()[0]
            owner.execute(
                "INSERT INTO segments (instance_id, version, annotator_id, mask_kind, mask, area,"
                " bbox_x, bbox_y, bbox_w, bbox_h, status, source, created_at) VALUES"
                " (%s, 1, %s, 'rle', '\\x00', 1, 0, 0, 1, 1, 'pending', 'pipeline', 0)",
                (instance, ver_id),
            )
            owner.execute(
                "INSERT INTO drafts (work_item_id, annotator_id, image_id, content, updated_at)"
                " VALUES (%s, %s, 1, '{\"secret\": 1}', 0)",
                (held.id, _id(owner, srv.login("ann"))),
            )
            owner.commit()
        srv.held_item = held.id  # type: ignore[attr-defined]
        srv.held_by = {"ann": held.id, "ver": held_by_ver.id}  # type: ignore[attr-defined]
        yield srv


def _id(conn, login: str) -> int:
    return conn.execute("SELECT id FROM annotators WHERE name = %s", (login,)).fetchone()[0]


def _refused(srv: TeamServer, who: str, sql: str, params: tuple = ()) -> str:
    """Run ``sql`` as ``who``; the database's error message (the test fails if it runs)."""
    import psycopg

    with srv.connect(who) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as caught:
            conn.execute(sql, params)
        conn.rollback()
    return str(caught.value)


def _runs(srv: TeamServer, who: str, sql: str, params: tuple = ()) -> int:
    """Run ``sql`` as ``who`` and roll it back; returns the rows it touched."""
    with srv.connect(who) as conn:
        rows = conn.execute(sql, params).rowcount
        conn.rollback()
    return rows


# ---------------------------------------------------------------- admin tables

ADMIN_WRITES = [
    ("annotators", "UPDATE annotators SET role = 'admin'"),
    ("annotators", "DELETE FROM annotators WHERE false"),
    ("settings", "UPDATE settings SET value = '\"annotator\"' WHERE key = 'verification_role'"),
    ("settings", "DELETE FROM settings"),
    ("categories", "UPDATE categories SET name = name || '!'"),
    ("categories", "DELETE FROM categories WHERE false"),
    ("images", "UPDATE images SET width = 1"),
    ("images", "DELETE FROM images WHERE false"),
    ("models", "UPDATE models SET status = 'ready'"),
    ("models", "DELETE FROM models"),
    # an import's exhaustive images (schema version 7): written by imports, an admin's
    ("category_sets", "INSERT INTO category_sets (source, created_at) VALUES ('imported', 0)"),
    ("category_set_members", "DELETE FROM category_set_members WHERE false"),
    ("exhaustive_images", "INSERT INTO exhaustive_images SELECT id, 1, 0 FROM images WHERE false"),
    ("exhaustive_images", "DELETE FROM exhaustive_images WHERE false"),
]


@pytest.mark.parametrize("who", MEMBERS_BELOW_ADMIN)
@pytest.mark.parametrize(
    ("table", "sql"), ADMIN_WRITES, ids=[f"{t}-{q.split()[0]}" for t, q in ADMIN_WRITES]
)
def test_members_cannot_update_or_delete_what_admins_keep(server, who, table, sql):
    message = _refused(server, who, sql)
    assert table in message


@pytest.mark.parametrize(
    ("table", "sql"), ADMIN_WRITES, ids=[f"{t}-{q.split()[0]}" for t, q in ADMIN_WRITES]
)
def test_an_admin_may_update_and_delete_them(server, table, sql):
    _runs(server, "adm", sql)  # no error (rolled back)


def test_the_annotator_cannot_make_themself_admin(server):
    _refused(
        server,
        "ann",
        "UPDATE annotators SET role = 'admin' WHERE name = %s",
        (server.login("ann"),),
    )
    _refused(server, "ann", f'GRANT "{_group(server)}admin" TO "{server.login("ann")}"')
    _refused(server, "ann", "SELECT longtail_team_set(%s, 'admin')", (server.login("ann"),))


GROUP_PREFIX = "SELECT 'lt' || oid::text || '_' FROM pg_database WHERE datname = current_database()"


def _group(srv: TeamServer) -> str:
    with srv.connect() as conn:
        return conn.execute(GROUP_PREFIX).fetchone()[0]


# ---------------------------------------------------------------- answers as oneself


@pytest.mark.parametrize("who", MEMBERS_BELOW_ADMIN)
def test_an_event_naming_another_annotator_is_refused(server, who):
    other = "adm" if who == "ann" else "ann"
    with server.connect() as owner:
        other_id, my_id = _id(owner, server.login(other)), _id(owner, server.login(who))
    sql = "INSERT INTO events (at, annotator_id, action) VALUES (0, %s, 'skip')"
    assert "row-level security" in _refused(server, who, sql, (other_id,))
    assert _runs(server, who, sql, (my_id,)) == 1  # as oneself it is accepted


@pytest.mark.parametrize("who", MEMBERS_BELOW_ADMIN)
@pytest.mark.parametrize("table", ["spot_visits", "negative_checks"])
def test_an_answer_naming_another_annotator_is_refused(server, who, table):
    other = "adm" if who == "ann" else "ann"
    with server.connect() as owner:
        other_id = _id(owner, server.login(other))
    extra = "nothing_new" if table == "spot_visits" else "category_id, present"
    values = "true" if table == "spot_visits" else "1, false"
    sql = f"INSERT INTO {table} (image_id, annotator_id, {extra}, created_at) VALUES (1, %s, {values}, 0)"
    assert "row-level security" in _refused(server, who, sql, (other_id,))


def test_an_admin_may_write_an_answer_for_another(server):
    with server.connect() as owner:
        ann_id = _id(owner, server.login("ann"))
    sql = "INSERT INTO events (at, annotator_id, action) VALUES (0, %s, 'skip')"
    assert _runs(server, "adm", sql, (ann_id,)) == 1


@pytest.mark.parametrize("who", MEMBERS_BELOW_ADMIN)
def test_nobody_but_an_admin_rewrites_or_deletes_the_history(server, who):
    for sql in (
        "UPDATE events SET annotator_id = NULL",
        "DELETE FROM events",
        "UPDATE verdicts SET accept = false",
    ):
        _refused(server, who, sql)
    assert _runs(server, "adm", "DELETE FROM events WHERE false") == 0


# ---------------------------------------------------------------- verdicts


def _segment_of(srv: TeamServer, login: str) -> int:
    with srv.connect() as owner:
        return owner.execute(
            "SELECT g.id FROM segments g JOIN annotators a ON a.id = g.annotator_id WHERE a.name = %s",
            (login,),
        ).fetchone()[0]


def test_a_verdict_on_ones_own_segment_is_refused(server):
    segment = _segment_of(server, server.login("ver"))
    with server.connect() as owner:
        ver_id = _id(owner, server.login("ver"))
        adm_id = _id(owner, server.login("adm"))
    sql = "INSERT INTO verdicts (segment_id, annotator_id, accept, created_at) VALUES (%s, %s, true, 0)"
    assert "row-level security" in _refused(server, "ver", sql, (segment, ver_id))
    assert _runs(server, "adm", sql, (segment, adm_id)) == 1


def test_self_verification_is_allowed_when_the_setting_says_so(server):
    segment = _segment_of(server, server.login("ver"))
    with server.connect() as owner:
        ver_id = _id(owner, server.login("ver"))
    sql = "INSERT INTO verdicts (segment_id, annotator_id, accept, created_at) VALUES (%s, %s, true, 0)"
    with server.connect("adm") as adm:
        adm.execute("UPDATE settings SET value = 'true' WHERE key = 'allow_self_verification'")
        adm.commit()
    try:
        assert _runs(server, "ver", sql, (segment, ver_id)) == 1
    finally:
        with server.connect("adm") as adm:
            adm.execute("UPDATE settings SET value = 'false' WHERE key = 'allow_self_verification'")
            adm.commit()


def test_an_annotator_gives_no_verdict_at_all(server):
    segment = _segment_of(server, server.login("ver"))
    with server.connect() as owner:
        ann_id = _id(owner, server.login("ann"))
    sql = "INSERT INTO verdicts (segment_id, annotator_id, accept, created_at) VALUES (%s, %s, true, 0)"
    _refused(server, "ann", sql, (segment, ann_id))


# ---------------------------------------------------------------- leases


@pytest.mark.parametrize("who", MEMBERS_BELOW_ADMIN)
def test_an_item_someone_else_holds_cannot_be_answered(server, who):
    item = server.held_by["ver" if who == "ann" else "ann"]
    with server.connect() as owner:
        my_id = _id(owner, server.login(who))
    assert "held by someone else" in _refused(
        server,
        who,
        "UPDATE work_items SET status = 'done', done_by = %s, done_at = 0 WHERE id = %s",
        (my_id, item),
    )
    _refused(server, who, "UPDATE work_items SET lease_owner = %s WHERE id = %s", (my_id, item))
    _refused(
        server,
        who,
        "INSERT INTO events (at, annotator_id, action, work_item_id) VALUES (0, %s, 'answer', %s)",
        (my_id, item),
    )
    renew = "UPDATE work_items SET lease_expires = lease_expires + 1 WHERE id = %s"
    assert _runs(server, "adm", renew, (item,)) == 1


def test_the_pipeline_refuses_acting_as_someone_else(server):
    with Project.open(server.url("ver")) as project:
        service = Pipeline(project)
        with pytest.raises(NotAllowedError, match="you act as your database login"):
            service.next_item(SPOTTING, server.login("ann"))
        with pytest.raises(NotAllowedError, match="is for admins"):
            service.seed(by=server.login("adm"))


def test_the_holder_answers_through_longtail(server):
    with Project.open(server.url("ann")) as project:
        service = Pipeline(project)
        (item,) = service.held(server.login("ann"), SPOTTING)
        result = service.answer(item, SpotAnswer(nothing_new=True))
        assert result.stage == SPOTTING
        assert service.can_undo(server.login("ann")) is None
        again = service.undo_last(server.login("ann"))  # undo deletes only one's own rows
        assert again.id == item.id
        service.answer(again, SpotAnswer(nothing_new=True))


# ---------------------------------------------------------------- drafts


@pytest.mark.parametrize("who", MEMBERS_BELOW_ADMIN)
def test_another_persons_draft_cannot_be_read_or_changed(server, who):
    with server.connect() as owner:
        (drafts,) = owner.execute("SELECT count(*) FROM drafts").fetchone()
    assert drafts == 1
    with server.connect(who) as conn:
        seen = conn.execute("SELECT count(*) FROM drafts").fetchone()[0]
        changed = conn.execute("UPDATE drafts SET content = '{}'").rowcount
        conn.rollback()
    assert (seen, changed) == ((1, 1) if who == "ann" else (0, 0))
    assert _runs(server, "adm", "SELECT * FROM drafts") == 1


def test_a_draft_cannot_be_written_for_another(server):
    with server.connect() as owner:
        ann_id = _id(owner, server.login("ann"))
    sql = "INSERT INTO drafts (work_item_id, annotator_id, image_id, content, updated_at) VALUES (%s, %s, 1, '{}', 0)"
    _refused(server, "ver", sql, (server.held_item, ann_id))


# ---------------------------------------------------------------- the team


def test_the_team_lists_logins_and_roles(server):
    with Project.open(server.url("adm")) as project:
        team = {m.name: m.role for m in roles.team(project)}
        me = roles.identity(project)
    for short, role in MEMBERS.items():
        assert team[server.login(short)] == role
    assert (me.login, me.role) == (server.login("adm"), roles.ADMIN)


def test_a_non_admin_cannot_change_the_team_and_is_told_who_can(server):
    with Project.open(server.url("ver")) as project, pytest.raises(NotAllowedError) as caught:
        roles.set_role(project, server.login("ver"), roles.ADMIN, by=server.login("adm"))
    message = str(caught.value)
    assert "is a verifier" in message and "is for admins" in message
    assert server.login("adm") in message  # who can grant it
    assert "--annotator" not in message and "LONGTAIL_ANNOTATOR" not in message


def test_an_admin_who_is_not_the_owner_changes_roles_and_removes(server):
    import psycopg

    with Project.open(server.url("adm")) as project:
        roles.set_role(project, server.login("ann"), roles.VERIFIER)
        with server.connect() as owner:
            assert _has(owner, server.login("ann"), "verifier")
        roles.set_role(project, server.login("ann"), roles.ANNOTATOR)
        removed = roles.remove_member(project, server.login("ann"))
        assert removed.role == roles.REMOVED
        with server.connect() as owner:
            assert not _has(owner, server.login("ann"), "annotator")
        with server.connect("ann") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT 1 FROM events")
        roles.add_member(project, server.login("ann"), roles.ANNOTATOR)  # back, same login
        with server.connect() as owner:
            assert _has(owner, server.login("ann"), "annotator")


def _has(conn, login: str, role: str) -> bool:
    group = conn.execute(GROUP_PREFIX).fetchone()[0]
    return bool(
        conn.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", (login, group + role)).fetchone()[0]
    )


def test_the_group_roles_belong_to_this_database_only(server):
    with server.connect() as owner:
        oid = owner.execute(
            "SELECT oid FROM pg_database WHERE datname = current_database()"
        ).fetchone()[0]
        comments = owner.execute(
            "SELECT rolname, shobj_description(oid, 'pg_authid') FROM pg_roles "
            "WHERE rolname LIKE %s ORDER BY rolname",
            (f"{s.GROUP_PREFIX}{oid}\\_%",),
        ).fetchall()
    assert [name for name, _ in comments] == [
        f"lt{oid}_{r}" for r in ("admin", "annotator", "verifier")
    ]
    assert all(server.database in comment for _, comment in comments)


@pytest.mark.parametrize("who", MEMBERS_BELOW_ADMIN)
def test_a_member_cannot_insert_an_already_accepted_mask(server, who):
    with server.connect() as owner:
        my_id = _id(owner, server.login(who))
    sql = (
        "INSERT INTO instances (image_id, category_id, annotator_id, status, is_crowd, source,"
        " created_at) VALUES (1, 1, %s, %s, false, 'pipeline', 0)"
    )
    _refused(server, who, sql, (my_id, "accepted"))
    assert _runs(server, who, sql, (my_id, "marked")) == 1


def test_a_member_spots_and_answers_the_negatives_the_queue_fills_itself(tmp_path):
    """Stage 1 finishing an image and stage 6 refilling its queue on a claim write the
    derived tables and open work items as a plain annotator."""
    folder = make_images(tmp_path / "images", 2)
    with team_server({"ann": roles.ANNOTATOR}) as srv:
        settings = ProjectSettings(spot_done_after=1, negatives_per_category=1)
        with Project.create(srv.owner_url, settings=settings) as project:
            add_categories(project, [Category("cat"), Category("dog"), Category("emu")])
            add_image_folder(project, folder)
            add_logins(srv, project)
            Pipeline(project).seed()
        me = srv.login("ann")
        with Project.open(srv.url("ann")) as project:
            service = Pipeline(project)
            while (item := service.next_item(SPOTTING, me)) is not None:
                service.answer(item, SpotAnswer(nothing_new=True))
            negative = service.next_item(NEGATIVES, me)
            assert negative is not None
            service.answer(negative, NegativeAnswer(present=False))
            assert service.can_undo(me) is None
            service.undo_last(me)
