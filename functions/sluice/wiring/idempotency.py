"""The S3 upload intakes act once per object version: Powertools idempotency on DynamoDB, the record a
refused delivery reads, and the queue it waits in (RegisterModel, StartBatch, StartRollout)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyItemNotFoundError
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import STATUS_CONSTANTS

from sluice.adapters.clients import client
from sluice.adapters.queues import RetryQueue
from sluice.domain.intake import Upload
from sluice.domain.redelivery import HeldRecord
from sluice.settings import Settings, get_settings


@lru_cache(maxsize=16)
def _persistence(
    table_name: str, endpoint: str | None, access_key_id: str | None
) -> DynamoDBPersistenceLayer:
    return DynamoDBPersistenceLayer(table_name=table_name, boto3_client=client("dynamodb"))


def idempotent_upload(
    function: Callable[[Upload], dict[str, Any]], key_prefix: str, lambda_context: Any
) -> Callable[[Upload], dict[str, Any]]:
    """Wrap an intake so that the same object version (bucket, key, version id, ETag) acts once.

    Powertools idempotency on DynamoDB: a second delivery returns the first result; a failed attempt
    leaves no record, so the platform's retry runs it again. The Lambda context is registered so that
    the INPROGRESS record of an invocation that dies without raising holds the event only until that
    invocation's deadline (sluice.domain.redelivery); meanwhile the same event is refused with
    IdempotencyAlreadyInProgressError.
    """
    settings = get_settings()
    config = _idempotency_config(settings)
    config.register_lambda_context(lambda_context)
    persistence = _persistence(
        settings.idempotency_table, os.environ.get("AWS_ENDPOINT_URL"), os.environ.get("AWS_ACCESS_KEY_ID")
    )

    @idempotent_function(  # type: ignore[untyped-decorator]
        data_keyword_argument="upload", persistence_store=persistence, config=config, key_prefix=key_prefix
    )
    def run(upload: dict[str, Any]) -> dict[str, Any]:
        return function(Upload(**upload))

    return lambda upload: run(upload=asdict(upload))


def held_record(upload: Upload, key_prefix: str) -> HeldRecord | None:
    """The idempotency record of `upload` while it is INPROGRESS; None once it is completed or gone."""
    settings = get_settings()
    persistence = _persistence(
        settings.idempotency_table, os.environ.get("AWS_ENDPOINT_URL"), os.environ.get("AWS_ACCESS_KEY_ID")
    )
    persistence.configure(_idempotency_config(settings), key_prefix=key_prefix)
    try:
        record = persistence.get_record(data=asdict(upload))
    except IdempotencyItemNotFoundError:
        return None
    if record is None or record.status != STATUS_CONSTANTS["INPROGRESS"]:
        return None
    deadline_ms = record.in_progress_expiry_timestamp
    # in milliseconds, read back from DynamoDB as a Decimal
    until = None if deadline_ms is None else datetime.fromtimestamp(int(deadline_ms) / 1000, tz=UTC)
    return HeldRecord(key=record.idempotency_key, in_progress_until=until)


def redelivery_queue(settings: Settings | None = None) -> RetryQueue:
    return RetryQueue((settings or get_settings()).upload_redelivery_queue_url)


def _idempotency_config(settings: Settings) -> IdempotencyConfig:
    return IdempotencyConfig(
        expires_after_seconds=settings.idempotency_ttl_seconds,
        raise_on_no_idempotency_key=True,
        event_key_jmespath="[bucket, key_in_event, version_id, etag]",
    )
