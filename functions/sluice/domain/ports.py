"""Ports: what the domain needs from AWS, as small Protocols. Adapters implement them; tests fake them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol

ORIGIN_METADATA = "sluice-origin"  # x-amz-meta-sluice-origin on every object Sluice writes


@dataclass(frozen=True)
class ObjectHead:
    bucket: str
    key: str
    size: int
    etag: str
    version_id: str | None
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def written_by_sluice(self) -> bool:
        return ORIGIN_METADATA in self.metadata

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class MultiModelEndpoint:
    name: str
    status: str
    model_name: str
    model_data_url: str  # the S3 prefix the multi-model container loads TargetModel from


@dataclass(frozen=True)
class InvocationResult:
    ok: bool
    detail: str


class ObjectStore(Protocol):
    def head(self, bucket: str, key: str, version_id: str | None = None) -> ObjectHead | None: ...

    def open_stream(self, bucket: str, key: str, version_id: str | None) -> BinaryIO: ...

    def read_small(self, bucket: str, key: str, *, max_bytes: int) -> bytes | None: ...

    def copy_published(self, source: ObjectHead, bucket: str, key: str, *, sha256: str) -> ObjectHead: ...

    def merge_tags(self, bucket: str, key: str, version_id: str | None, tags: dict[str, str]) -> None: ...


class SageMakerPort(Protocol):
    def describe_multi_model_endpoint(self, endpoint: str) -> MultiModelEndpoint: ...

    def invoke(
        self, endpoint: str, target_model: str, content_type: str, body: bytes
    ) -> InvocationResult: ...

    def model_exists(self, model: str) -> bool: ...

    def create_transform_job(self, request: dict[str, Any]) -> bool: ...


class Registry(Protocol):
    def get(self, pk: str, sk: str) -> dict[str, Any] | None: ...

    def put(self, record: dict[str, Any]) -> None: ...

    def put_new(self, record: dict[str, Any]) -> bool: ...

    def update(
        self, pk: str, sk: str, attrs: dict[str, Any], *, expect: dict[str, Any] | None = None
    ) -> bool: ...

    def highest_version(self, endpoint: str, model: str) -> int: ...

    def latest(self, endpoint: str, model: str) -> dict[str, Any] | None: ...

    def reserve_version(
        self, endpoint: str, model: str, version: int, record: dict[str, Any], intake: tuple[str, str]
    ) -> bool: ...

    def finalize_version(
        self,
        endpoint: str,
        model: str,
        version: int,
        attrs: dict[str, Any],
        intake: tuple[str, str],
        intake_attrs: dict[str, Any],
    ) -> bool: ...

    def job(self, job_name: str) -> dict[str, Any] | None: ...

    def create_job(self, job_name: str, model: str, record: dict[str, Any], created_at: str) -> bool: ...


class NotifierPort(Protocol):
    def notify(self, detail_type: str, detail: dict[str, Any], *, subject: str) -> None: ...


class RetryQueuePort(Protocol):
    def send_later(self, body: str, delay_seconds: int) -> None: ...
