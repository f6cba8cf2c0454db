"""Has the endpoint done what the rollout asked? InService on the old config is a failed update."""

from __future__ import annotations

from typing import Any

import pytest

from sluice.domain.rollout.endpoint_check import Expectation, read


def endpoint(
    status: str, config: str, weights: dict[str, float], failure: str | None = None
) -> dict[str, Any]:
    return {
        "status": status,
        "failure_reason": failure,
        "config_name": config,
        "variants": [{"variant_name": name, "current_weight": weight} for name, weight in weights.items()],
    }


def test_in_service_on_the_config_asked_for_is_ready() -> None:
    reading = read(Expectation("ep-v2-canary"), endpoint("InService", "ep-v2-canary", {"v1": 1.0, "v2": 0.0}))
    assert (reading.status, reading.outcome) == ("InService", "ready")


@pytest.mark.parametrize("status", ["Creating", "Updating", "SystemUpdating", "RollingBack"])
def test_an_update_in_progress_means_wait(status: str) -> None:
    assert read(Expectation("new"), endpoint(status, "old", {"v1": 1.0})).outcome == "waiting"


def test_in_service_on_the_previous_config_is_a_failed_update_with_sagemakers_reason() -> None:
    """What SageMaker shows after a failed UpdateEndpoint: InService, the old config, a FailureReason."""
    reading = read(
        Expectation("ep-v2-promote"),
        endpoint("InService", "ep-v2-canary", {"v1": 0.0, "v2": 1.0}, failure="Insufficient capacity"),
    )
    assert reading.outcome == "failed"
    assert reading.reason == (
        "the update did not apply: the endpoint is InService on ep-v2-canary, not ep-v2-promote: "
        "Insufficient capacity"
    )


def test_weights_that_did_not_apply_are_a_failure() -> None:
    reading = read(
        Expectation("canary", {"v2": 50.0, "v1": 50.0}),
        endpoint("InService", "canary", {"v1": 0.9, "v2": 0.1}),
    )
    assert reading.outcome == "failed"
    assert "the weights did not apply" in reading.reason


def test_weights_compare_as_shares_of_traffic() -> None:
    """SageMaker keeps weights as given (50/50 or 1/1 both split traffic in two)."""
    expected = Expectation("canary", {"v2": 50.0, "v1": 50.0})
    assert read(expected, endpoint("InService", "canary", {"v1": 1.0, "v2": 1.0})).outcome == "ready"
    at_zero = Expectation("canary", {"v2": 100.0, "v1": 0.0})
    assert read(at_zero, endpoint("InService", "canary", {"v1": 0.0, "v2": 3.0})).outcome == "ready"


@pytest.mark.parametrize(
    ("status", "failure"),
    [
        ("UpdateRollbackFailed", "Both the deployment and the rollback failed"),
        ("Failed", "The primary container did not pass the ping health check"),
        ("OutOfService", None),
    ],
)
def test_an_endpoint_that_gave_up_is_a_failure_with_its_reason(status: str, failure: str | None) -> None:
    """UpdateRollbackFailed is not waited on: SageMaker stopped, with old and new configs mixed."""
    reading = read(Expectation("new"), endpoint(status, "old", {"v1": 1.0}, failure=failure))
    assert reading.outcome == "failed"
    assert reading.reason == f"endpoint is {status}: {failure or 'no FailureReason given'}"


def test_an_endpoint_deleted_during_the_rollout_is_a_failure() -> None:
    reading = read(Expectation("new"), None)
    assert (reading.status, reading.outcome) == ("Deleted", "failed")
