"""Roles (pipeline/team/roles.py): one test per rule, on real SQLite projects and the service."""

from __future__ import annotations

import pytest
from stages_support import box_mask, category_ids, confirmed_pair, make_project, pending

from pipeline.errors import ConflictError, NotAllowedError
from pipeline.stages import (
    EXHAUSTIVE,
    NEGATIVES,
    SEGMENTATION,
    SPOTTING,
    VERIFICATION,
    ExhaustiveAnswer,
    Pipeline,
    SegmentAnswer,
    SpotAnswer,
    VerifyAnswer,
)
from pipeline.store import schema as s
from pipeline.store.transfer import table_checks
from pipeline.team import roles


@pytest.fixture
def service(tmp_path):
    with make_project(tmp_path) as project:
        yield Pipeline(project)


@pytest.fixture(autouse=True)
def nobody_acting(monkeypatch):
    """Each test says who acts; the machine's login name never decides."""
    monkeypatch.delenv(roles.ACTOR_VARIABLE, raising=False)
    roles.set_actor(None)
    yield
    roles.set_actor(None)


def drawn_segment(service: Pipeline, drawer: str = "drawer") -> None:
    """One instance marked and segmented by ``drawer``: a stage-4 item waits."""
    confirmed_pair(service, category_ids(service.project), [(10, 10, 30, 20)])
    item = service.next_item(SEGMENTATION, drawer)
    service.answer(item, SegmentAnswer(box_mask(*item.instance.box)))


def make_team(service: Pipeline, **members: str) -> None:
    """Roles in force: 'boss' is admin, and each name gets its role."""
    roles.set_role(service.project, service.annotator("boss").name, roles.ADMIN)
    for name, role in members.items():
        service.annotator(name)
        roles.set_role(service.project, name, role, by="boss")


# ---------------------------------------------------------------- a single user


def test_without_an_admin_everyone_may_do_everything(service, tiny_coco):
    """A single user's project: roles change nothing until someone is made admin."""
    drawn_segment(service)
    item = service.next_item(VERIFICATION, "anyone")
    service.answer(item, VerifyAnswer(True))
    service.answer(service.next_item(EXHAUSTIVE, "anyone"), ExhaustiveAnswer(True))
    roles.set_actor("anyone")
    service.project.update_settings(spot_done_after=3)
    service.seed()
    from pipeline.formats import export_coco

    assert export_coco(service.project)["annotations"]
    assert not roles.has_admin(service.project)


# ---------------------------------------------------------------- stages


def test_verification_is_for_verifiers_and_admins_once_roles_apply(service):
    drawn_segment(service)
    make_team(service, ann="annotator", ver="verifier")
    with pytest.raises(NotAllowedError, match=r"ann is an annotator .* stage 4 .* verifiers"):
        service.next_item(VERIFICATION, "ann")
    assert service.next_item(VERIFICATION, "ver") is not None


def test_an_admin_may_verify(service):
    drawn_segment(service)
    make_team(service)
    assert service.next_item(VERIFICATION, "boss") is not None


def test_exhaustive_verification_is_for_verifiers(service):
    drawn_segment(service)
    make_team(service, ann="annotator", ver="verifier")
    service.answer(service.next_item(VERIFICATION, "ver"), VerifyAnswer(True))
    assert pending(service.project, EXHAUSTIVE)
    with pytest.raises(NotAllowedError, match="stage 5"):
        service.next_item(EXHAUSTIVE, "ann")
    service.answer(service.next_item(EXHAUSTIVE, "ver"), ExhaustiveAnswer(True))


def test_the_annotating_stages_are_everyones(service):
    make_team(service, ann="annotator")
    assert service.next_item(SPOTTING, "ann") is not None
    service.next_item(NEGATIVES, "ann")  # nothing open, but not refused


def test_verification_role_setting_opens_verification_to_annotators(service):
    drawn_segment(service)
    make_team(service, ann="annotator")
    roles.set_actor("boss")
    service.project.update_settings(verification_role="annotator")
    assert service.next_item(VERIFICATION, "ann") is not None


def test_a_verifier_made_annotator_while_holding_an_item_cannot_answer_it(service):
    drawn_segment(service)
    make_team(service, ver="verifier")
    item = service.next_item(VERIFICATION, "ver")
    roles.set_role(service.project, "ver", roles.ANNOTATOR, by="boss")
    with pytest.raises(NotAllowedError):
        service.answer(item, VerifyAnswer(True))
    assert [r.status for r in pending(service.project, VERIFICATION)] == [s.LEASED]


# ---------------------------------------------------------------- own segments


def test_nobody_is_offered_their_own_segment(service):
    drawn_segment(service, drawer="alice")
    assert service.next_item(VERIFICATION, "alice") is None
    assert service.next_item(VERIFICATION, "bob") is not None


def test_allowing_self_verification_applies_to_items_already_open(service):
    drawn_segment(service, drawer="alice")  # opened while self-verification was off
    service.project.update_settings(allow_self_verification=True)
    item = service.next_item(VERIFICATION, "alice")
    assert item is not None
    service.answer(item, VerifyAnswer(True))


def test_forbidding_self_verification_applies_to_items_already_open(tmp_path):
    with make_project(tmp_path, allow_self_verification=True) as project:
        service = Pipeline(project)
        drawn_segment(service, drawer="alice")  # opened while self-verification was on
        held = service.next_item(VERIFICATION, "alice")
        service.release(held)
        project.update_settings(allow_self_verification=False)
        assert service.next_item(VERIFICATION, "alice") is None
        # an item taken before the change is refused at the answer
        project.update_settings(allow_self_verification=True)
        held = service.next_item(VERIFICATION, "alice")
        project.update_settings(allow_self_verification=False)
        with pytest.raises(ConflictError, match="own segment"):
            service.answer(held, VerifyAnswer(True))


# ---------------------------------------------------------------- admin actions


def test_a_non_admins_import_is_refused_and_the_project_is_unchanged(service, tiny_coco):
    from pipeline.formats import import_coco

    make_team(service, ver="verifier")
    before = table_checks(service.project)
    roles.set_actor("ver")
    with pytest.raises(NotAllowedError) as refused:
        import_coco(
            service.project,
            tiny_coco / "annotations" / "instances_val2017.json",
            images_root=tiny_coco / "val2017",
        )
    assert str(refused.value) == (
        f"ver is a verifier in this project, and importing annotations is for admins "
        f"(an admin (boss) grants it: longtail team {service.project.folder} set ver --role admin)"
    )
    assert table_checks(service.project) == before


def test_a_labelme_import_by_a_non_admin_is_refused(service, tmp_path):
    from pipeline.formats import import_labelme

    make_team(service, ann="annotator")
    with pytest.raises(NotAllowedError, match="importing annotations is for admins"):
        import_labelme(service.project, tmp_path / "nothing-read-before-the-check", split=None)


def test_export_is_for_admins(service, tmp_path):
    from pipeline.formats import export_lvis

    make_team(service, ver="verifier")
    roles.set_actor("ver")
    with pytest.raises(NotAllowedError, match="exporting the project is for admins"):
        export_lvis(service.project, tmp_path / "out.json")
    assert not (tmp_path / "out.json").exists()
    roles.set_actor("boss")
    export_lvis(service.project, tmp_path / "out.json")


def test_settings_are_for_admins(service):
    make_team(service, ver="verifier")
    roles.set_actor("ver")
    with pytest.raises(NotAllowedError, match="changing the project's settings"):
        service.project.update_settings(spot_done_after=3)
    assert service.project.settings().spot_done_after == 2


def test_seeding_is_for_admins(service):
    make_team(service, ann="annotator")
    with pytest.raises(NotAllowedError, match="seeding"):
        service.seed(by="ann")
    service.seed(by="boss")


def test_training_by_a_non_admin_is_refused_before_it_starts(service):
    from model.training.loop import train

    make_team(service, ver="verifier")
    roles.set_actor("ver")
    with pytest.raises(NotAllowedError, match="training a model is for admins"):
        train(service.project)
    assert service.project.counts()["models"] == 0


def test_someone_outside_the_team_is_told_how_to_join(service):
    make_team(service)
    with pytest.raises(NotAllowedError, match="stranger is not in this project's team"):
        roles.require(service.project, roles.EXPORT, "stranger")


# ---------------------------------------------------------------- the team


def test_the_team_is_changed_by_admins_only(service):
    make_team(service, ver="verifier")
    with pytest.raises(NotAllowedError, match="changing the team is for admins"):
        roles.add_member(service.project, "carol", roles.VERIFIER, by="ver")
    with pytest.raises(NotAllowedError):
        roles.set_role(service.project, "ver", roles.ADMIN, by="ver")
    roles.add_member(service.project, "carol", roles.VERIFIER, by="boss")
    assert {m.name: m.role for m in roles.team(service.project)} == {
        "boss": "admin",
        "ver": "verifier",
        "carol": "verifier",
    }


def test_the_only_admin_stays_admin(service):
    make_team(service)
    with pytest.raises(Exception, match="only admin"):
        roles.set_role(service.project, "boss", roles.VERIFIER, by="boss")


def test_an_unknown_role_is_refused(service):
    with pytest.raises(Exception, match="unknown role 'boss'"):
        roles.add_member(service.project, "x", "boss")


def test_who_acts_explicit_then_set_then_environment_then_login(monkeypatch):
    import getpass

    assert roles.acting_name() == getpass.getuser()
    monkeypatch.setenv(roles.ACTOR_VARIABLE, "env-name")
    assert roles.acting_name() == "env-name"
    roles.set_actor("set-name")
    assert roles.acting_name() == "set-name"
    assert roles.acting_name("given") == "given"


def test_a_finished_pipeline_run_still_works_for_a_team(service):
    """End to end with roles in force: annotator draws, verifier verifies and checks."""
    make_team(service, ann="annotator", ver="verifier")
    confirmed_pair(service, category_ids(service.project), [(10, 10, 30, 20)])
    item = service.next_item(SEGMENTATION, "ann")
    service.answer(item, SegmentAnswer(box_mask(*item.instance.box)))
    service.answer(service.next_item(VERIFICATION, "ver"), VerifyAnswer(True))
    service.answer(service.next_item(EXHAUSTIVE, "ver"), ExhaustiveAnswer(True))
    assert not pending(service.project, VERIFICATION) and not pending(service.project, EXHAUSTIVE)


def test_the_team_command_lists_adds_and_sets_roles(service, capsys):
    from app.cli import main

    folder = str(service.project.folder)
    service.annotator("ann")
    assert main(["team", folder, "list"]) == 0
    out = capsys.readouterr().out
    assert "annotator  ann" in out and "no admin yet, so everyone acts as admin" in out
    assert main(["team", folder, "set", "ann", "--role", "admin"]) == 0
    assert main(["team", folder, "add", "bob", "--role", "verifier", "--annotator", "ann"]) == 0
    assert capsys.readouterr().out.splitlines() == ["ann is now an admin", "bob is now a verifier"]
    code = main(["team", folder, "set", "ann", "--role", "annotator", "--annotator", "bob"])
    err = capsys.readouterr().err
    assert (
        code == 1
        and "bob is a verifier in this project, and changing the team is for admins" in err
    )
    assert main(["team", folder, "list"]) == 0
    assert capsys.readouterr().out.splitlines() == ["admin      ann", "verifier   bob"]


def test_someone_removed_keeps_their_answers_and_loses_the_admin_actions(service):
    make_team(service, ann="admin")
    item = service.next_item(SPOTTING, "ann")
    assert item is not None
    service.answer(item, SpotAnswer(nothing_new=True))
    before = table_checks(service.project)["events"]
    removed = roles.remove_member(service.project, "ann", by="boss")
    assert removed.role == roles.REMOVED
    assert {m.name: m.role for m in roles.team(service.project)}["ann"] == roles.REMOVED
    assert table_checks(service.project)["events"] == before  # the answers stay
    with pytest.raises(NotAllowedError, match="ann is not in this project's team"):
        roles.require(service.project, roles.EXPORT, "ann")
    with pytest.raises(NotAllowedError, match="changing the team is for admins"):
        roles.remove_member(service.project, "boss", by="ann")
    roles.add_member(service.project, "ann", roles.VERIFIER, by="boss")  # back again
    assert {m.name: m.role for m in roles.team(service.project)}["ann"] == roles.VERIFIER


def test_the_last_admin_cannot_be_removed(service):
    make_team(service)
    with pytest.raises(Exception, match="only admin"):
        roles.remove_member(service.project, "boss", by="boss")
