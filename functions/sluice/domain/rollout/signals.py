"""Signals from alarms and operators: abort, promote, pause and resume an active rollout."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sluice.domain.ports import WorkflowPort
from sluice.domain.rollout.log import DecisionServices, decide, utc_iso
from sluice.domain.rollout.status import ABORT_ERROR, ACTIVE


class SignalServices(DecisionServices, Protocol):
    """What a signal acts through: the rollout records, the waits of their executions, the subscribers.

    RolloutServices is one; AlarmState is given just these (sluice.wiring.signals), so an alarm's path to
    a rollback loads no SageMaker, S3, CloudWatch or Auto Scaling code.
    """

    @property
    def workflow(self) -> WorkflowPort: ...


def active_rollout(services: SignalServices, endpoint: str) -> dict[str, Any] | None:
    for rollout in services.rollouts.rollouts(endpoint, limit=20):
        if rollout.get("status") in ACTIVE:
            return rollout
    return None


def request_abort(
    services: SignalServices,
    endpoint: str,
    rollout_id: str,
    reason: str,
    by: str,
    now: datetime,
    alarm: str | None = None,
) -> dict[str, Any] | None:
    """Flag the abort, then fail the stored wait (if any): the state machine rolls back at once."""
    request = {"by": by, "reason": reason, "at": utc_iso(now), **({"alarm": alarm} if alarm else {})}
    # The first abort's reason stays the rollout's reason; later ones are logged below.
    rollout = services.rollouts.signal(endpoint, rollout_id, {"abort_requested": request}, keep_existing=True)
    if rollout is None or rollout.get("status") not in ACTIVE:
        return rollout
    decide(
        services,
        endpoint,
        rollout_id,
        now,
        "alarm fired" if alarm else "abort requested",
        reason,
        alarm=alarm,
        by=by,
    )
    if rollout.get("wait_token"):
        services.workflow.fail(str(rollout["wait_token"]), ABORT_ERROR, reason)
    return rollout


def request_promote(
    services: SignalServices, endpoint: str, rollout_id: str, by: str, now: datetime
) -> dict[str, Any] | None:
    rollout = services.rollouts.signal(
        endpoint, rollout_id, {"promote_requested": {"by": by, "at": utc_iso(now)}, "approved": True}
    )
    if rollout is None or rollout.get("status") not in ACTIVE:
        return rollout
    decide(services, endpoint, rollout_id, now, "promote requested", f"by {by}", by=by)
    if rollout.get("wait_token"):
        # Any wait: a bake or the approval ends now; a pause ends into NextStep, which promotes.
        services.workflow.succeed(str(rollout["wait_token"]), {"action": "promote"})
    return rollout


def request_pause(
    services: SignalServices, endpoint: str, rollout_id: str, paused: bool, by: str, now: datetime
) -> dict[str, Any] | None:
    rollout = services.rollouts.signal(endpoint, rollout_id, {"pause_requested": paused})
    if rollout is None or rollout.get("status") not in ACTIVE:
        return rollout
    if not paused and rollout.get("wait_token") and rollout.get("waiting_for") == "pause":
        services.workflow.succeed(str(rollout["wait_token"]), {"action": "continue"})
    if rollout:
        decide(
            services,
            endpoint,
            rollout_id,
            now,
            "pause requested" if paused else "resume requested",
            f"by {by}",
            # PAUSED is notified when the rollout really stops at the boundary (wait_for_signal).
            notify=None if paused else "RESUMED",
        )
    return rollout


def alarm_fired(services: SignalServices, alarm_name: str, reason: str, now: datetime) -> list[str]:
    """An alarm went to ALARM: abort every active rollout it guards. Returns the rollouts aborted."""
    aborted = []
    for owner in services.rollouts.alarm_owners(alarm_name):
        rollout = request_abort(
            services,
            str(owner["endpoint"]),
            str(owner["rollout_id"]),
            f"alarm {alarm_name} is in ALARM: {reason}",
            "alarm",
            now,
            alarm=alarm_name,
        )
        if rollout is not None and rollout.get("status") in ACTIVE:
            aborted.append(str(owner["rollout_id"]))
    return aborted
