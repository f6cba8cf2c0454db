"""What evaluating one moto alarm needs (`AlarmSpec`), read from moto's alarm."""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable
from typing import Any

from sluice_cli.sandbox.alarms.errors import UnsupportedAlarm
from sluice_cli.sandbox.alarms.metric_index import SeriesKey, series_key
from sluice_cli.sandbox.alarms.metric_math import Node, parse_expression
from sluice_cli.sandbox.alarms.statistics import STANDARD_STATISTICS, percentile_rank

OK, ALARM, INSUFFICIENT_DATA = "OK", "ALARM", "INSUFFICIENT_DATA"
MISSING_TREATMENTS = frozenset({"missing", "ignore", "breaching", "notBreaching"})
COMPARISONS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanOrEqualToThreshold": (operator.ge, "greater than or equal to"),
    "GreaterThanThreshold": (operator.gt, "greater than"),
    "LessThanThreshold": (operator.lt, "less than"),
    "LessThanOrEqualToThreshold": (operator.le, "less than or equal to"),
}


@dataclasses.dataclass(frozen=True)
class Query:
    """One query of an alarm: a metric with its statistic, or an expression."""

    id: str
    return_data: bool
    key: SeriesKey | None = None
    statistic: str | None = None
    unit: str | None = None
    expression: Node | None = None


@dataclasses.dataclass(frozen=True)
class AlarmSpec:
    """What evaluating one moto alarm needs (`AlarmSpec.of(alarm)`)."""

    name: str
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    threshold: float
    comparison: str
    treat_missing_data: str
    queries: tuple[Query, ...]
    result: str  # the id of the query whose series the alarm compares
    statistic: str | None = None  # single-metric alarms: for StateReasonData
    unit: str | None = None
    ignore_low_sample_percentile: bool = False

    @classmethod
    def of(cls, alarm: Any) -> AlarmSpec:
        if getattr(alarm, "rule", None):
            raise UnsupportedAlarm("composite alarms are not evaluated by the sandbox")
        if getattr(alarm, "threshold_metric_id", None):
            raise UnsupportedAlarm("anomaly detection alarms (ThresholdMetricId) are not evaluated")
        comparison = str(alarm.comparison_operator)
        if comparison not in COMPARISONS:
            raise UnsupportedAlarm(f"ComparisonOperator {comparison} is not evaluated by the sandbox")
        treat = str(alarm.treat_missing_data or "missing")
        if treat not in MISSING_TREATMENTS:
            raise UnsupportedAlarm(f"TreatMissingData {treat!r} is unknown")
        evaluation_periods = int(alarm.evaluation_periods or 1)
        datapoints = int(alarm.datapoints_to_alarm or evaluation_periods)
        if not 1 <= datapoints <= evaluation_periods:
            raise UnsupportedAlarm(f"DatapointsToAlarm {datapoints} outside 1..{evaluation_periods}")
        statistic: str | None = None
        ignore_low = False
        if alarm.metric_data_queries:
            queries, result, period = _math_queries(alarm)
        else:
            statistic = alarm.statistic or alarm.extended_statistic
            if not statistic:
                raise UnsupportedAlarm("the alarm has neither Statistic nor ExtendedStatistic")
            if statistic not in STANDARD_STATISTICS and percentile_rank(statistic) is None:
                raise UnsupportedAlarm(f"statistic {statistic!r} is not evaluated by the sandbox")
            key = series_key(alarm.namespace, alarm.metric_name, alarm.dimensions)
            queries = (Query("m1", True, key=key, statistic=statistic, unit=alarm.unit or None),)
            result, period = "m1", int(alarm.period or 0)
            ignore_low = (
                percentile_rank(statistic) is not None
                and str(alarm.evaluate_low_sample_count_percentile or "").lower() == "ignore"
            )
        if period <= 0:
            raise UnsupportedAlarm("the alarm has no Period")
        return cls(
            name=str(alarm.name),
            period=period,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints,
            threshold=float(alarm.threshold),
            comparison=comparison,
            treat_missing_data=treat,
            queries=queries,
            result=result,
            statistic=statistic,
            unit=alarm.unit or None,
            ignore_low_sample_percentile=ignore_low,
        )


def _returns_data(query: Any) -> bool | None:
    value = query.return_data
    if value is None:
        return None
    return value is True or str(value).lower() == "true"


def _math_queries(alarm: Any) -> tuple[tuple[Query, ...], str, int]:
    queries: list[Query] = []
    periods: set[int] = set()
    for query in alarm.metric_data_queries:
        returns = _returns_data(query)
        stat = query.metric_stat
        if query.expression:
            node = parse_expression(str(query.expression))
            queries.append(Query(str(query.id), returns is not False, expression=node))
        elif stat is not None:
            statistic = str(stat.stat or "")
            if statistic not in STANDARD_STATISTICS and percentile_rank(statistic) is None:
                raise UnsupportedAlarm(f"statistic {statistic!r} is not evaluated by the sandbox")
            key = series_key(stat.metric.namespace, stat.metric.metric_name, stat.metric.dimensions)
            queries.append(
                Query(str(query.id), returns is True, key=key, statistic=statistic, unit=stat.unit or None)
            )
            if stat.period:
                periods.add(int(stat.period))
        else:
            raise UnsupportedAlarm(f"query {query.id!r} has neither MetricStat nor Expression")
        if query.period:
            periods.add(int(query.period))
    returning = [q for q in queries if q.return_data]
    if len(returning) != 1:
        raise UnsupportedAlarm(f"{len(returning)} queries return data; an alarm needs exactly one")
    if alarm.period:
        periods.add(int(alarm.period))
    if len(periods) > 1:
        raise UnsupportedAlarm(f"the alarm's queries have different periods {sorted(periods)}")
    return tuple(queries), returning[0].id, periods.pop() if periods else 0
