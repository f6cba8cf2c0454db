"""CloudWatch gap: GetMetricData's StartTime and EndTime to the microsecond (docs/EMULATION.md,
CloudWatch).

moto truncates both bounds to the whole second, and refuses the request when they then fall in the same
second ("The parameter StartTime must not equal parameter EndTime"). Under time compression a wall second
is many simulated seconds (100 at time_scale 0.01): the canary analysis' looks, a simulated minute each
(0.6 wall seconds), read data from before their window, missed their window's last part, or failed.

The filler keeps both bounds as given: [StartTime, EndTime). AWS rounds a StartTime less than 15 days old
down to the whole minute; that is deliberately not emulated (docs/EMULATION.md: under time compression a
wall-clock minute holds many simulated minutes, so rounding would pour earlier steps into a step's window).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sluice_cli.sandbox.gaps.base import Gap
from sluice_cli.sandbox.gaps.probes import plain_moto


class _Untruncated(datetime):
    """A bound moto's GetMetricData cannot truncate: it begins with `start_time.replace(microsecond=0)`
    (and the same of end_time), which this datetime answers with itself; every other replace, and all
    arithmetic and comparison, are datetime's."""

    def replace(self, *args: Any, **kwargs: Any) -> Any:
        if not args and kwargs == {"microsecond": 0}:
            return self
        return super().replace(*args, **kwargs)


def _untruncated(moment: datetime) -> _Untruncated:
    return _Untruncated(
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond,
        moment.tzinfo,
    )


class GetMetricDataWindow(Gap):
    """GetMetricData reads [StartTime, EndTime) as given, to the microsecond (see the module doc)."""

    name = "cloudwatch-get-metric-data-window"
    reason = (
        "moto's GetMetricData truncates StartTime and EndTime to the whole second, and refuses a window "
        "within one second"
    )

    def _patch(self) -> None:
        from moto.cloudwatch.models import CloudWatchBackend

        def make(original: Callable[..., Any]) -> Callable[..., Any]:
            def get_metric_data(
                backend: Any,
                queries: list[dict[str, Any]],
                start_time: datetime,
                end_time: datetime,
                scan_by: str = "TimestampAscending",
            ) -> Any:
                return original(backend, queries, _untruncated(start_time), _untruncated(end_time), scan_by)

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
                    {"MetricName": "Calls", "Timestamp": minute + timedelta(seconds=20.3), "Value": 1.0},
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
                StartTime=minute + timedelta(seconds=20.6),  # after the first datum
                EndTime=minute + timedelta(seconds=40.7),  # exclusive, after the second
            )
            return [float(v) for v in answer["MetricDataResults"][0]["Values"]] != [2.0]
