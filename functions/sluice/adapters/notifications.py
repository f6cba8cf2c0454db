"""Amazon SNS + Amazon EventBridge: every outcome goes to both, so users subscribe either way."""

from __future__ import annotations

import json
import re
from typing import Any

from sluice.adapters.clients import client

EVENT_SOURCE = "sluice"
# SNS Publish: "Subjects must be UTF-8 text with no line breaks or control characters, and less than 100
# characters long" (Publish API reference); anything else is refused with InvalidParameter, and the
# notification (and the outcome it reports) would be lost. S3 keys may hold any of those characters.
SUBJECT_MAX_CHARACTERS = 99
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def sns_subject(text: str) -> str:
    """`text` as SNS takes a Subject: control characters and line breaks become one space, at most 99
    characters (cut with an ellipsis), never empty."""
    subject = _CONTROL_CHARACTERS.sub(" ", text).strip() or "Sluice notification"
    if len(subject) > SUBJECT_MAX_CHARACTERS:
        subject = subject[: SUBJECT_MAX_CHARACTERS - 1].rstrip() + "…"
    return subject


class Notifier:
    def __init__(self, topic_arn: str, event_bus_name: str = "default") -> None:
        self.topic_arn = topic_arn
        self.event_bus_name = event_bus_name

    def notify(self, detail_type: str, detail: dict[str, Any], *, subject: str) -> None:
        body = json.dumps(detail, default=str, sort_keys=True)
        client("sns").publish(
            TopicArn=self.topic_arn,
            Subject=sns_subject(subject),
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
