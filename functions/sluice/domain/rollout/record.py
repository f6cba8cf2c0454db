"""A rollout's record as the state machine actions read it: the record, its stored plan, the weights
it sets, and the reason inside a caught error."""

from __future__ import annotations

import json
from typing import Any

from sluice.domain.rollout.services import RolloutServices
from sluice.domain.rollout_plan import FirstDeploymentPlan, RolloutPlan
from sluice.errors import RolloutAborted

# Clears the stored wait (a token answered or timed out is spent).
CLEARED_WAIT: dict[str, Any] = dict.fromkeys(("wait_token", "waiting_for"))


def load_rollout(services: RolloutServices, state: dict[str, Any]) -> dict[str, Any]:
    rollout = services.rollouts.rollout(state["endpoint"], state["rollout_id"])
    if rollout is None:
        raise RuntimeError(f"rollout {state['rollout_id']} of {state['endpoint']} is not in the registry")
    return rollout


def raise_if_abort_requested(rollout: dict[str, Any]) -> None:
    """An abort already requested for the rollout (an alarm, `sluice abort`) ends it: RolloutAborted with
    the first request's reason, which the state machine catches and rolls back."""
    requested = rollout.get("abort_requested")
    if requested:
        raise RolloutAborted(str(requested.get("reason", "abort requested")))


def stored_plan(rollout: dict[str, Any]) -> RolloutPlan:
    # The registry drops None values inside maps (DynamoDB): a plan without autoscaling comes back
    # without those keys, which the plan model requires.
    return RolloutPlan.from_dict({"autoscaling": None, "baseline_autoscaling": None, **rollout["plan"]})


def stored_first_deployment_plan(rollout: dict[str, Any]) -> FirstDeploymentPlan:
    return FirstDeploymentPlan.from_dict({"autoscaling": None, **rollout["plan"]})


def auto_alarm_names(plan: RolloutPlan) -> set[str]:
    return {str(request["AlarmName"]) for request in plan.alarms}


def plan_weights(plan: RolloutPlan, step_index: int) -> dict[str, int]:
    percent = plan.steps[step_index].percent if step_index >= 0 else 0
    return {plan.names.candidate_variant: percent, plan.names.baseline_variant: 100 - percent}


def error_reason(error: Any) -> str:
    """The message inside a Step Functions Catch result ({"Error", "Cause"}; a Lambda's Cause is JSON)."""
    if not isinstance(error, dict):
        return "unknown error"
    cause = error.get("Cause") or ""
    try:
        parsed = json.loads(cause)
    except (TypeError, ValueError):
        parsed = None
    if isinstance(parsed, dict) and parsed.get("errorMessage"):
        return str(parsed["errorMessage"])
    return f"{error.get('Error', 'error')}: {cause}".strip(": ")
