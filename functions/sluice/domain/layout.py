"""The S3 layout contract: which keys mean what.

    multi-model/<endpoint>/<model>.tar.gz          -> register <model> on multi-model endpoint <endpoint>
    multi-model/<endpoint>/<model>.warmup.json     -> warm-up request for that model (read, not an intake)
    batch/<model>/input/<any path>                 -> batch transform over that object
    batch/<model>/input/<any path>.manifest.json   -> batch transform over the objects a manifest lists
    batch/<model>/batch.json                       -> batch settings (read, not an intake)

Every other key is outside the layout and ignored. Pure: no I/O.
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
ARTIFACT_SUFFIX = ".tar.gz"
WARMUP_SUFFIX = ".warmup.json"
MANIFEST_SUFFIX = ".manifest.json"
BATCH_SETTINGS_NAME = "batch.json"


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
class OutsideLayout:
    """A key Sluice does not act on, with the reason (logged at debug level)."""

    key: str
    reason: str
    kind: Literal["ignored"] = "ignored"


IntakeTarget = MultiModelArtifact | BatchInput | OutsideLayout


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
    return OutsideLayout(key, "outside the multi-model/ and batch/ prefixes")


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
