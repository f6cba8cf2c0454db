"""S3 events through the multi-model intake, at-least-once and out of order: exactly one side effect
per distinct object version, and how many events per second the intake takes.

What runs: the sandbox (moto server, the stack from template.yaml, IAM enforced) with its router
running the real `RegisterModelFunction` handler in-process, as the EventBridge rule's target.

The events: D distinct object versions (K models x VERSIONS_PER_MODEL uploads of the same key
`multi-model/<endpoint>/<model>.tar.gz`, each other bytes) are uploaded while the intake rule has no
target, and the "Object Created" events S3 emits for them are captured by a rule of our own (so they are
S3's events as the sandbox makes them: unique ids, increasing sequencers, real version ids and ETags).
Then the intake rule's target is put back and the events are delivered the way the sandbox delivers
S3's own (moto's `Rule.send_to_targets` for every rule of every bus, the path `_send_event_bridge_message`
takes): the template's rule patterns decide, the route queue holds them, the router invokes the handler
with Lambda's async retries. They are fed as a steady stream, at most BACKLOG (20) ahead of the
handler. 1,000 deliveries at full size (50 with `quick`):

- every distinct version once (70 %);
- 30 % duplicates, each at a random later position: half delivered again unchanged (EventBridge's
  at-least-once redelivery: the same event id), half as S3 emitting the notification twice (a new
  event id and `time`, the same object detail);
- 10 % out of order: in that many adjacent pairs of uploads of one key, the older version's event is
  delivered right after the newer one's.

What is asserted (the run raises when any differs): every delivery invoked the handler exactly once
and it succeeded (no retry, nothing in FailureQueue); per model exactly VERSIONS_PER_MODEL versions,
numbered 1..V, each PUBLISHED and naming a different uploaded object version; exactly one intake record
per object version, PUBLISHED; exactly D published objects under the endpoint's model-data prefix,
each with one S3 version (never overwritten); exactly D "Sluice Model Registered" notifications on the
SNS topic (as a subscriber sees them), one per (model, version), none "Unchanged" or "Rejected". Out of
order: as the README states for multi-model uploads, versions are numbered in the order they are
published (the intake's processing order), and `latest` is the most recent upload by S3's sequencer,
so a late event of an older upload is published as the next N but `latest` stays on the newest upload.
Both are asserted; `latest_not_newest_upload` in the figure's detail counts models whose `latest` ends
on bytes older than their newest upload (0, or the assertion fails).

The value: events per second, deliveries / (last handler return - first delivery).
The reference: the same deliveries (same events, same order, same duplicates) through the same path
(rules, route queue, router, the function's environment and role session) to a handler that does
nothing (`noop_handler`, swapped into the function's spec), measured in the same sandbox right after.
So the ratio is the intake's throughput as a share of what delivery alone allows: 1.0 would be an
intake that costs nothing; the intake's own milliseconds per event are in the detail, with the AWS
calls the handler makes per first delivery and per duplicate. (A bare PutItem round trip on the
idempotency table was the other candidate; it isolates one of the intake's AWS calls, not the intake.)

One change to the emulator for the run (`moto_costs.transactions_snapshot_items`): moto's TransactWriteItems
deep-copies each table it touches, a cost that grows with the table (AWS's does not); it snapshots the
touched items instead, with the same outcome. Without it the registry's growth made the handler's median
grow from 0.25 s (50 events) to 0.6-0.75 s (1,000), 13 minutes in all, and the figure depend on the
run's size. Left as it is: moto's Query and the SNS subscriber's queue still grow with the run (the
median is ~0.31 s at 1,000 events); `aws_ms_per_event_by_operation` in the detail shows where it goes.

Not covered: concurrent duplicates. The sandbox runs one invocation at a time, so a duplicate never
finds the first still INPROGRESS (that path, the redelivery queue, has its own integration tests).
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import random
import statistics
import tarfile
import threading
import time
import uuid
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from figures import Figure, percentile
from moto_costs import transactions_snapshot_items

from sluice.adapters.registry import from_item
from sluice.domain.registry import intake_pk, model_pk
from sluice_cli.sandbox.seed import create_multi_model_endpoint
from sluice_cli.sandbox.server import Sandbox, quiet_handler_output

GROUP = "intake"
FUNCTION = "RegisterModelFunction"
ENDPOINT = "bench-mme"
WARM_UP_ENDPOINT = "bench-warm-up"
VERSIONS_PER_MODEL = 5
DUPLICATE_SHARE = 0.30
OUT_OF_ORDER_SHARE = 0.10
SEED = 10
# Events delivered ahead of the handler at most: a steady stream with a backlog, not 1,000 at once (moto's
# SQS scans a queue's every message on each receive, so a backlog of 1,000 would measure moto's SQS).
BACKLOG = 20


def noop_handler(event: Any, context: Any) -> dict[str, str]:
    """The reference's handler: takes the event and does nothing."""
    return {"status": "NOOP"}


@dataclass(frozen=True)
class Upload:
    """One uploaded object version and the "Object Created" event S3 emitted for it."""

    model: str
    index: int  # 0 = the model's first upload
    version_id: str
    event: dict[str, Any]


@dataclass(frozen=True)
class Delivery:
    upload: Upload
    kind: str  # "first" | "redelivered" (same event id) | "re-emitted" (new event id and time)

    def event(self) -> dict[str, Any]:
        event = copy.deepcopy(self.upload.event)
        if self.kind == "re-emitted":
            event["id"] = str(uuid.uuid4())
            sent = datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00"))
            event["time"] = (sent + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return event


@dataclass(frozen=True)
class Schedule:
    deliveries: list[Delivery]
    out_of_order: int  # older uploads delivered right after a newer one of the same key

    @property
    def duplicates(self) -> int:
        return sum(d.kind != "first" for d in self.deliveries)


def archive(tag: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        body = f"weights of {tag}".encode()
        info = tarfile.TarInfo("model.pth")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


def sizes(events: int) -> tuple[int, int, int]:
    """(distinct versions, duplicates, out of order) for `events` deliveries; distinct a multiple of V."""
    distinct = round(events * (1 - DUPLICATE_SHARE) / VERSIONS_PER_MODEL) * VERSIONS_PER_MODEL
    return distinct, events - distinct, round(events * OUT_OF_ORDER_SHARE)


def plan(uploads: list[Upload], duplicates: int, out_of_order: int, rng: random.Random) -> Schedule:
    """The delivery order: uploads in upload order, `out_of_order` disjoint adjacent pairs of one model
    swapped (the older delivered right after the newer), then `duplicates` copies of distinct uploads each
    inserted at a random position after its first delivery, alternately redelivered and re-emitted."""
    order = list(uploads)
    # Disjoint pairs: (0, 1), (2, 3)... for even models, (1, 2), (3, 4)... for odd ones, so that some
    # pairs hold a model's newest upload (its older neighbour then arrives last of all).
    pairs = [
        (u.model, u.index)
        for u in uploads
        if (u.index - int(u.model[1:])) % 2 == 0 and u.index + 1 < VERSIONS_PER_MODEL
    ]
    if len(pairs) < out_of_order:
        raise ValueError(f"{len(pairs)} disjoint pairs for {out_of_order} out-of-order events")
    at = {(u.model, u.index): u for u in uploads}
    for model, index in rng.sample(pairs, out_of_order):
        older = at[(model, index)]
        order.remove(older)
        order.insert(order.index(at[(model, index + 1)]) + 1, older)
    deliveries = [Delivery(u, "first") for u in order]
    for n, upload in enumerate(rng.sample(uploads, duplicates)):
        first = next(i for i, d in enumerate(deliveries) if d.upload == upload)
        kind = "redelivered" if n % 2 == 0 else "re-emitted"
        deliveries.insert(rng.randint(first + 1, len(deliveries)), Delivery(upload, kind))
    return Schedule(deliveries, out_of_order)


class IntakeBench:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.bucket = sandbox.outputs.outputs["ArtifactBucketName"]
        self.table = sandbox.outputs.outputs["RegistryTableName"]
        (self.route,) = sandbox.outputs.routes_of(FUNCTION)
        self.sqs = sandbox.client("sqs")

    # -- setup --------------------------------------------------------------------------------------
    def queue(self, name: str) -> tuple[str, str]:
        url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
        return url, arn["QueueArn"]

    def subscribe_notifications(self) -> str:
        url, arn = self.queue("bench-intake-notifications")
        topic = self.sandbox.outputs.outputs["NotificationTopicArn"]
        self.sandbox.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        return url

    @contextmanager
    def intake_detached(self) -> Iterator[None]:
        """The intake rule without its target for the duration (S3's events for it go nowhere)."""
        events = self.sandbox.client("events")
        rule = {"Rule": self.route.rule_name, "EventBusName": self.route.event_bus_name}
        targets = events.list_targets_by_rule(**rule)["Targets"]
        events.remove_targets(**rule, Ids=[t["Id"] for t in targets])
        try:
            yield
        finally:
            events.put_targets(**rule, Targets=targets)

    def upload(self, models: int) -> list[Upload]:
        """Upload every version (models round-robin, so a model's uploads are apart in time), and capture
        the "Object Created" S3 emits for each with a rule of our own while the intake rule has no target."""
        events, s3 = self.sandbox.client("events"), self.sandbox.client("s3")
        url, arn = self.queue("bench-intake-capture")
        pattern = {
            "source": ["aws.s3"],
            "detail-type": ["Object Created"],
            "detail": {"object": {"key": [{"prefix": f"multi-model/{ENDPOINT}/"}]}},
        }
        events.put_rule(Name="bench-intake-capture", EventPattern=json.dumps(pattern))
        events.put_targets(Rule="bench-intake-capture", Targets=[{"Id": "capture", "Arn": arn}])
        put: dict[tuple[str, str], tuple[str, int]] = {}
        with self.intake_detached():
            for index in range(VERSIONS_PER_MODEL):
                for m in range(models):
                    model = f"m{m:03d}"
                    key = f"multi-model/{ENDPOINT}/{model}.tar.gz"
                    body = archive(f"{model} upload {index}")
                    version = s3.put_object(Bucket=self.bucket, Key=key, Body=body)["VersionId"]
                    put[(key, version)] = (model, index)
        events.remove_targets(Rule="bench-intake-capture", Ids=["capture"])
        events.delete_rule(Name="bench-intake-capture")
        captured = [json.loads(m["Body"]) for m in self.drain(url)]
        uploads = []
        for event in captured:
            obj = event["detail"]["object"]
            model, index = put[(obj["key"], obj["version-id"])]
            uploads.append(Upload(model, index, obj["version-id"], event))
        if len(uploads) != len(put) or len({u.event["id"] for u in uploads}) != len(put):
            raise AssertionError(f"captured {len(uploads)} events with distinct ids for {len(put)} uploads")
        return sorted(uploads, key=lambda u: (u.index, u.model))

    def drain(self, url: str) -> list[dict[str, Any]]:
        messages = []
        while got := self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            messages += got
            self.sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)],
            )
        return messages

    # -- delivery -----------------------------------------------------------------------------------
    def deliver(self, event: dict[str, Any]) -> None:
        """What the sandbox does with an event S3 emits (moto's `_send_event_bridge_message`): offered to
        every rule of every bus; the template's patterns decide."""
        from moto.events.models import events_backends

        backend = events_backends[self.sandbox.outputs.account_id][self.sandbox.outputs.region]
        sent = datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00"))
        held = {**event, "time": sent.timestamp()}  # as moto holds it until a target renders it
        for bus in list(backend.event_buses.values()):
            for rule in list(bus.rules.values()):
                rule.send_to_targets(copy.deepcopy(held), transform_input=False)

    def run(self, schedule: Schedule, timeout: float) -> tuple[float, list[Any]]:
        """Deliver every event in order, never more than BACKLOG ahead of the handler, then wait until the
        sandbox is idle: (seconds from the first delivery to the last handler return, the invocations of
        the function meanwhile)."""
        router = self.sandbox.router
        before = len(router.invocations_of(FUNCTION))
        deadline = time.monotonic() + timeout
        started = time.time()
        for sent, delivery in enumerate(schedule.deliveries):
            while sent - (len(router.invocations_of(FUNCTION)) - before) >= BACKLOG:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{sent} events delivered, the handler is not taking them")
                time.sleep(0.002)
            self.deliver(delivery.event())
        self.sandbox.wait_idle(timeout=max(1.0, deadline - time.monotonic()), include_delayed=False)
        invocations = router.invocations_of(FUNCTION)[before:]
        ended = max(i.started_at + i.duration_ms / 1000 for i in invocations)
        return ended - started, invocations

    @contextmanager
    def handler(self, dotted: str) -> Iterator[None]:
        functions = self.sandbox.outputs.functions
        spec = functions[FUNCTION]
        functions[FUNCTION] = dataclasses.replace(spec, handler=dotted)
        try:
            yield
        finally:
            functions[FUNCTION] = spec

    def warm_up(self) -> None:
        """One registration on another endpoint (its own model-data prefix): the handler's imports and
        first calls happen here, not in the measured run."""
        create_multi_model_endpoint(self.sandbox, self.bucket, WARM_UP_ENDPOINT)
        self.sandbox.client("s3").put_object(
            Bucket=self.bucket, Key=f"multi-model/{WARM_UP_ENDPOINT}/warm.tar.gz", Body=archive("warm-up")
        )
        self.sandbox.wait_idle(timeout=60, include_delayed=False)

    # -- reading the side effects -------------------------------------------------------------------
    def items(self, pk: str) -> list[dict[str, Any]]:
        ddb, items, start = self.sandbox.client("dynamodb"), [], None
        while True:
            page = ddb.query(
                TableName=self.table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": pk}},
                ConsistentRead=True,
                **({"ExclusiveStartKey": start} if start else {}),
            )
            items += [from_item(i) for i in page["Items"]]
            if not (start := page.get("LastEvaluatedKey")):
                return items

    def published_objects(self) -> list[dict[str, Any]]:
        s3, versions = self.sandbox.client("s3"), []
        for page in s3.get_paginator("list_object_versions").paginate(
            Bucket=self.bucket, Prefix=f"serving/{ENDPOINT}/"
        ):
            versions += page.get("Versions", [])
        return versions

    def failures(self) -> int:
        url = self.sandbox.outputs.outputs.get("FailureQueueUrl")
        if not url:
            raise AssertionError("the stack has no FailureQueueUrl output")
        got = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        return int(got["Attributes"]["ApproximateNumberOfMessages"])


def check_side_effects(
    bench: IntakeBench, uploads: list[Upload], schedule: Schedule, notifications: list[dict[str, Any]]
) -> dict[str, Any]:
    """Raise unless every distinct object version had exactly one side effect of each kind; returns the
    counts (for the figure's detail)."""
    problems: list[str] = []
    by_model: dict[str, list[Upload]] = defaultdict(list)
    for upload in uploads:
        by_model[upload.model].append(upload)
    processed_order: dict[str, list[str]] = defaultdict(list)  # first deliveries, in delivery order
    for delivery in schedule.deliveries:
        if delivery.kind == "first":
            processed_order[delivery.upload.model].append(delivery.upload.version_id)

    version_items = intake_items = 0
    latest_not_newest = 0
    for model, mine in sorted(by_model.items()):
        items = bench.items(model_pk(ENDPOINT, model))
        versions = {int(i["version"]): i for i in items if i["sk"] != "latest"}
        latest = next((i for i in items if i["sk"] == "latest"), None)
        version_items += len(versions)
        if sorted(versions) != list(range(1, VERSIONS_PER_MODEL + 1)):
            problems.append(f"{model}: versions {sorted(versions)}, not 1..{VERSIONS_PER_MODEL}")
            continue
        sources = [versions[n]["source_version_id"] for n in sorted(versions)]
        if sources != processed_order[model]:  # vN = the N-th upload the intake processed
            problems.append(f"{model}: versions name {sources}, processed {processed_order[model]}")
        if any(v.get("status") != "PUBLISHED" for v in versions.values()):
            problems.append(f"{model}: statuses {[v.get('status') for v in versions.values()]}")
        newest = max(mine, key=lambda u: u.index).version_id
        if latest is None or latest.get("source_version_id") != newest:  # latest = newest upload
            latest_not_newest += 1
            problems.append(
                f"{model}: latest {None if latest is None else latest['version']}, not the newest upload"
            )
        records = bench.items(intake_pk(bench.bucket, f"multi-model/{ENDPOINT}/{model}.tar.gz"))
        intake_items += len(records)
        if sorted(r["source_version_id"] for r in records) != sorted(u.version_id for u in mine):
            problems.append(f"{model}: {len(records)} intake records for {len(mine)} object versions")
        if any(r.get("status") != "PUBLISHED" for r in records):
            problems.append(f"{model}: intake statuses {[r.get('status') for r in records]}")

    objects = bench.published_objects()
    per_key = Counter(o["Key"] for o in objects)
    if len(per_key) != len(uploads) or set(per_key.values()) != {1}:
        problems.append(f"{len(objects)} published object versions on {len(per_key)} keys for {len(uploads)}")

    kinds = Counter(n["detail_type"] for n in notifications)
    registered = Counter(
        (n["detail"]["model"], n["detail"]["version"])
        for n in notifications
        if n["detail_type"] == "Sluice Model Registered"
    )
    if kinds != Counter({"Sluice Model Registered": len(uploads)}) or set(registered.values()) != {1}:
        problems.append(f"notifications {dict(kinds)}, {len(registered)} distinct (model, version)")
    if failed := bench.failures():
        problems.append(f"{failed} messages in FailureQueue")
    if problems:
        raise AssertionError("intake side effects differ: " + "; ".join(problems[:10]))
    return {
        "version_items": version_items,
        "intake_records": intake_items,
        "published_objects": len(objects),
        "registered_notifications": kinds["Sluice Model Registered"],
        "latest_not_newest_upload": latest_not_newest,
    }


def notifications_of(bench: IntakeBench, url: str) -> list[dict[str, Any]]:
    found = []
    for message in bench.drain(url):
        body = json.loads(message["Body"])
        found.append(
            {
                "detail_type": body["MessageAttributes"]["detail_type"]["Value"],
                "detail": json.loads(body["Message"]),
            }
        )
    return found


def check_invocations(invocations: list[Any], schedule: Schedule, what: str) -> None:
    if len(invocations) != len(schedule.deliveries):
        raise AssertionError(f"{what}: {len(invocations)} invocations for {len(schedule.deliveries)} events")
    bad = [i for i in invocations if i.outcome != "succeeded" or i.attempt != 1]
    if bad:
        raise AssertionError(f"{what}: {len(bad)} invocations failed or retried: {bad[0].error}")


@contextmanager
def handler_calls() -> Iterator[list[tuple[float, str, float]]]:
    """Every AWS call made by a handler meanwhile, (time, "service:Operation", ms), timed at botocore's
    client: on the threads the sandbox marks as running a handler (lambda_runtime's `_invocation`), and
    on worker threads that are neither ours nor the sandbox's (`sandbox-*`): s3transfer's, which make the
    managed copy's calls for the handler."""
    from botocore.client import BaseClient

    from sluice_cli.sandbox import lambda_runtime

    calls: list[tuple[float, str, float]] = []
    original = BaseClient._make_api_call

    def counted(client: Any, operation: str, params: Any) -> Any:
        thread = threading.current_thread()
        if not getattr(lambda_runtime._invocation, "running", False) and (
            thread is threading.main_thread() or thread.name.startswith("sandbox-")
        ):
            return original(client, operation, params)
        started, begin = time.time(), time.perf_counter()
        try:
            return original(client, operation, params)
        finally:
            name = f"{client.meta.service_model.endpoint_prefix}:{operation}"
            calls.append((started, name, (time.perf_counter() - begin) * 1000))

    BaseClient._make_api_call = counted  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        BaseClient._make_api_call = original  # type: ignore[method-assign]


def per_delivery(
    invocations: list[Any], schedule: Schedule, calls: list[tuple[float, str, float]]
) -> dict[str, Any]:
    """The handler's median duration and its AWS calls (count and milliseconds per operation), for first
    deliveries and for duplicates. One route, one invocation at a time: invocations come in delivery
    order (the event ids confirm it) and a call belongs to the invocation whose run it falls in."""
    ids = [d.event()["id"] if d.kind != "re-emitted" else None for d in schedule.deliveries]
    if any(i is not None and i != inv.event_id for i, inv in zip(ids, invocations, strict=True)):
        raise AssertionError("the handler did not see the events in delivery order")
    ordered = sorted(calls)
    times = [call[0] for call in ordered]
    durations: dict[str, list[float]] = defaultdict(list)
    counts: dict[str, list[int]] = defaultdict(list)
    operations: dict[str, Counter[str]] = defaultdict(Counter)
    spent: dict[str, Counter[str]] = defaultdict(Counter)
    for delivery, invocation in zip(schedule.deliveries, invocations, strict=True):
        kind = "first" if delivery.kind == "first" else "duplicate"
        durations[kind].append(invocation.duration_ms)
        ended = invocation.started_at + invocation.duration_ms / 1000
        mine = ordered[bisect_left(times, invocation.started_at) : bisect_right(times, ended)]
        counts[kind].append(len(mine))
        operations[kind].update(op for _, op, _ in mine)
        for _, op, ms in mine:
            spent[kind][op] += ms
    return {
        "handler_ms_p50": {k: round(percentile(v, 50), 2) for k, v in sorted(durations.items())},
        "aws_calls_per_event": {k: round(statistics.mean(v), 2) for k, v in sorted(counts.items())},
        "aws_calls_per_event_by_operation": {
            kind: {op: round(n / len(counts[kind]), 2) for op, n in ops.most_common()}
            for kind, ops in sorted(operations.items())
        },
        "aws_ms_per_event_by_operation": {
            kind: {op: round(ms / len(counts[kind]), 1) for op, ms in ops.most_common()}
            for kind, ops in sorted(spent.items())
        },
        "aws_calls_outside_any_invocation": len(calls) - sum(sum(v) for v in counts.values()),
    }


def measure(events: int) -> list[Figure]:
    distinct, duplicates, out_of_order = sizes(events)
    rng = random.Random(SEED)  # noqa: S311 - a reproducible schedule, not secrets
    parameters = {"LogLevel": "ERROR"}
    with (
        quiet_handler_output(True),
        transactions_snapshot_items(),
        Sandbox(parameters=parameters, poll_wait_seconds=1) as sandbox,
    ):
        bench = IntakeBench(sandbox)
        create_multi_model_endpoint(sandbox, bench.bucket, ENDPOINT)
        notifications_url = bench.subscribe_notifications()
        uploads = bench.upload(distinct // VERSIONS_PER_MODEL)
        schedule = plan(uploads, duplicates, out_of_order, rng)
        bench.warm_up()
        bench.drain(notifications_url)
        timeout = 30 + 2.0 * len(schedule.deliveries)

        with handler_calls() as calls:
            seconds, invocations = bench.run(schedule, timeout)
        check_invocations(invocations, schedule, "intake")
        counts = check_side_effects(bench, uploads, schedule, notifications_of(bench, notifications_url))

        with bench.handler(f"{__name__}.noop_handler"):
            bench.run(Schedule(schedule.deliveries[:10], 0), timeout)  # warm the no-op path too
            reference_seconds, reference_invocations = bench.run(schedule, timeout)
        check_invocations(reference_invocations, schedule, "no-op reference")

    n = len(schedule.deliveries)
    value, reference = n / seconds, n / reference_seconds
    return [
        Figure(
            group=GROUP,
            name=(
                f"{n} S3 events ({schedule.duplicates} duplicates, {schedule.out_of_order} out of order)"
                f" -> {distinct} multi-model versions, each published once"
            ),
            value=value,
            unit="events/s",
            reference="same events and path, no-op handler",
            reference_value=reference,
            detail={
                "events": n,
                "distinct_object_versions": distinct,
                "duplicates": dict(Counter(d.kind for d in schedule.deliveries if d.kind != "first")),
                "out_of_order": schedule.out_of_order,
                "seconds": round(seconds, 3),
                "reference_seconds": round(reference_seconds, 3),
                "intake_ms_per_event": round(1000 * (seconds - reference_seconds) / n, 2),
                **per_delivery(invocations, schedule, calls),
                **counts,
            },
        )
    ]


def run(quick: bool = False) -> list[Figure]:
    return measure(50 if quick else 1000)


if __name__ == "__main__":
    from figures import table

    print(table(run(quick=True)))
