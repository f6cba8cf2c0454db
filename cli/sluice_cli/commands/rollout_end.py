"""`sluice sandbox traffic --until-rollout-ends`: has the endpoint's rollout ended since the traffic began?

Two ways to tell, the first when the registry table is known (--table, SLUICE_REGISTRY_TABLE or the
stack's output):

- `RolloutRecordWatch` reads the endpoint's rollout records as `sluice status` does (newest first): a
  rollout that was active when the watch began or became active since, now in a final status, has
  ended; so has one that was not there at the start and is already final (it started and ended between
  two looks), unless it never ran (SUPERSEDED or CANCELLED while queued).
- `EndpointShapeWatch` needs no table: once the endpoint has had two variants, it is back to one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from sluice.domain.rollout.status import ACTIVE, FINAL

RECENT = 20  # rollouts read per look (status.RECENT)
NEVER_RAN = frozenset({"SUPERSEDED", "CANCELLED"})


@dataclasses.dataclass(frozen=True)
class RolloutEnded:
    reason: str  # for people: "rollout v2 (…) ended: ROLLED_BACK"
    rollout: Mapping[str, Any] | None = None  # the record, when read from the registry


class RolloutEndWatch(Protocol):
    def check(self, weights: Mapping[str, float]) -> RolloutEnded | None:
        """The end, once it has happened; `weights`: the endpoint's variants now."""
        ...


class RolloutRecordWatch:
    """The endpoint's rollout records (`read()` returns them newest first, as RolloutStore.rollouts)."""

    def __init__(self, read: Callable[[], list[dict[str, Any]]]) -> None:
        self.read = read
        first = read()
        self.before = {str(r.get("rollout_id")): str(r.get("status")) for r in first}
        self.watched = {rid for rid, status in self.before.items() if status in ACTIVE}

    def check(self, weights: Mapping[str, float]) -> RolloutEnded | None:
        for rollout in self.read():
            rid, status = str(rollout.get("rollout_id")), str(rollout.get("status"))
            if status in ACTIVE:
                self.watched.add(rid)
            elif status in FINAL and (
                rid in self.watched or (rid not in self.before and status not in NEVER_RAN)
            ):
                version = rollout.get("version", "?")
                return RolloutEnded(f"rollout of {version} ({rid}) ended: {status}", dict(rollout))
        return None

    @property
    def active(self) -> bool:
        return bool(self.watched)


class EndpointShapeWatch:
    """No registry table: the endpoint had two variants (a canary) and is back to one."""

    def __init__(self) -> None:
        self.had_two = False

    def check(self, weights: Mapping[str, float]) -> RolloutEnded | None:
        if len(weights) >= 2:
            self.had_two = True
        elif self.had_two and len(weights) == 1:
            (variant,) = weights
            return RolloutEnded(f"the endpoint is back to one variant: {variant} at 100 %")
        return None
