"""Faults on demand: make the next N calls of an AWS operation fail with a given AWS error.

AWS fails in ways moto never does (throttling, "Cannot update in-progress endpoint" for minutes, an
InternalFailure, ResourceLimitExceeded). A test or a sandbox user arms a fault, and the next matching
requests to the sandbox answer that error, serialized as the service would (botocore raises the same
ClientError it raises on AWS, with its retries as on AWS):

    sandbox.faults.fail("sagemaker", "UpdateEndpointWeightsAndCapacities", "ThrottlingException",
                        "Rate exceeded", times=3, when={"EndpointName": "fraud"})

Every request reaches it: the user's, the Lambda handlers', and the state machine's aws-sdk tasks.
Covers the services whose requests moto dispatches through `BaseResponse.call_action` (SageMaker,
CloudWatch, SNS, SQS, DynamoDB, Step Functions, EventBridge, Application Auto Scaling, STS, IAM), not
S3 (moto's S3 responses dispatch on their own).
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sluice_cli.sandbox.gaps.base import Gap


@dataclass
class Fault:
    service: str  # the endpoint prefix botocore uses: "sagemaker", "cloudwatch", "dynamodb", ...
    operation: str  # the API name: "UpdateEndpointWeightsAndCapacities"
    code: str
    message: str
    times: int
    when: Mapping[str, str] = field(default_factory=dict)  # request parameters that must match
    failed: int = 0  # how many requests it answered so far

    def matches(self, operation: str, parameter: Callable[[str], Any]) -> bool:
        """This request (of this fault's service) is one to fail: its operation and `when` parameters."""
        return (
            self.failed < self.times
            and operation == self.operation
            and all(str(parameter(name)) == value for name, value in self.when.items())
        )


class FaultInjection(Gap):
    """The sandbox's faults (not a moto gap: moto has no way to fail a call on demand). Installed for the
    sandbox's life; faults are armed with `fail()` and forgotten with `clear()`."""

    name = "sandbox-faults-on-demand"
    reason = "moto answers every valid request successfully: AWS's transient and capacity errors never happen"

    def __init__(self) -> None:
        super().__init__()
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def fail(
        self,
        service: str,
        operation: str,
        code: str,
        message: str,
        *,
        times: int = 1,
        when: Mapping[str, str] | None = None,
    ) -> Fault:
        """The next `times` requests of `service` `operation` (with parameters `when`) answer `code`."""
        fault = Fault(service, operation, code, message, times, dict(when or {}))
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def _answer(self, response: Any) -> Fault | None:
        """The armed fault this request answers, if any (only requests of an armed service are parsed)."""
        with self._lock:
            armed = [f for f in self._faults if f.service == response.service_name and f.failed < f.times]
            if not armed:
                return None
            operation = str(response._get_action())
            for fault in armed:
                if fault.matches(operation, response._get_param):
                    fault.failed += 1
                    return fault
        return None

    def _patch(self) -> None:
        from moto.core.exceptions import ServiceException
        from moto.core.responses import ActionResult, BaseResponse

        class ArmedFault(ServiceException):
            """Serialized with the service's own error model (moto looks it up by module: this one is
            not moto's, so the requested service's model is used)."""

        answer = self._answer

        def make(original: Callable[..., Any]) -> Callable[..., Any]:
            def call_action(response: Any) -> Any:
                fault = answer(response)
                if fault is None:
                    return original(response)
                with warnings.catch_warnings():  # a code outside the service's model (Throttling) is fine
                    warnings.filterwarnings("ignore", message=".*does not match an error shape")
                    status, headers, body = response.serialized(
                        ActionResult(ArmedFault(fault.code, fault.message))
                    )
                return status, headers, body

            return call_action

        self._apply(BaseResponse, "call_action", make)

    @classmethod
    def still_present(cls) -> bool:
        return True  # a sandbox feature, not a moto gap: nothing to remove when moto changes
