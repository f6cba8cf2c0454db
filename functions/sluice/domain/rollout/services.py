"""The services (ports) every rollout use case runs on."""

from __future__ import annotations

from dataclasses import dataclass

from sluice.domain.artifact import ArchiveLimits
from sluice.domain.intake import IntakeServices
from sluice.domain.ports import AlarmPort, AutoscalingPort, EndpointPort, RolloutStorePort, WorkflowPort


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
