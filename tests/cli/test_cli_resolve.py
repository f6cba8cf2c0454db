"""`sluice resolve`: hand on the endpoint of a rollout that NEEDS_ATTENTION, on the sandbox.

Each stuck rollout is made the way it happens in production: a canary bakes at 50 %, its error alarm
fires, and every UpdateEndpointWeightsAndCapacities of the rollback fails (moto's SageMaker is made to
refuse it for that endpoint), so the rollout ends in NEEDS_ATTENTION holding the endpoint's lease. The
"human" then fixes the endpoint with plain SageMaker calls and resolves it with the CLI; everything is
observed through the CLI (status, history, resolve's own output) and plain AWS reads.

Time is compressed (time_scale 0.01) as in test_cli_rollouts; the tests only poll, never sleep on
rollout time.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from integration_kit import UNJUDGED
from typer.testing import CliRunner

from sluice.adapters.rollouts import RolloutStore
from sluice_cli.main import app

HERE = str(Path(__file__).parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)  # tests/cli: the rollout tests' sandbox helpers (Canary)
from test_cli_rollouts import Canary, canary_in_a_sandbox  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    # moto has no error shape for the InternalFailure the refusing SageMaker raises (as intended)
    pytest.mark.filterwarnings("ignore:Exception\\(SagemakerClientError\\) with code InternalFailure"),
]

RESOLVED_BY = ("--by", "alice")
REASON = "set v2 to weight 0 by hand after SageMaker's outage"


@pytest.fixture(scope="module")
def canary() -> Iterator[Canary]:
    yield from canary_in_a_sandbox()


@pytest.fixture
def refusing(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Endpoints (added by the test) whose UpdateEndpointWeightsAndCapacities SageMaker refuses."""
    from moto.sagemaker.exceptions import SagemakerClientError
    from moto.sagemaker.models import SageMakerModelBackend

    endpoints: set[str] = set()
    original = SageMakerModelBackend.update_endpoint_weights_and_capacities

    def refuse(self: Any, endpoint_name: str, *args: Any, **kwargs: Any) -> Any:
        if endpoint_name in endpoints:
            error = SagemakerClientError("SageMaker is having a bad day")
            error.code = "InternalFailure"
            raise error
        return original(self, endpoint_name, *args, **kwargs)

    monkeypatch.setattr(SageMakerModelBackend, "update_endpoint_weights_and_capacities", refuse)
    return endpoints


# -- helpers ----------------------------------------------------------------------------------------
def records(canary: Canary, endpoint: str) -> dict[str, dict[str, Any]]:
    """The endpoint's rollout records by version, straight from the registry."""
    store = RolloutStore(canary.table, canary.sandbox.client("dynamodb"))
    return {str(r["version"]): r for r in store.rollouts(endpoint)}


def poll(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def stuck_rollout(canary: Canary, refusing: set[str], *, user_alarm: str | None = None) -> str:
    """An endpoint at v1 whose v2 canary NEEDS_ATTENTION: v1 50 % / v2 50 %, the lease held, the
    execution ended. With `user_alarm`, the deploy.json lists that (existing) alarm of the user's."""
    endpoint = canary.endpoint()
    rollout: dict[str, Any] = {"steps": [50, 100], "bake_seconds": 600, **UNJUDGED}
    if user_alarm:
        canary.sandbox.client("cloudwatch").put_metric_alarm(
            AlarmName=user_alarm,
            Namespace="Team/Fraud",
            MetricName="Chargebacks",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=10,
            ComparisonOperator="GreaterThanThreshold",
        )
        rollout["alarms"] = [user_alarm]
    canary.deploy(endpoint, "v2", rollout)
    canary.wait_for(endpoint, lambda r: r["status"] == "BAKING" and r["step"] == 1, "the bake of step 1")
    refusing.add(endpoint)
    canary.sandbox.client("cloudwatch").set_alarm_state(
        AlarmName=f"sluice-{endpoint}-v2-errors", StateValue="ALARM", StateReason="error rate 9 %"
    )
    final = canary.wait_for_status(endpoint, "NEEDS_ATTENTION", "ROLLED_BACK")
    assert final["status"] == "NEEDS_ATTENTION", final
    canary.sandbox.wait_for_execution(records(canary, endpoint)["v2"]["execution_arn"], timeout=60)
    refusing.discard(endpoint)  # SageMaker is back; the endpoint stays as the failed rollback left it
    assert canary.weights(endpoint) == {"v1": (50.0, 2), "v2": (50.0, 1)}
    return endpoint


def put_all_traffic_on_v1(canary: Canary, endpoint: str) -> None:
    """What the human does: one plain SageMaker call (v2 stays deployed, at weight 0)."""
    canary.sandbox.client("sagemaker").update_endpoint_weights_and_capacities(
        EndpointName=endpoint,
        DesiredWeightsAndCapacities=[
            {"VariantName": "v1", "DesiredWeight": 1.0},
            {"VariantName": "v2", "DesiredWeight": 0.0},
        ],
    )


def back_to_the_v1_config(canary: Canary, endpoint: str) -> None:
    """What a thorough human does: the endpoint back on its own config, v1 only (v2 removed)."""
    sm = canary.sandbox.client("sagemaker")
    sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=f"{endpoint}-v1")
    poll(
        lambda: sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService",
        "the endpoint back in service",
    )


def queue_v3(canary: Canary, endpoint: str) -> dict[str, Any]:
    canary.deploy(endpoint, "v3", {"steps": [100], "bake_seconds": 1, **UNJUDGED})
    return poll(
        lambda: (r := records(canary, endpoint).get("v3")) and r.get("status") == "QUEUED" and r,
        "v3 queued behind the stuck rollout",
    )


def alarm_names(canary: Canary, *names: str) -> set[str]:
    described = canary.sandbox.client("cloudwatch").describe_alarms(AlarmNames=list(names))
    return {a["AlarmName"] for a in described["MetricAlarms"]}


# -- the tests ------------------------------------------------------------------------------------------
def test_resolve_refuses_a_split_endpoint_then_resolves_once_one_variant_serves(
    canary: Canary, refusing: set[str]
) -> None:
    user_alarm = f"fraud-chargebacks-{uuid.uuid4().hex[:6]}"
    endpoint = stuck_rollout(canary, refusing, user_alarm=user_alarm)
    stuck = records(canary, endpoint)["v2"]
    own_alarms = (f"sluice-{endpoint}-v2-errors", f"sluice-{endpoint}-v2-latency")
    assert alarm_names(canary, *own_alarms, user_alarm) == {*own_alarms, user_alarm}

    # 1. still split 50/50: refused, nothing changed
    refused = canary.sluice("resolve", endpoint, "--reason", REASON)

    assert refused.exit_code == 1, refused.output
    assert refused.stdout == ""
    assert f"endpoint {endpoint} still splits traffic (v1 50 %, v2 50 %)" in refused.stderr
    assert "update-endpoint-weights-and-capacities" in refused.stderr
    assert "the lease stays held" in refused.stderr
    status = canary.json("status", endpoint)
    assert status["rollout"]["status"] == "NEEDS_ATTENTION"
    assert status["lease"]["rollout_id"] == stuck["rollout_id"]
    assert alarm_names(canary, *own_alarms) == set(own_alarms)
    assert "resolved" not in canary.events(endpoint)

    # 2. all traffic on v1: resolved
    put_all_traffic_on_v1(canary, endpoint)
    resolved = canary.sluice("resolve", endpoint, "--reason", REASON, *RESOLVED_BY)

    assert resolved.exit_code == 0, (resolved.stdout, resolved.stderr)
    lines = resolved.stdout.splitlines()
    assert lines[0] == f"resolved rollout {stuck['rollout_id']} (v2) on {endpoint}, by alice"
    assert f"reason: {REASON}" in lines
    assert f"v1 serves 100 % of {endpoint}'s traffic" in lines
    assert f"alarms deleted: {', '.join(own_alarms)}" in lines
    assert "note: v2 still deployed at weight 0 (instances billed): remove with UpdateEndpoint" in lines
    assert "next: nothing queued: the lease is released; the next upload starts a rollout at once" in lines
    # The topic: the sandbox stack's output NotificationTopicArn (no --topic), as on AWS
    assert f"notified on {canary.topic}: Sluice Rollout State Change RESOLVED" in resolved.stdout

    status = canary.json("status", endpoint)
    assert (status["rollout"]["status"], status["lease"], status["queued"]) == ("RESOLVED", None, None)
    assert alarm_names(canary, *own_alarms, user_alarm) == {user_alarm}  # the user's alarm stays
    (history,) = canary.json("history", endpoint)["rollouts"]
    decision = history["decisions"][-1]
    assert (decision["event"], decision["by"]) == ("resolved", "alice")
    assert decision["reason"].startswith(f"by alice: {REASON}; v1 serves 100 %")
    assert decision["weights"] == {"v1": 100, "v2": 0}
    printed = canary.ok("history", endpoint)
    assert "resolved" in printed and REASON in printed

    # 3. nothing needs attention any more
    again = canary.sluice("resolve", endpoint, "--reason", "twice")
    assert again.exit_code == 1
    assert f"no rollout of endpoint '{endpoint}' needs attention" in again.stderr
    assert "nothing to resolve" in again.stderr


def test_resolve_starts_the_version_queued_behind_the_stuck_rollout(
    canary: Canary, refusing: set[str]
) -> None:
    endpoint = stuck_rollout(canary, refusing)
    stuck = records(canary, endpoint)["v2"]
    queued = queue_v3(canary, endpoint)
    (history,) = canary.json("history", endpoint, "--rollout", queued["rollout_id"])["rollouts"]
    assert "runs once someone has resolved it" in history["decisions"][-1]["reason"]
    status = canary.json("status", endpoint)
    assert status["queued"]["version"] == "v3"
    assert status["lease"]["rollout_id"] == stuck["rollout_id"]  # an upload does not take the lease

    back_to_the_v1_config(canary, endpoint)
    why = "UpdateEndpoint back to the v1-only config"
    report = canary.json("resolve", endpoint, "--reason", why, "--topic", canary.topic, *RESOLVED_BY)

    assert (report["endpoint"], report["rollout_id"], report["version"]) == (
        endpoint,
        stuck["rollout_id"],
        "v2",
    )
    assert (report["by"], report["reason"], report["serving"]) == ("alice", why, "v1")
    assert (report["weights"], report["notes"]) == ({"v1": 100}, [])
    assert (report["started"], report["cancelled"]) == (queued["rollout_id"], None)
    assert report["lease"]["rollout_id"] == queued["rollout_id"]
    assert report["notifications"]["published"] == [
        "Sluice Rollout State Change RESOLVED",
        "Sluice Rollout State Change STARTING",
    ]
    started = records(canary, endpoint)["v3"]
    assert started["status"] != "QUEUED"
    assert started["execution_arn"] == report["lease"]["execution_arn"]
    execution = canary.sandbox.client("stepfunctions").describe_execution(
        executionArn=started["execution_arn"]
    )
    assert execution["stateMachineArn"] == canary.sandbox.outputs.outputs["RolloutStateMachineArn"]
    canary.sandbox.wait_for_execution(started["execution_arn"], timeout=60)
    after = records(canary, endpoint)
    assert (after["v2"]["status"], after["v3"]["status"]) == ("RESOLVED", "PROMOTED")
    assert canary.weights(endpoint) == {"v3": (1.0, 2)}
    assert canary.json("status", endpoint)["lease"] is None  # v3 handed it on in turn


def test_resolve_will_not_start_a_queued_version_while_the_old_candidate_is_still_deployed(
    canary: Canary, refusing: set[str]
) -> None:
    """Only the weights fixed (v2 still deployed at 0 %): a queued version would be refused at its
    pre-flight (Sluice rolls out against a single production variant), so resolve refuses instead and
    says how to remove v2; nothing changes."""
    endpoint = stuck_rollout(canary, refusing)
    stuck = records(canary, endpoint)["v2"]
    queued = queue_v3(canary, endpoint)
    put_all_traffic_on_v1(canary, endpoint)

    resolved = canary.sluice("resolve", endpoint, "--reason", REASON)

    assert resolved.exit_code == 1, (resolved.stdout, resolved.stderr)
    message = " ".join(resolved.stderr.split())
    assert f"endpoint {endpoint} still has v2 deployed at weight 0, and version v3 is queued" in message
    assert f"aws sagemaker update-endpoint --endpoint-name {endpoint} --endpoint-config-name" in message
    assert "--cancel-queued" in message
    after = records(canary, endpoint)
    assert (after["v2"]["status"], after["v3"]["status"]) == ("NEEDS_ATTENTION", "QUEUED")
    status = canary.json("status", endpoint)
    assert status["lease"]["rollout_id"] == stuck["rollout_id"]
    assert status["queued"]["rollout_id"] == queued["rollout_id"]


def test_resolve_with_cancel_queued_cancels_the_queued_version_and_releases_the_lease(
    canary: Canary, refusing: set[str]
) -> None:
    endpoint = stuck_rollout(canary, refusing)
    queued = queue_v3(canary, endpoint)
    put_all_traffic_on_v1(canary, endpoint)

    resolved = canary.sluice("resolve", endpoint, "-r", REASON, "--cancel-queued", "--topic", canary.topic)

    assert resolved.exit_code == 0, (resolved.stdout, resolved.stderr)
    assert "by ci" in resolved.stdout.splitlines()[0]  # --by defaults to the OS user (LOGNAME=ci)
    assert f"queued rollout {queued['rollout_id']} (v3) cancelled" in resolved.stdout
    assert "next: the lease is released; the next upload starts a rollout at once" in resolved.stdout
    assert (
        f"notified on {canary.topic}: Sluice Rollout State Change RESOLVED, "
        "Sluice Rollout State Change CANCELLED" in resolved.stdout
    )
    now = records(canary, endpoint)
    assert (now["v2"]["status"], now["v3"]["status"]) == ("RESOLVED", "CANCELLED")
    assert "execution_arn" not in now["v3"]  # never started
    status = canary.json("status", endpoint)
    assert (status["lease"], status["queued"]) == (None, None)
    (cancelled,) = canary.json("history", endpoint, "--rollout", queued["rollout_id"])["rollouts"]
    assert cancelled["decisions"][-1]["event"] == "cancelled"


def test_resolve_after_the_endpoint_was_deleted(canary: Canary, refusing: set[str]) -> None:
    endpoint = stuck_rollout(canary, refusing)
    canary.sandbox.client("sagemaker").delete_endpoint(EndpointName=endpoint)

    resolved = canary.sluice("resolve", endpoint, "--reason", "deleted the endpoint, starting over")

    assert resolved.exit_code == 0, (resolved.stdout, resolved.stderr)
    assert f"endpoint {endpoint} no longer exists" in resolved.stdout.splitlines()
    assert "next: nothing queued: the lease is released" in resolved.stdout
    assert records(canary, endpoint)["v2"]["status"] == "RESOLVED"


def test_resolve_when_nothing_needs_attention_exits_1_and_changes_nothing(canary: Canary) -> None:
    endpoint = canary.endpoint()
    canary.deploy(endpoint, "v2", {"steps": [100], "bake_seconds": 1, **UNJUDGED})
    promoted = canary.wait_for_status(endpoint, "PROMOTED", "ROLLED_BACK", "NEEDS_ATTENTION")
    assert promoted["status"] == "PROMOTED"

    result = canary.sluice("resolve", endpoint, "--reason", "just checking")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert f"no rollout of endpoint '{endpoint}' needs attention" in result.stderr
    assert f"`sluice status {endpoint}` shows the latest one" in result.stderr
    assert canary.events(endpoint)[-1] != "resolved"
    unknown = canary.sluice("resolve", "no-such-endpoint", "--reason", "x")
    assert unknown.exit_code == 1
    assert "no rollout of endpoint 'no-such-endpoint' needs attention" in unknown.stderr


def test_resolve_requires_a_reason_and_documents_its_plain_api_calls() -> None:
    missing = CliRunner().invoke(app, ["--table", "T", "resolve", "fraud"], env={"COLUMNS": "200"})
    assert missing.exit_code == 2
    assert "--reason" in missing.output
    blank = CliRunner().invoke(app, ["--table", "T", "resolve", "fraud", "--reason", " "])
    assert blank.exit_code == 2
    assert "say what you did to the endpoint" in blank.output

    shown = CliRunner().invoke(app, ["resolve", "--help"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    for text in (
        "Plain API equivalent",
        "DescribeEndpoint",
        "RESOLVED",
        "DeleteAlarms",
        '"lease#<endpoint>"',
        "StartExecution",
        "CANCELLED",
        "--cancel-queued",
        "SLUICE_TOPIC_ARN",
    ):
        assert text in shown.stdout, text


def test_dequeue_cancels_the_version_queued_behind_a_running_rollout(canary: Canary) -> None:
    endpoint = canary.endpoint()
    canary.deploy(endpoint, "v2", {"steps": [50, 100], "bake_seconds": 600, **UNJUDGED})
    canary.wait_for(endpoint, lambda r: r["status"] == "BAKING", "the bake of step 1")
    queued = queue_v3(canary, endpoint)

    dropped = canary.sluice("dequeue", endpoint, "-r", "wrong artifact", "--topic", canary.topic)

    assert dropped.exit_code == 0, (dropped.stdout, dropped.stderr)
    assert dropped.stdout.splitlines()[0] == (
        f"cancelled queued version v3 (rollout {queued['rollout_id']}) on {endpoint}, by ci: "
        "it will not start"
    )
    assert f"notified on {canary.topic}: Sluice Rollout State Change CANCELLED" in dropped.stdout
    v3 = records(canary, endpoint)["v3"]
    assert (v3["status"], v3["cancelled_by"]) == ("CANCELLED", "ci")
    history = canary.ok("history", endpoint, "--rollout", queued["rollout_id"])
    assert "cancelled" in history and "wrong artifact" in history
    assert canary.json("status", endpoint)["queued"] is None

    again = canary.sluice("dequeue", endpoint)
    assert again.exit_code == 1
    assert f"no version is queued on endpoint '{endpoint}'" in again.stderr

    # v2 goes on and, promoted, releases the endpoint: v3 never starts
    canary.ok("promote", endpoint)
    v2 = poll(
        lambda: (r := records(canary, endpoint)["v2"]) and r["status"] in ("PROMOTED", "ROLLED_BACK") and r,
        "v2 to end",
    )
    assert v2["status"] == "PROMOTED"
    canary.sandbox.wait_for_execution(v2["execution_arn"], timeout=60)
    assert canary.json("status", endpoint)["lease"] is None
    assert records(canary, endpoint)["v3"]["status"] == "CANCELLED"
    assert "execution_arn" not in records(canary, endpoint)["v3"]


@contextmanager
def execution_ended_events_lost(canary: Canary) -> Iterator[None]:
    """Step Functions' "Execution Status Change" events go nowhere meanwhile: the RolloutExecutionEnded
    rule's targets removed (RemoveTargets), then put back as they were."""
    events = canary.sandbox.client("events")
    (rule,) = [
        r["Name"] for r in events.list_rules()["Rules"] if "rolloutexecutionended" in r["Name"].lower()
    ]
    targets = events.list_targets_by_rule(Rule=rule)["Targets"]
    events.remove_targets(Rule=rule, Ids=[t["Id"] for t in targets])
    try:
        yield
        time.sleep(1)  # the event the stop put on the bus has found no target by now
    finally:
        events.put_targets(Rule=rule, Targets=targets)


def test_a_rollout_whose_execution_was_stopped_half_way_needs_attention_at_the_next_upload(
    canary: Canary,
) -> None:
    """Someone stops the execution in the console while v2 bakes at 50 %: nothing in the workflow runs
    any more, and the "Execution Status Change" event that would settle it at once is lost (its rule's
    target removed meanwhile). The next upload finds the dead lease, sees the endpoint half-way, and
    instead of taking the endpoint over marks v2 NEEDS_ATTENTION and queues behind it; resolve then
    hands it on."""
    endpoint = canary.endpoint()
    canary.deploy(endpoint, "v2", {"steps": [50, 100], "bake_seconds": 600, **UNJUDGED})
    canary.wait_for(endpoint, lambda r: r["status"] == "BAKING" and r["step"] == 1, "the bake of step 1")
    sfn = canary.sandbox.client("stepfunctions")
    execution = records(canary, endpoint)["v2"]["execution_arn"]
    with execution_ended_events_lost(canary):
        sfn.stop_execution(executionArn=execution, error="Manual", cause="stopped in the console")
        poll(lambda: sfn.describe_execution(executionArn=execution)["status"] == "ABORTED", "the stop")
    assert records(canary, endpoint)["v2"]["status"] == "BAKING"  # nothing settled it: the event was lost
    # the lease was taken long ago (past the 2-minute grace a just-started execution gets)
    canary.sandbox.client("dynamodb").update_item(
        TableName=canary.table,
        Key={"pk": {"S": f"lease#{endpoint}"}, "sk": {"S": "lease"}},
        UpdateExpression="SET acquired_at = :long_ago",
        ExpressionAttributeValues={":long_ago": {"S": "2026-01-01T00:00:00+00:00"}},
    )

    queued = queue_v3(canary, endpoint)

    stuck = records(canary, endpoint)["v2"]
    assert stuck["status"] == "NEEDS_ATTENTION"
    assert "is no longer running but the rollout was BAKING" in stuck["reason"]
    assert f"endpoint {endpoint} is InService with v1 50 %, v2 50 %" in stuck["reason"]
    assert canary.weights(endpoint) == {"v1": (50.0, 2), "v2": (50.0, 1)}  # untouched
    assert canary.json("status", endpoint)["lease"]["rollout_id"] == stuck["rollout_id"]

    back_to_the_v1_config(canary, endpoint)
    report = canary.json("resolve", endpoint, "--reason", "back on the v1 config", *RESOLVED_BY)

    assert report["started"] == queued["rollout_id"]
    canary.sandbox.wait_for_execution(records(canary, endpoint)["v3"]["execution_arn"], timeout=60)
    assert records(canary, endpoint)["v3"]["status"] == "PROMOTED"
