"""What the main window does for File's commands: create, open, import into and export
a project, and who may work which stage. The window only wires these to its actions;
each flow takes the window (for its dialogs, job runner and status bar) and leaves the
window's own state (the session, the views) to the window's wiring methods.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QThread
from PySide6.QtWidgets import QDialog, QInputDialog, QLineEdit

from pipeline.constants import SPOTTING
from pipeline.constants import STAGES as STAGE_NAMES
from pipeline.errors import LongtailError

from .widgets.dialogs import ExportDialog, ImportDialog, OpenProjectDialog, Report, project_display
from .workers.jobs import Job, JobOutcome, create_project_work, export_work, import_work, seed_work

if TYPE_CHECKING:
    from .main_window import MainWindow
    from .session import Session

STAGES = tuple(sorted(STAGE_NAMES))


# ---------------------------------------------------------------- creating


def new_project(window: MainWindow) -> None:
    """File -> New project: the wizard, then :func:`create_project` with its plan."""
    from .widgets.wizard import NewProjectWizard

    wizard = NewProjectWizard(window)
    window.wizard = wizard
    wizard.accepted.connect(lambda: window.create_project(wizard.plan()))
    wizard.open()


def create_project(window: MainWindow, plan: Any) -> None:
    """Run a wizard's plan: create and scan, then import (if asked), then open."""
    reports: list[Report] = []

    def after_scan(outcome: JobOutcome) -> None:
        reports.append(outcome.report)
        if not outcome.ok:
            window.show_report(outcome.report)
            return
        if plan.import_format:
            images_root = plan.images if plan.import_format != "labelme" else None
            window.run_job(
                Job(
                    "Importing annotations",
                    import_work(
                        plan.project,
                        plan.import_file,
                        plan.import_format,
                        images_root=images_root,
                        split=plan.import_split,  # the wizard asked (None: the file's name)
                    ),
                ),
                after_import,
                report=False,
            )
        else:
            after_import(None)

    def after_import(outcome: JobOutcome | None) -> None:
        if outcome is not None:
            reports.append(outcome.report)
        failed = any(r.failed for r in reports)
        lines = [line for r in reports for line in r.lines]
        summary = "\n".join(r.summary for r in reports)
        window.show_report(Report("New project", summary, lines, failed=failed))
        window.open_project(plan.project)

    window.run_job(
        Job(
            "Scanning images",
            create_project_work(plan.project, plan.images, plan.vocabulary),
        ),
        after_scan,
        report=False,
    )


# ---------------------------------------------------------------- opening


def ask_open_project(window: MainWindow) -> None:
    dialog = OpenProjectDialog(window, window.project_target or "")
    window.open_dialog = dialog
    dialog.accepted.connect(lambda: window.open_project(dialog.value()))
    dialog.open()


def open_demo(window: MainWindow) -> None:
    from app.demo import build_demo, default_location

    folder = default_location()
    # Building the demo reads five small images: quick enough to do here.
    with build_demo(folder):
        pass
    window.open_project(str(folder))


def start_session(window: MainWindow, target: str) -> Session | None:
    """Open ``target`` (a folder or a database URL) and a Session on it for the window's
    annotator; None after showing why it cannot be opened (and emitting openFailed)."""
    window.show_message(f"Opening {project_display(target)}\u2026")
    # The pipeline (SQLAlchemy, OpenCV) loads here, after the window is shown.
    from pipeline.store import credentials
    from pipeline.store.database import Project

    credentials.set_prompt(window.ask_password)

    from .session import Session

    window.login_label = window.login_name = None
    window.project_login_target = target
    if "://" in target:  # a team project: you are your database login (decision 0020)
        logged_in = log_in(window, target)
        if logged_in is None:
            window.openFailed.emit("not logged in")
            return None
        target = window.project_login_target = logged_in
    try:
        project = Project.open(target)
    except LongtailError as exc:
        _refused(window, target, exc)
        return None
    try:
        name = window.annotator_name
        if "://" in target:
            from pipeline.team import roles

            me = roles.identity(project)
            if me.secured and me.login:
                name = window.login_name = me.login
                window.login_label = f"Login: {me.login} ({me.role or 'not in the team'})"
            elif me.pending:  # version 5: it works as before, and says so
                window.login_label = (
                    f"Annotator: {name} (team roles not applied yet: its owner runs "
                    "longtail team URL upgrade)"
                )
        return Session(project, name, window)
    except LongtailError as exc:
        project.close()
        _refused(window, target, exc)
        return None


def log_in(window: MainWindow, target: str) -> str | None:
    """The login of a server project: a URL that carries its password is used as it is;
    else the login dialog asks for the user and the password, which stays in this
    process's memory. Returns the URL (without a password) naming the login; None when
    cancelled."""
    from pipeline.store import credentials

    from .widgets.login_dialog import user_of, with_user

    public, password = credentials.split_password(target)
    if password is not None:
        return target
    login = ask_login(window, public, user_of(public))
    if login is None:
        return None
    url = with_user(public, login.user)
    if login.password:  # empty: libpq's own sources (PGPASSWORD, ~/.pgpass) may have it
        credentials.remember(url, login.password)
    return url


def ask_login(window: MainWindow, url: str, user: str) -> Any:
    """Show the login dialog (tests replace this function); a Login or None."""
    from .widgets.login_dialog import LoginDialog

    dialog = LoginDialog(url, user, window)
    return dialog.login() if dialog.exec() == QDialog.DialogCode.Accepted else None


def _refused(window: MainWindow, target: str, exc: LongtailError) -> None:
    window.show_report(
        Report("Open project", f"Cannot open {project_display(target)}: {exc}", failed=True)
    )
    window.openFailed.emit(str(exc))


def start_work(window: MainWindow, session: Session) -> None:
    """Go to the first stage; a project never seeded has its work items opened first."""
    progress = session.pipeline.progress()
    never_seeded = not any(p.open + p.leased + p.done for p in progress.values())
    if never_seeded and session.project.counts()["images"]:
        # A project made outside the pipeline (init, an import, the demo): open its
        # first work items on a worker; a large project takes a moment.
        window.run_job(
            Job("Opening work items", seed_work(session.project)),
            lambda _outcome: window._enter_first_stage(),
            report=False,
        )
    else:
        window._enter_first_stage()


def allowed_stages(session: Session) -> set[int]:
    """The stages the session's annotator may work: all of them until the project has an
    admin, then those their role allows (decision 0010); the pipeline refuses the rest."""
    from pipeline.team import roles

    project = session.project
    if not roles.has_admin(project):
        return set(STAGES)
    mine = {m.name: m.role for m in roles.team(project)}
    role = mine.get(session.annotator.name, roles.ANNOTATOR)
    settings = project.settings()
    return {st for st in STAGES if roles.may(role, roles.stage_role(st, settings))}


def settings_permission(session: Session) -> tuple[bool, str]:
    """(may change the project's settings, why not): anyone until the project has an
    admin (decision 0010), then its admins only."""
    from pipeline.team import roles

    project = session.project
    if not roles.has_admin(project):
        return True, ""
    members = roles.team(project)
    admins = [m.name for m in members if m.role == roles.ADMIN]
    if session.annotator.name in admins:
        return True, ""
    return False, (
        f"Only an admin of this project may change its settings ({', '.join(admins)}); "
        "they are shown here as they are."
    )


def first_stage(session: Session, allowed: Iterable[int]) -> tuple[int, bool]:
    """Where work resumes: the stage of items this annotator still holds (after a restart
    or a crash, with their drafts), else the first allowed stage with open items.
    Returns (stage, resumed)."""
    session.refresh_progress()
    progress = session.last_progress
    allowed = set(allowed)
    held = sorted({item.stage for item in session.pipeline.held(session.annotator)})
    open_stages = [st for st in sorted(progress) if progress[st].open > 0 and st in allowed]
    return (held or open_stages or [SPOTTING])[0], bool(held)


def ask_password(window: MainWindow, url: str) -> str | None:
    """The database server wants a password (pipeline.store.credentials' prompt). Asked only on
    the GUI thread; a worker's connection fails instead, with its reason."""
    if QThread.currentThread() is not window.thread():
        return None
    text, ok = QInputDialog.getText(
        window, "Password", f"Password for {url}:", QLineEdit.EchoMode.Password
    )
    return text if ok else None


# ---------------------------------------------------------------- import and export


def ask_import(window: MainWindow) -> None:
    if window.session is None:
        return
    dialog = ImportDialog(window)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return
    fmt, file, images, lenient = dialog.values()
    window.import_annotations(file, fmt, images_root=images, lenient=lenient)


def import_annotations(
    window: MainWindow,
    file: str,
    fmt: str,
    *,
    images_root: str | None = None,
    lenient: bool = False,
) -> Job:
    """Import into the open project on a worker; a refusal changes nothing."""
    assert window.project_target is not None
    return window.run_job(
        Job(
            "Importing annotations",
            import_work(window.project_target, file, fmt, images_root=images_root, lenient=lenient),
        )
    )


def ask_export(window: MainWindow) -> None:
    if window.session is None or window.project_target is None:
        return
    target = window.project_target
    folder = Path(target) if "://" not in target else Path.cwd()
    dialog = ExportDialog(window, str(folder / "export.json"))
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return
    fmt, out = dialog.values()
    if out:
        window.run_job(Job("Exporting", export_work(window.session.project, out, fmt)))
