"""CloudWatch gap: GetMetricData's StartTime and EndTime on the sandbox's clock (docs/EMULATION.md,
CloudWatch).

CloudWatch rounds a StartTime less than 15 days ago down to the whole minute, and EndTime is exclusive
(GetMetricData API reference, StartTime: "Start time less than 15 days ago - Round down to the nearest
whole minute. For example, 12:32:34 is rounded down to 12:32:00."). moto truncates both to the whole
second instead, and refuses the request when they then fall in the same second ("The parameter StartTime
must not equal parameter EndTime"). Under time compression a wall second is many simulated seconds (100
at time_scale 0.01): the canary analysis' looks, a simulated minute each (0.6 wall seconds), read data
from before their window, miss their window's last part, or fail outright.

The filler rounds StartTime down to the whole *sandbox* minute (60 x time_scale wall seconds, on the
epoch-aligned boundaries the alarm evaluator's periods use; at time_scale 1 exactly CloudWatch's minute)
and keeps EndTime as given. A StartTime 15 days or more ago is left to moto.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sluice_cli.sandbox.gaps.base import Gap
from sluice_cli.sandbox.gaps.probes import plain_moto
from sluice_cli.sandbox.time_scale import TimeScale, current_time_scale

MINUTE_SECONDS = 60
ROUNDED_TO_THE_MINUTE = timedelta(days=15)  # older StartTimes round to 5 minutes, then to the hour


class _Unrounded(datetime):
    """A datetime moto's `replace(microsecond=0)` leaves as it is (the window, already on the sandbox's
    clock); every other replace, and arithmetic, as datetime's."""

    def replace(self, *args: Any, **kwargs: Any) -> Any:
        if not args and kwargs == {"microsecond": 0}:
            return self
        return super().replace(*args, **kwargs)


def _unrounded(moment: datetime) -> _Unrounded:
    return _Unrounded(
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond,
        moment.tzinfo,
    )


def round_down_to_the_minute(moment: datetime, time_scale: float) -> datetime:
    """`moment` rounded down to the sandbox minute (60 x time_scale wall seconds, epoch-aligned)."""
    minute_us = round(MINUTE_SECONDS * time_scale * 1_000_000)
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    since_epoch_us = round((aware - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))
    rounded = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
        microseconds=since_epoch_us - since_epoch_us % minute_us
    )
    return rounded if moment.tzinfo else rounded.replace(tzinfo=None)


class GetMetricDataWindow(Gap):
    """GetMetricData reads [StartTime rounded down to the sandbox minute, EndTime) (see the module doc).
    `time_scale`: sandbox seconds per declared second, a number or a callable (TimeCompression's)."""

    name = "cloudwatch-get-metric-data-window"
    reason = (
        "moto's GetMetricData truncates StartTime and EndTime to the whole second (CloudWatch rounds "
        "StartTime down to the minute and keeps EndTime), and refuses a window within one second"
    )

    def __init__(self, time_scale: TimeScale = 1.0) -> None:
        super().__init__()
        self.time_scale = time_scale

    def _patch(self) -> None:
        from moto.cloudwatch.models import CloudWatchBackend

        gap = self

        def make(original: Callable[..., Any]) -> Callable[..., Any]:
            def get_metric_data(
                backend: Any,
                queries: list[dict[str, Any]],
                start_time: datetime,
                end_time: datetime,
                scan_by: str = "TimestampAscending",
            ) -> Any:
                start_utc = start_time if start_time.tzinfo else start_time.replace(tzinfo=UTC)
                if datetime.now(UTC) - start_utc < ROUNDED_TO_THE_MINUTE:  # moto's times: naive UTC
                    scale = current_time_scale(gap.time_scale)
                    start_time = _unrounded(round_down_to_the_minute(start_time, scale))
                    end_time = _unrounded(end_time)
                return original(backend, queries, start_time, end_time, scan_by)

            return get_metric_data

        self._apply(CloudWatchBackend, "get_metric_data", make)

    @classmethod
    def still_present(cls) -> bool:
        with plain_moto() as clients:
            cloudwatch = clients("cloudwatch")
            minute = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=2)
            cloudwatch.put_metric_data(
                Namespace="GapProbe",
                MetricData=[
                    {"MetricName": "Calls", "Timestamp": minute + timedelta(seconds=5), "Value": 1.0},
                    {"MetricName": "Calls", "Timestamp": minute + timedelta(seconds=40.5), "Value": 2.0},
                ],
            )
            answer = cloudwatch.get_metric_data(
                MetricDataQueries=[
                    {
                        "Id": "calls",
                        "MetricStat": {
                            "Metric": {"Namespace": "GapProbe", "MetricName": "Calls"},
                            "Period": 60,
                            "Stat": "Sum",
                        },
                    }
                ],
                StartTime=minute + timedelta(seconds=20),  # CloudWatch reads from the minute: both
                EndTime=minute + timedelta(seconds=40.7),  # exclusive, after the second datum
            )
            return [float(v) for v in answer["MetricDataResults"][0]["Values"]] != [3.0]
