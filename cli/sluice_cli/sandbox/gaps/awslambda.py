"""Lambda gaps: a function's handler run in-process where moto needs docker (docs/EMULATION.md, Lambda
and Step Functions)."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

from sluice_cli.sandbox.gaps.base import Gap
from sluice_cli.sandbox.gaps.probes import plain_moto, plain_moto_executing, probe_role, wait_for_execution


@contextlib.contextmanager
def _quiet_moto() -> Iterator[None]:
    """moto's logger silenced for a probe: it logs the docker failure loudly."""
    moto_logger = logging.getLogger("moto")
    level = moto_logger.level
    moto_logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        moto_logger.setLevel(level)


def _probe_function(clients: Callable[[str], Any], role: str, handler_source: str) -> str:
    """A Python function `gap-probe` in plain moto's Lambda (`probe.handler` = `handler_source`): its ARN."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("probe.py", handler_source)
    created = clients("lambda").create_function(
        FunctionName="gap-probe",
        Runtime="python3.11",
        Role=role,
        Handler="probe.handler",
        Code={"ZipFile": archive.getvalue()},
    )
    return str(created["FunctionArn"])


class LambdaInvokeNeedsDocker(Gap):
    """Filled by `sluice_cli.sandbox.router.EventRouter`, which runs the handlers in-process."""

    name = "lambda-invoke-needs-docker"
    reason = "moto runs Lambda functions only in docker (none here); the router invokes handlers in-process"

    def _patch(self) -> None:
        """Nothing to patch: no Lambda function is created in moto, the router calls the handlers."""

    @classmethod
    def still_present(cls) -> bool:
        with plain_moto() as clients:
            _probe_function(clients, probe_role(clients), "def handler(event, context):\n    return 'ran'\n")
            with _quiet_moto():
                response = clients("lambda").invoke(FunctionName="gap-probe", Payload=b"{}")
            payload = response["Payload"].read()
            return bool(response.get("FunctionError")) and b"docker" in payload


# (function name, event) -> (result JSON, errored, logs): what moto's LambdaFunction._invoke_lambda returns.
LambdaInvoker = Callable[[str, Any], tuple[str, bool, str]]


class StepFunctionsLambdaTasks(Gap):
    """Runs a moto Lambda function's handler in-process when moto would start its docker container.

    Replaces `moto.awslambda.models.LambdaFunction._invoke_lambda(self, event) -> (result JSON,
    errored, logs)`, the one call behind lambda:Invoke and Step Functions `arn:aws:states:::lambda:invoke`
    tasks, with the bound invoker (`EventRouter.invoke_lambda`: the stack's function of that name, the
    real handler). provision.py creates every AWS::Serverless::Function in moto's Lambda so that names
    and ARNs resolve. A handler exception comes back as Lambda's error payload (`errorType`,
    `errorMessage`, ...) with `errored`: moto answers Invoke with X-Amz-Function-Error (rewritten here
    from moto's "Handled" to "Unhandled", as Lambda reports an exception), and the Step Functions
    interpreter fails the task with Error = the payload's errorType (e.g. "RuntimeError" or the
    handler's own exception class name) and Cause = the payload JSON, so a Retry/Catch on that name,
    on "States.TaskFailed" or on "States.ALL" applies, as on AWS (checked against moto 5.2.5).
    """

    name = "stepfunctions-lambda-tasks"
    reason = "moto runs a Lambda function (Invoke, Step Functions lambda:invoke tasks) only in docker"

    def __init__(self, invoker: LambdaInvoker | None = None) -> None:
        super().__init__()
        self.invoker = invoker

    def bind(self, invoker: LambdaInvoker | None) -> None:
        """Route invocations to `invoker` (None: every invocation fails with Sandbox.NoHandler)."""
        self.invoker = invoker

    def invoke(self, function_name: str, event: Any) -> tuple[str, bool, str]:
        if isinstance(event, bytes | str):
            with contextlib.suppress(ValueError):  # Lambda hands a non-JSON payload over as it is
                event = json.loads(event or "{}")
        elif event is None:
            event = {}
        invoker = self.invoker
        if invoker is None:
            error = {
                "errorMessage": f"sandbox: no in-process handler is bound for function {function_name}",
                "errorType": "Sandbox.NoHandler",
            }
            return json.dumps(error), True, ""
        return invoker(function_name, event)

    def _patch(self) -> None:
        from moto.awslambda.models import LambdaFunction

        gap = self

        def make_invoke_lambda(original: Callable[..., Any]) -> Callable[..., Any]:
            def _invoke_lambda(function: Any, event: Any = None) -> tuple[str, bool, str]:
                return gap.invoke(function.function_name, event)

            return _invoke_lambda

        def make_invoke(original: Callable[..., Any]) -> Callable[..., Any]:
            def invoke(function: Any, body: Any, request_headers: Any, response_headers: Any) -> Any:
                result = original(function, body, request_headers, response_headers)
                if response_headers.get("x-amz-function-error") == "Handled":
                    response_headers["x-amz-function-error"] = "Unhandled"
                return result

            return invoke

        self._apply(LambdaFunction, "_invoke_lambda", make_invoke_lambda)
        self._apply(LambdaFunction, "invoke", make_invoke)

    @classmethod
    def still_present(cls) -> bool:
        with _quiet_moto():
            return cls._probe()

    @classmethod
    def _probe(cls) -> bool:
        with plain_moto_executing() as clients:
            role = probe_role(clients)
            function_arn = _probe_function(
                clients, role, "def handler(event, context):\n    return {'ran': True}\n"
            )
            definition = {
                "StartAt": "Call",
                "States": {
                    "Call": {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::lambda:invoke",
                        "Parameters": {"FunctionName": function_arn, "Payload": {}},
                        "End": True,
                    }
                },
            }
            sfn = clients("stepfunctions")
            machine = sfn.create_state_machine(
                name="gap-probe", definition=json.dumps(definition), roleArn=role
            )["stateMachineArn"]
            execution = sfn.start_execution(stateMachineArn=machine, name="gap-probe")["executionArn"]
            return bool(wait_for_execution(sfn, execution)["status"] == "FAILED")


# (function name, event) -> accepted: an asynchronous invocation handed over; False leaves it to moto.
EventInvoker = Callable[[str, Any], bool]


class LambdaEventInvocations(Gap):
    """lambda:Invoke with InvocationType Event as Lambda runs it: answered at once (202), the function
    run later as an asynchronous invocation, with its retries and its OnFailure destination, by the
    bound invoker (`EventRouter.invoke_event`). moto runs it inside the Invoke request, once, and never
    sends a destination record. Installed after StepFunctionsLambdaTasks, whose `invoke` it wraps.
    """

    name = "lambda-event-invocations"
    reason = (
        "moto runs an InvocationType Event invoke inside the request, once: no retries, no OnFailure "
        "destination"
    )

    def __init__(self, invoker: EventInvoker | None = None) -> None:
        super().__init__()
        self.invoker = invoker

    def bind(self, invoker: EventInvoker | None) -> None:
        """Hand Event invocations to `invoker` (None: moto's own behaviour)."""
        self.invoker = invoker

    def _patch(self) -> None:
        from moto.awslambda.models import LambdaFunction

        gap = self

        def make_invoke(original: Callable[..., Any]) -> Callable[..., Any]:
            def invoke(function: Any, body: Any, request_headers: Any, response_headers: Any) -> Any:
                invoker = gap.invoker
                if invoker is not None and request_headers.get("x-amz-invocation-type") == "Event":
                    event: Any = {}
                    if body:
                        with contextlib.suppress(ValueError):  # a non-JSON payload is handed over as it is
                            event = json.loads(body)
                    if invoker(function.function_name, event):
                        return ""  # moto answers 202 with an empty body, as Lambda does
                return original(function, body, request_headers, response_headers)

            return invoke

        self._apply(LambdaFunction, "invoke", make_invoke)

    @classmethod
    def still_present(cls) -> bool:
        """A failing function (no docker) invoked with InvocationType Event sends nothing to its
        OnFailure destination."""
        with _quiet_moto(), plain_moto() as clients:
            _probe_function(
                clients, probe_role(clients), "def handler(event, context):\n    raise RuntimeError\n"
            )
            lambda_, sqs = clients("lambda"), clients("sqs")
            url = sqs.create_queue(QueueName="gap-probe-failures")["QueueUrl"]
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
            arn = attributes["QueueArn"]
            lambda_.put_function_event_invoke_config(
                FunctionName="gap-probe",
                MaximumRetryAttempts=0,
                DestinationConfig={"OnFailure": {"Destination": arn}},
            )
            answer = lambda_.invoke(FunctionName="gap-probe", InvocationType="Event", Payload=b"{}")
            failures = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", [])
            return answer["StatusCode"] == 202 and not failures
