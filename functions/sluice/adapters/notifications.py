"""Amazon SNS + Amazon EventBridge: every outcome goes to both, so users subscribe either way."""

from __future__ import annotations

import json
from typing import Any

from sluice.adapters.clients import client

EVENT_SOURCE = "sluice"


class Notifier:
    def __init__(self, topic_arn: str, event_bus_name: str = "default") -> None:
        self.topic_arn = topic_arn
        self.event_bus_name = event_bus_name

    def notify(self, detail_type: str, detail: dict[str, Any], *, subject: str) -> None:
        body = json.dumps(detail, default=str, sort_keys=True)
        client("sns").publish(
            TopicArn=self.topic_arn,
            Subject=subject[:100],
            Message=body,
            MessageAttributes={
                "detail_type": {"DataType": "String", "StringValue": detail_type},
                "status": {"DataType": "String", "StringValue": str(detail.get("status", "-"))},
            },
        )
        response = client("events").put_events(
            Entries=[
                {
                    "Source": EVENT_SOURCE,
                    "DetailType": detail_type,
                    "Detail": body,
                    "EventBusName": self.event_bus_name,
                }
            ]
        )
        if response.get("FailedEntryCount"):
            raise RuntimeError(f"EventBridge refused the notification: {response['Entries']}")
