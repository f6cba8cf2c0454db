"""server.py: the real-AWS guard, and a Sandbox that leaves nothing behind."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import boto3
import pytest
from botocore.httpsession import URLLib3Session
from moto.sagemaker.models import SageMakerModelBackend

from sluice_cli.sandbox import RealAwsRequestRefused, Sandbox, refuse_real_aws
from sluice_cli.sandbox.template import TemplateError

SMALL = "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n"


def _template(tmp_path: Path, text: str = SMALL) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(text)
    return path


def _real_sagemaker() -> object:
    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    ).client("sagemaker", endpoint_url="https://sagemaker.us-east-1.amazonaws.com")


def test_guard_refuses_requests_to_real_aws() -> None:
    original = URLLib3Session.send
    client = _real_sagemaker()
    with (
        refuse_real_aws(),
        pytest.raises(RealAwsRequestRefused, match=r"sagemaker\.us-east-1\.amazonaws\.com"),
    ):
        client.list_models()  # type: ignore[attr-defined]
    assert URLLib3Session.send is original


def test_sandbox_points_clients_at_the_emulator_and_guards_the_rest(tmp_path: Path) -> None:
    with Sandbox(_template(tmp_path), stack_name="guarded") as sandbox:
        assert os.environ["AWS_ENDPOINT_URL"] == sandbox.endpoint_url
        assert sandbox.endpoint_url.startswith("http://127.0.0.1:")
        # A default client (as the handlers create them) reaches the emulator ...
        queues = boto3.client("sqs").list_queues()["QueueUrls"]
        assert queues == [sandbox.outputs.ref("Queue")]
        # ... and one aimed at AWS explicitly is refused before it connects.
        with pytest.raises(RealAwsRequestRefused):
            _real_sagemaker().list_models()  # type: ignore[attr-defined]
    assert "AWS_ENDPOINT_URL" not in os.environ or os.environ["AWS_ENDPOINT_URL"] != sandbox.endpoint_url


def _live_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.is_alive()}


def _settled_extra_threads(before: set[threading.Thread]) -> set[threading.Thread]:
    deadline = time.monotonic() + 3
    extra = _live_threads() - before
    while extra and time.monotonic() < deadline:
        time.sleep(0.05)
        extra = _live_threads() - before
    return extra


def test_sandbox_exits_cleanly(tmp_path: Path) -> None:
    env_before = dict(os.environ)
    threads_before = _live_threads()
    create_transform_job = SageMakerModelBackend.__dict__["create_transform_job"]
    with Sandbox(_template(tmp_path), stack_name="clean") as sandbox:
        port = sandbox.port
        assert sandbox.router.invocations == []
        assert SageMakerModelBackend.__dict__["create_transform_job"] is not create_transform_job
    assert _settled_extra_threads(threads_before) == set()
    assert dict(os.environ) == env_before
    assert SageMakerModelBackend.__dict__["create_transform_job"] is create_transform_job
    with socket.socket() as probe:  # the port is free again
        probe.bind(("127.0.0.1", port))
    with Sandbox(_template(tmp_path), stack_name="again") as again:  # and a new sandbox starts fresh
        assert again.client("sqs").list_queues()["QueueUrls"] == [again.outputs.ref("Queue")]


WAITING = """
Resources:
  Tokens:
    Type: AWS::SQS::Queue
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement: [{Effect: Allow, Principal: {Service: states.amazonaws.com}, Action: sts:AssumeRole}]
      Policies:
        - PolicyName: send-tokens
          PolicyDocument:
            Version: "2012-10-17"
            Statement: [{Effect: Allow, Action: sqs:SendMessage, Resource: !GetAtt Tokens.Arn}]
  Bake:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      RoleArn: !GetAtt Role.Arn
      Definition:
        StartAt: Bake
        States:
          Bake:
            Type: Task
            Resource: arn:aws:states:::sqs:sendMessage.waitForTaskToken
            Parameters: {QueueUrl: !Ref Tokens, MessageBody: {token.$: $$.Task.Token}}
            End: true
"""


def test_sandbox_exit_stops_running_executions(tmp_path: Path) -> None:
    from moto.core.config import default_user_config

    config_before = dict(default_user_config["stepfunctions"])
    threads_before = _live_threads()
    with Sandbox(_template(tmp_path, WAITING), stack_name="waiting") as sandbox:
        assert default_user_config["stepfunctions"] == {"execute_state_machine": True}
        execution = sandbox.router.start_execution("Bake")
        sqs = sandbox.client("sqs")
        assert sqs.receive_message(QueueUrl=sandbox.outputs.ref("Tokens"), WaitTimeSeconds=5)["Messages"]
        assert (
            sandbox.client("stepfunctions").describe_execution(executionArn=execution)["status"] == "RUNNING"
        )
    # No interpreter thread waits for the token any more (it would until the default 99999999 s).
    assert _settled_extra_threads(threads_before) == set()
    assert default_user_config["stepfunctions"] == config_before


def test_a_stopped_execution_is_aborted_and_its_waiting_task_woken(tmp_path: Path) -> None:
    threads_before = _live_threads()
    with Sandbox(_template(tmp_path, WAITING), stack_name="stopping") as sandbox:
        execution = sandbox.router.start_execution("Bake")
        sqs, sfn = sandbox.client("sqs"), sandbox.client("stepfunctions")
        assert sqs.receive_message(QueueUrl=sandbox.outputs.ref("Tokens"), WaitTimeSeconds=5)["Messages"]

        sfn.stop_execution(executionArn=execution, error="Manual", cause="stopped in the console")

        deadline = time.monotonic() + 5
        waiting = {t for t in _live_threads() - threads_before if "_exec_and_notify" in t.name}
        while any(t.is_alive() for t in waiting) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(t.is_alive() for t in waiting)  # the task waiting for its token was woken
        status = sfn.describe_execution(executionArn=execution)["status"]
        while status == "RUNNING" and time.monotonic() < deadline:  # the worker records its end last
            time.sleep(0.05)
            status = sfn.describe_execution(executionArn=execution)["status"]
        assert status == "ABORTED"  # as AWS says, not FAILED by the woken task's error


def test_failed_provisioning_unwinds_everything(tmp_path: Path) -> None:
    env_before = dict(os.environ)
    threads_before = _live_threads()
    bad = _template(tmp_path, "Resources:\n  Thing:\n    Type: AWS::Made::Up\n")
    with pytest.raises(TemplateError, match=r"AWS::Made::Up"), Sandbox(bad):
        pass
    assert _settled_extra_threads(threads_before) == set()
    assert dict(os.environ) == env_before
    with Sandbox(_template(tmp_path)):  # nothing left locked
        pass


def test_one_sandbox_at_a_time(tmp_path: Path) -> None:
    with (
        Sandbox(_template(tmp_path)),
        pytest.raises(RuntimeError, match="another Sandbox"),
        Sandbox(_template(tmp_path)),
    ):
        pass


def test_busy_port_fails_fast(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match="cannot serve"), Sandbox(_template(tmp_path), port=port):
            pass


def test_reading_the_environment_never_races_with_the_router_swapping_variables() -> None:
    """Another thread adds and removes a function's variables (as the router does around each
    invocation) while this one walks os.environ as urllib's proxy lookup and botocore do."""
    import urllib.request

    from sluice_cli.sandbox.server import sandbox_environment

    stop = threading.Event()

    def swap() -> None:
        while not stop.is_set():
            os.environ["SLUICE_TEST_SWAPPED"] = "x"
            os.environ.pop("SLUICE_TEST_SWAPPED", None)

    with sandbox_environment("http://127.0.0.1:1", "us-east-1"):
        swapper = threading.Thread(target=swap, daemon=True)
        swapper.start()
        try:
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:
                urllib.request.getproxies_environment()  # os.environ.items(), twice
                os.environ.copy()
                list(os.environ.values())
        finally:
            stop.set()
            swapper.join()
    assert "SLUICE_TEST_SWAPPED" not in os.environ
