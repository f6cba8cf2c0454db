"""The execution-ended handler's event model against the sample event
(events/stepfunctions_execution_status_change.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from sluice.models.execution_events import ExecutionStatusChangeEvent

SAMPLE = Path(__file__).resolve().parents[2] / "events" / "stepfunctions_execution_status_change.json"


def test_the_sample_execution_status_change_names_its_rollout() -> None:
    detail = ExecutionStatusChangeEvent.model_validate(json.loads(SAMPLE.read_text())).detail
    assert (detail.status, detail.name) == ("ABORTED", "fraud-v2-8bc56e")
    assert detail.executionArn.endswith(":execution:sluice-rollout:fraud-v2-8bc56e")
    started = detail.rollout()
    assert (started.endpoint, started.rollout_id) == ("fraud", "20261125T120001Z-v2-8bc56e")


def test_another_detail_type_is_refused() -> None:
    event = {**json.loads(SAMPLE.read_text()), "detail-type": "CloudWatch Alarm State Change"}
    with pytest.raises(ValidationError):
        ExecutionStatusChangeEvent.model_validate(event)


def test_an_execution_without_a_rollout_in_its_input_is_refused() -> None:
    event = json.loads(SAMPLE.read_text())
    event["detail"]["input"] = "{}"
    with pytest.raises(ValidationError):
        ExecutionStatusChangeEvent.model_validate(event).detail.rollout()
