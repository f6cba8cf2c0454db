"""Batch transform: the batch.json model, SageMaker's limits, job naming and the CreateTransformJob plan.

Pure: no boto3, no I/O, no clock reads. Every limit below is SageMaker's (CreateTransformJob API
reference) unless marked "Sluice limit".

SageMaker limits enforced when batch.json is parsed:
- instance_count: 1..100 (TransformResources.InstanceCount: "the maximum is 100").
- max_payload_in_mb: 0..100 ("cannot be greater than 100 MB"; 0 = HTTP chunked encoding).
- max_concurrent_transforms: >= 0 (0 or unset: SageMaker asks the container's execution-parameters).
- max_concurrent_transforms x max_payload_in_mb <= 100 when max_concurrent_transforms is set.
- environment: at most 16 entries, keys [a-zA-Z_][a-zA-Z0-9_]{0,1023}, values at most 10240 characters.
- data_processing input_filter / output_filter (JsonPath): at most 63 characters.
- accept / content_type: at most 256 characters.
- model_client_config: invocations_timeout_in_seconds 1..3600, invocations_max_retries 0..3.
- TransformJobName: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}, 1..63 characters.

Not enforced, because SageMaker does not document them as errors: MaxPayloadInMB 0 with any
BatchStrategy (it only "works in supported algorithms"; built-in algorithms do not support it, so the
plan warns), and BatchStrategy with SplitType None (the strategy only takes effect when the input is
split; SingleRecord with SplitType None is valid).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from sluice.domain.config_files import ConfigFile, json_type, load_json, short_repr
from sluice.errors import RejectedConfiguration

# --------------------------------------------------------------------------------------------------
# batch.json
# --------------------------------------------------------------------------------------------------

MAX_PAYLOAD_TIMES_CONCURRENCY_MB = 100
INSTANCE_TYPE_PATTERN = r"^ml\.[a-z0-9]+\.[a-z0-9]+$"
ENVIRONMENT_KEY_PATTERN = r"^[a-zA-Z_][a-zA-Z0-9_]{0,1023}$"

EnvironmentKey = Annotated[str, StringConstraints(pattern=ENVIRONMENT_KEY_PATTERN)]
EnvironmentValue = Annotated[str, StringConstraints(max_length=10240)]
JsonPath = Annotated[str, StringConstraints(max_length=63)]
MimeType = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class _StrictModel(BaseModel):
    """JSON types as written: "2" is not an integer, true is not 1, unknown keys are errors."""

    # Validators are built at a model's first use, not at import: a function imports every model its
    # domain declares but one invocation uses few of them (benchmarks/bench_cold_import.py).
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, defer_build=True)


class DataProcessing(_StrictModel):
    """SageMaker DataProcessing: filter the input and join it with the predictions."""

    input_filter: JsonPath | None = None
    output_filter: JsonPath | None = None
    join_source: Literal["None", "Input"] = "None"


class ModelClientConfig(_StrictModel):
    """SageMaker ModelClientConfig; the defaults are SageMaker's (600 s, 3 retries)."""

    invocations_timeout_in_seconds: int = Field(default=600, ge=1, le=3600)
    invocations_max_retries: int = Field(default=3, ge=0, le=3)


class BatchSettings(_StrictModel):
    """The optional batch/<model>/batch.json. Every key is optional; absent file = all defaults.

    Cross-field rules (each one SageMaker's, CreateTransformJob MaxPayloadInMB documentation):
    - max_concurrent_transforms x max_payload_in_mb must not exceed 100 (MB) when
      max_concurrent_transforms is set.
    """

    instance_type: Annotated[str, StringConstraints(pattern=INSTANCE_TYPE_PATTERN)] | None = None
    instance_count: int = Field(default=1, ge=1, le=100)
    split_type: Literal["None", "Line", "RecordIO", "TFRecord"] = "Line"
    batch_strategy: Literal["MultiRecord", "SingleRecord"] = "MultiRecord"
    max_payload_in_mb: int = Field(default=6, ge=0, le=100)
    max_concurrent_transforms: int | None = Field(default=None, ge=0)
    assemble_with: Literal["None", "Line"] = "Line"
    accept: MimeType | None = None
    content_type: MimeType | None = None
    compression_type: Literal["None", "Gzip"] = "None"
    data_processing: DataProcessing | None = None
    environment: dict[EnvironmentKey, EnvironmentValue] = Field(default_factory=dict, max_length=16)
    model_client_config: ModelClientConfig | None = None

    @model_validator(mode="after")
    def _payload_times_concurrency(self) -> BatchSettings:
        concurrency = self.max_concurrent_transforms
        payload = self.max_payload_in_mb
        if concurrency is not None and concurrency * payload > MAX_PAYLOAD_TIMES_CONCURRENCY_MB:
            raise ValueError(
                f"max_concurrent_transforms ({concurrency}) x max_payload_in_mb ({payload}) = "
                f"{concurrency * payload} MB, but SageMaker allows at most "
                f"{MAX_PAYLOAD_TIMES_CONCURRENCY_MB} MB: lower max_concurrent_transforms to "
                f"{MAX_PAYLOAD_TIMES_CONCURRENCY_MB // payload} or max_payload_in_mb to "
                f"{MAX_PAYLOAD_TIMES_CONCURRENCY_MB // concurrency}"
            )
        return self


_MODELS_BY_LOCATION: dict[tuple[str, ...], type[BaseModel]] = {
    (): BatchSettings,
    ("data_processing",): DataProcessing,
    ("model_client_config",): ModelClientConfig,
}


def parse_batch_settings(raw: bytes) -> BatchSettings:
    """Parse batch.json; every problem becomes one RejectedConfiguration listing all errors."""
    return BATCH_JSON.parse(raw)


_PATTERN_MEANINGS = {
    INSTANCE_TYPE_PATTERN: "should be an ML instance type such as ml.m5.xlarge",
    ENVIRONMENT_KEY_PATTERN: (
        "should start with a letter or underscore and hold only letters, digits and underscores "
        "(at most 1024 characters)"
    ),
}
BATCH_JSON = ConfigFile(
    name="batch.json",
    model=BatchSettings,
    models_by_location=_MODELS_BY_LOCATION,
    pattern_meanings=_PATTERN_MEANINGS,
    example='{"instance_count": 2}',
)


# --------------------------------------------------------------------------------------------------
# Content type
# --------------------------------------------------------------------------------------------------

CONTENT_TYPES_BY_EXTENSION: dict[str, str] = {
    "csv": "text/csv",
    "jsonl": "application/jsonlines",
    "jsonlines": "application/jsonlines",
    "json": "application/json",
    "txt": "text/plain",
    "parquet": "application/x-parquet",
    "npy": "application/x-npy",
    "recordio": "application/x-recordio-protobuf",
    "rec": "application/x-recordio-protobuf",
}
_SET_CONTENT_TYPE = 'set "content_type" in the model\'s batch.json (batch/<model>/batch.json)'


def infer_content_type(relative_path: str, settings: BatchSettings) -> str:
    """The ContentType SageMaker sends with each request: batch.json's content_type, else by extension.

    A trailing `.gz` is skipped (data.csv.gz is text/csv); set compression_type "Gzip" so SageMaker
    decompresses it.
    """
    if settings.content_type is not None:
        return settings.content_type
    name = relative_path.rsplit("/", 1)[-1]
    stem, dot, extension = name.rpartition(".")
    if dot and extension.lower() == "gz":
        stem, dot, extension = stem.rpartition(".")
        if not dot:
            raise RejectedConfiguration(
                f"cannot infer the content type of {relative_path!r}: no file extension before .gz; "
                f"{_SET_CONTENT_TYPE}"
            )
    if not dot:
        raise RejectedConfiguration(
            f"cannot infer the content type of {relative_path!r}: it has no file extension; "
            f"{_SET_CONTENT_TYPE}"
        )
    content_type = CONTENT_TYPES_BY_EXTENSION.get(extension.lower())
    if content_type is None:
        known = ", ".join(f".{ext}" for ext in CONTENT_TYPES_BY_EXTENSION)
        raise RejectedConfiguration(
            f"cannot infer the content type of {relative_path!r} from its extension .{extension} "
            f"(known: {known}, optionally followed by .gz); {_SET_CONTENT_TYPE}"
        )
    return content_type


def infer_manifest_content_type(listed_keys: Sequence[str], settings: BatchSettings) -> str:
    """One ContentType for all the objects a manifest lists: they must agree, or batch.json sets it."""
    if settings.content_type is not None:
        return settings.content_type
    if not listed_keys:
        raise RejectedConfiguration("the manifest lists no objects")
    examples: dict[str, str] = {}
    for key in listed_keys:
        examples.setdefault(infer_content_type(key, settings), key)
    if len(examples) > 1:
        found = ", ".join(f"{ctype} (e.g. {key!r})" for ctype, key in examples.items())
        raise RejectedConfiguration(
            f"the objects the manifest lists have different content types: {found}; one transform job "
            f"sends one content type, so list objects of one type or {_SET_CONTENT_TYPE}"
        )
    return next(iter(examples))


# --------------------------------------------------------------------------------------------------
# Manifest
# --------------------------------------------------------------------------------------------------

MANIFEST_MAX_ENTRIES = 100_000  # Sluice limit (keeps the manifest in one Lambda's memory), not SageMaker's.
S3_MAX_KEY_BYTES = 1024  # S3 object key limit.
_S3_PREFIX_URI = re.compile(r"^s3://(?P<bucket>[^/]+)/(?P<key>.*)$", re.DOTALL)
_S3_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class Manifest:
    """A SageMaker ManifestFile: `[{"prefix": "s3://bucket/prefix/"}, "relative/key", ...]`.

    SageMaker reads object i at prefix + relative_keys[i], a plain concatenation: a prefix without a
    trailing slash joins its last segment to each key.
    """

    prefix: str
    relative_keys: tuple[str, ...]

    @property
    def bucket(self) -> str:
        return self.prefix[len("s3://") :].split("/", 1)[0]

    @property
    def key_prefix(self) -> str:
        return self.prefix[len("s3://") :].split("/", 1)[1]

    def object_keys(self) -> list[str]:
        return [self.key_prefix + relative for relative in self.relative_keys]

    def object_uris(self) -> list[str]:
        return [self.prefix + relative for relative in self.relative_keys]


def parse_manifest(raw: bytes) -> Manifest:
    """Parse and check a manifest; RejectedConfiguration names the first problem (and its entry)."""
    document = load_json(raw, "the manifest")
    example = '[{"prefix": "s3://bucket/prefix/"}, "part-1.csv", "part-2.csv"]'
    if not isinstance(document, list):
        raise RejectedConfiguration(
            f"the manifest must be a JSON array, not {json_type(document)}; for example {example}"
        )
    if not document or not isinstance(document[0], dict) or set(document[0]) != {"prefix"}:
        raise RejectedConfiguration(
            f'the manifest\'s first element must be {{"prefix": "s3://<bucket>/<prefix>"}}; '
            f"for example {example}"
        )
    prefix = document[0]["prefix"]
    match = _S3_PREFIX_URI.fullmatch(prefix) if isinstance(prefix, str) else None
    if match is None:
        raise RejectedConfiguration(
            f"the manifest prefix must be an s3://<bucket>/<prefix> URI, got {short_repr(prefix)}"
        )
    if not _S3_BUCKET_NAME.fullmatch(match["bucket"]):
        raise RejectedConfiguration(
            f"the manifest prefix {prefix!r} does not name a valid S3 bucket ({match['bucket']!r})"
        )
    entries = document[1:]
    if not entries:
        raise RejectedConfiguration("the manifest lists no objects after its prefix")
    if len(entries) > MANIFEST_MAX_ENTRIES:
        raise RejectedConfiguration(
            f"the manifest lists {len(entries)} objects; Sluice accepts at most {MANIFEST_MAX_ENTRIES} "
            "per manifest: split it into several manifests"
        )
    key_prefix_bytes = len(match["key"].encode())
    for position, entry in enumerate(entries, start=1):
        where = f"manifest entry {position}"
        if not isinstance(entry, str):
            raise RejectedConfiguration(
                f"{where} must be a string (a key relative to the prefix), got {short_repr(entry)}"
            )
        if not entry:
            raise RejectedConfiguration(f"{where} is empty")
        if entry.startswith("/") or "://" in entry:
            raise RejectedConfiguration(
                f"{where} ({short_repr(entry)}) must be relative to the prefix {prefix!r}, "
                "without a leading '/' or a scheme"
            )
        if key_prefix_bytes + len(entry.encode()) > S3_MAX_KEY_BYTES:
            raise RejectedConfiguration(
                f"{where} ({short_repr(entry)}) makes an S3 key longer than {S3_MAX_KEY_BYTES} bytes"
            )
    return Manifest(prefix=prefix, relative_keys=tuple(entries))


def check_manifest_buckets(manifest: Manifest, artifact_bucket: str, input_buckets: Sequence[str]) -> None:
    """Refuse a manifest that reaches beyond the buckets batch input may come from.

    SageMaker reads every object a manifest lists with the model's execution role ("The object that
    each S3Uris points to must be readable by the IAM role that Amazon SageMaker uses to perform tasks
    on your behalf": TransformS3DataSource, SageMaker API reference), so without this check anyone who
    may write to batch/ could feed (and, through the output, read) any object that role can read, in any
    bucket. Allowed: the artifact bucket and the stack parameter BatchInputBuckets.

    Each entry is a key relative to the prefix, appended to it as is; `parse_manifest` makes the prefix
    end its bucket with "/" and refuses entries with a scheme, so every entry lies in the prefix's
    bucket (tests/unit/test_batch_properties.py), and checking each entry's URI checks the prefix too.
    """
    allowed = (artifact_bucket, *input_buckets)
    for position, uri in enumerate(manifest.object_uris(), start=1):
        bucket = uri[len("s3://") :].split("/", 1)[0]
        if bucket in allowed:
            continue
        extra = ", ".join(input_buckets) if input_buckets else "none"
        entry = short_repr(uri[len(manifest.prefix) :])
        raise RejectedConfiguration(
            f"the manifest's prefix {manifest.prefix!r} puts entry {position} ({entry}) in bucket "
            f"{bucket!r}, which batch jobs may not read: batch input comes from the artifact bucket "
            f"{artifact_bucket!r} or a bucket of the stack parameter BatchInputBuckets (now: {extra}); copy "
            f"the data into the artifact bucket, or have {bucket!r} added to BatchInputBuckets"
        )


# --------------------------------------------------------------------------------------------------
# Job name
# --------------------------------------------------------------------------------------------------

JOB_NAME_PREFIX = "sluice-"
JOB_NAME_MAX_LENGTH = 63
JOB_NAME_DIGEST_LENGTH = 12
_MODEL_PART_MAX = JOB_NAME_MAX_LENGTH - len(JOB_NAME_PREFIX) - 1 - JOB_NAME_DIGEST_LENGTH
_NOT_NAME_CHARACTER = re.compile(r"[^a-zA-Z0-9-]")


def transform_job_name(model: str, key: str, version: str) -> str:
    """`sluice-<model, cut to fit>-<12 hex of sha256(model, key, version)>`: valid for any model string.

    The same upload (same key and version) always gives the same name, so a replayed event meets
    SageMaker's ResourceInUse instead of starting a second job.
    """
    identity = json.dumps([model, key, version], ensure_ascii=True).encode()
    digest = hashlib.sha256(identity).hexdigest()[:JOB_NAME_DIGEST_LENGTH]
    model_part = _NOT_NAME_CHARACTER.sub("-", model)[:_MODEL_PART_MAX].strip("-")
    return f"{JOB_NAME_PREFIX}{model_part}-{digest}" if model_part else f"{JOB_NAME_PREFIX}{digest}"


# --------------------------------------------------------------------------------------------------
# CreateTransformJob plan
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TransformJobPlan:
    """What to send to CreateTransformJob (`request` = the boto3 kwargs) and what to tell the user."""

    job_name: str
    request: dict[str, Any]
    warnings: tuple[str, ...]

    @property
    def output_uri(self) -> str:
        return str(self.request["TransformOutput"]["S3OutputPath"])


def plan_transform_job(
    *,
    model: str,
    bucket: str,
    key: str,
    version: str,
    relative_path: str,
    is_manifest: bool,
    settings: BatchSettings,
    default_instance_type: str,
    manifest: Manifest | None,
) -> TransformJobPlan:
    """Plan the transform job for the input object `key` (or the manifest at `key`)."""
    if is_manifest != (manifest is not None):
        raise ValueError("pass the parsed manifest exactly when is_manifest is true")
    job_name = transform_job_name(model, key, version)
    if manifest is not None:
        content_type = infer_manifest_content_type(manifest.relative_keys, settings)
        data_type = "ManifestFile"
        input_names: Sequence[str] = manifest.relative_keys
    else:
        content_type = infer_content_type(relative_path, settings)
        # A single object goes in as S3Prefix with its full URI. SageMaker treats that as a key prefix,
        # so the job for batch/<model>/input/data.csv also reads data.csv.bak or data.csv2 if they
        # exist: input names must not be prefixes of one another. (A one-entry manifest would be exact
        # but means writing an object; S3 listing is the adapter's business, not this module's.)
        data_type = "S3Prefix"
        input_names = (relative_path,)

    request: dict[str, Any] = {
        "TransformJobName": job_name,
        "ModelName": model,
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": data_type, "S3Uri": f"s3://{bucket}/{key}"}},
            "ContentType": content_type,
            "SplitType": settings.split_type,
            "CompressionType": settings.compression_type,
        },
        "TransformOutput": {
            "S3OutputPath": f"s3://{bucket}/batch/{model}/output/{job_name}/",
            "AssembleWith": settings.assemble_with,
        },
        "TransformResources": {
            "InstanceType": settings.instance_type or default_instance_type,
            "InstanceCount": settings.instance_count,
        },
        "BatchStrategy": settings.batch_strategy,
        "MaxPayloadInMB": settings.max_payload_in_mb,
        "Tags": [{"Key": "sluice:managed", "Value": "true"}, {"Key": "sluice:model", "Value": model}],
    }
    if settings.accept is not None:
        request["TransformOutput"]["Accept"] = settings.accept
    if settings.max_concurrent_transforms is not None:
        request["MaxConcurrentTransforms"] = settings.max_concurrent_transforms
    if settings.environment:
        request["Environment"] = dict(settings.environment)
    if settings.data_processing is not None:
        request["DataProcessing"] = _data_processing_request(settings.data_processing)
    if settings.model_client_config is not None:
        request["ModelClientConfig"] = {
            "InvocationsTimeoutInSeconds": settings.model_client_config.invocations_timeout_in_seconds,
            "InvocationsMaxRetries": settings.model_client_config.invocations_max_retries,
        }
    return TransformJobPlan(job_name=job_name, request=request, warnings=_warnings(settings, input_names))


def _data_processing_request(data_processing: DataProcessing) -> dict[str, str]:
    request: dict[str, str] = {"JoinSource": data_processing.join_source}
    if data_processing.input_filter is not None:
        request["InputFilter"] = data_processing.input_filter
    if data_processing.output_filter is not None:
        request["OutputFilter"] = data_processing.output_filter
    return request


def _warnings(settings: BatchSettings, input_names: Sequence[str]) -> tuple[str, ...]:
    warnings: list[str] = []
    objects = len(input_names)
    if settings.instance_count > objects:
        idle = settings.instance_count - objects
        what = "a single object" if objects == 1 else f"{objects} objects"
        warnings.append(
            f"instance_count is {settings.instance_count} but the input is {what}: SageMaker Batch "
            f"Transform distributes work between instances by S3 object, so {idle} instance(s) will "
            f"sit idle (and be billed). Split the input into at least {settings.instance_count} objects "
            "and upload a manifest (*.manifest.json) listing them, or lower instance_count in batch.json"
        )
    if settings.compression_type == "None" and any(name.lower().endswith(".gz") for name in input_names):
        warnings.append(
            'the input ends in .gz but compression_type is "None": SageMaker will send the compressed '
            'bytes to the model; set "compression_type": "Gzip" in batch.json to have it decompress them'
        )
    if settings.max_payload_in_mb == 0:
        warnings.append(
            "max_payload_in_mb is 0 (HTTP chunked encoding): only containers that support chunked "
            "encoding can serve it; SageMaker's built-in algorithms do not"
        )
    return tuple(warnings)


# --------------------------------------------------------------------------------------------------
# Job status
# --------------------------------------------------------------------------------------------------

BATCH_FINAL_STATES = frozenset({"Completed", "Failed", "Stopped"})
SLUICE_PENDING_STATES = frozenset({"QUEUED", "STARTING"})
SLUICE_STATES = SLUICE_PENDING_STATES | {"STARTED", "START_FAILED", "REJECTED"}
SAGEMAKER_STATES = frozenset({"InProgress", "Stopping"}) | BATCH_FINAL_STATES

# For each incoming status, the stored statuses it may replace (None = no record yet).
_MAY_REPLACE: dict[str, frozenset[str | None]] = {
    "QUEUED": frozenset({None, "STARTING"}),
    "STARTING": frozenset({None, "QUEUED"}),
    "STARTED": frozenset({None, *SLUICE_PENDING_STATES}),
    "START_FAILED": frozenset({None, *SLUICE_PENDING_STATES}),
    "REJECTED": frozenset({None, *SLUICE_PENDING_STATES}),
    "InProgress": frozenset({None, *SLUICE_STATES}),
    "Stopping": frozenset({None, *SLUICE_STATES, "InProgress"}),
    **{final: frozenset({None, *SLUICE_STATES, "InProgress", "Stopping"}) for final in BATCH_FINAL_STATES},
}


def next_job_status(current: str | None, incoming: str) -> str | None:
    """The status to store for a job, or None when the event must leave the record alone.

    Events arrive late, twice, and out of order. Sluice's own statuses (QUEUED, STARTING, then
    STARTED, START_FAILED or REJECTED) come first and never overwrite a SageMaker status; SageMaker's
    go InProgress -> Stopping -> Completed | Failed | Stopped and never move backwards; a final status
    is never overwritten, not even by another final status; a duplicate changes nothing.
    """
    allowed = _MAY_REPLACE.get(incoming)
    if allowed is None:
        raise ValueError(f"unknown batch job status {incoming!r}")
    if current is not None and current not in _MAY_REPLACE:
        raise ValueError(f"unknown stored batch job status {current!r}")
    return incoming if current in allowed else None


# --------------------------------------------------------------------------------------------------
# Buffered retries
# --------------------------------------------------------------------------------------------------

SQS_MAX_DELAY_SECONDS = 900


def retry_delay_seconds(attempt: int, *, base: int = 30, cap: int = 900, jitter: float) -> int:
    """Seconds to delay retry `attempt` (1, 2, ...) of a buffered CreateTransformJob.

    With d(n) = min(cap, base * 2**(n-1)), the delay is d + jitter * (d(n+1) - d): inside
    [base, cap], and for a fixed jitter it never shrinks as attempts grow. The caller draws jitter
    from [0, 1) so retries that failed together spread out. cap <= 900: SQS DelaySeconds' maximum.
    """
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt}")
    if not 0 <= jitter < 1:
        raise ValueError(f"jitter must be in [0, 1), got {jitter}")
    if not 1 <= base <= cap <= SQS_MAX_DELAY_SECONDS:
        raise ValueError(f"need 1 <= base <= cap <= {SQS_MAX_DELAY_SECONDS}, got base={base}, cap={cap}")
    delay = _backoff(attempt, base, cap)
    following = _backoff(attempt + 1, base, cap)
    return int(delay + jitter * (following - delay))


def _backoff(attempt: int, base: int, cap: int) -> int:
    doublings = min(attempt - 1, 16)  # base >= 1 and 2**16 > 900: the cap is reached by then
    return min(cap, base << doublings)
