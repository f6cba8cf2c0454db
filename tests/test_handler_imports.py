"""Each Lambda imports what it runs, and nothing another function runs: its import is most of its cold
start (benchmarks/bench_cold_import.py times it; timings never go in tests).

Each handler module of template.yaml is imported in a fresh interpreter and the modules it loaded are
checked against what that function does, read from the template where the template says it: an S3
upload intake acts once per object version (Powertools idempotency), an SQS consumer reports partial
batches (Powertools batch), and no function loads another feature's domain code or adapters.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from sluice_cli.sandbox.template import load_template

ROOT = Path(__file__).parents[1]
IDEMPOTENCY = "aws_lambda_powertools.utilities.idempotency"
SQS_BATCH = "aws_lambda_powertools.utilities.batch"
# Events are validated by their pydantic models directly (sluice.models): Powertools' parser package
# would load every field type it supports, IP networks and email included, for nothing.
PARSER = "aws_lambda_powertools.utilities.parser"

# The code of each feature; a handler of one feature loads none of the others'.
FEATURES = {
    "rollouts": (
        "sluice.domain.rollout",
        "sluice.domain.rollout_plan",
        "sluice.domain.deploy_config",
        "sluice.adapters.rollouts",
        "sluice.adapters.stepfunctions",
        "sluice.adapters.autoscaling",
        "sluice.adapters.cloudwatch",
        "sluice.models.rollout_step",
        "sluice.models.execution_events",
    ),
    "batch": ("sluice.domain.batch", "sluice.domain.batch_intake"),
    "multi-model": ("sluice.domain.multi_model",),
}
FEATURE_OF = {
    "sluice.handlers.register_model": "multi-model",
    "sluice.handlers.start_batch": "batch",
    "sluice.handlers.retry_batch_start": "batch",
    "sluice.handlers.batch_job_state": "batch",
    "sluice.handlers.start_rollout": "rollouts",
    "sluice.handlers.rollout_step": "rollouts",
    "sluice.handlers.alarm_state": "rollouts",
    "sluice.handlers.rollout_execution_ended": "rollouts",
    "sluice.handlers.redeliver_upload": None,  # invokes an intake again: no feature of its own
}
# The alarm's path to a rollback: the rollouts it guards (DynamoDB) and their waits (Step Functions).
ALARM_STATE_ADAPTERS = {
    "sluice.adapters",
    "sluice.adapters.clients",
    "sluice.adapters.registry",
    "sluice.adapters.rollouts",
    "sluice.adapters.stepfunctions",
    "sluice.adapters.notifications",
}

PROBE = "import importlib, json, sys; importlib.import_module(sys.argv[1]); print(json.dumps([*sys.modules]))"


def _functions() -> dict[str, dict[str, Any]]:
    """Handler module -> its function's properties in template.yaml."""
    template = load_template(ROOT / "template.yaml")
    return {str(f.properties["Handler"]).rsplit(".", 1)[0]: f.properties for f in template.functions}


FUNCTIONS = _functions()
FUNCTION_HANDLERS = sorted(FUNCTIONS)


def _event_sources(properties: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(event type, the detail-types its rule matches) for each of a function's events."""
    sources = []
    for event in (properties.get("Events") or {}).values():
        pattern = (event.get("Properties") or {}).get("Pattern") or {}
        sources.append((str(event["Type"]), list(pattern.get("detail-type") or [])))
    return sources


def _is_upload_intake(handler: str) -> bool:
    return any("Object Created" in detail_types for _, detail_types in _event_sources(FUNCTIONS[handler]))


def _is_sqs_consumer(handler: str) -> bool:
    return any(kind == "SQS" for kind, _ in _event_sources(FUNCTIONS[handler]))


@cache
def loaded_by(handler: str) -> frozenset[str]:
    """Every module loaded by importing `handler` in a fresh interpreter."""
    environment = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, handler], env=environment, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return frozenset(json.loads(done.stdout))


def _within(modules: frozenset[str], prefixes: tuple[str, ...]) -> set[str]:
    return {m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes)}


def test_every_function_of_the_template_is_classified() -> None:
    assert set(FUNCTION_HANDLERS) == set(FEATURE_OF)


@pytest.mark.parametrize("handler", FUNCTION_HANDLERS)
def test_idempotency_only_where_uploads_are_acted_on_once(handler: str) -> None:
    assert bool(_within(loaded_by(handler), (IDEMPOTENCY,))) == _is_upload_intake(handler)


@pytest.mark.parametrize("handler", FUNCTION_HANDLERS)
def test_batch_processing_only_in_queue_consumers(handler: str) -> None:
    assert bool(_within(loaded_by(handler), (SQS_BATCH,))) == _is_sqs_consumer(handler)


@pytest.mark.parametrize("handler", FUNCTION_HANDLERS)
def test_no_powertools_parser(handler: str) -> None:
    assert not _within(loaded_by(handler), (PARSER,))


@pytest.mark.parametrize("handler", FUNCTION_HANDLERS)
def test_no_other_feature_is_loaded(handler: str) -> None:
    others = tuple(p for f, prefixes in FEATURES.items() if f != FEATURE_OF[handler] for p in prefixes)
    assert not _within(loaded_by(handler), others)


def test_an_alarm_loads_only_the_rollback_path() -> None:
    """AlarmState aborts the rollouts an alarm guards: no planning, no SageMaker, S3, CloudWatch or
    Application Auto Scaling, none of the state machine's actions."""
    loaded = loaded_by("sluice.handlers.alarm_state")
    assert _within(loaded, ("sluice.adapters",)) <= ALARM_STATE_ADAPTERS
    assert not _within(
        loaded, ("sluice.domain.rollout_plan", "sluice.domain.deploy_config", "sluice.domain.rollout.actions")
    )
