"""Rollout intake: validation and rejection, the per-endpoint lease, the queue of one, dead leases."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

import pytest
from rollout_fakes import (
    BUCKET,
    DEPLOY,
    ECR,
    ENDPOINT,
    STATE_MACHINE_ARN,
    RolloutAslWalk,
    RolloutWorld,
    archive,
    decision,
    events,
    production_world,
    put_deploy_json,
    status,
    upload_version,
    walk_happy_path_like_rollout_asl,
)

from sluice.domain.intake import Upload
from sluice.domain.registry import intake_pk
from sluice.domain.rollout.intake import (
    MAX_DEPLOY_CONFIG_BYTES,
    execution_name,
    start_next_queued,
    start_rollout_upload,
)
from sluice.domain.rollout.signals import request_abort

VERSION_DEPLOY = "endpoints/fraud/v2/deploy.json"
ENDPOINT_DEPLOY = "endpoints/fraud/deploy.json"


def nothing_started(world: RolloutWorld) -> None:
    assert world.workflow.started == []
    assert world.rollouts.rollouts(ENDPOINT) == []
    assert world.rollouts.lease(ENDPOINT) is None
    assert world.rollouts.queued(ENDPOINT) is None


def rejection(world: RolloutWorld) -> dict[str, Any]:
    (sent,) = [detail for kind, detail in world.notifier.sent if kind == "Sluice Artifact Rejected"]
    return sent


# -- a valid upload ----------------------------------------------------------------------------------


def test_a_valid_upload_takes_the_lease_and_starts_its_execution() -> None:
    world = production_world()
    outcome = upload_version(world, "v2")

    assert outcome.status == "STARTED"
    rollout_id = outcome.details["rollout_id"]
    assert rollout_id.startswith("20261125T120001Z-v2-")
    rollout = world.rollouts.rollout(ENDPOINT, rollout_id)
    assert rollout is not None
    assert rollout["status"] == "STARTING"
    assert rollout["config_source"] == VERSION_DEPLOY
    sha256 = hashlib.sha256(archive()).hexdigest()
    assert rollout["model_data_url"] == f"s3://{BUCKET}/published/endpoints/fraud/v2/{sha256}/model.tar.gz"
    assert json.loads(rollout["config"]) == DEPLOY

    name = execution_name(ENDPOINT, "v2", rollout["suffix"])
    arn = STATE_MACHINE_ARN.replace(":stateMachine:", ":execution:") + f":{name}"
    assert world.workflow.started == [
        (name, {"rollout_id": rollout_id, "endpoint": ENDPOINT, "version": "v2"})
    ]
    assert rollout["execution_arn"] == arn
    lease = world.rollouts.lease(ENDPOINT)
    assert lease is not None
    assert (lease["rollout_id"], lease["execution_arn"]) == (rollout_id, arn)

    assert events(world, rollout_id) == ["received"]
    assert "endpoints/fraud/v2/deploy.json" in decision(world, rollout_id, "received")["reason"]
    head = world.store.head(BUCKET, "endpoints/fraud/v2/model.tar.gz")
    assert head is not None
    intake = world.registry.get(intake_pk(BUCKET, head.key), f"version#{head.version_id}")
    assert intake is not None
    assert (intake["status"], intake["rollout_id"]) == ("ROLLOUT_STARTED", rollout_id)


def test_without_any_deploy_json_the_defaults_apply() -> None:
    world = production_world()
    outcome = upload_version(world, "v2", deploy=None)
    rollout = world.rollouts.rollout(ENDPOINT, outcome.details["rollout_id"])
    assert rollout is not None
    assert rollout["config_source"] == "default settings (no deploy.json)"
    assert json.loads(rollout["config"]) == {}


def test_the_same_object_version_is_not_rolled_out_twice() -> None:
    world = production_world()
    upload_version(world, "v2")
    head = world.store.head(BUCKET, "endpoints/fraud/v2/model.tar.gz")
    assert head is not None
    again = start_rollout_upload(
        Upload(BUCKET, head.key, "raw", head.version_id, head.etag), world.services, world.clock(), "fff111"
    )
    assert again.status == "ROLLOUT_STARTED"
    assert len(world.workflow.started) == 1


# -- the model data: an immutable copy of the validated version (issue 9, finding 24) ---------------


def published_copy(world: RolloutWorld, rollout_id: str) -> str:
    rollout = world.rollouts.rollout(ENDPOINT, rollout_id)
    assert rollout is not None
    return str(rollout["model_data_url"])


def test_the_candidate_serves_a_copy_of_the_validated_version_not_the_upload_key() -> None:
    """SageMaker downloads ModelDataUrl again on every scale-out or instance replacement: pointing it at
    the upload key would serve whatever was uploaded there later, unvalidated."""
    world = production_world()
    validated = archive({"model.pth": b"validated weights"})
    rollout_id = upload_version(world, "v2", body=validated).details["rollout_id"]
    key = "endpoints/fraud/v2/model.tar.gz"
    upload = world.store.head(BUCKET, key)
    assert upload is not None
    world.store.put(BUCKET, key, b"overwritten after validation, never validated")

    url = published_copy(world, rollout_id)
    sha256 = hashlib.sha256(validated).hexdigest()
    assert url == f"s3://{BUCKET}/published/endpoints/fraud/v2/{sha256}/model.tar.gz"
    copy_key = url.removeprefix(f"s3://{BUCKET}/")
    assert world.store.body(BUCKET, copy_key) == validated
    copied = world.store.head(BUCKET, copy_key)
    assert copied is not None
    assert copied.written_by_sluice  # an intake would ignore it even under an intake prefix
    assert copied.metadata["sluice-sha256"] == sha256
    assert url in decision(world, rollout_id, "received")["reason"]
    assert decision(world, rollout_id, "received")["model_data_url"] == url

    RolloutAslWalk.of_started(world).start()  # the candidate model is created from the record
    rollout = world.rollouts.rollout(ENDPOINT, rollout_id)
    assert rollout is not None
    created = world.endpoints.models[rollout["plan"]["create_model"]["ModelName"]]
    assert created["PrimaryContainer"]["ModelDataUrl"] == url


def test_the_copy_is_of_the_version_the_event_names_even_if_the_key_moved_on() -> None:
    """The key overwritten between the upload and the intake: the event's version is validated and
    copied, never the newer bytes at the key."""
    world = production_world()
    put_deploy_json(world, "endpoints/fraud/v2/deploy.json", DEPLOY)
    key = "endpoints/fraud/v2/model.tar.gz"
    validated = archive({"model.pth": b"first"})
    first = world.store.put(BUCKET, key, validated)
    world.store.put(BUCKET, key, archive({"model.pth": b"second"}))

    outcome = start_rollout_upload(
        Upload(BUCKET, key, "raw", first.version_id, first.etag), world.services, world.clock(), "aaaaaa"
    )
    url = published_copy(world, outcome.details["rollout_id"])
    assert world.store.body(BUCKET, url.removeprefix(f"s3://{BUCKET}/")) == validated


def test_a_retried_intake_reuses_the_copy_it_already_made(monkeypatch: pytest.MonkeyPatch) -> None:
    world = production_world()
    original = world.workflow.start

    def unavailable(*args: Any) -> str:
        raise RuntimeError("Step Functions is unavailable")

    monkeypatch.setattr(world.workflow, "start", unavailable)
    with pytest.raises(RuntimeError):
        upload_version(world, "v2")
    (failed,) = world.rollouts.rollouts(ENDPOINT)
    monkeypatch.setattr(world.workflow, "start", original)
    head = world.store.head(BUCKET, "endpoints/fraud/v2/model.tar.gz")
    assert head is not None
    retried = start_rollout_upload(
        Upload(BUCKET, head.key, "raw", head.version_id, head.etag), world.services, world.clock(), "bbbbbb"
    )

    assert len(world.store.copies) == 1
    assert published_copy(world, retried.details["rollout_id"]) == failed["model_data_url"]


def test_a_published_key_holding_other_bytes_is_never_overwritten() -> None:
    """The copy's key names the validated bytes (their sha256): other bytes there are not Sluice's copy
    (someone wrote them), and may be in service. The upload is refused and the object left alone."""
    world = production_world()
    validated = archive()
    squatter = f"published/endpoints/fraud/v2/{hashlib.sha256(validated).hexdigest()}/model.tar.gz"
    world.store.put(BUCKET, squatter, b"someone else's bytes")
    outcome = upload_version(world, "v2", body=validated)

    assert outcome.status == "REJECTED"
    assert rejection(world)["code"] == "InvalidTarget"
    assert f"s3://{BUCKET}/{squatter} already holds other bytes" in outcome.message
    assert world.store.body(BUCKET, squatter) == b"someone else's bytes"
    assert world.store.copies == []
    nothing_started(world)


# -- rejections: nothing started -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version_level", "endpoint_level", "named"),
    [
        pytest.param({"rollout": {"stepz": [10]}}, {}, VERSION_DEPLOY, id="version-level invalid"),
        pytest.param({"rollout": {"stepz": [10]}}, {"bogus": 1}, VERSION_DEPLOY, id="version-level wins"),
        pytest.param(None, {"rollout": {"steps": [50, 10]}}, ENDPOINT_DEPLOY, id="endpoint-level invalid"),
        pytest.param(b"{not json", None, VERSION_DEPLOY, id="not JSON"),
        pytest.param(b" " * (MAX_DEPLOY_CONFIG_BYTES + 1), None, VERSION_DEPLOY, id="too large"),
        # Issue 13: the image allow-list's refusal named neither the file nor the field.
        pytest.param({"image": "ghcr.io/x/miner:1"}, None, f"{VERSION_DEPLOY}: image: image ", id="image"),
        pytest.param(
            None, {"image": "ghcr.io/x/miner:1"}, f"{ENDPOINT_DEPLOY}: image: image ", id="endpoint image"
        ),
        pytest.param(
            {"containers": [{"image": f"{ECR}/pre:1", "model_data": None}, {"image": "ghcr.io/x/miner:1"}]},
            None,
            f"{VERSION_DEPLOY}: containers[1].image: image 'ghcr.io/x/miner:1' comes from registry 'ghcr.io'",
            id="second container's image",
        ),
        pytest.param(
            None,
            {"containers": [{"image": "miner:1"}]},
            f"{ENDPOINT_DEPLOY}: containers[0].image: image 'miner:1' names no registry host",
            id="docker hub shorthand",
        ),
    ],
)
def test_an_invalid_deploy_json_is_rejected_naming_its_key(
    version_level: dict[str, Any] | bytes | None, endpoint_level: dict[str, Any] | None, named: str
) -> None:
    world = production_world()
    if endpoint_level is not None:
        put_deploy_json(world, ENDPOINT_DEPLOY, endpoint_level)
    outcome = upload_version(world, "v2", deploy=version_level)

    assert outcome.status == "REJECTED"
    assert outcome.message.startswith(f"{named}")
    assert rejection(world)["reason"] == outcome.message
    assert rejection(world)["endpoint"] == ENDPOINT
    nothing_started(world)


def test_each_levels_error_names_the_offending_key() -> None:
    world = production_world()
    put_deploy_json(world, ENDPOINT_DEPLOY, {"rollout": {"bake_seconds": -1}})
    outcome = upload_version(world, "v2", deploy={"rollout": {"stepz": [10]}})
    assert "unknown key rollout.stepz" in outcome.message
    assert outcome.message.startswith(f"{VERSION_DEPLOY}: ")
    assert ENDPOINT_DEPLOY not in outcome.message

    other = production_world()
    put_deploy_json(other, ENDPOINT_DEPLOY, {"rollout": {"bake_seconds": -1}})
    outcome = upload_version(other, "v2", deploy=None)
    assert outcome.message.startswith(f"{ENDPOINT_DEPLOY}: ")
    assert "rollout.bake_seconds" in outcome.message


def test_a_valid_version_level_deploy_json_wins_over_an_invalid_endpoint_level_one() -> None:
    world = production_world()
    put_deploy_json(world, ENDPOINT_DEPLOY, {"bogus": True})
    outcome = upload_version(world, "v2")
    assert outcome.status == "STARTED"


def test_an_image_outside_the_allow_list_is_rejected_naming_its_registry() -> None:
    world = production_world()
    outcome = upload_version(world, "v2", deploy={"image": "registry.evil.example/miner:latest"})
    assert outcome.status == "REJECTED"
    assert "'registry.evil.example'" in outcome.message
    assert "not on the allow-list" in outcome.message
    nothing_started(world)


def test_a_hostile_archive_is_rejected() -> None:
    world = production_world()
    outcome = upload_version(world, "v2", body=archive({"../../etc/cron.d/job": b"* * * * * root sh"}))
    assert outcome.status == "REJECTED"
    assert "../../etc/cron.d/job" in outcome.message
    assert rejection(world)["code"] == "InvalidArtifact"
    nothing_started(world)


def test_an_invalid_version_name_is_rejected_with_the_rule() -> None:
    world = production_world()
    outcome = upload_version(world, "v_2")
    assert outcome.status == "REJECTED"
    assert "version 'v_2' contains '_'" in outcome.message
    nothing_started(world)


# -- the lease and the queue of one ---------------------------------------------------------------


def test_an_upload_while_a_rollout_holds_the_lease_is_queued() -> None:
    world = production_world()
    first = upload_version(world, "v2").details["rollout_id"]
    outcome = upload_version(world, "v3")

    assert outcome.status == "QUEUED"
    second = outcome.details["rollout_id"]
    rollout = world.rollouts.rollout(ENDPOINT, second)
    assert rollout is not None
    assert (rollout["status"], rollout["queued_behind"]) == ("QUEUED", first)
    queued = world.rollouts.queued(ENDPOINT)
    assert queued is not None
    assert (queued["rollout_id"], queued["version"]) == (second, "v3")
    assert [payload["rollout_id"] for _, payload in world.workflow.started] == [first]
    assert first in decision(world, second, "queued")["reason"]
    assert [n["status"] for n in world.notifications(second)] == ["QUEUED"]
    lease = world.rollouts.lease(ENDPOINT)
    assert lease is not None
    assert lease["rollout_id"] == first


def test_an_upload_queued_while_the_running_rollout_frees_the_lease_still_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The race of check-and-queue: v3 finds v2 holding the lease, and before v3's queue entry is written,
    v2 ends, finds nothing queued and frees the lease. v3 must not be stranded behind a lease nobody
    holds: having queued, it looks again and starts."""
    world = production_world()
    first = upload_version(world, "v2").details["rollout_id"]
    original = world.rollouts.queue_if_newest

    def queue_as_the_running_rollout_ends(endpoint: str, queued: dict[str, Any]) -> Any:
        assert start_next_queued(world.services, endpoint, first, world.clock()) is None  # nothing queued yet
        assert world.rollouts.lease(endpoint) is None
        return original(endpoint, queued)

    monkeypatch.setattr(world.rollouts, "queue_if_newest", queue_as_the_running_rollout_ends)
    outcome = upload_version(world, "v3")

    second = outcome.details["rollout_id"]
    lease = world.rollouts.lease(ENDPOINT)
    assert lease is not None
    assert lease["rollout_id"] == second
    assert world.rollouts.queued(ENDPOINT) is None
    assert [payload["rollout_id"] for _, payload in world.workflow.started] == [first, second]
    assert status(world, second) == "STARTING"
    assert outcome.status == "STARTED"
    assert events(world, second)[-2:] == ["queued", "dequeued"]


def test_a_third_upload_supersedes_the_queued_one() -> None:
    world = production_world()
    upload_version(world, "v2")
    second = upload_version(world, "v3").details["rollout_id"]
    third = upload_version(world, "v4").details["rollout_id"]

    superseded = world.rollouts.rollout(ENDPOINT, second)
    assert superseded is not None
    assert (superseded["status"], superseded["superseded_by"]) == ("SUPERSEDED", third)
    assert "version v4 was uploaded while this one waited" in decision(world, second, "superseded")["reason"]
    assert [n["status"] for n in world.notifications(second)] == ["QUEUED", "SUPERSEDED"]
    assert status(world, third) == "QUEUED"
    queued = world.rollouts.queued(ENDPOINT)
    assert queued is not None
    assert queued["rollout_id"] == third
    assert len(world.workflow.started) == 1


def test_the_lease_of_an_execution_no_longer_running_is_taken_over() -> None:
    world = production_world()
    dead = upload_version(world, "v2").details["rollout_id"]
    world.workflow.end(str(world.rollouts.lease(ENDPOINT)["execution_arn"]))  # type: ignore[index]
    world.clock.at += timedelta(minutes=3)  # past the grace a just-taken lease gets

    outcome = upload_version(world, "v3")

    assert outcome.status == "STARTED"
    rollout_id = outcome.details["rollout_id"]
    lease = world.rollouts.lease(ENDPOINT)
    assert lease is not None
    assert lease["rollout_id"] == rollout_id
    assert [payload["version"] for _, payload in world.workflow.started] == ["v2", "v3"]
    assert dead in decision(world, rollout_id, "lease recovered")["reason"]
    assert world.rollouts.queued(ENDPOINT) is None
    # the dead one does not stay "STARTING" for ever
    assert status(world, dead) == "ABANDONED"
    assert f"rollout {rollout_id} took the lease over" in decision(world, dead, "abandoned")["reason"]
    assert world.notifications(dead)[-1]["status"] == "ABANDONED"


def test_a_dead_execution_that_left_the_endpoint_half_way_needs_attention_and_keeps_the_lease() -> None:
    world = production_world()
    dead = upload_version(world, "v2", deploy={"rollout": {"steps": [10, 100]}}).details["rollout_id"]
    walk = RolloutAslWalk.of_started(world)
    walk.start()
    walk.to_bake()  # v2 at 10 %, baking, when someone stops the execution by hand
    world.workflow.end(str(world.rollouts.lease(ENDPOINT)["execution_arn"]))  # type: ignore[index]
    world.clock.at += timedelta(minutes=3)

    outcome = upload_version(world, "v3")

    assert outcome.status == "QUEUED"
    assert len(world.workflow.started) == 1
    lease = world.rollouts.lease(ENDPOINT)
    assert lease is not None and lease["rollout_id"] == dead
    rollout = world.rollouts.rollout(ENDPOINT, dead)
    assert rollout is not None
    assert rollout["status"] == "NEEDS_ATTENTION"
    assert rollout["reason"].endswith(
        "but the rollout was BAKING: endpoint fraud is InService with v1 90 %, v2 10 %"
    )
    assert rollout["endpoint_state"] == {
        "v1": {"weight": 90.0, "instances": 3},
        "v2": {"weight": 10.0, "instances": 1},
    }
    assert world.notifications(dead)[-1]["status"] == "NEEDS_ATTENTION"
    assert "needs attention" in decision(world, outcome.details["rollout_id"], "queued")["reason"]


def test_a_just_taken_lease_is_not_taken_over_while_its_execution_may_still_be_starting() -> None:
    world = production_world()
    upload_version(world, "v2")
    world.workflow.end(str(world.rollouts.lease(ENDPOINT)["execution_arn"]))  # type: ignore[index]
    assert upload_version(world, "v3").status == "QUEUED"


def test_losing_the_take_over_race_queues_the_upload(monkeypatch: pytest.MonkeyPatch) -> None:
    world = production_world()
    upload_version(world, "v2")
    world.workflow.end(str(world.rollouts.lease(ENDPOINT)["execution_arn"]))  # type: ignore[index]
    world.clock.at += timedelta(minutes=3)
    monkeypatch.setattr(world.rollouts, "take_over_lease", lambda *args: False)
    assert upload_version(world, "v3").status == "QUEUED"
    assert len(world.workflow.started) == 1


def end_by_promotion(world: RolloutWorld, walk: RolloutAslWalk) -> None:
    walk_happy_path_like_rollout_asl(walk)


def end_by_rollback(world: RolloutWorld, walk: RolloutAslWalk) -> None:
    walk.start()
    walk.to_bake()
    request_abort(world.services, ENDPOINT, walk.state["rollout_id"], "bad canary", "alice", world.clock())
    walk.rollback("Sluice.Abort", "bad canary")


def end_by_refusal(world: RolloutWorld, walk: RolloutAslWalk) -> None:
    world.endpoints.endpoints[ENDPOINT].status = "Updating"
    error, cause = walk.fails("Prepare")
    walk.caught("Refused", error, cause)


@pytest.mark.parametrize(
    ("end", "final"),
    [(end_by_promotion, "PROMOTED"), (end_by_rollback, "ROLLED_BACK"), (end_by_refusal, "REFUSED")],
    ids=["finish_promotion", "finish_rollback", "refused"],
)
def test_when_the_running_rollout_ends_only_the_newest_queued_starts(end: Any, final: str) -> None:
    world = production_world()
    running = upload_version(world, "v2").details["rollout_id"]
    superseded = upload_version(world, "v3").details["rollout_id"]
    newest = upload_version(world, "v4").details["rollout_id"]

    end(world, RolloutAslWalk.of_started(world, 0))

    assert status(world, running) == final
    assert [payload["version"] for _, payload in world.workflow.started] == ["v2", "v4"]
    assert world.workflow.started[-1][1] == {"rollout_id": newest, "endpoint": ENDPOINT, "version": "v4"}
    assert status(world, newest) == "STARTING"
    assert status(world, superseded) == "SUPERSEDED"
    lease = world.rollouts.lease(ENDPOINT)
    assert lease is not None
    assert lease["rollout_id"] == newest
    assert world.rollouts.queued(ENDPOINT) is None
    assert decision(world, newest, "dequeued")["reason"] == f"rollout {running} ended"
    assert [n["status"] for n in world.notifications(newest)] == ["QUEUED", "STARTING"]


def test_with_nothing_queued_ending_a_rollout_just_frees_the_lease() -> None:
    world = production_world()
    upload_version(world, "v2")
    walk_happy_path_like_rollout_asl(RolloutAslWalk.of_started(world))
    assert world.rollouts.lease(ENDPOINT) is None
    assert start_next_queued(world.services, ENDPOINT, "finished-rollout", world.clock()) is None
    assert len(world.workflow.started) == 1


def test_a_dequeued_version_finding_the_lease_taken_queues_again() -> None:
    world = production_world()
    running = upload_version(world, "v2").details["rollout_id"]
    queued = upload_version(world, "v3").details["rollout_id"]
    # The lease is no longer the finishing rollout's: another execution (still running) holds it.
    world.rollouts.release_lease(ENDPOINT, running)
    other = STATE_MACHINE_ARN.replace(":stateMachine:", ":execution:") + ":other"
    world.workflow.executions[other] = {"name": "other", "input": {}, "running": True}
    world.rollouts.acquire_lease(ENDPOINT, {"rollout_id": "other", "execution_arn": other})

    assert start_next_queued(world.services, ENDPOINT, running, world.clock()) is None

    assert status(world, queued) == "QUEUED"
    assert "dequeued" not in events(world, queued)
    again = world.rollouts.queued(ENDPOINT)
    assert again is not None
    assert again["rollout_id"] == queued
    assert len(world.workflow.started) == 1


def test_execution_names_fit_step_functions() -> None:
    name = execution_name("e" * 63, "v" * 32, "abc123")
    assert len(name) <= 80
    assert json.dumps(name).isascii()


def test_a_failed_start_gives_the_lease_back_and_the_retried_event_starts_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = production_world()
    original = world.workflow.start

    def unavailable(*args: Any) -> str:
        raise RuntimeError("Step Functions is unavailable")

    monkeypatch.setattr(world.workflow, "start", unavailable)
    with pytest.raises(RuntimeError, match="unavailable"):
        upload_version(world, "v2")
    assert world.rollouts.lease(ENDPOINT) is None
    (failed,) = world.rollouts.rollouts(ENDPOINT)
    assert failed["status"] == "START_FAILED"
    assert "Step Functions is unavailable" in failed["reason"]

    monkeypatch.setattr(world.workflow, "start", original)
    head = world.store.head(BUCKET, "endpoints/fraud/v2/model.tar.gz")
    assert head is not None
    retried = start_rollout_upload(
        Upload(BUCKET, head.key, "raw", head.version_id, head.etag), world.services, world.clock(), "bbbbbb"
    )
    assert retried.status == "STARTED"
    (rollout,) = world.rollouts.rollouts(ENDPOINT)  # the same rollout, started this time
    assert (rollout["rollout_id"], rollout["status"]) == (failed["rollout_id"], "STARTING")
    assert rollout.get("reason") is None and rollout["execution_arn"]


def test_a_late_event_for_an_older_upload_does_not_supersede_a_newer_queued_one() -> None:
    world = production_world()
    upload_version(world, "v2")  # running
    newest = upload_version(world, "v4", event_time="2026-11-25T12:10:00Z").details["rollout_id"]
    late = upload_version(world, "v3", event_time="2026-11-25T12:05:00Z").details["rollout_id"]

    assert status(world, late) == "SUPERSEDED"
    assert "uploaded after this one is already queued" in decision(world, late, "superseded")["reason"]
    assert status(world, newest) == "QUEUED"
    queued = world.rollouts.queued(ENDPOINT)
    assert queued is not None
    assert queued["rollout_id"] == newest


def test_a_dead_execution_that_left_an_idle_candidate_at_weight_0_needs_attention() -> None:
    """Stricter than `sluice resolve`: the next rollout would be refused on an endpoint with two variants."""
    world = production_world()
    dead = upload_version(world, "v2").details["rollout_id"]
    RolloutAslWalk.of_started(world).start()  # v2 added at 0 %, alarms armed, then the execution stops
    world.workflow.end(str(world.rollouts.lease(ENDPOINT)["execution_arn"]))  # type: ignore[index]
    world.clock.at += timedelta(minutes=3)

    assert upload_version(world, "v3").status == "QUEUED"
    assert status(world, dead) == "NEEDS_ATTENTION"


# -- an intake that dies half-way, and Lambda's retry --------------------------------------------------


class Died(BaseException):
    """The invocation dying (a crash, a timeout): not an Exception, so nothing in the intake catches it."""


def _die(*args: object, **kwargs: object) -> None:
    raise Died


def _v2_upload(world: RolloutWorld) -> Upload:
    put_deploy_json(world, VERSION_DEPLOY, DEPLOY)
    key = "endpoints/fraud/v2/model.tar.gz"
    head = world.store.put(BUCKET, key, archive())
    return Upload(BUCKET, key, "raw", head.version_id, head.etag)


def test_an_intake_that_died_between_the_lease_and_its_execution_is_resumed_by_the_retry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The retry acts for the rollout the dead attempt created (its lease, its execution name) instead of
    queueing a second rollout behind a lease no execution will ever release."""
    world = production_world()
    upload = _v2_upload(world)
    with monkeypatch.context() as patch:
        patch.setattr(world.workflow, "start", _die)
        with pytest.raises(Died):
            start_rollout_upload(upload, world.services, world.clock(), "aaaaaa")
    (crashed,) = world.rollouts.rollouts(ENDPOINT)
    assert world.rollouts.lease(ENDPOINT)["rollout_id"] == crashed["rollout_id"]  # type: ignore[index]
    assert world.workflow.started == []

    retried = start_rollout_upload(upload, world.services, world.clock() + timedelta(minutes=1), "bbbbbb")

    assert (retried.status, retried.details["rollout_id"]) == ("STARTED", crashed["rollout_id"])
    assert [r["rollout_id"] for r in world.rollouts.rollouts(ENDPOINT)] == [crashed["rollout_id"]]
    name = execution_name(ENDPOINT, "v2", "aaaaaa")
    assert [n for n, _ in world.workflow.started] == [name]
    assert world.rollouts.queued(ENDPOINT) is None
    intake = world.registry.get(intake_pk(BUCKET, upload.key_in_event), f"version#{upload.version_id}")
    assert intake is not None and intake["status"] == "ROLLOUT_STARTED"
    assert events(world, crashed["rollout_id"]).count("received") == 1


def test_an_intake_that_died_after_starting_its_execution_starts_nothing_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = production_world()
    upload = _v2_upload(world)
    with monkeypatch.context() as patch:
        patch.setattr(world.rollouts, "update_rollout", _die)  # right after StartExecution
        with pytest.raises(Died):
            start_rollout_upload(upload, world.services, world.clock(), "aaaaaa")
    assert len(world.workflow.started) == 1

    retried = start_rollout_upload(upload, world.services, world.clock() + timedelta(minutes=1), "bbbbbb")

    assert retried.status == "STARTED"
    assert len(world.workflow.started) == 1
    (rollout,) = world.rollouts.rollouts(ENDPOINT)
    assert rollout["execution_arn"].endswith(execution_name(ENDPOINT, "v2", "aaaaaa"))
