"""A rollout execution ended (Step Functions' "Execution Status Change": ABORTED, TIMED_OUT, FAILED)
while its rollout was still running: stopped in the console, timed out, or failed in Step Functions
itself. Every ending the state machine reaches on its own records a final status first, so those
events change nothing. Otherwise nothing else would notice until the next upload: settle it now."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sluice.domain.rollout.dead_execution import hold_orphan, left_half_way, record_abandoned
from sluice.domain.rollout.intake import start_next_queued
from sluice.domain.rollout.log import decide
from sluice.domain.rollout.services import RolloutServices
from sluice.domain.rollout.status import ACTIVE


def execution_ended(
    services: RolloutServices,
    endpoint: str,
    rollout_id: str,
    execution_arn: str,
    status: str,
    now: datetime,
) -> str | None:
    """Settle a rollout whose execution ended with `status` while the rollout was still active: half-way
    (two variants, or not InService), it NEEDS_ATTENTION, notified, and keeps the lease; in one piece,
    it is ABANDONED and its lease passes to the newest queued version (or is released). Returns the
    rollout's new status, or None when there was nothing to settle (the rollout had ended, or the event
    is about another execution of it)."""
    rollout = services.rollouts.rollout(endpoint, rollout_id)
    if rollout is None or rollout.get("status") not in ACTIVE:
        return None
    if rollout.get("execution_arn") != execution_arn:
        return None
    lease = services.rollouts.lease(endpoint) or {}
    holds_the_lease = lease.get("rollout_id") == rollout_id
    held = {**lease, "rollout_id": rollout_id, "execution_arn": execution_arn}
    decide(
        services,
        endpoint,
        rollout_id,
        now,
        "execution ended",
        f"its execution {execution_arn} ended {status} while the rollout was {rollout.get('status')}",
        execution_status=status,
    )
    current = services.endpoints.state(endpoint)
    problem = left_half_way(endpoint, current)
    if problem is not None:
        hold_orphan(services, endpoint, held, rollout, current, problem, now)
        return "NEEDS_ATTENTION"
    where = _where(endpoint, current)
    if not holds_the_lease:
        record_abandoned(services, endpoint, held, rollout, f"{where}; it did not hold the lease", now)
        return "ABANDONED"
    record_abandoned(services, endpoint, held, rollout, f"{where}, so its lease was handed on", now)
    start_next_queued(services, endpoint, rollout_id, now)
    return "ABANDONED"


def _where(endpoint: str, current: dict[str, Any] | None) -> str:
    if current is None:
        return f"endpoint {endpoint} no longer exists"
    variants = [str(v.get("variant_name")) for v in current.get("variants", [])]
    return f"endpoint {endpoint} is {current.get('status')} with {', '.join(variants)} serving all traffic"
