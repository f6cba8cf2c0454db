"""Bodies of the messages Sluice queues for itself (BatchRetryQueue, UploadRedeliveryQueue)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class BatchRetryMessage(BaseModel):
    """Body of a BatchRetryQueue message: a CreateTransformJob request to try again."""

    job_name: str
    request: dict[str, Any]
    attempt: int = Field(ge=1)
    intake_pk: str
    intake_sk: str


class UploadRedeliveryMessage(BaseModel):
    """Body of an UploadRedeliveryQueue message: an intake event to invoke its function with again."""

    function_name: str
    payload: dict[str, Any]
