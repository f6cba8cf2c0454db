"""The batch functions' services (StartBatch, RetryBatchStart, BatchJobState)."""

from __future__ import annotations

from sluice.adapters.notifications import Notifier
from sluice.adapters.queues import RetryQueue
from sluice.adapters.registry import RegistryStore
from sluice.adapters.s3 import S3ObjectStore
from sluice.adapters.sagemaker import SageMakerGateway
from sluice.domain.batch_intake import BatchServices
from sluice.settings import Settings, get_settings


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
        input_buckets=settings.batch_input_bucket_names,
    )
