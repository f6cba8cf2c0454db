"""Has the endpoint done what the rollout asked? The state machine's one poll of the endpoint.

"InService" alone does not mean "applied": a failed UpdateEndpoint returns to InService on the *previous*
config with a FailureReason (DescribeEndpoint: "If the status of the endpoint is Failed, or the status is
InService but update operation fails, this provides the reason why it failed"), and a failed weights
update rolls back to the previous weights. Taking that for success would promote a version that never
served, or delete the baseline that still serves. So each poll compares the endpoint with what the last
action asked for (`after`): the config it switched to and, after a step, the weights it set.

While the endpoint is still applying the change, the task reads it again within its own invocation
(`services.polling`: every 2 s for up to ~60 s), so that the state machine's poll loop, and its history
events, run once a minute instead of every 15 s, and InService is seen within one interval. An abort
requested meanwhile ends that wait (RolloutAborted) while traffic is moving onto the candidate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sluice.domain.rollout.record import (
    load_rollout,
    plan_weights,
    raise_if_abort_requested,
    stored_first_deployment_plan,
    stored_plan,
)
from sluice.domain.rollout.services import RolloutServices
from sluice.domain.rollout.traffic import current_weights, weight_fractions

# Statuses an update passes through: poll again. UpdateRollbackFailed is not one of them: SageMaker gave
# up half-way ("the endpoint is in service with a mix of the old and new endpoint configurations").
IN_PROGRESS = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack"})
WEIGHT_TOLERANCE = 1e-6

Outcome = Literal["ready", "waiting", "failed"]


@dataclass(frozen=True)
class Expectation:
    """What the endpoint must show once the last change is applied."""

    config: str
    weights: dict[str, float] | None = None  # variant → percent; None: weights were not changed


@dataclass(frozen=True)
class EndpointReading:
    status: str
    outcome: Outcome
    reason: str = ""

    def to_state(self) -> dict[str, str]:
        return {"status": self.status, "outcome": self.outcome, "reason": self.reason}


def expectation(rollout: dict[str, Any], state: dict[str, Any]) -> Expectation:
    """The config (and weights) the action that set `state["after"]` asked for."""
    after = state.get("after")
    if after == "created":
        return Expectation(stored_first_deployment_plan(rollout).endpoint_config_name)
    plan = stored_plan(rollout)
    if after == "candidate_added":
        return Expectation(plan.names.candidate_config)
    if after == "weights_set":
        weights = plan_weights(plan, int(state["step_index"]))
        return Expectation(plan.names.candidate_config, {k: float(v) for k, v in weights.items()})
    if after == "promoted":
        return Expectation(plan.names.promote_config)
    if after == "rolled_back":
        return Expectation(plan.names.baseline_config)
    raise ValueError(f"nothing to wait for after {after!r}")


def _weights_differ(expected: dict[str, float], current: dict[str, Any]) -> bool:
    want = {n: f for n, f in weight_fractions(expected).items() if f > 0}
    have = {n: f for n, f in weight_fractions(current_weights(current.get("variants", []))).items() if f > 0}
    return set(want) != set(have) or any(abs(want[name] - have[name]) > WEIGHT_TOLERANCE for name in want)


def read(expected: Expectation, current: dict[str, Any] | None) -> EndpointReading:
    """Compare DescribeEndpoint (as the endpoint port reads it) with what was asked."""
    if current is None:
        return EndpointReading("Deleted", "failed", "the endpoint was deleted during the rollout")
    status = str(current.get("status"))
    failure = current.get("failure_reason") or "no FailureReason given"
    if status in IN_PROGRESS:
        return EndpointReading(status, "waiting")
    if status != "InService":
        return EndpointReading(status, "failed", f"endpoint is {status}: {failure}")
    if current.get("config_name") != expected.config:
        return EndpointReading(
            status,
            "failed",
            f"the update did not apply: the endpoint is InService on {current.get('config_name')}, not "
            f"{expected.config}: {failure}",
        )
    if expected.weights is not None and _weights_differ(expected.weights, current):
        serving = current_weights(current.get("variants", []))
        return EndpointReading(
            status,
            "failed",
            f"the weights did not apply: the endpoint serves {serving}, not {expected.weights}: {failure}",
        )
    return EndpointReading(status, "ready")


def abort_ends_the_wait(state: dict[str, Any]) -> bool:
    """An abort requested while the endpoint applies a step's weights ends the wait: traffic is moving
    onto the candidate, and the rollback's weights call (retried every 2 s while SageMaker refuses it)
    goes out as soon as the endpoint accepts updates again. Not in the other waits: after AddCandidate the
    candidate has 0 % of the traffic and CreateAlarms sees the abort the moment the update is applied (a
    rollback in mid-UpdateEndpoint would find the baseline config still named and switch nothing back);
    a promotion is committed; a rollback is what the abort asked for; a first deployment has nothing to
    go back to."""
    return state.get("phase") == "rollout" and state.get("after") == "weights_set"


def read_endpoint(services: RolloutServices, state: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The poll: `endpoint_state` = {status, outcome (ready | waiting | failed), reason}. The first read
    is immediate; while the outcome is `waiting` the endpoint is read again every `polling.interval`
    seconds until it is not, the polling budget is spent (then `waiting`: the state machine's
    WaitForEndpoint and another invocation) or, when `abort_ends_the_wait`, an abort is requested
    (RolloutAborted). A failure is recorded by `endpoint_unhealthy`, where the state machine goes next."""
    polling = services.polling
    rollout = load_rollout(services, state)
    expected = expectation(rollout, state)
    interruptible = abort_ends_the_wait(state)
    started = polling.clock.monotonic() if polling.clock else 0.0
    while True:
        reading = read(expected, services.endpoints.state(state["endpoint"]))
        if reading.outcome != "waiting":
            break
        if interruptible:
            raise_if_abort_requested(rollout)
        if polling.clock is None or not polling.another_read_fits(polling.clock.monotonic() - started):
            break
        polling.clock.sleep(polling.interval)
        if interruptible:
            rollout = load_rollout(services, state)
    return {**state, "endpoint_state": reading.to_state()}
