"""Parser models for the events Sluice's functions receive, one per event source.

Sample events live in events/; tests load them, never re-type them.
"""

from __future__ import annotations

from typing import Any, Literal

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import AliasChoices, BaseModel, ConfigDict, Field


class S3Bucket(BaseModel):
    name: str


class S3Object(BaseModel):
    """`detail.object` of an S3 EventBridge event.

    AWS documents `etag`; moto sends `eTag`; both are accepted. `version-id` is absent for
    unversioned buckets on AWS and `"null"` on moto.
    """

    model_config = ConfigDict(populate_by_name=True)

    key: str
    size: int | None = None
    etag: str | None = Field(default=None, validation_alias=AliasChoices("etag", "eTag"))
    version_id: str | None = Field(default=None, validation_alias=AliasChoices("version-id", "version_id"))

    @property
    def real_version_id(self) -> str | None:
        return None if self.version_id in (None, "", "null") else self.version_id


class S3ObjectCreatedDetail(BaseModel):
    bucket: S3Bucket
    object: S3Object
    reason: str | None = None


class S3ObjectCreatedEvent(EventBridgeModel):
    """EventBridge "Object Created" from a bucket with EventBridge notifications on.

    `sluice-redelivery` is Sluice's own: how many times the event waited in UploadRedeliveryQueue for
    another invocation to let go of it (sluice.domain.redelivery); EventBridge never sends it.
    """

    detail: S3ObjectCreatedDetail
    detail_type: Literal["Object Created"] = Field(alias="detail-type")
    redelivery: int = Field(default=0, ge=0, alias="sluice-redelivery")


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


class BatchRetryMessage(BaseModel):
    """Body of a BatchRetryQueue message: a CreateTransformJob request to try again."""

    job_name: str
    request: dict[str, Any]
    attempt: int = Field(ge=1)
    intake_pk: str
    intake_sk: str


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


class UploadRedeliveryMessage(BaseModel):
    """Body of an UploadRedeliveryQueue message: an intake event to invoke its function with again."""

    function_name: str
    payload: dict[str, Any]
