"""Rollout statuses (active, final) and the error a wait is failed with to abort the rollout."""

from __future__ import annotations

ACTIVE = frozenset(
    {
        "STARTING",
        "DEPLOYING",
        "UPDATING",
        "SHIFTING",
        "BAKING",
        "PAUSED",
        "AWAITING_APPROVAL",
        "PROMOTING",
        "ROLLING_BACK",
    }
)
FINAL = frozenset(
    {
        "PROMOTED",
        "ROLLED_BACK",
        "REFUSED",
        "SUPERSEDED",
        "DEPLOYED",
        "NEEDS_ATTENTION",
        "RESOLVED",
        "CANCELLED",
    }
)
ABORT_ERROR = "Sluice.Abort"  # SendTaskFailure error: the state machine catches it by name and rolls back
