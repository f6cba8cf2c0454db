"""A resource's resolved properties (which were read, which are not emulated), physical names, and
CloudFormation values as the service APIs take them (text, JSON, booleans, tags)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from sluice_cli.sandbox.template import SERVERLESS_FUNCTION

SERVERLESS_STATE_MACHINE = "AWS::Serverless::StateMachine"
STEP_FUNCTIONS_STATE_MACHINE = "AWS::StepFunctions::StateMachine"


# Properties that change nothing the sandbox can observe (read by no emulated code path).
IGNORED_PROPERTIES: dict[str, frozenset[str]] = {
    SERVERLESS_FUNCTION: frozenset(
        {
            "CodeUri",
            "InlineCode",
            "Runtime",
            "Architectures",
            "Tracing",
            "Description",
            "Policies",
            "Role",
            "Layers",
            "ReservedConcurrentExecutions",
            "Tags",
            "AutoPublishAlias",
            "DeploymentPreference",
            "VpcConfig",
            "KmsKeyArn",
            "PackageType",
            "ProvisionedConcurrencyConfig",
            "FunctionUrlConfig",
            "PropagateTags",
            "RecursiveLoop",
            "SnapStart",
            "RuntimeManagementConfig",
            "EphemeralStorage",
            "PermissionsBoundary",
            "CodeSigningConfigArn",
            "AssumeRolePolicyDocument",
            "AutoPublishCodeSha256",
            "FileSystemConfigs",
            "ImageUri",
            "ImageConfig",
            "RolePath",
        }
    ),
    "AWS::S3::Bucket": frozenset({"Tags"}),
    "AWS::DynamoDB::Table": frozenset({"ContributorInsightsSpecification", "KinesisStreamSpecification"}),
    "AWS::SQS::Queue": frozenset(),
    "AWS::SNS::Topic": frozenset({"DataProtectionPolicy", "DeliveryStatusLogging"}),
    "AWS::Events::Rule": frozenset({"Description"}),
    "AWS::IAM::Role": frozenset({"Description", "MaxSessionDuration", "PermissionsBoundary"}),
    "AWS::SNS::Subscription": frozenset({"Region"}),
    # IAM is not enforced; logs, traces, aliases and deployment preferences have nothing to act on.
    SERVERLESS_STATE_MACHINE: frozenset(
        {
            "Policies",
            "PermissionsBoundary",
            "RolePath",
            "Logging",
            "Tracing",
            "AutoPublishAlias",
            "DeploymentPreference",
            "UseAliasAsEventTarget",
            "PropagateTags",
        }
    ),
    STEP_FUNCTIONS_STATE_MACHINE: frozenset(
        {"LoggingConfiguration", "TracingConfiguration", "EncryptionConfiguration"}
    ),
    # Only scheduling the key's deletion reads it; the sandbox never deletes.
    "AWS::KMS::Key": frozenset({"PendingWindowInDays"}),
}

# SAM event properties with no effect in the sandbox: delivery from the bus to the route queue
# cannot fail, so the rule's own retry policy and dead-letter queue never come into play.
# ScalingConfig caps concurrency, and the router runs one invocation at a time anyway.
IGNORED_EVENT_PROPERTIES = frozenset(
    {"RetryPolicy", "DeadLetterConfig", "Target", "Description", "ScalingConfig"}
)


def physical_name(
    stack_name: str,
    logical_id: str,
    *,
    max_length: int,
    kind: str = "",
    lowercase: bool = False,
    allowed: str = r"A-Za-z0-9-",
) -> str:
    """`<stack>-[<kind>-]<logicalid lowercased>-<short hash>`, deterministic, within `max_length`."""
    digest = hashlib.sha256(f"{stack_name}/{kind}/{logical_id}".encode()).hexdigest()[:8]
    stack = stack_name.lower() if lowercase else stack_name
    base = "-".join(part for part in (stack, kind, logical_id.lower()) if part)
    base = re.sub(f"[^{allowed}]", "-", base)
    base = base[: max_length - len(digest) - 1].rstrip("-.")
    return f"{base}-{digest}"


def text_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def json_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def truthy(value: Any, default: bool = False) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).lower() == "true"


def api_tags(value: Any) -> list[dict[str, str]]:
    return [{"Key": str(t["Key"]), "Value": text_value(t["Value"])} for t in value or []]


class Properties:
    """Resolved properties; remembers which were read so the rest can be reported."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = dict(values)
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return self.values.get(key, default)

    def __contains__(self, key: str) -> bool:
        return key in self.values

    def unread(self, ignored: frozenset[str]) -> list[str]:
        return sorted(set(self.values) - self.read - ignored)

    def texts(self, *keys: str) -> dict[str, str]:
        """The properties among `keys` that are set, as attribute strings (SNS and SQS attributes)."""
        return {key: text_value(self.get(key)) for key in keys if self.get(key) is not None}
