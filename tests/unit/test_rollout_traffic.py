"""The one rule for an endpoint a rollout has left: in one piece (gone, or InService with all traffic on
one variant), used by the dead-lease takeover (intake) and by `sluice resolve`."""

from __future__ import annotations

from typing import Any

import pytest

from sluice.domain.rollout.traffic import traffic_of


def endpoint(status: str, **weights: float) -> dict[str, Any]:
    return {
        "status": status,
        "variants": [{"variant_name": n, "current_weight": w} for n, w in weights.items()],
    }


@pytest.mark.parametrize(
    ("current", "in_one_piece", "serving", "idle"),
    [
        (None, True, None, []),
        (endpoint("InService", v1=1.0), True, "v1", []),
        (endpoint("InService", v1=1.0, v2=0.0), True, "v1", ["v2"]),
        (endpoint("InService", v1=0.9, v2=0.1), False, None, []),
        (endpoint("Updating", v1=1.0), False, "v1", []),
        (endpoint("InService", v1=0.0), False, None, ["v1"]),
        (endpoint("InService"), False, None, []),
    ],
)
def test_an_endpoint_is_in_one_piece_when_gone_or_in_service_with_all_traffic_on_one_variant(
    current: dict[str, Any] | None, in_one_piece: bool, serving: str | None, idle: list[str]
) -> None:
    traffic = traffic_of(current)
    assert (traffic.in_one_piece, traffic.serving, traffic.idle) == (in_one_piece, serving, idle)


def test_traffic_is_described_with_each_variants_share() -> None:
    assert traffic_of(endpoint("InService", v1=9.0, v2=1.0)).described("fraud") == (
        "endpoint fraud is InService with v1 90 %, v2 10 %"
    )
    assert traffic_of(endpoint("Failed")).described("fraud") == "endpoint fraud is Failed with no variants"
