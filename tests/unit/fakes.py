"""In-memory stand-ins for the domain's ports (sluice.domain.ports), for branch-level domain tests.

The integration tests run the real adapters on moto; these fakes reach the branches moto cannot
(races on version numbers, a copy that landed before a crash, SageMaker capacity errors).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from sluice.domain.ports import InvocationResult, MultiModelEndpoint, ObjectHead
from sluice.domain.registry import LATEST_SK, job_pk, model_pk, version_from_sk, version_sk
from sluice.errors import CapacityUnavailable, RejectedConfiguration, RejectedTarget


@dataclass
class FakeObjectStore:
    """A versioned bucket: `objects` holds each key's current version, `versions` every version written
    (a version id is a hash of key and bytes, so the same bytes put again are the same version)."""

    objects: dict[tuple[str, str], tuple[bytes, dict[str, str], str]] = field(default_factory=dict)
    versions: dict[tuple[str, str, str], tuple[bytes, dict[str, str]]] = field(default_factory=dict)
    tags: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    copies: list[tuple[str, str]] = field(default_factory=list)

    def put(self, bucket: str, key: str, body: bytes, metadata: dict[str, str] | None = None) -> ObjectHead:
        version = hashlib.md5(body + key.encode(), usedforsecurity=False).hexdigest()[:8]
        self.objects[(bucket, key)] = (body, dict(metadata or {}), version)
        self.versions[(bucket, key, version)] = (body, dict(metadata or {}))
        return self.head(bucket, key)  # type: ignore[return-value]

    def _version(
        self, bucket: str, key: str, version_id: str | None
    ) -> tuple[bytes, dict[str, str], str] | None:
        if version_id is None:
            return self.objects.get((bucket, key))
        found = self.versions.get((bucket, key, version_id))
        return None if found is None else (*found, version_id)

    def head(self, bucket: str, key: str, version_id: str | None = None) -> ObjectHead | None:
        found = self._version(bucket, key, version_id)
        if found is None:
            return None
        body, metadata, version = found
        return ObjectHead(
            bucket, key, len(body), hashlib.md5(body, usedforsecurity=False).hexdigest(), version, metadata
        )

    def body(self, bucket: str, key: str, version_id: str | None = None) -> bytes:
        found = self._version(bucket, key, version_id)
        assert found is not None, f"no s3://{bucket}/{key} (version {version_id})"
        return found[0]

    def open_stream(self, bucket: str, key: str, version_id: str | None) -> BinaryIO:
        return io.BytesIO(self.body(bucket, key, version_id))

    def read_small(self, bucket: str, key: str, *, max_bytes: int) -> bytes | None:
        if (bucket, key) not in self.objects:
            return None
        body = self.objects[(bucket, key)][0]
        if len(body) > max_bytes:
            raise ValueError(f"s3://{bucket}/{key} is {len(body)} bytes; at most {max_bytes}")
        return body

    def copy_published(self, source: ObjectHead, bucket: str, key: str, *, sha256: str) -> ObjectHead:
        body = self.body(source.bucket, source.key, source.version_id)  # the exact version, as the adapter
        self.copies.append((bucket, key))
        return self.put(bucket, key, body, {"sluice-origin": "published", "sluice-sha256": sha256})

    def merge_tags(self, bucket: str, key: str, version_id: str | None, tags: dict[str, str]) -> None:
        self.tags.setdefault((bucket, key), {}).update(tags)


@dataclass
class FakeSageMaker:
    endpoints: dict[str, MultiModelEndpoint] = field(default_factory=dict)
    models: set[str] = field(default_factory=set)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    capacity_errors: int = 0
    capacity_message: str = "ResourceLimitExceeded: account-level service limit"
    refuse_with: str | None = None  # SageMaker's ValidationException message for the next job
    invocations: list[tuple[str, str, str, bytes]] = field(default_factory=list)
    invoke_result: InvocationResult = field(default_factory=lambda: InvocationResult(True, "HTTP 200"))

    def describe_multi_model_endpoint(self, endpoint: str) -> MultiModelEndpoint:
        if endpoint not in self.endpoints:
            raise RejectedTarget(f"endpoint {endpoint!r} does not exist")
        return self.endpoints[endpoint]

    def invoke(self, endpoint: str, target_model: str, content_type: str, body: bytes) -> InvocationResult:
        self.invocations.append((endpoint, target_model, content_type, body))
        return self.invoke_result

    def model_exists(self, model: str) -> bool:
        return model in self.models

    def create_transform_job(self, request: dict[str, Any]) -> bool:
        if self.capacity_errors:
            self.capacity_errors -= 1
            raise CapacityUnavailable(self.capacity_message)
        if self.refuse_with is not None:
            raise RejectedConfiguration(f"SageMaker refused the transform job: {self.refuse_with}")
        name = request["TransformJobName"]
        if name in self.jobs:
            return False
        self.jobs[name] = request
        return True


@dataclass
class FakeRegistry:
    items: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    steal_next_reservation: int = 0  # simulate another upload taking the version number first

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        item = self.items.get((pk, sk))
        return dict(item) if item else None

    def put(self, record: dict[str, Any]) -> None:
        self.items[(record["pk"], record["sk"])] = dict(record)

    def put_new(self, record: dict[str, Any]) -> bool:
        if (record["pk"], record["sk"]) in self.items:
            return False
        self.put(record)
        return True

    def update(
        self, pk: str, sk: str, attrs: dict[str, Any], *, expect: dict[str, Any] | None = None
    ) -> bool:
        item = self.items.get((pk, sk))
        if item is None:
            return False
        if expect and any(item.get(k) != v for k, v in expect.items()):
            return False
        item.update({k: v for k, v in attrs.items() if v is not None})
        return True

    def highest_version(self, endpoint: str, model: str) -> int:
        pk = model_pk(endpoint, model)
        versions = [version_from_sk(sk) for (p, sk) in self.items if p == pk and sk.startswith("v#")]
        return max(versions, default=0)

    def latest(self, endpoint: str, model: str) -> dict[str, Any] | None:
        return self.get(model_pk(endpoint, model), LATEST_SK)

    def reserve_version(
        self, endpoint: str, model: str, version: int, record: dict[str, Any], intake: tuple[str, str]
    ) -> bool:
        key = (model_pk(endpoint, model), version_sk(version))
        if self.steal_next_reservation:
            self.steal_next_reservation -= 1
            self.items[key] = {"pk": key[0], "sk": key[1], "status": "PUBLISHING", "version": version}
            return False
        if key in self.items:
            return False
        self.items[key] = {**record, "pk": key[0], "sk": key[1], "version": version}
        self.items[intake].update({"status": "PUBLISHING", "version": version})
        return True

    def finalize_version(
        self,
        endpoint: str,
        model: str,
        version: int,
        attrs: dict[str, Any],
        intake: tuple[str, str],
        intake_attrs: dict[str, Any],
    ) -> bool:
        pk = model_pk(endpoint, model)
        self.items[(pk, version_sk(version))].update(attrs)
        self.items[intake].update(intake_attrs)
        latest = self.items.get((pk, LATEST_SK))
        sequencer = attrs.get("upload_sequencer")
        if latest is not None:  # as RegistryStore's conditional put
            if sequencer:
                if latest.get("upload_sequencer") and latest["upload_sequencer"] >= sequencer:
                    return False
            elif latest["version"] >= version:
                return False
        self.items[(pk, LATEST_SK)] = {**attrs, "pk": pk, "sk": LATEST_SK, "version": version}
        return True

    def advance_latest_upload(self, endpoint: str, model: str, sequencer: str) -> bool:
        latest = self.items.get((model_pk(endpoint, model), LATEST_SK))
        if latest is None or (latest.get("upload_sequencer") or "") >= sequencer:
            return False
        latest["upload_sequencer"] = sequencer
        return True

    def job(self, job_name: str) -> dict[str, Any] | None:
        return self.get(job_pk(job_name), "job")

    def create_job(self, job_name: str, model: str, record: dict[str, Any], created_at: str) -> bool:
        return self.put_new(
            {**record, "pk": job_pk(job_name), "sk": "job", "job_name": job_name, "model": model}
        )


@dataclass
class FakeNotifier:
    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def notify(self, detail_type: str, detail: dict[str, Any], *, subject: str) -> None:
        self.sent.append((detail_type, detail))


@dataclass
class FakeRetryQueue:
    messages: list[tuple[str, int]] = field(default_factory=list)

    def send_later(self, body: str, delay_seconds: int) -> None:
        self.messages.append((body, delay_seconds))
