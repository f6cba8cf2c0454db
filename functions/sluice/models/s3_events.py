"""EventBridge "Object Created" from the artifact bucket (the S3 upload intakes)."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from sluice.models.eventbridge import EventBridgeModel


class S3Bucket(BaseModel):
    name: str


class S3Object(BaseModel):
    """`detail.object` of an S3 EventBridge event.

    AWS documents `etag`; moto sends `eTag`; both are accepted. `version-id` is absent for
    unversioned buckets on AWS and `"null"` on moto. `sequencer` is a hex string (see
    `sluice.domain.intake.upload_sequencer`).
    """

    model_config = ConfigDict(populate_by_name=True)

    key: str
    size: int | None = None
    etag: str | None = Field(default=None, validation_alias=AliasChoices("etag", "eTag"))
    version_id: str | None = Field(default=None, validation_alias=AliasChoices("version-id", "version_id"))
    sequencer: str | None = None  # orders events of one key (PUT and DELETE only); sam local may omit it

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
