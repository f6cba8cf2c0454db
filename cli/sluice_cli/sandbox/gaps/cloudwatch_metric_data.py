"""CloudWatch gap: GetMetricData reads only the queried series' data of the window (docs/EMULATION.md,
CloudWatch).

moto's GetMetricData filters every datum the account holds by time, then every datum of the window once
per query and period (`CloudWatchBackend.get_metric_data`). The traffic simulator writes a datum per
metric, variant and simulated second, and moto keeps one datum per ModelLatency value (per invocation:
thousands a wall second at a compressed time scale), so within
minutes each call took seconds, then tens of seconds: the canary analysis' looks (three GetMetricData
calls each) fell minutes behind the bake they judge. CloudWatch answers such a query in milliseconds
whatever else the account holds. The filler answers from only the data of the queried
series in each period, found through an index kept up to date incrementally (as the alarm evaluator's
`MetricIndex`), and aggregates them with moto's own `Statistics`. A series is namespace, name and
dimensions, as in CloudWatch (moto's dimension filter ignores the namespace).
"""

from __future__ import annotations

import bisect
import inspect
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sluice_cli.sandbox.alarms.metric_index import SeriesKey, epoch_seconds, series_key
from sluice_cli.sandbox.gaps.base import Gap


class _DatumSeries:
    def __init__(self) -> None:
        self.times: list[float] = []
        self.data: list[Any] = []

    def add(self, at: float, datum: Any) -> None:
        index = (
            len(self.times) if not self.times or at >= self.times[-1] else bisect.bisect_right(self.times, at)
        )
        self.times.insert(index, at)
        self.data.insert(index, datum)

    def between(self, start: float, end: float) -> list[Any]:
        return self.data[bisect.bisect_left(self.times, start) : bisect.bisect_left(self.times, end)]


class DatumIndex:
    """moto's datum objects of one backend's `metric_data` (an append-only list) by series and time;
    each refresh reads only what was appended since, a replaced or shorter list (moto reset) rebuilds."""

    def __init__(self) -> None:
        self._source: list[Any] | None = None
        self._seen = 0
        self._series: dict[SeriesKey, _DatumSeries] = {}
        self._lock = threading.Lock()

    def between(self, data: list[Any], key: SeriesKey, start: float, end: float) -> list[Any]:
        with self._lock:
            if data is not self._source or len(data) < self._seen:
                self._source, self._seen, self._series = data, 0, {}
            end_of_data = len(data)
            for datum in data[self._seen : end_of_data]:
                at = epoch_seconds(getattr(datum, "timestamp", None))
                if at is not None:
                    self._series.setdefault(
                        series_key(datum.namespace, datum.name, datum.dimensions), _DatumSeries()
                    ).add(at, datum)
            self._seen = end_of_data
            series = self._series.get(key)
            return series.between(start, end) if series else []


def _query_key(query: dict[str, Any]) -> SeriesKey | None:
    """The series a MetricStat query names exactly; None when it names no dimensions (moto then matches
    every series of the metric) or is not a MetricStat."""
    metric = (query.get("MetricStat") or {}).get("Metric") or {}
    dimensions = metric.get("Dimensions") or []
    if not dimensions:
        return None
    return (
        str(metric.get("Namespace")),
        str(metric.get("MetricName")),
        frozenset((str(d["Name"]), str(d["Value"])) for d in dimensions),
    )


class GetMetricDataSeriesIndex(Gap):
    """GetMetricData whose queries are all MetricStats naming their dimensions is answered as moto answers
    it (the same periods, statistics - moto's `Statistics` -, labels, order and validation), from each
    series' own data of each period, found in the index instead of by scanning the account."""

    name = "cloudwatch-get-metric-data-series-index"
    reason = (
        "moto's GetMetricData scans every datum the account holds (and, per query, every datum of the "
        "window): under simulated traffic each look of the canary analysis took seconds, then tens"
    )

    def _patch(self) -> None:
        from moto.cloudwatch.models import CloudWatchBackend, Statistics

        indexes: dict[int, DatumIndex] = {}

        def make(original: Callable[..., Any]) -> Callable[..., Any]:
            def get_metric_data(
                backend: Any,
                queries: list[dict[str, Any]],
                start_time: datetime,
                end_time: datetime,
                scan_by: str = "TimestampAscending",
            ) -> Any:
                keys = [_query_key(query) for query in queries]
                first, last = start_time.replace(microsecond=0), end_time.replace(microsecond=0)
                start, end = epoch_seconds(first), epoch_seconds(last)
                if not keys or None in keys or start is None or end is None or start >= end:
                    return original(backend, queries, start_time, end_time, scan_by)  # moto's own errors
                index = indexes.setdefault(id(backend), DatumIndex())
                answers = []
                for query, key in zip(queries, keys, strict=True):
                    assert key is not None
                    metric_stat = query["MetricStat"]
                    stat, unit = metric_stat["Stat"], metric_stat.get("Unit")
                    delta = timedelta(seconds=int(metric_stat["Period"]))
                    values: list[Any] = []
                    timestamps: list[datetime] = []
                    period_start = first
                    while period_start <= last:
                        low = max(start, epoch_seconds(period_start) or start)
                        high = min(end, epoch_seconds(period_start + delta) or end)
                        data = index.between(backend.metric_data, key, low, high)
                        if unit:
                            data = [datum for datum in data if datum.unit == unit]
                        if data:
                            statistics = Statistics([stat], period_start)
                            statistics.metric_data = data
                            values.append(statistics.get_statistics_for_type(stat))
                            timestamps.append(statistics.timestamp)
                        period_start += delta
                    if scan_by == "TimestampDescending":
                        values.reverse()
                        timestamps.reverse()
                    if query.get("ReturnData", True):
                        answers.append(
                            {
                                "id": query["Id"],
                                "label": query.get("Label")
                                or f"{metric_stat['Metric']['MetricName']} {stat}",
                                "values": values,
                                "timestamps": timestamps,
                                "status_code": "Complete",
                            }
                        )
                return answers

            return get_metric_data

        self._apply(CloudWatchBackend, "get_metric_data", make)

    @classmethod
    def still_present(cls) -> bool:
        """moto's GetMetricData still starts from every datum of the account (its `get_all_metrics`)."""
        from moto.cloudwatch.models import CloudWatchBackend

        return "self.get_all_metrics()" in inspect.getsource(CloudWatchBackend.get_metric_data)
