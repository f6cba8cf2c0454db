"""RegisterModel's services: S3, the registry, notifications, SageMaker."""

from __future__ import annotations

from sluice.adapters.notifications import Notifier
from sluice.adapters.registry import RegistryStore
from sluice.adapters.s3 import S3ObjectStore
from sluice.adapters.sagemaker import SageMakerGateway
from sluice.domain.multi_model import MultiModelServices
from sluice.settings import Settings, get_settings
from sluice.wiring.limits import archive_limits


def multi_model_services(settings: Settings | None = None) -> MultiModelServices:
    settings = settings or get_settings()
    return MultiModelServices(
        store=S3ObjectStore(),
        registry=RegistryStore(settings.registry_table),
        notifier=Notifier(settings.notification_topic_arn, settings.event_bus_name),
        sagemaker=SageMakerGateway(),
        limits=archive_limits(settings),
    )
