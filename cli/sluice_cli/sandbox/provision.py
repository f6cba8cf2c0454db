"""Create the stack of template.yaml in the emulator, resource by resource, with service APIs.

Not `cloudformation.create_stack`: moto skips every `AWS::Serverless::*` resource and the bucket's
EventBridge setting (EMULATION_NOTES.md, CloudFormation / SAM). Here each resource type has one
function that creates it; a type with no function and no entry in `SKIPPED_RESOURCE_TYPES` stops
provisioning with its name, so a resource added to the template cannot be silently ignored.

Each function becomes a `FunctionSpec` for the in-process router, and a function of the same name in
moto's Lambda (placeholder code, the template's role, environment and handler) so that its name and ARN
resolve for Step Functions `lambda:invoke` tasks and lambda:Invoke; moto never runs it
(emulator_gaps.StepFunctionsLambdaTasks hands the invocation to the router). Their `EventBridgeRule`
events become real EventBridge rules whose only target is a sandbox-owned SQS "route" queue (moto
delivers rule targets to SQS only; no Lambda or Step Functions target is ever registered); their `SQS`
events become `EventSourceMapping`s.

State machines (AWS::Serverless::StateMachine with Definition or a local DefinitionUri,
AWS::StepFunctions::StateMachine with Definition or DefinitionString) are created in moto's Step
Functions with DefinitionSubstitutions applied; their EventBridgeRule events, and AWS::Events::Rule
targets naming them, become route queues too (`StateMachineRoute`), on which the router starts an
execution per event.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sluice_cli.sandbox.template import (
    SERVERLESS_FUNCTION,
    IntrinsicResolver,
    PseudoParameters,
    Resource,
    ResourceRef,
    Template,
    TemplateError,
    load_template,
    load_yaml,
    merge_globals,
    referenced_names,
)

log = logging.getLogger(__name__)

SERVERLESS_STATE_MACHINE = "AWS::Serverless::StateMachine"
STEP_FUNCTIONS_STATE_MACHINE = "AWS::StepFunctions::StateMachine"
# Runtime of a function in moto's Lambda when the template names none (moto never runs the code).
DEFAULT_LAMBDA_RUNTIME = "python3.13"
_LAMBDA_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}
_STATES_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}
# `${Name}` placeholders of a state machine definition (DefinitionSubstitutions).
_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")

# Types the sandbox deliberately does not create, each with the reason. Anything else unknown fails.
SKIPPED_RESOURCE_TYPES: dict[str, str] = {
    "AWS::CloudWatch::Dashboard": "dashboards only render metrics; nothing in the sandbox reads them",
    "AWS::Lambda::Permission": "moto enforces no resource policies; the router invokes handlers itself",
    "AWS::IAM::Policy": "moto does not enforce IAM",
    "AWS::IAM::ManagedPolicy": "moto does not enforce IAM",
    "AWS::Lambda::EventInvokeConfig": "read from the functions' EventInvokeConfig by the router",
}

# Properties that change nothing the sandbox can observe (read by no emulated code path).
_IGNORED_PROPERTIES: dict[str, frozenset[str]] = {
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
_IGNORED_EVENT_PROPERTIES = frozenset(
    {"RetryPolicy", "DeadLetterConfig", "Target", "Description", "ScalingConfig"}
)


class ClientFactory(Protocol):
    def client(self, service_name: str) -> Any: ...


class Clients:
    """boto3 clients, one per service, created on first use (thread-safe; clients themselves are)."""

    def __init__(self, session: Any | None = None, endpoint_url: str | None = None) -> None:
        if session is None:
            import boto3

            session = boto3.session.Session()
        self.session = session
        self.endpoint_url = endpoint_url
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def client(self, service_name: str) -> Any:
        with self._lock:
            if service_name not in self._clients:
                kwargs = {"endpoint_url": self.endpoint_url} if self.endpoint_url else {}
                self._clients[service_name] = self.session.client(service_name, **kwargs)
            return self._clients[service_name]

    def __call__(self, service_name: str) -> Any:
        return self.client(service_name)

    def close(self) -> None:
        """Close every client's connections."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()


# --------------------------------------------------------------------------------------------------
# What the stack turned into
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Destination:
    """An asynchronous-invocation destination (EventInvokeConfig) or dead-letter queue."""

    type: str  # SQS | SNS | EventBridge
    arn: str


@dataclass(frozen=True)
class EventInvokeSettings:
    maximum_retry_attempts: int = 2
    maximum_event_age_seconds: int = 21600
    on_failure: Destination | None = None
    on_success: Destination | None = None


@dataclass(frozen=True)
class FunctionSpec:
    """An AWS::Serverless::Function as the router runs it, in-process."""

    logical_id: str
    name: str
    arn: str
    handler: str
    environment: Mapping[str, str]
    timeout_seconds: int
    memory_mb: int
    event_invoke: EventInvokeSettings
    dead_letter: Destination | None = None
    # LoggingConfig, recorded as Lambda would apply it; the in-process runner logs to the console.
    log_group: str = ""  # LoggingConfig.LogGroup, else Lambda's default /aws/lambda/<name>
    log_format: str = "Text"  # Text | JSON
    application_log_level: str | None = None  # JSON format only (AWS_LAMBDA_LOG_LEVEL)


@dataclass(frozen=True, kw_only=True)
class EventRoute:
    """An EventBridge rule that routes to the stack (a SAM EventBridgeRule event, or an AWS::Events::Rule
    target): a real rule in moto whose target is a sandbox-owned route queue, polled by the router."""

    event_name: str  # the SAM event name, or the target Id of an AWS::Events::Rule
    rule_logical_id: str
    rule_name: str
    rule_arn: str
    event_bus_name: str
    pattern: Mapping[str, Any]
    queue_url: str
    queue_arn: str
    enabled: bool = True
    # The target's Input / InputPath, applied by the router (moto applies only InputTransformer).
    input: str | None = None
    input_path: str | None = None


@dataclass(frozen=True, kw_only=True)
class Route(EventRoute):
    """A function's EventBridgeRule event: a real rule in moto whose target is a route queue."""

    function: str


@dataclass(frozen=True)
class StateMachineSpec:
    """A state machine as created in moto's Step Functions (definition with substitutions applied)."""

    logical_id: str
    name: str
    arn: str
    type: str  # STANDARD | EXPRESS
    role_arn: str
    definition: Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class StateMachineRoute(EventRoute):
    """An EventBridge rule whose target is a state machine of the stack (a SAM EventBridgeRule event of
    the state machine, or an AWS::Events::Rule target): a real rule in moto whose target is a route
    queue; the router starts one execution per message, the message body (the event, or what the
    target's Input/InputPath/InputTransformer made of it) as the execution input."""

    state_machine: str  # logical id


@dataclass(frozen=True)
class EventSourceMapping:
    """A function's SQS event: the router polls the queue like Lambda's poller does."""

    function: str
    event_name: str
    uuid: str
    queue_url: str
    queue_arn: str
    batch_size: int = 10
    report_batch_item_failures: bool = False
    enabled: bool = True
    maximum_batching_window_seconds: int = 0


@dataclass(frozen=True)
class ProvisionedResource:
    logical_id: str
    type: str
    ref: str
    attributes: Mapping[str, Any]
    skipped_reason: str | None = None


@dataclass
class StackOutputs:
    stack_name: str
    region: str
    account_id: str
    template: Template
    outputs: dict[str, Any] = field(default_factory=dict)
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)
    event_source_mappings: list[EventSourceMapping] = field(default_factory=list)
    state_machines: dict[str, StateMachineSpec] = field(default_factory=dict)
    state_machine_routes: list[StateMachineRoute] = field(default_factory=list)
    resources: dict[str, ProvisionedResource] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def ref(self, logical_id: str) -> str:
        """The `Ref` value of a resource (bucket/table name, queue URL, topic ARN, function name)."""
        return self.resources[logical_id].ref

    def attribute(self, logical_id: str, attribute: str) -> Any:
        return self.resources[logical_id].attributes[attribute]

    @property
    def route_queue_urls(self) -> list[str]:
        return [route.queue_url for route in self.routes] + [
            route.queue_url for route in self.state_machine_routes
        ]

    def routes_of(self, function: str) -> list[Route]:
        return [route for route in self.routes if route.function == function]

    def mappings_of(self, function: str) -> list[EventSourceMapping]:
        return [m for m in self.event_source_mappings if m.function == function]

    def state_machine_routes_of(self, state_machine: str) -> list[StateMachineRoute]:
        return [route for route in self.state_machine_routes if route.state_machine == state_machine]

    def function_named(self, name: str) -> FunctionSpec | None:
        """The function whose physical name (as in its ARN) is `name`."""
        for function in self.functions.values():
            if function.name == name:
                return function
        return None

    def state_machine(self, logical_id_or_arn: str) -> StateMachineSpec:
        """A state machine of the stack, by logical id or ARN."""
        if logical_id_or_arn in self.state_machines:
            return self.state_machines[logical_id_or_arn]
        for machine in self.state_machines.values():
            if machine.arn == logical_id_or_arn:
                return machine
        raise KeyError(f"no state machine {logical_id_or_arn!r} in the stack")


# --------------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------------
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


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _truthy(value: Any, default: bool = False) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).lower() == "true"


def _tags(value: Any) -> list[dict[str, str]]:
    return [{"Key": str(t["Key"]), "Value": _text(t["Value"])} for t in value or []]


class _Properties:
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
        return {key: _text(self.get(key)) for key in keys if self.get(key) is not None}


@dataclass(frozen=True)
class _RouteRule:
    """A rule and its route queue: for a SAM event, a rule created with that queue as its only target;
    for an AWS::Events::Rule, the rule and the queue that stands in for one of its targets."""

    name: str
    arn: str
    bus: str
    pattern: Mapping[str, Any]
    queue_url: str
    queue_arn: str
    enabled: bool
    input: str | None
    input_path: str | None


def _placeholder_code(handler: str) -> bytes:
    """A zip for moto's Lambda: one module that says where the real handler runs."""
    import io
    import zipfile

    module = handler.rpartition(".")[0].replace(".", "/") or "handler"
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr(
            f"{module}.py",
            "# sluice sandbox placeholder: the real handler runs in-process (sluice_cli.sandbox.router)\n",
        )
    return archive.getvalue()


def substitute_definition(value: Any, substitutions: Mapping[str, str], owner: str) -> Any:
    """`${Name}` in every string (keys included) of a state machine definition replaced by
    DefinitionSubstitutions' value; a placeholder without a substitution is an error (it would reach
    Step Functions as text)."""
    if isinstance(value, dict):
        return {
            substitute_definition(k, substitutions, owner): substitute_definition(v, substitutions, owner)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [substitute_definition(item, substitutions, owner) for item in value]
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in substitutions:
                raise TemplateError(
                    f"{owner}: definition placeholder ${{{name}}} has no DefinitionSubstitutions"
                )
            return substitutions[name]

        return _PLACEHOLDER.sub(replace, value)
    return value


# --------------------------------------------------------------------------------------------------
# The provisioner
# --------------------------------------------------------------------------------------------------
_EVENTBRIDGE_EVENT_TYPES = frozenset({"EventBridgeRule", "CloudWatchEvent"})


class _Provisioner:
    def __init__(
        self,
        clients: ClientFactory,
        template: Template,
        skipped_types: Mapping[str, str],
        imports: Mapping[str, str] | None,
    ) -> None:
        self.clients = clients
        self.template = template
        self.pseudo = template.pseudo
        self.skipped_types = dict(skipped_types)
        self.refs: dict[str, ResourceRef] = {}
        self.resolver = IntrinsicResolver(template, self.refs, imports=imports)
        self.stack = StackOutputs(
            stack_name=self.pseudo.stack_name,
            region=self.pseudo.region,
            account_id=self.pseudo.account_id,
            template=template,
        )
        self.creators: dict[str, Callable[[Resource], ProvisionedResource]] = {
            "AWS::S3::Bucket": self._bucket,
            "AWS::S3::BucketPolicy": self._bucket_policy,
            "AWS::DynamoDB::Table": self._table,
            "AWS::SNS::Topic": self._topic,
            "AWS::SNS::TopicPolicy": self._topic_policy,
            "AWS::SNS::Subscription": self._subscription,
            "AWS::SQS::Queue": self._queue,
            "AWS::SQS::QueuePolicy": self._queue_policy,
            "AWS::Events::Rule": self._rule,
            "AWS::Events::EventBus": self._event_bus,
            "AWS::IAM::Role": self._role,
            "AWS::Logs::LogGroup": self._log_group,
            "AWS::KMS::Key": self._kms_key,
            "AWS::KMS::Alias": self._kms_alias,
            "AWS::CloudWatch::Alarm": self._alarm,
            SERVERLESS_FUNCTION: self._function,
            SERVERLESS_STATE_MACHINE: self._state_machine,
            STEP_FUNCTIONS_STATE_MACHINE: self._state_machine,
        }

    # -- orchestration ----------------------------------------------------------------------------
    def run(self) -> StackOutputs:
        unknown = sorted(
            {r.type for r in self.template.resources.values()} - set(self.creators) - set(self.skipped_types)
        )
        if unknown:
            raise TemplateError(
                "the sandbox cannot create resource type(s) "
                + ", ".join(unknown)
                + ": add a creator in sluice_cli/sandbox/provision.py or an entry with a reason in "
                "SKIPPED_RESOURCE_TYPES"
            )
        for resource in self._creation_order():
            if resource.type in self.creators:
                provisioned = self.creators[resource.type](resource)
            else:
                provisioned = self._skipped(resource)
            self._record(provisioned)
        self.stack.outputs = self._outputs()
        return self.stack

    def _record(self, provisioned: ProvisionedResource) -> None:
        self.stack.resources[provisioned.logical_id] = provisioned
        self.refs[provisioned.logical_id] = ResourceRef(provisioned.ref, dict(provisioned.attributes))

    def _implicit_ids(self) -> dict[str, str]:
        """SAM's generated resources (`<Fn>Role`, `<Fn><Event>` rules and mappings, a state machine's
        `<Sm>Role`, `<Sm><Event>` rules and `<Sm><Event>Role`) -> their function or state machine."""
        owners: dict[str, str] = {}
        for owner in [*self.template.functions, *self.template.of_type(SERVERLESS_STATE_MACHINE)]:
            oid = owner.logical_id
            if "Role" not in owner.properties:
                owners[f"{oid}Role"] = oid
            for event_name in dict(owner.properties.get("Events") or {}):
                owners[f"{oid}{event_name}"] = oid
                if owner.type == SERVERLESS_STATE_MACHINE:
                    owners[f"{oid}{event_name}Role"] = oid
        return owners

    def _creation_order(self) -> list[Resource]:
        resources = self.template.resources
        owners = self._implicit_ids()
        dependencies: dict[str, set[str]] = {}
        for logical_id, resource in resources.items():
            names = referenced_names(resource.properties) | set(resource.depends_on)
            deps = {owners.get(name, name) for name in names}
            dependencies[logical_id] = {d for d in deps if d in resources and d != logical_id}
        ordered: list[Resource] = []
        done: set[str] = set()
        while len(done) < len(resources):
            ready = [lid for lid in resources if lid not in done and dependencies[lid] <= done]
            if not ready:
                cycle = sorted(lid for lid in resources if lid not in done)
                raise TemplateError(f"circular dependency between {', '.join(cycle)}")
            for lid in ready:
                ordered.append(resources[lid])
                done.add(lid)
        return ordered

    def _outputs(self) -> dict[str, Any]:
        outputs: dict[str, Any] = {}
        for name, spec in self.template.outputs.items():
            if not self.template.condition_holds(spec.get("Condition")):
                continue
            outputs[name] = self.resolver.resolve(spec.get("Value"))
        return outputs

    def _properties(self, resource: Resource) -> _Properties:
        return _Properties(self.resolver.resolve(resource.properties))

    def _warn_unread(self, resource: Resource, props: _Properties) -> None:
        for key in props.unread(_IGNORED_PROPERTIES.get(resource.type, frozenset())):
            message = f"{resource.logical_id} ({resource.type}): property {key} is not emulated"
            self.stack.warnings.append(message)
            log.warning(message)

    def _name(self, resource: Resource, explicit: Any, *, max_length: int, lowercase: bool = False) -> str:
        if explicit:
            return str(explicit)
        return physical_name(
            self.pseudo.stack_name, resource.logical_id, max_length=max_length, lowercase=lowercase
        )

    def _arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return ":".join(
            [
                "arn",
                self.pseudo.partition,
                service,
                self.pseudo.region if region else "",
                self.pseudo.account_id if account else "",
                resource,
            ]
        )

    def _skipped(self, resource: Resource) -> ProvisionedResource:
        reason = self.skipped_types[resource.type]
        log.info("skipping %s (%s): %s", resource.logical_id, resource.type, reason)
        name = physical_name(self.pseudo.stack_name, resource.logical_id, max_length=128)
        return ProvisionedResource(resource.logical_id, resource.type, name, {}, skipped_reason=reason)

    # -- S3 ---------------------------------------------------------------------------------------
    def _bucket(self, resource: Resource) -> ProvisionedResource:
        props = self._properties(resource)
        s3 = self.clients.client("s3")
        name = self._name(resource, props.get("BucketName"), max_length=63, lowercase=True)
        if self.pseudo.region == "us-east-1":
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(
                Bucket=name, CreateBucketConfiguration={"LocationConstraint": self.pseudo.region}
            )
        versioning = props.get("VersioningConfiguration")
        if versioning:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": versioning["Status"]})
        encryption = props.get("BucketEncryption")
        if encryption:
            rules = []
            for rule in encryption["ServerSideEncryptionConfiguration"]:
                api_rule: dict[str, Any] = {
                    "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]
                }
                if "BucketKeyEnabled" in rule:
                    api_rule["BucketKeyEnabled"] = _truthy(rule["BucketKeyEnabled"])
                rules.append(api_rule)
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
        public_access = props.get("PublicAccessBlockConfiguration")
        if public_access:
            s3.put_public_access_block(
                Bucket=name,
                PublicAccessBlockConfiguration={k: _truthy(v) for k, v in public_access.items()},
            )
        ownership = props.get("OwnershipControls")
        if ownership:
            s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=ownership)
        lifecycle = props.get("LifecycleConfiguration")
        if lifecycle:
            s3.put_bucket_lifecycle_configuration(
                Bucket=name,
                LifecycleConfiguration={"Rules": [_lifecycle_rule(r) for r in lifecycle["Rules"]]},
            )
        notification = props.get("NotificationConfiguration")
        if notification:
            s3.put_bucket_notification_configuration(
                Bucket=name, NotificationConfiguration=_notification_configuration(resource, notification)
            )
        tags = props.get("Tags")
        if tags:
            s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": _tags(tags)})
        self._warn_unread(resource, props)
        suffix = self.pseudo.url_suffix
        return ProvisionedResource(
            resource.logical_id,
            resource.type,
            name,
            {
                "Arn": self._arn("s3", name, region=False, account=False),
                "DomainName": f"{name}.s3.{suffix}",
                "RegionalDomainName": f"{name}.s3.{self.pseudo.region}.{suffix}",
                "DualStackDomainName": f"{name}.s3.dualstack.{self.pseudo.region}.{suffix}",
                "WebsiteURL": f"http://{name}.s3-website-{self.pseudo.region}.{suffix}",
            },
        )

    def _bucket_policy(self, resource: Resource) -> ProvisionedResource:
        props = self._properties(resource)
        bucket = str(props.get("Bucket"))
        self.clients.client("s3").put_bucket_policy(Bucket=bucket, Policy=_json(props.get("PolicyDocument")))
        self._warn_unread(resource, props)
        return ProvisionedResource(resource.logical_id, resource.type, bucket, {})

    # -- DynamoDB ---------------------------------------------------------------------------------
    def _table(self, resource: Resource) -> ProvisionedResource:
        props = self._properties(resource)
        dynamodb = self.clients.client("dynamodb")
        name = self._name(resource, props.get("TableName"), max_length=255)
        request: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props.get("AttributeDefinitions"),
            "KeySchema": props.get("KeySchema"),
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
        }
        for key in ("ProvisionedThroughput", "LocalSecondaryIndexes", "TableClass", "OnDemandThroughput"):
            if props.get(key) is not None:
                request[key] = props.get(key)
        if props.get("GlobalSecondaryIndexes"):
            request["GlobalSecondaryIndexes"] = [
                {k: v for k, v in index.items() if k != "ContributorInsightsSpecification"}
                for index in props.get("GlobalSecondaryIndexes")
            ]
        if props.get("StreamSpecification"):
            request["StreamSpecification"] = {"StreamEnabled": True, **props.get("StreamSpecification")}
        sse = props.get("SSESpecification")
        if sse:
            request["SSESpecification"] = {
                "Enabled": _truthy(sse.get("SSEEnabled")),
                **{k: v for k, v in sse.items() if k in {"SSEType", "KMSMasterKeyId"}},
            }
        if props.get("DeletionProtectionEnabled") is not None:
            request["DeletionProtectionEnabled"] = _truthy(props.get("DeletionProtectionEnabled"))
        if props.get("Tags"):
            request["Tags"] = _tags(props.get("Tags"))
        description = dynamodb.create_table(**request)["TableDescription"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={
                    "AttributeName": ttl["AttributeName"],
                    "Enabled": _truthy(ttl["Enabled"]),
                },
            )
        pitr = props.get("PointInTimeRecoverySpecification")
        if pitr:
            dynamodb.update_continuous_backups(
                TableName=name,
                PointInTimeRecoverySpecification={
                    "PointInTimeRecoveryEnabled": _truthy(pitr.get("PointInTimeRecoveryEnabled"))
                },
            )
        self._warn_unread(resource, props)
        attributes = {"Arn": description["TableArn"]}
        if description.get("LatestStreamArn"):
            attributes["StreamArn"] = description["LatestStreamArn"]
        return ProvisionedResource(resource.logical_id, resource.type, name, attributes)

    # -- SNS --------------------------------------------------------------------------------------
    def _topic(self, resource: Resource) -> ProvisionedResource:
        props = self._properties(resource)
        sns = self.clients.client("sns")
        fifo = _truthy(props.get("FifoTopic"))
        name = self._name(resource, props.get("TopicName"), max_length=251)
        if fifo and not name.endswith(".fifo"):
            name += ".fifo"
        attributes = props.texts(
            "DisplayName",
            "KmsMasterKeyId",
            "FifoTopic",
            "ContentBasedDeduplication",
            "SignatureVersion",
            "TracingConfig",
            "ArchivePolicy",
            "FifoThroughputScope",
        )
        request: dict[str, Any] = {"Name": name, "Attributes": attributes}
        if props.get("Tags"):
            request["Tags"] = _tags(props.get("Tags"))
        arn = sns.create_topic(**request)["TopicArn"]
        for subscription in props.get("Subscription") or []:
            sns.subscribe(TopicArn=arn, Protocol=subscription["Protocol"], Endpoint=subscription["Endpoint"])
        self._warn_unread(resource, props)
        return ProvisionedResource(
            resource.logical_id, resource.type, arn, {"TopicArn": arn, "TopicName": name}
        )

    def _topic_policy(self, resource: Resource) -> ProvisionedResource:
        props = self._properties(resource)
        policy = _json(props.get("PolicyDocument"))
        for topic_arn in props.get("Topics") or []:
            self.clients.client("sns").set_topic_attributes(
                TopicArn=topic_arn, AttributeName="Policy", AttributeValue=policy
            )
        self._warn_unread(resource, props)
        ref = physical_name(self.pseudo.stack_name, resource.logical_id, max_length=128)
        return ProvisionedResource(resource.logical_id, resource.type, ref, {})

    def _subscription(self, resource: Resource) -> ProvisionedResource:
        props = self._properties(resource)
        attributes = props.texts(
            "FilterPolicy", "FilterPolicyScope", "RawMessageDelivery", "RedrivePolicy", "DeliveryPolicy"
        )
        arn = self.clients.client("sns").subscribe(
            TopicArn=props.get("TopicArn"),
            Protocol=props.get("Protocol"),
            Endpoint=props.get("Endpoint"),
            Attributes=attributes,
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        self._warn_unread(resource, props)
        return ProvisionedResource(resource.logical_id, resource.type, arn, {"Arn": arn})

    # -- SQS --------------------------------------------------------------------------------------
    def _queue(self, resource: Resource) -> ProvisionedResource:
        props = self._properties(resource)
        sqs = self.clients.client("sqs")
        fifo = _truthy(props.get("FifoQueue"))
        name = self._name(resource, props.get("QueueName"), max_length=75 if fifo else 80)
        if fifo and not name.endswith(".fifo"):
            name += ".fifo"
        attributes = props.texts(
            "DelaySeconds",
            "MaximumMessageSize",
            "MessageRetentionPeriod",
            "ReceiveMessageWaitTimeSeconds",
            "VisibilityTimeout",
            "RedrivePolicy",
            "RedriveAllowPolicy",
            "FifoQueue",
            "ContentBasedDeduplication",
            "KmsMasterKeyId",
            "KmsDataKeyReusePeriodSeconds",
            "SqsManagedSseEnabled",
            "DeduplicationScope",
            "FifoThroughputLimit",
        )
        request: dict[str, Any] = {"QueueName": name, "Attributes": attributes}
        if props.get("Tags"):
            request["tags"] = {t["Key"]: t["Value"] for t in _tags(props.get("Tags"))}
        url = sqs.create_queue(**request)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self._warn_unread(resource, props)
        return ProvisionedResource(
            resource.logical_id, resource.type, url, {"Arn": arn, "QueueName": name, "QueueUrl": url}
        )

    def _queue_policy(self, resource: Resource) -> ProvisionedResource:
        props = self._properties(resource)
        policy = _json(props.get("PolicyDocument"))
        for queue_url in props.get("Queues") or []:
            self.clients.client("sqs").set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": policy})
        self._warn_unread(resource, props)
        ref = physical_name(self.pseudo.stack_name, resource.logical_id, max_length=128)
        return ProvisionedResource(resource.logical_id, resource.type, ref, {})

    def _route_queue(self, logical_id: str) -> tuple[str, str]:
        sqs = self.clients.client("sqs")
        name = physical_name(self.pseudo.stack_name, logical_id, max_length=80, kind="route")
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return url, arn

    def _queue_url(self, queue_arn: str) -> str:
        parts = queue_arn.split(":")
        if len(parts) != 6 or parts[2] != "sqs":
            raise TemplateError(f"not an SQS queue ARN: {queue_arn!r}")
        return str(
            self.clients.client("sqs").get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])[
                "QueueUrl"
            ]
        )

    # -- EventBridge ------------------------------------------------------------------------------
    def _event_bus(self, resource: Resource) -> ProvisionedResource:
        props = self._properties(resource)
        name = str(props.get("Name"))
        arn = self.clients.client("events").create_event_bus(Name=name)["EventBusArn"]
        self._warn_unread(resource, props)
        return ProvisionedResource(resource.logical_id, resource.type, name, {"Arn": arn, "Name": name})

    def _put_rule(
        self,
        name: str,
        *,
        bus: str,
        pattern: Any = None,
        schedule: str | None = None,
        enabled: bool = True,
        role_arn: str | None = None,
    ) -> str:
        request: dict[str, Any] = {
            "Name": name,
            "EventBusName": bus,
            "State": "ENABLED" if enabled else "DISABLED",
        }
        if pattern is not None:
            request["EventPattern"] = _json(pattern)
        if schedule:
            request["ScheduleExpression"] = schedule
        if role_arn:
            request["RoleArn"] = role_arn
        return str(self.clients.client("events").put_rule(**request)["RuleArn"])

    def _rule(self, resource: Resource) -> ProvisionedResource:
        props = self._properties(resource)
        name = self._name(resource, props.get("Name"), max_length=64)
        bus = str(props.get("EventBusName") or "default")
        if "/" in bus:  # an event bus ARN
            bus = bus.rsplit("/", 1)[1]
        schedule = props.get("ScheduleExpression")
        if schedule:
            self.stack.warnings.append(
                f"{resource.logical_id}: schedule {schedule} never fires in the sandbox"
            )
        pattern = props.get("EventPattern")
        enabled = str(props.get("State") or "ENABLED") == "ENABLED"
        arn = self._put_rule(
            name, bus=bus, pattern=pattern, schedule=schedule, enabled=enabled, role_arn=props.get("RoleArn")
        )
        targets = []
        for target in props.get("Targets") or []:
            owner: FunctionSpec | StateMachineSpec | None = self._state_machine_by_arn(str(target["Arn"]))
            if owner is None:
                owner = self._function_by_arn(str(target["Arn"]))
            if owner is not None:
                url, queue_arn = self._route_queue(f"{resource.logical_id}-{target['Id']}")
                routed = _RouteRule(
                    name, arn, bus, pattern or {}, url, queue_arn, enabled, **_target_input(target)
                )
                self._add_route(owner, str(target["Id"]), resource.logical_id, routed)
                targets.append(_route_target(target, queue_arn))
                continue
            service = str(target["Arn"]).split(":")[2]
            if service not in {"sqs", "logs", "events"}:
                raise TemplateError(
                    f"{resource.logical_id}: target {target['Arn']} ({service}) cannot be delivered by the "
                    "sandbox (only SQS, CloudWatch Logs, event buses and the stack's functions and state "
                    "machines)"
                )
            targets.append(target)
        if targets:
            self.clients.client("events").put_targets(Rule=name, EventBusName=bus, Targets=targets)
        self._warn_unread(resource, props)
        return ProvisionedResource(resource.logical_id, resource.type, name, {"Arn": arn})

    def _function_by_arn(self, arn: str) -> FunctionSpec | None:
        for function in self.stack.functions.values():
            if arn in {function.arn, f"{function.arn}:$LATEST"}:
                return function
        return None

    def _state_machine_by_arn(self, arn: str) -> StateMachineSpec | None:
        if arn.split(":")[2:3] != ["states"]:
            return None
        for machine in self.stack.state_machines.values():
            if machine.arn == arn:
                return machine
        raise TemplateError(f"rule target {arn}: not a state machine of this stack (nothing to route to)")

    # -- Step Functions ---------------------------------------------------------------------------
    def _state_machine(self, resource: Resource) -> ProvisionedResource:
        """AWS::Serverless::StateMachine (Definition, or DefinitionUri: a file next to the template) or
        AWS::StepFunctions::StateMachine (Definition or DefinitionString), DefinitionSubstitutions
        applied, created in moto's Step Functions; SAM events become state machine routes."""
        sid = resource.logical_id
        serverless = resource.type == SERVERLESS_STATE_MACHINE
        raw = dict(resource.properties)
        if serverless:
            raw = merge_globals(
                dict((self.template.body.get("Globals") or {}).get("StateMachine") or {}), raw
            )
        ignored = _IGNORED_PROPERTIES[resource.type]
        props = _Properties(
            {key: self.resolver.resolve(raw[key]) for key in raw if key not in ignored and key != "Events"}
        )
        name_key, type_key, role_key = (
            ("Name", "Type", "Role") if serverless else ("StateMachineName", "StateMachineType", "RoleArn")
        )
        name = self._name(resource, props.get(name_key), max_length=80)
        machine_type = str(props.get(type_key) or "STANDARD")
        if props.get(role_key):
            role_arn = str(props.get(role_key))
        elif serverless:
            role_arn = self._generated_role(f"{sid}Role", _STATES_TRUST_POLICY)
        else:
            raise TemplateError(f"{sid}: RoleArn is required")
        substitutions = {
            str(k): _text(v) for k, v in dict(props.get("DefinitionSubstitutions") or {}).items()
        }
        definition = substitute_definition(self._definition(resource, props), substitutions, sid)
        request: dict[str, Any] = {
            "name": name,
            "definition": json.dumps(definition),
            "roleArn": role_arn,
            "type": machine_type,
        }
        tags = props.get("Tags")
        if tags:
            pairs = tags.items() if isinstance(tags, dict) else ((t["Key"], t["Value"]) for t in tags)
            request["tags"] = [{"key": str(k), "value": _text(v)} for k, v in pairs]
        arn = str(self.clients.client("stepfunctions").create_state_machine(**request)["stateMachineArn"])
        machine = StateMachineSpec(
            logical_id=sid, name=name, arn=arn, type=machine_type, role_arn=role_arn, definition=definition
        )
        self.stack.state_machines[sid] = machine
        self._record(ProvisionedResource(sid, resource.type, arn, {"Arn": arn, "Name": name}))
        for event_name, event in dict(raw.get("Events") or {}).items() if serverless else ():
            event_type = str(event.get("Type"))
            if event_type not in _EVENTBRIDGE_EVENT_TYPES:
                raise TemplateError(
                    f"{sid}: event {event_name} of type {event_type} is not routed by the sandbox "
                    "(supported: EventBridgeRule, CloudWatchEvent)"
                )
            event_props = _Properties(self.resolver.resolve(dict(event.get("Properties") or {})))
            rule_id = self._eventbridge_event(machine, event_name, event_props)
            events_role = physical_name(self.pseudo.stack_name, f"{rule_id}Role", max_length=64)
            self._record(
                ProvisionedResource(
                    f"{rule_id}Role",
                    "AWS::IAM::Role",
                    events_role,
                    {"Arn": self._arn("iam", f"role/{events_role}", region=False)},
                )
            )
            for key in event_props.unread(_IGNORED_EVENT_PROPERTIES):
                self.stack.warnings.append(f"{sid}.{event_name}: property {key} is not emulated")
        self._warn_unread(resource, props)
        return ProvisionedResource(sid, resource.type, arn, {"Arn": arn, "Name": name})

    def _definition(self, resource: Resource, props: _Properties) -> Any:
        sid = resource.logical_id
        if props.get("Definition") is not None:
            return props.get("Definition")
        if props.get("DefinitionString") is not None:
            return _json_value(sid, str(props.get("DefinitionString")))
        uri = props.get("DefinitionUri")
        if isinstance(uri, str):
            base = self.template.path.parent if self.template.path is not None else Path.cwd()
            path = (base / uri).resolve()
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise TemplateError(f"{sid}: cannot read DefinitionUri {uri} ({path}): {exc}") from exc
            try:
                return load_yaml(text)  # JSON is YAML; .asl.yaml files too
            except Exception as exc:
                raise TemplateError(f"{sid}: {path} is not JSON or YAML: {exc}") from exc
        if uri is not None or props.get("DefinitionS3Location") is not None:
            raise TemplateError(
                f"{sid}: a definition in S3 is not supported by the sandbox (use a local file)"
            )
        raise TemplateError(f"{sid}: no Definition, DefinitionString or DefinitionUri")

    # -- IAM, Logs --------------------------------------------------------------------------------
    def _role(self, resource: Resource) -> ProvisionedResource:
        props = self._properties(resource)
        iam = self.clients.client("iam")
        name = self._name(resource, props.get("RoleName"), max_length=64)
        request: dict[str, Any] = {
            "RoleName": name,
            "AssumeRolePolicyDocument": _json(props.get("AssumeRolePolicyDocument")),
            "Path": props.get("Path") or "/",
        }
        if props.get("Tags"):
            request["Tags"] = _tags(props.get("Tags"))
        role = iam.create_role(**request)["Role"]
        for policy in props.get("Policies") or []:
            iam.put_role_policy(
                RoleName=name, PolicyName=policy["PolicyName"], PolicyDocument=_json(policy["PolicyDocument"])
            )
        for policy_arn in props.get("ManagedPolicyArns") or []:
            try:
                iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
            except Exception as exc:  # moto knows only some AWS managed policies; IAM is not enforced
                self.stack.warnings.append(f"{resource.logical_id}: cannot attach {policy_arn}: {exc}")
        self._warn_unread(resource, props)
        return ProvisionedResource(
            resource.logical_id, resource.type, name, {"Arn": role["Arn"], "RoleId": role["RoleId"]}
        )

    def _log_group(self, resource: Resource) -> ProvisionedResource:
        props = self._properties(resource)
        logs = self.clients.client("logs")
        name = self._name(resource, props.get("LogGroupName"), max_length=512)
        logs.create_log_group(logGroupName=name)
        if props.get("RetentionInDays"):
            logs.put_retention_policy(logGroupName=name, retentionInDays=int(props.get("RetentionInDays")))
        self._warn_unread(resource, props)
        arn = self._arn("logs", f"log-group:{name}:*")
        return ProvisionedResource(resource.logical_id, resource.type, name, {"Arn": arn})

    # -- KMS --------------------------------------------------------------------------------------
    def _kms_key(self, resource: Resource) -> ProvisionedResource:
        """`Ref` is the key id, `Fn::GetAtt Arn` the key ARN (as CloudFormation returns them)."""
        props = self._properties(resource)
        kms = self.clients.client("kms")
        request: dict[str, Any] = {}
        if props.get("KeyPolicy") is not None:
            request["Policy"] = _json(props.get("KeyPolicy"))
        for key in ("Description", "KeyUsage", "KeySpec", "Origin"):
            if props.get(key) is not None:
                request[key] = str(props.get(key))
        for key in ("MultiRegion", "BypassPolicyLockoutSafetyCheck"):
            if props.get(key) is not None:
                request[key] = _truthy(props.get(key))
        if props.get("Tags"):
            request["Tags"] = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in _tags(props.get("Tags"))]
        metadata = kms.create_key(**request)["KeyMetadata"]
        key_id = str(metadata["KeyId"])
        if _truthy(props.get("EnableKeyRotation")):
            rotation: dict[str, Any] = {"KeyId": key_id}
            if props.get("RotationPeriodInDays") is not None:
                rotation["RotationPeriodInDays"] = int(props.get("RotationPeriodInDays"))
            kms.enable_key_rotation(**rotation)
        if not _truthy(props.get("Enabled"), default=True):
            kms.disable_key(KeyId=key_id)
        self._warn_unread(resource, props)
        return ProvisionedResource(
            resource.logical_id, resource.type, key_id, {"Arn": metadata["Arn"], "KeyId": key_id}
        )

    def _kms_alias(self, resource: Resource) -> ProvisionedResource:
        props = self._properties(resource)
        name = str(props.get("AliasName"))
        self.clients.client("kms").create_alias(AliasName=name, TargetKeyId=str(props.get("TargetKeyId")))
        self._warn_unread(resource, props)
        return ProvisionedResource(resource.logical_id, resource.type, name, {})

    # -- CloudWatch -------------------------------------------------------------------------------
    def _alarm(self, resource: Resource) -> ProvisionedResource:
        """A metric alarm as put_metric_alarm takes it. moto never evaluates it (EMULATION_NOTES.md):
        it sits in OK until something sets its state."""
        props = self._properties(resource)
        name = self._name(resource, props.get("AlarmName"), max_length=255)
        request: dict[str, Any] = {
            "AlarmName": name,
            "EvaluationPeriods": int(props.get("EvaluationPeriods")),
            "ComparisonOperator": str(props.get("ComparisonOperator")),
        }
        for key in (
            "AlarmDescription",
            "MetricName",
            "Namespace",
            "Statistic",
            "ExtendedStatistic",
            "Unit",
            "TreatMissingData",
            "EvaluateLowSampleCountPercentile",
            "ThresholdMetricId",
        ):
            if props.get(key) is not None:
                request[key] = str(props.get(key))
        for key in ("Period", "DatapointsToAlarm"):
            if props.get(key) is not None:
                request[key] = int(props.get(key))
        if props.get("Threshold") is not None:
            request["Threshold"] = float(props.get("Threshold"))
        if props.get("ActionsEnabled") is not None:
            request["ActionsEnabled"] = _truthy(props.get("ActionsEnabled"))
        for key in ("AlarmActions", "OKActions", "InsufficientDataActions"):
            if props.get(key) is not None:
                request[key] = [str(arn) for arn in props.get(key)]
        if props.get("Dimensions") is not None:
            request["Dimensions"] = _dimensions(props.get("Dimensions"))
        if props.get("Metrics") is not None:
            request["Metrics"] = [_metric_query(query) for query in props.get("Metrics")]
        if props.get("Tags"):
            request["Tags"] = _tags(props.get("Tags"))
        self.clients.client("cloudwatch").put_metric_alarm(**request)
        self._warn_unread(resource, props)
        arn = self._arn("cloudwatch", f"alarm:{name}")
        return ProvisionedResource(resource.logical_id, resource.type, name, {"Arn": arn})

    # -- Functions --------------------------------------------------------------------------------
    def _function(self, resource: Resource) -> ProvisionedResource:
        fid = resource.logical_id
        raw = resource.properties
        # Resolve only what the sandbox uses: Policies and the like may name SAM-generated resources.
        props = _Properties(
            {
                key: self.resolver.resolve(raw[key])
                for key in raw
                if key not in _IGNORED_PROPERTIES[SERVERLESS_FUNCTION] and key != "Events"
            }
        )
        name = self._name(resource, props.get("FunctionName"), max_length=64)
        arn = self._arn("lambda", f"function:{name}")
        handler = props.get("Handler")
        if not handler:
            raise TemplateError(f"{fid}: no Handler")
        environment = {
            str(k): _text(v) for k, v in dict((props.get("Environment") or {}).get("Variables") or {}).items()
        }
        logging_config = dict(props.get("LoggingConfig") or {})
        application_log_level = logging_config.get("ApplicationLogLevel")
        spec = FunctionSpec(
            logical_id=fid,
            name=name,
            arn=arn,
            handler=str(handler),
            environment=environment,
            timeout_seconds=int(props.get("Timeout") or 3),
            memory_mb=int(props.get("MemorySize") or 128),
            event_invoke=_event_invoke_settings(fid, props.get("EventInvokeConfig")),
            dead_letter=_dead_letter(fid, props.get("DeadLetterQueue")),
            log_group=str(logging_config.get("LogGroup") or f"/aws/lambda/{name}"),
            log_format=str(logging_config.get("LogFormat") or "Text"),
            application_log_level=None if application_log_level is None else str(application_log_level),
        )
        self.stack.functions[fid] = spec
        self._record(ProvisionedResource(fid, resource.type, name, {"Arn": arn}))
        if "Role" in raw:
            role_arn = _text(self.resolver.resolve(raw["Role"]))
        else:
            role_arn = self._generated_role(f"{fid}Role", _LAMBDA_TRUST_POLICY)
        runtime = self.resolver.resolve(raw.get("Runtime")) or DEFAULT_LAMBDA_RUNTIME
        self._lambda_function(spec, str(runtime), role_arn)

        for event_name, event in dict(raw.get("Events") or {}).items():
            event_type = str(event.get("Type"))
            event_props = _Properties(self.resolver.resolve(dict(event.get("Properties") or {})))
            if event_type in _EVENTBRIDGE_EVENT_TYPES:
                self._eventbridge_event(spec, event_name, event_props)
            elif event_type == "SQS":
                self._sqs_event(spec, event_name, event_props)
            else:
                raise TemplateError(
                    f"{fid}: event {event_name} of type {event_type} is not routed by the sandbox "
                    "(supported: EventBridgeRule, CloudWatchEvent, SQS)"
                )
            for key in event_props.unread(_IGNORED_EVENT_PROPERTIES):
                self.stack.warnings.append(f"{fid}.{event_name}: property {key} is not emulated")
        self._warn_unread(resource, props)
        return ProvisionedResource(fid, resource.type, name, {"Arn": arn})

    def _generated_role(self, logical_id: str, trust_policy: Mapping[str, Any]) -> str:
        """The IAM role SAM generates for a function or state machine without `Role` (`<Id>Role`),
        created in moto (Lambda refuses a role it cannot find); its policies are not emulated."""
        role_name = physical_name(self.pseudo.stack_name, logical_id, max_length=64)
        role = self.clients.client("iam").create_role(
            RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust_policy)
        )["Role"]
        self._record(
            ProvisionedResource(
                logical_id, "AWS::IAM::Role", role_name, {"Arn": role["Arn"], "RoleId": role["RoleId"]}
            )
        )
        return str(role["Arn"])

    def _sandbox_role(self) -> str:
        """A role moto's Lambda accepts, for a function whose own role does not exist in the emulator."""
        role_name = physical_name(self.pseudo.stack_name, "SandboxLambdaRole", max_length=64)
        iam = self.clients.client("iam")
        try:
            return str(iam.get_role(RoleName=role_name)["Role"]["Arn"])
        except iam.exceptions.NoSuchEntityException:
            return str(
                iam.create_role(
                    RoleName=role_name, AssumeRolePolicyDocument=json.dumps(_LAMBDA_TRUST_POLICY)
                )["Role"]["Arn"]
            )

    def _lambda_function(self, spec: FunctionSpec, runtime: str, role_arn: str) -> None:
        """The function in moto's Lambda, so that its name and ARN resolve (lambda:invoke tasks, Invoke).
        The code is a placeholder: moto never runs it (emulator_gaps.StepFunctionsLambdaTasks)."""
        lambda_ = self.clients.client("lambda")
        request: dict[str, Any] = {
            "FunctionName": spec.name,
            "Runtime": runtime,
            "Role": role_arn,
            "Handler": spec.handler,
            "Code": {"ZipFile": _placeholder_code(spec.handler)},
            "Description": "sluice sandbox: the handler runs in-process (sluice_cli.sandbox.router)",
            "Timeout": spec.timeout_seconds,
            "MemorySize": spec.memory_mb,
            "Environment": {"Variables": dict(spec.environment)},
        }
        try:
            lambda_.create_function(**request)
        except lambda_.exceptions.InvalidParameterValueException:
            # A role outside the stack (a parameter, another account): IAM is not enforced anyway.
            log.info("%s: role %s is not in the emulator; using the sandbox role", spec.logical_id, role_arn)
            lambda_.create_function(**{**request, "Role": self._sandbox_role()})

    def _eventbridge_event(
        self, owner: FunctionSpec | StateMachineSpec, event_name: str, props: _Properties
    ) -> str:
        """A SAM EventBridgeRule/CloudWatchEvent event of a function or state machine: its rule
        (`<Owner><Event>`, returned), routed to the owner."""
        rule_id = f"{owner.logical_id}{event_name}"
        rule = self._event_rule(rule_id, props)
        self._add_route(owner, event_name, rule_id, rule)
        self._record(ProvisionedResource(rule_id, "AWS::Events::Rule", rule.name, {"Arn": rule.arn}))
        return rule_id

    def _add_route(
        self, owner: FunctionSpec | StateMachineSpec, event_name: str, rule_logical_id: str, rule: _RouteRule
    ) -> None:
        """`rule` and its route queue as a `Route` to a function or a `StateMachineRoute` to a state
        machine."""
        shared: dict[str, Any] = {
            "event_name": event_name,
            "rule_logical_id": rule_logical_id,
            "rule_name": rule.name,
            "rule_arn": rule.arn,
            "event_bus_name": rule.bus,
            "pattern": rule.pattern,
            "queue_url": rule.queue_url,
            "queue_arn": rule.queue_arn,
            "enabled": rule.enabled,
            "input": rule.input,
            "input_path": rule.input_path,
        }
        if isinstance(owner, FunctionSpec):
            self.stack.routes.append(Route(function=owner.logical_id, **shared))
        else:
            self.stack.state_machine_routes.append(
                StateMachineRoute(state_machine=owner.logical_id, **shared)
            )

    def _event_rule(self, rule_id: str, props: _Properties) -> _RouteRule:
        """The rule of a SAM EventBridgeRule/CloudWatchEvent event, its only target a new route queue."""
        name = str(props.get("RuleName") or physical_name(self.pseudo.stack_name, rule_id, max_length=64))
        bus = str(props.get("EventBusName") or "default")
        if "/" in bus:
            bus = bus.rsplit("/", 1)[1]
        pattern = props.get("Pattern")
        if pattern is None:
            raise TemplateError(f"{rule_id}: an EventBridgeRule event needs a Pattern")
        state = props.get("State")
        enabled = _truthy(props.get("Enabled"), default=True) and (state is None or str(state) == "ENABLED")
        rule_arn = self._put_rule(name, bus=bus, pattern=pattern, enabled=enabled)
        queue_url, queue_arn = self._route_queue(rule_id)
        target: dict[str, Any] = {"Id": "SandboxRoute", "Arn": queue_arn}
        if props.get("InputTransformer") is not None:
            target["InputTransformer"] = props.get("InputTransformer")
        self.clients.client("events").put_targets(Rule=name, EventBusName=bus, Targets=[target])
        given = _target_input({key: props.get(key) for key in ("Input", "InputPath")})
        return _RouteRule(name, rule_arn, bus, pattern, queue_url, queue_arn, enabled, **given)

    def _sqs_event(self, function: FunctionSpec, event_name: str, props: _Properties) -> None:
        mapping_id = f"{function.logical_id}{event_name}"
        queue_arn = str(props.get("Queue"))
        if props.get("FilterCriteria"):
            self.stack.warnings.append(f"{mapping_id}: FilterCriteria is not applied by the sandbox")
        mapping = EventSourceMapping(
            function=function.logical_id,
            event_name=event_name,
            uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.pseudo.stack_name}/{mapping_id}")),
            queue_url=self._queue_url(queue_arn),
            queue_arn=queue_arn,
            batch_size=int(props.get("BatchSize") or 10),
            report_batch_item_failures="ReportBatchItemFailures"
            in (props.get("FunctionResponseTypes") or []),
            enabled=_truthy(props.get("Enabled"), default=True),
            maximum_batching_window_seconds=int(props.get("MaximumBatchingWindowInSeconds") or 0),
        )
        self.stack.event_source_mappings.append(mapping)
        self._record(ProvisionedResource(mapping_id, "AWS::Lambda::EventSourceMapping", mapping.uuid, {}))


# --------------------------------------------------------------------------------------------------
# Property translations (CloudFormation shape -> API shape)
# --------------------------------------------------------------------------------------------------
def _route_target(target: Mapping[str, Any], queue_arn: str) -> dict[str, Any]:
    """A rule target re-aimed at a route queue. Input and InputPath stay with the route (the router
    applies them): moto ignores both on every target and delivers the whole event."""
    kept = {k: v for k, v in target.items() if k in {"Id", "InputTransformer"}}
    return {**kept, "Arn": queue_arn}


def _target_input(target: Mapping[str, Any]) -> dict[str, str | None]:
    given = target.get("Input")
    path = target.get("InputPath")
    return {
        "input": None if given is None else _json(given),
        "input_path": None if path is None else str(path),
    }


def _destination(owner: str, config: Mapping[str, Any] | None) -> Destination | None:
    if not config:
        return None
    arn = config.get("Destination") or config.get("TargetArn")
    if not arn:
        raise TemplateError(f"{owner}: a destination without an ARN (SAM-created queues) is not supported")
    service = str(arn).split(":")[2]
    kind = str(
        config.get("Type") or {"sqs": "SQS", "sns": "SNS", "events": "EventBridge"}.get(service, service)
    )
    if kind not in {"SQS", "SNS", "EventBridge"}:
        raise TemplateError(f"{owner}: destination type {kind} is not supported by the sandbox")
    return Destination(type=kind, arn=str(arn))


def _event_invoke_settings(owner: str, config: Mapping[str, Any] | None) -> EventInvokeSettings:
    config = dict(config or {})
    destinations = dict(config.get("DestinationConfig") or {})
    retries = config.get("MaximumRetryAttempts")
    age = config.get("MaximumEventAgeInSeconds")
    return EventInvokeSettings(
        maximum_retry_attempts=2 if retries is None else int(retries),
        maximum_event_age_seconds=21600 if age is None else int(age),
        on_failure=_destination(f"{owner}.EventInvokeConfig.OnFailure", destinations.get("OnFailure")),
        on_success=_destination(f"{owner}.EventInvokeConfig.OnSuccess", destinations.get("OnSuccess")),
    )


def _dead_letter(owner: str, config: Mapping[str, Any] | None) -> Destination | None:
    return _destination(f"{owner}.DeadLetterQueue", config)


def _json_value(owner: str, text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise TemplateError(f"{owner}: DefinitionString is not JSON: {exc}") from exc


def _dimensions(value: Any) -> list[dict[str, str]]:
    return [{"Name": str(d["Name"]), "Value": _text(d["Value"])} for d in value or []]


def _metric_query(query: Mapping[str, Any]) -> dict[str, Any]:
    """An alarm's `Metrics` entry (MetricDataQuery): CloudFormation's shape is the API's, typed."""
    api: dict[str, Any] = {"Id": str(query["Id"])}
    for key in ("Expression", "Label", "AccountId"):
        if query.get(key) is not None:
            api[key] = str(query[key])
    if query.get("Period") is not None:
        api["Period"] = int(query["Period"])
    if query.get("ReturnData") is not None:
        api["ReturnData"] = _truthy(query["ReturnData"])
    stat = query.get("MetricStat")
    if stat:
        metric = dict(stat["Metric"])
        api["MetricStat"] = {
            "Metric": {
                "Namespace": str(metric["Namespace"]),
                "MetricName": str(metric["MetricName"]),
                "Dimensions": _dimensions(metric.get("Dimensions")),
            },
            "Period": int(stat["Period"]),
            "Stat": str(stat["Stat"]),
            **({"Unit": str(stat["Unit"])} if stat.get("Unit") else {}),
        }
    return api


def _lifecycle_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    api: dict[str, Any] = {"Status": rule.get("Status", "Enabled")}
    if rule.get("Id"):
        api["ID"] = rule["Id"]
    prefix = rule.get("Prefix", "")
    tags = [{"Key": t["Key"], "Value": t["Value"]} for t in rule.get("TagFilters") or []]
    if tags:
        api["Filter"] = (
            {"And": {"Prefix": prefix, "Tags": tags}} if prefix or len(tags) > 1 else {"Tag": tags[0]}
        )
    else:
        api["Filter"] = {"Prefix": prefix}
    expiration = {
        key: value
        for key, value in (
            ("Days", rule.get("ExpirationInDays")),
            ("Date", rule.get("ExpirationDate")),
            ("ExpiredObjectDeleteMarker", rule.get("ExpiredObjectDeleteMarker")),
        )
        if value is not None
    }
    if expiration:
        api["Expiration"] = expiration
    noncurrent = dict(rule.get("NoncurrentVersionExpiration") or {})
    if rule.get("NoncurrentVersionExpirationInDays") is not None:
        noncurrent["NoncurrentDays"] = rule["NoncurrentVersionExpirationInDays"]
    if noncurrent:
        api["NoncurrentVersionExpiration"] = {k: int(v) for k, v in noncurrent.items()}
    if rule.get("Transitions"):
        api["Transitions"] = [
            {
                **({"Days": int(t["TransitionInDays"])} if "TransitionInDays" in t else {}),
                **({"Date": t["TransitionDate"]} if "TransitionDate" in t else {}),
                "StorageClass": t["StorageClass"],
            }
            for t in rule["Transitions"]
        ]
    if rule.get("NoncurrentVersionTransitions"):
        api["NoncurrentVersionTransitions"] = [
            {"NoncurrentDays": int(t["TransitionInDays"]), "StorageClass": t["StorageClass"]}
            for t in rule["NoncurrentVersionTransitions"]
        ]
    if rule.get("AbortIncompleteMultipartUpload"):
        days = int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
        api["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": days}
    return api


def _s3_filter(config: Mapping[str, Any]) -> dict[str, Any]:
    rules = ((config.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []
    return {"Filter": {"Key": {"FilterRules": list(rules)}}} if rules else {}


def _notification_configuration(resource: Resource, notification: Mapping[str, Any]) -> dict[str, Any]:
    api: dict[str, Any] = {}
    eventbridge = notification.get("EventBridgeConfiguration")
    if eventbridge and _truthy(eventbridge.get("EventBridgeEnabled"), default=True):
        api["EventBridgeConfiguration"] = {}
    if notification.get("QueueConfigurations"):
        api["QueueConfigurations"] = [
            {"QueueArn": c["Queue"], "Events": [c["Event"]], **_s3_filter(c)}
            for c in notification["QueueConfigurations"]
        ]
    if notification.get("TopicConfigurations"):
        api["TopicConfigurations"] = [
            {"TopicArn": c["Topic"], "Events": [c["Event"]], **_s3_filter(c)}
            for c in notification["TopicConfigurations"]
        ]
    if notification.get("LambdaConfigurations"):
        raise TemplateError(
            f"{resource.logical_id}: LambdaConfigurations are not routed by the sandbox (use EventBridge)"
        )
    return api


# --------------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------------
def provision_stack(
    session_or_clients: Any,
    template_path: str | Path,
    stack_name: str = "sluice",
    parameters: Mapping[str, Any] | None = None,
    *,
    skipped_types: Mapping[str, str] | None = None,
    imports: Mapping[str, str] | None = None,
) -> StackOutputs:
    """Create every resource of `template_path` in the emulator the clients point at.

    `session_or_clients`: a boto3 Session, or anything with `.client(service_name)` (e.g. `Clients`).
    `skipped_types` adds to `SKIPPED_RESOURCE_TYPES` (type -> reason).
    """
    clients: ClientFactory = (
        session_or_clients if isinstance(session_or_clients, Clients) else Clients(session_or_clients)
    )
    sts = clients.client("sts")
    region = sts.meta.region_name
    account_id = sts.get_caller_identity()["Account"]
    pseudo = PseudoParameters(region=region, account_id=account_id, stack_name=stack_name)
    template = load_template(template_path, parameters=parameters, pseudo=pseudo)
    skipped = {**SKIPPED_RESOURCE_TYPES, **dict(skipped_types or {})}
    return _Provisioner(clients, template, skipped, imports).run()
