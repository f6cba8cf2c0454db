"""The rollout's decision log: every decision with its reason (`sluice history`), and notifications."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from sluice.domain.ports import NotifierPort, RolloutStorePort
from sluice.domain.rollout.traffic import variants_seen

STATE_CHANGE = "Sluice Rollout State Change"


class DecisionServices(Protocol):
    """What recording a decision takes: the rollout records and the subscribers (RolloutServices is one)."""

    @property
    def rollouts(self) -> RolloutStorePort: ...

    @property
    def notifier(self) -> NotifierPort: ...


def utc_iso(now: datetime) -> str:
    return now.astimezone(UTC).isoformat()


def decide(
    services: DecisionServices,
    endpoint: str,
    rollout_id: str,
    now: datetime,
    event: str,
    reason: str,
    *,
    notify: str | None = None,
    **details: Any,
) -> None:
    """Record one decision (with its reason) and, when `notify` names a status, tell subscribers."""
    entry = {"event": event, "reason": reason, **{k: v for k, v in details.items() if v is not None}}
    services.rollouts.log_decision(endpoint, rollout_id, utc_iso(now), entry)
    if notify:
        detail = {
            "status": notify,
            "endpoint": endpoint,
            "rollout_id": rollout_id,
            "event": event,
            "reason": reason,
            **entry,
        }
        services.notifier.notify(STATE_CHANGE, detail, subject=f"Sluice rollout on {endpoint}: {notify}")


def hold_for_a_human(
    services: DecisionServices,
    endpoint: str,
    rollout_id: str,
    reason: str,
    explanation: str,
    current: dict[str, Any] | None,
    now: datetime,
    *,
    hint: str = "",
) -> None:
    """NEEDS_ATTENTION: the exact variants recorded and notified; the rollout keeps the lease."""
    seen = variants_seen(current)
    services.rollouts.update_rollout(
        endpoint, rollout_id, {"status": "NEEDS_ATTENTION", "reason": reason, "endpoint_state": seen}
    )
    decide(
        services,
        endpoint,
        rollout_id,
        now,
        "needs attention",
        f"{explanation}; the lease stays held until a human resolves it" + (f" ({hint})" if hint else ""),
        notify="NEEDS_ATTENTION",
        variants=seen,
    )
