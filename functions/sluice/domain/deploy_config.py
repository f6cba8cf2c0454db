"""Canary rollouts: the deploy.json model, SageMaker's limits on it, the image allow-list, autoscaling.

Pure: no boto3, no I/O, no clock reads.

deploy.json is read from endpoints/<endpoint>/<version>/deploy.json, else endpoints/<endpoint>/deploy.json,
else every key takes its default (see `DeployConfig`). Keys are snake_case; unknown keys are errors.

Limits enforced when deploy.json is parsed. SageMaker's come from its API model (botocore
sagemaker/2017-07-24: ContainerDefinitionList, ContainerImage, EnvironmentMap/Key/Value,
ContainerHostname, Url) and the CreateModel ContainerDefinition reference; CloudWatch's from the
PutMetricAlarm / DescribeAlarms reference:
- containers: 1..15 entries (ContainerDefinitionList, max 15).
- image: 1..255 characters without whitespace (ContainerImage).
- environment, per container: at most 100 entries (EnvironmentMap); keys [a-zA-Z_][a-zA-Z0-9_]*; each key
  and each value at most 1024 bytes; all keys and values of all containers together at most 32 KB
  ("If you pass multiple containers to a CreateModel request, then the maximum length of all of their
  maps, combined, is also 32 KB").
- hostname: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62} (ContainerHostname). In a Serial pipeline it is set on every
  container or on none ("If you specify a value for the ContainerHostName for any ContainerDefinition that
  is part of an inference pipeline, you must specify a value ... for every ContainerDefinition"). With
  Direct invocation every container needs one (callers pick a container by TargetContainerHostname),
  and hostnames are unique in both modes.
- model_data: an s3:// URI of at most 1024 characters (Url).
- alarm names: 1..255 characters (AlarmName); at most 98 of them, so that with Sluice's two automatic
  alarms one DescribeAlarms call (AlarmNames: at most 100) checks them all at each step boundary.

Sluice limits: steps strictly increasing percentages 1..100 ending at 100; bake_seconds 0..86400 (a
day per step); autoscaling cooldowns 0..3600 seconds. instance_type must look like ml.<family>.<size>;
whether SageMaker offers that type is left to SageMaker (the list grows every few months).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from sluice.domain.config_files import ConfigFile
from sluice.errors import RejectedConfiguration

# --------------------------------------------------------------------------------------------------
# Limits
# --------------------------------------------------------------------------------------------------

MAX_CONTAINERS = 15
MAX_IMAGE_LENGTH = 255
MAX_ENVIRONMENT_ENTRIES = 100
MAX_ENVIRONMENT_ITEM_BYTES = 1024
MAX_ENVIRONMENT_TOTAL_BYTES = 32 * 1024
MAX_MODEL_DATA_URL_LENGTH = 1024
MAX_ALARM_NAME_LENGTH = 255
MAX_DESCRIBE_ALARM_NAMES = 100
AUTO_ALARM_COUNT = 2
MAX_USER_ALARMS = MAX_DESCRIBE_ALARM_NAMES - AUTO_ALARM_COUNT
MAX_BAKE_SECONDS = 86_400
MAX_COOLDOWN_SECONDS = 3_600
INVOCATIONS_PER_INSTANCE_PERIOD_SECONDS = 60

DEFAULT_STEPS = (10, 25, 50, 100)
DEFAULT_BAKE_SECONDS = 300
DEFAULT_ERROR_RATE = 0.01
DEFAULT_MIN_INVOCATIONS = 100
DEFAULT_ANALYSIS_MIN_INVOCATIONS = 200
DEFAULT_MAX_BAKE_SECONDS = 1800
MAX_MIN_INVOCATIONS = 1_000_000
DEFAULT_LATENCY_P99_MS = 500.0
DEFAULT_SAFETY_FACTOR = 0.5
DEFAULT_SCALE_IN_COOLDOWN = 300
DEFAULT_SCALE_OUT_COOLDOWN = 60

# ml.<family>.<size>; families may hold a hyphen (ml.p6-b200.48xlarge, ml.p6e-gb200.36xlarge).
INSTANCE_TYPE_PATTERN = r"^ml\.[a-z0-9]+(-[a-z0-9]+)*\.[a-z0-9]+$"
ENVIRONMENT_KEY_PATTERN = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
HOSTNAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
IMAGE_PATTERN = r"^\S+$"
S3_URI_PATTERN = r"^s3://[^/\s]+/\S.*$"


def _utf8_at_most_1024_bytes(value: str) -> str:
    size = len(value.encode("utf-8"))
    if size > MAX_ENVIRONMENT_ITEM_BYTES:
        raise ValueError(
            f"is {size} bytes long in UTF-8; SageMaker allows {MAX_ENVIRONMENT_ITEM_BYTES} per key and value"
        )
    return value


EnvironmentKey = Annotated[
    str,
    StringConstraints(pattern=ENVIRONMENT_KEY_PATTERN, max_length=MAX_ENVIRONMENT_ITEM_BYTES),
]
EnvironmentValue = Annotated[str, AfterValidator(_utf8_at_most_1024_bytes)]
Environment = Annotated[dict[EnvironmentKey, EnvironmentValue], Field(max_length=MAX_ENVIRONMENT_ENTRIES)]
ImageUri = Annotated[str, StringConstraints(min_length=1, max_length=MAX_IMAGE_LENGTH, pattern=IMAGE_PATTERN)]
S3Uri = Annotated[str, StringConstraints(max_length=MAX_MODEL_DATA_URL_LENGTH, pattern=S3_URI_PATTERN)]
Hostname = Annotated[str, StringConstraints(pattern=HOSTNAME_PATTERN)]
AlarmName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ALARM_NAME_LENGTH)]
InstanceType = Annotated[str, StringConstraints(pattern=INSTANCE_TYPE_PATTERN)]


def environment_bytes(environment: Mapping[str, str]) -> int:
    """What an Environment map counts against SageMaker's 32 KB: its keys and values in UTF-8."""
    return sum(len(key.encode("utf-8")) + len(value.encode("utf-8")) for key, value in environment.items())


# --------------------------------------------------------------------------------------------------
# deploy.json
# --------------------------------------------------------------------------------------------------


class _StrictModel(BaseModel):
    """JSON types as written: "2" is not an integer, true is not 1, unknown keys are errors."""

    # Validators are built at a model's first use, not at import: a function imports every model its
    # domain declares but one invocation uses few of them (benchmarks/bench_cold_import.py).
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, defer_build=True)


class ContainerSpec(_StrictModel):
    """One container of a multi-container model (a Serial inference pipeline or Direct invocation).

    `model_data` left out: the container gets the uploaded model.tar.gz. `"model_data": null`: the
    container gets no model data (its code and artifacts are in the image). A URI: that archive.
    """

    image: ImageUri
    model_data: S3Uri | None = None
    environment: Environment = Field(default_factory=dict)
    hostname: Hostname | None = None

    @property
    def takes_upload(self) -> bool:
        """True when this container serves the uploaded model.tar.gz (model_data not given)."""
        return "model_data" not in self.model_fields_set


class Autoscaling(_StrictModel):
    """Target tracking on SageMakerVariantInvocationsPerInstance, registered after promotion.

    Target = max_rps x safety_factor x 60 invocations per instance per minute (see
    `autoscaling_target`). Defaults: safety_factor 0.5 (scale out at half the load one instance was
    measured to take), scale_in_cooldown 300 s (scale in slowly), scale_out_cooldown 60 s (scale out fast).
    """

    min: int = Field(ge=1)
    max: int = Field(ge=1)
    max_rps: float = Field(gt=0)
    safety_factor: float = Field(default=DEFAULT_SAFETY_FACTOR, gt=0, le=1)
    scale_in_cooldown: int = Field(default=DEFAULT_SCALE_IN_COOLDOWN, ge=0, le=MAX_COOLDOWN_SECONDS)
    scale_out_cooldown: int = Field(default=DEFAULT_SCALE_OUT_COOLDOWN, ge=0, le=MAX_COOLDOWN_SECONDS)

    @model_validator(mode="after")
    def _max_not_below_min(self) -> Autoscaling:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min}): raise max or lower min")
        return self


class AutoAlarms(_StrictModel):
    """The two alarms Sluice creates on the candidate variant for the rollout's duration.

    Defaults: error_rate 0.01 (more than 1 % of the candidate's invocations failing), latency_p99_ms 500
    (candidate p99 ModelLatency above 500 ms). Set either to null to go without that alarm; set
    auto_alarms to null to go without both.

    min_invocations (default 100) is the smallest denominator of the error rate: a minute with fewer
    invocations is judged as errors / min_invocations, so one unlucky error among the first few requests
    of a 10 % step does not roll a healthy version back, while a version failing everything still does
    (5 of 5 failing is 5 % of 100).
    """

    error_rate: Annotated[float, Field(gt=0, le=1)] | None = DEFAULT_ERROR_RATE
    min_invocations: int = Field(default=DEFAULT_MIN_INVOCATIONS, ge=1, le=MAX_MIN_INVOCATIONS)
    latency_p99_ms: Annotated[float, Field(gt=0)] | None = DEFAULT_LATENCY_P99_MS


class AnalysisSettings(_StrictModel):
    """The canary analysis (`rollout.analysis`): at every look of a step's bake (each minute), candidate
    against baseline over the step's window, as request counts (sluice.domain.analysis.verdict).

    Defaults: min_invocations 200 (per variant in the window before anything is judged), max_bake_seconds
    1800 (how long a step's bake may extend while traffic is too low to judge; then on_insufficient_data
    applies), error_rate_tolerance 0.001 (the candidate may err at most 0.1 percentage point more than the
    baseline), latency_tolerance 0.10 (its p`latency_percentile` may be at most 10 % above the
    baseline's), latency_percentile 90, confidence 0.95 (the chance that a candidate as good as the
    baseline is rolled back by the analysis, over every look of the rollout, stays below 5 %).
    """

    min_invocations: int = Field(default=DEFAULT_ANALYSIS_MIN_INVOCATIONS, ge=1, le=MAX_MIN_INVOCATIONS)
    max_bake_seconds: int = Field(default=DEFAULT_MAX_BAKE_SECONDS, ge=0, le=MAX_BAKE_SECONDS)
    error_rate_tolerance: float = Field(default=0.001, ge=0, lt=1)
    latency_tolerance: float = Field(default=0.10, ge=0, le=10)
    latency_percentile: float = Field(default=90.0, ge=50, le=99.9)
    confidence: float = Field(default=0.95, ge=0.5, le=0.9999)


class RolloutSettings(_StrictModel):
    """How traffic moves to the candidate.

    Defaults: steps [10, 25, 50, 100] (percent of traffic on the candidate), bake_seconds 300 at each
    step, no alarms of your own, the automatic alarms with their defaults, the canary analysis with its
    defaults (`AnalysisSettings`; null turns it off), on_insufficient_data "hold" (what happens when a
    step ends without evidence - the analysis still lacks traffic at max_bake_seconds, or with the
    analysis off an automatic alarm has no data: "hold" pauses the rollout until `sluice promote`,
    `sluice resume` or `sluice abort`; "continue" goes on; "rollback" rolls back), manual_approval
    false (true: wait for `sluice promote` before the last step), candidate_capacity "per_step" (the
    candidate's instances follow its share of traffic, added step by step; "full": it gets all its
    instances when it is added at 0 %, so every step is a weights-only change - see
    `rollout_plan.plan_rollout`).
    """

    steps: list[int] = Field(default_factory=lambda: list(DEFAULT_STEPS))
    bake_seconds: int = Field(default=DEFAULT_BAKE_SECONDS, ge=0, le=MAX_BAKE_SECONDS)
    alarms: list[AlarmName] = Field(default_factory=list, max_length=MAX_USER_ALARMS)
    auto_alarms: AutoAlarms | None = Field(default_factory=AutoAlarms)
    on_insufficient_data: Literal["hold", "continue", "rollback"] = "hold"
    manual_approval: bool = False
    candidate_capacity: Literal["per_step", "full"] = "per_step"
    analysis: AnalysisSettings | None = Field(default_factory=AnalysisSettings)

    @model_validator(mode="after")
    def _bake_fits_its_extension(self) -> RolloutSettings:
        analysis = self.analysis
        # Left to its default, max_bake_seconds stretches to a longer bake_seconds (see analyse).
        if (
            analysis is not None
            and "max_bake_seconds" in analysis.model_fields_set
            and analysis.max_bake_seconds < self.bake_seconds
        ):
            raise ValueError(
                f"analysis.max_bake_seconds ({analysis.max_bake_seconds}) is below bake_seconds "
                f"({self.bake_seconds}): a bake may only be extended, never cut short"
            )
        return self

    @field_validator("steps")
    @classmethod
    def _steps_are_a_ramp(cls, steps: list[int]) -> list[int]:
        if not steps:
            raise ValueError("no steps: list the candidate's traffic percentages, e.g. [10, 25, 50, 100]")
        problems = [
            f"step {position} is {percent}; each step is a percentage of traffic from 1 to 100"
            for position, percent in enumerate(steps, start=1)
            if not 1 <= percent <= 100
        ]
        problems += [
            f"step {position + 1} ({current}) is not above step {position} ({previous}); steps must be "
            "strictly increasing"
            for position, (previous, current) in enumerate(pairwise(steps), start=1)
            if current <= previous
        ]
        if steps[-1] != 100:
            problems.append(f"the last step is {steps[-1]}, but the rollout must end at 100 (all traffic)")
        if problems:
            raise ValueError("; ".join(problems))
        return steps

    @field_validator("alarms")
    @classmethod
    def _alarm_names_are_unique(cls, alarms: list[str]) -> list[str]:
        repeated = sorted({name for name in alarms if alarms.count(name) > 1})
        if repeated:
            raise ValueError(f"alarm names listed more than once: {', '.join(map(repr, repeated))}")
        return alarms


class DeployConfig(_StrictModel):
    """deploy.json. Every key is optional; no deploy.json at all = `DeployConfig()`.

    - image / environment: the candidate's single container. Left out, a rollout keeps the production
      variant's image and environment (only the model data changes); a first deployment needs an image.
    - containers / inference_execution_mode: a multi-container model instead (default mode "Serial",
      SageMaker's). Mutually exclusive with the top-level image and environment.
    - instance_type: left out, the candidate runs on the production variant's instance type (a first
      deployment needs one).
    - initial_instance_count: instances after promotion, at least the production variant's count
      (default: the production count; 2 for a first deployment, so SageMaker spreads them across
      Availability Zones).
    - autoscaling: registered on the promoted variant; left out, the production variant's registration
      (if any) is carried over.
    - rollout: see `RolloutSettings`.
    - require_multi_instance: true rejects any plan that ends on a single instance (default: a warning).
    """

    image: ImageUri | None = None
    environment: Environment | None = None
    containers: Annotated[list[ContainerSpec], Field(min_length=1, max_length=MAX_CONTAINERS)] | None = None
    inference_execution_mode: Literal["Serial", "Direct"] | None = None
    instance_type: InstanceType | None = None
    initial_instance_count: Annotated[int, Field(ge=1)] | None = None
    autoscaling: Autoscaling | None = None
    rollout: RolloutSettings = Field(default_factory=RolloutSettings)
    require_multi_instance: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> DeployConfig:
        problems = self._container_problems()
        total = environment_bytes(self.environment or {}) + sum(
            environment_bytes(container.environment) for container in self.containers or ()
        )
        if total > MAX_ENVIRONMENT_TOTAL_BYTES:
            problems.append(
                f"the environment variables total {total} bytes; SageMaker allows "
                f"{MAX_ENVIRONMENT_TOTAL_BYTES} (32 KB) for all containers of a model together"
            )
        count, scaling = self.initial_instance_count, self.autoscaling
        if count is not None and scaling is not None and not scaling.min <= count <= scaling.max:
            problems.append(
                f"initial_instance_count ({count}) is outside autoscaling min..max "
                f"({scaling.min}..{scaling.max}): Application Auto Scaling would resize it at once"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _container_problems(self) -> list[str]:
        if self.containers is None:
            if self.inference_execution_mode is not None:
                return [
                    "inference_execution_mode applies to multi-container models only: list the "
                    "containers, or remove inference_execution_mode"
                ]
            return []
        problems: list[str] = []
        both = [key for key in ("image", "environment") if getattr(self, key) is not None]
        if both:
            problems.append(
                f"containers and the top-level {' and '.join(both)} are mutually exclusive: give each "
                "container its own image and environment inside containers"
            )
        named = [index for index, container in enumerate(self.containers) if container.hostname is not None]
        unnamed = [index for index, container in enumerate(self.containers) if container.hostname is None]
        if self.inference_execution_mode == "Direct" and unnamed:
            where = ", ".join(f"containers[{index}]" for index in unnamed)
            problems.append(
                f"{where} has no hostname: with Direct invocation callers pick a container by its "
                "hostname (TargetContainerHostname), so every container needs one"
            )
        elif named and unnamed:
            where = ", ".join(f"containers[{index}]" for index in unnamed)
            problems.append(
                f"{where} has no hostname but other containers have one: in a Serial pipeline SageMaker "
                "needs a hostname on every container or on none"
            )
        first_by_hostname: dict[str, int] = {}
        for index in named:
            hostname = str(self.containers[index].hostname)
            if hostname in first_by_hostname:
                problems.append(
                    f"containers[{first_by_hostname[hostname]}] and containers[{index}] share the hostname "
                    f"{hostname!r}: hostnames must be unique"
                )
            else:
                first_by_hostname[hostname] = index
        if not any(container.takes_upload for container in self.containers):
            problems.append(
                "no container takes the uploaded model.tar.gz: leave model_data out of the container that "
                "serves it (model_data is for the other containers' own archives)"
            )
        return problems

    @property
    def execution_mode(self) -> Literal["Serial", "Direct"]:
        """The multi-container mode, SageMaker's default (Serial) when not given."""
        return self.inference_execution_mode or "Serial"

    def images(self) -> list[str]:
        """Every image this configuration names (none when it keeps the production variant's)."""
        return [image for _, image in self.image_fields()]

    def image_fields(self) -> list[tuple[str, str]]:
        """Each image with the deploy.json field that names it: ("image", ...) or
        ("containers[0].image", ...), as deploy.json's other errors name their field."""
        if self.containers is not None:
            return [(f"containers[{index}].image", spec.image) for index, spec in enumerate(self.containers)]
        return [("image", self.image)] if self.image is not None else []


_MODELS_BY_LOCATION: dict[tuple[str, ...], type[BaseModel]] = {
    (): DeployConfig,
    ("containers",): ContainerSpec,
    ("autoscaling",): Autoscaling,
    ("rollout",): RolloutSettings,
    ("rollout", "auto_alarms"): AutoAlarms,
    ("rollout", "analysis"): AnalysisSettings,
}

_PATTERN_MEANINGS = {
    INSTANCE_TYPE_PATTERN: "should be an ML instance type such as ml.m5.xlarge",
    ENVIRONMENT_KEY_PATTERN: (
        "should start with a letter or underscore and hold only letters, digits and underscores"
    ),
    HOSTNAME_PATTERN: (
        "should be letters and digits with hyphens between them, at most 63 characters "
        "(pattern [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62})"
    ),
    IMAGE_PATTERN: (
        "should be an image URI without spaces, e.g. <account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>"
    ),
    S3_URI_PATTERN: "should be an s3://<bucket>/<key> URI",
}


def parse_deploy_config(raw: bytes) -> DeployConfig:
    """Parse deploy.json; every problem becomes one RejectedConfiguration listing all errors."""
    return DEPLOY_JSON.parse(raw)


DEPLOY_JSON = ConfigFile(
    name="deploy.json",
    model=DeployConfig,
    models_by_location=_MODELS_BY_LOCATION,
    pattern_meanings=_PATTERN_MEANINGS,
    example='{"rollout": {"steps": [10, 50, 100]}}',
)


# --------------------------------------------------------------------------------------------------
# Image allow-list
# --------------------------------------------------------------------------------------------------

# AWS Deep Learning Containers: account 763104351884 in most Regions; the Regions below publish from
# their own account. Source: the SageMaker Python SDK's image URI configuration
# (src/sagemaker/image_uri_config/*.json, e.g. djl-lmi.json and pytorch.json "registries"), which the
# SageMaker developer guide points to for DLC image URIs ("Available Deep Learning Containers Images").
DLC_ACCOUNT = "763104351884"
DLC_REGIONAL_ACCOUNTS: dict[str, str] = {
    "af-south-1": "626614931356",
    "ap-east-1": "871362719292",
    "ap-northeast-3": "364406365360",
    "ap-southeast-3": "907027046896",
    "ca-west-1": "204538143572",
    "cn-north-1": "727897471807",
    "cn-northwest-1": "727897471807",
    "eu-south-1": "692866216735",
    "il-central-1": "780543022126",
    "me-central-1": "914824155844",
    "me-south-1": "217643126080",
    "us-gov-east-1": "446045086412",
    "us-gov-west-1": "442386744353",
}

# SageMaker's first-party framework containers (sagemaker-scikit-learn, sagemaker-xgboost 0.90+, the
# ones the seed's serial pipeline uses), one account per Region. Source: the same SDK configuration,
# sklearn.json and xgboost.json "registries". Built-in algorithms (linear-learner, kmeans, ...) use
# further per-algorithm accounts: add their registries to the stack's allow-list when needed.
FRAMEWORK_ACCOUNTS: dict[str, str] = {
    "af-south-1": "510948584623",
    "ap-east-1": "651117190479",
    "ap-northeast-1": "354813040037",
    "ap-northeast-2": "366743142698",
    "ap-northeast-3": "867004704886",
    "ap-south-1": "720646828776",
    "ap-south-2": "628508329040",
    "ap-southeast-1": "121021644041",
    "ap-southeast-2": "783357654285",
    "ap-southeast-3": "951798379941",
    "ap-southeast-4": "106583098589",
    "ca-central-1": "341280168497",
    "ca-west-1": "190319476487",
    "cn-north-1": "450853457545",
    "cn-northwest-1": "451049120500",
    "eu-central-1": "492215442770",
    "eu-central-2": "680994064768",
    "eu-north-1": "662702820516",
    "eu-south-1": "978288397137",
    "eu-south-2": "104374241257",
    "eu-west-1": "141502667606",
    "eu-west-2": "764974769150",
    "eu-west-3": "659782779980",
    "il-central-1": "898809789911",
    "me-central-1": "272398656194",
    "me-south-1": "801668240914",
    "sa-east-1": "737474898029",
    "us-east-1": "683313688378",
    "us-east-2": "257758044811",
    "us-gov-east-1": "237065988967",
    "us-gov-west-1": "414596584902",
    "us-west-1": "746614075791",
    "us-west-2": "246618743249",
}

_ACCOUNT_ID = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")


def ecr_registry(account_id: str, region: str) -> str:
    """The ECR registry host of an account in a Region (amazonaws.com.cn in the China Regions)."""
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account_id}.dkr.ecr.{region}.{domain}"


def default_allowed_registries(account_id: str, region: str) -> tuple[str, ...]:
    """The allow-list when the stack sets none: this account's ECR, the Deep Learning Containers
    registries and SageMaker's framework-container registry of the Region."""
    if not _ACCOUNT_ID.fullmatch(account_id):
        raise ValueError(f"account id must be 12 digits, got {account_id!r}")
    if not _REGION.fullmatch(region):
        raise ValueError(f"not an AWS Region name: {region!r}")
    registries = [ecr_registry(account_id, region), f"{DLC_ACCOUNT}.dkr.ecr.*.amazonaws.com"]
    for table in (DLC_REGIONAL_ACCOUNTS, FRAMEWORK_ACCOUNTS):
        if region in table:
            registries.append(ecr_registry(table[region], region))
    return tuple(dict.fromkeys(registries))


DEFAULT_ALLOWED_REGISTRIES = default_allowed_registries


def image_registry(image: str) -> str | None:
    """The registry host of an image reference, or None when it has none (Docker Hub shorthand).

    Docker's rule: the part before the first "/" is a registry host only if it holds a "." or a ":"
    or is "localhost"; `nginx:latest` and `team/app:1` are Docker Hub images.
    """
    first, slash, _ = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first
    return None


def registry_matches(pattern: str, registry: str) -> bool:
    """Whether `registry` matches an allow-list pattern; `*` stands for one or more characters inside
    one DNS label (never a dot). Case-insensitive, as host names are."""
    labels = registry.lower().split(".")
    pattern_labels = pattern.lower().split(".")
    if len(labels) != len(pattern_labels):
        return False
    return all(
        re.fullmatch(".+".join(re.escape(piece) for piece in wanted.split("*")), label) is not None
        for wanted, label in zip(pattern_labels, labels, strict=True)
    )


def check_image(image: str, allowed_registries: Sequence[str]) -> None:
    """Reject an image whose registry is not on the allow-list (write access to endpoints/ must not
    mean "run any container")."""
    allowed = ", ".join(allowed_registries) if allowed_registries else "none"
    registry = image_registry(image)
    if registry is None:
        raise RejectedConfiguration(
            f"image {image!r} names no registry host (Docker Hub shorthand): give the full URI, e.g. "
            f"<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>, from an allowed registry "
            f"(allowed: {allowed})"
        )
    if not any(registry_matches(pattern, registry) for pattern in allowed_registries):
        raise RejectedConfiguration(
            f"image {image!r} comes from registry {registry!r}, which is not on the allow-list "
            f"(allowed: {allowed}); push the image to an allowed registry or have the stack's "
            "allow-list extended"
        )


def check_images(config: DeployConfig, allowed_registries: Sequence[str]) -> None:
    """`check_image` on every image of `config`; the rejection names the field (`image`,
    `containers[1].image`), and the caller that read the file prefixes its key."""
    for field_name, image in config.image_fields():
        try:
            check_image(image, allowed_registries)
        except RejectedConfiguration as error:
            raise RejectedConfiguration(f"{field_name}: {error.reason}") from error


# --------------------------------------------------------------------------------------------------
# Capacity
# --------------------------------------------------------------------------------------------------


def autoscaling_target(autoscaling: Autoscaling) -> float:
    """Target value for SageMakerVariantInvocationsPerInstance (invocations per instance per minute)."""
    return autoscaling.max_rps * autoscaling.safety_factor * INVOCATIONS_PER_INSTANCE_PERIOD_SECONDS


def instance_count_warning(
    count: int, require_multi_instance: bool, *, what: str = "the endpoint"
) -> str | None:
    """The warning to record when `what` runs on one instance, None for two or more; a rejection
    instead of the warning when deploy.json sets require_multi_instance."""
    if count < 1:
        raise ValueError(f"instance count must be at least 1, got {count}")
    if count > 1:
        return None
    if require_multi_instance:
        raise RejectedConfiguration(
            f"{what} would run on a single instance, and deploy.json sets require_multi_instance: set "
            "initial_instance_count (and autoscaling min) to 2 or more"
        )
    return (
        f"{what} runs on a single instance: while SageMaker replaces it (host failure, patching, an "
        "update) the endpoint cannot serve. With two or more instances SageMaker spreads them across "
        "Availability Zones: set initial_instance_count (and autoscaling min) to 2 or more, or "
        "require_multi_instance to refuse single-instance deployments"
    )
