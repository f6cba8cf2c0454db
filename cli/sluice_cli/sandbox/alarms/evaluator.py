"""The alarm evaluator: every metric alarm of moto's CloudWatch, evaluated on a thread or on demand."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sluice_cli.sandbox.alarms.decision import evaluate, low_sample_count
from sluice_cli.sandbox.alarms.errors import UnsupportedAlarm
from sluice_cli.sandbox.alarms.judged import JudgedDatapoint, JudgedPeriods
from sluice_cli.sandbox.alarms.metric_index import MetricIndex, epoch_seconds
from sluice_cli.sandbox.alarms.producers import data_moment, data_written_through
from sluice_cli.sandbox.alarms.spec import COMPARISONS, AlarmSpec
from sluice_cli.sandbox.alarms.windows import (
    Datapoint,
    alarm_datapoints,
    next_evaluation,
    period_seconds,
    window,
)
from sluice_cli.sandbox.aws_state.cloudwatch import set_alarm_state
from sluice_cli.sandbox.time_scale import TimeScale, current_time_scale

log = logging.getLogger(__name__)


INITIAL_REASON = "Unchecked: Initial alarm creation"  # moto's reason of a new alarm
MIN_SLEEP_SECONDS = 0.02


@dataclasses.dataclass(frozen=True)
class Transition:
    """A state change the evaluator made."""

    at: float
    account_id: str
    region: str
    alarm_name: str
    previous: str
    state: str
    reason: str


@dataclasses.dataclass
class _Track:
    alarm_id: int
    state: str
    updated: Any
    from_data: bool
    hold_until: float


def _moto_backends() -> Iterator[tuple[str, str, Any]]:
    from moto.cloudwatch.models import cloudwatch_backends

    for account_id, regions in list(dict.items(cloudwatch_backends)):
        for region, backend in list(dict.items(regions)):
            yield account_id, region, backend


class AlarmEvaluator:
    """Evaluates every metric alarm of moto's CloudWatch on a thread (`start()` / `stop()`), or once
    with `evaluate_now()`.

    `time_scale`: sandbox seconds per declared second (a number, or a callable read at every pass, e.g.
    the TimeCompression gap's); `interval`: the longest wall time between passes (the evaluator also
    wakes when a period of an alarm completes); `clock`: wall-clock epoch seconds. `judged` keeps every
    alarm's datapoints as they were judged (`JudgedPeriods.of(alarm_name)`).
    """

    def __init__(
        self,
        *,
        time_scale: TimeScale = 1.0,
        interval: float = 1.0,
        clock: Callable[[], float] = time.time,
        backends: Callable[[], Iterable[tuple[str, str, Any]]] = _moto_backends,
        judged: JudgedPeriods | None = None,
    ) -> None:
        if not interval > 0:
            raise ValueError(f"interval must be > 0, got {interval}")
        self._time_scale = time_scale
        self.interval = interval
        self.clock = clock
        self.backends = backends
        self.transitions: list[Transition] = []
        self.judged = judged if judged is not None else JudgedPeriods()
        self._indexes: dict[tuple[str, str], MetricIndex] = {}
        self._tracks: dict[str, _Track] = {}
        self._warned: set[tuple[str, str]] = set()
        self._pass_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_due = math.inf

    @property
    def time_scale(self) -> float:
        return current_time_scale(self._time_scale)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sandbox-alarm-evaluator", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.evaluate_now()
            except Exception:  # one bad pass must not end the evaluation
                log.exception("sandbox alarm evaluation failed")
            now = self.clock()
            delay = min(self.interval, max(self._next_due - now, MIN_SLEEP_SECONDS))
            self._stop.wait(delay)

    def evaluate_now(self) -> list[Transition]:
        """One pass over every metric alarm; the transitions it made."""
        with self._pass_lock:
            return self._pass()

    def _pass(self) -> list[Transition]:
        now = self.clock()
        written = data_written_through()  # before reading the data: what it covers is in
        scale = self.time_scale
        made: list[Transition] = []
        seen: set[str] = set()
        next_due = math.inf
        for account_id, region, backend in self.backends():
            index = self._indexes.setdefault((account_id, region), MetricIndex())
            index.refresh(backend.metric_data)
            for alarm in list(backend.alarms.values()):
                arn = str(alarm.alarm_arn)
                seen.add(arn)
                try:
                    spec = AlarmSpec.of(alarm)
                except UnsupportedAlarm as unsupported:
                    self._warn_once(arn, str(unsupported))
                    continue
                wall = period_seconds(spec, scale)
                data_now = data_moment(now, written, wall)
                transition = self._evaluate_one(account_id, region, alarm, spec, index, now, scale, data_now)
                if transition is not None:
                    made.append(transition)
                next_due = min(next_due, next_evaluation(spec, now, scale))
                if data_now < now and window(spec, data_now, scale) != window(spec, now, scale):
                    next_due = min(next_due, now + min(self.interval, wall / 10))  # data is on its way
                hold_until = self._tracks[arn].hold_until
                if hold_until > now:
                    next_due = min(next_due, hold_until)
        for arn in set(self._tracks) - seen:
            del self._tracks[arn]
        self._next_due = next_due
        self.transitions.extend(made)
        return made

    def _warn_once(self, arn: str, message: str) -> None:
        if (arn, message) not in self._warned:
            self._warned.add((arn, message))
            log.warning("sandbox: alarm %s is not evaluated: %s", arn, message)

    def _track(self, alarm: Any, now: float, wall_period: float) -> _Track:
        """What the evaluator knows of the alarm's state. A state set from outside (SetAlarmState) is
        held for one period from when it was set: CloudWatch evaluates again only at its next period,
        so a state set by hand is never flipped at once. A new alarm (moto's initial OK, "Unchecked")
        is evaluated at once."""
        arn = str(alarm.alarm_arn)
        track = self._tracks.get(arn)
        updated = alarm.state_updated_timestamp
        if (
            track is None
            or track.alarm_id != id(alarm)
            or (track.state, track.updated) != (alarm.state_value, updated)
        ):
            hold_until = 0.0
            if not str(alarm.state_reason or "").startswith(INITIAL_REASON):
                set_at = epoch_seconds(updated)
                hold_until = (set_at if set_at is not None and set_at <= now else now) + wall_period
            track = _Track(id(alarm), alarm.state_value, updated, False, hold_until)
            self._tracks[arn] = track
        return track

    def _evaluate_one(
        self,
        account_id: str,
        region: str,
        alarm: Any,
        spec: AlarmSpec,
        index: MetricIndex,
        now: float,
        scale: float,
        data_now: float,
    ) -> Transition | None:
        track = self._track(alarm, now, period_seconds(spec, scale))
        if now < track.hold_until:
            return None
        try:
            datapoints = alarm_datapoints(spec, index, data_now, scale)
        except UnsupportedAlarm as unsupported:
            self._warn_once(str(alarm.alarm_arn), str(unsupported))
            return None
        current = str(alarm.state_value)
        evaluation = evaluate(
            spec,
            datapoints,
            current=current,
            state_from_data=track.from_data,
            now=now,
            time_scale=scale,
            low_sample=low_sample_count(spec, datapoints),
        )
        self._record(account_id, region, spec, datapoints, scale, evaluation.state or current, now)
        if evaluation.state is None:
            return None
        if evaluation.state == current:
            track.from_data = True  # the data confirms the state: it is a data state now
            return None
        if (alarm.state_value, alarm.state_updated_timestamp) != (track.state, track.updated):
            return None  # changed from outside during this pass: look again next time
        try:
            set_alarm_state(
                account_id,
                region,
                spec.name,
                evaluation.state,
                evaluation.reason,
                json.dumps(evaluation.reason_data, separators=(",", ":")),
            )
        except Exception as exc:  # deleted meanwhile, or moto refused
            log.debug("alarm %s: state not set: %s", spec.name, exc)
            return None
        track.state, track.updated = alarm.state_value, alarm.state_updated_timestamp
        track.from_data = True
        log.info("alarm %s: %s -> %s (%s)", spec.name, current, evaluation.state, evaluation.reason)
        return Transition(now, account_id, region, spec.name, current, evaluation.state, evaluation.reason)

    def _record(
        self,
        account_id: str,
        region: str,
        spec: AlarmSpec,
        datapoints: list[Datapoint],
        scale: float,
        state: str,
        now: float,
    ) -> None:
        compare = COMPARISONS[spec.comparison][0]
        wall = period_seconds(spec, scale)
        self.judged.record(
            account_id,
            region,
            [
                JudgedDatapoint(
                    alarm=spec.name,
                    start=point.start,
                    seconds=wall,
                    period=spec.period,
                    value=point.value,
                    threshold=spec.threshold,
                    breaching=point.value is not None and compare(point.value, spec.threshold),
                    state=state,
                    judged_at=now,
                )
                for point in datapoints
            ],
        )

    def __enter__(self) -> AlarmEvaluator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
