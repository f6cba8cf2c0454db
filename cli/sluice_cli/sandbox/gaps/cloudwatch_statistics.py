"""CloudWatch gap: GetMetricData's extended statistics, computed from the raw values (docs/EMULATION.md,
CloudWatch).

CloudWatch answers percentiles `pNN.NN` and the percentile rank `PR(lower:upper)` ("PR(:300) returns the
percentage of data points that have a value of 300 or less"; "the lower bound is exclusive and the upper
bound inclusive": Statistics definitions, CloudWatch User Guide) for metrics published as raw values.
"Percentile statistics are not available for metrics when any of the metric values are negative numbers",
and for data published as statistic sets only when SampleCount is 1 or Minimum equals Maximum
(GetMetricStatistics API reference). moto answers only Sum, Average, Minimum, Maximum and SampleCount;
for any other Stat its datapoint is None, which the response cannot serialize. The canary analysis
(issue 11) reads the candidate's latency as counts through PR and the baseline's bound as a percentile.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from sluice_cli.sandbox.alarms.statistics import percentile, percentile_rank
from sluice_cli.sandbox.gaps.base import Gap
from sluice_cli.sandbox.gaps.probes import plain_moto

_RANK = re.compile(r"^PR\((?P<lower>[0-9.]*):(?P<upper>[0-9.]*)\)$")


def rank_bounds(statistic: str) -> tuple[float | None, float | None] | None:
    """(lower, upper) of `PR(lower:upper)` (either may be left out), or None for another statistic."""
    match = _RANK.match(statistic or "")
    if not match or (not match["lower"] and not match["upper"]):
        return None
    return (
        float(match["lower"]) if match["lower"] else None,
        float(match["upper"]) if match["upper"] else None,
    )


def share_within(values: Sequence[float], lower: float | None, upper: float | None) -> float | None:
    """The percentage of `values` above `lower` (exclusive) and at most `upper` (inclusive)."""
    if not values:
        return None
    inside = sum(1 for v in values if (lower is None or v > lower) and (upper is None or v <= upper))
    return 100.0 * inside / len(values)


def extended_statistic(values: Sequence[float], statistic: str) -> float | None:
    """`pNN.NN` or `PR(a:b)` over raw values as CloudWatch answers it; None: no datapoint (no raw values,
    a negative value) or not an extended statistic the sandbox computes."""
    if not values or min(values) < 0:
        return None
    rank = percentile_rank(statistic)
    if rank is not None:
        return percentile(values, rank)
    bounds = rank_bounds(statistic)
    return share_within(values, *bounds) if bounds is not None else None


class GetMetricDataExtendedStatistics(Gap):
    """GetMetricData's MetricStat answers `pNN.NN` and `PR(a:b)` from the raw values of the period
    (PutMetricData's Value or Values/Counts), nearest-rank as the alarm evaluator computes them."""

    name = "cloudwatch-get-metric-data-extended-statistics"
    reason = "moto's GetMetricData answers no percentile or percentile rank (its datapoint is None)"

    def _patch(self) -> None:
        from moto.cloudwatch.models import MetricAggregatedDatum, Statistics

        def make(original: Callable[..., Any]) -> Callable[..., Any]:
            def get_statistics_for_type(statistics: Any, stat: str) -> Any:
                if stat in ("Sum", "Average", "Minimum", "Maximum", "SampleCount"):
                    return original(statistics, stat)
                values = list(statistics.metric_single_values_list)
                for aggregated in statistics.metric_data or []:
                    if isinstance(aggregated, MetricAggregatedDatum):
                        if aggregated.sample_count != 1 and aggregated.min != aggregated.max:
                            return None  # a statistic set CloudWatch cannot take percentiles of
                        values += [aggregated.min] * int(aggregated.sample_count)
                return extended_statistic(values, stat)

            return get_statistics_for_type

        self._apply(Statistics, "get_statistics_for_type", make)

    @classmethod
    def still_present(cls) -> bool:
        from datetime import UTC, datetime, timedelta

        with plain_moto() as clients:
            cloudwatch = clients("cloudwatch")
            now = datetime.now(UTC).replace(second=0, microsecond=0)
            cloudwatch.put_metric_data(
                Namespace="GapProbe",
                MetricData=[
                    {"MetricName": "Latency", "Timestamp": now, "Values": [float(v) for v in range(1, 11)]}
                ],
            )
            metric = {"Namespace": "GapProbe", "MetricName": "Latency"}
            try:
                answer = cloudwatch.get_metric_data(
                    MetricDataQueries=[
                        {"Id": "p90", "MetricStat": {"Metric": metric, "Period": 60, "Stat": "p90"}},
                        {"Id": "pr", "MetricStat": {"Metric": metric, "Period": 60, "Stat": "PR(:5)"}},
                    ],
                    StartTime=now - timedelta(minutes=1),
                    EndTime=now + timedelta(minutes=1),
                )
            except Exception:  # moto cannot serialize the None datapoint
                return True
            values = {r["Id"]: r["Values"] for r in answer["MetricDataResults"]}
            return values != {"p90": [9.0], "pr": [50.0]}
