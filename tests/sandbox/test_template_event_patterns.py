"""The EventBridge patterns of template.yaml, matched by moto's EventBridge matcher (the one the sandbox
delivers through) against S3 "Object Created" events for keys of the layout contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from moto.events.models import EventPattern

from sluice.domain.layout import EndpointArtifact, classify_key
from sluice_cli.sandbox.template import load_yaml

TEMPLATE = load_yaml((Path(__file__).parents[2] / "template.yaml").read_text())
BUCKET = "sluice-artifacts"


def _pattern(function: str, event: str) -> EventPattern:
    pattern = TEMPLATE["Resources"][function]["Properties"]["Events"][event]["Properties"]["Pattern"]
    pattern["detail"]["bucket"]["name"] = [BUCKET]  # !Ref ArtifactBucket, resolved
    return EventPattern.load(json.dumps(pattern))


def _object_created(key: str) -> dict[str, Any]:
    return {
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": {"bucket": {"name": BUCKET}, "object": {"key": key, "size": 1}},
    }


@pytest.mark.parametrize(
    "key",
    [
        "batch/churn/input/records.csv",
        "batch/churn/input/2026/12/part-0001.csv",
        "batch/churn/input/x.manifest.json",
    ],
)
def test_batch_inputs_reach_the_batch_function(key: str) -> None:
    assert _pattern("StartBatchFunction", "BatchInputCreated").matches_event(_object_created(key))


@pytest.mark.parametrize(
    "key",
    [
        "batch/churn/output/sluice-churn-1a2b/records.csv.out",
        "batch/churn/batch.json",
        "multi-model/mme/churn.tar.gz",
    ],
)
def test_transform_output_and_settings_never_reach_the_batch_function(key: str) -> None:
    """A 100,000-object job writes 100,000 outputs: none of them may cost an invocation."""
    assert not _pattern("StartBatchFunction", "BatchInputCreated").matches_event(_object_created(key))


S3_RULES = [
    ("RegisterModelFunction", "ArtifactCreated"),
    ("StartBatchFunction", "BatchInputCreated"),
    ("StartRolloutFunction", "EndpointVersionCreated"),
]


def test_an_upload_reaches_the_rollout_function_and_its_published_copy_reaches_no_function() -> None:
    """The copy a rollout's model serves is written by StartRolloutFunction itself: an event for it
    must not start another rollout (or any intake)."""
    upload = classify_key("endpoints/fraud/v2/model.tar.gz")
    assert isinstance(upload, EndpointArtifact)
    published = upload.published_key("0" * 64)

    assert _pattern("StartRolloutFunction", "EndpointVersionCreated").matches_event(
        _object_created(upload.key)
    )
    assert [rule for rule in S3_RULES if _pattern(*rule).matches_event(_object_created(published))] == []
