"""The alarm handler's event model against the sample event (events/cloudwatch_alarm_state_change.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from sluice.models.alarm_events import AlarmStateChangeEvent

SAMPLE = Path(__file__).resolve().parents[2] / "events" / "cloudwatch_alarm_state_change.json"


def test_the_sample_alarm_state_change_parses() -> None:
    detail = AlarmStateChangeEvent.model_validate(json.loads(SAMPLE.read_text())).detail
    assert detail.alarmName == "sluice-churn-v3-errors"
    assert detail.state.value == "ALARM"
    assert detail.state.reason.startswith("Threshold Crossed: 1 out of the last 1 datapoints [0.08")
    assert detail.previousState is not None
    assert detail.previousState.value == "OK"


def test_another_detail_type_is_refused() -> None:
    event = {**json.loads(SAMPLE.read_text()), "detail-type": "Object Created"}
    with pytest.raises(ValidationError):
        AlarmStateChangeEvent.model_validate(event)
