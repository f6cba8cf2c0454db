"""Amazon SQS: messages delivered later, DelaySeconds each (BatchRetryQueue: CreateTransformJob requests
waiting for SageMaker capacity; UploadRedeliveryQueue: events another invocation holds)."""

from __future__ import annotations

from sluice.adapters.clients import client

MAX_DELAY_SECONDS = 900  # SQS DelaySeconds limit


class RetryQueue:
    def __init__(self, queue_url: str) -> None:
        self.queue_url = queue_url

    def send_later(self, body: str, delay_seconds: int) -> None:
        client("sqs").send_message(
            QueueUrl=self.queue_url,
            MessageBody=body,
            DelaySeconds=max(0, min(MAX_DELAY_SECONDS, delay_seconds)),
        )
