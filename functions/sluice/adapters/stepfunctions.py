"""AWS Step Functions: start rollout executions and answer the tokens their waits hold."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from sluice.adapters.clients import client, error_code

# A token already answered, timed out, or of a finished execution: the wait it stood for is over.
_STALE_TOKEN = {"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"}


class StepFunctionsGateway:
    def __init__(self, sfn_client: Any | None = None) -> None:
        self._client = sfn_client

    @property
    def sfn(self) -> Any:
        return self._client or client("stepfunctions")

    def start(self, state_machine_arn: str, name: str, payload: dict[str, Any]) -> str:
        """Start an execution; an execution of that name that already exists is returned, not doubled."""
        try:
            response = self.sfn.start_execution(
                stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload, default=str)
            )
        except ClientError as exc:
            if error_code(exc) == "ExecutionAlreadyExists":
                return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
            raise
        return str(response["executionArn"])

    def is_running(self, execution_arn: str) -> bool:
        try:
            return bool(self.sfn.describe_execution(executionArn=execution_arn)["status"] == "RUNNING")
        except ClientError as exc:
            if error_code(exc) in {"ExecutionDoesNotExist", "InvalidArn"}:
                return False
            raise

    def succeed(self, token: str, output: dict[str, Any]) -> bool:
        """Answer a wait with success. False when the token is stale (the wait already ended)."""
        try:
            self.sfn.send_task_success(taskToken=token, output=json.dumps(output))
        except ClientError as exc:
            if error_code(exc) in _STALE_TOKEN:
                return False
            raise
        return True

    def fail(self, token: str, error: str, cause: str) -> bool:
        """Answer a wait with failure (the rollout rolls back). False when the token is stale."""
        try:
            self.sfn.send_task_failure(taskToken=token, error=error, cause=cause[:32768])
        except ClientError as exc:
            if error_code(exc) in _STALE_TOKEN:
                return False
            raise
        return True
