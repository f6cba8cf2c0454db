"""IAM roles (the template's, SAM's generated ones, the sandbox's fallback) and KMS keys and aliases."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sluice_cli.sandbox.provision.build import StackBuild
from sluice_cli.sandbox.provision.properties import Properties, api_tags, json_text, physical_name, truthy
from sluice_cli.sandbox.provision.stack import ProvisionedResource
from sluice_cli.sandbox.template import Resource

LAMBDA_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}
STATES_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


def create_role(build: StackBuild, resource: Resource) -> ProvisionedResource:
    props = build.properties(resource)
    iam = build.clients.client("iam")
    name = build.physical_name(resource, props.get("RoleName"), max_length=64)
    request: dict[str, Any] = {
        "RoleName": name,
        "AssumeRolePolicyDocument": json_text(props.get("AssumeRolePolicyDocument")),
        "Path": props.get("Path") or "/",
    }
    if props.get("Tags"):
        request["Tags"] = api_tags(props.get("Tags"))
    role = iam.create_role(**request)["Role"]
    _put_policies(build, resource.logical_id, name, props)
    build.warn_unread(resource, props)
    return ProvisionedResource(
        resource.logical_id, resource.type, name, {"Arn": role["Arn"], "RoleId": role["RoleId"]}
    )


def generated_role(build: StackBuild, logical_id: str, trust_policy: Mapping[str, Any]) -> str:
    """The IAM role SAM generates for a function or state machine without `Role` (`<Id>Role`), created
    in moto with what the SAM translator gives it on deploy (provision/sam_roles.py): its trust policy,
    its inline policies (policy templates expanded, intrinsics resolved to the sandbox's names and
    ARNs) and its managed policies. `trust_policy` is for a role the translator does not generate."""
    role_name = physical_name(build.pseudo.stack_name, logical_id, max_length=64)
    translated = Properties(build.resolver.resolve(build.sam_roles.get(logical_id) or {}))
    iam = build.clients.client("iam")
    role = iam.create_role(
        RoleName=role_name,
        AssumeRolePolicyDocument=json_text(translated.get("AssumeRolePolicyDocument") or trust_policy),
    )["Role"]
    _put_policies(build, logical_id, role_name, translated)
    build.record(
        ProvisionedResource(
            logical_id, "AWS::IAM::Role", role_name, {"Arn": role["Arn"], "RoleId": role["RoleId"]}
        )
    )
    return str(role["Arn"])


def _put_policies(build: StackBuild, logical_id: str, role_name: str, props: Properties) -> None:
    """A role's inline `Policies` and its `ManagedPolicyArns` (moto knows only the AWS managed policies
    it loads: the others are a warning)."""
    iam = build.clients.client("iam")
    for policy in props.get("Policies") or []:
        document = policy["PolicyDocument"]
        if isinstance(document, dict) and "Version" not in document:
            # IAM takes a document without Version (as 2008-10-17: no policy variables), moto refuses
            # it; SAM's EventInvokeConfig destination policies have none, and no policy variable.
            document = {"Version": "2012-10-17", **document}
        iam.put_role_policy(
            RoleName=role_name, PolicyName=str(policy["PolicyName"]), PolicyDocument=json_text(document)
        )
    for policy_arn in props.get("ManagedPolicyArns") or []:
        try:
            iam.attach_role_policy(RoleName=role_name, PolicyArn=str(policy_arn))
        except iam.exceptions.NoSuchEntityException as exc:
            build.stack.warnings.append(f"{logical_id}: cannot attach {policy_arn}: {exc}")


def sandbox_role(build: StackBuild) -> str:
    """A role moto's Lambda accepts, for a function whose own role does not exist in the emulator."""
    role_name = physical_name(build.pseudo.stack_name, "SandboxLambdaRole", max_length=64)
    iam = build.clients.client("iam")
    try:
        return str(iam.get_role(RoleName=role_name)["Role"]["Arn"])
    except iam.exceptions.NoSuchEntityException:
        return str(
            iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST_POLICY))[
                "Role"
            ]["Arn"]
        )


def create_kms_key(build: StackBuild, resource: Resource) -> ProvisionedResource:
    """`Ref` is the key id, `Fn::GetAtt Arn` the key ARN (as CloudFormation returns them)."""
    props = build.properties(resource)
    kms = build.clients.client("kms")
    request: dict[str, Any] = {}
    if props.get("KeyPolicy") is not None:
        request["Policy"] = json_text(props.get("KeyPolicy"))
    for key in ("Description", "KeyUsage", "KeySpec", "Origin"):
        if props.get(key) is not None:
            request[key] = str(props.get(key))
    for key in ("MultiRegion", "BypassPolicyLockoutSafetyCheck"):
        if props.get(key) is not None:
            request[key] = truthy(props.get(key))
    if props.get("Tags"):
        request["Tags"] = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in api_tags(props.get("Tags"))]
    metadata = kms.create_key(**request)["KeyMetadata"]
    key_id = str(metadata["KeyId"])
    if truthy(props.get("EnableKeyRotation")):
        rotation: dict[str, Any] = {"KeyId": key_id}
        if props.get("RotationPeriodInDays") is not None:
            rotation["RotationPeriodInDays"] = int(props.get("RotationPeriodInDays"))
        kms.enable_key_rotation(**rotation)
    if not truthy(props.get("Enabled"), default=True):
        kms.disable_key(KeyId=key_id)
    build.warn_unread(resource, props)
    return ProvisionedResource(
        resource.logical_id, resource.type, key_id, {"Arn": metadata["Arn"], "KeyId": key_id}
    )


def create_kms_alias(build: StackBuild, resource: Resource) -> ProvisionedResource:
    props = build.properties(resource)
    name = str(props.get("AliasName"))
    build.clients.client("kms").create_alias(AliasName=name, TargetKeyId=str(props.get("TargetKeyId")))
    build.warn_unread(resource, props)
    return ProvisionedResource(resource.logical_id, resource.type, name, {})
