"""The rollout operations of the `sluice` command line (status, history, promote, abort, pause, resume)
against real rollouts on the sandbox: the real ASL on moto's Step Functions and the real handlers,
started by S3 uploads, acted on and observed only through the CLI (plus DescribeEndpoint).

Time is compressed (time_scale 0.01): a 600 s bake takes about 6 s, long enough for the CLI to act in.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from integration_kit import UNJUDGED, make_archive
from typer.testing import CliRunner, Result

from sluice.adapters.rollouts import RolloutStore
from sluice.domain.rollout.status import ACTIVE
from sluice_cli.commands.control import outcome_message
from sluice_cli.commands.status_view import rollout_fields, rollout_view
from sluice_cli.main import app
from sluice_cli.sandbox.server import Sandbox

pytestmark = pytest.mark.slow

IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.3-cpu-py311"
ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"
_names = itertools.count(1)


class _ThisThreadOnly:
    """sys.stdout / sys.stderr while the CLI runs: the test thread's writes go to the runner's capture,
    every other thread's (the sandbox runs the handlers, which print their logs and metrics, in its own
    threads while rollouts proceed) where they went before. Without this a handler's print lands in the
    CLI's output, or fails the handler once the capture is closed."""

    def __init__(self, captured: Any, outer: Any) -> None:
        self._captured, self._outer, self._owner = captured, outer, threading.get_ident()
        self.done = False

    def _target(self) -> Any:
        return self._captured if not self.done and threading.get_ident() == self._owner else self._outer

    def write(self, text: str) -> int:
        return int(self._target().write(text))

    def flush(self) -> None:
        self._target().flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target(), name)


class ThreadIsolatedRunner(CliRunner):
    @contextlib.contextmanager
    def isolation(self, *args: Any, **kwargs: Any) -> Iterator[tuple[io.BytesIO, io.BytesIO, io.BytesIO]]:
        outer = (sys.stdout, sys.stderr)
        with super().isolation(*args, **kwargs) as streams:
            out, err = _ThisThreadOnly(sys.stdout, outer[0]), _ThisThreadOnly(sys.stderr, outer[1])
            sys.stdout, sys.stderr = out, err  # type: ignore[assignment]
            try:
                yield streams
            finally:
                out.done = err.done = True


@dataclass
class Canary:
    sandbox: Sandbox
    bucket: str
    table: str
    topic: str

    # -- the CLI -------------------------------------------------------------------------------------
    def sluice(self, *args: str) -> Result:
        """The CLI in-process against the sandbox's emulator and registry table."""
        options = ["--endpoint-url", self.sandbox.endpoint_url, "--table", self.table]
        return ThreadIsolatedRunner().invoke(
            app,
            [*options, *args],
            env={
                "COLUMNS": "250",
                "SLUICE_REGISTRY_TABLE": None,
                "SLUICE_TOPIC_ARN": None,
                "LOGNAME": "ci",
                "USER": "ci",
            },
        )

    def ok(self, *args: str) -> str:
        result = self.sluice(*args)
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok("--output", "json", *args))

    def rollout(self, endpoint: str) -> dict[str, Any] | None:
        """The endpoint's active (else latest) rollout as `sluice status -o json` shows it, read straight
        from the registry (polling through the CLI would build a boto3 session per look)."""
        recent = RolloutStore(self.table, self.sandbox.client("dynamodb")).rollouts(endpoint)
        current = next((r for r in recent if r.get("status") in ACTIVE), recent[0] if recent else None)
        return rollout_view(current, datetime.now(UTC), {}) if current else None

    def wait_for(
        self, endpoint: str, condition: Callable[[dict[str, Any]], bool], what: str
    ) -> dict[str, Any]:
        deadline = time.monotonic() + 60
        seen = None
        while time.monotonic() < deadline:
            seen = self.rollout(endpoint)
            if seen and condition(seen):
                return seen
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; last seen {seen}")

    def wait_for_status(self, endpoint: str, *statuses: str) -> dict[str, Any]:
        return self.wait_for(endpoint, lambda r: r["status"] in statuses, f"status {statuses}")

    def events(self, endpoint: str, *args: str) -> list[str]:
        (rollout,) = self.json("history", endpoint, *args)["rollouts"]
        return [d["event"] for d in rollout["decisions"]]

    # -- the product's inputs (plain AWS APIs) -----------------------------------------------------
    def endpoint(self, count: int = 2) -> str:
        """A production endpoint at v1, made with plain SageMaker APIs."""
        name = f"cli{next(_names)}-{uuid.uuid4().hex[:4]}"
        sm = self.sandbox.client("sagemaker")
        sm.create_model(
            ModelName=f"{name}-v1",
            ExecutionRoleArn=ROLE,
            PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://{self.bucket}/m/{name}.tar.gz"},
        )
        sm.create_endpoint_config(
            EndpointConfigName=f"{name}-v1",
            ProductionVariants=[
                {
                    "VariantName": "v1",
                    "ModelName": f"{name}-v1",
                    "InitialInstanceCount": count,
                    "InstanceType": "ml.m5.large",
                    "InitialVariantWeight": 1.0,
                }
            ],
        )
        sm.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-v1")
        return name

    def deploy(self, endpoint: str, version: str, rollout: dict[str, Any]) -> None:
        """deploy.json for the version, then its model.tar.gz: the upload starts the rollout."""
        s3 = self.sandbox.client("s3")
        prefix = f"endpoints/{endpoint}/{version}"
        s3.put_object(Bucket=self.bucket, Key=f"{prefix}/deploy.json", Body=json.dumps({"rollout": rollout}))
        s3.put_object(
            Bucket=self.bucket,
            Key=f"{prefix}/model.tar.gz",
            Body=make_archive({"model.pth": version.encode()}),
        )

    def weights(self, endpoint: str) -> dict[str, tuple[float | None, int | None]]:
        described = self.sandbox.client("sagemaker").describe_endpoint(EndpointName=endpoint)
        return {
            v["VariantName"]: (v.get("CurrentWeight"), v.get("CurrentInstanceCount"))
            for v in described["ProductionVariants"]
        }


def canary_in_a_sandbox(time_scale: float = 0.01) -> Iterator[Canary]:
    """A Canary on a fresh sandbox (time compressed 100x unless told), for a module-scoped fixture."""
    with Sandbox(time_scale=time_scale, parameters={"SageMakerExecutionRoleArn": ROLE}) as sandbox:
        outputs = sandbox.outputs.outputs
        yield Canary(
            sandbox,
            outputs["ArtifactBucketName"],
            outputs["RegistryTableName"],
            outputs["NotificationTopicArn"],
        )


@pytest.fixture(scope="module")
def canary() -> Iterator[Canary]:
    yield from canary_in_a_sandbox()


def _baking(step: int) -> Callable[[dict[str, Any]], bool]:
    return lambda r: r["status"] == "BAKING" and r["step"] == step


def _row(stdout: str, first_cell: str) -> str:
    (line,) = [line for line in stdout.splitlines() if line.startswith(f"│ {first_cell} ")]
    return line


# -- status and abort --------------------------------------------------------------------------------
def test_status_during_a_bake_then_abort_rolls_back_to_the_baseline(canary: Canary) -> None:
    endpoint = canary.endpoint()
    canary.deploy(endpoint, "v2", {"steps": [10, 50, 100], "bake_seconds": 600, **UNJUDGED})
    canary.wait_for(endpoint, _baking(1), "the bake of step 1")

    status = canary.json("status", endpoint)
    baking = status["rollout"]
    assert (baking["status"], baking["active"], baking["version"]) == ("BAKING", True, "v2")
    assert (baking["step"], baking["steps_total"], baking["steps"]) == (1, 3, [10, 50, 100])
    assert 0 < baking["bake_seconds_left"] <= 600
    assert baking["weights"] == {"v2": 10, "v1": 90}
    alarms = {a["name"]: a["state"] for a in baking["alarms"]}
    assert alarms == {f"sluice-{endpoint}-v2-errors": "OK", f"sluice-{endpoint}-v2-latency": "OK"}
    variants = {v["variant"]: v for v in status["sagemaker"]["variants"]}
    assert {name: (v["weight_percent"], v["role"]) for name, v in variants.items()} == {
        "v1": (90.0, "baseline"),
        "v2": (10.0, "candidate"),
    }
    assert (variants["v1"]["current_instance_count"], variants["v2"]["current_instance_count"]) == (2, 1)
    table = canary.ok("status", endpoint)
    assert f"Endpoint {endpoint}: InService" in table
    assert "10 %" in _row(table, "v2") and "candidate" in _row(table, "v2")
    assert "90 %" in _row(table, "v1") and "baseline" in _row(table, "v1")
    assert f"Active rollout {baking['rollout_id']}" in table
    assert "1/3   planned 10 % ◀ → 50 % → 100 %, bake 600 s each" in table
    assert "left (ends " in table  # time left in the bake
    assert "v2 10 % · v1 90 %" in table
    assert f"sluice-{endpoint}-v2-errors: OK" in table

    aborted = canary.sluice("abort", endpoint, "--reason", "p99 regression seen by on-call", "--by", "alice")

    assert aborted.exit_code == 0, aborted.output
    assert "abort requested: the bake's wait was failed, the rollout is rolling back" in aborted.stdout
    # The topic: the sandbox stack's output NotificationTopicArn (no --topic); ABORTED is not notified
    assert f"notifications: nothing to publish for this signal (topic {canary.topic})" in aborted.stdout
    final = canary.wait_for_status(endpoint, "ROLLED_BACK", "NEEDS_ATTENTION")
    assert final["status"] == "ROLLED_BACK"
    assert final["reason"] == "p99 regression seen by on-call"
    assert canary.weights(endpoint) == {"v1": (100.0, 2)}  # the baseline only, the candidate gone

    history = canary.json("history", endpoint)["rollouts"][0]["decisions"]
    (requested,) = [d for d in history if d["event"] == "abort requested"]
    assert (requested["reason"], requested["by"]) == ("p99 regression seen by on-call", "alice")
    events = [d["event"] for d in history]
    assert events.index("abort requested") < events.index("rolling back") < events.index("rolled back")
    assert history[-1]["weights"] == {"v1": 100}
    printed = canary.ok("history", endpoint)
    assert "abort requested" in printed and "p99 regression seen by on-call" in printed
    assert "rolled back" in printed and "v1 100 %" in printed

    after = canary.ok("status", endpoint)
    assert "Latest rollout (none active)" in after
    assert "ROLLED_BACK" in after

    again = canary.sluice("abort", endpoint)
    assert again.exit_code == 1
    assert f"no active rollout on endpoint '{endpoint}'" in again.stderr
    assert again.stdout == ""


# -- promote -----------------------------------------------------------------------------------------
def test_promote_during_the_first_bake_skips_the_remaining_steps(canary: Canary) -> None:
    endpoint = canary.endpoint()
    canary.deploy(endpoint, "v2", {"steps": [10, 25, 50, 100], "bake_seconds": 600, **UNJUDGED})
    baking = canary.wait_for(endpoint, _baking(1), "the bake of step 1")

    report = canary.json("promote", endpoint, "--by", "bob")

    assert report["applied"] is True
    assert (report["action"], report["rollout_id"], report["by"]) == ("promote", baking["rollout_id"], "bob")
    assert report["waiting_for"] == "bake"
    assert [(a["call"], a["token_was_live"]) for a in report["wait_answered"]] == [("SendTaskSuccess", True)]
    assert "the remaining steps are skipped" in report["message"]
    assert (
        canary.wait_for_status(endpoint, "PROMOTED", "ROLLED_BACK", "NEEDS_ATTENTION")["status"] == "PROMOTED"
    )
    assert canary.weights(endpoint) == {"v2": (1.0, 2)}
    (history,) = canary.json("history", endpoint)["rollouts"]
    events = [d["event"] for d in history["decisions"]]
    assert events.count("weights set") == 1
    assert events[-3:] == ["promoting", "kept", "promoted"]  # the user's own v1 is kept
    assert history["signals"]["promote_requested"]["by"] == "bob"  # the log itself does not say who
    assert "On the rollout item: promote requested by bob" in canary.ok("history", endpoint)


# -- pause / resume ------------------------------------------------------------------------------------
def test_pause_at_a_step_boundary_then_resume_continues_and_promotes(canary: Canary) -> None:
    sqs = canary.sandbox.client("sqs")
    inbox = sqs.create_queue(QueueName=f"cli-inbox-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    canary.sandbox.client("sns").subscribe(TopicArn=canary.topic, Protocol="sqs", Endpoint=inbox_arn)
    endpoint = canary.endpoint()
    # 900 s (9 s of wall time): the pause must land inside the bake even when the CLI is slow to start
    canary.deploy(endpoint, "v2", {"steps": [50, 100], "bake_seconds": 900, **UNJUDGED})
    canary.wait_for(endpoint, _baking(1), "the bake of step 1")

    paused = canary.sluice("pause", endpoint, "--topic", canary.topic)
    assert paused.exit_code == 0, paused.output
    assert (
        "pause requested: the rollout pauses at its next step boundary (after the current bake)"
        in paused.stdout
    )
    assert "by ci" in paused.stdout  # --by defaults to the OS user
    # PAUSED is notified by the rollout itself when it stops at the boundary, not by the request.
    assert "Sluice Rollout State Change PAUSED" not in paused.stdout
    at_boundary = canary.wait_for_status(endpoint, "PAUSED")
    assert (at_boundary["step"], at_boundary["waiting_for"]) == (1, "pause")
    assert canary.weights(endpoint) == {"v1": (50.0, 2), "v2": (50.0, 1)}  # held at step 1
    assert "`sluice resume` continues" in canary.ok("status", endpoint)

    resumed = canary.json("resume", endpoint, "--topic", canary.topic)
    assert (
        resumed["message"]
        == "resumed: the pause's wait was answered, the rollout continues with its next step"
    )
    assert resumed["notifications"]["published"] == ["Sluice Rollout State Change RESUMED"]
    assert (
        canary.wait_for_status(endpoint, "PROMOTED", "ROLLED_BACK", "NEEDS_ATTENTION")["status"] == "PROMOTED"
    )

    events = canary.events(endpoint)
    assert events.count("weights set") == 2
    assert events.index("pause requested") < events.index("pause") < events.index("resume requested")
    assert events.index("resume requested") < len(events) - 1 - events[::-1].index("weights set")
    printed = canary.ok("history", endpoint)
    assert "paused at a step boundary" in printed and "by ci" in printed

    notified = []
    for _ in range(10):
        messages = sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        notified += [json.loads(json.loads(m["Body"])["Message"]) for m in messages.get("Messages", [])]
    pause_and_resume = [
        (n["event"], n["status"]) for n in notified if n.get("status") in ("PAUSED", "RESUMED")
    ]
    assert pause_and_resume == [("pause", "PAUSED"), ("resume requested", "RESUMED")]


# -- manual approval, and history of several rollouts --------------------------------------------------
def test_manual_approval_waits_for_promote(canary: Canary) -> None:
    endpoint = canary.endpoint()
    canary.deploy(
        endpoint, "v2", {"steps": [50, 100], "bake_seconds": 100, "manual_approval": True, **UNJUDGED}
    )
    waiting = canary.wait_for_status(endpoint, "AWAITING_APPROVAL")
    assert (waiting["step"], waiting["approval_before"], waiting["waiting_for"]) == (1, 100, "approval")
    time.sleep(1.5)  # 150 s of rollout time: it keeps waiting
    assert canary.rollout(endpoint)["status"] == "AWAITING_APPROVAL"  # type: ignore[index]
    shown = canary.ok("status", endpoint)
    assert "`sluice promote` approves the final step" in shown
    assert "approval before 100 %" in shown

    approved = canary.sluice("promote", endpoint)
    assert approved.exit_code == 0, approved.output
    assert "approved: the approval's wait was answered, the candidate is being promoted" in approved.stdout
    first = canary.wait_for_status(endpoint, "PROMOTED", "ROLLED_BACK", "NEEDS_ATTENTION")
    assert first["status"] == "PROMOTED"
    assert canary.weights(endpoint) == {"v2": (1.0, 2)}

    # A second rollout: history shows the latest by default, one by id, or all of them oldest first.
    canary.deploy(endpoint, "v3", {"steps": [100], "bake_seconds": 1, **UNJUDGED})
    canary.wait_for(endpoint, lambda r: r["version"] == "v3" and r["status"] == "PROMOTED", "v3 promoted")
    assert canary.json("history", endpoint)["rollouts"][0]["version"] == "v3"
    assert (
        canary.json("history", endpoint, "--rollout", first["rollout_id"])["rollouts"][0]["version"] == "v2"
    )
    everything = canary.json("history", endpoint, "--all")["rollouts"]
    assert [r["version"] for r in everything] == ["v2", "v3"]
    assert everything[0]["decisions"][0]["event"] == "received"
    times = [d["at"] for d in everything[0]["decisions"]]
    assert times == sorted(times)
    printed = canary.ok("history", endpoint, "--all")
    assert printed.index(f"of v2 on {endpoint}: PROMOTED") < printed.index(f"of v3 on {endpoint}: PROMOTED")


# -- nothing to act on -------------------------------------------------------------------------------
def test_without_an_active_rollout_or_an_endpoint_commands_exit_1(canary: Canary) -> None:
    endpoint = canary.endpoint()
    for command in ("abort", "promote", "pause", "resume"):
        result = canary.sluice(command, endpoint)
        assert result.exit_code == 1, (command, result.output)
        assert f"no active rollout on endpoint '{endpoint}'" in result.stderr
        assert f"nothing to {command}" in result.stderr

    live_only = canary.ok("status", endpoint)  # an endpoint without rollouts still has a status
    assert f"No rollouts on {endpoint}." in live_only
    assert "100 %" in _row(live_only, "v1")

    missing = canary.sluice("status", "no-such-endpoint")
    assert missing.exit_code == 1
    assert "has no SageMaker endpoint" in missing.stderr
    history = canary.sluice("history", endpoint)
    assert history.exit_code == 1
    assert "no rollouts on endpoint" in history.stderr
    unknown = canary.sluice("history", endpoint, "--rollout", "nope")
    assert unknown.exit_code == 1
    assert "no rollout 'nope'" in unknown.stderr
    assert canary.sluice("history", endpoint, "--rollout", "x", "--all").exit_code == 2


def test_outcome_messages_for_rollouts_already_ending() -> None:
    before = {"status": "BAKING", "waiting_for": "bake"}
    assert outcome_message("abort", before, {"status": "ROLLED_BACK"}, []).startswith("nothing done")
    assert "already promoting" in outcome_message("abort", before, {"status": "PROMOTING"}, [])
    assert "next step boundary" in outcome_message(
        "promote", {"status": "SHIFTING"}, {"status": "SHIFTING"}, []
    )
    assert "withdrawn" in outcome_message(
        "resume", {"status": "BAKING", "pause_requested": True}, {"status": "BAKING"}, []
    )


def test_needs_attention_shows_the_recorded_endpoint_state_and_reason() -> None:
    record = {
        "rollout_id": "20250101T000000Z-v2-abcdef",
        "version": "v2",
        "status": "NEEDS_ATTENTION",
        "step_index": 1,
        "plan": {"steps": [{"percent": 10}, {"percent": 50}, {"percent": 100}], "bake_seconds": 60},
        "reason": "ThrottlingException: Rate exceeded",
        "endpoint_state": {"v1": {"weight": 0.5, "instances": 2}, "v2": {"weight": 0.5, "instances": 1}},
    }
    fields = dict(rollout_fields(rollout_view(record, datetime.now(UTC), {})))

    assert fields["status"] == (
        "NEEDS_ATTENTION (holds the endpoint: fix it, then `sluice resolve` hands it on)"
    )
    assert fields["reason"] == "ThrottlingException: Rate exceeded"
    assert fields["endpoint state recorded"] == (
        "v1 weight 0.5 on 2 instance(s), v2 weight 0.5 on 1 instance(s)"
    )
    assert fields["step"].startswith("2/3   planned 10 % → 50 % ◀ → 100 %")
    assert "bake" not in fields  # not active: no bake to count down


def test_a_resolved_rollout_says_who_resolved_it_and_why() -> None:
    record = {
        "rollout_id": "20250101T000000Z-v2-abcdef",
        "version": "v2",
        "status": "RESOLVED",
        "resolved": {
            "by": "alice",
            "reason": "weights moved back by hand",
            "at": "2025-01-01T00:10:00+00:00",
        },
    }
    fields = dict(rollout_fields(rollout_view(record, datetime.now(UTC), {})))
    assert fields["status"] == "RESOLVED (by alice: weights moved back by hand)"


def test_each_signal_documents_its_plain_api_calls() -> None:
    for command, calls in {
        "abort": ("SET abort_requested", "SendTaskFailure", "Sluice.Abort"),
        "promote": ("SET promote_requested", "SendTaskSuccess", '{"action": "promote"}'),
        "pause": ("SET pause_requested",),
        "resume": ("SET pause_requested", "SendTaskSuccess", '{"action": "continue"}'),
    }.items():
        result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        for text in (
            '"rollout#<endpoint>"',
            "wait_token",
            "SLUICE_TOPIC_ARN",
            "nothing is published",
            *calls,
        ):
            assert text in result.stdout, (command, text)
