"""CloudWatch alarms in moto's backend: their state changes, and the "CloudWatch Alarm State Change"
event as AWS sends it (docs/EMULATION.md, CloudWatch)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import uuid
from typing import Any

log = logging.getLogger(__name__)


ALARM_DETAIL_TYPE = "CloudWatch Alarm State Change"


@dataclasses.dataclass(frozen=True)
class AlarmState:
    """An alarm's state at one moment (what `previousState` of the event reports)."""

    value: str
    reason: str
    reason_data: str | None
    timestamp: dt.datetime

    @classmethod
    def of(cls, alarm: Any) -> AlarmState:
        return cls(
            value=str(alarm.state_value),
            reason=str(alarm.state_reason or ""),
            reason_data=alarm.state_reason_data,
            timestamp=alarm.state_updated_timestamp,
        )

    def as_event_field(self) -> dict[str, Any]:
        field: dict[str, Any] = {"value": self.value, "reason": self.reason}
        if self.reason_data and self.reason_data != "{}":  # moto's "{}" for a new alarm means none
            field["reasonData"] = self.reason_data
        field["timestamp"] = alarm_timestamp(self.timestamp)
        return field


def alarm_timestamp(moment: dt.datetime) -> str:
    """CloudWatch's event timestamps: `2019-10-01T13:56:40.987+0000` (UTC, milliseconds)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}+0000"


def _alarm_metric(metric: Any) -> dict[str, Any]:
    return {
        "dimensions": {str(d.name): str(d.value) for d in metric.dimensions or []},
        "name": metric.metric_name,
        "namespace": metric.namespace,
    }


def alarm_configuration(alarm: Any) -> dict[str, Any]:
    """`detail.configuration` of the event: the description and the alarm's metrics as AWS lists them
    (a single-metric alarm as one metricStat query; metric math as its queries; composite: the rule)."""
    configuration: dict[str, Any] = {}
    if alarm.description:
        configuration["description"] = alarm.description
    if alarm.rule:
        configuration["alarmRule"] = alarm.rule
        return configuration
    metrics: list[dict[str, Any]] = []
    if alarm.metric_data_queries:
        for query in alarm.metric_data_queries:
            entry: dict[str, Any] = {"id": query.id}
            if query.expression:
                entry["expression"] = query.expression
            if query.label:
                entry["label"] = query.label
            stat = query.metric_stat
            if stat is not None:
                entry["metricStat"] = {
                    "metric": _alarm_metric(stat.metric),
                    "period": int(stat.period),
                    "stat": stat.stat,
                    **({"unit": stat.unit} if stat.unit else {}),
                }
            return_data = query.return_data
            entry["returnData"] = return_data is None or str(return_data).lower() == "true"
            metrics.append(entry)
    elif alarm.metric_name:
        from moto.cloudwatch.models import Metric

        metric = Metric(alarm.metric_name, alarm.namespace, alarm.dimensions)
        metrics.append(
            {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, alarm.alarm_arn)),
                "metricStat": {
                    "metric": _alarm_metric(metric),
                    "period": int(alarm.period),
                    "stat": alarm.statistic or alarm.extended_statistic,
                    **({"unit": alarm.unit} if alarm.unit else {}),
                },
                "returnData": True,
            }
        )
    configuration["metrics"] = metrics
    return configuration


def alarm_state_change_detail(alarm: Any, previous: AlarmState) -> dict[str, Any]:
    """`detail` of "CloudWatch Alarm State Change" for `alarm` (moto's Alarm, in its new state)."""
    return {
        "alarmName": alarm.name,
        "state": AlarmState.of(alarm).as_event_field(),
        "previousState": previous.as_event_field(),
        "configuration": alarm_configuration(alarm),
    }


def put_alarm_state_change_event(alarm: Any, previous: AlarmState) -> None:
    """Put the event on the default bus of the alarm's account and region, as CloudWatch does."""
    from moto.events.models import events_backends

    account_id = alarm.alarm_arn.split(":")[4]
    entry = {
        "Source": "aws.cloudwatch",
        "DetailType": ALARM_DETAIL_TYPE,
        "Detail": json.dumps(alarm_state_change_detail(alarm, previous)),
        "Resources": [alarm.alarm_arn],
        "EventBusName": "default",
    }
    try:
        events_backends[account_id][alarm.region_name].put_events([entry])
    except NotImplementedError:  # a rule with a Lambda/SFN target matched (never registered by the sandbox)
        log.exception("alarm %s: state change event not delivered", alarm.name)


def set_alarm_state(
    account_id: str,
    region: str,
    alarm_name: str,
    state_value: str,
    reason: str,
    reason_data: str | None = None,
) -> bool:
    """Change an alarm's state inside the emulator, as CloudWatch's own evaluation does (for the
    sandbox's metric-alarm evaluator): True when the state changed. The event follows from
    `AlarmStateChangeEvents` when it is installed."""
    from moto.cloudwatch.models import cloudwatch_backends

    backend = cloudwatch_backends[account_id][region]
    alarm = backend.alarms.get(alarm_name)
    before = None if alarm is None else alarm.state_value
    backend.set_alarm_state(alarm_name, reason, reason_data, state_value)  # type: ignore[arg-type]
    return bool(before != state_value)
