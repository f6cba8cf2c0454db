"""Amazon CloudWatch: the rollout's alarms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sluice.adapters.clients import client


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
