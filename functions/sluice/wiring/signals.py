"""AlarmState's services: the rollout records (DynamoDB) and the waits of their executions (Step Functions).

Just what a signal acts through (sluice.domain.rollout.signals.SignalServices), not every port of a
rollout: the alarm's path to a rollback is the one cold start that must be short.
"""

from __future__ import annotations

from dataclasses import dataclass

from sluice.adapters.notifications import Notifier
from sluice.adapters.rollouts import RolloutStore
from sluice.adapters.stepfunctions import StepFunctionsGateway
from sluice.settings import Settings, get_settings


@dataclass(frozen=True)
class SignalPorts:
    rollouts: RolloutStore
    workflow: StepFunctionsGateway
    notifier: Notifier


def signal_services(settings: Settings | None = None) -> SignalPorts:
    settings = settings or get_settings()
    return SignalPorts(
        rollouts=RolloutStore(settings.registry_table),
        workflow=StepFunctionsGateway(),
        notifier=Notifier(settings.notification_topic_arn, settings.event_bus_name),
    )
