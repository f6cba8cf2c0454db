"""An endpoint's traffic as a rollout reads it: each variant's share, the variants seen, and whether
the endpoint is in one piece."""

from __future__ import annotations

from typing import Any

from sluice.errors import NotResolvable


def traffic_shares(variants: list[dict[str, Any]]) -> dict[str, float]:
    """Each variant's share of traffic in percent (SageMaker weights are relative)."""
    weights = {str(v["variant_name"]): float(v.get("current_weight") or 0) for v in variants}
    total = sum(weights.values())
    return {name: round(100 * w / total, 2) if total else 0.0 for name, w in weights.items()}


def split_text(shares: dict[str, float]) -> str:
    """Traffic shares as text, e.g. `v1 90 %, v2 10 %`."""
    return ", ".join(f"{name} {share:g} %" for name, share in sorted(shares.items()))


def variants_seen(current: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Each variant's weight and instances, as recorded for a human (NEEDS_ATTENTION)."""
    return {
        v["variant_name"]: {"weight": v.get("current_weight"), "instances": v.get("current_instance_count")}
        for v in (current or {}).get("variants", [])
    }


def left_half_way(endpoint: str, current: dict[str, Any] | None) -> str | None:
    """Why the endpoint is not safe to start a rollout on after a rollout's execution died (None: it is
    InService with one variant, or gone - as any rollout leaves it when it ends)."""
    if current is None:
        return None
    variants = list(current.get("variants", []))
    if current.get("status") == "InService" and len(variants) == 1:
        return None
    split = split_text(traffic_shares(variants))
    return f"endpoint {endpoint} is {current.get('status')} with {split or 'no variants'}"


def one_piece(endpoint: str, current: dict[str, Any] | None) -> tuple[str | None, dict[str, float]]:
    """The variant serving all traffic (None: the endpoint is gone). NotResolvable while the endpoint is
    changing, failed, or still splits traffic between variants."""
    if current is None:
        return None, {}
    status = str(current.get("status"))
    shares = traffic_shares(list(current.get("variants", [])))
    if status != "InService":
        raise NotResolvable(
            f"endpoint {endpoint} is {status}, not InService: wait for it to settle (or fix it), then "
            "resolve; the lease stays held"
        )
    serving = [name for name, share in shares.items() if share > 0]
    if len(serving) != 1:
        raise NotResolvable(
            f"endpoint {endpoint} still splits traffic ({split_text(shares)}): put all of it on one "
            "variant first, e.g. "
            f"aws sagemaker update-endpoint-weights-and-capacities --endpoint-name {endpoint} "
            "--desired-weights-and-capacities VariantName=<other>,DesiredWeight=0, then resolve again; "
            "the lease stays held"
        )
    return serving[0], shares
