"""The desktop app on a team project (issue 17): a PostgreSQL project opens with the login
dialog, the app works as that login (never the annotator name of the settings), the
status bar shows it, the password is stored nowhere, and an admin changes the team in
Project -> Team…; a non-admin's change is refused on one line."""

from __future__ import annotations

import pytest
import skips
from gui_support import open_and_wait, settings_sandbox, window  # noqa: F401 (fixtures)
from team_logins import add_logins, make_images, team_server
from team_support import POSTGRES

from app.gui import project_flows
from app.gui.widgets.login_dialog import Login, LoginDialog, user_of, with_user
from pipeline.images import add_image_folder
from pipeline.stages import Pipeline
from pipeline.store import credentials
from pipeline.store.database import Project
from pipeline.team import roles
from pipeline.vocabulary import Category, add_categories

needs_postgres = pytest.mark.skipif(not POSTGRES, reason=skips.POSTGRES)
MEMBERS = {"lead": roles.ADMIN, "bob": roles.ANNOTATOR}


@pytest.fixture
def server(tmp_path):
    if not POSTGRES:
        pytest.skip(skips.POSTGRES)
    folder = make_images(tmp_path / "images", 2)
    with team_server(MEMBERS) as srv:
        with Project.create(srv.owner_url) as project:
            add_categories(project, [Category("cat")])
            add_image_folder(project, folder)
            add_logins(srv, project)
            Pipeline(project).seed()
        credentials.forget_all()
        yield srv
        credentials.forget_all()
        roles.set_actor(None)


def log_in_as(monkeypatch, server, short: str) -> list[tuple[str, str]]:
    """Answer the login dialog with ``short``'s login and password; the calls it got."""
    asked: list[tuple[str, str]] = []

    def answer(_window, url, user):
        asked.append((url, user))
        return Login(server.login(short), server.passwords[server.login(short)])

    monkeypatch.setattr(project_flows, "ask_login", answer)
    return asked


def test_the_login_dialog_takes_a_user_and_a_hidden_password(qtbot):
    dialog = LoginDialog("postgresql://db.lab/birds", "ann")
    qtbot.addWidget(dialog)
    assert dialog.password.echoMode() == dialog.password.EchoMode.Password
    dialog.password.setText("s3cret")
    assert dialog.login() == Login("ann", "s3cret")
    dialog.user.setText("  ")
    assert dialog.login() is None


def test_a_url_names_its_login():
    assert (
        with_user("postgresql://db.lab:5433/birds", "bob") == "postgresql://bob@db.lab:5433/birds"
    )
    assert with_user("postgresql://ann@db.lab/birds", "bob") == "postgresql://bob@db.lab/birds"
    assert user_of("postgresql://ann@db.lab/birds") == "ann"
    assert user_of("postgresql://db.lab/birds") == ""


@needs_postgres
def test_a_team_project_opens_as_the_login_and_keeps_no_password(
    server,
    qtbot,
    window,  # noqa: F811 (the fixture)
    settings_sandbox,  # noqa: F811
    monkeypatch,
):
    from PySide6.QtCore import QSettings

    asked = log_in_as(monkeypatch, server, "bob")
    plain = server.url("bob", password=False).replace(f"{server.login('bob')}@", "")
    open_and_wait(qtbot, window, plain)
    assert asked == [(plain, "")]
    assert window.session.annotator.name == server.login("bob")  # not "tester"
    assert f"Login: {server.login('bob')} (annotator)" in window.identity_label.text()
    assert window.project_target == server.url("bob", password=False)
    asks: list[object] = []
    monkeypatch.setattr("app.gui.main_window.ask_annotator_name", lambda *a: asks.append(a))
    window.switch_annotator()  # never asks for a name on a team project
    assert asks == [] and window.session.annotator.name == server.login("bob")
    window.close_project()
    QSettings().sync()
    secret = server.passwords[server.login("bob")].encode()
    stored = [p for p in settings_sandbox.rglob("*") if p.is_file() and secret in p.read_bytes()]
    assert stored == []


@needs_postgres
def test_cancelling_the_login_opens_nothing(server, qtbot, window, monkeypatch):  # noqa: F811 (fixtures)
    monkeypatch.setattr(project_flows, "ask_login", lambda *args: None)
    with qtbot.waitSignal(window.openFailed, timeout=10000):
        assert not window.open_project(server.url("bob", password=False))
    assert window.session is None


@needs_postgres
def test_an_admin_adds_someone_and_changes_a_role_in_the_team_dialog(
    server,
    qtbot,
    window,  # noqa: F811 (the fixture)
    monkeypatch,
):
    import psycopg

    from app.gui.widgets.team_dialog import TeamDialog

    log_in_as(monkeypatch, server, "lead")
    open_and_wait(qtbot, window, server.url("lead", password=False))
    assert window.team_action.isEnabled()
    dialog = TeamDialog(window.session.project, window)
    qtbot.addWidget(dialog)
    names = [dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())]
    assert server.login("bob") in names and server.login("lead") in names
    newcomer = f"newcomer_{server.suffix}"
    server.roles[newcomer] = roles.ANNOTATOR  # dropped with the others
    dialog.new_name.setText(newcomer)
    dialog.new_role.setCurrentText("verifier")
    dialog.new_password.setText("n3w#pw@x")
    dialog.add_person()
    assert dialog.message.text() == f"{newcomer} is now verifier."
    assert dialog.new_password.text() == ""
    host = server.owner_url.split("@", 1)[1].split("/", 1)[0]
    with psycopg.connect(
        host=host.split(":")[0], user=newcomer, password="n3w#pw@x", dbname=server.database
    ) as conn:
        assert conn.execute("SELECT 1 FROM events LIMIT 1").fetchall() == []
    row = next(
        r for r in range(dialog.table.rowCount()) if dialog.table.item(r, 0).text() == newcomer
    )
    dialog.table.selectRow(row)
    dialog.role_of_selected.setCurrentText("admin")
    dialog.set_role_button.click()
    assert dialog.message.text() == f"{newcomer} is now admin."


@needs_postgres
def test_a_non_admin_is_refused_in_the_team_dialog(server, qtbot, window, monkeypatch):  # noqa: F811 (fixtures)
    from app.gui.widgets.team_dialog import TeamDialog

    log_in_as(monkeypatch, server, "bob")
    open_and_wait(qtbot, window, server.url("bob", password=False))
    dialog = TeamDialog(window.session.project, window)
    qtbot.addWidget(dialog)
    dialog.new_name.setText("mallory")
    dialog.new_role.setCurrentText("admin")
    dialog.add_person()
    text = dialog.message.text()
    assert "is for admins" in text and server.login("lead") in text
    assert "\n" not in text
