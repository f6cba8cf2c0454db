"""EventBridge "Step Functions Execution Status Change" (RolloutExecutionEnded).

Step Functions puts one on the default bus whenever a standard workflow's execution changes status
(RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED; Step Functions developer guide, "Automating Step
Functions event delivery with EventBridge"); the rule takes the three endings a rollout's state machine
never chooses by itself: ABORTED, TIMED_OUT, and FAILED (its own Fail states record a final status
first)."""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sluice.models.eventbridge import EventBridgeModel


class RolloutExecutionInput(BaseModel):
    """The input every rollout execution is started with (sluice.domain.rollout.intake)."""

    model_config = ConfigDict(extra="allow")

    rollout_id: str
    endpoint: str
    version: str | None = None


class ExecutionStatusChangeDetail(BaseModel):
    model_config = ConfigDict(extra="allow")

    executionArn: str
    stateMachineArn: str
    name: str
    status: str
    startDate: int | None = None
    stopDate: int | None = None
    input: str | None = None  # the execution's input as JSON text (null if it exceeded the event's size)
    error: str | None = None
    cause: str | None = None

    def rollout(self) -> RolloutExecutionInput:
        return RolloutExecutionInput.model_validate(json.loads(self.input or "{}"))


class ExecutionStatusChangeEvent(EventBridgeModel):
    detail: ExecutionStatusChangeDetail
    detail_type: Literal["Step Functions Execution Status Change"] = Field(alias="detail-type")
