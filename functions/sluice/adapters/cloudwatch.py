"""Amazon CloudWatch: the rollout's alarms, and the user's alarms that invoke step-scaling policies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from sluice.adapters.clients import client, error_code, error_message
from sluice.errors import RefusedRequest

# PutMetricAlarm refused for what it holds (CloudWatch's Query-protocol error codes).
REFUSED = frozenset(
    {"InvalidParameterValue", "InvalidParameterCombination", "MissingParameter", "LimitExceeded"}
)


@dataclass(frozen=True)
class AlarmState:
    name: str
    state: str
    reason: str


class AlarmGateway:
    def __init__(self, cloudwatch_client: Any | None = None) -> None:
        self._client = cloudwatch_client

    @property
    def cloudwatch(self) -> Any:
        return self._client or client("cloudwatch")

    def put_alarm(self, request: dict[str, Any]) -> None:
        self.cloudwatch.put_metric_alarm(**request)

    def delete_alarms(self, names: list[str]) -> None:
        for start in range(0, len(names), 100):
            if names[start : start + 100]:
                self.cloudwatch.delete_alarms(AlarmNames=names[start : start + 100])

    def states(self, names: list[str]) -> list[AlarmState]:
        """Current state of each named alarm that exists (metric and composite alarms).

        DescribeAlarms takes at most 100 names and answers at most MaxRecords (default 50) alarms per
        page, with a NextToken for the rest (DescribeAlarms API reference): every page is read."""
        found: list[AlarmState] = []
        pages = self.cloudwatch.get_paginator("describe_alarms")
        for start in range(0, len(names), 100):
            chunk = names[start : start + 100]
            if not chunk:
                continue
            for page in pages.paginate(AlarmNames=chunk, AlarmTypes=["MetricAlarm", "CompositeAlarm"]):
                for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
                    found.append(
                        AlarmState(alarm["AlarmName"], alarm["StateValue"], alarm.get("StateReason", ""))
                    )
        return found

    def firing(self, names: list[str]) -> list[AlarmState]:
        """The named alarms in ALARM now (filtered here: DescribeAlarms ignores StateValue given names)."""
        return [alarm for alarm in self.states(names) if alarm.state == "ALARM"]

    def alarm_requests(self, names: list[str]) -> list[dict[str, Any]]:
        """Each named metric alarm that exists as the PutMetricAlarm request that makes it again: the fields
        of its description that PutMetricAlarm accepts (botocore's service model), so an update keeps
        everything (PutMetricAlarm "completely overwrites the previous configuration"; Tags are not
        described, and an update leaves them as they are)."""
        accepted = self.cloudwatch.meta.service_model.operation_model("PutMetricAlarm").input_shape.members
        requests: list[dict[str, Any]] = []
        pages = self.cloudwatch.get_paginator("describe_alarms")
        for start in range(0, len(names), 100):
            chunk = names[start : start + 100]
            if not chunk:
                continue
            for page in pages.paginate(AlarmNames=chunk, AlarmTypes=["MetricAlarm"]):
                requests += [
                    {k: v for k, v in alarm.items() if k in accepted}
                    for alarm in page.get("MetricAlarms", [])
                ]
        return requests

    def update_alarm(self, request: dict[str, Any]) -> None:
        """PutMetricAlarm of an alarm that exists; RefusedRequest when CloudWatch refuses what it holds."""
        try:
            self.cloudwatch.put_metric_alarm(**request)
        except ClientError as exc:
            if error_code(exc) in REFUSED:
                raise RefusedRequest(error_code(exc), error_message(exc)) from exc
            raise
