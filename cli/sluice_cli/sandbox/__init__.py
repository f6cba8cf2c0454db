"""The local sandbox: moto's server in-process, the stack provisioned from template.yaml, events routed
to the real handlers in-process, and every moto gap-filler in one package (`gaps`).

    from sluice_cli.sandbox import Sandbox

    with Sandbox() as sandbox:
        sandbox.client("s3").put_object(Bucket=sandbox.outputs.outputs["ArtifactBucketName"], ...)
        sandbox.wait_idle()

Modules: `template` (YAML with CloudFormation tags, Globals, conditions, intrinsics), `provision/`
(creates each resource with service APIs, one module per resource family), `router` (SQS route queues
-> handlers, Lambda semantics; with `lambda_runtime`, `event_payloads`, `async_destinations`),
`gaps/` (what moto lacks, one module per service), `alarms/` (metric alarms evaluated from data),
`server` (the `Sandbox` context manager, the real-AWS guard).
"""

from __future__ import annotations

from sluice_cli.sandbox.provision.stack import StackOutputs
from sluice_cli.sandbox.provision.stack_creation import provision_stack
from sluice_cli.sandbox.router import EventRouter, Invocation
from sluice_cli.sandbox.server import RealAwsRequestRefused, Sandbox, refuse_real_aws
from sluice_cli.sandbox.template import Template, load_template

__all__ = [
    "EventRouter",
    "Invocation",
    "RealAwsRequestRefused",
    "Sandbox",
    "StackOutputs",
    "Template",
    "load_template",
    "provision_stack",
    "refuse_real_aws",
]
