"""Registry records: keys, statuses and versioning rules (pure).

One DynamoDB table (see docs/DESIGN.md): model versions with a "latest" pointer per model, one intake
record per uploaded object version, one record per batch job.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

VERSION_DIGITS = 10


class IntakeStatus(StrEnum):
    PUBLISHING = "PUBLISHING"
    PUBLISHED = "PUBLISHED"
    PUBLISHED_WARMUP_FAILED = "PUBLISHED_WARMUP_FAILED"
    UNCHANGED = "UNCHANGED"
    REJECTED = "REJECTED"
    BATCH_STARTED = "BATCH_STARTED"
    BATCH_QUEUED = "BATCH_QUEUED"


def model_pk(endpoint: str, model: str) -> str:
    return f"model#{endpoint}#{model}"


def version_sk(version: int) -> str:
    return f"v#{version:0{VERSION_DIGITS}d}"


def version_from_sk(sk: str) -> int:
    return int(sk.removeprefix("v#"))


LATEST_SK = "latest"


def intake_pk(bucket: str, key: str) -> str:
    return f"intake#{bucket}/{key}"


def intake_sk(version_id: str | None, etag: str | None) -> str:
    """Object versions are identified by the S3 version id, or the ETag in an unversioned bucket."""
    if version_id:
        return f"version#{version_id}"
    return f"etag#{(etag or '').strip(chr(34))}"


INTAKE_INDEX_PK = "intake"  # gsi1pk of every intake record: recent uploads, newest first by gsi1sk


def job_pk(job_name: str) -> str:
    return f"job#{job_name}"


JOB_SK = "job"


def endpoint_index_pk(endpoint: str) -> str:
    return f"endpoint#{endpoint}"


def batch_index_pk(model: str) -> str:
    return f"batch#{model}"


def published_key(prefix_key: str, model: str, version: int) -> str:
    """The immutable object key of a published version below an endpoint's model-data prefix.

    SageMaker caches loaded models by TargetModel name, so a name is never reused for other bytes.
    """
    base = prefix_key if not prefix_key or prefix_key.endswith("/") else prefix_key + "/"
    return f"{base}{model}/v{version}.tar.gz"


def target_model_name(model: str, version: int) -> str:
    """The `TargetModel` clients pass to InvokeEndpoint: the path relative to the model-data prefix."""
    return f"{model}/v{version}.tar.gz"


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str) -> S3Uri:
        if not uri.startswith("s3://"):
            raise ValueError(f"not an s3:// URI: {uri!r}")
        bucket, _, key = uri[len("s3://") :].partition("/")
        if not bucket:
            raise ValueError(f"no bucket in {uri!r}")
        return cls(bucket=bucket, key=key)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"
