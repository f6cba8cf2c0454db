"""The RolloutStepFunction's actions by name (as statemachines/rollout.asl.json sends them), and its
one entry point.

Each action takes the execution's state and returns it updated; it raises RolloutRefused (pre-flight:
nothing changed), RolloutAborted (roll back) or EndpointBusy (the state machine retries with backoff).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sluice.domain.rollout.actions_analyse import analyse, check_alarms
from sluice.domain.rollout.actions_end import (
    endpoint_unhealthy,
    finish_promotion,
    finish_rollback,
    needs_attention,
    promote,
    rollback_config,
    rollback_weights,
)
from sluice.domain.rollout.actions_start import (
    add_candidate,
    create_alarms,
    create_endpoint,
    finish_first_deployment,
    prepare,
    refused,
)
from sluice.domain.rollout.actions_walk import next_step, wait_for_signal
from sluice.domain.rollout.endpoint_check import read_endpoint
from sluice.domain.rollout.services import RolloutServices

ACTIONS = {
    "prepare": prepare,
    "refused": refused,
    "create_endpoint": create_endpoint,
    "finish_first_deployment": finish_first_deployment,
    "add_candidate": add_candidate,
    "create_alarms": create_alarms,
    "next_step": next_step,
    "check_alarms": check_alarms,
    "analyse": analyse,
    "promote": promote,
    "finish_promotion": finish_promotion,
    "rollback_weights": rollback_weights,
    "rollback_config": rollback_config,
    "finish_rollback": finish_rollback,
    "read_endpoint": read_endpoint,
    "endpoint_unhealthy": endpoint_unhealthy,
    "needs_attention": needs_attention,
}
WAITS = {"bake": "bake", "pause": "pause", "await_approval": "approval"}


def run_action(
    services: RolloutServices, action: str, state: dict[str, Any], token: str | None, now: datetime
) -> dict[str, Any]:
    """The RolloutStepFunction's one entry point."""
    if action in WAITS:
        if not token:
            raise ValueError(f"{action} needs the task token")
        return wait_for_signal(services, state, token, WAITS[action], now)
    if action not in ACTIONS:
        raise ValueError(f"unknown rollout action {action!r}")
    return ACTIONS[action](services, state, now)
