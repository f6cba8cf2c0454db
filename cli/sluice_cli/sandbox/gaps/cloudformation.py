"""CloudFormation gap: the sandbox's stack is not a CloudFormation stack (docs/EMULATION.md, CloudFormation /
SAM), so DescribeStacks would not know it; the filler records it there with its outputs."""

from __future__ import annotations

import json
import warnings
from typing import Any

from sluice_cli.sandbox.gaps.base import Gap
from sluice_cli.sandbox.gaps.probes import plain_moto

# The one resource of the recorded stack: a WaitConditionHandle creates nothing, on AWS as in moto (and
# CloudFormation needs at least one resource). Everything the template made was created resource by
# resource by the provisioner.
PLACEHOLDER_ID = "SandboxProvisioned"
PLACEHOLDER = {"Type": "AWS::CloudFormation::WaitConditionHandle"}

_SAM_PROBE_TEMPLATE = {
    "Transform": "AWS::Serverless-2016-10-31",
    "Resources": {
        "Table": {
            "Type": "AWS::Serverless::SimpleTable",
            "Properties": {"TableName": "gap-probe"},
        }
    },
    "Outputs": {"TableName": {"Value": {"Ref": "Table"}}},
}


class SandboxStackRecord(Gap):
    """DescribeStacks answers the sandbox's stack (its name, `CREATE_COMPLETE`, the template's Outputs with
    their descriptions and export names, resolved as the provisioner resolved them), so what reads a
    deployed stack's outputs (the `sluice` CLI finds the registry table by `RegistryTableName`) works
    against the sandbox without being told names.

    moto's create_stack does not run the SAM transform: `AWS::Serverless::*` resources are skipped, so the
    sandbox provisions template.yaml itself with the service APIs (provision/) and CloudFormation never
    hears of the stack. `record(clients, stack)` creates it in moto's CloudFormation with one resource that
    creates nothing (a WaitConditionHandle) and the outputs as literal values; `_patch` has nothing to
    patch. The stack's resources are therefore not listed by DescribeStackResources (not filled: nothing
    in Sluice reads them)."""

    name = "cloudformation-sandbox-stack"
    reason = (
        "moto's create_stack skips AWS::Serverless::* resources (no SAM transform), so the sandbox "
        "provisions the template itself and DescribeStacks knows no stack; the filler records it"
    )

    def _patch(self) -> None:
        """Nothing to patch: `record` creates the stack through moto's own CloudFormation API."""

    @staticmethod
    def record(cloudformation: Any, stack_name: str, description: str, outputs: dict[str, Any]) -> str:
        """Create the stack `stack_name` whose Outputs are `outputs` (OutputKey -> {"Value", optional
        "Description", optional "ExportName"}); returns its StackId."""
        rendered: dict[str, Any] = {}
        for key, spec in outputs.items():
            output: dict[str, Any] = {"Value": str(spec["Value"])}
            if spec.get("Description"):
                output["Description"] = str(spec["Description"])
            if spec.get("ExportName"):
                output["Export"] = {"Name": str(spec["ExportName"])}
            rendered[key] = output
        body = {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Description": description[:1024],
            "Resources": {PLACEHOLDER_ID: PLACEHOLDER},
            "Outputs": rendered,
        }
        with warnings.catch_warnings():  # moto warns that it "does not support" the placeholder's type
            warnings.simplefilter("ignore", UserWarning)
            created = cloudformation.create_stack(StackName=stack_name, TemplateBody=json.dumps(body))
        return str(created["StackId"])

    @classmethod
    def still_present(cls) -> bool:
        with plain_moto() as clients, warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "Tried to parse AWS::Serverless::SimpleTable"
            clients("cloudformation").create_stack(
                StackName="gap-probe", TemplateBody=json.dumps(_SAM_PROBE_TEMPLATE)
            )
            tables = clients("dynamodb").list_tables()["TableNames"]
            return "gap-probe" not in tables
