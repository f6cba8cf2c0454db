"""`sluice abort` reaches a rollout at once in every phase it can wait in, at real time (time scale 1,
as `make sandbox` serves): while SageMaker adds the candidate, while a step's weights are applied,
during a bake, while paused, while awaiting approval (issue 10).

Each phase is made long on purpose (an hour's bake, an approval nobody gives, endpoint updates that
stay Updating for seconds) and each test asserts that the baseline is back long before the phase would
have ended, or, when SageMaker is busy applying an update (it refuses any other meanwhile), that the
rollback goes out within a couple of seconds of the endpoint being InService again. Bounds are loose
(these are shared, noisy machines; the figures themselves are in `make bench`): they separate "acted on
the abort" from "waited for the phase to end".
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from integration_kit import UNJUDGED, aborted_in, states_entered

from sluice_cli.sandbox.gaps.sagemaker_endpoint import UpdateEndpoint

HERE = str(Path(__file__).parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)  # tests/cli: the rollout tests' sandbox helpers (Canary)
from test_cli_rollouts import Canary, canary_in_a_sandbox  # noqa: E402

pytestmark = pytest.mark.slow

HOUR = 3600
UPDATE_SECONDS = 4.0


@pytest.fixture(scope="module")
def canary() -> Iterator[Canary]:
    yield from canary_in_a_sandbox(time_scale=1.0)  # real time, as `make sandbox` serves


@pytest.fixture
def updates_take(canary: Canary) -> Iterator[UpdateEndpoint]:
    """Endpoint updates stay Updating; set `update_delay_seconds` in the test (back to instant after)."""
    updates = canary.sandbox.gaps.get(UpdateEndpoint)
    yield updates
    updates.update_delay_seconds = 0.0


def abort(canary: Canary, endpoint: str) -> tuple[float, str]:
    """`sluice abort`; returns when it was sent and what it printed."""
    sent = time.monotonic()
    result = canary.sluice("abort", endpoint, "--reason", "on-call saw a regression", "--by", "alice")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return sent, result.stdout


def rolled_back(canary: Canary, endpoint: str, timeout: float = 60.0) -> tuple[dict[str, Any], float]:
    """Until the rollout is ROLLED_BACK; returns it and when the baseline's DesiredWeight became 100."""
    sagemaker = canary.sandbox.client("sagemaker")
    deadline, baseline_back = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        variants = sagemaker.describe_endpoint(EndpointName=endpoint)["ProductionVariants"]
        baseline = next(v for v in variants if v["VariantName"] == "v1")
        if baseline_back is None and (len(variants) == 1 or baseline.get("DesiredWeight") == 100.0):
            baseline_back = time.monotonic()
        seen = canary.rollout(endpoint)
        if baseline_back is not None and seen and seen["status"] not in ("ROLLING_BACK",):
            if seen["status"] == "ROLLED_BACK":
                return seen, baseline_back
            if seen["status"] not in ("UPDATING", "SHIFTING", "BAKING", "PAUSED", "AWAITING_APPROVAL"):
                raise AssertionError(f"the rollout ended {seen['status']}: {seen.get('reason')}")
        time.sleep(0.05)
    raise AssertionError(f"not rolled back within {timeout} s; last seen {canary.rollout(endpoint)}")


def in_service_again(canary: Canary, endpoint: str, timeout: float = 60.0) -> float:
    """When the endpoint, Updating now, is InService again (or has taken the next update already)."""
    sagemaker = canary.sandbox.client("sagemaker")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = sagemaker.describe_endpoint(EndpointName=endpoint)
        baseline = next(v for v in described["ProductionVariants"] if v["VariantName"] == "v1")
        if described["EndpointStatus"] == "InService" or baseline.get("DesiredWeight") == 100.0:
            return time.monotonic()
        time.sleep(0.05)
    raise AssertionError("the endpoint stayed Updating")


def updating(canary: Canary, endpoint: str) -> bool:
    described = canary.sandbox.client("sagemaker").describe_endpoint(EndpointName=endpoint)
    return bool(described["EndpointStatus"] == "Updating")


def test_an_abort_during_an_hours_bake_rolls_back_at_once(canary: Canary) -> None:
    endpoint = canary.endpoint()
    canary.deploy(endpoint, "v2", {"steps": [50, 100], "bake_seconds": HOUR, **UNJUDGED})
    canary.wait_for(endpoint, lambda r: r["status"] == "BAKING", "the bake of step 1")

    sent, printed = abort(canary, endpoint)
    final, baseline_back = rolled_back(canary, endpoint)

    assert "the bake's wait was failed, the rollout is rolling back" in printed
    assert baseline_back - sent < 30  # seconds; the bake had an hour left
    assert final["reason"] == "on-call saw a regression"
    assert canary.weights(endpoint) == {"v1": (100.0, 2)}


def test_an_abort_while_paused_rolls_back_at_once(canary: Canary) -> None:
    endpoint = canary.endpoint()
    canary.deploy(endpoint, "v2", {"steps": [50, 100], "bake_seconds": 3, **UNJUDGED})
    canary.wait_for(endpoint, lambda r: r["status"] == "BAKING", "the bake of step 1")
    assert canary.sluice("pause", endpoint).exit_code == 0
    canary.wait_for_status(endpoint, "PAUSED")  # a pause lasts until someone resumes it

    sent, printed = abort(canary, endpoint)
    _, baseline_back = rolled_back(canary, endpoint)

    assert "the pause's wait was failed" in printed
    assert baseline_back - sent < 30
    assert canary.weights(endpoint) == {"v1": (100.0, 2)}


def test_an_abort_while_awaiting_approval_rolls_back_at_once(canary: Canary) -> None:
    endpoint = canary.endpoint()
    canary.deploy(
        endpoint, "v2", {"steps": [50, 100], "bake_seconds": 1, "manual_approval": True, **UNJUDGED}
    )
    canary.wait_for_status(endpoint, "AWAITING_APPROVAL")

    sent, printed = abort(canary, endpoint)
    _, baseline_back = rolled_back(canary, endpoint)

    assert "the approval's wait was failed" in printed
    assert baseline_back - sent < 30
    assert "promoted" not in canary.events(endpoint)
    assert canary.weights(endpoint) == {"v1": (100.0, 2)}


def test_an_abort_while_a_steps_weights_are_applied_ends_the_wait(
    canary: Canary, updates_take: UpdateEndpoint
) -> None:
    """The endpoint is Updating (SageMaker refuses other updates meanwhile): the wait ends at once, and
    the rollback's weights call goes out within about 2 s of InService (ReadEndpoint's and the Rollback
    retrier's interval), not after a poll interval's worth more."""
    endpoint = canary.endpoint()
    canary.deploy(endpoint, "v2", {"steps": [50, 100], "bake_seconds": HOUR, **UNJUDGED})
    canary.wait_for(endpoint, lambda r: r["status"] == "UPDATING", "the candidate being added")
    updates_take.update_delay_seconds = UPDATE_SECONDS  # from step 1's weights on
    canary.wait_for(
        endpoint, lambda r: r["status"] == "SHIFTING" and updating(canary, endpoint), "step 1 applying"
    )

    _, printed = abort(canary, endpoint)
    back_in_service = in_service_again(canary, endpoint)
    final, baseline_back = rolled_back(canary, endpoint)

    assert "the rollout sees it within seconds" in printed
    assert baseline_back - back_in_service < 5  # a 2 s interval and a little
    assert aborted_in(canary.sandbox, final["execution_arn"]) == ["ReadEndpoint"]
    assert "Bake" not in states_entered(canary.sandbox, final["execution_arn"])
    assert canary.weights(endpoint) == {"v1": (100.0, 2)}


def test_an_abort_while_the_candidate_is_added_rolls_back_once_it_is_in_service(
    canary: Canary, updates_take: UpdateEndpoint
) -> None:
    """AddCandidate's UpdateEndpoint (candidate at 0 %) cannot be cut short: the rollback goes out
    within about 2 s of it being InService, and no alarm is armed or step taken."""
    updates_take.update_delay_seconds = UPDATE_SECONDS
    endpoint = canary.endpoint()
    canary.deploy(endpoint, "v2", {"steps": [50, 100], "bake_seconds": HOUR, **UNJUDGED})
    canary.wait_for(
        endpoint, lambda r: r["status"] == "UPDATING" and updating(canary, endpoint), "the candidate added"
    )

    _, printed = abort(canary, endpoint)
    back_in_service = in_service_again(canary, endpoint)
    final, baseline_back = rolled_back(canary, endpoint)

    assert "the candidate is still being added (0 % of the traffic)" in printed
    assert baseline_back - back_in_service < 5
    entered = states_entered(canary.sandbox, final["execution_arn"])
    assert "NextStep" not in entered and "Bake" not in entered
    assert aborted_in(canary.sandbox, final["execution_arn"]) == ["CreateAlarms"]
    assert "alarms armed" not in canary.events(endpoint)
    assert canary.weights(endpoint) == {"v1": (100.0, 2)}
