"""IAM enforced in the sandbox, as AWS enforces it for Sluice's functions and state machine.

`iam_enforced(admin_access_key)` turns on moto's authorization for every request
(`settings.INITIAL_NO_AUTH_ACTION_COUNT = 0`) while the sandbox runs. The sandbox's dummy credentials
(server.DUMMY_CREDENTIALS, key "testing") play the account's administrator: the user, the demo, the
tests, the router and the provisioner act with them, and a request signed with them is allowed
everything (an `AdministratorAccess`-like policy, `Action: *` on `Resource: *`). Everything Sluice's
code does runs under its own role instead: each handler with an `sts:AssumeRole` session of its
function's role (`RoleSessions`, set by the router in the handler's environment, as Lambda sets
AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN), each Step Functions service
integration with the state machine's role (gaps.iam.StepFunctionsTaskCredentials). An AccessDenied
then names the role's session and the action: `User: arn:aws:sts::<account>:assumed-role/<role>/<session>
is not authorized to perform: <service>:<action>`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

ADMINISTRATOR_POLICY = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)


class SandboxAdministrator:
    """moto's view of a request signed with the sandbox's dummy key: an administrator."""

    def __init__(self, account_id: str, partition: str, access_key_id: str, headers: Any) -> None:
        from botocore.credentials import Credentials

        self.arn = f"arn:{partition}:iam::{account_id}:user/sandbox-administrator"
        token = headers.get("X-Amz-Security-Token")
        self._credentials = Credentials(access_key_id, access_key_id, token)

    def create_credentials(self) -> Any:
        return self._credentials  # the dummy secret equals the key ("testing"/"testing")

    def collect_policies(self) -> list[str]:
        return [ADMINISTRATOR_POLICY]


@contextmanager
def iam_enforced(admin_access_key: str) -> Iterator[None]:
    """moto authorizes every request from now on; `admin_access_key` is the administrator's."""
    import moto.iam.access_control as access_control
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    original = access_control.create_access_key

    def create_access_key(account_id: str, partition: str, access_key_id: str, headers: Any) -> Any:
        if access_key_id == admin_access_key:
            return SandboxAdministrator(account_id, partition, access_key_id, headers)
        return original(account_id, partition, access_key_id, headers)

    saved = (settings.INITIAL_NO_AUTH_ACTION_COUNT, ActionAuthenticatorMixin.request_count)
    access_control.create_access_key = create_access_key
    # moto recomputes SigV4 over the body as it received it, which fails for a compressed request
    # (botocore gzips PutMetricData): SignatureDoesNotMatch. The SDK signs correctly; the sandbox
    # authenticates by access key and session token (checked by create_access_key) and judges policies.
    check_signature = access_control.IAMRequestBase.check_signature
    access_control.IAMRequestBase.check_signature = lambda request: None  # type: ignore[method-assign,assignment]
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    ActionAuthenticatorMixin.request_count = 0
    try:
        yield
    finally:
        access_control.create_access_key = original
        access_control.IAMRequestBase.check_signature = check_signature  # type: ignore[method-assign]
        settings.INITIAL_NO_AUTH_ACTION_COUNT, ActionAuthenticatorMixin.request_count = saved


class RoleSessions:
    """Sessions of the stack's roles, one per role, as the Lambda and Step Functions services make them:
    an `AssumeRole` by the service principal its trust policy names, so made in moto's STS backend
    (an administrator's AssumeRole request would be judged against the trust policy, which names
    `lambda.amazonaws.com` / `states.amazonaws.com`, not the administrator)."""

    def __init__(self, account_id: str, region: str) -> None:
        self.account_id = account_id
        self.region = region
        self._sessions: dict[str, tuple[str, str, str]] = {}
        self._lock = threading.Lock()

    def credentials(self, role_arn: str) -> tuple[str, str, str]:
        from moto.sts.models import sts_backends

        with self._lock:
            if role_arn not in self._sessions:
                role_name = role_arn.rpartition("/")[2]
                assumed = sts_backends[self.account_id]["aws"].assume_role(
                    region_name=self.region,
                    role_session_name=role_name[:64],
                    role_arn=role_arn,
                    policy="",
                    duration=43200,
                    external_id="",
                )
                self._sessions[role_arn] = (
                    assumed.access_key_id,
                    assumed.secret_access_key,
                    assumed.session_token,
                )
            return self._sessions[role_arn]

    def environment(self, role_arn: str) -> dict[str, str]:
        """Lambda's credential variables for a function running as `role_arn`."""
        key, secret, token = self.credentials(role_arn)
        return {
            "AWS_ACCESS_KEY_ID": key,
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_SESSION_TOKEN": token,
            "AWS_SECURITY_TOKEN": token,
        }


def client_as(like: Any, service: str, credentials: tuple[str, str, str]) -> Any:
    """A boto3 client of `service` for a role session's (key, secret, token), aimed where `like` is
    (its region, endpoint and config): what a Lambda function or a state machine calls AWS with."""
    import boto3

    key, secret, token = credentials
    return boto3.client(
        service,
        region_name=like.meta.region_name,
        endpoint_url=like.meta.endpoint_url,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=like.meta.config,
    )
