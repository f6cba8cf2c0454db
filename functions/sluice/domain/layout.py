"""The S3 layout contract: which keys mean what.

    multi-model/<endpoint>/<model>.tar.gz          -> register <model> on multi-model endpoint <endpoint>
    multi-model/<endpoint>/<model>.warmup.json     -> warm-up request for that model (read, not an intake)
    batch/<model>/input/<any path>                 -> batch transform over that object
    batch/<model>/input/<any path>.manifest.json   -> batch transform over the objects a manifest lists
    batch/<model>/batch.json                       -> batch settings (read, not an intake)
    endpoints/<endpoint>/<version>/model.tar.gz    -> canary rollout of <version> onto endpoint <endpoint>
    endpoints/<endpoint>/<version>/deploy.json     -> that version's rollout settings (read, not an intake)
    endpoints/<endpoint>/deploy.json               -> the endpoint's rollout settings (read, not an intake)

Every other key is outside the layout and ignored. Sluice writes its own copies outside the intake
prefixes (and marks them, so an intake ignores them wherever they land):

    published/endpoints/<endpoint>/<version>/<sha256>/model.tar.gz -> the validated archive a rollout's
                                                                      model serves (never overwritten)

Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote_plus

from sluice.errors import RejectedName

SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")

MULTI_MODEL_PREFIX = "multi-model/"
BATCH_PREFIX = "batch/"
ENDPOINTS_PREFIX = "endpoints/"
PUBLISHED_ENDPOINTS_PREFIX = "published/endpoints/"  # no intake rule matches it (template.yaml)
ARTIFACT_SUFFIX = ".tar.gz"
WARMUP_SUFFIX = ".warmup.json"
MANIFEST_SUFFIX = ".manifest.json"
BATCH_SETTINGS_NAME = "batch.json"
ENDPOINT_ARTIFACT_NAME = "model.tar.gz"
DEPLOY_SETTINGS_NAME = "deploy.json"
VERSION_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9-]{0,31}$")
VERSION_MAX_LENGTH = 32


def validate_sagemaker_name(value: str, what: str) -> str:
    """Return `value` if it is a valid SageMaker resource name, else reject with a precise reason."""
    if SAGEMAKER_NAME.fullmatch(value):
        return value
    if not value:
        raise RejectedName(f"{what} name is empty")
    if len(value) > 63:
        raise RejectedName(f"{what} name {value!r} is {len(value)} characters long; SageMaker allows 63")
    raise RejectedName(
        f"{what} name {value!r} is not a valid SageMaker name: use letters, digits and single or "
        "repeated hyphens between them (pattern ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$)"
    )


def validate_version(version: str) -> str:
    """Return `version` if it is a valid rollout version (a folder in endpoints/<endpoint>/), else reject.

    Versions match ^[a-zA-Z0-9][a-zA-Z0-9-]{0,31}$: they become part of SageMaker model, variant and
    endpoint config names, which allow only letters, digits and hyphens.
    """
    if VERSION_PATTERN.fullmatch(version):
        return version
    if not version:
        raise RejectedName("version is empty: upload to endpoints/<endpoint>/<version>/model.tar.gz")
    if len(version) > VERSION_MAX_LENGTH:
        raise RejectedName(
            f"version {version!r} is {len(version)} characters long; Sluice allows {VERSION_MAX_LENGTH}"
        )
    if not version[0].isascii() or not version[0].isalnum():
        raise RejectedName(f"version {version!r} must start with a letter or a digit")
    bad = sorted({char for char in version if not (char.isascii() and (char.isalnum() or char == "-"))})
    raise RejectedName(
        f"version {version!r} contains {', '.join(repr(char) for char in bad)}: use only letters, digits "
        "and hyphens (pattern ^[a-zA-Z0-9][a-zA-Z0-9-]{0,31}$)"
    )


@dataclass(frozen=True)
class MultiModelArtifact:
    """An archive to publish onto a multi-model endpoint. Names are not yet validated."""

    key: str
    endpoint: str
    model: str
    kind: Literal["multi-model"] = "multi-model"

    @property
    def warmup_key(self) -> str:
        return f"{MULTI_MODEL_PREFIX}{self.endpoint}/{self.model}{WARMUP_SUFFIX}"


@dataclass(frozen=True)
class BatchInput:
    """An object (or a manifest of objects) to run a batch transform over. Model name not yet validated."""

    key: str
    model: str
    relative_path: str
    is_manifest: bool
    kind: Literal["batch"] = "batch"

    @property
    def settings_key(self) -> str:
        return f"{BATCH_PREFIX}{self.model}/{BATCH_SETTINGS_NAME}"

    @property
    def output_prefix(self) -> str:
        return f"{BATCH_PREFIX}{self.model}/output/"


@dataclass(frozen=True)
class EndpointArtifact:
    """A model version to roll out onto a real-time endpoint. Endpoint and version are not yet validated."""

    key: str
    endpoint: str
    version: str
    kind: Literal["endpoint"] = "endpoint"

    @property
    def deploy_config_keys(self) -> tuple[str, str]:
        """Where the rollout settings may be, in lookup order: this version's, then the endpoint's."""
        endpoint_prefix = f"{ENDPOINTS_PREFIX}{self.endpoint}/"
        return (
            f"{endpoint_prefix}{self.version}/{DEPLOY_SETTINGS_NAME}",
            f"{endpoint_prefix}{DEPLOY_SETTINGS_NAME}",
        )

    def published_key(self, sha256: str) -> str:
        """Where the validated archive is copied for the candidate model to serve.

        SageMaker downloads ModelDataUrl again whenever it starts an instance (scale-out, replacement),
        so it must name bytes that never change: the key holds the archive's sha256, and is outside
        endpoints/, so the copy starts no rollout.
        """
        return f"{PUBLISHED_ENDPOINTS_PREFIX}{self.endpoint}/{self.version}/{sha256}/{ENDPOINT_ARTIFACT_NAME}"


@dataclass(frozen=True)
class OutsideLayout:
    """A key Sluice does not act on, with the reason (logged at debug level)."""

    key: str
    reason: str
    kind: Literal["ignored"] = "ignored"


IntakeTarget = MultiModelArtifact | BatchInput | EndpointArtifact | OutsideLayout


def classify_key(key: str) -> IntakeTarget:
    """Map a real (decoded) S3 key onto the layout contract."""
    if key.startswith(MULTI_MODEL_PREFIX):
        rest = key[len(MULTI_MODEL_PREFIX) :]
        parts = rest.split("/")
        if len(parts) != 2:
            return OutsideLayout(key, "multi-model keys are multi-model/<endpoint>/<model>.tar.gz")
        endpoint, filename = parts
        if not filename.endswith(ARTIFACT_SUFFIX):
            return OutsideLayout(key, "not a .tar.gz model archive")
        model = filename[: -len(ARTIFACT_SUFFIX)]
        return MultiModelArtifact(key=key, endpoint=endpoint, model=model)
    if key.startswith(BATCH_PREFIX):
        parts = key[len(BATCH_PREFIX) :].split("/", 2)
        if len(parts) < 3 or parts[1] != "input":
            return OutsideLayout(key, "batch inputs are batch/<model>/input/<path>")
        model, _, relative = parts
        if not relative or relative.endswith("/"):
            return OutsideLayout(key, "a folder marker, not an input object")
        return BatchInput(
            key=key, model=model, relative_path=relative, is_manifest=relative.endswith(MANIFEST_SUFFIX)
        )
    if key.startswith(ENDPOINTS_PREFIX):
        return _classify_endpoint_key(key)
    return OutsideLayout(key, "outside the multi-model/, batch/ and endpoints/ prefixes")


def _classify_endpoint_key(key: str) -> IntakeTarget:
    parts = key[len(ENDPOINTS_PREFIX) :].split("/")
    if parts[-1] == DEPLOY_SETTINGS_NAME and len(parts) in (2, 3):
        return OutsideLayout(
            key, "a deploy.json only configures rollouts: uploading it starts nothing (a model.tar.gz does)"
        )
    if len(parts) != 3 or parts[2] != ENDPOINT_ARTIFACT_NAME:
        return OutsideLayout(key, "endpoint uploads are endpoints/<endpoint>/<version>/model.tar.gz")
    endpoint, version, _ = parts
    if not endpoint or not version:
        return OutsideLayout(key, "endpoint uploads are endpoints/<endpoint>/<version>/model.tar.gz")
    return EndpointArtifact(key=key, endpoint=endpoint, version=version)


KeyEncoding = Literal["raw", "url"]


def candidate_keys(key_in_event: str, encoding: KeyEncoding) -> list[str]:
    """The real keys an event's key may stand for, most likely first.

    Classic S3 notifications URL-encode keys (`+` for space): decode exactly once. EventBridge events
    carry the raw key, but a URL-encoded one from another producer is still resolved: the raw reading
    first, the decoded one second. The caller keeps the first candidate that exists in S3.
    """
    decoded = unquote_plus(key_in_event)
    if encoding == "url":
        return [decoded]
    return [key_in_event] if decoded == key_in_event else [key_in_event, decoded]
