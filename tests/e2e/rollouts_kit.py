"""The sandbox's canary rollouts as a user drives them (S3 uploads, SageMaker, CloudWatch, Step Functions)
and reads them back (DescribeEndpoint, the registry's rollout records and decision logs, the
notification topic): shared by tests/e2e/test_rollouts.py and tests/e2e/test_faults_rollout.py."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

from integration_kit import make_archive

from sluice.adapters.registry import from_item
from sluice.adapters.rollouts import log_pk, rollout_pk
from sluice.domain.rollout.status import ACTIVE
from sluice_cli.sandbox.faults import Fault
from sluice_cli.sandbox.seed import create_realtime_endpoint
from sluice_cli.sandbox.server import Sandbox

IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.3-cpu-py311"
ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"
_names = itertools.count(1)


def new_endpoint_name(prefix: str = "ep") -> str:
    return f"{prefix}{next(_names)}-{uuid.uuid4().hex[:4]}"


class Rollouts:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        outputs = sandbox.outputs.outputs
        self.bucket = outputs["ArtifactBucketName"]
        self.table = outputs["RegistryTableName"]
        self.state_machine = outputs["RolloutStateMachineArn"]
        self._notified: list[dict[str, Any]] = []
        self._inbox = self._subscribe(outputs["NotificationTopicArn"])

    def _subscribe(self, topic: str) -> str:
        """A queue subscribed to the notification topic, as a team would subscribe."""
        sqs = self.client("sqs")
        queue = sqs.create_queue(QueueName=f"rollout-notifications-{uuid.uuid4().hex[:6]}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        return str(queue)

    def notifications(self, rollout_id: str) -> list[dict[str, Any]]:
        """The details of the notifications published so far about a rollout, oldest first."""
        sqs = self.client("sqs")
        while messages := sqs.receive_message(QueueUrl=self._inbox, MaxNumberOfMessages=10).get("Messages"):
            for message in messages:
                self._notified.append(json.loads(json.loads(message["Body"])["Message"]))
                sqs.delete_message(QueueUrl=self._inbox, ReceiptHandle=message["ReceiptHandle"])
        return [n for n in self._notified if n.get("rollout_id") == rollout_id]

    def lease(self, endpoint: str) -> dict[str, Any] | None:
        item = (
            self.client("dynamodb")
            .get_item(
                TableName=self.table,
                Key={"pk": {"S": f"lease#{endpoint}"}, "sk": {"S": "lease"}},
                ConsistentRead=True,
            )
            .get("Item")
        )
        return from_item(item) if item else None

    def client(self, service: str) -> Any:
        return self.sandbox.client(service)

    def endpoint(self, *, count: int = 2, autoscaling: bool = False) -> str:
        """A production endpoint at v1, made with plain SageMaker APIs (optionally autoscaled 2..6)."""
        name = new_endpoint_name()
        return create_realtime_endpoint(
            self.sandbox, self.bucket, name, instances=count, autoscaling=autoscaling
        )

    def deploy_json(self, endpoint: str, config: dict[str, Any], version: str | None = None) -> None:
        key = (
            f"endpoints/{endpoint}/{version}/deploy.json" if version else f"endpoints/{endpoint}/deploy.json"
        )
        self.client("s3").put_object(Bucket=self.bucket, Key=key, Body=json.dumps(config).encode())

    def upload(self, endpoint: str, version: str, body: bytes | None = None) -> dict[str, Any]:
        return self.client("s3").put_object(
            Bucket=self.bucket,
            Key=f"endpoints/{endpoint}/{version}/model.tar.gz",
            Body=body or make_archive({"model.pth": version.encode()}),
        )

    def rollouts(self, endpoint: str) -> list[dict[str, Any]]:
        items = self.client("dynamodb").query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": rollout_pk(endpoint)}},
            ConsistentRead=True,
        )["Items"]
        return [from_item(i) for i in items]

    def rollout(self, endpoint: str, version: str) -> dict[str, Any]:
        (found,) = [r for r in self.rollouts(endpoint) if r["version"] == version]
        return found

    def history(self, endpoint: str, rollout_id: str) -> list[dict[str, Any]]:
        items = self.client("dynamodb").query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": log_pk(endpoint, rollout_id)}},
            ConsistentRead=True,
        )["Items"]
        return [from_item(i) for i in items]

    def events(self, endpoint: str, version: str) -> list[str]:
        return [
            entry["event"] for entry in self.history(endpoint, self.rollout(endpoint, version)["rollout_id"])
        ]

    def weights(self, endpoint: str) -> dict[str, tuple[float | None, int | None]]:
        described = self.client("sagemaker").describe_endpoint(EndpointName=endpoint)
        return {
            v["VariantName"]: (v.get("CurrentWeight"), v.get("CurrentInstanceCount"))
            for v in described["ProductionVariants"]
        }

    def wait_until(self, condition: Callable[[], Any], timeout: float = 60.0, what: str = "") -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = condition()
            if result:
                return result
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    def finish(self, endpoint: str, version: str, timeout: float = 90.0) -> dict[str, Any]:
        """Wait for the version's execution to end; returns the final rollout record."""
        arn = self.wait_until(
            lambda: self.rollout_or_none(endpoint, version, "execution_arn"), timeout, f"{version} to start"
        )
        self.sandbox.wait_for_execution(arn, timeout=timeout)
        return self.rollout(endpoint, version)

    def wait_for_status(self, endpoint: str, version: str, status: str) -> dict[str, Any]:
        """Until the version's rollout has `status`; on a timeout, say where it is and why."""
        try:
            self.wait_until(lambda: self.status(endpoint, version) == status, what=f"{version} {status}")
        except AssertionError as timeout:
            raise AssertionError(f"{timeout}; {self.explain(endpoint, version)}") from None
        return self.rollout(endpoint, version)

    def explain(self, endpoint: str, version: str) -> str:
        """The rollout's status, reason and decisions, for an assertion message."""
        found = [r for r in self.rollouts(endpoint) if r["version"] == version]
        if not found:
            return f"no rollout of {version} on {endpoint}"
        rollout = found[0]
        decisions = [
            f"{e['event']}: {e.get('reason', '')}" for e in self.history(endpoint, rollout["rollout_id"])
        ]
        return f"{version} is {rollout.get('status')} ({rollout.get('reason')}); decisions {decisions}"

    def rollout_or_none(self, endpoint: str, version: str, field: str) -> Any:
        found = [r for r in self.rollouts(endpoint) if r["version"] == version]
        return found[0].get(field) if found else None

    def status(self, endpoint: str, version: str) -> str | None:
        return self.rollout_or_none(endpoint, version, "status")


@contextmanager
def rollouts_in_a_sandbox() -> Iterator[Rollouts]:
    """One sandbox for a module's rollouts, its time compressed 100 times (a 300 s bake lasts 3 s)."""
    with Sandbox(
        time_scale=0.01, transform_delay_seconds=0.2, parameters={"SageMakerExecutionRoleArn": ROLE}
    ) as sandbox:
        yield Rollouts(sandbox)


def refuse_weights(rollouts: Rollouts, endpoint: str, code: str, message: str, times: int) -> Fault:
    """UpdateEndpointWeightsAndCapacities on `endpoint` answers `code` the next `times` times (the
    sandbox's faults on demand, as SageMaker answers them)."""
    return rollouts.sandbox.faults.fail(
        "sagemaker",
        "UpdateEndpointWeightsAndCapacities",
        code,
        message,
        times=times,
        when={"EndpointName": endpoint},
    )


def in_progress(endpoint: str) -> str:
    """SageMaker's refusal of any update while another is being applied."""
    return (
        f'Cannot update in-progress endpoint "arn:aws:sagemaker:us-east-1:123456789012:endpoint/{endpoint}".'
    )


def assert_settled(
    rollouts: Rollouts,
    endpoint: str,
    version: str,
    *,
    status: str,
    serving: str | None,
    lease: Literal["released", "held"],
    reason: str | None = None,
) -> dict[str, Any]:
    """The invariant every fault must leave behind, as a user reads it back; returns the rollout record.

    - the rollout's record is `status` (with `reason` in its reason), its execution has ended, and the
      last notification about it says `status`;
    - `serving` given: DescribeEndpoint shows exactly that one variant, InService, taking all the traffic;
      `serving` None (NEEDS_ATTENTION): the endpoint is exactly as the record says a human will find it
      (each variant's weight and instances), or gone;
    - the endpoint's lease is released (no longer this rollout's) or held by this rollout for a human;
    - no rollout of the endpoint is left running unseen (none is in an active status);
    - nothing lost: the uploaded object version and the published model data it was copied to are kept.
    """
    record = rollouts.rollout(endpoint, version)
    explained = rollouts.explain(endpoint, version)
    assert record["status"] == status, explained
    if reason is not None:
        assert reason in str(record.get("reason")), explained
    execution = rollouts.client("stepfunctions").describe_execution(executionArn=record["execution_arn"])
    assert execution["status"] != "RUNNING", explained
    # The record is written just before its notification is published (sluice.domain.rollout.log).
    rollouts.wait_until(
        lambda: (n := rollouts.notifications(record["rollout_id"])) and n[-1]["status"] == status,
        timeout=10,
        what=f"the {status} notification of {version}",
    )

    sagemaker = rollouts.client("sagemaker")
    if serving is not None:
        described = sagemaker.describe_endpoint(EndpointName=endpoint)
        assert described["EndpointStatus"] == "InService", described
        variants = [(v["VariantName"], v.get("CurrentWeight")) for v in described["ProductionVariants"]]
        assert len(variants) == 1 and variants[0][0] == serving, variants
        assert (variants[0][1] or 0) > 0, variants  # the only variant: all of the traffic
    else:
        assert status == "NEEDS_ATTENTION", "only a rollout held for a human may leave the endpoint split"
        seen = {
            name: {"weight": weight, "instances": instances}
            for name, (weight, instances) in _weights_or_gone(rollouts, endpoint).items()
        }
        assert record.get("endpoint_state", {}) == seen, (record.get("endpoint_state"), seen)

    holder = rollouts.lease(endpoint)
    if lease == "held":
        assert holder is not None and holder["rollout_id"] == record["rollout_id"], holder
    else:
        assert holder is None or holder["rollout_id"] != record["rollout_id"], holder
    running = [r["version"] for r in rollouts.rollouts(endpoint) if r["status"] in ACTIVE]
    assert running == [], rollouts.explain(endpoint, running[0])

    s3 = rollouts.client("s3")
    source = record["source"]
    s3.head_object(Bucket=source["bucket"], Key=source["key"], VersionId=source["version_id"])
    bucket, _, key = str(record["model_data_url"]).removeprefix("s3://").partition("/")
    s3.head_object(Bucket=bucket, Key=key, VersionId=record["model_data_version_id"])
    return record


def _weights_or_gone(rollouts: Rollouts, endpoint: str) -> dict[str, tuple[float | None, int | None]]:
    try:
        return rollouts.weights(endpoint)
    except rollouts.client("sagemaker").exceptions.ClientError as error:
        if "Could not find endpoint" in str(error):
            return {}
        raise
