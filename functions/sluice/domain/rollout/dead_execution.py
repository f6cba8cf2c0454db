"""A rollout whose execution ended without ending the rollout (stopped by hand, timed out, failed in
Step Functions itself): what it left the endpoint in decides what becomes of it. Half-way, it needs a
human and keeps the lease; in one piece, it is recorded abandoned and the lease may pass on.

Found either when its execution's status change arrives (`execution_ended`) or, if that event was
lost, by the next upload that finds its lease (`intake`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sluice.domain.rollout.log import DecisionServices, decide, hold_for_a_human, utc_iso
from sluice.domain.rollout.status import ACTIVE
from sluice.domain.rollout.traffic import traffic_of


def left_half_way(endpoint: str, current: dict[str, Any] | None) -> str | None:
    """What is wrong with the endpoint a dead execution left (its status and split), or None when it is
    in one piece: InService with a single variant, or gone. Stricter than `sluice resolve`: a variant
    left idle at weight 0 would get the next rollout refused."""
    traffic = traffic_of(current)
    if not traffic.in_one_piece or traffic.idle:
        return traffic.described(endpoint)
    return None


def hold_orphan(
    services: DecisionServices,
    endpoint: str,
    lease: dict[str, Any],
    rollout: dict[str, Any],
    current: dict[str, Any] | None,
    problem: str,
    now: datetime,
) -> None:
    """A rollout's execution died (stopped by hand, timed out) leaving the endpoint half-way: the
    rollout NEEDS_ATTENTION and keeps the lease, exactly as when its own rollback fails."""
    reason = (
        f"its execution {lease.get('execution_arn')} is no longer running but the rollout was "
        f"{rollout.get('status', 'unknown')}: {problem}"
    )
    hold_for_a_human(
        services,
        endpoint,
        str(lease.get("rollout_id")),
        reason,
        reason,
        current,
        now,
        hint=f"`sluice resolve {endpoint}`",
    )


def record_abandoned(
    services: DecisionServices,
    endpoint: str,
    lease: dict[str, Any],
    rollout: dict[str, Any],
    what_next: str,
    now: datetime,
) -> None:
    """The dead holder's record says what became of it (it would otherwise show as running for ever)."""
    dead = str(lease.get("rollout_id"))
    if rollout.get("status") not in ACTIVE:
        return
    services.rollouts.update_rollout(
        endpoint,
        dead,
        {
            "status": "ABANDONED",
            "finished_at": utc_iso(now),
            "reason": f"execution ended while {rollout['status']}",
        },
    )
    decide(
        services,
        endpoint,
        dead,
        now,
        "abandoned",
        f"its execution {lease.get('execution_arn')} ended while the rollout was {rollout['status']}; "
        f"{what_next}",
        notify="ABANDONED",
    )
