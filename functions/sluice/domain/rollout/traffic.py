"""An endpoint's traffic as a rollout reads it: each variant's share, the variants seen, and whether
the endpoint is in one piece."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def weight_fractions(weights: dict[str, float]) -> dict[str, float]:
    """Each variant's fraction of traffic (SageMaker weights are relative: 50/50 and 1/1 are the same)."""
    total = sum(weights.values())
    return {name: w / total if total else 0.0 for name, w in weights.items()}


def current_weights(variants: list[dict[str, Any]]) -> dict[str, float]:
    """Each variant's CurrentWeight, as the endpoint port reads it."""
    return {str(v["variant_name"]): float(v.get("current_weight") or 0) for v in variants}


def traffic_shares(variants: list[dict[str, Any]]) -> dict[str, float]:
    """Each variant's share of traffic in percent."""
    return {name: round(100 * f, 2) for name, f in weight_fractions(current_weights(variants)).items()}


def split_text(shares: dict[str, float]) -> str:
    """Traffic shares as text, e.g. `v1 90 %, v2 10 %`."""
    return ", ".join(f"{name} {share:g} %" for name, share in sorted(shares.items()))


def variants_seen(current: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Each variant's weight and instances, as recorded for a human (NEEDS_ATTENTION)."""
    return {
        v["variant_name"]: {"weight": v.get("current_weight"), "instances": v.get("current_instance_count")}
        for v in (current or {}).get("variants", [])
    }


@dataclass(frozen=True)
class Traffic:
    """An endpoint's status and each variant's share of its traffic (status None: the endpoint is gone)."""

    status: str | None
    shares: dict[str, float]

    @property
    def in_one_piece(self) -> bool:
        """The one rule for an endpoint a rollout has left: gone, or InService with all traffic on one
        variant (a variant left idle at weight 0 does not split traffic; see `idle`)."""
        return self.status is None or (self.status == "InService" and self.serving is not None)

    @property
    def serving(self) -> str | None:
        """The variant serving all traffic (None: none does, or several do)."""
        serving = [name for name, share in self.shares.items() if share > 0]
        return serving[0] if len(serving) == 1 else None

    @property
    def idle(self) -> list[str]:
        """Variants still deployed at weight 0 (instances billed; a rollout would refuse the endpoint)."""
        return sorted(name for name, share in self.shares.items() if share == 0)

    def described(self, endpoint: str) -> str:
        """E.g. `endpoint fraud is InService with v1 90 %, v2 10 %`."""
        return f"endpoint {endpoint} is {self.status} with {split_text(self.shares) or 'no variants'}"


def traffic_of(current: dict[str, Any] | None) -> Traffic:
    """An endpoint's state, as the adapter reads it (None: gone), as Traffic."""
    if current is None:
        return Traffic(status=None, shares={})
    return Traffic(
        status=str(current.get("status")), shares=traffic_shares(list(current.get("variants", [])))
    )
