"""What the evaluator judged, per alarm and period: the series CloudWatch compares with the threshold.

CloudWatch shows it as the alarm's graph (GetMetricData with the alarm's Metrics and Period); the
sandbox cannot ask GetMetricData for a compressed period (0.6 s of wall time for a 60 s period at
x100), so the evaluator keeps what it judged, and a report plots exactly that. Kept after the alarm is
deleted (a rollout deletes its alarms when it ends), bounded per alarm and in the number of alarms.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict

MAX_PERIODS_PER_ALARM = 10_000
MAX_ALARMS = 500


@dataclasses.dataclass(frozen=True)
class JudgedDatapoint:
    """One period of an alarm as its last evaluation saw it (wall-clock epoch seconds)."""

    alarm: str
    start: float
    seconds: float  # the period in wall seconds (Period x time_scale)
    period: int  # the alarm's declared Period
    value: float | None  # None: a missing datapoint
    threshold: float
    breaching: bool
    state: str  # the state that evaluation decided (the alarm's current one when it kept it)
    judged_at: float  # when it was first judged (a period is judged once its data is in: late under load)

    @property
    def end(self) -> float:
        return self.start + self.seconds


class JudgedPeriods:
    """Every alarm's judged datapoints, by (account, region, alarm name), newest evaluation wins."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._alarms: OrderedDict[tuple[str, str, str], dict[float, JudgedDatapoint]] = OrderedDict()

    def record(self, account_id: str, region: str, points: list[JudgedDatapoint]) -> None:
        if not points:
            return
        key = (account_id, region, points[0].alarm)
        with self._lock:
            periods = self._alarms.setdefault(key, {})
            self._alarms.move_to_end(key)
            for point in points:
                earlier = periods.get(point.start)
                if earlier is not None and earlier.judged_at < point.judged_at:
                    point = dataclasses.replace(point, judged_at=earlier.judged_at)
                periods[point.start] = point
            while len(periods) > MAX_PERIODS_PER_ALARM:
                del periods[min(periods)]
            while len(self._alarms) > MAX_ALARMS:
                self._alarms.popitem(last=False)

    def of(
        self, alarm: str, *, account_id: str | None = None, region: str | None = None
    ) -> list[JudgedDatapoint]:
        """The alarm's judged periods, oldest first (every account and region unless told)."""
        with self._lock:
            found = [
                point
                for (account, where, name), periods in self._alarms.items()
                if name == alarm
                and (account_id is None or account == account_id)
                and (region is None or where == region)
                for point in periods.values()
            ]
        return sorted(found, key=lambda p: p.start)
