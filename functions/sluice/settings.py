"""One settings model, read once per cold start from the environment set by template.yaml.

Environment variable names equal the template's (Globals.Function.Environment.Variables).
"""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

GIB = 1024**3
# Settings that are durations a function waits in wall time within one invocation: the sandbox runs
# them at its time scale, as it runs Step Functions' Wait states (sluice_cli.sandbox.lambda_runtime).
WALL_CLOCK_SETTINGS = ("ENDPOINT_POLL_INTERVAL_SECONDS", "ENDPOINT_POLL_BUDGET_SECONDS")


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    artifact_bucket: str = Field(alias="ARTIFACT_BUCKET")
    registry_table: str = Field(alias="REGISTRY_TABLE")
    idempotency_table: str = Field(alias="IDEMPOTENCY_TABLE")
    notification_topic_arn: str = Field(alias="NOTIFICATION_TOPIC_ARN")
    event_bus_name: str = Field(default="default", alias="EVENT_BUS_NAME")
    batch_retry_queue_url: str = Field(alias="BATCH_RETRY_QUEUE_URL")
    # Events another invocation holds, delivered again past its deadline (sluice.domain.redelivery).
    upload_redelivery_queue_url: str = Field(alias="UPLOAD_REDELIVERY_QUEUE_URL")

    # Artifact validation limits (see README "Limits").
    max_archive_members: int = Field(default=10_000, ge=1, alias="MAX_ARCHIVE_MEMBERS")
    max_uncompressed_bytes: int = Field(default=20 * GIB, ge=1, alias="MAX_UNCOMPRESSED_BYTES")
    max_compression_ratio: float = Field(default=100.0, gt=1, alias="MAX_COMPRESSION_RATIO")

    # Batch defaults and the buffered retry of CreateTransformJob.
    batch_default_instance_type: str = Field(default="ml.m5.xlarge", alias="BATCH_DEFAULT_INSTANCE_TYPE")
    batch_max_start_attempts: int = Field(default=96, ge=1, alias="BATCH_MAX_START_ATTEMPTS")
    # Comma-separated buckets besides the artifact bucket a batch manifest may list objects in.
    batch_input_buckets: str = Field(default="", alias="BATCH_INPUT_BUCKETS")

    # Canary rollouts.
    rollout_state_machine_arn: str = Field(default="", alias="ROLLOUT_STATE_MACHINE_ARN")
    sagemaker_execution_role_arn: str = Field(default="", alias="SAGEMAKER_EXECUTION_ROLE_ARN")
    # Comma-separated registry patterns (`*` within a DNS label); empty: this account's ECR in the region
    # and the AWS Deep Learning Containers registries (sluice.domain.deploy_config).
    allowed_image_registries: str = Field(default="", alias="ALLOWED_IMAGE_REGISTRIES")
    # ReadEndpoint waits for an endpoint that is Updating inside one invocation: a DescribeEndpoint every
    # interval, for at most the budget (and never closer than POLL_MARGIN_SECONDS to the invocation's
    # deadline), then the state machine's short WaitForEndpoint and another invocation. docs/DESIGN.md.
    endpoint_poll_interval_seconds: float = Field(default=2.0, gt=0, alias="ENDPOINT_POLL_INTERVAL_SECONDS")
    endpoint_poll_budget_seconds: float = Field(default=60.0, ge=0, alias="ENDPOINT_POLL_BUDGET_SECONDS")

    # How long idempotency records live (seconds); the same event within this window is a no-op.
    idempotency_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60, alias="IDEMPOTENCY_TTL_SECONDS")

    @property
    def batch_input_bucket_names(self) -> tuple[str, ...]:
        return tuple(name.strip() for name in self.batch_input_buckets.split(",") if name.strip())

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        known = {field.alias for field in cls.model_fields.values() if field.alias}
        return cls.model_validate({k: v for k, v in env.items() if k in known})


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this cold start. Tests and the sandbox call `get_settings.cache_clear()`."""
    return Settings.from_environ()
