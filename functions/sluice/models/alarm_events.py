"""EventBridge "CloudWatch Alarm State Change" (AlarmState)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sluice.models.eventbridge import EventBridgeModel


class AlarmState(BaseModel):
    """`detail.state` / `detail.previousState` of a "CloudWatch Alarm State Change"."""

    model_config = ConfigDict(extra="allow")

    value: str
    reason: str = ""
    timestamp: str | None = None


class AlarmStateChangeDetail(BaseModel):
    model_config = ConfigDict(extra="allow")

    alarmName: str
    state: AlarmState
    previousState: AlarmState | None = None


class AlarmStateChangeEvent(EventBridgeModel):
    """EventBridge "CloudWatch Alarm State Change" (source aws.cloudwatch)."""

    detail: AlarmStateChangeDetail
    detail_type: Literal["CloudWatch Alarm State Change"] = Field(alias="detail-type")
