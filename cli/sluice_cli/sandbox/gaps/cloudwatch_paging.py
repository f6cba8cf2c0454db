"""CloudWatch gap: DescribeAlarms answers in pages (docs/EMULATION.md, CloudWatch)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sluice_cli.sandbox.gaps.base import Gap
from sluice_cli.sandbox.gaps.probes import plain_moto, put_probe_alarm

DEFAULT_MAX_RECORDS = 50  # DescribeAlarms API reference: MaxRecords from 1 to 100, default 50


class DescribeAlarmsPaging(Gap):
    """DescribeAlarms answers at most MaxRecords alarms (default 50), by name, with a NextToken for the
    rest, as CloudWatch does (DescribeAlarms API reference). moto answers every alarm at once, so code
    that never follows NextToken looks correct: with more than 50 alarms on AWS it misses some."""

    name = "cloudwatch-describe-alarms-paging"
    reason = "moto's DescribeAlarms ignores MaxRecords and never answers a NextToken"

    def _patch(self) -> None:
        from moto.cloudwatch.exceptions import InvalidParameterValue
        from moto.cloudwatch.responses import CloudWatchResponse
        from moto.core.responses import ActionResult

        def make(original: Callable[..., Any]) -> Callable[..., Any]:
            def describe_alarms(response: Any) -> Any:
                answer = original(response).result
                limit = int(response._get_param("MaxRecords") or DEFAULT_MAX_RECORDS)
                if not 1 <= limit <= 100:
                    raise InvalidParameterValue(f"MaxRecords must be between 1 and 100, got {limit}")
                start = int(response._get_param("NextToken") or 0)
                alarms = sorted(
                    [("MetricAlarms", a) for a in answer["MetricAlarms"]]
                    + [("CompositeAlarms", a) for a in answer["CompositeAlarms"]],
                    key=lambda kind_alarm: str(kind_alarm[1].name),
                )
                page = alarms[start : start + limit]
                result: dict[str, Any] = {
                    "MetricAlarms": [a for kind, a in page if kind == "MetricAlarms"],
                    "CompositeAlarms": [a for kind, a in page if kind == "CompositeAlarms"],
                }
                if start + limit < len(alarms):
                    result["NextToken"] = str(start + limit)
                return ActionResult(result)

            return describe_alarms

        self._apply(CloudWatchResponse, "describe_alarms", make)

    @classmethod
    def still_present(cls) -> bool:
        with plain_moto() as clients:
            cloudwatch = clients("cloudwatch")
            for index in range(DEFAULT_MAX_RECORDS + 1):
                put_probe_alarm(cloudwatch, f"gap-probe-{index:03d}")
            answer = cloudwatch.describe_alarms(AlarmNamePrefix="gap-probe-")
            return len(answer["MetricAlarms"]) > DEFAULT_MAX_RECORDS and "NextToken" not in answer
