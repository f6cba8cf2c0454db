"""EventBridge rules that route to the stack: each rule's target is a sandbox-owned SQS route queue
(moto delivers rule targets to SQS only), recorded as a `Route` or `StateMachineRoute` for the router."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sluice_cli.sandbox.provision.build import StackBuild
from sluice_cli.sandbox.provision.properties import Properties, json_text, physical_name, truthy
from sluice_cli.sandbox.provision.stack import (
    FunctionSpec,
    ProvisionedResource,
    Route,
    StateMachineRoute,
    StateMachineSpec,
)
from sluice_cli.sandbox.template import TemplateError

EVENTBRIDGE_EVENT_TYPES = frozenset({"EventBridgeRule", "CloudWatchEvent"})


@dataclass(frozen=True)
class RouteRule:
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


def route_queue(build: StackBuild, logical_id: str) -> tuple[str, str]:
    sqs = build.clients.client("sqs")
    name = physical_name(build.pseudo.stack_name, logical_id, max_length=80, kind="route")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def put_rule(
    build: StackBuild,
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
        request["EventPattern"] = json_text(pattern)
    if schedule:
        request["ScheduleExpression"] = schedule
    if role_arn:
        request["RoleArn"] = role_arn
    return str(build.clients.client("events").put_rule(**request)["RuleArn"])


def eventbridge_event(
    build: StackBuild, owner: FunctionSpec | StateMachineSpec, event_name: str, props: Properties
) -> str:
    """A SAM EventBridgeRule/CloudWatchEvent event of a function or state machine: its rule
    (`<Owner><Event>`, returned), routed to the owner."""
    rule_id = f"{owner.logical_id}{event_name}"
    rule = _event_rule(build, rule_id, props)
    add_route(build, owner, event_name, rule_id, rule)
    build.record(ProvisionedResource(rule_id, "AWS::Events::Rule", rule.name, {"Arn": rule.arn}))
    return rule_id


def add_route(
    build: StackBuild,
    owner: FunctionSpec | StateMachineSpec,
    event_name: str,
    rule_logical_id: str,
    rule: RouteRule,
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
        build.stack.routes.append(Route(function=owner.logical_id, **shared))
    else:
        build.stack.state_machine_routes.append(StateMachineRoute(state_machine=owner.logical_id, **shared))


def _event_rule(build: StackBuild, rule_id: str, props: Properties) -> RouteRule:
    """The rule of a SAM EventBridgeRule/CloudWatchEvent event, its only target a new route queue."""
    name = str(props.get("RuleName") or physical_name(build.pseudo.stack_name, rule_id, max_length=64))
    bus = str(props.get("EventBusName") or "default")
    if "/" in bus:
        bus = bus.rsplit("/", 1)[1]
    pattern = props.get("Pattern")
    if pattern is None:
        raise TemplateError(f"{rule_id}: an EventBridgeRule event needs a Pattern")
    state = props.get("State")
    enabled = truthy(props.get("Enabled"), default=True) and (state is None or str(state) == "ENABLED")
    rule_arn = put_rule(build, name, bus=bus, pattern=pattern, enabled=enabled)
    queue_url, queue_arn = route_queue(build, rule_id)
    target: dict[str, Any] = {"Id": "SandboxRoute", "Arn": queue_arn}
    if props.get("InputTransformer") is not None:
        target["InputTransformer"] = props.get("InputTransformer")
    build.clients.client("events").put_targets(Rule=name, EventBusName=bus, Targets=[target])
    given = route_input({key: props.get(key) for key in ("Input", "InputPath")})
    return RouteRule(name, rule_arn, bus, pattern, queue_url, queue_arn, enabled, **given)


def route_target(target: Mapping[str, Any], queue_arn: str) -> dict[str, Any]:
    """A rule target re-aimed at a route queue. Input and InputPath stay with the route (the router
    applies them): moto ignores both on every target and delivers the whole event."""
    kept = {k: v for k, v in target.items() if k in {"Id", "InputTransformer"}}
    return {**kept, "Arn": queue_arn}


def route_input(target: Mapping[str, Any]) -> dict[str, str | None]:
    given = target.get("Input")
    path = target.get("InputPath")
    return {
        "input": None if given is None else json_text(given),
        "input_path": None if path is None else str(path),
    }
