"""Fault requests from another terminal (`sluice sandbox fault`) armed by the serving sandbox."""

from __future__ import annotations

from pathlib import Path

from sluice_cli.sandbox.fault_requests import FAULTS_DIRECTORY, arm_requests, request_clear, request_fault
from sluice_cli.sandbox.faults import FaultInjection


def test_a_request_is_armed_once_and_its_file_removed(tmp_path: Path) -> None:
    faults = FaultInjection()
    request_fault(tmp_path, "sagemaker", "UpdateEndpoint", "ThrottlingException", "Rate exceeded", times=3,
                  when={"EndpointName": "fraud"})  # fmt: skip

    said = arm_requests(faults, tmp_path)

    assert said == [
        "fault armed: the next 3 sagemaker UpdateEndpoint EndpointName=fraud answer "
        "ThrottlingException: Rate exceeded"
    ]
    assert [(f.operation, f.times, dict(f.when)) for f in faults._faults] == [
        ("UpdateEndpoint", 3, {"EndpointName": "fraud"})
    ]
    assert arm_requests(faults, tmp_path) == []  # not armed twice
    assert not list((tmp_path / FAULTS_DIRECTORY).iterdir())


def test_a_malformed_request_is_named_and_dropped_and_clear_forgets_every_fault(tmp_path: Path) -> None:
    faults = FaultInjection()
    request_fault(tmp_path, "sqs", "SendMessage", "InternalError", "boom")
    (tmp_path / FAULTS_DIRECTORY / "broken.json").write_text("{not json")
    assert arm_requests(faults, tmp_path)[-1].startswith("fault request broken.json ignored: JSONDecodeError")
    assert len(faults._faults) == 1

    request_clear(tmp_path)
    assert arm_requests(faults, tmp_path) == ["faults cleared"]
    assert faults._faults == []
