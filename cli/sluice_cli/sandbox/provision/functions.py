"""AWS::Serverless::Function: a `FunctionSpec` for the router, a placeholder function of the same name
in moto's Lambda, and its events (EventBridge rules to route queues, SQS event source mappings)."""

from __future__ import annotations

import dataclasses
import io
import logging
import uuid
import zipfile
from collections.abc import Mapping
from typing import Any

from sluice_cli.sandbox.provision.build import StackBuild
from sluice_cli.sandbox.provision.event_routes import EVENTBRIDGE_EVENT_TYPES, eventbridge_event
from sluice_cli.sandbox.provision.messaging import queue_url_from_arn
from sluice_cli.sandbox.provision.properties import (
    IGNORED_EVENT_PROPERTIES,
    IGNORED_PROPERTIES,
    Properties,
    text_value,
    truthy,
)
from sluice_cli.sandbox.provision.security import LAMBDA_TRUST_POLICY, generated_role, sandbox_role
from sluice_cli.sandbox.provision.stack import (
    Destination,
    EventInvokeSettings,
    EventSourceMapping,
    FunctionSpec,
    ProvisionedResource,
)
from sluice_cli.sandbox.template import SERVERLESS_FUNCTION, Resource, TemplateError

log = logging.getLogger(__name__)


# Runtime of a function in moto's Lambda when the template names none (moto never runs the code).
DEFAULT_LAMBDA_RUNTIME = "python3.13"


def create_function(build: StackBuild, resource: Resource) -> ProvisionedResource:
    fid = resource.logical_id
    raw = resource.properties
    # Resolve only what the sandbox uses: Policies and the like may name SAM-generated resources.
    props = Properties(
        {
            key: build.resolver.resolve(raw[key])
            for key in raw
            if key not in IGNORED_PROPERTIES[SERVERLESS_FUNCTION] and key != "Events"
        }
    )
    name = build.physical_name(resource, props.get("FunctionName"), max_length=64)
    arn = build.arn("lambda", f"function:{name}")
    handler = props.get("Handler")
    if not handler:
        raise TemplateError(f"{fid}: no Handler")
    environment = {
        str(k): text_value(v)
        for k, v in dict((props.get("Environment") or {}).get("Variables") or {}).items()
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
    build.stack.functions[fid] = spec
    build.record(ProvisionedResource(fid, resource.type, name, {"Arn": arn}))
    if "Role" in raw:
        role_arn = text_value(build.resolver.resolve(raw["Role"]))
    else:
        role_arn = generated_role(build, f"{fid}Role", LAMBDA_TRUST_POLICY)
    spec = dataclasses.replace(spec, role_arn=role_arn)
    build.stack.functions[fid] = spec
    runtime = build.resolver.resolve(raw.get("Runtime")) or DEFAULT_LAMBDA_RUNTIME
    _lambda_function(build, spec, str(runtime), role_arn)
    _function_events(build, spec, dict(raw.get("Events") or {}))
    build.warn_unread(resource, props)
    return ProvisionedResource(fid, resource.type, name, {"Arn": arn})


def _function_events(build: StackBuild, spec: FunctionSpec, events: Mapping[str, Any]) -> None:
    """A function's SAM events: EventBridge rules routed to it, SQS event source mappings."""
    fid = spec.logical_id
    for event_name, event in events.items():
        event_type = str(event.get("Type"))
        event_props = Properties(build.resolver.resolve(dict(event.get("Properties") or {})))
        if event_type in EVENTBRIDGE_EVENT_TYPES:
            eventbridge_event(build, spec, event_name, event_props)
        elif event_type == "SQS":
            _sqs_event(build, spec, event_name, event_props)
        else:
            raise TemplateError(
                f"{fid}: event {event_name} of type {event_type} is not routed by the sandbox "
                "(supported: EventBridgeRule, CloudWatchEvent, SQS)"
            )
        for key in event_props.unread(IGNORED_EVENT_PROPERTIES):
            build.stack.warnings.append(f"{fid}.{event_name}: property {key} is not emulated")


def _lambda_function(build: StackBuild, spec: FunctionSpec, runtime: str, role_arn: str) -> None:
    """The function in moto's Lambda, so that its name and ARN resolve (lambda:invoke tasks, Invoke).
    The code is a placeholder: moto never runs it (gaps.awslambda.StepFunctionsLambdaTasks)."""
    lambda_ = build.clients.client("lambda")
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
        lambda_.create_function(**{**request, "Role": sandbox_role(build)})


def _placeholder_code(handler: str) -> bytes:
    """A zip for moto's Lambda: one module that says where the real handler runs."""
    module = handler.rpartition(".")[0].replace(".", "/") or "handler"
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr(
            f"{module}.py",
            "# sluice sandbox placeholder: the real handler runs in-process (sluice_cli.sandbox.router)\n",
        )
    return archive.getvalue()


def _sqs_event(build: StackBuild, function: FunctionSpec, event_name: str, props: Properties) -> None:
    mapping_id = f"{function.logical_id}{event_name}"
    queue_arn = str(props.get("Queue"))
    if props.get("FilterCriteria"):
        build.stack.warnings.append(f"{mapping_id}: FilterCriteria is not applied by the sandbox")
    mapping = EventSourceMapping(
        function=function.logical_id,
        event_name=event_name,
        uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{build.pseudo.stack_name}/{mapping_id}")),
        queue_url=queue_url_from_arn(build, queue_arn),
        queue_arn=queue_arn,
        batch_size=int(props.get("BatchSize") or 10),
        report_batch_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
        enabled=truthy(props.get("Enabled"), default=True),
        maximum_batching_window_seconds=int(props.get("MaximumBatchingWindowInSeconds") or 0),
    )
    build.stack.event_source_mappings.append(mapping)
    build.record(ProvisionedResource(mapping_id, "AWS::Lambda::EventSourceMapping", mapping.uuid, {}))


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
