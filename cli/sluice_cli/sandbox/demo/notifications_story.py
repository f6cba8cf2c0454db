"""Steps 0, 8 and 13: the demo's two subscribers to Sluice's notifications, and what they received."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping

from rich.table import Table

from sluice_cli.sandbox.demo.cast import (
    BATCH_STATE,
    EVENTS_INBOX,
    EVENTS_RULE,
    HELD_STATES,
    REGISTERED,
    REJECTED,
    ROLLOUT_STATE,
    SNS_INBOX,
    UNCHANGED,
    V2_STATES,
    V3_STATES,
)
from sluice_cli.sandbox.demo.checks import Checks, shown
from sluice_cli.sandbox.demo.harness import Demo, queue_arn


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
    sns_inbox_arn = queue_arn(sqs, demo.sns_inbox_url)
    subscription = sns.subscribe(
        TopicArn=demo.topic_arn, Protocol="sqs", Endpoint=sns_inbox_arn, ReturnSubscriptionArn=True
    )["SubscriptionArn"]
    demo.say(f"SNS: subscribed SQS queue {SNS_INBOX} to the notification topic")

    demo.events_inbox_url = sqs.create_queue(QueueName=EVENTS_INBOX)["QueueUrl"]
    events_inbox_arn = queue_arn(sqs, demo.events_inbox_url)
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
    checks.equal("EventBridge rule", f"{rule_state} → {shown(targets)}", f"ENABLED → {EVENTS_INBOX}")
    checks.facts.update(endpoint_url=demo.sandbox.endpoint_url, bucket=demo.bucket, table=demo.table)


def _name(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]


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


def count_all_notifications(demo: Demo, checks: Checks) -> None:
    """Step 13: the whole story's notifications, the rollouts' by status; the FailureQueue empty."""
    count_notifications(demo, checks)
    expected = Counter(demo.facts.get("rollout_states", []))
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
    order = list(dict.fromkeys([*V2_STATES, *V3_STATES, *HELD_STATES]))
    return sorted(statuses, key=lambda k: (order.index(k) if k in order else len(order), k))


def _by_status(counts: Mapping[str, int]) -> str:
    """ "STARTED 2, STEP 6, …" in the order a rollout goes through them."""
    return ", ".join(f"{k} {counts[k]}" for k in _status_order(counts) if counts[k])
