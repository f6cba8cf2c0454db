"""Fixtures: one sandbox (moto server + stack from template.yaml, router off) per test module."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from integration_kit import Stack

from sluice_cli.sandbox.server import Sandbox


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with Sandbox(start_router=False, transform_delay_seconds=0.2) as sandbox:
        outputs = sandbox.outputs.outputs
        sqs = sandbox.client("sqs")
        sns_queue = sqs.create_queue(QueueName="test-sns-subscriber")["QueueUrl"]
        sns_arn = sqs.get_queue_attributes(QueueUrl=sns_queue, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sandbox.client("sns").subscribe(
            TopicArn=outputs["NotificationTopicArn"],
            Protocol="sqs",
            Endpoint=sns_arn,
            Attributes={"RawMessageDelivery": "false"},
        )
        bus_queue = sqs.create_queue(QueueName="test-bus-subscriber")["QueueUrl"]
        bus_arn = sqs.get_queue_attributes(QueueUrl=bus_queue, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events = sandbox.client("events")
        events.put_rule(Name="test-sluice-notifications", EventPattern=json.dumps({"source": ["sluice"]}))
        events.put_targets(Rule="test-sluice-notifications", Targets=[{"Id": "q", "Arn": bus_arn}])
        yield Stack(
            sandbox, outputs["ArtifactBucketName"], outputs["RegistryTableName"], sns_queue, bus_queue
        )


@pytest.fixture
def clean_notifications(stack: Stack) -> Stack:
    stack.notifications()
    stack.bus_events()
    return stack
