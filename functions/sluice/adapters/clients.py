"""boto3 clients, created lazily and shared per process.

Lazily, so that an endpoint set by the sandbox (`AWS_ENDPOINT_URL`) before the first call is honoured;
keyed on that endpoint so a new sandbox in the same process gets fresh clients, and on the access key
(in Lambda, one per execution environment) because the sandbox runs every function in one process, each
with its own role's credentials.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, user_agent_extra="sluice")


def client(service: str) -> Any:
    return _client(
        service,
        os.environ.get("AWS_ENDPOINT_URL"),
        os.environ.get("AWS_DEFAULT_REGION"),
        os.environ.get("AWS_ACCESS_KEY_ID"),
    )


@lru_cache(maxsize=128)
def _client(service: str, endpoint_url: str | None, region: str | None, access_key_id: str | None) -> Any:
    return boto3.session.Session().client(service, config=_CONFIG)


def resource(service: str) -> Any:
    return _resource(
        service,
        os.environ.get("AWS_ENDPOINT_URL"),
        os.environ.get("AWS_DEFAULT_REGION"),
        os.environ.get("AWS_ACCESS_KEY_ID"),
    )


@lru_cache(maxsize=32)
def _resource(service: str, endpoint_url: str | None, region: str | None, access_key_id: str | None) -> Any:
    return boto3.session.Session().resource(service, config=_CONFIG)


def reset() -> None:
    """Forget every client (tests and the sandbox call this between emulators)."""
    _client.cache_clear()
    _resource.cache_clear()


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError, or "" for anything else."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def error_message(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Message", "")) or str(exc)
    return str(exc)
