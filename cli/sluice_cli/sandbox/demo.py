"""`make demo`: the story of Sluice on the local sandbox, told only through AWS APIs.

    python -m sluice_cli.sandbox.demo        # exit code 0 only when every step observed what it expected

The demo acts as a user would: it creates a SageMaker endpoint and models with ordinary SageMaker
calls, drops objects into the artifact bucket, and then *reads* what Sluice decided from where a user
would find it — the registry table, the bucket (objects, metadata, tags) and the notifications (an
SQS queue subscribed to the SNS topic, and one behind an EventBridge rule on `source: sluice`), the
rollout records and decision logs, and what SageMaker's DescribeEndpoint says. It never
looks inside the handlers and recomputes nothing Sluice records; the only things it computes are facts
about its own uploads (their sha256, their line count) to compare Sluice's records with, and the
share of traffic each endpoint variant gets (its weight over the sum of the weights).

The canary story (steps 9 and 10) runs with Step Functions time compressed (`TIME_SCALE`): a 300 s bake
lasts 3 s of wall time, a 60 s alarm period 0.6 s. Both rollouts run under SIMULATED traffic
(`traffic.TrafficSimulator`: per-variant SageMaker metrics in the emulated CloudWatch, split by the
endpoint's live weights): healthy for v2; for v3 an error spike (8 %) once it bakes at 10 %. v3's
error-rate alarm fires from that data (the sandbox evaluates metric alarms as CloudWatch does) and
Sluice rolls v3 back. The time from the alarm's transition to ALARM (the "CloudWatch Alarm State
Change" event, caught by an EventBridge rule → SQS of the demo's) until DescribeEndpoint shows the
baseline back at 100 % is measured and kept in `DemoReport.facts["alarm_to_baseline_seconds"]`.

After the story, `sandbox-report/` (in the current directory) gets report.md and a PNG per rollout
(`report.write_report`): weights over time, alarm periods, decisions, error rates read back from
CloudWatch.

Reusable: `run_demo(console) -> DemoReport`; the story is `STORY`, a sequence of `StoryStep`s that each
get a `Demo` (clients, names, helpers to upload, wait and observe) and a `Checks` to record what they
expected and observed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from sluice.adapters.registry import from_item
from sluice.adapters.rollouts import log_pk, rollout_pk
from sluice.domain.registry import JOB_SK, LATEST_SK, intake_pk, intake_sk, job_pk, model_pk, version_sk
from sluice_cli.sandbox import demo_data, seed
from sluice_cli.sandbox.report import (
    AlarmPeriod,
    ErrorRateBucket,
    RolloutTimeline,
    WeightSample,
    write_report,
)
from sluice_cli.sandbox.server import Sandbox, quiet_handler_output
from sluice_cli.sandbox.traffic import SIMULATION_LABEL, TrafficSimulator

# -- the cast ------------------------------------------------------------------------------------------
ENDPOINT = "demo-mme"
ENDPOINT_MODEL = "demo-mme-model"
ENDPOINT_CONFIG = "demo-mme-config"
MODEL = "churn"
HOSTILE_MODEL = "evil"
BATCH_MODEL = "demo-batch-model"
IMAGE = seed.IMAGE
ROLE_ARN = seed.EXECUTION_ROLE_ARN
SERVING_PREFIX = (
    f"serving/{ENDPOINT}/"  # as seed.serving_prefix: in the artifact bucket, Sluice must not recurse
)
ARCHIVE_KEY = f"multi-model/{ENDPOINT}/{MODEL}.tar.gz"
WARMUP_KEY = f"multi-model/{ENDPOINT}/{MODEL}.warmup.json"
HOSTILE_KEY = f"multi-model/{ENDPOINT}/{HOSTILE_MODEL}.tar.gz"
BATCH_RECORDS = 1000
BATCH_INPUT_KEY = f"batch/{BATCH_MODEL}/input/2026-11-25/records.csv"
SNS_INBOX = "sluice-demo-sns-inbox"
EVENTS_INBOX = "sluice-demo-eventbridge-inbox"
EVENTS_RULE = "sluice-demo-notifications"

# The canary story: a real-time endpoint made by the user at v1, then v2 and v3 uploaded for Sluice.
REALTIME = "demo-realtime"
REALTIME_INSTANCES = 2
DEPLOY_JSON_KEY = f"endpoints/{REALTIME}/deploy.json"
AUTOSCALING_TARGET = (
    demo_data.AUTOSCALING["max_rps"] * demo_data.AUTOSCALING["safety_factor"] * 60
)  # 20 x 0.5 x 60 = 600 invocations per instance and minute
# What a hand-set alarm would say (`aws cloudwatch set-alarm-state ... --state-reason`): the demo's alarm
# comes from metric data instead, so this text must not be the reason of its rollback.
SIMULATED_ALARM_REASON = "Threshold Crossed: 1 datapoint [0.083] was greater than the threshold (0.01)"
# SIMULATED traffic on the real-time endpoint: requests per simulated second, and error rates. The
# candidate's error alarm (README default: more than 1 % of its invocations failing over one minute)
# sees a single error in a partial first minute of 10 % canary traffic (< 100 invocations) as > 1 %:
# the healthy candidate v2 serves no errors, the baselines 0.1 %; v3 none either until it bakes at
# 10 %, then a spike of 8 % (its next full minute is well above 1 %: the alarm fires during that bake).
TRAFFIC_RPS = 20
V2_ERROR_RATES = {"v1": 0.001, "v2": 0.0}
V3_CALM_ERROR_RATES = {"v2": 0.001, "v3": 0.0}
V3_ERROR_RATES = {"v2": 0.001, "v3": 0.08}
ERROR_RATE_THRESHOLD = 0.01  # deploy.json's auto_alarms.error_rate default
ALARM_INBOX = "sluice-demo-alarm-inbox"
ALARM_RULE = "sluice-demo-alarm-state-changes"
ALARM_EVENT = "CloudWatch Alarm State Change"
METRICS_PERIOD_SECONDS = 1  # GetMetricData's smallest period: 100 simulated seconds at x100
REPORT_DIRECTORY = "sandbox-report"
# Step Functions time (Wait states, Retry intervals, task timeouts) runs 100x faster: a 300 s bake, 3 s.
TIME_SCALE = 0.01
TIMES = "\u00d7"  # the multiplication sign
ROLLOUT_TIMEOUT_SECONDS = 60.0


def model_key(endpoint: str, version: str) -> str:
    return f"endpoints/{endpoint}/{version}/model.tar.gz"


def alarm_name(endpoint: str, version: str) -> str:
    """The candidate's automatic error-rate alarm (README: `sluice-<endpoint>-<version>-errors`)."""
    return f"sluice-{endpoint}-{version}-errors"


# The notification contract (README, "Rejections, failures, notifications").
REGISTERED = "Sluice Model Registered"
UNCHANGED = "Sluice Model Unchanged"
REJECTED = "Sluice Artifact Rejected"
BATCH_STATE = "Sluice Batch Job State Change"
ROLLOUT_STATE = "Sluice Rollout State Change"
EXPECTED_NOTIFICATIONS = {REGISTERED: 2, UNCHANGED: 1, REJECTED: 1, BATCH_STATE: 3}

# The rollout states each canary version is expected to notify, in order: v2 through its four steps;
# v3 through the steps it reached (1 or 2: its alarm fires during the first bakes), then back.
V2_STATES = ("STARTED", "STEP", "STEP", "STEP", "STEP", "PROMOTED")


def rolled_back_states(steps: int) -> tuple[str, ...]:
    return ("STARTED", *("STEP",) * steps, "ROLLING_BACK", "ROLLED_BACK")


V3_STATES = rolled_back_states(2)  # when the alarm fires during step 2 (step 1: one STEP fewer)

# A batch job record while SageMaker runs the job: Sluice's STARTED, or SageMaker's InProgress already.
RUNNING = frozenset({"STARTED", "InProgress"})

SETTLE_TIMEOUT_SECONDS = 30.0


# --------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Check:
    """One expectation of a step: what is checked, the value expected, the value observed."""

    what: str
    expected: str
    observed: str
    ok: bool


@dataclass(frozen=True)
class StepResult:
    name: str
    expected: str
    observed: str
    ok: bool
    checks: tuple[Check, ...] = ()
    facts: Mapping[str, Any] = field(default_factory=dict)  # raw observations (tests, later steps)
    seconds: float = 0.0


@dataclass(frozen=True)
class Notification:
    """One notification as a subscriber received it."""

    channel: str  # "SNS" | "EventBridge"
    detail_type: str
    status: str
    detail: Mapping[str, Any]
    subject: str = ""


@dataclass
class DemoReport:
    steps: list[StepResult] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    wall_seconds: float = 0.0
    # What the story measured for the closing note (e.g. "alarm_to_baseline_seconds").
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(step.ok for step in self.steps)

    def step(self, name: str) -> StepResult:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)


class Checks:
    """What one step expected and what it observed, check by check, plus raw facts for callers."""

    def __init__(self) -> None:
        self.items: list[Check] = []
        self.facts: dict[str, Any] = {}

    def that(self, what: str, expected: str, observed: Any, ok: bool) -> bool:
        """A check whose expectation is a description (`expected`) rather than a value."""
        self.items.append(Check(what, expected, _shown(observed), bool(ok)))
        return bool(ok)

    def equal(self, what: str, observed: Any, expected: Any) -> bool:
        return self.that(what, _shown(expected), observed, observed == expected)

    def same_sha256(self, what: str, observed: str | None, expected: str, whose: str) -> bool:
        """Digests compared in full, shown shortened."""
        return self.that(what, f"{_short(expected)} ({whose})", _short(observed), observed == expected)

    def result(self, name: str, seconds: float = 0.0) -> StepResult:
        return StepResult(
            name=name,
            expected="; ".join(f"{c.what}: {c.expected}" for c in self.items),
            observed="; ".join(f"{c.what}: {c.observed}" for c in self.items),
            ok=bool(self.items) and all(c.ok for c in self.items),
            checks=tuple(self.items),
            facts=dict(self.facts),
            seconds=seconds,
        )


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return ", ".join(_shown(v) for v in value) or "(none)"
    return json.dumps(value, default=str, sort_keys=True) if isinstance(value, dict) else str(value)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _short(text: str | None, keep: int = 12) -> str:
    return "—" if not text else text if len(text) <= keep + 1 else text[:keep] + "…"


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
        line.append(f"  {_size(len(body))}, version {_short(version_id, 8)}, sha256 {_short(_sha256(body))}")
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
                    table.add_row(name, _shown(record[name]))
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


# --------------------------------------------------------------------------------------------------
# The story
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StoryStep:
    name: str  # short, the key of its StepResult and its row in the summary ("2 register v1")
    title: str  # the section header
    run: Callable[[Demo, Checks], None]


def _notified(notes: Sequence[Notification]) -> list[str]:
    return [f"{n.channel} {n.status}" for n in notes]


def subscribe_to_notifications(demo: Demo, checks: Checks) -> None:
    """Step 0: the stack is up; subscribe an SQS queue to the SNS topic, and one to EventBridge."""
    outputs = demo.sandbox.outputs.outputs
    overview = Table(show_header=False, box=None, padding=(0, 2))
    overview.add_column(style="dim", no_wrap=True)
    overview.add_column(style="bold", overflow="fold")
    overview.add_row("emulator endpoint", demo.sandbox.endpoint_url)
    overview.add_row("artifact bucket", demo.bucket)
    overview.add_row("registry table", demo.table)
    overview.add_row("notification topic", demo.topic_arn)
    for name in sorted(k for k in outputs if k.endswith("FunctionName")):
        overview.add_row(name.removesuffix("Name"), str(outputs[name]))
    demo.console.print(overview)
    demo.say("(moto server in this process, dummy credentials, any request to real AWS refused)")

    sqs, sns, events = demo.client("sqs"), demo.client("sns"), demo.client("events")
    demo.sns_inbox_url = sqs.create_queue(QueueName=SNS_INBOX)["QueueUrl"]
    sns_inbox_arn = _queue_arn(sqs, demo.sns_inbox_url)
    subscription = sns.subscribe(
        TopicArn=demo.topic_arn, Protocol="sqs", Endpoint=sns_inbox_arn, ReturnSubscriptionArn=True
    )["SubscriptionArn"]
    demo.say(f"SNS: subscribed SQS queue {SNS_INBOX} to the notification topic")

    demo.events_inbox_url = sqs.create_queue(QueueName=EVENTS_INBOX)["QueueUrl"]
    events_inbox_arn = _queue_arn(sqs, demo.events_inbox_url)
    events.put_rule(Name=EVENTS_RULE, EventPattern=json.dumps({"source": ["sluice"]}), State="ENABLED")
    events.put_targets(Rule=EVENTS_RULE, Targets=[{"Id": "inbox", "Arn": events_inbox_arn}])
    demo.say(f'EventBridge: rule {EVENTS_RULE} {{"source": ["sluice"]}} → SQS queue {EVENTS_INBOX}')

    subscriptions = sns.list_subscriptions_by_topic(TopicArn=demo.topic_arn)["Subscriptions"]
    ours = [s for s in subscriptions if s["SubscriptionArn"] == subscription]
    checks.equal(
        "SNS subscription",
        [f"{s['Protocol']} → {_name(s['Endpoint'])}" for s in ours],
        [f"sqs → {SNS_INBOX}"],
    )
    rule_state = events.describe_rule(Name=EVENTS_RULE)["State"]
    targets = [_name(t["Arn"]) for t in events.list_targets_by_rule(Rule=EVENTS_RULE)["Targets"]]
    checks.equal("EventBridge rule", f"{rule_state} → {_shown(targets)}", f"ENABLED → {EVENTS_INBOX}")
    checks.facts.update(endpoint_url=demo.sandbox.endpoint_url, bucket=demo.bucket, table=demo.table)


def _name(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]


def _queue_arn(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def create_multi_model_endpoint(demo: Demo, checks: Checks) -> None:
    """Step 1: an ordinary SageMaker multi-model endpoint, its model data under the artifact bucket."""
    sagemaker = demo.client("sagemaker")
    model_data_url = seed.serving_prefix(demo.bucket, ENDPOINT)
    seed.create_multi_model_endpoint(demo, demo.bucket, ENDPOINT)
    demo.say(f"SageMaker: CreateModel {ENDPOINT_MODEL} (Mode MultiModel, ModelDataUrl {model_data_url})")
    demo.say(
        f"SageMaker: CreateEndpointConfig {ENDPOINT_CONFIG} (ml.m5.large x 1), CreateEndpoint {ENDPOINT}"
    )
    demo.say(
        f"(the model-data prefix {SERVING_PREFIX} lies in the artifact bucket on purpose: "
        "Sluice must not react to its own copies)"
    )

    endpoint = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    container = sagemaker.describe_model(ModelName=ENDPOINT_MODEL)["PrimaryContainer"]
    checks.equal("endpoint status", endpoint["EndpointStatus"], "InService")
    checks.equal("container mode", container.get("Mode"), "MultiModel")
    checks.equal("ModelDataUrl", container.get("ModelDataUrl"), model_data_url)


def register_first_version(demo: Demo, checks: Checks) -> None:
    """Step 2: upload a valid archive → v1 published, latest pointer, origin metadata, status tag."""
    archive = demo_data.model_archive("churn-v1")
    demo.facts["v1_sha256"] = _sha256(archive)
    version_id = demo.upload(ARCHIVE_KEY, archive, "members: model.pth, code/inference.py")
    seen = len(demo.notifications)
    demo.settle()

    intake = demo.intake(ARCHIVE_KEY, version_id) or {}
    latest = demo.record(model_pk(ENDPOINT, MODEL), LATEST_SK)
    demo.show_record(
        f"registry: latest pointer (pk {model_pk(ENDPOINT, MODEL)}, sk {LATEST_SK})",
        latest,
        [
            "version",
            "target_model",
            "sha256",
            "s3_uri",
            "size",
            "member_count",
            "source_version_id",
            "status",
        ],
    )
    published_key = f"{SERVING_PREFIX}{MODEL}/v1.tar.gz"
    metadata = (demo.head(published_key) or {}).get("Metadata", {})
    demo.say(f"S3: {published_key} metadata {_shown(metadata) if metadata else '(no such object)'}")
    tags = demo.tags(ARCHIVE_KEY, version_id)
    demo.say(f"S3: tags of the uploaded object version: {_shown(tags)}")
    copies = demo.records_with_pk(intake_pk(demo.bucket, published_key))

    latest = latest or {}
    checks.equal("intake status", intake.get("status"), "PUBLISHED")
    checks.equal("latest version", latest.get("version"), 1)
    checks.equal("latest TargetModel", latest.get("target_model"), f"{MODEL}/v1.tar.gz")
    checks.same_sha256("latest sha256", latest.get("sha256"), demo.facts["v1_sha256"], "of the upload")
    checks.equal("v1.tar.gz sluice-origin", metadata.get("sluice-origin"), "published")
    checks.equal("source tag sluice:status", tags.get("sluice:status"), "published")
    checks.equal("intakes of Sluice's own copy", len(copies), 0)
    notified = _notified(demo.notified(REGISTERED, seen))
    checks.equal("notified Registered", notified, ["SNS PUBLISHED", "EventBridge PUBLISHED"])
    checks.facts.update(intake_status=intake.get("status"), latest=latest, tags=tags)


def reupload_identical(demo: Demo, checks: Checks) -> None:
    """Step 3: the same bytes again → a new S3 version, recorded as UNCHANGED, nothing published."""
    archive = demo_data.model_archive("churn-v1")
    version_id = demo.upload(ARCHIVE_KEY, archive, "byte-identical to v1 (a new S3 object version)")
    seen = len(demo.notifications)
    demo.settle()

    pk, sk = intake_pk(demo.bucket, ARCHIVE_KEY), intake_sk(version_id, None)
    intake = demo.record(pk, sk)
    demo.show_record(
        f"registry: intake record (pk {pk}, sk {sk})",
        intake,
        ["status", "version", "source_version_id", "size", "received_at"],
    )
    published = demo.keys_under(f"{SERVING_PREFIX}{MODEL}/")
    demo.say(f"S3: under {SERVING_PREFIX}{MODEL}/: {_shown(published)}")
    latest = demo.record(model_pk(ENDPOINT, MODEL), LATEST_SK) or {}
    tags = demo.tags(ARCHIVE_KEY, version_id)

    intake = intake or {}
    checks.equal("intake status", intake.get("status"), "UNCHANGED")
    checks.equal("intake version", intake.get("version"), 1)
    checks.equal("published objects", [k.rsplit("/", 1)[-1] for k in published], ["v1.tar.gz"])
    checks.equal("latest version", latest.get("version"), 1)
    checks.equal("source tag sluice:status", tags.get("sluice:status"), "unchanged")
    notified = _notified(demo.notified(UNCHANGED, seen))
    checks.equal("notified Unchanged", notified, ["SNS UNCHANGED", "EventBridge UNCHANGED"])
    checks.facts.update(intake_status=intake.get("status"), intake_version=intake.get("version"))
    checks.facts.update(published=published)


def register_second_version(demo: Demo, checks: Checks) -> None:
    """Step 4: a warm-up request, then new bytes → v2 published and latest; v1 stays untouched."""
    demo.upload(WARMUP_KEY, demo_data.warmup_request(), "the request to warm each new version up with")
    demo.settle()
    warmup_intakes = demo.records_with_pk(intake_pk(demo.bucket, WARMUP_KEY))
    demo.say(
        f"registry: intake records of the warm-up file: {len(warmup_intakes)} (configuration, read later)"
    )

    archive = demo_data.model_archive("churn-v2")
    demo.facts["v2_sha256"] = _sha256(archive)
    version_id = demo.upload(ARCHIVE_KEY, archive, "retrained weights")
    seen = len(demo.notifications)
    demo.settle()

    intake = demo.intake(ARCHIVE_KEY, version_id) or {}
    latest = demo.record(model_pk(ENDPOINT, MODEL), LATEST_SK)
    demo.show_record(
        f"registry: latest pointer (pk {model_pk(ENDPOINT, MODEL)}, sk {LATEST_SK})",
        latest,
        ["version", "target_model", "sha256", "s3_uri", "status"],
    )
    prefix = f"{SERVING_PREFIX}{MODEL}/"
    names = [k.removeprefix(prefix) for k in demo.keys_under(prefix)]
    shas = {n: (demo.head(prefix + n) or {}).get("Metadata", {}).get("sluice-sha256") for n in names}
    versions = {n: len(demo.versions_of(prefix + n)) for n in names}
    for name in names:
        demo.say(f"S3: {prefix}{name}  sluice-sha256 {_short(shas[name])}, {versions[name]} S3 version(s)")

    latest = latest or {}
    checks.equal("warm-up file intakes", len(warmup_intakes), 0)
    checks.equal("intake status", intake.get("status"), "PUBLISHED")
    checks.equal("latest version", latest.get("version"), 2)
    checks.equal("latest TargetModel", latest.get("target_model"), f"{MODEL}/v2.tar.gz")
    checks.same_sha256("latest sha256", latest.get("sha256"), demo.facts["v2_sha256"], "of the upload")
    checks.equal("published objects", names, ["v1.tar.gz", "v2.tar.gz"])
    checks.same_sha256("v1.tar.gz sha256", shas.get("v1.tar.gz"), demo.facts["v1_sha256"], "v1's, still")
    checks.equal("S3 versions of v1.tar.gz", versions.get("v1.tar.gz"), 1)
    notified = _notified(demo.notified(REGISTERED, seen))
    checks.equal("notified Registered", notified, ["SNS PUBLISHED", "EventBridge PUBLISHED"])
    checks.facts.update(intake_status=intake.get("status"), latest=latest, published=names)


def show_warm_up(demo: Demo, checks: Checks) -> None:
    """Step 5: the warm-up request went to v2 (moto answers with a canned body); the result is recorded."""
    pk = model_pk(ENDPOINT, MODEL)
    v2 = demo.record(pk, version_sk(2))
    v1 = demo.record(pk, version_sk(1)) or {}
    demo.show_record(
        f"registry: version record (pk {pk}, sk {version_sk(2)})",
        v2,
        ["version", "status", "target_model", "warmup", "published_at"],
    )
    v2 = v2 or {}
    warmup = v2.get("warmup") or {}
    checks.equal("v2 warm-up ok", warmup.get("ok"), True)
    checks.that("v2 warm-up detail", "recorded", warmup.get("detail"), bool(warmup.get("detail")))
    checks.equal("v2 status", v2.get("status"), "PUBLISHED")
    checks.equal("v1 warm-up (no file then)", v1.get("warmup"), None)
    checks.facts.update(warmup=warmup, status=v2.get("status"))


def reject_hostile_archive(demo: Demo, checks: Checks) -> None:
    """Step 6: an archive with a path-traversal member → REJECTED with the reason, nothing published."""
    archive = demo_data.hostile_archive()
    version_id = demo.upload(HOSTILE_KEY, archive, f"members: model.pth, {demo_data.HOSTILE_MEMBER}")
    seen = len(demo.notifications)
    demo.settle()

    pk, sk = intake_pk(demo.bucket, HOSTILE_KEY), intake_sk(version_id, None)
    intake = demo.record(pk, sk)
    demo.show_record(f"registry: intake record (pk {pk}, sk {sk})", intake, ["status", "code", "reason"])
    published = demo.keys_under(f"{SERVING_PREFIX}{HOSTILE_MODEL}/")
    source = demo.head(HOSTILE_KEY, version_id)
    tags = demo.tags(HOSTILE_KEY, version_id)
    demo.say(f"S3: under {SERVING_PREFIX}{HOSTILE_MODEL}/: {_shown(published)}")
    demo.say(f"S3: the uploaded object is {'still there' if source else 'gone'}, tags {_shown(tags)}")
    latest = demo.record(model_pk(ENDPOINT, HOSTILE_MODEL), LATEST_SK)

    intake = intake or {}
    reason = str(intake.get("reason", ""))
    checks.equal("intake status", intake.get("status"), "REJECTED")
    checks.that(
        "reason",
        f"names {demo_data.HOSTILE_MEMBER} and '..'",
        reason,
        demo_data.HOSTILE_MEMBER in reason and "'..'" in reason,
    )
    checks.equal(f"objects under {SERVING_PREFIX}{HOSTILE_MODEL}/", published, [])
    checks.equal("uploaded object kept", source is not None, True)
    checks.equal("source tag sluice:status", tags.get("sluice:status"), "rejected")
    checks.equal(f"latest pointer of {HOSTILE_MODEL}", latest, None)
    notified = _notified(demo.notified(REJECTED, seen))
    checks.equal("notified Rejected", notified, ["SNS REJECTED", "EventBridge REJECTED"])
    checks.facts.update(intake_status=intake.get("status"), reason=reason, code=intake.get("code"))


def run_batch_job(demo: Demo, checks: Checks) -> None:
    """Step 7: a CSV under batch/<model>/input/ → a transform job, followed STARTED → Completed."""
    seed.create_batch_model(demo, demo.bucket, BATCH_MODEL)
    demo.say(f"SageMaker: CreateModel {BATCH_MODEL} (an ordinary single-model container)")
    version_id = demo.upload(
        BATCH_INPUT_KEY, demo_data.batch_csv(BATCH_RECORDS), f"{BATCH_RECORDS} CSV records"
    )
    seen = len(demo.notifications)

    # The intake record names the job as soon as it started; the job then runs for a while.
    intake = demo.poll(lambda: _with_job_name(demo.intake(BATCH_INPUT_KEY, version_id))) or {}
    job_name = str(intake.get("job_name", ""))
    running = demo.record(job_pk(job_name), JOB_SK) if job_name else None
    demo.show_record(
        f"registry: job record while the job runs (pk {job_pk(job_name)}, sk {JOB_SK})",
        running,
        ["status", "instance_type", "instance_count", "input_uri", "output_uri", "warnings"],
    )
    demo.settle()

    job = demo.record(job_pk(job_name), JOB_SK) if job_name else None
    demo.show_record(
        "registry: job record once SageMaker is done",
        job,
        ["status", "transform_start", "transform_end", "duration_seconds", "output_uri"],
    )
    output_prefix = f"batch/{BATCH_MODEL}/output/{job_name}/"
    outputs = [k.removeprefix(output_prefix) for k in demo.keys_under(output_prefix)] if job_name else []
    lines = sum(demo.read(output_prefix + name).count(b"\n") for name in outputs)
    demo.say(f"S3: under {output_prefix}: {_shown(outputs)} ({lines} lines)")
    described = demo.client("sagemaker").describe_transform_job(TransformJobName=job_name) if job_name else {}
    demo.say(f"SageMaker: DescribeTransformJob → {described.get('TransformJobStatus', '—')}")
    statuses = [n.status for n in demo.notified(BATCH_STATE, seen) if n.channel == "SNS"]

    job = job or {}
    running_status = (running or {}).get("status")
    checks.equal("intake status", intake.get("status"), "BATCH_STARTED")
    checks.that(
        "intake job_name", f"sluice-{BATCH_MODEL}-…", job_name, job_name.startswith(f"sluice-{BATCH_MODEL}-")
    )
    checks.that(
        "job status while running", "STARTED or InProgress", running_status, running_status in RUNNING
    )
    checks.equal("job status at the end", job.get("status"), "Completed")
    duration = job.get("duration_seconds")
    checks.that("job duration_seconds", "recorded", duration, isinstance(duration, int | float))
    checks.equal("output objects", outputs, ["records.csv.out"])
    checks.equal("output lines", lines, BATCH_RECORDS)
    checks.equal("SageMaker job status", described.get("TransformJobStatus"), "Completed")
    checks.equal("notified job states (SNS)", statuses, ["STARTED", "InProgress", "Completed"])
    checks.facts.update(
        job_name=job_name, running_status=running_status, job=job, outputs=outputs, statuses=statuses
    )


def _with_job_name(intake: dict[str, Any] | None) -> dict[str, Any] | None:
    return intake if intake and intake.get("job_name") else None


def count_notifications(demo: Demo, checks: Checks) -> None:
    """Step 8: every outcome reached both subscribers; nothing landed in the FailureQueue."""
    demo.collect_notifications()
    counts = {
        channel: Counter(n.detail_type for n in demo.notifications if n.channel == channel)
        for channel in ("SNS", "EventBridge")
    }
    table = Table(title="notifications received, by detail type", title_justify="left")
    table.add_column("detail type")
    table.add_column("expected", justify="right")
    table.add_column("SNS → SQS", justify="right")
    table.add_column("EventBridge → SQS", justify="right")
    expected = demo.expected_notifications
    for detail_type in sorted(set(expected) | set(counts["SNS"]) | set(counts["EventBridge"])):
        table.add_row(
            detail_type,
            str(expected[detail_type]),
            str(counts["SNS"][detail_type]),
            str(counts["EventBridge"][detail_type]),
        )
    demo.console.print(table)
    attributes = demo.client("sqs").get_queue_attributes(
        QueueUrl=demo.failure_queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    failed = sum(int(v) for v in attributes.values())
    demo.say(f"SQS: the FailureQueue holds {failed} message(s)")

    for channel in ("SNS", "EventBridge"):
        checks.equal(f"{channel} notifications", _counts(counts[channel]), _counts(expected))
    checks.equal("FailureQueue messages", failed, 0)
    checks.facts.update(counts={channel: dict(c) for channel, c in counts.items()}, failure_queue=failed)


def _counts(counts: Mapping[str, int]) -> str:
    """ "registered 2, unchanged 1, …": the contract's detail types first, in the README's order."""
    short = {
        REGISTERED: "registered",
        UNCHANGED: "unchanged",
        REJECTED: "rejected",
        BATCH_STATE: "batch",
        ROLLOUT_STATE: "rollout",
    }
    order = list(short)
    names = sorted(counts, key=lambda k: (order.index(k) if k in order else len(order), k))
    return ", ".join(f"{short.get(k, k)} {counts[k]}" for k in names if counts[k])


# --------------------------------------------------------------------------------------------------
# The canary story: a real-time endpoint, v2 promoted step by step, v3 rolled back by its alarm
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Variant:
    """One production variant as DescribeEndpoint reports it; `percent` = its share of the traffic."""

    name: str
    percent: float | None
    instances: int | None

    def __str__(self) -> str:
        share = "?" if self.percent is None else _percent(self.percent)
        count = "?" if self.instances is None else str(self.instances)
        return f"{self.name} {share} % ({count} instance{'' if self.instances == 1 else 's'})"


def _percent(value: float) -> str:
    return f"{value:.0f}" if abs(value - round(value)) < 0.05 else f"{value:.1f}"


def _variants(described: Mapping[str, Any], first: str) -> tuple[Variant, ...]:
    """DescribeEndpoint's variants, `first` first; weights turned into shares of the traffic."""
    summaries = list(described.get("ProductionVariants") or [])
    weights = [s.get("CurrentWeight") for s in summaries]
    total = sum(float(w) for w in weights if w is not None)
    variants = [
        Variant(
            name=str(s["VariantName"]),
            percent=None if w is None else 100.0 * float(w) / total if total else 0.0,
            instances=s.get("CurrentInstanceCount"),
        )
        for s, w in zip(summaries, weights, strict=True)
    ]
    return tuple(sorted(variants, key=lambda v: (v.name != first, v.name)))


@dataclass(frozen=True)
class Observation:
    """What the user sees at one moment: DescribeEndpoint, and the rollout record of the version."""

    seconds: float  # since the watch began
    seen_at: float  # time.monotonic() when DescribeEndpoint answered
    endpoint_status: str
    variants: tuple[Variant, ...]
    rollout: Mapping[str, Any]
    at: float = 0.0  # the same moment on the wall clock (epoch seconds)

    @property
    def status(self) -> str:
        return str(self.rollout.get("status") or "—")

    @property
    def step_index(self) -> int:
        return int(self.rollout.get("step_index", -1))

    def percent(self, variant: str) -> float | None:
        for v in self.variants:
            if v.name == variant:
                return v.percent
        return None

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.endpoint_status, self.variants, self.status, self.step_index)


class RolloutWatch:
    """Polls DescribeEndpoint and the rollout record; prints one line per observed change."""

    def __init__(self, demo: Demo, endpoint: str, version: str) -> None:
        self.demo = demo
        self.endpoint = endpoint
        self.version = version
        self.began = time.monotonic()
        self.began_at = time.time()  # the same moment on the wall clock: the plots' x = 0
        self.changes: list[Observation] = []

    def observe(self) -> Observation:
        """DescribeEndpoint, the rollout record, DescribeEndpoint again until both reads agree: Sluice
        changes the endpoint before it records the change, so the record read in between is never
        ahead of the endpoint shown (no "candidate added" next to an endpoint without it)."""
        sagemaker = self.demo.client("sagemaker")
        described = sagemaker.describe_endpoint(EndpointName=self.endpoint)
        seen_at = time.monotonic()
        for _ in range(10):
            rollout = self.demo.rollout(self.endpoint, self.version) or {}
            again = sagemaker.describe_endpoint(EndpointName=self.endpoint)
            if _endpoint_view(again) == _endpoint_view(described):
                break
            described, seen_at = again, time.monotonic()
        observation = Observation(
            seconds=seen_at - self.began,
            seen_at=seen_at,
            endpoint_status=str(described.get("EndpointStatus", "?")),
            variants=_variants(described, self.version),
            rollout=rollout,
            at=self.began_at + (seen_at - self.began),
        )
        if not self.changes or observation.key != self.changes[-1].key:
            self.changes.append(observation)
            self._show(observation)
        return observation

    def until(
        self,
        condition: Callable[[Observation], bool],
        what: str,
        *,
        timeout: float = ROLLOUT_TIMEOUT_SECONDS,
        interval: float = 0.05,
    ) -> Observation:
        deadline = time.monotonic() + timeout
        while True:
            observation = self.observe()
            if condition(observation):
                return observation
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {what} within {timeout:.0f} s (last seen: {observation.status})")
            time.sleep(interval)

    def shares(self) -> list[float]:
        """The version's observed shares of the traffic, in order, without repeats or zeros."""
        seen: list[float] = []
        for observation in self.changes:
            percent = observation.percent(self.version)
            if percent and (not seen or seen[-1] != percent):
                seen.append(percent)
        return seen

    def _show(self, observation: Observation) -> None:
        """One aligned line: seconds since the upload, the variants' shares, what the rollout does."""
        weights = Text(" · ".join(str(v) for v in observation.variants) or "(no variants)", style="bold")
        if observation.endpoint_status != "InService":
            weights.append(f" [{observation.endpoint_status}]", style="yellow")
        line = Table.grid(padding=(0, 1))
        line.add_column(width=7, justify="right", style="dim", no_wrap=True)
        line.add_column(min_width=len("v2 100 % (2 instances) · v1 100 % (2 instances)"), no_wrap=True)
        line.add_column(overflow="fold")
        line.add_row(f"{observation.seconds:.2f} s", weights, f"— {_doing(observation.rollout)}")
        self.demo.console.print(line)


def _endpoint_view(described: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        described.get("EndpointStatus"),
        tuple(
            (v.get("VariantName"), v.get("CurrentWeight"), v.get("CurrentInstanceCount"))
            for v in described.get("ProductionVariants") or []
        ),
    )


def _doing(rollout: Mapping[str, Any]) -> str:
    """The rollout record in a few words (≤ 22 characters: the line fits 80 columns): status, step,
    bake time, all as recorded by Sluice."""
    status = str(rollout.get("status") or "no rollout yet")
    index = int(rollout.get("step_index", -1))
    steps = _recorded_steps(rollout)
    step = f"step {index + 1}/{len(steps) or '?'}" if index >= 0 else ""
    if status == "BAKING":
        bake = _bake_seconds(rollout)
        return f"{step}: baking {bake:.0f} s" if bake is not None else f"{step}: baking"
    if status == "SHIFTING":
        return f"{step}: weights set"
    if status == "UPDATING":
        return "candidate added, 0 %"
    if status == "ROLLING_BACK":
        return "rolling back (alarm)" if rollout.get("alarm") else "rolling back"
    return status.lower().replace("_", " ")


def _recorded_steps(rollout: Mapping[str, Any]) -> list[int]:
    try:
        config = json.loads(str(rollout.get("config") or "{}"))
    except ValueError:
        return []
    return list((config.get("rollout") or {}).get("steps") or [])


def _bake_seconds(rollout: Mapping[str, Any]) -> float | None:
    """The bake as Sluice recorded it: bake_ends_at - wait_started_at, in declared (AWS) seconds."""
    try:
        ends = datetime.fromisoformat(str(rollout["bake_ends_at"]))
        started = datetime.fromisoformat(str(rollout["wait_started_at"]))
    except (KeyError, ValueError):
        return None
    return (ends - started).total_seconds()


def _time_compression(demo: Demo) -> str:
    scale = demo.sandbox.time_scale
    if scale == 1:
        return "Step Functions time runs in real time"
    bake = demo_data.BAKE_SECONDS
    return (
        f"time compressed {TIMES}{1 / scale:.0f}: a {bake} s bake lasts {bake * scale:.1f} s of wall time, "
        "endpoint polls and retries likewise"
    )


def _rollout_statuses(demo: Demo, rollout_id: str, since: int) -> list[str]:
    """The rollout's state changes as the SNS subscriber received them, in order."""
    return [
        n.status
        for n in demo.notified(ROLLOUT_STATE, since)
        if n.channel == "SNS" and n.detail.get("rollout_id") == rollout_id
    ]


def _events(log: Sequence[Mapping[str, Any]]) -> list[str]:
    return [str(entry.get("event")) for entry in log]


def _in_order(events: Sequence[str], expected: Sequence[str]) -> bool:
    """`expected` is a subsequence of `events` (other entries may come between)."""
    remaining = iter(events)
    return all(any(event == wanted for event in remaining) for wanted in expected)


def _finish(demo: Demo, watch: RolloutWatch, final: str) -> tuple[Observation, dict[str, Any]]:
    """Watch until the rollout record says `final` (or any end); then the execution's description."""
    ended = watch.until(
        lambda o: o.status in {final, "NEEDS_ATTENTION", "REFUSED"}, f"{watch.version} {final}"
    )
    arn = str(ended.rollout.get("execution_arn", ""))
    if not arn:
        return ended, {}
    sfn = demo.client("stepfunctions")

    def finished() -> dict[str, Any] | None:
        described = dict(sfn.describe_execution(executionArn=arn))
        return described if described["status"] != "RUNNING" else None

    execution = demo.poll(finished)
    return ended, dict(execution or {})


def _state_transitions(demo: Demo, execution_arn: str) -> dict[str, int]:
    """Step Functions state transitions of the execution, per phase: before the first step, each
    step (from its NextStep to the next), and after the last."""
    sfn = demo.client("stepfunctions")
    events = [
        event
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
        for event in page["events"]
    ]
    entered = [
        str(e.get("stateEnteredEventDetails", {}).get("name", ""))
        for e in events
        if str(e.get("type", "")).endswith("StateEntered")
    ]
    phases: dict[str, int] = {"setup": 0}
    phase = "setup"
    step = 0
    for name in entered:
        if name == "NextStep":
            step += 1
            phase = f"step {step}"
            phases[phase] = 0
        phases[phase] += 1
    if step:  # the last NextStep decides to promote (or roll back): that is the end, not a step
        phases["end"] = phases.pop(f"step {step}")
    phases["total"] = len(entered)
    return phases


def _shown_transitions(transitions: Mapping[str, int]) -> str:
    """ "state transitions: setup 8 · step 1 9 · … · end 9 · total 53"."""
    return "state transitions: " + " · ".join(f"{phase} {count}" for phase, count in transitions.items())


def _shown_sagemaker(demo: Demo, endpoint: str) -> str:
    """The endpoint's config, and the models and endpoint configs named after it (moto ignores
    NameContains: filtered here)."""
    sagemaker = demo.client("sagemaker")
    config = sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    models = [
        m["ModelName"] for m in sagemaker.list_models()["Models"] if m["ModelName"].startswith(endpoint)
    ]
    configs = [
        c["EndpointConfigName"]
        for c in sagemaker.list_endpoint_configs()["EndpointConfigs"]
        if c["EndpointConfigName"].startswith(endpoint)
    ]
    return (
        f"endpoint config {config}; models {_shown(sorted(models))}; "
        f"endpoint configs {_shown(sorted(configs))}"
    )


def _scaling(demo: Demo, endpoint: str) -> dict[str, tuple[int, int, float | None]]:
    """Application Auto Scaling of the endpoint: variant → (min, max, target of its policy)."""
    aas = demo.client("application-autoscaling")
    targets = aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    found: dict[str, tuple[int, int, float | None]] = {}
    for target in targets:
        resource = str(target["ResourceId"])
        if not resource.startswith(f"endpoint/{endpoint}/variant/"):
            continue
        policies = aas.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=resource)[
            "ScalingPolicies"
        ]
        values = [
            p["TargetTrackingScalingPolicyConfiguration"]["TargetValue"]
            for p in policies
            if p.get("TargetTrackingScalingPolicyConfiguration")
        ]
        found[resource.rsplit("/", 1)[-1]] = (
            int(target["MinCapacity"]),
            int(target["MaxCapacity"]),
            float(values[0]) if values else None,
        )
    return found


def _shown_scaling(scaling: Mapping[str, tuple[int, int, float | None]]) -> list[str]:
    return [
        f"{variant}: min {low} max {high} target {'—' if target is None else f'{target:.0f}'}"
        for variant, (low, high, target) in sorted(scaling.items())
    ]


def create_realtime_endpoint(demo: Demo) -> None:
    """The user's production endpoint at v1 (two instances, autoscaled), made with plain APIs."""
    model = f"{REALTIME}-v1"
    seed.create_realtime_endpoint(demo, demo.bucket, REALTIME, "v1", REALTIME_INSTANCES, autoscaling=True)
    demo.say(f"SageMaker: CreateModel {model} ({IMAGE.split('/', 1)[1]})")
    demo.say(
        f"SageMaker: CreateEndpointConfig {model} (variant v1, ml.m5.large x {REALTIME_INSTANCES}), "
        f"CreateEndpoint {REALTIME}"
    )
    resource = f"endpoint/{REALTIME}/variant/v1"
    demo.say(
        f"Application Auto Scaling: {resource} min {seed.AUTOSCALING_MIN} max {seed.AUTOSCALING_MAX}, "
        f"target tracking {seed.AUTOSCALING_TARGET:.0f} invocations/instance/min"
    )


# -- SIMULATED traffic, alarm events and metrics, as a user reads them --------------------------------
def subscribe_to_alarm_events(demo: Demo) -> None:
    """An EventBridge rule of the user's: the real-time endpoint's alarm state changes → an SQS queue
    (how the demo learns when an alarm went to ALARM, as a user's tooling would)."""
    sqs, events = demo.client("sqs"), demo.client("events")
    demo.alarm_inbox_url = sqs.create_queue(QueueName=ALARM_INBOX)["QueueUrl"]
    pattern = {
        "source": ["aws.cloudwatch"],
        "detail-type": [ALARM_EVENT],
        "detail": {"alarmName": [{"prefix": f"sluice-{REALTIME}-"}]},
    }
    events.put_rule(Name=ALARM_RULE, EventPattern=json.dumps(pattern), State="ENABLED")
    events.put_targets(
        Rule=ALARM_RULE, Targets=[{"Id": "inbox", "Arn": _queue_arn(sqs, demo.alarm_inbox_url)}]
    )
    demo.say(f'EventBridge: rule {ALARM_RULE} ("{ALARM_EVENT}" of sluice-{REALTIME}-*) → SQS {ALARM_INBOX}')


def start_traffic(demo: Demo, error_rates: Mapping[str, float], seed: int) -> TrafficSimulator:
    """SIMULATED traffic on the real-time endpoint, labelled as such wherever it shows."""
    traffic = TrafficSimulator.in_sandbox(
        demo.sandbox, REALTIME, rps=TRAFFIC_RPS, error_rates=dict(error_rates), seed=seed
    )
    line = Text("≈ ", style="bold yellow")
    line.append(traffic.describe(), style="yellow")
    demo.console.print(line)
    traffic.start()
    return traffic


def _next_simulated_second(traffic: TrafficSimulator) -> float:
    """Where the next simulated second starts (epoch seconds): a change made now (`set`) applies from
    there, which may lie a little before the wall clock when the simulator's thread lags behind."""
    if not traffic.history:
        return time.time()
    return traffic.history[-1].timestamp.timestamp() + traffic.time_scale / 2


def show_traffic_totals(demo: Demo, traffic: TrafficSimulator) -> dict[str, dict[str, int]]:
    totals = {variant: dict(counts) for variant, counts in sorted(traffic.totals.items())}
    shown = ", ".join(
        f"{variant} {t['invocations']} invocations, {t['errors']} errors" for variant, t in totals.items()
    )
    demo.console.print(
        Text(f"≈ {SIMULATION_LABEL}: {traffic.simulated_seconds} simulated seconds; {shown}", style="yellow")
    )
    return totals


@dataclass(frozen=True)
class AlarmTransition:
    """One "CloudWatch Alarm State Change" event, as the demo's SQS queue received it."""

    alarm: str
    state: str
    previous: str
    reason: str
    at: datetime  # detail.state.timestamp (UTC, milliseconds): when the alarm changed state


def _alarm_transitions(demo: Demo, prefix: str) -> list[AlarmTransition]:
    demo.collect_alarm_events()
    found = []
    for event in demo.alarm_events:
        detail = event.get("detail") or {}
        state, previous = detail.get("state") or {}, detail.get("previousState") or {}
        name = str(detail.get("alarmName", ""))
        if event.get("detail-type") != ALARM_EVENT or not name.startswith(prefix):
            continue
        try:
            at = datetime.strptime(str(state.get("timestamp")), "%Y-%m-%dT%H:%M:%S.%f%z")
        except ValueError:
            continue
        found.append(
            AlarmTransition(
                name, str(state.get("value")), str(previous.get("value")), str(state.get("reason")), at
            )
        )
    return sorted(found, key=lambda t: t.at)


def _alarm_periods(
    transitions: Sequence[AlarmTransition], began_at: float, ended: float | None
) -> list[AlarmPeriod]:
    """ALARM → the next transition out of it, or else the end of the rollout (`ended`, seconds)."""
    periods = []
    open_: dict[str, AlarmTransition] = {}
    for transition in transitions:
        seconds = transition.at.timestamp() - began_at
        if transition.state == "ALARM" and transition.alarm not in open_:
            open_[transition.alarm] = transition
        elif transition.state != "ALARM" and transition.alarm in open_:
            start = open_.pop(transition.alarm)
            periods.append(
                AlarmPeriod(
                    transition.alarm, start.at.timestamp() - began_at, seconds, start.reason, transition.state
                )
            )
    for name, start in open_.items():
        periods.append(
            AlarmPeriod(
                name, start.at.timestamp() - began_at, ended, start.reason, "rolled back" if ended else ""
            )
        )
    return sorted(periods, key=lambda p: p.start)


def _error_rates(
    demo: Demo, endpoint: str, variants: Sequence[str], began_at: float, until: float
) -> dict[str, list[ErrorRateBucket]]:
    """GetMetricData, per variant and METRICS_PERIOD_SECONDS: Sum of Invocation5XXErrors and of
    Invocations (the SIMULATED traffic's metrics, read back as any CloudWatch user would)."""
    queries = []
    for i, variant in enumerate(variants):
        dimensions = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
        for prefix, metric in (("errors", "Invocation5XXErrors"), ("calls", "Invocations")):
            queries.append(
                {
                    "Id": f"{prefix}{i}",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": "AWS/SageMaker",
                            "MetricName": metric,
                            "Dimensions": dimensions,
                        },
                        "Period": METRICS_PERIOD_SECONDS,
                        "Stat": "Sum",
                    },
                    "ReturnData": True,
                }
            )
    values: dict[str, dict[float, float]] = {}
    kwargs: dict[str, Any] = {
        "MetricDataQueries": queries,
        "StartTime": datetime.fromtimestamp(began_at - METRICS_PERIOD_SECONDS, UTC),
        "EndTime": datetime.fromtimestamp(until + METRICS_PERIOD_SECONDS, UTC),
    }
    cloudwatch = demo.client("cloudwatch")
    while True:
        response = cloudwatch.get_metric_data(**kwargs)
        for result in response["MetricDataResults"]:
            series = values.setdefault(str(result["Id"]), {})
            for moment, value in zip(result["Timestamps"], result["Values"], strict=True):
                series[moment.timestamp()] = series.get(moment.timestamp(), 0.0) + float(value)
        if not response.get("NextToken"):
            break
        kwargs["NextToken"] = response["NextToken"]
    rates: dict[str, list[ErrorRateBucket]] = {}
    for i, variant in enumerate(variants):
        calls, errors = values.get(f"calls{i}", {}), values.get(f"errors{i}", {})
        rates[variant] = [
            ErrorRateBucket(start - began_at, METRICS_PERIOD_SECONDS, calls[start], errors.get(start, 0.0))
            for start in sorted(calls)
            if calls[start]
        ]
    return rates


def _timeline(
    demo: Demo,
    watch: RolloutWatch,
    rollout: Mapping[str, Any],
    log: Sequence[Mapping[str, Any]],
    **details: Any,
) -> RolloutTimeline:
    """What the report shows of one rollout: the watch's DescribeEndpoint samples, the decision log."""
    samples = [
        WeightSample(o.seconds, {v.name: v.percent for v in o.variants if v.percent is not None})
        for o in watch.changes
    ]
    return RolloutTimeline(
        endpoint=watch.endpoint,
        version=watch.version,
        uploaded_at=datetime.fromtimestamp(watch.began_at, UTC),
        status=str(rollout.get("status") or "—"),
        reason=str(rollout.get("reason") or ""),
        rollout_id=str(rollout.get("rollout_id") or ""),
        decisions=[dict(entry) for entry in log],
        samples=samples,
        error_threshold=ERROR_RATE_THRESHOLD,
        time_scale=demo.sandbox.time_scale,
        **details,
    )


def _log_seconds(log: Sequence[Mapping[str, Any]], event: str, began_at: float) -> float | None:
    """Seconds since the upload of the first `event` of the decision log."""
    for entry in log:
        if entry.get("event") == event:
            try:
                return datetime.fromisoformat(str(entry.get("at"))).timestamp() - began_at
            except ValueError:
                return None
    return None


_DATAPOINT = re.compile(r"^Threshold Crossed: \d+ out of the last \d+ datapoints? \[([-+0-9.eE]+) \(")


def _breaching_value(reason: str) -> float | None:
    """The newest breaching datapoint named by an evaluator's reason ("… datapoints [0.0833 (…)] …")."""
    match = _DATAPOINT.match(reason)
    return float(match.group(1)) if match else None


# -- the canary story ----------------------------------------------------------------------------------
def canary_v2(demo: Demo, checks: Checks) -> None:
    """Step 9: v2 uploaded under healthy SIMULATED traffic → weights 10/25/50/100 % with a bake each,
    its alarms quiet, then v2 alone, autoscaled."""
    create_realtime_endpoint(demo)
    subscribe_to_alarm_events(demo)
    demo.upload(DEPLOY_JSON_KEY, demo_data.deploy_json(), "rollout steps 10/25/50/100 %, 300 s bakes")
    demo.say(json.dumps(json.loads(demo_data.deploy_json())))
    demo.settle()
    before = demo.records_with_pk(rollout_pk(REALTIME))
    demo.say(f"registry: rollouts of {REALTIME} after deploy.json alone: {len(before)}")
    demo.say(_time_compression(demo))

    seen = len(demo.notifications)
    traffic = start_traffic(demo, V2_ERROR_RATES, seed=9)
    try:
        watch = RolloutWatch(demo, REALTIME, "v2")
        demo.upload(model_key(REALTIME, "v2"), demo_data.model_archive("realtime-v2"), "model v2")
        watch.observe()
        ended, execution = _finish(demo, watch, "PROMOTED")
        until = time.time()
    finally:
        traffic.stop()
    totals = show_traffic_totals(demo, traffic)
    demo.settle()
    demo.expected_notifications[ROLLOUT_STATE] += len(V2_STATES)

    rollout = dict(ended.rollout)
    rollout_id = str(rollout.get("rollout_id", ""))
    log = demo.history(REALTIME, rollout_id) if rollout_id else []
    weights_set = [entry.get("weights") for entry in log if entry.get("event") == "weights set"]
    final = _variants(demo.client("sagemaker").describe_endpoint(EndpointName=REALTIME), "v2")
    scaling = _scaling(demo, REALTIME)
    transitions = _state_transitions(demo, str(execution["executionArn"])) if execution else {}
    alarm_changes = _alarm_transitions(demo, f"sluice-{REALTIME}-v2-")
    error_rates = _error_rates(demo, REALTIME, ["v2", "v1"], watch.began_at, until)
    demo.say(f"SageMaker: DescribeEndpoint {REALTIME} → {' · '.join(str(v) for v in final)}")
    demo.say(f"Application Auto Scaling: {_shown(_shown_scaling(scaling))}")
    demo.say(f"SageMaker: {_shown_sagemaker(demo, REALTIME)}")
    demo.say(f"Step Functions: execution {execution.get('status', '—')}; {_shown_transitions(transitions)}")
    demo.say(f"decision log: {' → '.join(_events(log))}")
    demo.say(
        f"CloudWatch: state changes of v2's alarms while it rolled out: "
        f"{_shown([f'{t.alarm} {t.previous} → {t.state}' for t in alarm_changes])}"
    )

    shares = watch.shares()
    checks.equal("rollouts after deploy.json alone", len(before), 0)
    checks.equal("rollout status", rollout.get("status"), "PROMOTED")
    checks.equal(
        "v2 share observed (DescribeEndpoint)",
        [_percent(p) for p in shares],
        [str(p) for p in demo_data.ROLLOUT_STEPS],
    )
    checks.equal(
        "weights set (decision log)",
        weights_set,
        [{"v2": p, "v1": 100 - p} for p in demo_data.ROLLOUT_STEPS],
    )
    checks.equal("final variants", [str(v) for v in final], [f"v2 100 % ({REALTIME_INSTANCES} instances)"])
    checks.equal(
        "autoscaling",
        _shown_scaling(scaling),
        [f"v2: min 2 max 6 target {AUTOSCALING_TARGET:.0f}"],
    )
    per_step = ["weights set", "baking", "bake passed"] * len(demo_data.ROLLOUT_STEPS)
    expected_log = [
        "received",
        "started",
        "candidate added",
        "alarms armed",
        *per_step,
        "promoting",
        "promoted",
    ]
    events = _events(log)
    times = [str(entry.get("at", "")) for entry in log]
    checks.that(
        "decision log in order",
        " → ".join(dict.fromkeys(expected_log)) + " (each step: weights set, baking, bake passed)",
        f"{len(events)} entries, " + ("in order" if _in_order(events, expected_log) else " → ".join(events)),
        _in_order(events, expected_log) and times == sorted(times),
    )
    served = totals.get("v2", {}).get("invocations", 0)
    checks.that(
        f"v2 baked under {SIMULATION_LABEL}",
        "invocations on v2 and on v1, in CloudWatch too",
        f"v2 {served}, v1 {totals.get('v1', {}).get('invocations', 0)} invocations; "
        f"GetMetricData periods v2 {len(error_rates['v2'])}, v1 {len(error_rates['v1'])}",
        served > 0 and totals.get("v1", {}).get("invocations", 0) > 0 and bool(error_rates["v2"]),
    )
    checks.equal(
        "v2's alarms in ALARM (EventBridge)", [t.alarm for t in alarm_changes if t.state == "ALARM"], []
    )
    checks.equal("execution status", execution.get("status"), "SUCCEEDED")
    checks.equal("notified rollout states (SNS)", _rollout_statuses(demo, rollout_id, seen), list(V2_STATES))
    checks.facts.update(
        status=rollout.get("status"),
        rollout_id=rollout_id,
        shares=shares,
        weights_set=weights_set,
        final_variants=[(v.name, v.percent, v.instances) for v in final],
        autoscaling=scaling,
        events=events,
        state_transitions=transitions,
        traffic=totals,
        alarm_transitions=[(t.alarm, t.previous, t.state) for t in alarm_changes],
    )
    demo.facts["v2_state_transitions"] = transitions
    promoted = _log_seconds(log, "promoted", watch.began_at)
    demo.timelines.append(
        _timeline(
            demo,
            watch,
            rollout,
            log,
            error_rates=error_rates,
            alarms=_alarm_periods(alarm_changes, watch.began_at, promoted),
            timings={
                label: seconds
                for label, seconds in (
                    ("upload → candidate added", _log_seconds(log, "candidate added", watch.began_at)),
                    ("upload → first weights set", _log_seconds(log, "weights set", watch.began_at)),
                    ("upload → promoted", promoted),
                )
                if seconds is not None
            },
            traffic=traffic.describe(),
            notes=[
                f"{SIMULATION_LABEL}: {_shown_totals(totals)}.",
                "The candidate's alarms stayed quiet: no state change to ALARM.",
            ],
        )
    )


def _shown_totals(totals: Mapping[str, Mapping[str, int]]) -> str:
    return "; ".join(f"{v} {t['invocations']} invocations, {t['errors']} errors" for v, t in totals.items())


ROLLING = frozenset({"ROLLING_BACK", "ROLLED_BACK"})
OTHER_ENDS = frozenset({"PROMOTED", "NEEDS_ATTENTION", "REFUSED"})


def canary_v3_rolled_back(demo: Demo, checks: Checks) -> None:
    """Step 10: v3 uploaded under SIMULATED traffic; once it bakes at 10 %, an error spike (8 %) on v3
    → its error-rate alarm fires from the metric data during that bake → 100 % v2 at once, v3 removed."""
    alarm = alarm_name(REALTIME, "v3")
    seen = len(demo.notifications)
    traffic = start_traffic(demo, V3_CALM_ERROR_RATES, seed=10)
    spike: float | None = None
    try:
        watch = RolloutWatch(demo, REALTIME, "v3")
        demo.upload(model_key(REALTIME, "v3"), demo_data.model_archive("realtime-v3"), "model v3")
        baking = watch.until(
            lambda o: o.status == "BAKING" or o.status in ROLLING | OTHER_ENDS, "v3 baking at step 1"
        )
        if baking.status == "BAKING":
            traffic.set(error_rates=V3_ERROR_RATES)
            spike = _next_simulated_second(traffic) - watch.began_at
            line = Text(f"≈ {SIMULATION_LABEL}: error spike on v3, ", style="bold yellow")
            line.append(
                f"error rates {_shown(V3_ERROR_RATES)} from simulated second {traffic.simulated_seconds} on "
                f"({spike:.2f} s after the upload)"
            )
            demo.console.print(line)
        back = watch.until(
            lambda o: (
                o.status in OTHER_ENDS
                or (o.status in ROLLING and o.percent("v2") == 100.0 and not o.percent("v3"))
            ),
            "v2 back at 100 %",
            interval=0.02,
        )
        ended, execution = _finish(demo, watch, "ROLLED_BACK")
        until = time.time()
    finally:
        traffic.stop()
    totals = show_traffic_totals(demo, traffic)
    demo.settle()

    transitions = _alarm_transitions(demo, alarm)
    went = next((t for t in transitions if t.alarm == alarm and t.state == "ALARM"), None)
    if went is not None:
        line = Text(f"⚡ {ALARM_EVENT} ", style="bold red")
        line.append(f"{alarm} {went.previous} → ALARM at {went.at:%H:%M:%S.%f}"[:-3])
        line.append(f" ({went.at.timestamp() - watch.began_at:.2f} s after the upload; from metric data)")
        demo.console.print(line)
        demo.console.print(Text(f"    “{went.reason}”", style="dim"))
    latency = back.at - went.at.timestamp() if went is not None and back.status in ROLLING else None
    if latency is not None:
        note = Text(f"⏱  alarm → 100 % baseline in {latency:.2f} s", style="bold green")
        note.append(" (the alarm's state change → DescribeEndpoint shows v2 at 100 %)", style="dim")
        demo.console.print(note)
        demo.facts["alarm_to_baseline_seconds"] = latency
    demo.console.print(
        Text(
            "    (a hand-set alarm rolls back the same way: aws cloudwatch set-alarm-state --alarm-name "
            f"{alarm_name(REALTIME, '<version>')} --state-value ALARM --state-reason '…')",
            style="dim",
        )
    )

    rollout = dict(ended.rollout)
    rollout_id = str(rollout.get("rollout_id", ""))
    log = demo.history(REALTIME, rollout_id) if rollout_id else []
    events = _events(log)
    steps_reached = events.count("weights set")
    states = rolled_back_states(steps_reached)
    demo.expected_notifications[ROLLOUT_STATE] += len(states)
    demo.facts["v3_states"] = states
    show_history(demo, f"sluice history {REALTIME} (rollout {rollout_id}, from its decision log)", log)
    final = _variants(demo.client("sagemaker").describe_endpoint(EndpointName=REALTIME), "v3")
    scaling = _scaling(demo, REALTIME)
    models = [
        str(m["ModelName"])
        for m in demo.client("sagemaker").list_models()["Models"]
        if str(m["ModelName"]).startswith(f"{REALTIME}-v3")
    ]
    cloudwatch = demo.client("cloudwatch")
    alarms_left = [
        str(a["AlarmName"])
        for a in cloudwatch.describe_alarms(AlarmNamePrefix=f"sluice-{REALTIME}-v3")["MetricAlarms"]
    ]
    error_rates = _error_rates(demo, REALTIME, ["v3", "v2"], watch.began_at, until)
    demo.say(f"SageMaker: DescribeEndpoint {REALTIME} → {' · '.join(str(v) for v in final)}")
    demo.say(
        f"SageMaker: models of v3 left: {_shown(models)}; "
        f"CloudWatch: alarms of v3 left: {_shown(alarms_left)}"
    )
    demo.say(f"Application Auto Scaling: {_shown(_shown_scaling(scaling))}")
    demo.say(f"SageMaker: {_shown_sagemaker(demo, REALTIME)}")
    demo.say(f"Step Functions: execution {execution.get('status', '—')} (the RolledBack state is a Fail)")

    fired = [entry for entry in log if entry.get("event") == "alarm fired"]
    fired_entry = fired[0] if fired else {}
    before_alarm = events[: events.index("alarm fired")] if "alarm fired" in events else events
    last_weights = [
        e.get("weights") or {} for e in log[: len(before_alarm)] if e.get("event") == "weights set"
    ]
    at_alarm = float((last_weights[-1] if last_weights else {}).get("v3", 0) or 0)
    phase = [e for e in before_alarm if e in {"weights set", "baking", "bake passed"}]
    shares = watch.shares()
    checks.that(
        "when v3's alarm fired",
        "during the bake of step 1 or 2 (v3 10 or 25 %), never 50 %",
        f"{phase[-1] if phase else '—'}, step {len(last_weights)}, v3 {_percent(at_alarm)} %; "
        f"v3 observed {_shown([_percent(p) for p in shares])} %",
        bool(phase)
        and phase[-1] == "baking"
        and at_alarm in (10.0, 25.0)
        and bool(shares)
        and max(shares) <= 25.0,
    )
    reason_value = _breaching_value(went.reason) if went else None
    checks.that(
        "alarm from metric data (EventBridge event)",
        f"{alarm} OK → ALARM, “Threshold Crossed: … datapoints [> 0.01 …] … threshold (0.01)”",
        f"{went.alarm} {went.previous} → {went.state}, “{went.reason}”" if went else "no ALARM event",
        went is not None
        and went.previous == "OK"
        and reason_value is not None
        and reason_value > ERROR_RATE_THRESHOLD
        and f"was greater than the threshold ({ERROR_RATE_THRESHOLD})" in went.reason
        and went.reason != SIMULATED_ALARM_REASON,
    )
    checks.that(
        "alarm → 100 % baseline",
        "measured (seconds)",
        "—" if latency is None else f"{latency:.2f} s",
        latency is not None and latency > 0,
    )
    checks.equal("rollout status", rollout.get("status"), "ROLLED_BACK")
    checks.equal("alarm in the rollout record", rollout.get("alarm"), alarm)
    reason = str(rollout.get("reason", ""))
    checks.that(
        "reason in the rollout record",
        "… the evaluator's reason (as in the event)",
        reason,
        went is not None and went.reason in reason,
    )
    checks.that(
        "alarm fired (decision log)",
        f"{alarm}: … the evaluator's reason",
        f"{fired_entry.get('alarm', '—')}: {fired_entry.get('reason', '—')}",
        fired_entry.get("alarm") == alarm
        and went is not None
        and went.reason in str(fired_entry.get("reason", "")),
    )
    expected_log = ["weights set", "alarm fired", "rolling back", "rolled back"]
    checks.that(
        "decision log in order",
        " → ".join(expected_log) + ", at most one bake passed, no promotion",
        " → ".join(events),
        _in_order(events, expected_log) and events.count("bake passed") <= 1 and "promoting" not in events,
    )
    checks.that(
        f"v3 served {SIMULATION_LABEL}, with errors",
        "v3 errors > 0; v2 served too",
        _shown_totals(totals),
        totals.get("v3", {}).get("errors", 0) > 0 and totals.get("v2", {}).get("invocations", 0) > 0,
    )
    checks.equal("final variants", [str(v) for v in final], [f"v2 100 % ({REALTIME_INSTANCES} instances)"])
    checks.equal("v3 models and alarms left", [*models, *alarms_left], [])
    checks.equal("autoscaling", _shown_scaling(scaling), [f"v2: min 2 max 6 target {AUTOSCALING_TARGET:.0f}"])
    checks.equal("notified rollout states (SNS)", _rollout_statuses(demo, rollout_id, seen), list(states))
    checks.facts.update(
        status=rollout.get("status"),
        rollout_id=rollout_id,
        alarm=rollout.get("alarm"),
        reason=reason,
        alarm_fired=dict(fired_entry),
        alarm_event=None
        if went is None
        else {"alarm": went.alarm, "previous": went.previous, "state": went.state, "reason": went.reason},
        share_at_alarm=at_alarm,
        phase_at_alarm=phase[-1] if phase else None,
        spike_seconds=spike,
        shares=shares,
        final_variants=[(v.name, v.percent, v.instances) for v in final],
        events=events,
        traffic=totals,
        alarm_to_baseline_seconds=latency,
    )
    rolled_back = _log_seconds(log, "rolled back", watch.began_at)
    timings = {
        "upload → first weights set": _log_seconds(log, "weights set", watch.began_at),
        "upload → alarm in ALARM (event)": None if went is None else went.at.timestamp() - watch.began_at,
        "upload → alarm fired (decision log)": _log_seconds(log, "alarm fired", watch.began_at),
        "upload → v2 at 100 % (DescribeEndpoint)": back.seconds if latency is not None else None,
        "alarm → 100 % baseline": latency,
        "upload → rolled back": rolled_back,
    }
    demo.timelines.append(
        _timeline(
            demo,
            watch,
            rollout,
            log,
            error_rates=error_rates,
            alarms=_alarm_periods(transitions, watch.began_at, rolled_back),
            timings={label: seconds for label, seconds in timings.items() if seconds is not None},
            traffic=traffic.describe(),
            annotations=[] if spike is None else [(spike, "SIMULATED error spike on v3")],
            notes=[
                f"{SIMULATION_LABEL}: error rates {_shown(V3_CALM_ERROR_RATES)} until v3 baked at 10 %, "
                f"then {_shown(V3_ERROR_RATES)} (from {spike or 0:.2f} s); {_shown_totals(totals)}.",
                f"The alarm went to ALARM from metric data: “{went.reason}”" if went else "No ALARM event.",
            ],
        )
    )


def show_history(demo: Demo, title: str, log: Sequence[Mapping[str, Any]]) -> None:
    """A rollout's decision log as `sluice history` shows it: time, event, reason."""
    table = Table(title=title, title_justify="left", title_style="bold magenta")
    table.add_column("time (UTC)", no_wrap=True)
    table.add_column("event", no_wrap=True)
    table.add_column("reason", overflow="fold")
    for entry in log:
        at = str(entry.get("at", ""))
        try:
            shown = datetime.fromisoformat(at).strftime("%H:%M:%S.%f")[:-3]
        except ValueError:
            shown = at
        event = str(entry.get("event", ""))
        style = "bold red" if event == "alarm fired" else "bold" if event.startswith("rolled") else ""
        table.add_row(shown, Text(event, style=style), str(entry.get("reason", "")))
    demo.console.print(table)


def count_all_notifications(demo: Demo, checks: Checks) -> None:
    """Step 11: the whole story's notifications, the rollouts' by status; the FailureQueue empty."""
    count_notifications(demo, checks)
    expected = Counter([*V2_STATES, *demo.facts.get("v3_states", V3_STATES)])
    counts = {
        channel: Counter(
            n.status for n in demo.notifications if n.channel == channel and n.detail_type == ROLLOUT_STATE
        )
        for channel in ("SNS", "EventBridge")
    }
    table = Table(title=f"{ROLLOUT_STATE}, by status", title_justify="left")
    table.add_column("status")
    table.add_column("expected", justify="right")
    table.add_column("SNS → SQS", justify="right")
    table.add_column("EventBridge → SQS", justify="right")
    for status in _status_order(set(expected) | set(counts["SNS"]) | set(counts["EventBridge"])):
        table.add_row(
            status, str(expected[status]), str(counts["SNS"][status]), str(counts["EventBridge"][status])
        )
    demo.console.print(table)
    for channel in ("SNS", "EventBridge"):
        checks.equal(f"{channel} rollout states", _by_status(counts[channel]), _by_status(expected))
    checks.facts["rollout_states"] = {channel: dict(c) for channel, c in counts.items()}


def _status_order(statuses: Iterable[str]) -> list[str]:
    """Rollout statuses in the order a rollout goes through them (others after, alphabetically)."""
    order = list(dict.fromkeys([*V2_STATES, *V3_STATES]))
    return sorted(statuses, key=lambda k: (order.index(k) if k in order else len(order), k))


def _by_status(counts: Mapping[str, int]) -> str:
    """ "STARTED 2, STEP 6, …" in the order a rollout goes through them."""
    return ", ".join(f"{k} {counts[k]}" for k in _status_order(counts) if counts[k])


STORY: tuple[StoryStep, ...] = (
    StoryStep(
        "0 setup", "Step 0 · the stack on the sandbox, and two subscribers", subscribe_to_notifications
    ),
    StoryStep(
        "1 endpoint",
        "Step 1 · a multi-model endpoint, with plain SageMaker APIs",
        create_multi_model_endpoint,
    ),
    StoryStep("2 register v1", f"Step 2 · upload {ARCHIVE_KEY}", register_first_version),
    StoryStep("3 same bytes", "Step 3 · upload the same bytes again", reupload_identical),
    StoryStep("4 register v2", "Step 4 · a warm-up request, then new weights", register_second_version),
    StoryStep("5 warm-up", "Step 5 · the warm-up of v2", show_warm_up),
    StoryStep("6 hostile", f"Step 6 · upload {HOSTILE_KEY} (path traversal)", reject_hostile_archive),
    StoryStep("7 batch", f"Step 7 · upload {BATCH_INPUT_KEY}", run_batch_job),
    StoryStep("8 notifications", "Step 8 · what the subscribers received", count_notifications),
    StoryStep(
        "9 canary v2",
        f"Step 9 · a real-time endpoint at v1, then upload {model_key(REALTIME, 'v2')} "
        f"(canary rollout, healthy {SIMULATION_LABEL})",
        canary_v2,
    ),
    StoryStep(
        "10 canary v3 rolled back",
        f"Step 10 · upload {model_key(REALTIME, 'v3')}, {SIMULATION_LABEL}, an error spike on v3: "
        "its alarm fires from the data",
        canary_v3_rolled_back,
    ),
    StoryStep(
        "11 notifications",
        "Step 11 · what the subscribers received, the rollouts included",
        count_all_notifications,
    ),
)


# --------------------------------------------------------------------------------------------------
# Running it
# --------------------------------------------------------------------------------------------------
def run_story(demo: Demo, steps: Sequence[StoryStep] = STORY) -> list[StepResult]:
    """Each step in turn; a step that raises is a failed step, and the story goes on."""
    results = []
    for step in steps:
        demo.console.rule(Text(step.title, style="bold"), align="left")
        checks = Checks()
        began = time.monotonic()
        try:
            step.run(demo, checks)
        except Exception as error:
            demo.console.print_exception(max_frames=4)
            checks.that("the step", "completes", f"{type(error).__name__}: {error}", False)
        for check in checks.items:
            if check.ok:
                line = Text("✓ ", style="bold green") + Text(f"{check.what}: {check.observed}")
            else:
                line = Text("✗ ", style="bold red") + Text(
                    f"{check.what}: expected {check.expected}, observed {check.observed}", style="red"
                )
            demo.console.print(line)
        results.append(checks.result(step.name, time.monotonic() - began))
    return results


def run_demo(
    console: Console | None = None,
    *,
    sandbox: Sandbox | None = None,
    steps: Sequence[StoryStep] = STORY,
    handler_logs: bool = False,
    report_dir: str | Path | None = REPORT_DIRECTORY,
) -> DemoReport:
    """Run the story on `sandbox` (by default a fresh `Sandbox()`, stopped at the end) and print it,
    then write the report under `report_dir` (relative: to the current directory; None: no report),
    then the summary. `handler_logs` keeps the handlers' INFO logs and metric lines on stdout."""
    console = console or Console()
    report = DemoReport()
    began = time.monotonic()
    timelines: list[RolloutTimeline] = []
    with ExitStack() as stack:
        stack.enter_context(quiet_handler_output(not handler_logs))
        if sandbox is None:
            console.print("[dim]starting the sandbox: moto server, the stack from template.yaml …[/dim]")
            parameters = {"SageMakerExecutionRoleArn": ROLE_ARN}
            if not handler_logs:
                parameters["LogLevel"] = "WARNING"
            sandbox = stack.enter_context(Sandbox(parameters=parameters, time_scale=TIME_SCALE))
            console.print(
                f"[dim]sandbox up after {time.monotonic() - began:.1f} s "
                f"(Step Functions time compressed {TIMES}{1 / TIME_SCALE:.0f})[/dim]"
            )
        demo = Demo(sandbox, console)
        report.steps = run_story(demo, steps)
        report.notifications = list(demo.notifications)
        report.facts = dict(demo.facts)
        timelines = list(demo.timelines)
        console.print("[dim]stopping the sandbox …[/dim]")
    if report_dir is not None:
        write_demo_report(console, report, timelines, Path(report_dir), time.monotonic() - began)
    report.wall_seconds = time.monotonic() - began
    print_summary(console, report)
    return report


def write_demo_report(
    console: Console,
    report: DemoReport,
    timelines: Sequence[RolloutTimeline],
    directory: Path,
    story_seconds: float,
) -> None:
    """report.md and a PNG per rollout; their paths (or what went wrong) in `report.facts`."""
    passed = sum(step.ok for step in report.steps)
    preamble = [
        f"What `make demo` observed on the local sandbox (moto in-process, driven through AWS APIs only): "
        f"{passed}/{len(report.steps)} steps as expected, {story_seconds:.1f} s of wall time "
        "from the sandbox's start to its stop.",
        "",
        f"The endpoint's traffic and its CloudWatch metrics are simulated (**{SIMULATION_LABEL}**, "
        "`sluice_cli.sandbox.traffic`): "
        f"{TRAFFIC_RPS} invocations per simulated second split by the endpoint's live weights, "
        f"error rates v2 rollout {_shown(V2_ERROR_RATES)}; v3 rollout {_shown(V3_CALM_ERROR_RATES)}, "
        f"then a spike {_shown(V3_ERROR_RATES)} once v3 baked at 10 %. "
        f"Step Functions time and alarm periods are compressed {TIMES}{1 / TIME_SCALE:.0f} "
        f"(a {demo_data.BAKE_SECONDS} s bake lasts {demo_data.BAKE_SECONDS * TIME_SCALE:g} s, "
        f"a 60 s alarm period {60 * TIME_SCALE:g} s); the times below are wall-clock seconds.",
    ]
    latency = report.facts.get("alarm_to_baseline_seconds")
    if isinstance(latency, int | float):
        preamble += [
            "",
            f"v3's error-rate alarm fired from that metric data; alarm → 100 % baseline in "
            f"**{latency:.2f} s** (the alarm's state change, from its EventBridge event, until "
            "DescribeEndpoint showed v2 at 100 %).",
        ]
    try:
        files = write_report(
            timelines, directory, title="Sluice sandbox: the demo's rollouts", preamble=preamble
        )
    except Exception as error:
        console.print_exception(max_frames=4)
        report.facts["report_error"] = f"{type(error).__name__}: {error}"
        return
    report.facts["report"] = {"markdown": str(files.markdown), "plots": [str(p) for p in files.plots]}


def print_summary(console: Console, report: DemoReport) -> None:
    """One row per check, grouped by step: step, what, expected, observed, ✓/✗."""
    console.rule(Text("Summary", style="bold"), align="left")
    table = Table(show_lines=False)
    table.add_column("step", style="bold", no_wrap=True)
    table.add_column("check")
    table.add_column("expected", overflow="fold")
    table.add_column("observed", overflow="fold")
    table.add_column("", justify="center", no_wrap=True)
    for step in report.steps:
        for i, check in enumerate(step.checks):
            table.add_row(
                f"{step.name}" if i == 0 else "",
                check.what,
                check.expected,
                Text(check.observed, style="" if check.ok else "bold red"),
                Text("✓", style="bold green") if check.ok else Text("✗", style="bold red"),
                end_section=i == len(step.checks) - 1,
            )
    console.print(table)
    passed = sum(step.ok for step in report.steps)
    verdict = (
        Text("all steps as expected", style="bold green")
        if report.ok
        else Text("some steps did not go as expected", style="bold red")
    )
    console.print(
        verdict + Text(f": {passed}/{len(report.steps)} steps ✓ — wall time {report.wall_seconds:.1f} s")
    )
    transitions = report.facts.get("v2_state_transitions")
    if isinstance(transitions, Mapping) and transitions:
        console.print(
            Text("canary promotion: Step Functions ", style="bold")
            + Text(_shown_transitions(transitions), style="bold")
            + Text(" (v2: 4 steps of 10/25/50/100 %)", style="dim")
        )
    latency = report.facts.get("alarm_to_baseline_seconds")
    if isinstance(latency, int | float):
        console.print(
            Text(f"canary rollback: alarm → 100 % baseline in {latency:.2f} s", style="bold")
            + Text(
                f" (alarm from {SIMULATION_LABEL} metric data → its EventBridge event → AlarmState "
                "function → SendTaskFailure → rollback, until DescribeEndpoint showed it; local emulator)",
                style="dim",
            )
        )
    files = report.facts.get("report")
    if isinstance(files, Mapping):
        console.print(
            Text("report: ", style="bold")
            + Text(str(files.get("markdown")), style="bold cyan")
            + Text(f" (plots: {', '.join(str(p) for p in files.get('plots', []))})")
        )
    if report.facts.get("report_error"):
        console.print(Text(f"report not written: {report.facts['report_error']}", style="bold red"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sluice_cli.sandbox.demo", description="Sluice's story on the local sandbox."
    )
    parser.add_argument(
        "--handler-logs", action="store_true", help="also show the handlers' Powertools logs and metrics"
    )
    parser.add_argument(
        "--report-dir",
        default=REPORT_DIRECTORY,
        help=f"where report.md and the rollouts' plots go (default: ./{REPORT_DIRECTORY})",
    )
    args = parser.parse_args(argv)
    report = run_demo(Console(), handler_logs=args.handler_logs, report_dir=args.report_dir)
    return 0 if report.ok and not report.facts.get("report_error") else 1


if __name__ == "__main__":
    raise SystemExit(main())
