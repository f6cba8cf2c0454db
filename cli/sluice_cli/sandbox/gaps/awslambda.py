"""Lambda gaps: a function's handler run in-process where moto needs docker (docs/EMULATION.md, Lambda
and Step Functions)."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import zipfile
from collections.abc import Callable
from typing import Any

from sluice_cli.sandbox.gaps.base import Gap
from sluice_cli.sandbox.gaps.probes import plain_moto, plain_moto_executing, probe_role, wait_for_execution


class LambdaInvokeNeedsDocker(Gap):
    """Filled by `sluice_cli.sandbox.router.EventRouter`, which runs the handlers in-process."""

    name = "lambda-invoke-needs-docker"
    reason = "moto runs Lambda functions only in docker (none here); the router invokes handlers in-process"

    def _patch(self) -> None:
        """Nothing to patch: no Lambda function is created in moto, the router calls the handlers."""

    @classmethod
    def still_present(cls) -> bool:
        with plain_moto() as clients:
            role = clients("iam").create_role(RoleName="gap-probe", AssumeRolePolicyDocument="{}")["Role"][
                "Arn"
            ]
            archive = io.BytesIO()
            with zipfile.ZipFile(archive, "w") as zipped:
                zipped.writestr("probe.py", "def handler(event, context):\n    return 'ran'\n")
            lambda_ = clients("lambda")
            lambda_.create_function(
                FunctionName="gap-probe",
                Runtime="python3.11",
                Role=role,
                Handler="probe.handler",
                Code={"ZipFile": archive.getvalue()},
            )
            moto_logger = logging.getLogger("moto")
            level = moto_logger.level
            moto_logger.setLevel(logging.CRITICAL)  # moto logs the docker failure loudly
            try:
                response = lambda_.invoke(FunctionName="gap-probe", Payload=b"{}")
            finally:
                moto_logger.setLevel(level)
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
        moto_logger = logging.getLogger("moto")
        level = moto_logger.level
        moto_logger.setLevel(logging.CRITICAL)  # moto logs the docker failure loudly
        try:
            return cls._probe()
        finally:
            moto_logger.setLevel(level)

    @classmethod
    def _probe(cls) -> bool:
        with plain_moto_executing() as clients:
            role = probe_role(clients)
            archive = io.BytesIO()
            with zipfile.ZipFile(archive, "w") as zipped:
                zipped.writestr("probe.py", "def handler(event, context):\n    return {'ran': True}\n")
            function_arn = clients("lambda").create_function(
                FunctionName="gap-probe",
                Runtime="python3.11",
                Role=role,
                Handler="probe.handler",
                Code={"ZipFile": archive.getvalue()},
            )["FunctionArn"]
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
