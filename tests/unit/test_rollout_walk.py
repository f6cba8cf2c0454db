"""The rollout state machine's actions, walked as statemachines/rollout.asl.json runs them: pre-flight,
first deployment, the step-by-step happy path, rollbacks and NEEDS_ATTENTION."""

from __future__ import annotations

import copy
import dataclasses
import json
from math import ceil
from typing import Any

import pytest
from rollout_fakes import (
    ASL,
    BASELINE_AUTOSCALING,
    DEPLOY,
    ECR,
    ENDPOINT,
    USER_ALARM,
    FakeAwsError,
    RolloutAslWalk,
    RolloutWorld,
    choose,
    decision,
    events,
    make_world,
    production_world,
    status,
    upload_version,
    walk_happy_path_like_rollout_asl,
)

from sluice.domain.rollout.actions import run_action
from sluice.domain.rollout.signals import request_abort
from sluice.domain.rollout_plan import RolloutPlan
from sluice.errors import EndpointBusy, RolloutAborted, RolloutRefused

ERRORS_ALARM = "sluice-fraud-v2-errors"
LATENCY_ALARM = "sluice-fraud-v2-latency"
BASELINE_MODEL = BASELINE_CONFIG = "fraud-v1-aaa111"


def started(world: RolloutWorld, version: str = "v2", **upload: Any) -> tuple[str, RolloutAslWalk]:
    outcome = upload_version(world, version, **upload)
    assert outcome.status == "STARTED", outcome.message
    return outcome.details["rollout_id"], RolloutAslWalk.of_started(world)


def plan_of(world: RolloutWorld, rollout_id: str) -> RolloutPlan:
    rollout = world.rollouts.rollout(ENDPOINT, rollout_id)
    assert rollout is not None
    return RolloutPlan.from_dict({"autoscaling": None, "baseline_autoscaling": None, **rollout["plan"]})


def endpoint_snapshot(world: RolloutWorld) -> Any:
    endpoints = world.endpoints
    return copy.deepcopy((endpoints.endpoints, endpoints.configs, endpoints.models))


ENDPOINT_WRITES = (
    "endpoints.create_model",
    "endpoints.create_endpoint_config",
    "endpoints.create_endpoint",
    "endpoints.update_endpoint",
    "endpoints.set_weights",
    "endpoints.delete_model",
    "endpoints.delete_endpoint_config",
)


# -- the walk itself mirrors the ASL --------------------------------------------------------------


def test_the_walk_calls_the_action_each_asl_task_names() -> None:
    tasks = {
        name: definition["Parameters"]["Payload"]["action"]
        for name, definition in ASL["States"].items()
        if definition["Type"] == "Task" and "FunctionName" in definition.get("Parameters", {})
    }
    assert tasks == RolloutAslWalk.TASK_ACTIONS
    assert ASL["States"]["Bake"]["Catch"][0] == {
        "ErrorEquals": ["States.Timeout"],
        "ResultPath": "$.error",
        "Next": "Analyse",
    }


# -- pre-flight -----------------------------------------------------------------------------------


def test_an_endpoint_not_in_service_is_refused_with_its_status() -> None:
    world = production_world()
    _, walk = started(world)
    world.endpoints.endpoints[ENDPOINT].status = "Updating"
    with pytest.raises(
        RolloutRefused, match="endpoint fraud is Updating; a rollout starts only on an InService"
    ):
        walk.task("Prepare")


def test_a_user_alarm_already_firing_refuses_the_rollout_and_changes_nothing() -> None:
    world = production_world()
    rollout_id, walk = started(world)
    world.alarms.set_state(USER_ALARM, "ALARM", "Threshold Crossed: 12 errors > 5")
    before = endpoint_snapshot(world)

    error, cause = walk.fails("Prepare")

    assert error == "RolloutRefused"
    message = json.loads(cause)["errorMessage"]
    assert f"alarm {USER_ALARM} is already in ALARM (Threshold Crossed: 12 errors > 5)" in message
    assert endpoint_snapshot(world) == before
    assert world.calls_to(*ENDPOINT_WRITES) == []
    assert world.endpoints.weights(ENDPOINT) == {"v1": (1.0, 3)}

    assert ASL["States"]["Prepare"]["Catch"][0]["Next"] == "Refused"
    walk.caught("Refused", error, cause)

    rollout = world.rollouts.rollout(ENDPOINT, rollout_id)
    assert rollout is not None
    assert (rollout["status"], rollout["reason"]) == ("REFUSED", message)
    assert decision(world, rollout_id, "refused")["reason"] == message
    assert world.notifications(rollout_id)[-1]["status"] == "REFUSED"
    assert world.rollouts.lease(ENDPOINT) is None
    assert endpoint_snapshot(world) == before


def test_an_endpoint_with_two_production_variants_is_refused_with_the_planners_reason() -> None:
    world = production_world()
    _, walk = started(world)
    shadow = {
        "VariantName": "shadow",
        "ModelName": BASELINE_MODEL,
        "InstanceType": "ml.m5.xlarge",
        "InitialInstanceCount": 1,
        "InitialVariantWeight": 0.0,
    }
    world.endpoints.configs[BASELINE_CONFIG]["ProductionVariants"].append(shadow)
    world.endpoints.endpoints[ENDPOINT].variants["shadow"] = {"weight": 0.0, "instances": 1}
    with pytest.raises(RolloutRefused, match="has 2 production variants"):
        walk.task("Prepare")


def test_a_missing_endpoint_is_a_first_deployment_without_auto_alarms() -> None:
    world = make_world()
    settings = {"image": f"{ECR}/fraud:2", "instance_type": "ml.m5.xlarge"}
    rollout_id, walk = started(world, deploy=settings)

    walk.task("Prepare")

    assert walk.state["mode"] == "first"
    assert choose("IsFirstDeployment", walk.state) == "CreateEndpoint"
    rollout = world.rollouts.rollout(ENDPOINT, rollout_id)
    assert rollout is not None
    assert (rollout["status"], rollout["mode"]) == ("DEPLOYING", "first")
    assert (
        "first deployment: endpoint fraud does not exist yet"
        in decision(world, rollout_id, "started")["reason"]
    )


@pytest.mark.parametrize(
    ("autoscaling", "registered"),
    [(None, None), ({"min": 2, "max": 4, "max_rps": 10}, {"min": 2, "max": 4, "target": 300.0})],
    ids=["without autoscaling", "with autoscaling"],
)
def test_a_first_deployment_creates_the_endpoint_at_100_percent(
    autoscaling: dict[str, Any] | None, registered: dict[str, Any] | None
) -> None:
    world = make_world()
    settings: dict[str, Any] = {"image": f"{ECR}/fraud:2", "instance_type": "ml.m5.xlarge"}
    if autoscaling:
        settings["autoscaling"] = autoscaling
    rollout_id, walk = started(world, deploy=settings)

    walk.task("Prepare")
    walk.task("CreateEndpoint")
    assert walk.after_in_service() == "FinishFirstDeployment"
    walk.task("FinishFirstDeployment")

    assert world.endpoints.weights(ENDPOINT) == {"v2": (1.0, 2)}
    registration = world.autoscaling.registration(ENDPOINT, "v2")
    if registered is None:
        assert registration is None
    else:
        assert registration is not None
        assert {k: registration[k] for k in registered} == registered
    assert status(world, rollout_id) == "DEPLOYED"
    assert events(world, rollout_id) == ["received", "started", "endpoint created", "deployed"]
    assert world.notifications(rollout_id)[-1]["status"] == "DEPLOYED"
    assert world.rollouts.lease(ENDPOINT) is None


def test_a_first_deployment_without_an_image_is_refused() -> None:
    world = make_world()
    _, walk = started(world, deploy={"instance_type": "ml.m5.xlarge"})
    with pytest.raises(RolloutRefused, match='its first deployment needs "image"'):
        walk.task("Prepare")
    assert world.endpoints.endpoints == {}


def test_without_a_stack_role_a_rollout_reuses_the_production_models_role() -> None:
    world = production_world()
    world.endpoints.models[BASELINE_MODEL]["ExecutionRoleArn"] = "arn:aws:iam::123456789012:role/fraud-prod"
    world.services = dataclasses.replace(world.services, execution_role_arn="")
    rollout_id, walk = started(world)
    walk.start()
    created = world.endpoints.models[plan_of(world, rollout_id).names.model]
    assert created["ExecutionRoleArn"] == "arn:aws:iam::123456789012:role/fraud-prod"


def test_without_a_stack_role_a_first_deployment_is_refused_naming_the_parameter() -> None:
    world = make_world()
    world.services = dataclasses.replace(world.services, execution_role_arn="")
    _, walk = started(world, deploy={"image": f"{ECR}/fraud:2", "instance_type": "ml.m5.xlarge"})
    with pytest.raises(RolloutRefused, match="set the SageMakerExecutionRoleArn parameter"):
        walk.task("Prepare")


def test_an_image_the_allow_list_dropped_since_intake_is_refused_naming_the_file_and_field() -> None:
    world = production_world()
    _, walk = started(world, deploy={"image": f"{ECR}/fraud:2"})
    world.services = dataclasses.replace(world.services, allowed_registries=("registry.example.com",))
    with pytest.raises(RolloutRefused, match=r"^endpoints/fraud/v2/deploy\.json: image: image '.*' comes"):
        walk.task("Prepare")


# -- the happy path -------------------------------------------------------------------------------


def test_the_happy_path_shifts_weights_step_by_step_and_promotes() -> None:
    world = production_world()
    rollout_id, walk = started(world)

    walk_happy_path_like_rollout_asl(walk)

    # Each step: candidate w / baseline 100 - w, set in one call with the capacities.
    assert world.endpoints.weight_history == [
        {"v1": (90.0, 3), "v2": (10.0, 1)},
        {"v1": (50.0, 3), "v2": (50.0, 2)},
        {"v1": (0.0, 3), "v2": (100.0, 3)},
    ]
    for weights in world.endpoints.weight_history:
        (baseline_weight, baseline_count), (percent, candidate_count) = weights["v1"], weights["v2"]
        assert baseline_weight + percent == 100
        assert baseline_count == 3  # never reduced before promotion
        assert candidate_count >= max(1, ceil(baseline_count * percent / 100))

    # Promotion: only the candidate, autoscaling moved to it (the baseline's removed first).
    plan = plan_of(world, rollout_id)
    described = world.endpoints.endpoints[ENDPOINT]
    assert described.config_name == plan.names.promote_config
    assert world.endpoints.weights(ENDPOINT) == {"v2": (1.0, 3)}
    journal = [call[:2] for call in world.calls_to("autoscaling.remove", "endpoints.update_endpoint")]
    assert journal[-2:] == [
        ("autoscaling.remove", "endpoint/fraud/variant/v1"),
        ("endpoints.update_endpoint", ENDPOINT),
    ]
    assert world.autoscaling.registration(ENDPOINT, "v1") is None
    assert world.autoscaling.registration(ENDPOINT, "v2") == BASELINE_AUTOSCALING

    # Cleanup: temporary alarms, the old config and model; the user's alarm stays.
    assert ERRORS_ALARM not in world.alarms.alarms
    assert LATENCY_ALARM not in world.alarms.alarms
    assert USER_ALARM in world.alarms.alarms
    assert world.rollouts.alarm_owners(USER_ALARM) == []
    # The user's own v1 model and config (no sluice:managed tag) are kept; Sluice's canary config goes.
    assert BASELINE_CONFIG in world.endpoints.configs
    assert BASELINE_MODEL in world.endpoints.models
    assert plan.names.candidate_config not in world.endpoints.configs
    assert plan.names.model in world.endpoints.models
    assert "not created by Sluice" in decision(world, rollout_id, "kept")["reason"]

    rollout = world.rollouts.rollout(ENDPOINT, rollout_id)
    assert rollout is not None
    assert (rollout["status"], rollout["weights"]) == ("PROMOTED", {"v2": 100})
    assert rollout["wait_token"] is None
    assert world.rollouts.lease(ENDPOINT) is None
    assert events(world, rollout_id) == [
        "received",
        "started",
        "candidate added",
        "alarms armed",
        # steps 1 and 2 (10 %, 50 %): one look of the analysis per 60 s bake; step 3 (100 %): alarms only
        *["weights set", "baking", "analysis pass", "bake passed"] * 2,
        *["weights set", "baking", "bake passed"],
        "autoscaling snapshot",
        "autoscaling removed",
        "promoting",
        "autoscaling carried",
        "kept",
        "promoted",
    ]
    assert decision(world, rollout_id, "alarms armed")["reason"] == (
        f"watching {ERRORS_ALARM}, {LATENCY_ALARM}, {USER_ALARM}"
    )
    assert decision(world, rollout_id, "weights set")["reason"] == (
        "step 3/3: v2 100 % on 3 instance(s), v1 0 % on 3"
    )
    assert [n["status"] for n in world.notifications(rollout_id)] == [
        "STARTED",
        "STEP",
        "STEP",
        "STEP",
        "PROMOTED",
    ]
    assert walk.visited == [
        "Prepare",
        "AddCandidate",
        "ReadEndpoint",
        "CreateAlarms",
        *["NextStep", "ReadEndpoint", "CheckAlarms", "Bake", "Analyse"] * 3,
        "NextStep",
        "Promote",
        "ReadEndpoint",
        "FinishPromotion",
    ]


def test_an_endpoint_without_autoscaling_is_promoted_without_any() -> None:
    world = production_world(autoscaled=False)
    rollout_id, walk = started(world)

    walk_happy_path_like_rollout_asl(walk)

    assert status(world, rollout_id) == "PROMOTED"
    assert world.endpoints.weights(ENDPOINT) == {"v2": (1.0, 3)}
    assert world.autoscaling.targets == {}
    assert world.calls_to("autoscaling.apply", "autoscaling.register") == []
    assert not {"autoscaling removed", "autoscaling carried"} & set(events(world, rollout_id))
    rollout = world.rollouts.rollout(ENDPOINT, rollout_id)
    assert rollout is not None and rollout["baseline_scaling"] == {
        "variant": "v1",
        "registered": False,
        "target": {},
        "policies": [],
        "scheduled_actions": [],
    }


def test_auto_alarms_null_in_deploy_json_arms_only_the_users_alarms() -> None:
    world = production_world()
    rollout_id, walk = started(world, deploy={"rollout": {"auto_alarms": None, "alarms": [USER_ALARM]}})
    walk.start()
    assert world.calls_to("alarms.put_alarm") == []
    assert decision(world, rollout_id, "alarms armed")["reason"] == f"watching {USER_ALARM}"


def test_a_container_with_model_data_null_does_not_get_the_upload() -> None:
    world = production_world()
    containers = [{"image": f"{ECR}/features:3", "model_data": None}, {"image": f"{ECR}/fraud:2"}]
    rollout_id, walk = started(world, deploy={"containers": containers})
    walk.start()
    created = world.endpoints.models[plan_of(world, rollout_id).names.model]
    rollout = world.rollouts.rollout(ENDPOINT, rollout_id)
    assert rollout is not None
    assert rollout["model_data_url"].startswith("s3://artifacts/published/endpoints/fraud/v2/")
    assert [container.get("ModelDataUrl") for container in created["Containers"]] == [
        None,
        rollout["model_data_url"],  # the published copy of the upload
    ]


def test_a_rollout_recorded_with_its_config_as_a_map_still_prepares() -> None:
    world = production_world()
    rollout_id, walk = started(world)
    world.rollouts.update_rollout(ENDPOINT, rollout_id, {"config": {"rollout": {"steps": [20, 100]}}})
    walk.task("Prepare")
    assert [step.percent for step in plan_of(world, rollout_id).steps] == [20, 100]


def test_the_candidate_joins_at_weight_0_with_the_baseline_unchanged() -> None:
    world = production_world()
    rollout_id, walk = started(world)
    walk.task("Prepare")
    walk.task("AddCandidate")

    plan = plan_of(world, rollout_id)
    assert world.endpoints.endpoints[ENDPOINT].config_name == plan.names.candidate_config
    assert world.endpoints.weights(ENDPOINT) == {"v1": (1.0, 3), "v2": (0.0, 1)}
    assert status(world, rollout_id) == "UPDATING"


def test_endpoint_busy_is_raised_for_the_state_machine_to_retry_and_the_retry_is_clean() -> None:
    world = production_world()
    rollout_id, walk = started(world)
    walk.start()
    world.endpoints.busy = 2
    for _ in range(2):
        with pytest.raises(EndpointBusy, match="Cannot update in-progress endpoint"):
            walk.task("NextStep")
    assert walk.next_step() == "ReadEndpoint"
    assert world.endpoints.weight_history == [{"v1": (90.0, 3), "v2": (10.0, 1)}]
    assert events(world, rollout_id).count("weights set") == 1


def test_a_retried_add_candidate_reuses_its_model_and_config() -> None:
    world = production_world()
    _, walk = started(world)
    walk.task("Prepare")
    world.endpoints.busy = 1
    with pytest.raises(EndpointBusy):
        walk.task("AddCandidate")
    walk.task("AddCandidate")
    assert world.endpoints.weights(ENDPOINT) == {"v1": (1.0, 3), "v2": (0.0, 1)}


# -- rollbacks ------------------------------------------------------------------------------------


def test_an_abort_during_a_bake_rolls_back_weights_first_then_the_config() -> None:
    world = production_world()
    rollout_id, walk = started(world)
    walk.start()
    walk.bake_times_out(walk.to_bake())
    token = walk.to_bake()

    request_abort(world.services, ENDPOINT, rollout_id, "latency looks off", "alice", world.clock())
    assert world.workflow.failed == [(token, "Sluice.Abort", "latency looks off")]
    assert decision(world, rollout_id, "abort requested")["by"] == "alice"

    mark = len(world.calls)
    walk.caught("Rollback", "Sluice.Abort", "latency looks off")
    assert world.endpoints.weights(ENDPOINT) == {"v1": (100.0, 3), "v2": (0.0, 2)}
    assert status(world, rollout_id) == "ROLLING_BACK"
    walk.task("RestoreBaselineConfig")
    assert world.endpoints.endpoints[ENDPOINT].config_name == BASELINE_CONFIG
    walk.task("FinishRollback")

    writes = [call[0] for call in world.calls[mark:] if call[0] in ENDPOINT_WRITES]
    assert writes[:2] == ["endpoints.set_weights", "endpoints.update_endpoint"]
    assert world.endpoints.weights(ENDPOINT) == {"v1": (100.0, 3)}  # retained: weight and count as they were
    rollout = world.rollouts.rollout(ENDPOINT, rollout_id)
    assert rollout is not None
    assert (rollout["status"], rollout["reason"], rollout["alarm"]) == (
        "ROLLED_BACK",
        "latency looks off",
        None,
    )
    assert decision(world, rollout_id, "rolled back")["reason"] == "v1 serves 100 %; latency looks off"
    assert "alarm" not in decision(world, rollout_id, "rolled back")


def test_a_rollback_before_the_candidate_joined_sets_no_weights_and_says_so() -> None:
    world = production_world()
    rollout_id, walk = started(world)
    walk.task("Prepare")
    world.endpoints.busy = 9  # every attempt the state machine makes (1 + MaxAttempts 8) is refused
    for _ in range(9):
        error, cause = walk.fails("AddCandidate")
    assert ASL["States"]["AddCandidate"]["Catch"][0]["Next"] == "Rollback"

    walk.rollback(error, cause)

    assert world.calls_to("endpoints.set_weights") == []
    assert [call[:2] for call in world.calls_to("endpoints.update_endpoint")] == [
        ("endpoints.update_endpoint", ENDPOINT)
    ] * 9  # the refused attempts only: the endpoint never left its config
    assert decision(world, rollout_id, "rolling back")["reason"] == (
        "fraud: ValidationException: Cannot update in-progress endpoint "
        "(the candidate never received traffic)"
    )
    assert "candidate removed" not in events(world, rollout_id)
    plan = plan_of(world, rollout_id)
    assert plan.names.model not in world.endpoints.models
    assert plan.names.candidate_config not in world.endpoints.configs
    assert world.endpoints.weights(ENDPOINT) == {"v1": (1.0, 3)}
    assert status(world, rollout_id) == "ROLLED_BACK"


def test_a_rollback_after_the_endpoint_was_deleted_does_not_claim_the_candidate_never_served() -> None:
    """Someone deletes the endpoint while v2 bakes at its first step: the next step's weights call fails,
    the rollback finds nothing to put back, and says so (not "the candidate never received traffic"),
    then ends NEEDS_ATTENTION through ReadEndpoint."""
    world = production_world()
    rollout_id, walk = started(world)
    walk.start()
    walk.bake_times_out(walk.to_bake())
    del world.endpoints.endpoints[ENDPOINT]
    world.endpoints.broken["set_weights"] = RuntimeError("Could not find endpoint")
    error, cause = walk.fails("NextStep")

    walk.caught("Rollback", error, cause)

    assert decision(world, rollout_id, "rolling back")["reason"].endswith(
        "(endpoint fraud no longer exists: no traffic to put back)"
    )


def test_an_abort_before_the_candidate_is_added_creates_nothing() -> None:
    """`sluice abort` while the rollout is STARTING: AddCandidate ends it before any SageMaker write."""
    world = production_world()
    rollout_id, walk = started(world)
    walk.task("Prepare")
    request_abort(world.services, ENDPOINT, rollout_id, "wrong version", "alice", world.clock())
    mark = len(world.calls)

    error, cause = walk.fails("AddCandidate")
    assert error == "RolloutAborted"
    walk.rollback(error, cause)

    writes = [c[0] for c in world.calls[mark:] if c[0] in ENDPOINT_WRITES]
    assert [w for w in writes if "delete" not in w] == []  # (the cleanup's deletes find nothing)
    assert world.endpoints.weights(ENDPOINT) == {"v1": (1.0, 3)}
    plan = plan_of(world, rollout_id)
    assert plan.names.model not in world.endpoints.models
    assert status(world, rollout_id) == "ROLLED_BACK"
    assert decision(world, rollout_id, "rolling back")["reason"] == (
        "wrong version (the candidate never received traffic)"
    )


def test_an_abort_while_the_candidate_is_added_rolls_back_without_arming_alarms() -> None:
    """The wait for AddCandidate's update is not cut short (the endpoint still names the baseline config
    until SageMaker is done); the first task after it, CreateAlarms, rolls back instead."""
    world = production_world()
    rollout_id, walk = started(world)
    walk.task("Prepare")
    walk.task("AddCandidate")
    request_abort(world.services, ENDPOINT, rollout_id, "wrong version", "alice", world.clock())

    error, cause = walk.fails("CreateAlarms")
    assert error == "RolloutAborted"
    assert world.calls_to("alarms.put_alarm") == []
    walk.rollback(error, cause)

    assert world.endpoints.weights(ENDPOINT) == {"v1": (100.0, 3)}
    assert "alarms armed" not in events(world, rollout_id)
    assert status(world, rollout_id) == "ROLLED_BACK"


def test_a_rollback_after_the_candidate_joined_but_before_any_step_zeroes_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = production_world()
    rollout_id, walk = started(world)
    walk.task("Prepare")
    walk.task("AddCandidate")

    def refuse(request: dict[str, Any]) -> None:
        raise FakeAwsError("LimitExceeded: too many alarms")

    monkeypatch.setattr(world.alarms, "put_alarm", refuse)
    error, cause = walk.fails("CreateAlarms")
    walk.rollback(error, cause)

    assert world.endpoints.weight_history[0] == {"v1": (100.0, 3), "v2": (0.0, 1)}
    assert decision(world, rollout_id, "rolling back")["reason"] == "LimitExceeded: too many alarms"
    assert world.endpoints.weights(ENDPOINT) == {"v1": (100.0, 3)}  # retained: weight and count as they were
    assert status(world, rollout_id) == "ROLLED_BACK"


def test_a_failed_promotion_rolls_back_and_restores_the_baselines_autoscaling() -> None:
    world = production_world()
    rollout_id, walk = started(world)
    walk.start()
    for _ in range(3):
        walk.bake_times_out(walk.to_bake())
    assert walk.next_step() == "Promote"
    world.endpoints.broken["update_endpoint"] = FakeAwsError("ValidationException: boom")
    error, cause = walk.fails("Promote")
    assert world.autoscaling.configuration(ENDPOINT, "v1") is None  # deregistered before UpdateEndpoint
    del world.endpoints.broken["update_endpoint"]

    walk.rollback(error, cause)

    assert world.endpoints.weights(ENDPOINT) == {"v1": (100.0, 3)}  # retained: weight and count as they were
    assert world.autoscaling.registration(ENDPOINT, "v1") == BASELINE_AUTOSCALING
    assert world.autoscaling.registration(ENDPOINT, "v2") is None
    assert status(world, rollout_id) == "ROLLED_BACK"
    assert (
        decision(world, rollout_id, "rolled back")["reason"] == "v1 serves 100 %; ValidationException: boom"
    )


def test_a_rollback_finding_the_endpoint_gone_skips_the_config_switch() -> None:
    world = production_world()
    rollout_id, walk = started(world)
    walk.start()
    walk.to_bake()
    request_abort(world.services, ENDPOINT, rollout_id, "stop", "alice", world.clock())
    walk.caught("Rollback", "Sluice.Abort", "stop")
    del world.endpoints.endpoints[ENDPOINT]
    walk.task("RestoreBaselineConfig")
    assert "candidate removed" not in events(world, rollout_id)


def test_a_rollback_that_keeps_failing_needs_attention_with_the_exact_endpoint_state() -> None:
    world = production_world()
    rollout_id, walk = started(world)
    walk.start()
    walk.bake_times_out(walk.to_bake())
    walk.to_bake()
    queued = upload_version(world, "v3").details["rollout_id"]
    request_abort(world.services, ENDPOINT, rollout_id, "stop", "alice", world.clock())
    world.endpoints.broken["set_weights"] = FakeAwsError("InternalFailure: try later")
    for _ in range(5):  # the Retry on States.TaskFailed: 1 + MaxAttempts 4
        error, cause = walk.fails("Rollback")
    assert ASL["States"]["Rollback"]["Catch"][0]["Next"] == "NeedsAttention"

    walk.caught("NeedsAttention", error, cause)

    seen = {"v1": {"weight": 50, "instances": 3}, "v2": {"weight": 50, "instances": 2}}
    rollout = world.rollouts.rollout(ENDPOINT, rollout_id)
    assert rollout is not None
    assert (rollout["status"], rollout["reason"], rollout["endpoint_state"]) == (
        "NEEDS_ATTENTION",
        "InternalFailure: try later",
        seen,
    )
    entry = decision(world, rollout_id, "needs attention")
    assert entry["variants"] == seen
    assert entry["reason"] == (
        "InternalFailure: try later; endpoint fraud is InService with "
        + json.dumps({"v1": {"weight": 50.0, "instances": 3}, "v2": {"weight": 50.0, "instances": 2}})
        + "; the lease stays held until a human resolves it"
    )
    notification = world.notifications(rollout_id)[-1]
    assert (notification["status"], notification["variants"]) == ("NEEDS_ATTENTION", seen)
    lease = world.rollouts.lease(ENDPOINT)
    assert lease is not None
    assert lease["rollout_id"] == rollout_id
    assert status(world, queued) == "QUEUED"
    assert len(world.workflow.started) == 1


def test_needs_attention_on_a_vanished_endpoint_says_missing() -> None:
    world = production_world()
    rollout_id, walk = started(world)
    walk.start()
    del world.endpoints.endpoints[ENDPOINT]
    walk.caught("NeedsAttention", "States.Runtime", "boom")
    assert "endpoint fraud is missing with {}" in decision(world, rollout_id, "needs attention")["reason"]


@pytest.mark.parametrize(("phase", "next_state"), [("rollout", "Rollback"), ("rollback", "NeedsAttention")])
def test_an_unhealthy_endpoint_is_recorded_and_aborts_a_rollout_in_progress(
    phase: str, next_state: str
) -> None:
    world = production_world()
    rollout_id, walk = started(world)
    walk.start()
    described = world.endpoints.endpoints[ENDPOINT]
    described.status, described.failure_reason = "Failed", "the container did not pass the ping health check"
    walk.state["phase"] = phase

    walk.task("EndpointUnhealthy")

    reason = "endpoint fraud is Failed: the container did not pass the ping health check"
    assert decision(world, rollout_id, "endpoint unhealthy")["reason"] == reason
    assert choose("EndpointUnreadable", walk.state) == next_state
    rollout = world.rollouts.rollout(ENDPOINT, rollout_id)
    assert rollout is not None
    if phase == "rollout":
        assert rollout["abort_requested"]["reason"] == reason
        with pytest.raises(RolloutAborted, match="ping health check"):
            walk.task("NextStep")
    else:
        assert "abort_requested" not in rollout


def test_an_action_on_an_unknown_rollout_is_an_error() -> None:
    world = production_world()
    with pytest.raises(RuntimeError, match="rollout nope of fraud is not in the registry"):
        run_action(
            world.services, "next_step", {"rollout_id": "nope", "endpoint": ENDPOINT}, None, world.clock()
        )


# -- on_insufficient_data: rollback (issue 9, finding 21) ------------------------------------------------
# The alarms alone judge these rollouts (no canary analysis), on an endpoint without traffic.
NO_DATA_ROLLS_BACK = {"rollout": {**DEPLOY["rollout"], "analysis": None, "on_insufficient_data": "rollback"}}
NO_DATA_CONTINUES = {"rollout": {**DEPLOY["rollout"], "analysis": None, "on_insufficient_data": "continue"}}


def test_rollback_on_insufficient_data_waits_for_the_bake_before_judging_silent_alarms() -> None:
    world = production_world()
    world.alarms.metrics_flow = False
    rollout_id, walk = started(world, deploy=NO_DATA_ROLLS_BACK)
    walk.start()
    auto = plan_of(world, rollout_id).cleanup_after_rollback.alarms
    # created as alarms that wait for data, not breaching ones that fire before any traffic arrives
    assert {world.alarms.alarms[name].request["TreatMissingData"] for name in auto} == {"missing"}
    # no data yet at the step boundary (CheckAlarms): not a reason to stop
    token = walk.to_bake()
    assert world.workflow.answer(token) is None
    walk.state = {**walk.state, "error": {"Error": "States.Timeout", "Cause": ""}}  # Bake's Catch
    error, cause = walk.fails("Analyse")  # the bake ended and an automatic alarm still has no data
    walk.rollback(error, cause)

    reason = decision(world, rollout_id, "rolling back")["reason"]
    assert reason.startswith(f"step 1: alarm {auto[0]} had no data by the end of the bake")
    assert "on_insufficient_data is rollback (no evidence, no promotion)" in reason
    assert world.endpoints.weights(ENDPOINT) == {"v1": (100.0, 3)}
    assert status(world, rollout_id) == "ROLLED_BACK"


def test_rollback_on_insufficient_data_promotes_a_candidate_whose_alarms_saw_data() -> None:
    world = production_world()
    world.alarms.metrics_flow = False
    rollout_id, walk = started(world, deploy=NO_DATA_ROLLS_BACK)
    walk.start()
    for name in plan_of(world, rollout_id).cleanup_after_rollback.alarms:
        world.alarms.set_state(name, "OK", "Threshold Crossed: 0 errors")
    for _ in range(3):
        walk.bake_times_out(walk.to_bake())
    assert walk.next_step() == "Promote"
    walk.promote()
    assert status(world, rollout_id) == "PROMOTED"


def test_continue_on_insufficient_data_promotes_through_silent_alarms() -> None:
    world = production_world()
    world.alarms.metrics_flow = False
    rollout_id, walk = started(world, deploy=NO_DATA_CONTINUES)
    walk.start()
    auto = plan_of(world, rollout_id).cleanup_after_rollback.alarms
    assert {world.alarms.alarms[name].request["TreatMissingData"] for name in auto} == {"notBreaching"}
    assert {world.alarms.alarms[name].state for name in auto} == {"INSUFFICIENT_DATA"}
    for _ in range(3):
        walk.bake_times_out(walk.to_bake())
    assert walk.next_step() == "Promote"
    walk.promote()
    assert status(world, rollout_id) == "PROMOTED"
