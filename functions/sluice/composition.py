"""Wiring: the adapters behind the domain's ports, built from the settings of this cold start."""

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

from sluice.adapters.autoscaling import AutoscalingGateway
from sluice.adapters.clients import client
from sluice.adapters.clock import MonotonicClock
from sluice.adapters.cloudwatch import AlarmGateway
from sluice.adapters.notifications import Notifier
from sluice.adapters.queues import RetryQueue
from sluice.adapters.registry import RegistryStore
from sluice.adapters.rollouts import RolloutStore
from sluice.adapters.s3 import S3ObjectStore
from sluice.adapters.sagemaker import EndpointGateway, SageMakerGateway
from sluice.adapters.stepfunctions import StepFunctionsGateway
from sluice.domain.artifact import ArchiveLimits
from sluice.domain.batch_intake import BatchServices
from sluice.domain.deploy_config import default_allowed_registries
from sluice.domain.intake import Upload
from sluice.domain.multi_model import MultiModelServices
from sluice.domain.redelivery import HeldRecord
from sluice.domain.rollout.polling import EndpointPolling
from sluice.domain.rollout.services import RolloutServices
from sluice.settings import Settings, get_settings


def multi_model_services(settings: Settings | None = None) -> MultiModelServices:
    settings = settings or get_settings()
    return MultiModelServices(
        store=S3ObjectStore(),
        registry=RegistryStore(settings.registry_table),
        notifier=Notifier(settings.notification_topic_arn, settings.event_bus_name),
        sagemaker=SageMakerGateway(),
        limits=_limits(settings),
    )


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


def batch_services(settings: Settings | None = None) -> BatchServices:
    settings = settings or get_settings()
    return BatchServices(
        store=S3ObjectStore(),
        registry=RegistryStore(settings.registry_table),
        notifier=Notifier(settings.notification_topic_arn, settings.event_bus_name),
        sagemaker=SageMakerGateway(),
        retry_queue=RetryQueue(settings.batch_retry_queue_url),
        default_instance_type=settings.batch_default_instance_type,
        max_start_attempts=settings.batch_max_start_attempts,
    )


def rollout_services(
    settings: Settings | None = None, *, seconds_left: float | None = None
) -> RolloutServices:
    """`seconds_left`: the invocation's remaining time (Lambda context), which bounds ReadEndpoint's
    polling."""
    settings = settings or get_settings()
    arn_parts = settings.rollout_state_machine_arn.split(":")
    region, account = (arn_parts[3], arn_parts[4]) if len(arn_parts) > 5 else ("us-east-1", "")
    configured = tuple(p.strip() for p in settings.allowed_image_registries.split(",") if p.strip())
    return RolloutServices(
        store=S3ObjectStore(),
        registry=RegistryStore(settings.registry_table),
        notifier=Notifier(settings.notification_topic_arn, settings.event_bus_name),
        rollouts=RolloutStore(settings.registry_table),
        endpoints=EndpointGateway(),
        alarms=AlarmGateway(),
        autoscaling=AutoscalingGateway(),
        workflow=StepFunctionsGateway(),
        state_machine_arn=settings.rollout_state_machine_arn,
        execution_role_arn=settings.sagemaker_execution_role_arn,
        allowed_registries=configured or default_allowed_registries(account, region),
        limits=_limits(settings),
        polling=EndpointPolling(
            MonotonicClock(),
            interval=settings.endpoint_poll_interval_seconds,
            budget=settings.endpoint_poll_budget_seconds,
        ).within(seconds_left),
    )


def _limits(settings: Settings) -> ArchiveLimits:
    return ArchiveLimits(
        max_members=settings.max_archive_members,
        max_uncompressed_bytes=settings.max_uncompressed_bytes,
        max_compression_ratio=settings.max_compression_ratio,
    )
