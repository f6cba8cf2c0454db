"""State machines (AWS::Serverless::StateMachine, AWS::StepFunctions::StateMachine) in moto's Step
Functions, DefinitionSubstitutions applied; their EventBridge events become state machine routes."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sluice_cli.sandbox.provision.build import StackBuild
from sluice_cli.sandbox.provision.event_routes import EVENTBRIDGE_EVENT_TYPES, eventbridge_event
from sluice_cli.sandbox.provision.properties import (
    IGNORED_EVENT_PROPERTIES,
    IGNORED_PROPERTIES,
    SERVERLESS_STATE_MACHINE,
    Properties,
    physical_name,
    text_value,
)
from sluice_cli.sandbox.provision.security import STATES_TRUST_POLICY, generated_role
from sluice_cli.sandbox.provision.stack import ProvisionedResource, StateMachineSpec
from sluice_cli.sandbox.template import Resource, TemplateError, load_yaml, merge_globals

# `${Name}` placeholders of a state machine definition (DefinitionSubstitutions).
_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


def create_state_machine(build: StackBuild, resource: Resource) -> ProvisionedResource:
    """AWS::Serverless::StateMachine (Definition, or DefinitionUri: a file next to the template) or
    AWS::StepFunctions::StateMachine (Definition or DefinitionString), DefinitionSubstitutions
    applied, created in moto's Step Functions; SAM events become state machine routes."""
    sid = resource.logical_id
    serverless = resource.type == SERVERLESS_STATE_MACHINE
    raw = dict(resource.properties)
    if serverless:
        raw = merge_globals(dict((build.template.body.get("Globals") or {}).get("StateMachine") or {}), raw)
    ignored = IGNORED_PROPERTIES[resource.type]
    props = Properties(
        {key: build.resolver.resolve(raw[key]) for key in raw if key not in ignored and key != "Events"}
    )
    name_key, type_key, role_key = (
        ("Name", "Type", "Role") if serverless else ("StateMachineName", "StateMachineType", "RoleArn")
    )
    name = build.physical_name(resource, props.get(name_key), max_length=80)
    machine_type = str(props.get(type_key) or "STANDARD")
    if props.get(role_key):
        role_arn = str(props.get(role_key))
    elif serverless:
        role_arn = generated_role(build, f"{sid}Role", STATES_TRUST_POLICY)
    else:
        raise TemplateError(f"{sid}: RoleArn is required")
    substitutions = {
        str(k): text_value(v) for k, v in dict(props.get("DefinitionSubstitutions") or {}).items()
    }
    definition = substitute_definition(_definition(build, resource, props), substitutions, sid)
    request: dict[str, Any] = {
        "name": name,
        "definition": json.dumps(definition),
        "roleArn": role_arn,
        "type": machine_type,
    }
    tags = props.get("Tags")
    if tags:
        pairs = tags.items() if isinstance(tags, dict) else ((t["Key"], t["Value"]) for t in tags)
        request["tags"] = [{"key": str(k), "value": text_value(v)} for k, v in pairs]
    arn = str(build.clients.client("stepfunctions").create_state_machine(**request)["stateMachineArn"])
    machine = StateMachineSpec(
        logical_id=sid, name=name, arn=arn, type=machine_type, role_arn=role_arn, definition=definition
    )
    build.stack.state_machines[sid] = machine
    build.record(ProvisionedResource(sid, resource.type, arn, {"Arn": arn, "Name": name}))
    if serverless:
        _state_machine_events(build, machine, dict(raw.get("Events") or {}))
    build.warn_unread(resource, props)
    return ProvisionedResource(sid, resource.type, arn, {"Arn": arn, "Name": name})


def _state_machine_events(build: StackBuild, machine: StateMachineSpec, events: Mapping[str, Any]) -> None:
    """An AWS::Serverless::StateMachine's SAM events: EventBridge rules routed to it, each with the
    role SAM would generate for the rule (`<Sm><Event>Role`)."""
    sid = machine.logical_id
    for event_name, event in events.items():
        event_type = str(event.get("Type"))
        if event_type not in EVENTBRIDGE_EVENT_TYPES:
            raise TemplateError(
                f"{sid}: event {event_name} of type {event_type} is not routed by the sandbox "
                "(supported: EventBridgeRule, CloudWatchEvent)"
            )
        event_props = Properties(build.resolver.resolve(dict(event.get("Properties") or {})))
        rule_id = eventbridge_event(build, machine, event_name, event_props)
        events_role = physical_name(build.pseudo.stack_name, f"{rule_id}Role", max_length=64)
        build.record(
            ProvisionedResource(
                f"{rule_id}Role",
                "AWS::IAM::Role",
                events_role,
                {"Arn": build.arn("iam", f"role/{events_role}", region=False)},
            )
        )
        for key in event_props.unread(IGNORED_EVENT_PROPERTIES):
            build.stack.warnings.append(f"{sid}.{event_name}: property {key} is not emulated")


def _definition(build: StackBuild, resource: Resource, props: Properties) -> Any:
    sid = resource.logical_id
    if props.get("Definition") is not None:
        return props.get("Definition")
    if props.get("DefinitionString") is not None:
        return _json_value(sid, str(props.get("DefinitionString")))
    uri = props.get("DefinitionUri")
    if isinstance(uri, str):
        base = build.template.path.parent if build.template.path is not None else Path.cwd()
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
        raise TemplateError(f"{sid}: a definition in S3 is not supported by the sandbox (use a local file)")
    raise TemplateError(f"{sid}: no Definition, DefinitionString or DefinitionUri")


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


def _json_value(owner: str, text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise TemplateError(f"{owner}: DefinitionString is not JSON: {exc}") from exc
