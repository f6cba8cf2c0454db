"""An alarm's evaluation window: its periods in wall time at the sandbox's time scale, and its datapoints."""

from __future__ import annotations

import dataclasses
import math

from sluice_cli.sandbox.alarms.errors import ExpressionError
from sluice_cli.sandbox.alarms.metric_index import MetricIndex
from sluice_cli.sandbox.alarms.metric_math import (
    Series,
    broadcast,
    evaluate_expression,
    expression_references,
)
from sluice_cli.sandbox.alarms.spec import AlarmSpec
from sluice_cli.sandbox.alarms.statistics import statistic_value

MAX_SETTLE_SECONDS = 1.0


@dataclasses.dataclass(frozen=True)
class Datapoint:
    """One period of the evaluation window: its start (wall-clock epoch seconds) and value."""

    start: float
    value: float | None
    sample_count: float = 0.0


def period_seconds(spec: AlarmSpec, time_scale: float) -> float:
    """Wall-clock seconds of one of the alarm's periods at `time_scale` sandbox seconds per second."""
    return spec.period * time_scale


def settle_seconds(wall_period: float) -> float:
    """How long after a period's end the evaluator waits for its last data."""
    return min(wall_period / 2.0, MAX_SETTLE_SECONDS)


def window(spec: AlarmSpec, now: float, time_scale: float) -> list[float]:
    """Start times (wall-clock epoch seconds) of the N most recent completed periods, oldest first."""
    wall = period_seconds(spec, time_scale)
    last = math.floor((now - settle_seconds(wall)) / wall) - 1
    return [(last - i) * wall for i in range(spec.evaluation_periods - 1, -1, -1)]


def next_evaluation(spec: AlarmSpec, now: float, time_scale: float) -> float:
    """When the next of the alarm's periods will count as completed."""
    wall = period_seconds(spec, time_scale)
    settle = settle_seconds(wall)
    return (math.floor((now - settle) / wall) + 1) * wall + settle


def alarm_datapoints(spec: AlarmSpec, index: MetricIndex, now: float, time_scale: float) -> list[Datapoint]:
    """The alarm's series over its evaluation window (oldest first)."""
    starts = window(spec, now, time_scale)
    wall = period_seconds(spec, time_scale)
    values: dict[str, Series] = {}
    counts: dict[str, tuple[float, ...]] = {}
    for query in spec.queries:
        if query.key is None:
            continue
        assert query.statistic is not None
        column: list[float | None] = []
        column_counts: list[float] = []
        for start in starts:
            samples = index.samples(query.key, start, start + wall, query.unit)
            column.append(statistic_value(samples, query.statistic))
            column_counts.append(sum(s.count for s in samples))
        values[query.id] = tuple(column)
        counts[query.id] = tuple(column_counts)
    resolving: set[str] = set()
    expressions = {q.id: q.expression for q in spec.queries if q.expression is not None}

    def resolve(query_id: str) -> Series:
        if query_id in values:
            return values[query_id]
        if query_id not in expressions:
            raise ExpressionError(f"unknown id {query_id!r} in metric math")
        if query_id in resolving:
            raise ExpressionError(f"metric math refers to itself through {query_id!r}")
        resolving.add(query_id)
        node = expressions[query_id]
        assert node is not None
        needed = {ref: resolve(ref) for ref in expression_references(node)}
        values[query_id] = broadcast(evaluate_expression(node, needed, len(starts)), len(starts))
        return values[query_id]

    series = resolve(spec.result)
    sample_counts = counts.get(spec.result, (0.0,) * len(starts))
    return [Datapoint(s, v, c) for s, v, c in zip(starts, series, sample_counts, strict=True)]
