"""CloudWatch gaps: alarm state change events, and metric alarms evaluated from metric data
(docs/EMULATION.md, CloudWatch)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from sluice_cli.sandbox.alarms.evaluator import AlarmEvaluator, Transition
from sluice_cli.sandbox.alarms.judged import JudgedPeriods
from sluice_cli.sandbox.aws_state.cloudwatch import AlarmState, put_alarm_state_change_event
from sluice_cli.sandbox.gaps.base import Gap
from sluice_cli.sandbox.gaps.probes import drain_queue, plain_moto, probe_rule_to_queue, put_probe_alarm
from sluice_cli.sandbox.time_scale import TimeScale, current_time_scale


class AlarmStateChangeEvents(Gap):
    """Puts "CloudWatch Alarm State Change" on the default bus whenever an alarm's state changes.

    Patched at moto's `Alarm.update_state`, the one path every state change takes (SetAlarmState, and
    `set_alarm_state()` above for the sandbox's own evaluation). Only transitions emit, as on AWS:
    setting the state an alarm is already in changes its reason but puts nothing on the bus.
    """

    name = "cloudwatch-alarm-state-change-events"
    reason = "moto changes an alarm's state without putting the 'CloudWatch Alarm State Change' event"

    def __init__(self) -> None:
        super().__init__()
        # called with (alarm, its previous AlarmState) after each transition (serve mode's activity
        # log), on the thread that made it: an observer must return at once
        self.observers: list[Callable[[Any, AlarmState], None]] = []

    def _patch(self) -> None:
        from moto.cloudwatch.models import Alarm

        def make(original: Callable[..., Any]) -> Callable[..., Any]:
            def update_state(alarm: Any, reason: str, reason_data: str, state_value: str) -> None:
                previous = AlarmState.of(alarm)
                original(alarm, reason, reason_data, state_value)
                if alarm.state_value != previous.value:
                    put_alarm_state_change_event(alarm, previous)
                    for observer in list(self.observers):
                        observer(alarm, previous)

            return update_state

        self._apply(Alarm, "update_state", make)

    @classmethod
    def still_present(cls) -> bool:
        with plain_moto() as clients:
            url = probe_rule_to_queue(clients, {"source": ["aws.cloudwatch"]})
            cloudwatch = clients("cloudwatch")
            put_probe_alarm(cloudwatch, ComparisonOperator="GreaterThanOrEqualToThreshold")
            cloudwatch.set_alarm_state(AlarmName="gap-probe", StateValue="ALARM", StateReason="probe")
            state = cloudwatch.describe_alarms(AlarmNames=["gap-probe"])["MetricAlarms"][0]["StateValue"]
            return state == "ALARM" and not drain_queue(clients, url)


# --------------------------------------------------------------------------------------------------
# CloudWatch metric alarm evaluation
# --------------------------------------------------------------------------------------------------
class MetricAlarmEvaluation(Gap):
    """Evaluates every metric alarm from the metric data moto stores, as CloudWatch does, and sets
    state changes with `set_alarm_state` (so `AlarmStateChangeEvents` puts their events on the bus).

    Installing starts `alarms.evaluator.AlarmEvaluator` on a daemon thread; uninstalling stops and joins
    it. It patches nothing of moto. `time_scale` (sandbox seconds per declared second, a number or a
    callable such as the TimeCompression gap's current value) scales alarm periods: a 60 s period is
    evaluated over 60 x time_scale wall seconds of data. `evaluation_interval`: the longest wall time
    between two passes (a pass also runs as each period of an alarm completes). `judged.of(alarm_name)`:
    the alarm's datapoints as evaluated, per period (what a report plots). See the `alarms` package for
    what is evaluated and what is not.
    """

    name = "cloudwatch-metric-alarm-evaluation"
    reason = "moto never evaluates metric alarms: an alarm stays OK whatever data crosses its threshold"

    def __init__(self, time_scale: TimeScale = 1.0, evaluation_interval: float = 1.0) -> None:
        super().__init__()
        if not evaluation_interval > 0:
            raise ValueError(f"evaluation_interval must be > 0, got {evaluation_interval}")
        self.time_scale = time_scale
        self.evaluation_interval = evaluation_interval
        self.evaluator: AlarmEvaluator | None = None  # while installed
        self.judged = JudgedPeriods()  # every alarm's datapoints as judged, kept after the sandbox stops

    def _current_time_scale(self) -> float:
        return current_time_scale(self.time_scale)

    def _patch(self) -> None:
        self.evaluator = AlarmEvaluator(
            time_scale=self._current_time_scale, interval=self.evaluation_interval, judged=self.judged
        )
        self.evaluator.start()

    def _unpatch(self) -> None:
        evaluator, self.evaluator = self.evaluator, None
        if evaluator is not None:
            evaluator.stop()
        super()._unpatch()

    def evaluate_now(self) -> list[Transition]:
        """One evaluation pass at once (the transitions it made); [] when not installed."""
        return [] if self.evaluator is None else self.evaluator.evaluate_now()

    @classmethod
    def still_present(cls) -> bool:
        with plain_moto() as clients:
            cloudwatch = clients("cloudwatch")
            put_probe_alarm(cloudwatch, Threshold=5.0, TreatMissingData="notBreaching")
            now = dt.datetime.now(dt.UTC)
            cloudwatch.put_metric_data(
                Namespace="Probe",
                MetricData=[
                    {"MetricName": "Errors", "Value": 100.0, "Timestamp": now - dt.timedelta(seconds=s)}
                    for s in (70, 90, 110, 130, 150)  # well inside complete minutes, far over 5
                ],
            )
            time.sleep(0.2)
            alarm = cloudwatch.describe_alarms(AlarmNames=["gap-probe"])["MetricAlarms"][0]
            return bool(alarm["StateValue"] != "ALARM")
