"""Eight members with real PostgreSQL logins work one project at once (issue 17): each
worker process connects as itself, so every answer passes the database's grants,
policies and work-queue trigger. No item is answered twice, nothing is left open, and the
event log holds one answer per done item, by the login that gave it."""

from __future__ import annotations

import pytest
import skips
from team_logins import add_logins, make_images, team_server
from team_support import EIGHT_MEMBERS, POSTGRES, QUICK_STAGES, check_team_finished, run_members

from pipeline.images import add_image_folder
from pipeline.stages import Pipeline
from pipeline.store import credentials
from pipeline.store.database import Project
from pipeline.vocabulary import Category, add_categories

pytestmark = pytest.mark.skipif(not POSTGRES, reason=skips.POSTGRES)

IMAGES = 8


def test_eight_logins_claim_every_item_once_and_log_every_answer(tmp_path):
    folder = make_images(tmp_path / "images", IMAGES)
    with team_server(EIGHT_MEMBERS) as server:
        with Project.create(server.owner_url, settings=QUICK_STAGES) as project:
            add_categories(project, [Category("cat"), Category("dog")])
            add_image_folder(project, folder)
            add_logins(server, project)
        with Project.open(server.url("boss")) as project:
            Pipeline(project).seed()  # an admin that is not the owner
        credentials.forget_all()  # each worker brings its own login and password
        logs = run_members([(server.url(n), server.login(n)) for n in EIGHT_MEMBERS])
        with Project.open(server.owner_url) as project:
            check_team_finished(project, logs, IMAGES, login=server.login)
