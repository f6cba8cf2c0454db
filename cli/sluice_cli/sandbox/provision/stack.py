"""What the template turned into in the emulator: resources, functions, routes, state machines."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sluice_cli.sandbox.template import Template


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
    role_arn: str = ""  # the execution role (its session's credentials when IAM is enforced)


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
    # Each output's Description and Export Name, resolved (what DescribeStacks shows beside the value).
    output_details: dict[str, dict[str, Any]] = field(default_factory=dict)
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
