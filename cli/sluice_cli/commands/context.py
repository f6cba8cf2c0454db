"""What every command shares: the global options, the AWS session built from them, the registry table,
and the errors that end a command with a message and an exit code.

Nothing here reads `sluice.adapters.clients.client()` (it takes its configuration from the Lambda's
environment): the CLI builds one boto3 session from its own options and passes clients explicitly.
"""

from __future__ import annotations

import functools
import os
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NoReturn, ParamSpec, TypeVar

import typer

from sluice.adapters.clients import error_code, error_message
from sluice.adapters.rollouts import RolloutStore
from sluice_cli.registry_view import RegistryView
from sluice_cli.sandbox.server import DUMMY_CREDENTIALS, LOCAL_HOSTS

DEFAULT_REGION = "us-east-1"
DEFAULT_STACK = "sluice"
TABLE_ENV = "SLUICE_REGISTRY_TABLE"
ENDPOINT_ENV = "SLUICE_ENDPOINT_URL"
TOPIC_ENV = "SLUICE_TOPIC_ARN"
REGISTRY_TABLE_OUTPUT = "RegistryTableName"  # template.yaml Outputs
TOPIC_OUTPUT = "NotificationTopicArn"

EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_CONFIG = 2

# Providers that only make sense on AWS compute; never consulted for a local emulator (they would wait
# on a metadata endpoint that is not there).
_REMOTE_ONLY_CREDENTIAL_PROVIDERS = ("container-role", "iam-role")


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


class CliError(Exception):
    """Ends the command: `message` on stderr, `exit_code` returned."""

    exit_code = EXIT_CONFIG

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(CliError):
    exit_code = EXIT_NOT_FOUND


class ConfigError(CliError):
    exit_code = EXIT_CONFIG


def is_local_endpoint(endpoint_url: str | None) -> bool:
    if not endpoint_url:
        return False
    return (urllib.parse.urlsplit(endpoint_url).hostname or "") in LOCAL_HOSTS


@dataclass
class CliContext:
    """The global options, and the session, clients and registry table resolved from them on first use
    (so `--help` and `--version` never touch AWS)."""

    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    stack: str = DEFAULT_STACK
    table: str | None = None
    output: OutputFormat = OutputFormat.TABLE
    _session: Any = field(default=None, repr=False)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)
    _table: str | None = field(default=None, repr=False)
    _stack_outputs: dict[str, str | None] | None = field(default=None, repr=False)

    @property
    def json(self) -> bool:
        return self.output is OutputFormat.JSON

    @property
    def effective_endpoint_url(self) -> str | None:
        """--endpoint-url, else AWS_ENDPOINT_URL (which boto3 honours on its own anyway)."""
        return self.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None

    # -- AWS ---------------------------------------------------------------------------------------
    @property
    def session(self) -> Any:
        if self._session is None:
            self._session = build_session(self.profile, self.region, self.effective_endpoint_url)
        return self._session

    @property
    def region_name(self) -> str:
        return str(self.session.region_name)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            from botocore.config import Config

            kwargs: dict[str, Any] = {"config": Config(retries={"mode": "standard", "max_attempts": 5})}
            if self.endpoint_url:
                kwargs["endpoint_url"] = self.endpoint_url
            self._clients[service] = self.session.client(service, **kwargs)
        return self._clients[service]

    # -- the registry ------------------------------------------------------------------------------
    def registry_table(self) -> str:
        """--table, else $SLUICE_REGISTRY_TABLE (both arrive as `table`), else the stack's output."""
        if self._table is None:
            self._table = self.table or self._table_from_stack()
        return self._table

    def registry(self) -> RegistryView:
        return RegistryView(self.client("dynamodb"), self.registry_table())

    def rollout_store(self) -> RolloutStore:
        """The Lambdas' own rollout adapter, on the CLI's DynamoDB client (same keys, same reads)."""
        return RolloutStore(self.registry_table(), self.client("dynamodb"))

    def stack_output(self, key: str) -> str | None:
        """An output of --stack, or None when the stack cannot be read or lacks it (best effort: for
        optional settings such as the notification topic, never for the table)."""
        if self._stack_outputs is None:
            from botocore.exceptions import BotoCoreError, ClientError

            try:
                stacks = self.client("cloudformation").describe_stacks(StackName=self.stack)["Stacks"]
                outputs = (stacks[0].get("Outputs") or []) if stacks else []
            except (ClientError, BotoCoreError):
                outputs = []
            self._stack_outputs = {o["OutputKey"]: o.get("OutputValue") for o in outputs}
        return self._stack_outputs.get(key) or None

    def _table_from_stack(self) -> str:
        from botocore.exceptions import ClientError

        how = (
            f"pass --table NAME, set {TABLE_ENV}, or pass --stack with the name of the deployed "
            f"Sluice stack (its output {REGISTRY_TABLE_OUTPUT} names the table)"
        )
        try:
            stacks = self.client("cloudformation").describe_stacks(StackName=self.stack)["Stacks"]
        except ClientError as exc:
            raise ConfigError(
                f"no registry table given and the stack {self.stack!r} could not be read in "
                f"{self.region_name} ({error_message(exc)}): {how}"
            ) from exc
        outputs = {o["OutputKey"]: o.get("OutputValue") for o in (stacks[0].get("Outputs") or [])}
        table = outputs.get(REGISTRY_TABLE_OUTPUT)
        if not table:
            raise ConfigError(
                f"no registry table given and the stack {self.stack!r} has no output "
                f"{REGISTRY_TABLE_OUTPUT}: {how}"
            )
        return str(table)

    def describe_target(self) -> str:
        """Where the command looked, for messages (never credentials)."""
        where = f"table {self.registry_table()} in {self.region_name}"
        if self.effective_endpoint_url:
            where += f" at {self.effective_endpoint_url}"
        return where


def build_session(profile: str | None, region: str | None, endpoint_url: str | None) -> Any:
    """A boto3 session for the options. Against a local endpoint with no credentials configured,
    dummy ones (the emulator accepts any), so the sandbox works on a machine without an AWS setup."""
    import boto3
    import botocore.session
    from botocore.exceptions import ProfileNotFound

    core = botocore.session.Session(profile=profile)
    try:
        if is_local_endpoint(endpoint_url):
            resolver = core.get_component("credential_provider")
            for method in _REMOTE_ONLY_CREDENTIAL_PROVIDERS:
                resolver.remove(method)
            if core.get_credentials() is None:
                core.set_credentials(
                    DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"], DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]
                )
        region = region or core.get_config_variable("region") or DEFAULT_REGION
    except ProfileNotFound as exc:
        raise ConfigError(f"{exc}; check --profile / AWS_PROFILE") from exc
    return boto3.session.Session(botocore_session=core, region_name=region)


P = ParamSpec("P")
R = TypeVar("R")


def handle_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn what can go wrong talking to AWS into a message on stderr and the documented exit code."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
        ProfileNotFound,
    )

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except CliError as exc:
            fail(exc.message, exc.exit_code)
        except (NoCredentialsError, PartialCredentialsError) as exc:
            fail(
                f"{exc}: configure AWS credentials (environment, ~/.aws, SSO) or pass --profile; "
                "for the local sandbox pass --endpoint-url http://127.0.0.1:<port>",
                EXIT_CONFIG,
            )
        except (ProfileNotFound, NoRegionError) as exc:
            fail(f"{exc}; check --profile and --region", EXIT_CONFIG)
        except EndpointConnectionError as exc:
            fail(f"{exc}; check --endpoint-url / {ENDPOINT_ENV} (is the sandbox running?)", EXIT_CONFIG)
        except ClientError as exc:
            code = error_code(exc)
            if code == "ResourceNotFoundException":
                fail(
                    f"{error_message(exc)}: the registry table was not found; check --table / {TABLE_ENV}, "
                    "--stack, --region and --endpoint-url",
                    EXIT_CONFIG,
                )
            fail(f"AWS refused the request: {code}: {error_message(exc)}", EXIT_CONFIG)
        except BotoCoreError as exc:
            fail(f"AWS SDK error: {exc}", EXIT_CONFIG)

    return run


def fail(message: str, exit_code: int) -> NoReturn:
    from rich.markup import escape

    from sluice_cli.commands.output import error_console

    error_console().print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(exit_code)
