"""SNS topics, topic policies and subscriptions; SQS queues and queue policies; event buses and
AWS::Events::Rule (targets that are the stack's functions or state machines become route queues)."""

from __future__ import annotations

from typing import Any

from sluice_cli.sandbox.provision.build import StackBuild
from sluice_cli.sandbox.provision.event_routes import (
    RouteRule,
    add_route,
    put_rule,
    route_input,
    route_queue,
    route_target,
)
from sluice_cli.sandbox.provision.properties import api_tags, json_text, physical_name, truthy
from sluice_cli.sandbox.provision.stack import FunctionSpec, ProvisionedResource, StateMachineSpec
from sluice_cli.sandbox.template import Resource, TemplateError


def create_topic(build: StackBuild, resource: Resource) -> ProvisionedResource:
    props = build.properties(resource)
    sns = build.clients.client("sns")
    fifo = truthy(props.get("FifoTopic"))
    name = build.physical_name(resource, props.get("TopicName"), max_length=251)
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
        request["Tags"] = api_tags(props.get("Tags"))
    arn = sns.create_topic(**request)["TopicArn"]
    for subscription in props.get("Subscription") or []:
        sns.subscribe(TopicArn=arn, Protocol=subscription["Protocol"], Endpoint=subscription["Endpoint"])
    build.warn_unread(resource, props)
    return ProvisionedResource(resource.logical_id, resource.type, arn, {"TopicArn": arn, "TopicName": name})


def create_topic_policy(build: StackBuild, resource: Resource) -> ProvisionedResource:
    props = build.properties(resource)
    policy = json_text(props.get("PolicyDocument"))
    for topic_arn in props.get("Topics") or []:
        build.clients.client("sns").set_topic_attributes(
            TopicArn=topic_arn, AttributeName="Policy", AttributeValue=policy
        )
    build.warn_unread(resource, props)
    ref = physical_name(build.pseudo.stack_name, resource.logical_id, max_length=128)
    return ProvisionedResource(resource.logical_id, resource.type, ref, {})


def create_subscription(build: StackBuild, resource: Resource) -> ProvisionedResource:
    props = build.properties(resource)
    attributes = props.texts(
        "FilterPolicy", "FilterPolicyScope", "RawMessageDelivery", "RedrivePolicy", "DeliveryPolicy"
    )
    arn = build.clients.client("sns").subscribe(
        TopicArn=props.get("TopicArn"),
        Protocol=props.get("Protocol"),
        Endpoint=props.get("Endpoint"),
        Attributes=attributes,
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    build.warn_unread(resource, props)
    return ProvisionedResource(resource.logical_id, resource.type, arn, {"Arn": arn})


def create_queue(build: StackBuild, resource: Resource) -> ProvisionedResource:
    props = build.properties(resource)
    sqs = build.clients.client("sqs")
    fifo = truthy(props.get("FifoQueue"))
    name = build.physical_name(resource, props.get("QueueName"), max_length=75 if fifo else 80)
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
        request["tags"] = {t["Key"]: t["Value"] for t in api_tags(props.get("Tags"))}
    url = sqs.create_queue(**request)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    build.warn_unread(resource, props)
    return ProvisionedResource(
        resource.logical_id, resource.type, url, {"Arn": arn, "QueueName": name, "QueueUrl": url}
    )


def create_queue_policy(build: StackBuild, resource: Resource) -> ProvisionedResource:
    props = build.properties(resource)
    policy = json_text(props.get("PolicyDocument"))
    for queue_url in props.get("Queues") or []:
        build.clients.client("sqs").set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": policy})
    build.warn_unread(resource, props)
    ref = physical_name(build.pseudo.stack_name, resource.logical_id, max_length=128)
    return ProvisionedResource(resource.logical_id, resource.type, ref, {})


def queue_url_from_arn(build: StackBuild, queue_arn: str) -> str:
    parts = queue_arn.split(":")
    if len(parts) != 6 or parts[2] != "sqs":
        raise TemplateError(f"not an SQS queue ARN: {queue_arn!r}")
    return str(
        build.clients.client("sqs").get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])[
            "QueueUrl"
        ]
    )


def create_event_bus(build: StackBuild, resource: Resource) -> ProvisionedResource:
    props = build.properties(resource)
    name = str(props.get("Name"))
    arn = build.clients.client("events").create_event_bus(Name=name)["EventBusArn"]
    build.warn_unread(resource, props)
    return ProvisionedResource(resource.logical_id, resource.type, name, {"Arn": arn, "Name": name})


def create_rule(build: StackBuild, resource: Resource) -> ProvisionedResource:
    props = build.properties(resource)
    name = build.physical_name(resource, props.get("Name"), max_length=64)
    bus = str(props.get("EventBusName") or "default")
    if "/" in bus:  # an event bus ARN
        bus = bus.rsplit("/", 1)[1]
    schedule = props.get("ScheduleExpression")
    if schedule:
        build.stack.warnings.append(f"{resource.logical_id}: schedule {schedule} never fires in the sandbox")
    pattern = props.get("EventPattern")
    enabled = str(props.get("State") or "ENABLED") == "ENABLED"
    arn = put_rule(
        build,
        name,
        bus=bus,
        pattern=pattern,
        schedule=schedule,
        enabled=enabled,
        role_arn=props.get("RoleArn"),
    )
    targets = []
    for target in props.get("Targets") or []:
        owner: FunctionSpec | StateMachineSpec | None = _state_machine_by_arn(build, str(target["Arn"]))
        if owner is None:
            owner = _function_by_arn(build, str(target["Arn"]))
        if owner is not None:
            url, queue_arn = route_queue(build, f"{resource.logical_id}-{target['Id']}")
            routed = RouteRule(name, arn, bus, pattern or {}, url, queue_arn, enabled, **route_input(target))
            add_route(build, owner, str(target["Id"]), resource.logical_id, routed)
            targets.append(route_target(target, queue_arn))
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
        build.clients.client("events").put_targets(Rule=name, EventBusName=bus, Targets=targets)
    build.warn_unread(resource, props)
    return ProvisionedResource(resource.logical_id, resource.type, name, {"Arn": arn})


def _function_by_arn(build: StackBuild, arn: str) -> FunctionSpec | None:
    for function in build.stack.functions.values():
        if arn in {function.arn, f"{function.arn}:$LATEST"}:
            return function
    return None


def _state_machine_by_arn(build: StackBuild, arn: str) -> StateMachineSpec | None:
    if arn.split(":")[2:3] != ["states"]:
        return None
    for machine in build.stack.state_machines.values():
        if machine.arn == arn:
            return machine
    raise TemplateError(f"rule target {arn}: not a state machine of this stack (nothing to route to)")
