"""The IAM roles SAM generates for the template's functions and state machines, as a deploy makes them.

`sam deploy` sends template.yaml to CloudFormation with the `AWS::Serverless-2016-10-31` transform, which
runs the SAM translator (aws-sam-translator, the library SAM CLI ships and pins): every
`AWS::Serverless::Function` / `AWS::Serverless::StateMachine` without `Role` gets an `AWS::IAM::Role`
named `<LogicalId>Role` whose inline policies are its `Policies` with SAM's policy templates
(`DynamoDBCrudPolicy`, `SNSPublishMessagePolicy`, `LambdaInvokePolicy`...) expanded, plus what its
other properties imply (an `EventInvokeConfig` destination's send permission), and the managed
policies it names (AWSLambdaBasicExecutionRole, AWSXrayWriteOnlyAccess for `Tracing: Active`...).

The sandbox runs the same translator on the template and keeps those roles' properties; intrinsics
(`!Sub`, `!GetAtt`, `!Ref`, `Fn::If`) stay as the translator leaves them, for the provisioner's
`IntrinsicResolver` to turn into the sandbox's physical names and ARNs. The code and the state machine
definitions are left out of the translation (placeholders: SAM only checks that they are S3 URIs or
inline documents, and no role depends on them).
"""

from __future__ import annotations

import copy
from typing import Any

from sluice_cli.sandbox.provision.properties import SERVERLESS_STATE_MACHINE
from sluice_cli.sandbox.template import SERVERLESS_FUNCTION, Template, TemplateError

_PLACEHOLDER_CODE = "s3://sluice-sandbox/placeholder.zip"
_PLACEHOLDER_DEFINITION = {"StartAt": "Placeholder", "States": {"Placeholder": {"Type": "Pass", "End": True}}}


def _translatable_body(body: dict[str, Any]) -> dict[str, Any]:
    """The template with local code and definition paths replaced by placeholders the translator takes."""
    translatable = copy.deepcopy(body)
    function_globals = (translatable.get("Globals") or {}).get("Function") or {}
    function_globals.pop("CodeUri", None)
    for resource in translatable["Resources"].values():
        properties = resource.setdefault("Properties", {})
        if resource.get("Type") == SERVERLESS_FUNCTION and not {"InlineCode", "ImageUri"} & set(properties):
            properties["CodeUri"] = _PLACEHOLDER_CODE
            # The sandbox's default when a (test) template names no runtime, as provision/functions.py.
            properties.setdefault("Runtime", function_globals.get("Runtime") or "python3.13")
        if resource.get("Type") == SERVERLESS_STATE_MACHINE:
            for key in ("DefinitionUri", "Definition", "DefinitionSubstitutions"):
                properties.pop(key, None)
            properties["Definition"] = copy.deepcopy(_PLACEHOLDER_DEFINITION)
    return translatable


def sam_generated_roles(template: Template) -> dict[str, dict[str, Any]]:
    """`<LogicalId>Role` -> the properties of the AWS::IAM::Role the SAM translator generates for it
    (AssumeRolePolicyDocument, Policies, ManagedPolicyArns, Tags...), intrinsics unresolved."""
    import boto3
    from samtranslator.internal.managed_policies import get_bundled_managed_policy_map
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    pseudo = template.pseudo
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=pseudo.region))
    try:
        translated = translator.translate(
            _translatable_body(template.body),
            parameter_values={
                **template.parameters,
                "AWS::Region": pseudo.region,
                "AWS::Partition": pseudo.partition,
                "AWS::AccountId": pseudo.account_id,
                "AWS::StackName": pseudo.stack_name,
            },
            get_managed_policy_map=lambda: get_bundled_managed_policy_map(pseudo.partition) or {},
        )
    except Exception as exc:  # the translator's InvalidDocumentException lists every problem
        raise TemplateError(f"the SAM translator refused the template: {exc}") from exc
    return {
        logical_id: dict(resource.get("Properties") or {})
        for logical_id, resource in translated["Resources"].items()
        if resource.get("Type") == "AWS::IAM::Role" and logical_id not in template.body["Resources"]
    }
