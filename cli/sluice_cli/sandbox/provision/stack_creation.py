"""`provision_stack`: every resource of template.yaml created in dependency order by its type's
creator; a type with no creator and no entry in `SKIPPED_RESOURCE_TYPES` stops provisioning."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sluice_cli.sandbox.provision.build import StackBuild
from sluice_cli.sandbox.provision.clients import ClientFactory, Clients
from sluice_cli.sandbox.provision.functions import create_function
from sluice_cli.sandbox.provision.messaging import (
    create_event_bus,
    create_queue,
    create_queue_policy,
    create_rule,
    create_subscription,
    create_topic,
    create_topic_policy,
)
from sluice_cli.sandbox.provision.monitoring import create_alarm, create_log_group
from sluice_cli.sandbox.provision.properties import (
    SERVERLESS_STATE_MACHINE,
    STEP_FUNCTIONS_STATE_MACHINE,
    physical_name,
)
from sluice_cli.sandbox.provision.security import create_kms_alias, create_kms_key, create_role
from sluice_cli.sandbox.provision.stack import ProvisionedResource, StackOutputs
from sluice_cli.sandbox.provision.state_machines import create_state_machine
from sluice_cli.sandbox.provision.storage import create_bucket, create_bucket_policy, create_table
from sluice_cli.sandbox.template import (
    SERVERLESS_FUNCTION,
    PseudoParameters,
    Resource,
    Template,
    TemplateError,
    load_template,
    referenced_names,
)

log = logging.getLogger(__name__)

Creator = Callable[[StackBuild, Resource], ProvisionedResource]

CREATORS: dict[str, Creator] = {
    "AWS::S3::Bucket": create_bucket,
    "AWS::S3::BucketPolicy": create_bucket_policy,
    "AWS::DynamoDB::Table": create_table,
    "AWS::SNS::Topic": create_topic,
    "AWS::SNS::TopicPolicy": create_topic_policy,
    "AWS::SNS::Subscription": create_subscription,
    "AWS::SQS::Queue": create_queue,
    "AWS::SQS::QueuePolicy": create_queue_policy,
    "AWS::Events::Rule": create_rule,
    "AWS::Events::EventBus": create_event_bus,
    "AWS::IAM::Role": create_role,
    "AWS::Logs::LogGroup": create_log_group,
    "AWS::KMS::Key": create_kms_key,
    "AWS::KMS::Alias": create_kms_alias,
    "AWS::CloudWatch::Alarm": create_alarm,
    SERVERLESS_FUNCTION: create_function,
    SERVERLESS_STATE_MACHINE: create_state_machine,
    STEP_FUNCTIONS_STATE_MACHINE: create_state_machine,
}

# Types the sandbox deliberately does not create, each with the reason. Anything else unknown fails.
SKIPPED_RESOURCE_TYPES: dict[str, str] = {
    "AWS::CloudWatch::Dashboard": "dashboards only render metrics; nothing in the sandbox reads them",
    "AWS::Lambda::Permission": "moto enforces no resource policies; the router invokes handlers itself",
    "AWS::IAM::Policy": "moto does not enforce IAM",
    "AWS::IAM::ManagedPolicy": "moto does not enforce IAM",
    "AWS::Lambda::EventInvokeConfig": "read from the functions' EventInvokeConfig by the router",
}


def _create_resources(build: StackBuild, skipped_types: Mapping[str, str]) -> StackOutputs:
    template = build.template
    unknown = sorted({r.type for r in template.resources.values()} - set(CREATORS) - set(skipped_types))
    if unknown:
        raise TemplateError(
            "the sandbox cannot create resource type(s) "
            + ", ".join(unknown)
            + ": add a creator in sluice_cli/sandbox/provision/stack_creation.py (CREATORS) or an entry "
            "with a reason in SKIPPED_RESOURCE_TYPES"
        )
    for resource in _creation_order(template):
        if resource.type in CREATORS:
            provisioned = CREATORS[resource.type](build, resource)
        else:
            provisioned = _skipped(build, resource, skipped_types[resource.type])
        build.record(provisioned)
    build.stack.outputs = _outputs(build)
    build.stack.output_details = _output_details(build)
    return build.stack


def _implicit_ids(template: Template) -> dict[str, str]:
    """SAM's generated resources (`<Fn>Role`, `<Fn><Event>` rules and mappings, a state machine's
    `<Sm>Role`, `<Sm><Event>` rules and `<Sm><Event>Role`) -> their function or state machine."""
    owners: dict[str, str] = {}
    for owner in [*template.functions, *template.of_type(SERVERLESS_STATE_MACHINE)]:
        oid = owner.logical_id
        if "Role" not in owner.properties:
            owners[f"{oid}Role"] = oid
        for event_name in dict(owner.properties.get("Events") or {}):
            owners[f"{oid}{event_name}"] = oid
            if owner.type == SERVERLESS_STATE_MACHINE:
                owners[f"{oid}{event_name}Role"] = oid
    return owners


def _creation_order(template: Template) -> list[Resource]:
    resources = template.resources
    owners = _implicit_ids(template)
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


def _outputs(build: StackBuild) -> dict[str, Any]:
    outputs: dict[str, Any] = {}
    for name, spec in build.template.outputs.items():
        if not build.template.condition_holds(spec.get("Condition")):
            continue
        outputs[name] = build.resolver.resolve(spec.get("Value"))
    return outputs


def _output_details(build: StackBuild) -> dict[str, dict[str, Any]]:
    details: dict[str, dict[str, Any]] = {}
    for name, spec in build.template.outputs.items():
        if not build.template.condition_holds(spec.get("Condition")):
            continue
        description, export = spec.get("Description"), (spec.get("Export") or {}).get("Name")
        details[name] = {
            "Description": build.resolver.resolve(description) if description else None,
            "ExportName": build.resolver.resolve(export) if export else None,
        }
    return details


def _skipped(build: StackBuild, resource: Resource, reason: str) -> ProvisionedResource:
    log.info("skipping %s (%s): %s", resource.logical_id, resource.type, reason)
    name = physical_name(build.pseudo.stack_name, resource.logical_id, max_length=128)
    return ProvisionedResource(resource.logical_id, resource.type, name, {}, skipped_reason=reason)


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
    return _create_resources(StackBuild(clients, template, imports), skipped)
