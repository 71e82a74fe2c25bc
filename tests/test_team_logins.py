"""Eight members with real PostgreSQL logins work one project at once (issue 17): each
worker process connects as itself, so every answer passes the database's grants,
policies and work-queue trigger. No item is answered twice, nothing is left open, and the
event log holds one answer per done item, by the login that gave it."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from concurrent.futures import ProcessPoolExecutor

import pytest
import skips
from sqlalchemy import select
from team_logins import add_logins, make_images, team_server
from team_support import POSTGRES, team_member

from pipeline.images import add_image_folder
from pipeline.stages import Pipeline
from pipeline.store import credentials
from pipeline.store import schema as s
from pipeline.store.database import Project
from pipeline.store.settings import ProjectSettings
from pipeline.team import roles
from pipeline.vocabulary import Category, add_categories

pytestmark = pytest.mark.skipif(not POSTGRES, reason=skips.POSTGRES)

SETTINGS = ProjectSettings(
    spot_done_after=1, negatives_per_category=0, negative_candidates_per_image=0
)
IMAGES = 8
TEAM = {
    "boss": roles.ADMIN,
    "vera": roles.VERIFIER,
    "vince": roles.VERIFIER,
    **{f"ann{k}": roles.ANNOTATOR for k in range(1, 6)},
}


def test_eight_logins_claim_every_item_once_and_log_every_answer(tmp_path):
    folder = make_images(tmp_path / "images", IMAGES)
    with team_server(TEAM) as server:
        with Project.create(server.owner_url, settings=SETTINGS) as project:
            add_categories(project, [Category("cat"), Category("dog")])
            add_image_folder(project, folder)
            add_logins(server, project)
        with Project.open(server.url("boss")) as project:
            Pipeline(project).seed()  # an admin that is not the owner
        credentials.forget_all()  # each worker brings its own login and password
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=len(TEAM), mp_context=context) as pool:
            futures = [
                pool.submit(team_member, server.url(short), server.login(short)) for short in TEAM
            ]
            logs = [f.result(timeout=240) for f in futures]

        answered = [i for log in logs for i in log.answered]
        assert len(answered) == len(set(answered)), "an item was answered twice"
        with Project.open(server.owner_url) as project, project.read() as conn:
            wi, ev = s.work_items, s.events
            statuses = Counter(conn.execute(select(wi.c.status)).scalars())
            done = dict(
                conn.execute(select(wi.c.id, wi.c.done_by).where(wi.c.status == s.DONE)).all()
            )
            answers = conn.execute(
                select(ev.c.work_item_id, ev.c.annotator_id).where(ev.c.action == "answer")
            ).all()
            names = dict(conn.execute(select(s.annotators.c.id, s.annotators.c.name)).all())
            verdicts = conn.execute(
                select(s.verdicts.c.annotator_id, s.segments.c.annotator_id).join(
                    s.segments, s.segments.c.id == s.verdicts.c.segment_id
                )
            ).all()
            instances = Counter(conn.execute(select(s.instances.c.status)).scalars())
        assert statuses[s.OPEN] == statuses[s.LEASED] == 0 and statuses[s.DONE] >= IMAGES * 6
        assert set(done) == set(answered)
        assert len(answers) == len(done)
        assert {a.work_item_id: a.annotator_id for a in answers} == done
        assert Counter(names[a] for a in done.values()) == Counter(
            {log.name: len(log.answered) for log in logs if log.answered}
        )
        verifying = {server.login(n) for n, r in TEAM.items() if r != roles.ANNOTATOR}
        assert {names[v] for v, _ in verdicts} <= verifying and verdicts
        assert all(v != author for v, author in verdicts)
        assert instances == Counter({s.ACCEPTED: IMAGES})
        annotators = [log for log in logs if log.name.startswith("ann")]
        assert sum(len(log.answered) for log in annotators) > 0
