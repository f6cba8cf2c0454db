"""A canary on the sandbox, driven as a user would: a production endpoint made with SageMaker's APIs,
a deploy.json and an archive uploaded, the rollout record and decision log read from the registry."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from typing import Any

from integration_kit import make_archive

from sluice.adapters.registry import from_item
from sluice.adapters.rollouts import log_pk, rollout_pk
from sluice_cli.sandbox.server import Sandbox

IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.3-cpu-py311"
ROLE = "arn:aws:iam::123456789012:role/x"

_names = itertools.count(1)


def make_endpoint(sandbox: Sandbox, prefix: str = "traffic") -> str:
    """A production endpoint at v1, made with plain SageMaker APIs."""
    name = f"{prefix}{next(_names)}-{uuid.uuid4().hex[:4]}"
    sm = sandbox.client("sagemaker")
    sm.create_model(
        ModelName=f"{name}-v1",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://models/{name}.tar.gz"},
    )
    sm.create_endpoint_config(
        EndpointConfigName=f"{name}-v1",
        ProductionVariants=[
            {
                "VariantName": "v1",
                "ModelName": f"{name}-v1",
                "InitialInstanceCount": 2,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": 1.0,
            }
        ],
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-v1")
    return name


class Canary:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        outputs = sandbox.outputs.outputs
        self.bucket, self.table = outputs["ArtifactBucketName"], outputs["RegistryTableName"]

    def start(self, endpoint: str, version: str, rollout: dict[str, Any]) -> None:
        s3 = self.sandbox.client("s3")
        s3.put_object(
            Bucket=self.bucket,
            Key=f"endpoints/{endpoint}/deploy.json",
            Body=json.dumps({"rollout": rollout}).encode(),
        )
        s3.put_object(
            Bucket=self.bucket,
            Key=f"endpoints/{endpoint}/{version}/model.tar.gz",
            Body=make_archive({"model.pth": version.encode()}),
        )

    def _query(self, pk: str) -> list[dict[str, Any]]:
        items = self.sandbox.client("dynamodb").query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
            ConsistentRead=True,
        )["Items"]
        return [from_item(i) for i in items]

    def rollout(self, endpoint: str, version: str) -> dict[str, Any] | None:
        found = [r for r in self._query(rollout_pk(endpoint)) if r["version"] == version]
        return found[0] if found else None

    def finish(self, endpoint: str, version: str, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rollout = self.rollout(endpoint, version)
            if rollout and rollout.get("execution_arn"):
                self.sandbox.wait_for_execution(rollout["execution_arn"], timeout=timeout)
                final = self.rollout(endpoint, version)
                assert final is not None
                return final
            time.sleep(0.05)
        raise AssertionError(f"the rollout of {version} did not start")

    def history(self, endpoint: str, rollout_id: str) -> list[dict[str, Any]]:
        return self._query(log_pk(endpoint, rollout_id))

    def weights(self, endpoint: str) -> dict[str, float | None]:
        described = self.sandbox.client("sagemaker").describe_endpoint(EndpointName=endpoint)
        return {v["VariantName"]: v.get("CurrentWeight") for v in described["ProductionVariants"]}
