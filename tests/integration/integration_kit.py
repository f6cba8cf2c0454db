"""Test kit for handlers on moto: the stack is provisioned from template.yaml by the sandbox (names and
env vars cannot drift); handlers are invoked with the sample events of events/ as Lambda would.
"""

from __future__ import annotations

import copy
import io
import itertools
import json
import os
import subprocess
import sys
import tarfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sluice.domain.registry import JOB_SK, LATEST_SK, intake_pk, intake_sk, job_pk, model_pk
from sluice_cli.sandbox.server import Sandbox

EVENTS = Path(__file__).resolve().parents[2] / "events"
_counter = itertools.count(1)
_sequencers = itertools.count(0x617F08299329D189)  # S3's sequencers grow with each event of a key


# deploy.json `rollout` keys for a test that simulates no traffic and is about something other than the
# evidence a step is judged on: no canary analysis, and an alarm without data lets the rollout go on (as
# every rollout did before the analysis and its default on_insufficient_data "hold"). Tests about the
# analysis or about missing evidence leave these out and simulate traffic.
UNJUDGED: dict[str, Any] = {"analysis": None, "on_insufficient_data": "continue"}


SLUICE = Path(sys.executable).with_name("sluice")  # the console script of this environment


def sluice_process(
    sandbox: Sandbox, *args: str, table: str | None = None, stack: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The `sluice` console script in its own process, as a user runs it against the sandbox's endpoint
    URL (dummy credentials, none of this process's AWS_/SLUICE_ variables); the sandbox's in-process
    handlers print their logs on this process's stdout. `table`, `stack`: its --table / --stack."""
    options = ["--endpoint-url", sandbox.endpoint_url]
    options += ["--table", table] if table else []
    options += ["--stack", stack] if stack else []
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SLUICE_"))}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    return subprocess.run(
        [str(SLUICE), *options, *args],
        env={**env, "COLUMNS": "250", "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def sample_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def make_archive(
    members: dict[str, bytes] | None = None, *, extra: list[tarfile.TarInfo] | None = None
) -> bytes:
    members = members if members is not None else {"model.pth": b"weights", "code/inference.py": b"print(1)"}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
        for info in extra or []:
            tar.addfile(info)
    return buffer.getvalue()


@dataclass
class Stack:
    sandbox: Sandbox
    bucket: str
    table: str
    sns_queue_url: str
    events_queue_url: str

    def client(self, service: str) -> Any:
        return self.sandbox.client(service)

    def put(self, key: str, body: bytes) -> dict[str, Any]:
        """PutObject's response, plus the `Sequencer` S3 gives the put's event (increasing per put)."""
        response: dict[str, Any] = self.client("s3").put_object(Bucket=self.bucket, Key=key, Body=body)
        return {**response, "Sequencer": f"{next(_sequencers):018X}"}

    def s3_event(
        self,
        key: str,
        put: dict[str, Any],
        *,
        sample: str = "s3_object_created_multi_model.json",
        key_in_event: str | None = None,
    ) -> dict[str, Any]:
        event = copy.deepcopy(sample_event(sample))
        event["id"] = str(uuid.uuid4())
        event["detail"]["bucket"]["name"] = self.bucket
        event["resources"] = [f"arn:aws:s3:::{self.bucket}"]
        obj = event["detail"]["object"]
        obj["key"] = key if key_in_event is None else key_in_event
        obj["version-id"] = put.get("VersionId", "null")
        obj["etag"] = put["ETag"].strip('"')
        if "Sequencer" in put:
            obj["sequencer"] = put["Sequencer"]
        else:  # not from `put`: no sequencer rather than the sample's, which every event would share
            obj.pop("sequencer", None)
        return event

    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        return self.sandbox.router.invoke(function, event)  # type: ignore[no-any-return]

    def item(self, pk: str, sk: str) -> dict[str, Any] | None:
        from sluice.adapters.registry import from_item

        got = self.client("dynamodb").get_item(TableName=self.table, Key={"pk": {"S": pk}, "sk": {"S": sk}})
        return from_item(got["Item"]) if "Item" in got else None

    def latest(self, endpoint: str, model: str) -> dict[str, Any] | None:
        return self.item(model_pk(endpoint, model), LATEST_SK)

    def intake(self, key: str, put: dict[str, Any]) -> dict[str, Any] | None:
        return self.item(intake_pk(self.bucket, key), intake_sk(put.get("VersionId"), put["ETag"]))

    def job(self, name: str) -> dict[str, Any] | None:
        return self.item(job_pk(name), JOB_SK)

    def tags(self, key: str, version_id: str | None = None) -> dict[str, str]:
        kwargs = {"Bucket": self.bucket, "Key": key} | ({"VersionId": version_id} if version_id else {})
        return {t["Key"]: t["Value"] for t in self.client("s3").get_object_tagging(**kwargs)["TagSet"]}

    def keys(self, prefix: str) -> list[str]:
        listed = self.client("s3").list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return sorted(o["Key"] for o in listed.get("Contents", []))

    def notifications(self) -> list[tuple[str, dict[str, Any]]]:
        """(detail type, detail) of every notification received so far on SNS (as a subscriber sees it)."""
        return [
            (m["MessageAttributes"]["detail_type"]["Value"], json.loads(m["Message"]))
            for m in self._drain(self.sns_queue_url)
        ]

    def bus_events(self) -> list[tuple[str, dict[str, Any]]]:
        return [(e["detail-type"], e["detail"]) for e in self._drain(self.events_queue_url)]

    def _drain(self, url: str) -> list[dict[str, Any]]:
        sqs, bodies = self.client("sqs"), []
        while True:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = got.get("Messages", [])
            if not messages:
                return bodies
            for message in messages:
                bodies.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def multi_model_endpoint(self, prefix: str | None = None, *, mode: str = "MultiModel") -> str:
        """A fresh endpoint made with the ordinary SageMaker APIs, as a user would."""
        name = f"mme-{next(_counter)}-{uuid.uuid4().hex[:6]}"
        data_url = prefix or f"s3://{self.bucket}/serving/{name}/"
        sm = self.client("sagemaker")
        container = {
            "Image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.3-cpu-py311",
            "Mode": mode,
            "ModelDataUrl": data_url,
        }
        sm.create_model(
            ModelName=f"{name}-model",
            ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
            PrimaryContainer=container,
        )
        sm.create_endpoint_config(
            EndpointConfigName=f"{name}-config",
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": f"{name}-model",
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                    "InitialVariantWeight": 1.0,
                }
            ],
        )
        sm.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config")
        return name

    def batch_model(self) -> str:
        name = f"batch-{next(_counter)}-{uuid.uuid4().hex[:6]}"
        self.client("sagemaker").create_model(
            ModelName=name,
            ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
            PrimaryContainer={
                "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/xgboost:1.7-1",
                "ModelDataUrl": f"s3://{self.bucket}/models/{name}/model.tar.gz",
            },
        )
        return name


def failure_records(stack: Stack) -> list[dict[str, Any]]:
    """Every record in FailureQueue (the OnFailure destination), received and deleted."""
    url, sqs, records = stack.sandbox.outputs.outputs["FailureQueueUrl"], stack.client("sqs"), []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            records.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return records


def aborted_in(sandbox: Sandbox, execution_arn: str) -> list[str]:
    """The task states whose Lambda failed with RolloutAborted, in order."""
    sfn = sandbox.client("stepfunctions")
    history = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    current, failed = "", []
    for event in history:
        entered = event.get("stateEnteredEventDetails")
        if entered:
            current = entered["name"]
        if event["type"] == "TaskFailed" and event["taskFailedEventDetails"].get("error") == "RolloutAborted":
            failed.append(current)
    return failed


def states_entered(sandbox: Sandbox, execution_arn: str) -> list[str]:
    """The names of the states an execution entered, in order."""
    sfn = sandbox.client("stepfunctions")
    history = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in history if e.get("stateEnteredEventDetails")]
