"""Faults of a canary rollout, each injected the way AWS produces it (issue 13, rollout half).

Every test ends in the same invariant, checked by `assert_settled` (tests/e2e/rollouts_kit.py): the
endpoint serves all of its traffic from exactly one known variant (or is held, exactly as recorded, for a
human: NEEDS_ATTENTION), the lease is released or held as README documents, the rollout's record and
its last notification say how it ended and why, and nothing uploaded or published is lost. README's
"Faults and what each ends in" lists the same faults, one row per test.

Where the errors come from (AWS's own words, as botocore reports them):
- throttling: `ThrottlingException` "Rate exceeded" (aws/sagemaker-python-sdk#645, from CreateTrainingJob;
  every SageMaker control-plane API throttles alike);
- an update in progress: `ValidationException` 'Cannot update in-progress endpoint "<arn>".' (the sandbox's
  UpdateEndpoint gap answers it too while an update is Updating);
- instance quota: `ResourceLimitExceeded` "The account-level service limit 'ml.m5.large for endpoint
  usage' is 2 Instances, with current utilization of 2 Instances and a request delta of 1 Instances. ..."
  (aws-samples/sagemaker-custom-project-templates#51, aws/amazon-sagemaker-examples#307);
- capacity after the call was accepted: InService again on the previous config with the FailureReason
  "CapacityError: Unable to provision requested ML compute capacity. Please retry using a different ML
  instance type." (DIAGNijmegen/rse-grand-challenge#2631; "InService but update operation fails":
  DescribeEndpoint's FailureReason, hashicorp/terraform-provider-aws#39099);
- a service failure: `InternalFailure` (SageMaker's common errors). The sandbox answers it with HTTP 400;
  AWS answers 500, which botocore's standard retry mode would first retry itself (up to 5 times a call).

Time is compressed 100 times (one module-scoped sandbox): a 300 s bake lasts about 3 s.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from integration_kit import UNJUDGED
from rollouts_kit import Rollouts, assert_settled, in_progress, refuse_weights, rollouts_in_a_sandbox

from sluice_cli.sandbox.gaps.sagemaker_endpoint import UpdateEndpoint

pytestmark = pytest.mark.slow

RATE_EXCEEDED = "Rate exceeded"
QUOTA = (
    "The account-level service limit 'ml.m5.large for endpoint usage' is 2 Instances, with current "
    "utilization of 2 Instances and a request delta of 1 Instances. Please use AWS Service Quotas to "
    "request an increase for this quota."
)
NO_CAPACITY = (
    "CapacityError: Unable to provision requested ML compute capacity. Please retry using a different ML "
    "instance type."
)


@pytest.fixture(scope="module")
def rollouts() -> Iterator[Rollouts]:
    with rollouts_in_a_sandbox() as running:
        yield running


def fire(rollouts: Rollouts, endpoint: str, version: str, reason: str, alarm: str = "errors") -> None:
    rollouts.client("cloudwatch").set_alarm_state(
        AlarmName=f"sluice-{endpoint}-{version}-{alarm}", StateValue="ALARM", StateReason=reason
    )


def v2_baking_at_half(rollouts: Rollouts, endpoint: str, *, bake_seconds: int = 600, **rollout: Any) -> str:
    """Upload v2 onto `endpoint` (steps 50 %, 100 %, and the `rollout` settings given) and wait until its
    first step bakes: v2 serves 50 %."""
    rollouts.deploy_json(endpoint, {"rollout": {"steps": [50, 100], "bake_seconds": bake_seconds, **rollout}})
    rollouts.upload(endpoint, "v2")
    rollouts.wait_for_status(endpoint, "v2", "BAKING")
    return endpoint


def busy_errors(rollouts: Rollouts, endpoint: str) -> list[str]:
    """The rollout task's EndpointBusy failures on this endpoint (the state machine retries those)."""
    return [
        str(i.error)
        for i in rollouts.sandbox.router.invocations_of("RolloutStepFunction")
        if i.error and i.error.startswith(f"EndpointBusy: {endpoint}:")
    ]


# -- a. throttling ---------------------------------------------------------------------------------


def test_throttled_weights_and_update_calls_are_retried_and_the_version_is_promoted(
    rollouts: Rollouts,
) -> None:
    """UpdateEndpoint and the first step's UpdateEndpointWeightsAndCapacities are throttled twice each:
    botocore's standard retries (with backoff) absorb it within the call, as on AWS. A throttling that
    outlasts them surfaces as EndpointBusy and the state machine retries the task with backoff
    (tests/integration/test_sagemaker_endpoint_adapter.py: the mapping; test b: the state machine's retry)."""
    endpoint = rollouts.endpoint()
    update = rollouts.sandbox.faults.fail(
        "sagemaker",
        "UpdateEndpoint",
        "ThrottlingException",
        RATE_EXCEEDED,
        times=2,
        when={"EndpointName": endpoint},
    )
    weights = refuse_weights(rollouts, endpoint, "ThrottlingException", RATE_EXCEEDED, times=2)
    rollouts.deploy_json(endpoint, {"rollout": {"steps": [50, 100], "bake_seconds": 1, **UNJUDGED}})
    rollouts.upload(endpoint, "v2")
    rollouts.finish(endpoint, "v2")

    assert (update.failed, weights.failed) == (2, 2)
    assert_settled(rollouts, endpoint, "v2", status="PROMOTED", serving="v2", lease="released")
    assert [e for e in rollouts.events(endpoint, "v2") if e == "weights set"] == ["weights set"] * 2


# -- b. "Cannot update in-progress endpoint" for minutes -------------------------------------------


def test_an_endpoint_busy_for_minutes_delays_a_step_and_the_rollback_without_giving_up(
    rollouts: Rollouts,
) -> None:
    """Step 1's weights are refused three times (retried with backoff), then an alarm arrives while
    SageMaker refuses every weights call for 3 minutes (90 calls 2 s apart): the rollback keeps trying
    and puts the baseline back as soon as SageMaker accepts - ROLLED_BACK, not NEEDS_ATTENTION."""
    endpoint = rollouts.endpoint()
    stepping = refuse_weights(rollouts, endpoint, "ValidationException", in_progress(endpoint), times=3)
    v2_baking_at_half(rollouts, endpoint)
    assert stepping.failed == 3 and len(busy_errors(rollouts, endpoint)) == 3
    rolling_back = refuse_weights(rollouts, endpoint, "ValidationException", in_progress(endpoint), times=90)
    fire(rollouts, endpoint, "v2", "error rate 9 %")
    rollouts.finish(endpoint, "v2")

    assert rolling_back.failed == 90
    assert rollouts.weights(endpoint) == {"v1": (100.0, 2)}
    assert_settled(
        rollouts,
        endpoint,
        "v2",
        status="ROLLED_BACK",
        serving="v1",
        lease="released",
        reason="error rate 9 %",
    )


# -- c. ResourceLimitExceeded on the candidate's instances -----------------------------------------


@pytest.mark.parametrize("when", ["refused", "accepted, then failed"])
def test_no_capacity_for_the_candidate_rolls_back_before_it_takes_traffic(
    rollouts: Rollouts, when: str
) -> None:
    """The canary config adds the candidate's instances. SageMaker refuses the UpdateEndpoint at once
    (ResourceLimitExceeded: the account's quota), or accepts it and fails it later (InService again on
    the previous config, FailureReason CapacityError). Either way the candidate never serves."""
    endpoint = rollouts.endpoint()
    if when == "refused":
        rollouts.sandbox.faults.fail(
            "sagemaker", "UpdateEndpoint", "ResourceLimitExceeded", QUOTA, when={"EndpointName": endpoint}
        )
    else:
        rollouts.sandbox.gaps.get(UpdateEndpoint).fail_next_update(endpoint, NO_CAPACITY)
    rollouts.deploy_json(endpoint, {"rollout": {"steps": [50, 100], "bake_seconds": 60}})
    rollouts.upload(endpoint, "v2")
    rollouts.finish(endpoint, "v2")

    expected = QUOTA if when == "refused" else NO_CAPACITY
    record = assert_settled(
        rollouts, endpoint, "v2", status="ROLLED_BACK", serving="v1", lease="released", reason=expected
    )
    assert rollouts.weights(endpoint) == {"v1": (1.0, 2)}  # never touched: v1's own config and weight
    events = rollouts.events(endpoint, "v2")
    assert "weights set" not in events
    rolling_back = [
        e for e in rollouts.history(endpoint, record["rollout_id"]) if e["event"] == "rolling back"
    ]
    assert rolling_back[0]["reason"].endswith("(the candidate never received traffic)")


# -- d. duplicate and out-of-order alarm events ----------------------------------------------------


def alarm_event(
    rollouts: Rollouts, endpoint: str, version: str, state: str, previous: str, reason: str
) -> None:
    """One "CloudWatch Alarm State Change" on the default bus, as CloudWatch puts it (EventBridge
    delivers at least once and does not order: the same event may come twice, a later one first)."""
    name = f"sluice-{endpoint}-{version}-errors"  # deleted once the rollout ends: its ARN, not a lookup
    arn = f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"
    now = f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%S.000+0000}"
    detail = {
        "alarmName": name,
        "state": {"value": state, "reason": reason, "timestamp": now},
        "previousState": {"value": previous, "reason": "", "timestamp": now},
        "configuration": {"metrics": []},
    }
    rollouts.client("events").put_events(
        Entries=[
            {
                "Source": "aws.cloudwatch",
                "DetailType": "CloudWatch Alarm State Change",
                "Detail": json.dumps(detail),
                "Resources": [arn],
            }
        ]
    )


def test_duplicate_and_out_of_order_alarm_events_roll_back_once(rollouts: Rollouts) -> None:
    """The alarm went ALARM then OK; EventBridge delivers the OK first and the ALARM twice (and once more
    after the rollout ended). One rollback, the ALARM's reason, and a late duplicate changes nothing."""
    endpoint = v2_baking_at_half(rollouts, rollouts.endpoint())
    alarm_event(rollouts, endpoint, "v2", "OK", "ALARM", "back under the threshold")
    assert rollouts.status(endpoint, "v2") == "BAKING"
    for _ in range(2):
        alarm_event(rollouts, endpoint, "v2", "ALARM", "OK", "error rate 7 % over 1 minute")
    rollouts.finish(endpoint, "v2")
    record = assert_settled(
        rollouts,
        endpoint,
        "v2",
        status="ROLLED_BACK",
        serving="v1",
        lease="released",
        reason="error rate 7 %",
    )
    decisions = len(rollouts.history(endpoint, record["rollout_id"]))

    alarm_event(rollouts, endpoint, "v2", "ALARM", "OK", "error rate 7 % over 1 minute")
    rollouts.sandbox.wait_idle(timeout=30, include_delayed=False)

    events = rollouts.events(endpoint, "v2")
    assert (events.count("rolling back"), events.count("rolled back")) == (1, 1)
    assert len(rollouts.history(endpoint, record["rollout_id"])) == decisions
    assert_settled(rollouts, endpoint, "v2", status="ROLLED_BACK", serving="v1", lease="released")


# -- e. alarm flapping -----------------------------------------------------------------------------


def test_a_flapping_alarm_rolls_back_once_with_its_first_reason(rollouts: Rollouts) -> None:
    endpoint = v2_baking_at_half(rollouts, rollouts.endpoint())
    cloudwatch = rollouts.client("cloudwatch")
    name = f"sluice-{endpoint}-v2-errors"
    fire(rollouts, endpoint, "v2", "first crossing: 0.05 > 0.01")
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="0.004 < 0.01")
    fire(rollouts, endpoint, "v2", "second crossing: 0.09 > 0.01")
    rollouts.finish(endpoint, "v2")

    assert_settled(
        rollouts,
        endpoint,
        "v2",
        status="ROLLED_BACK",
        serving="v1",
        lease="released",
        reason="first crossing: 0.05 > 0.01",
    )
    events = rollouts.events(endpoint, "v2")
    assert (events.count("rolling back"), events.count("rolled back")) == (1, 1)
    assert 1 <= events.count("alarm fired") <= 2  # the second ALARM is logged if the rollout still ran


# -- f. INSUFFICIENT_DATA under each on_insufficient_data policy ------------------------------------


def v2_with_alarms_without_data(rollouts: Rollouts, endpoint: str, rollout: dict[str, Any]) -> None:
    """v2 at 50 % (steps 50 %, 100 %, no canary analysis: the alarms alone judge a step, plus `rollout`),
    both its automatic alarms INSUFFICIENT_DATA through the first bake (no traffic reached it)."""
    v2_baking_at_half(rollouts, endpoint, bake_seconds=300, analysis=None, **rollout)
    for alarm in ("errors", "latency"):
        rollouts.client("cloudwatch").set_alarm_state(
            AlarmName=f"sluice-{endpoint}-v2-{alarm}",
            StateValue="INSUFFICIENT_DATA",
            StateReason="Insufficient Data: 1 datapoint was unknown.",
        )


@pytest.mark.parametrize(
    ("policy", "status", "serving"), [("continue", "PROMOTED", "v2"), ("rollback", "ROLLED_BACK", "v1")]
)
def test_alarms_without_data_follow_the_on_insufficient_data_policy(
    rollouts: Rollouts, policy: str, status: str, serving: str
) -> None:
    """`continue` goes on unjudged and promotes; `rollback` rolls back when the bake ends."""
    endpoint = rollouts.endpoint()
    v2_with_alarms_without_data(rollouts, endpoint, {"on_insufficient_data": policy})
    rollouts.finish(endpoint, "v2")

    reason = "had no data by the end of the bake" if policy == "rollback" else None
    assert_settled(rollouts, endpoint, "v2", status=status, serving=serving, lease="released", reason=reason)


def test_alarms_without_data_hold_the_rollout_by_default(rollouts: Rollouts) -> None:
    """on_insufficient_data left out (hold): the rollout is PAUSED where it is when the bake ends, held
    with the reason, notified; its alarms still watch it, and one firing rolls it back."""
    endpoint = rollouts.endpoint()
    v2_with_alarms_without_data(rollouts, endpoint, {})
    held = rollouts.wait_for_status(endpoint, "v2", "PAUSED")

    assert held["held"]["reason"].startswith(
        f"not enough traffic to judge: step 1: alarm sluice-{endpoint}-v2-"
    ), held["held"]
    assert "had no data by the end of the bake" in held["held"]["reason"]
    assert rollouts.weights(endpoint) == {"v1": (50.0, 2), "v2": (50.0, 1)}  # held where it was
    assert "held" in rollouts.events(endpoint, "v2")
    rollouts.wait_until(
        lambda: [n for n in rollouts.notifications(held["rollout_id"]) if n["status"] == "PAUSED"],
        timeout=10,
        what="the PAUSED notification",
    )
    fire(rollouts, endpoint, "v2", "error rate 9 %")
    rollouts.finish(endpoint, "v2")

    assert_settled(
        rollouts,
        endpoint,
        "v2",
        status="ROLLED_BACK",
        serving="v1",
        lease="released",
        reason="error rate 9 %",
    )


# -- g. a rollback call failing twice, then succeeding ----------------------------------------------


def test_a_rollback_call_failing_twice_is_retried_and_rolls_back(rollouts: Rollouts) -> None:
    endpoint = v2_baking_at_half(rollouts, rollouts.endpoint())
    failing = refuse_weights(rollouts, endpoint, "InternalFailure", "An internal failure occurred.", times=2)
    fire(rollouts, endpoint, "v2", "error rate 9 %")
    rollouts.finish(endpoint, "v2")

    assert failing.failed == 2
    assert rollouts.weights(endpoint) == {"v1": (100.0, 2)}
    assert_settled(
        rollouts,
        endpoint,
        "v2",
        status="ROLLED_BACK",
        serving="v1",
        lease="released",
        reason="error rate 9 %",
    )


# -- h. a rollback that keeps failing --------------------------------------------------------------


def test_a_rollback_call_that_keeps_failing_ends_in_needs_attention(rollouts: Rollouts) -> None:
    endpoint = v2_baking_at_half(rollouts, rollouts.endpoint())
    refuse_weights(rollouts, endpoint, "InternalFailure", "SageMaker is having a bad day", times=1000)
    fire(rollouts, endpoint, "v2", "error rate 9 %")
    rollouts.finish(endpoint, "v2")

    final = assert_settled(
        rollouts,
        endpoint,
        "v2",
        status="NEEDS_ATTENTION",
        serving=None,
        lease="held",
        reason="SageMaker is having a bad day",
    )
    assert final["endpoint_state"] == {
        "v1": {"weight": 50.0, "instances": 2},
        "v2": {"weight": 50.0, "instances": 1},
    }
    (notified,) = [n for n in rollouts.notifications(final["rollout_id"]) if n["status"] == "NEEDS_ATTENTION"]
    assert notified["variants"] == final["endpoint_state"]
    assert "the lease stays held until a human resolves it" in notified["reason"]
    events = rollouts.events(endpoint, "v2")
    assert events[-1] == "needs attention"
    assert "alarm fired" in events


# -- i. the execution stopped half-way -------------------------------------------------------------


def test_an_execution_stopped_half_way_is_held_for_a_human_at_once(rollouts: Rollouts) -> None:
    """StopExecution while v2 bakes at 50 %: nothing in the workflow runs any more, the weights stay
    split. Step Functions' "Execution Status Change" (ABORTED) reaches RolloutExecutionEndedFunction:
    v2 NEEDS_ATTENTION with the endpoint's exact state, notified, the lease kept; the next upload queues
    behind it. (A state machine timeout ends the same way, TIMED_OUT; the rollout machine sets none.)"""
    endpoint = v2_baking_at_half(rollouts, rollouts.endpoint())
    execution = rollouts.rollout(endpoint, "v2")["execution_arn"]
    rollouts.client("stepfunctions").stop_execution(
        executionArn=execution, error="Manual", cause="stopped in the console"
    )
    rollouts.wait_for_status(endpoint, "v2", "NEEDS_ATTENTION")

    assert_settled(
        rollouts,
        endpoint,
        "v2",
        status="NEEDS_ATTENTION",
        serving=None,
        lease="held",
        reason="is no longer running but the rollout was BAKING",
    )
    assert rollouts.weights(endpoint) == {"v1": (50.0, 2), "v2": (50.0, 1)}  # untouched, as recorded
    assert "execution ended" in rollouts.events(endpoint, "v2")
    rollouts.upload(endpoint, "v3")
    rollouts.wait_for_status(endpoint, "v3", "QUEUED")
    assert_settled(rollouts, endpoint, "v2", status="NEEDS_ATTENTION", serving=None, lease="held")


def test_an_execution_stopped_before_it_changed_the_endpoint_hands_its_lease_to_the_queued_version(
    rollouts: Rollouts,
) -> None:
    """SageMaker refuses v2's UpdateEndpoint (another update in progress) and the execution is stopped
    while it retries: the endpoint is still v1 alone, in one piece. v2 is ABANDONED and the lease passes
    straight to v3, queued meanwhile, which is promoted once SageMaker accepts updates again."""
    endpoint = rollouts.endpoint()
    busy = rollouts.sandbox.faults.fail(
        "sagemaker",
        "UpdateEndpoint",
        "ValidationException",
        in_progress(endpoint),
        times=100_000,
        when={"EndpointName": endpoint},
    )
    rollouts.deploy_json(endpoint, {"rollout": {"steps": [100], "bake_seconds": 1, **UNJUDGED}})
    rollouts.upload(endpoint, "v2")
    rollouts.wait_until(lambda: busy.failed > 0, what="v2's UpdateEndpoint refused")
    rollouts.upload(endpoint, "v3")
    rollouts.wait_for_status(endpoint, "v3", "QUEUED")
    rollouts.client("stepfunctions").stop_execution(
        executionArn=rollouts.rollout(endpoint, "v2")["execution_arn"], error="Manual", cause="wrong version"
    )
    rollouts.wait_for_status(endpoint, "v2", "ABANDONED")
    busy.times = busy.failed  # SageMaker accepts updates again: v3 (retrying meanwhile) goes on
    rollouts.finish(endpoint, "v3")

    assert_settled(rollouts, endpoint, "v3", status="PROMOTED", serving="v3", lease="released")
    assert_settled(
        rollouts, endpoint, "v2", status="ABANDONED", serving="v3", lease="released", reason="execution ended"
    )
    assert (
        "so its lease was handed on"
        in rollouts.history(endpoint, rollouts.rollout(endpoint, "v2")["rollout_id"])[-1]["reason"]
    )


# -- j. the endpoint deleted during a rollout ------------------------------------------------------


def test_an_endpoint_deleted_during_the_bake_is_held_for_a_human(rollouts: Rollouts) -> None:
    """DeleteEndpoint while v2 bakes at 50 %: the next step's weights call answers "Could not find
    endpoint"; there is nothing to put back (the log says so, rather than "the candidate never received
    traffic"), and the rollout is held for a human with the lease (`sluice resolve` accepts an endpoint
    that is gone)."""
    endpoint = v2_baking_at_half(rollouts, rollouts.endpoint(), bake_seconds=300, **UNJUDGED)
    rollouts.client("sagemaker").delete_endpoint(EndpointName=endpoint)
    rollouts.finish(endpoint, "v2")

    record = assert_settled(
        rollouts,
        endpoint,
        "v2",
        status="NEEDS_ATTENTION",
        serving=None,
        lease="held",
        reason="the endpoint was deleted during the rollout",
    )
    history = rollouts.history(endpoint, record["rollout_id"])
    (rolling_back,) = [e for e in history if e["event"] == "rolling back"]
    assert rolling_back["reason"].endswith(f"(endpoint {endpoint} no longer exists: no traffic to put back)")


# -- k. an UpdateEndpoint failing asynchronously ---------------------------------------------------


def test_a_promotion_sagemaker_could_not_apply_rolls_back_and_keeps_the_baseline(rollouts: Rollouts) -> None:
    """SageMaker accepts UpdateEndpoint, then fails it: InService again on the *previous* config with a
    FailureReason. Sluice must not read that InService as done (PROMOTED, the baseline deleted while it
    still serves): it rolls back with SageMaker's reason."""
    endpoint = rollouts.endpoint(count=2)
    rollouts.deploy_json(endpoint, {"rollout": {"steps": [100], "bake_seconds": 300, **UNJUDGED}})
    rollouts.upload(endpoint, "v2")
    rollouts.wait_for_status(endpoint, "v2", "BAKING")
    rollouts.sandbox.gaps.get(UpdateEndpoint).fail_next_update(endpoint, NO_CAPACITY)
    rollouts.finish(endpoint, "v2")

    final = assert_settled(
        rollouts,
        endpoint,
        "v2",
        status="ROLLED_BACK",
        serving="v1",
        lease="released",
        reason="the update did not apply",
    )
    assert NO_CAPACITY in final["reason"]
    assert rollouts.weights(endpoint) == {"v1": (100.0, 2)}
    sm = rollouts.client("sagemaker")
    assert sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"] == f"{endpoint}-v1"
    assert sm.describe_model(ModelName=f"{endpoint}-v1")["ModelName"] == f"{endpoint}-v1"
    assert "promoted" not in rollouts.events(endpoint, "v2")
