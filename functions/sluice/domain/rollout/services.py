"""The services (ports) every rollout use case runs on."""

from __future__ import annotations

from dataclasses import dataclass, field

from sluice.domain.artifact import ArchiveLimits
from sluice.domain.intake import IntakeServices
from sluice.domain.ports import (
    AlarmPort,
    AutoscalingPort,
    EndpointPort,
    MetricsPort,
    RolloutStorePort,
    WorkflowPort,
)
from sluice.domain.rollout.polling import EndpointPolling


@dataclass(frozen=True)
class RolloutServices(IntakeServices):
    rollouts: RolloutStorePort
    endpoints: EndpointPort
    alarms: AlarmPort
    autoscaling: AutoscalingPort
    workflow: WorkflowPort
    state_machine_arn: str
    execution_role_arn: str
    allowed_registries: tuple[str, ...]
    limits: ArchiveLimits
    # The canary analysis' reads (GetMetricData); None only where no rollout step runs.
    metrics: MetricsPort | None = None
    # How ReadEndpoint waits within its invocation (the default: one read, no waiting).
    polling: EndpointPolling = field(default_factory=EndpointPolling)
