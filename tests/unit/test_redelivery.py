"""An upload event refused because another invocation holds its idempotency record: queued to be
delivered again just past that invocation's deadline, once; otherwise a failure that says what to do."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeRetryQueue
from hypothesis import given
from hypothesis import strategies as st

from sluice.domain.intake import Upload
from sluice.domain.redelivery import (
    DEADLINE_MARGIN_SECONDS,
    MAX_DELAY_SECONDS,
    REDELIVERY_FIELD,
    HeldRecord,
    redeliver,
)
from sluice.errors import UploadInProgressElsewhere
from sluice.models.queue_messages import UploadRedeliveryMessage
from sluice.models.s3_events import S3ObjectCreatedEvent

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
UPLOAD = Upload("artifacts", "multi-model/mme/churn.tar.gz", "raw", "v-1", "etag-1")
FUNCTION = "sluice-RegisterModelFunction-AbCdEf123456"
RECORD = "register_model#0123456789abcdef"
EVENTS = Path(__file__).resolve().parents[2] / "events"


def sample_event() -> dict[str, Any]:
    return json.loads((EVENTS / "s3_object_created_multi_model.json").read_text())  # type: ignore[no-any-return]


def held_for(seconds: float | None) -> HeldRecord:
    return HeldRecord(RECORD, None if seconds is None else NOW + timedelta(seconds=seconds))


def run(held: HeldRecord | None, redelivered: int = 0, queue: FakeRetryQueue | None = None) -> dict[str, Any]:
    return redeliver(
        UPLOAD,
        sample_event(),
        redelivered=redelivered,
        function_name=FUNCTION,
        held=held,
        now=NOW,
        queue=queue if queue is not None else FakeRetryQueue(),
    ).as_dict()


def test_the_event_waits_until_just_past_the_holders_deadline_and_is_marked() -> None:
    queue = FakeRetryQueue()
    outcome = run(held_for(838.2), queue=queue)

    ((body, delay),) = queue.messages
    assert delay == 839 + DEADLINE_MARGIN_SECONDS
    message = UploadRedeliveryMessage.model_validate_json(body)
    assert message.function_name == FUNCTION
    assert message.payload == {**sample_event(), REDELIVERY_FIELD: 1}
    assert outcome["status"] == "REDELIVERY_QUEUED"
    assert outcome["delay_seconds"] == delay
    assert outcome["idempotency_key"] == RECORD
    assert outcome["in_progress_until"] == (NOW + timedelta(seconds=838.2)).isoformat()


@pytest.mark.parametrize("held", [None, held_for(-30)], ids=["released meanwhile", "deadline passed"])
def test_a_record_let_go_meanwhile_sends_the_event_again_at_once(held: HeldRecord | None) -> None:
    queue = FakeRetryQueue()
    run(held, queue=queue)
    assert [delay for _, delay in queue.messages] == [DEADLINE_MARGIN_SECONDS]


def test_a_record_held_again_after_the_wait_fails_naming_the_upload_and_the_record() -> None:
    queue = FakeRetryQueue()
    with pytest.raises(UploadInProgressElsewhere) as raised:
        run(held_for(600), redelivered=1, queue=queue)
    message = str(raised.value)
    assert "s3://artifacts/multi-model/mme/churn.tar.gz (version v-1)" in message
    assert f"{RECORD} (IdempotencyTable)" in message
    assert "already waited for it 1 time(s)" in message
    assert "Task timed out" in message
    assert queue.messages == []


def test_a_record_without_a_deadline_is_not_waited_for() -> None:
    with pytest.raises(UploadInProgressElsewhere, match=r"no deadline .* delete the record"):
        run(held_for(None))


def test_a_deadline_beyond_an_sqs_delay_is_not_waited_for() -> None:
    with pytest.raises(UploadInProgressElsewhere, match="later than an SQS delay reaches"):
        run(held_for(MAX_DELAY_SECONDS))


@given(st.floats(min_value=-3600, max_value=MAX_DELAY_SECONDS - DEADLINE_MARGIN_SECONDS - 1))
def test_the_delay_always_ends_past_the_deadline_within_sqs_limits(seconds: float) -> None:
    queue = FakeRetryQueue()
    run(held_for(seconds), queue=queue)
    ((_, delay),) = queue.messages
    assert DEADLINE_MARGIN_SECONDS <= delay <= MAX_DELAY_SECONDS
    assert NOW + timedelta(seconds=delay) >= NOW + timedelta(seconds=seconds + DEADLINE_MARGIN_SECONDS)


def test_the_sample_redelivery_message_is_what_the_intake_parses_again() -> None:
    sqs_event = json.loads((EVENTS / "upload_redelivery_message.json").read_text())
    message = UploadRedeliveryMessage.model_validate_json(sqs_event["Records"][0]["body"])
    event = S3ObjectCreatedEvent.model_validate(message.payload)
    assert event.redelivery == 1
    assert S3ObjectCreatedEvent.model_validate(sample_event()).redelivery == 0
