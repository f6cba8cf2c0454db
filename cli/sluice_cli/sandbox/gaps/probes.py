"""Plain moto, no filler installed, for the gaps' `still_present()` probes."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

PROBE_REGION = "us-east-1"


@contextlib.contextmanager
def plain_moto() -> Iterator[Callable[[str], Any]]:
    """boto3 clients on in-process moto with dummy credentials, for the probes."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        session = boto3.session.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
            region_name=PROBE_REGION,
        )
        yield lambda service: session.client(service)


def probe_rule_to_queue(clients: Callable[[str], Any], pattern: dict[str, Any]) -> str:
    sqs = clients("sqs")
    events = clients("events")
    url = sqs.create_queue(QueueName="gap-probe")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="gap-probe", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="gap-probe", Targets=[{"Id": "probe", "Arn": arn}])
    return str(url)


def drain_queue(clients: Callable[[str], Any], url: str) -> list[dict[str, Any]]:
    messages = clients("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def wait_for_execution(sfn: Any, execution_arn: str, timeout: float = 20.0) -> dict[str, Any]:
    """describe_execution once the execution is no longer RUNNING (the probes' plain-moto runs)."""
    deadline = time.monotonic() + timeout
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            return described
        time.sleep(0.05)


@contextlib.contextmanager
def plain_moto_executing() -> Iterator[Callable[[str], Any]]:
    """`plain_moto` with moto's Step Functions interpreter on (execute_state_machine)."""
    import boto3
    from moto import mock_aws

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        session = boto3.session.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
            region_name=PROBE_REGION,
        )
        yield lambda service: session.client(service)


def probe_role(clients: Callable[[str], Any]) -> str:
    return str(clients("iam").create_role(RoleName="gap-probe", AssumeRolePolicyDocument="{}")["Role"]["Arn"])


def put_probe_alarm(cloudwatch: Any, name: str = "gap-probe", **settings: Any) -> None:
    """A plain metric alarm for a probe (Probe/Errors, Sum per minute, above 1), `settings` overriding."""
    cloudwatch.put_metric_alarm(
        **{
            "AlarmName": name,
            "Namespace": "Probe",
            "MetricName": "Errors",
            "Statistic": "Sum",
            "Period": 60,
            "EvaluationPeriods": 1,
            "Threshold": 1.0,
            "ComparisonOperator": "GreaterThanThreshold",
            **settings,
        }
    )
