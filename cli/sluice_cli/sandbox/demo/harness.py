"""The user's side of the sandbox: `Demo` (clients, the stack's names, ways to upload, wait and observe)
and the `Notification`s its subscribers receive."""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from sluice.adapters.registry import from_item
from sluice.adapters.rollouts import log_pk, rollout_pk
from sluice.domain.registry import intake_pk, intake_sk
from sluice_cli.sandbox.demo.cast import EXPECTED_NOTIFICATIONS, SETTLE_TIMEOUT_SECONDS
from sluice_cli.sandbox.demo.checks import short, shown
from sluice_cli.sandbox.report import (
    RolloutTimeline,
)
from sluice_cli.sandbox.server import Sandbox


@dataclass(frozen=True)
class Notification:
    """One notification as a subscriber received it."""

    channel: str  # "SNS" | "EventBridge"
    detail_type: str
    status: str
    detail: Mapping[str, Any]
    subject: str = ""


# --------------------------------------------------------------------------------------------------
# The user's side of the sandbox
# --------------------------------------------------------------------------------------------------
class Demo:
    """The sandbox as the demo's user sees it: AWS clients, the stack's names, and ways to observe."""

    def __init__(self, sandbox: Sandbox, console: Console) -> None:
        self.sandbox = sandbox
        self.console = console
        outputs = sandbox.outputs.outputs
        self.bucket: str = outputs["ArtifactBucketName"]
        self.table: str = outputs["RegistryTableName"]
        self.topic_arn: str = outputs["NotificationTopicArn"]
        self.failure_queue_url: str = outputs["FailureQueueUrl"]
        self.sns_inbox_url = ""
        self.events_inbox_url = ""
        self.alarm_inbox_url = ""
        self.notifications: list[Notification] = []
        self.alarm_events: list[dict[str, Any]] = []  # "CloudWatch Alarm State Change", as received
        self.timelines: list[RolloutTimeline] = []  # one per rollout, for the report
        self.facts: dict[str, Any] = {}  # shared between steps (e.g. the sha256 of v1)
        # What the subscribers should have received by the end; a step that adds outcomes adds here.
        self.expected_notifications: Counter[str] = Counter(EXPECTED_NOTIFICATIONS)

    def client(self, service: str) -> Any:
        return self.sandbox.client(service)

    # -- acting ---------------------------------------------------------------------------------------
    def upload(self, key: str, body: bytes, what: str = "") -> str:
        """PutObject into the artifact bucket; returns the new S3 version id."""
        response = self.client("s3").put_object(Bucket=self.bucket, Key=key, Body=body)
        version_id = str(response.get("VersionId", ""))
        line = Text("⬆ uploaded ", style="bold cyan")
        line.append(key, style="bold")
        line.append(f"  {_size(len(body))}, version {short(version_id, 8)}, sha256 {short(sha256_of(body))}")
        if what:
            line.append(f"\n    {what}", style="dim")
        self.console.print(line)
        return version_id

    def settle(self, timeout: float = SETTLE_TIMEOUT_SECONDS) -> list[Notification]:
        """Wait until Sluice has handled everything (delayed retries aside); print what was notified."""
        began = time.monotonic()
        self.sandbox.wait_idle(timeout, include_delayed=False)
        arrived = self.collect_notifications()
        self.console.print(f"[dim]… Sluice idle after {time.monotonic() - began:.1f} s[/dim]")
        for note in arrived:
            line = Text("🔔 ", style="yellow")
            line.append(f"{note.channel:<12}", style="bold yellow")
            line.append(f"{note.detail_type}  ")
            line.append(f"status={note.status}", style="bold")
            if note.subject:
                line.append(f"  “{note.subject}”", style="dim")
            self.console.print(line)
        return arrived

    def poll(self, read: Callable[[], Any], timeout: float = SETTLE_TIMEOUT_SECONDS) -> Any:
        """`read()` until it returns something truthy, or the timeout passes (then its last value)."""
        deadline = time.monotonic() + timeout
        value = read()
        while not value and time.monotonic() < deadline:
            time.sleep(0.05)
            value = read()
        return value

    # -- notifications --------------------------------------------------------------------------------
    def collect_notifications(self) -> list[Notification]:
        arrived = [
            *(_from_sns(body) for body in self._drain(self.sns_inbox_url)),
            *(_from_eventbridge(body) for body in self._drain(self.events_inbox_url)),
        ]
        self.notifications.extend(arrived)
        return arrived

    def collect_alarm_events(self) -> list[dict[str, Any]]:
        arrived = self._drain(self.alarm_inbox_url)
        self.alarm_events.extend(arrived)
        return arrived

    def _drain(self, queue_url: str) -> list[dict[str, Any]]:
        if not queue_url:
            return []
        sqs = self.client("sqs")
        bodies: list[dict[str, Any]] = []
        while True:
            messages = sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, MessageAttributeNames=["All"]
            ).get("Messages", [])
            if not messages:
                return bodies
            for message in messages:
                bodies.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    def notified(self, detail_type: str, since: int = 0) -> list[Notification]:
        return [n for n in self.notifications[since:] if n.detail_type == detail_type]

    # -- observing ------------------------------------------------------------------------------------
    def record(self, pk: str, sk: str) -> dict[str, Any] | None:
        """One registry item (strongly consistent GetItem), as plain Python values."""
        item = self.client("dynamodb").get_item(
            TableName=self.table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
        )
        if "Item" not in item:
            return None
        return from_item(item["Item"])

    def records_with_pk(self, pk: str) -> list[dict[str, Any]]:
        items = self.client("dynamodb").query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
            ConsistentRead=True,
        )["Items"]
        return [from_item(i) for i in items]

    def rollout(self, endpoint: str, version: str) -> dict[str, Any] | None:
        """The newest rollout record of `version` on `endpoint` (rollout ids sort by start time)."""
        mine = [r for r in self.records_with_pk(rollout_pk(endpoint)) if r.get("version") == version]
        return max(mine, key=lambda r: str(r.get("sk", ""))) if mine else None

    def history(self, endpoint: str, rollout_id: str) -> list[dict[str, Any]]:
        """A rollout's decision log, oldest first (what `sluice history` shows)."""
        return self.records_with_pk(log_pk(endpoint, rollout_id))

    def intake(self, key: str, version_id: str) -> dict[str, Any] | None:
        return self.record(intake_pk(self.bucket, key), intake_sk(version_id, None))

    def head(self, key: str, version_id: str | None = None) -> dict[str, Any] | None:
        kwargs = {"Bucket": self.bucket, "Key": key} | ({"VersionId": version_id} if version_id else {})
        try:
            return dict(self.client("s3").head_object(**kwargs))
        except ClientError as error:
            if error.response["Error"]["Code"] in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise

    def tags(self, key: str, version_id: str) -> dict[str, str]:
        tag_set = self.client("s3").get_object_tagging(Bucket=self.bucket, Key=key, VersionId=version_id)
        return {t["Key"]: t["Value"] for t in tag_set["TagSet"]}

    def keys_under(self, prefix: str) -> list[str]:
        pages = self.client("s3").get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [obj["Key"] for page in pages for obj in page.get("Contents", [])]

    def versions_of(self, key: str) -> list[str]:
        response = self.client("s3").list_object_versions(Bucket=self.bucket, Prefix=key)
        return [v["VersionId"] for v in response.get("Versions", []) if v["Key"] == key]

    def read(self, key: str) -> bytes:
        return bytes(self.client("s3").get_object(Bucket=self.bucket, Key=key)["Body"].read())

    # -- showing --------------------------------------------------------------------------------------
    def show_record(self, title: str, record: Mapping[str, Any] | None, fields: Sequence[str]) -> None:
        """A registry item, the listed fields only, under a title naming its key."""
        self.console.print(Text(title, style="bold magenta"))
        table = Table(show_header=False, box=None, padding=(0, 2), pad_edge=True)
        table.add_column(style="dim", no_wrap=True)
        table.add_column(overflow="fold")
        if record is None:
            table.add_row("(no such item)", "")
        else:
            for name in fields:
                if name in record:
                    table.add_row(name, shown(record[name]))
        self.console.print(table)

    def say(self, text: str) -> None:
        self.console.print(Text(text))


def _from_sns(envelope: Mapping[str, Any]) -> Notification:
    """An SNS notification as delivered to an SQS subscriber (the JSON envelope, not raw delivery)."""
    attributes = envelope.get("MessageAttributes", {})
    try:
        detail = json.loads(envelope.get("Message", "{}"))
    except ValueError:
        detail = {"message": envelope.get("Message")}
    return Notification(
        channel="SNS",
        detail_type=str(attributes.get("detail_type", {}).get("Value", "?")),
        status=str(attributes.get("status", {}).get("Value", "?")),
        detail=detail,
        subject=str(envelope.get("Subject") or ""),
    )


def _from_eventbridge(event: Mapping[str, Any]) -> Notification:
    detail = event.get("detail") or {}
    return Notification(
        channel="EventBridge",
        detail_type=str(event.get("detail-type", "?")),
        status=str(detail.get("status", "?")),
        detail=detail,
    )


def _size(count: int) -> str:
    return f"{count} B" if count < 1024 else f"{count / 1024:.1f} KiB"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def queue_arn(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])
