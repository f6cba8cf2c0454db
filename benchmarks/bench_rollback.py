"""Alarm → 100 % baseline in the local sandbox, as a ratio against one weights call in the same run.

Starts the sandbox (moto server, stack from template.yaml, the real ASL and handlers, time compressed
x100), runs canary rollouts that bake for a long time, and for each fires the candidate's error alarm
with `set_alarm_state` (which the sandbox turns into the EventBridge "CloudWatch Alarm State Change")
and times until DescribeEndpoint shows the baseline back at 100 %. The reference is the round trip of
one UpdateEndpointWeightsAndCapacities + DescribeEndpoint against the same emulator: the least a
rollback can cost. Median of a few rollouts. Run with `make bench`.
"""

from __future__ import annotations

import io
import json
import statistics
import tarfile
import time
from typing import Any

from sluice_cli.sandbox.seed import create_realtime_endpoint
from sluice_cli.sandbox.server import Sandbox, quiet_handler_output

ROLE = "arn:aws:iam::123456789012:role/sluice-bench"
ROLLOUTS = 3


def archive(tag: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("model.pth")
        info.size = len(tag)
        tar.addfile(info, io.BytesIO(tag.encode()))
    return buffer.getvalue()


def wait_until(condition: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.005)


def baseline_weight(sm: Any, endpoint: str) -> float | None:
    variants = sm.describe_endpoint(EndpointName=endpoint)["ProductionVariants"]
    return next((v.get("CurrentWeight") for v in variants if v["VariantName"] == "v1"), None)


def one_rollback(sandbox: Sandbox, index: int) -> float:
    sm, s3, ddb = sandbox.client("sagemaker"), sandbox.client("s3"), sandbox.client("dynamodb")
    bucket = sandbox.outputs.outputs["ArtifactBucketName"]
    table = sandbox.outputs.outputs["RegistryTableName"]
    endpoint = f"bench-{index}"
    create_realtime_endpoint(sandbox, bucket, endpoint, autoscaling=False)
    s3.put_object(
        Bucket=bucket,
        Key=f"endpoints/{endpoint}/deploy.json",
        Body=json.dumps({"rollout": {"steps": [50, 100], "bake_seconds": 3600}}).encode(),
    )
    s3.put_object(Bucket=bucket, Key=f"endpoints/{endpoint}/v2/model.tar.gz", Body=archive(endpoint))

    def baking() -> bool:
        items = ddb.query(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"rollout#{endpoint}"}},
        )["Items"]
        return bool(items) and items[0].get("status", {}).get("S") == "BAKING"

    wait_until(baking)
    started = time.perf_counter()
    sandbox.client("cloudwatch").set_alarm_state(
        AlarmName=f"sluice-{endpoint}-v2-errors", StateValue="ALARM", StateReason="bench: error rate 9 %"
    )
    wait_until(lambda: baseline_weight(sm, endpoint) == 100.0)
    return time.perf_counter() - started


def reference_round_trip(sandbox: Sandbox) -> float:
    """One UpdateEndpointWeightsAndCapacities + one DescribeEndpoint on an endpoint of the same emulator."""
    sm = sandbox.client("sagemaker")
    timings = []
    for _ in range(20):
        started = time.perf_counter()
        sm.update_endpoint_weights_and_capacities(
            EndpointName="bench-0",
            DesiredWeightsAndCapacities=[
                {"VariantName": "v1", "DesiredWeight": 100.0, "DesiredInstanceCount": 2}
            ],
        )
        sm.describe_endpoint(EndpointName="bench-0")
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def main() -> None:
    parameters = {"SageMakerExecutionRoleArn": ROLE, "LogLevel": "ERROR"}
    with quiet_handler_output(True), Sandbox(time_scale=0.01, parameters=parameters) as sandbox:
        latencies = [one_rollback(sandbox, index) for index in range(ROLLOUTS)]
        reference = reference_round_trip(sandbox)
    median = statistics.median(latencies)
    print(
        f"alarm -> 100 % baseline (sandbox, median of {ROLLOUTS}): {median:.3f} s "
        f"[{', '.join(f'{x:.3f}' for x in latencies)}]"
    )
    print(f"reference (one weights call + describe):           {reference:.4f} s")
    print(f"alarm-driven rollback: {median / reference:.1f}x the cost of a single weights round trip")


if __name__ == "__main__":
    main()
