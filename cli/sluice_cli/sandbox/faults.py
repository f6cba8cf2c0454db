"""Faults on demand: make the next N calls of an AWS operation fail with a given AWS error, or make the
Lambda invocation that made a call die right after it.

AWS fails in ways moto never does (throttling, "Cannot update in-progress endpoint" for minutes, an
InternalFailure, ResourceLimitExceeded, an S3 copy failing half-way). A test or a sandbox user arms a
fault, and the next matching requests to the sandbox answer that error, serialized as the service would
(botocore raises the same ClientError it raises on AWS, with its retries as on AWS):

    sandbox.faults.fail("sagemaker", "UpdateEndpointWeightsAndCapacities", "ThrottlingException",
                        "Rate exceeded", times=3, when={"EndpointName": "fraud"})
    sandbox.faults.fail("s3", "UploadPartCopy", "InternalError",
                        "We encountered an internal error. Please try again.", status=200,
                        times=5, when={"PartNumber": "2"})

Every request reaches it: the user's, the Lambda handlers', and the state machine's aws-sdk tasks.
Requests of the services moto dispatches through `BaseResponse.call_action` (SageMaker, CloudWatch,
SNS, SQS, DynamoDB, Step Functions, EventBridge, Application Auto Scaling, STS, IAM) are failed there.
S3 dispatches on its own (`S3Response.key_response` / `bucket_response`), and every S3 operation passes
through `_authenticate_and_authorize_s3_action` once its IAM action is known and before it acts: the
S3 fault is raised there, named by its API operation (`s3_operation`: CopyObject, UploadPartCopy,
CompleteMultipartUpload...; `when` matches Bucket, Key, PartNumber, UploadId, VersionId) and answered
with S3's status for the code (InternalError 500, SlowDown and ServiceUnavailable 503, else 400;
`status=` overrides). `status=200` answers as S3 does when a copy fails after it started: "200 OK" with
the error in the body (S3 API reference, CopyObject / UploadPartCopy), which botocore turns into a 500
and retries. `tests/sandbox/test_fault_injection.py` proves the hook still catches each operation Sluice
uses, so a moto release that moves it fails there, not silently.

`crash_after(service, operation, when=...)`: once such a call has been answered successfully, the
invocation that made it dies before its next AWS call; `crash_before`: it dies instead of sending the
call. Either is a crash between two side effects (the S3 copy and the registry write, CreateTransformJob
and the job record, the endpoint's lease and StartExecution). The invocation fails with
`InvocationCrashed`, as an unhandled error does: Lambda retries an asynchronous invocation (twice by
default; the sandbox's router at once), and Powertools idempotency clears the upload's record as for any
exception. A call made on another thread (s3transfer's copy threads) arms the crash for the handler
thread's next call. Only a thread running a handler ever crashes; the user's own calls (matching or
not) only arm `crash_after` for the next handler call, so give `when` to pick the call (a dotted path
reaches inside a parameter: `{"Item.pk.S": "lease#fraud"}`).
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import parse_qs, urlparse

from sluice_cli.sandbox.gaps.base import Gap
from sluice_cli.sandbox.lambda_runtime import running_a_handler

# S3's HTTP status for the error codes a fault drill uses (S3 API reference, "Error responses").
S3_ERROR_STATUS = {
    "InternalError": 500,
    "SlowDown": 503,
    "ServiceUnavailable": 503,
    "RequestTimeout": 400,
    "AccessDenied": 403,
    "NoSuchKey": 404,
    "NoSuchUpload": 404,
}

# `when` parameters of an S3 fault read from the query string (botocore's name: S3's).
S3_QUERY_PARAMETERS = {"PartNumber": "partNumber", "UploadId": "uploadId", "VersionId": "versionId"}


@dataclass
class Fault:
    service: str  # the endpoint prefix botocore uses: "sagemaker", "cloudwatch", "dynamodb", "s3", ...
    operation: str  # the API name: "UpdateEndpointWeightsAndCapacities", "UploadPartCopy"
    code: str
    message: str
    times: int
    when: Mapping[str, str] = field(default_factory=dict)  # request parameters that must match
    failed: int = 0  # how many requests it answered so far
    status: int | None = None  # the HTTP status; None: the service's own for the code

    def matches(self, operation: str, parameter: Callable[[str], Any]) -> bool:
        """This request (of this fault's service) is one to fail: its operation and `when` parameters."""
        return (
            self.failed < self.times
            and operation == self.operation
            and all(str(parameter(name)) == value for name, value in self.when.items())
        )


@dataclass
class Crash:
    """The invocation that makes the matching call dies right after it, or right before it is sent
    (`before`; see the module's docstring)."""

    service: str  # botocore's service name or endpoint prefix: "s3", "sagemaker", "dynamodb"
    operation: str
    times: int
    when: Mapping[str, str] = field(default_factory=dict)
    crashed: int = 0
    before: bool = False

    def matches(self, service: str, operation: str, params: Mapping[str, Any]) -> bool:
        return (
            self.crashed < self.times
            and service == self.service
            and operation == self.operation
            and all(str(_nested(params, name)) == value for name, value in self.when.items())
        )


def _nested(params: Mapping[str, Any], path: str) -> Any:
    """A request parameter by its dotted path: "Key", or "Item.pk.S" inside a DynamoDB item."""
    value: Any = params
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


class InvocationCrashed(Exception):
    """A sandbox fault drill: the invocation died here (`FaultInjection.crash_after`)."""


def s3_operation(method: str, query: Mapping[str, Any], headers: Mapping[str, Any], *, on_key: bool) -> str:
    """The S3 API operation of a request, as botocore names it (moto knows only its IAM action)."""
    copying = bool(headers.get("x-amz-copy-source"))
    if on_key:
        by_method: dict[str, list[tuple[bool, str]]] = {
            "PUT": [
                (copying and "partNumber" in query, "UploadPartCopy"),
                ("partNumber" in query, "UploadPart"),
                ("tagging" in query, "PutObjectTagging"),
                ("acl" in query, "PutObjectAcl"),
                (copying, "CopyObject"),
            ],
            "POST": [
                ("uploads" in query, "CreateMultipartUpload"),
                ("uploadId" in query, "CompleteMultipartUpload"),
            ],
            "GET": [
                ("uploadId" in query, "ListParts"),
                ("tagging" in query, "GetObjectTagging"),
                ("acl" in query, "GetObjectAcl"),
                ("attributes" in query, "GetObjectAttributes"),
            ],
            "DELETE": [
                ("uploadId" in query, "AbortMultipartUpload"),
                ("tagging" in query, "DeleteObjectTagging"),
            ],
        }
        default = {"PUT": "PutObject", "GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}
    else:
        by_method = {
            "GET": [
                ("list-type" in query, "ListObjectsV2"),
                ("versions" in query, "ListObjectVersions"),
                ("uploads" in query, "ListMultipartUploads"),
                ("tagging" in query, "GetBucketTagging"),
                ("versioning" in query, "GetBucketVersioning"),
            ],
            "POST": [("delete" in query, "DeleteObjects")],
        }
        default = {
            "GET": "ListObjects",
            "HEAD": "HeadBucket",
            "PUT": "CreateBucket",
            "DELETE": "DeleteBucket",
        }
    for applies, name in by_method.get(method, []):
        if applies:
            return name
    return default.get(method, method)


class FaultInjection(Gap):
    """The sandbox's faults (not a moto gap: moto has no way to fail a call on demand). Installed for the
    sandbox's life; faults are armed with `fail()` / `crash_after()` and forgotten with `clear()`."""

    name = "sandbox-faults-on-demand"
    reason = "moto answers every valid request successfully: AWS's transient and capacity errors never happen"

    def __init__(self) -> None:
        super().__init__()
        self._faults: list[Fault] = []
        self._crashes: list[Crash] = []
        self._crash_pending: Crash | None = None  # answered on another thread: the handler's next call
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
        status: int | None = None,
    ) -> Fault:
        """The next `times` requests of `service` `operation` (with parameters `when`) answer `code`."""
        fault = Fault(service, operation, code, message, times, dict(when or {}), status=status)
        with self._lock:
            self._faults.append(fault)
        return fault

    def crash_after(
        self, service: str, operation: str, *, times: int = 1, when: Mapping[str, str] | None = None
    ) -> Crash:
        """The next `times` invocations whose `service` `operation` call (parameters `when`) succeeds die
        before their next AWS call, with InvocationCrashed."""
        return self._arm_crash(Crash(service, operation, times, dict(when or {})))

    def crash_before(
        self, service: str, operation: str, *, times: int = 1, when: Mapping[str, str] | None = None
    ) -> Crash:
        """The next `times` invocations about to make a `service` `operation` call (parameters `when`) die
        instead of sending it, with InvocationCrashed: whatever they did before it stays done."""
        return self._arm_crash(Crash(service, operation, times, dict(when or {}), before=True))

    def _arm_crash(self, crash: Crash) -> Crash:
        with self._lock:
            self._crashes.append(crash)
        return crash

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self._crashes.clear()
            self._crash_pending = None

    def _answer(
        self, service: str, operation: Callable[[], str], parameter: Callable[[str], Any]
    ) -> Fault | None:
        """The armed fault this request answers, if any (only requests of an armed service are parsed)."""
        with self._lock:
            armed = [f for f in self._faults if f.service == service and f.failed < f.times]
            if not armed:
                return None
            name = operation()
            for fault in armed:
                if fault.matches(name, parameter):
                    fault.failed += 1
                    return fault
        return None

    def _patch(self) -> None:
        self._patch_call_action()
        self._patch_s3()
        self._patch_clients()

    def _patch_call_action(self) -> None:
        from moto.core.exceptions import ServiceException
        from moto.core.responses import ActionResult, BaseResponse

        class ArmedFault(ServiceException):
            """Serialized with the service's own error model (moto looks it up by module: this one is
            not moto's, so the requested service's model is used)."""

        answer = self._answer

        def make(original: Callable[..., Any]) -> Callable[..., Any]:
            def call_action(response: Any) -> Any:
                fault = answer(
                    response.service_name, lambda: str(response._get_action()), response._get_param
                )
                if fault is None:
                    return original(response)
                with warnings.catch_warnings():  # a code outside the service's model (Throttling) is fine
                    warnings.filterwarnings("ignore", message=".*does not match an error shape")
                    status, headers, body = response.serialized(
                        ActionResult(ArmedFault(fault.code, fault.message))
                    )
                return fault.status or status, headers, body

            return call_action

        self._apply(BaseResponse, "call_action", make)

    def _patch_s3(self) -> None:
        """S3's operations pass `_authenticate_and_authorize_s3_action` before they act: an armed fault is
        raised there as an S3 error, which `key_response` / `bucket_response` serialize; its status is set
        on the way out."""
        from moto.core.authorization import ActionAuthenticatorMixin
        from moto.s3.exceptions import S3ClientError
        from moto.s3.responses import S3Response

        answer = self._answer

        class ArmedS3Fault(S3ClientError):
            pass

        def request_query(response: Any) -> dict[str, list[str]]:
            return parse_qs(urlparse(str(response.uri)).query, keep_blank_values=True)

        def parameter(response: Any, key_name: str | None) -> Callable[[str], Any]:
            query = request_query(response)
            values: dict[str, str | None] = {
                "Bucket": getattr(response, "bucket_name", None),
                "Key": key_name,
                **{name: query.get(field, [None])[0] for name, field in S3_QUERY_PARAMETERS.items()},
            }
            return values.get

        def make_check(original: Callable[..., None]) -> Callable[..., None]:
            def authorize(response: Any, bucket_name: str | None = None, key_name: str | None = None) -> None:
                if isinstance(response, S3Response):
                    response = cast(Any, response)
                    fault = answer(
                        "s3",
                        lambda: s3_operation(
                            response.method,
                            request_query(response),
                            response.headers,
                            on_key=key_name is not None,
                        ),
                        parameter(response, key_name),
                    )
                    if fault is not None:
                        response.sandbox_fault_status = fault.status or S3_ERROR_STATUS.get(fault.code, 400)
                        raise ArmedS3Fault(fault.code, fault.message)
                original(response, bucket_name=bucket_name, key_name=key_name)

            return authorize

        def make_response(original: Callable[..., Any]) -> Callable[..., Any]:
            def respond(response: Any, *args: Any, **kwargs: Any) -> Any:
                answered = original(response, *args, **kwargs)
                status = getattr(response, "sandbox_fault_status", None)
                if status is None:
                    return answered
                _, headers, body = answered
                return status, headers, body

            return respond

        self._apply(ActionAuthenticatorMixin, "_authenticate_and_authorize_s3_action", make_check)
        self._apply(S3Response, "key_response", make_response)
        self._apply(S3Response, "bucket_response", make_response)

    def _patch_clients(self) -> None:
        """Crashes: every botocore call of this process (the handlers' clients are botocore's)."""
        from botocore.client import BaseClient

        def make(original: Callable[..., Any]) -> Callable[..., Any]:
            def make_api_call(client: Any, operation_name: str, api_params: Mapping[str, Any]) -> Any:
                if self._crashes:
                    self._crash_if_pending(client, operation_name, api_params)
                result = original(client, operation_name, api_params)
                if self._crashes:
                    self._after_call(client, operation_name, api_params)
                return result

            return make_api_call

        self._apply(BaseClient, "_make_api_call", make)

    def _crash_if_pending(self, client: Any, operation: str, params: Mapping[str, Any]) -> None:
        """A handler's call: it dies here when a crash is pending, or armed to come before this call."""
        if not running_a_handler():
            return
        with self._lock:
            crash, self._crash_pending = self._crash_pending, None
            if crash is None:
                crash = self._matching(client, operation, params, before=True)
                if crash is None:
                    return
                crash.crashed += 1
        raise InvocationCrashed(_crash_message(crash))

    def _matching(
        self, client: Any, operation: str, params: Mapping[str, Any], *, before: bool
    ) -> Crash | None:
        model = client.meta.service_model
        return next(
            (
                c
                for c in self._crashes
                for service in (model.service_name, model.endpoint_prefix)
                if c.before == before and c.matches(service, operation, params)
            ),
            None,
        )

    def _after_call(self, client: Any, operation: str, params: Mapping[str, Any]) -> None:
        with self._lock:
            crash = self._matching(client, operation, params, before=False)
            if crash is None:
                return
            crash.crashed += 1
            if not running_a_handler():  # a transfer thread: the handler's thread dies at its next call
                self._crash_pending = crash
                return
        raise InvocationCrashed(_crash_message(crash))

    @classmethod
    def still_present(cls) -> bool:
        return True  # a sandbox feature, not a moto gap: nothing to remove when moto changes


def _crash_message(crash: Crash) -> str:
    when = "before sending" if crash.before else "after"
    outcome = "" if crash.before else " succeeded"
    return f"sandbox fault drill: the invocation crashed {when} {crash.service} {crash.operation}{outcome}"
