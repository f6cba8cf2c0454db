"""The rollout functions' services (RolloutStep, StartRollout): every port a rollout runs on."""

from __future__ import annotations

from sluice.adapters.autoscaling import AutoscalingGateway
from sluice.adapters.clock import MonotonicClock
from sluice.adapters.cloudwatch import AlarmGateway
from sluice.adapters.metrics import VariantMetrics
from sluice.adapters.notifications import Notifier
from sluice.adapters.registry import RegistryStore
from sluice.adapters.rollouts import RolloutStore
from sluice.adapters.s3 import S3ObjectStore
from sluice.adapters.sagemaker import EndpointGateway
from sluice.adapters.stepfunctions import StepFunctionsGateway
from sluice.domain.deploy_config import default_allowed_registries
from sluice.domain.rollout.polling import EndpointPolling
from sluice.domain.rollout.services import RolloutServices
from sluice.settings import Settings, get_settings
from sluice.wiring.limits import archive_limits


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
        metrics=VariantMetrics(),
        autoscaling=AutoscalingGateway(),
        workflow=StepFunctionsGateway(),
        state_machine_arn=settings.rollout_state_machine_arn,
        execution_role_arn=settings.sagemaker_execution_role_arn,
        allowed_registries=configured or default_allowed_registries(account, region),
        limits=archive_limits(settings),
        polling=EndpointPolling(
            MonotonicClock(),
            interval=settings.endpoint_poll_interval_seconds,
            budget=settings.endpoint_poll_budget_seconds,
        ).within(seconds_left),
    )
