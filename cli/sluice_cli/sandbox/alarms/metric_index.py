"""The metric data moto stores, indexed by series for the alarm evaluator."""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
from collections.abc import Iterable
from typing import Any

SeriesKey = tuple[str, str, frozenset[tuple[str, str]]]


@dataclasses.dataclass(frozen=True, slots=True)
class Sample:
    """One stored datum: a raw value (`raw`, sum = min = max = the value, count 1) or a statistic set."""

    total: float
    minimum: float
    maximum: float
    count: float
    unit: str | None
    raw: bool


def epoch_seconds(moment: Any) -> float | None:
    if isinstance(moment, str):
        try:
            moment = dt.datetime.fromisoformat(moment.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(moment, dt.datetime):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)  # moto keeps naive UTC datetimes
    return float(moment.timestamp())


def series_key(namespace: str, name: str, dimensions: Iterable[Any]) -> SeriesKey:
    """The identity of a metric: namespace, name and the exact set of (dimension name, value)."""
    return (str(namespace), str(name), frozenset((str(d.name), str(d.value)) for d in dimensions or []))


class _Series:
    def __init__(self) -> None:
        self.times: list[float] = []
        self.samples: list[Sample] = []

    def add(self, at: float, sample: Sample) -> None:
        if not self.times or at >= self.times[-1]:
            self.times.append(at)
            self.samples.append(sample)
            return
        index = bisect.bisect_right(self.times, at)
        self.times.insert(index, at)
        self.samples.insert(index, sample)

    def between(self, start: float, end: float) -> list[Sample]:
        return self.samples[bisect.bisect_left(self.times, start) : bisect.bisect_left(self.times, end)]


class MetricIndex:
    """An incremental index of one moto CloudWatch backend's `metric_data` (an append-only list):
    each refresh reads only what was appended since; a replaced or shorter list (moto reset) rebuilds."""

    def __init__(self) -> None:
        self._source: list[Any] | None = None
        self._seen = 0
        self._series: dict[SeriesKey, _Series] = {}

    def refresh(self, data: list[Any]) -> None:
        if data is not self._source or len(data) < self._seen:
            self._source, self._seen, self._series = data, 0, {}
        end = len(data)
        for datum in data[self._seen : end]:
            self._add(datum)
        self._seen = end

    def _add(self, datum: Any) -> None:
        at = epoch_seconds(getattr(datum, "timestamp", None))
        if at is None:
            return
        unit = getattr(datum, "unit", None)
        if hasattr(datum, "value"):
            value = float(datum.value)
            sample = Sample(value, value, value, 1.0, unit, raw=True)
        else:
            sample = Sample(
                float(datum.sum),
                float(datum.min),
                float(datum.max),
                float(datum.sample_count),
                unit,
                raw=False,
            )
        key = series_key(datum.namespace, datum.name, datum.dimensions)
        self._series.setdefault(key, _Series()).add(at, sample)

    def samples(self, key: SeriesKey, start: float, end: float, unit: str | None = None) -> list[Sample]:
        """The samples of a series with start <= timestamp < end (of `unit` when given)."""
        series = self._series.get(key)
        if series is None:
            return []
        found = series.between(start, end)
        return [s for s in found if s.unit == unit] if unit else found
