"""EventBridge "SageMaker Transform Job State Change" (BatchJobState)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sluice.models.eventbridge import EventBridgeModel


class TransformOutputModel(BaseModel):
    model_config = ConfigDict(extra="allow")
    S3OutputPath: str | None = None


class TransformJobStateChangeDetail(BaseModel):
    """`detail` of "SageMaker Transform Job State Change" (the DescribeTransformJob shape)."""

    model_config = ConfigDict(extra="allow")

    TransformJobName: str
    TransformJobStatus: str
    FailureReason: str | None = None
    ModelName: str | None = None
    TransformOutput: TransformOutputModel | None = None
    TransformStartTime: int | float | str | None = None
    TransformEndTime: int | float | str | None = None
    Tags: dict[str, str] | list[dict[str, Any]] | None = None


class TransformJobStateChangeEvent(EventBridgeModel):
    detail: TransformJobStateChangeDetail
    detail_type: Literal["SageMaker Transform Job State Change"] = Field(alias="detail-type")
