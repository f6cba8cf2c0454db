"""The RolloutStepFunction's payload model (sluice.models.rollout_step) against the ASL that sends it and
the domain that runs it: every `$.field` the ASL reads or writes on the state is a declared field."""

from __future__ import annotations

import types
import typing
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ValidationError
from rollout_fakes import ASL, POLL_INTERVAL, caught_to, retrier_for

from sluice.domain.rollout.actions import ACTIONS, WAITS
from sluice.domain.rollout.status import ABORT_ERROR
from sluice.models.rollout_step import ActionTask, RolloutState, RolloutStepEvent, WaitTask, state_dict

# Paths applied to a task's result, not to the state: OutputPath picks from the Lambda's response,
# ResultSelector from DescribeEndpoint's.
NOT_ON_THE_STATE = {"OutputPath", "ResultSelector"}
ON_THE_STATE = {"Variable", "ResultPath", "TimeoutSecondsPath", "InputPath", "ItemsPath"}


def state_paths(node: Any, key: str = "") -> set[str]:
    """Every JSONPath on the execution's state ($.a.b) the ASL reads or writes."""
    found: set[str] = set()
    if key in NOT_ON_THE_STATE:
        return found
    if isinstance(node, dict):
        for name, value in node.items():
            found |= state_paths(value, name)
    elif isinstance(node, list):
        for value in node:
            found |= state_paths(value, key)
    elif isinstance(node, str) and node.startswith("$.") and (key in ON_THE_STATE or key.endswith(".$")):
        found.add(node)
    return found


def model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation such as `EndpointStatus | None`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return next((m for arg in typing.get_args(annotation) if (m := model_in(arg))), None)
    return None


def declared(path: str) -> bool:
    model: type[BaseModel] | None = RolloutState
    for part in path.removeprefix("$.").split("."):
        if model is None or part not in model.model_fields:
            return False
        model = model_in(model.model_fields[part].annotation)
    return True


def test_every_state_path_the_asl_uses_is_a_declared_field() -> None:
    paths = state_paths(ASL)
    assert {
        "$.mode",
        "$.after",
        "$.wait_seconds",
        "$.analysis.next",
        "$.error",
        "$.endpoint_state.outcome",
        "$.signal.action",
    } <= paths
    assert [path for path in sorted(paths) if not declared(path)] == []


def literals(model: type[BaseModel]) -> set[str]:
    annotation = model.model_fields["action"].annotation
    assert typing.get_origin(annotation) is Literal
    return set(typing.get_args(annotation))


def test_the_payload_actions_are_the_asls_and_the_domains() -> None:
    sent = {
        state["Parameters"]["Payload"]["action"]
        for state in ASL["States"].values()
        if "Payload" in state.get("Parameters", {})
    }
    assert literals(ActionTask) == set(ACTIONS)
    assert literals(WaitTask) == set(WAITS)
    assert sent == set(ACTIONS) | set(WAITS)


STATE = {
    "rollout_id": "20261125T120000Z-v2-abc123",
    "endpoint": "fraud",
    "version": "v2",
    "mode": "rollout",
    "phase": "rollout",
    "step_index": 0,
    "bake_seconds": 60,
    "weights": {"v2": 10, "v1": 90},
    "endpoint_state": {"status": "InService"},
    "error": {"Error": "States.Timeout", "Cause": ""},
    "signal": {"action": "promote"},
    "something_else": [1, {"a": None}],
}


def test_the_state_reaches_the_actions_exactly_as_the_execution_sent_it() -> None:
    task = RolloutStepEvent.model_validate({"action": "bake", "state": STATE, "token": "t-1"}).root
    assert isinstance(task, WaitTask)
    assert task.token == "t-1"
    assert state_dict(task.state) == STATE
    minimal = {"rollout_id": "r", "endpoint": "fraud", "version": "v2"}
    assert state_dict(
        RolloutStepEvent.model_validate({"action": "prepare", "state": minimal}).root.state
    ) == (minimal)


@pytest.mark.parametrize(
    "payload",
    [
        {"action": "bake", "state": STATE},  # a wait without its token
        {"action": "launch", "state": STATE},  # no such action
        {"action": "prepare", "state": {"rollout_id": "r"}},  # no endpoint
    ],
)
def test_a_payload_the_asl_never_sends_is_refused(payload: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        RolloutStepEvent.model_validate(payload)


WILDCARDS = {"States.ALL", "States.TaskFailed"}


def test_every_wait_catches_the_abort_by_name_and_rolls_back() -> None:
    waits = {
        name: state
        for name, state in ASL["States"].items()
        if str(state.get("Resource", "")).endswith(".waitForTaskToken")
    }
    assert set(waits) == {"Bake", "Paused", "AwaitApproval"}
    for name, state in waits.items():
        caught = {error: catcher["Next"] for catcher in state["Catch"] for error in catcher["ErrorEquals"]}
        assert caught[ABORT_ERROR] == "Rollback", name


def test_an_abort_that_ends_a_task_is_never_retried_and_rolls_back() -> None:
    """RolloutAborted (an abort seen by NextStep, CheckAlarms, or ReadEndpoint while a step's weights are
    applied) goes straight to Rollback. ReadEndpoint retries every failure of a read, States.TaskFailed
    included, which matches RolloutAborted too: a retrier of its own with MaxAttempts 0 ("never
    retried") comes before it, and a catcher before the one that reads the failure as an unreadable
    endpoint."""
    for name in ("NextStep", "CheckAlarms", "ReadEndpoint"):
        retrier = retrier_for(name, "RolloutAborted")
        assert retrier is None or retrier["MaxAttempts"] == 0, name
        assert caught_to(name, "RolloutAborted") == "Rollback", name
    assert caught_to("ReadEndpoint", "ValidationException") == "EndpointUnreadable"


def test_the_endpoint_poll_loop_only_separates_invocations() -> None:
    """ReadEndpoint waits within its invocation (every 2 s, ~60 s); the Wait between two invocations
    adds no more delay than one of its intervals."""
    wait = ASL["States"]["WaitForEndpoint"]
    assert (wait["Type"], wait["Next"]) == ("Wait", "ReadEndpoint")
    assert wait["Seconds"] <= POLL_INTERVAL


def test_catchers_name_specific_errors_before_the_wildcards() -> None:
    for name, state in ASL["States"].items():
        kinds = [bool(WILDCARDS & set(catcher["ErrorEquals"])) for catcher in state.get("Catch", [])]
        assert kinds == sorted(kinds), name


def test_retriers_name_specific_errors_before_the_wildcards() -> None:
    """The first retrier whose ErrorEquals matches wins, and States.TaskFailed matches every error but
    States.Timeout: a specific retrier after it never runs (Step Functions, "Retrying after an error")."""
    for name, state in ASL["States"].items():
        kinds = [bool(WILDCARDS & set(retrier["ErrorEquals"])) for retrier in state.get("Retry", [])]
        assert kinds == sorted(kinds), name


LAMBDA_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}


def test_every_lambda_task_retries_lambdas_own_transient_errors() -> None:
    """A transient Lambda service error in a bake must not roll back a healthy canary."""
    for name, state in ASL["States"].items():
        if state["Type"] == "Task" and "lambda:invoke" in state["Resource"]:
            retried = {error for retrier in state.get("Retry", []) for error in retrier["ErrorEquals"]}
            assert retried >= LAMBDA_ERRORS or "States.ALL" in retried, name


def test_sagemaker_busy_is_retried_for_longer_than_a_fleet_update() -> None:
    """SageMaker refuses updates while one runs ("Cannot update in-progress endpoint"); replacing a fleet
    of large instances takes tens of minutes, so each task that updates the endpoint keeps trying for
    at least 30 minutes, and the rollback keeps trying at least every 2 s: its weights call (traffic back
    on the baseline), and its config switch, which always meets the weights update just made (a 10 s
    doubling backoff there ended rollouts - releasing the lease for the next version - up to a minute
    late)."""
    for name, state in ASL["States"].items():
        for retrier in state.get("Retry", []):
            if retrier["ErrorEquals"] != ["EndpointBusy"]:
                continue
            delay, total = float(retrier["IntervalSeconds"]), 0.0
            for _ in range(retrier["MaxAttempts"]):
                total += min(delay, retrier.get("MaxDelaySeconds", delay))
                delay *= retrier.get("BackoffRate", 2.0)
            assert total >= 30 * 60, name
    for name in ("Rollback", "RestoreBaselineConfig"):
        rollback = ASL["States"][name]["Retry"][0]
        assert rollback["ErrorEquals"] == ["EndpointBusy"]
        assert rollback["IntervalSeconds"] <= 2
        assert rollback["BackoffRate"] == 1.0
