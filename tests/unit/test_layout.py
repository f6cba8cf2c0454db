"""The S3 layout contract: which keys Sluice acts on, and how event keys resolve to real keys."""

from __future__ import annotations

from urllib.parse import quote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sluice.domain.layout import (
    BatchInput,
    MultiModelArtifact,
    OutsideLayout,
    candidate_keys,
    classify_key,
    validate_sagemaker_name,
)
from sluice.errors import RejectedName

sagemaker_names = st.from_regex(r"\A[a-zA-Z0-9](-*[a-zA-Z0-9]){0,20}\Z")
key_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=40
)


def test_multi_model_archive_names_endpoint_and_model() -> None:
    target = classify_key("multi-model/fraud-mme/xgb-2026.tar.gz")
    assert target == MultiModelArtifact(
        key="multi-model/fraud-mme/xgb-2026.tar.gz", endpoint="fraud-mme", model="xgb-2026"
    )
    assert target.warmup_key == "multi-model/fraud-mme/xgb-2026.warmup.json"


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("multi-model/ep/model.warmup.json", "not a .tar.gz"),
        ("multi-model/ep/model.tar", "not a .tar.gz"),
        ("multi-model/ep/sub/model.tar.gz", "multi-model/<endpoint>/<model>.tar.gz"),
        ("multi-model/model.tar.gz", "multi-model/<endpoint>/<model>.tar.gz"),
        ("batch/model/batch.json", "batch/<model>/input/<path>"),
        ("batch/model/output/job/part.csv.out", "batch/<model>/input/<path>"),
        ("batch/model/input/", "folder marker"),
        ("endpoints/ep/v2/deploy.json", "starts nothing"),
        ("README.md", "outside"),
    ],
)
def test_keys_outside_the_layout_are_ignored_with_a_reason(key: str, reason: str) -> None:
    target = classify_key(key)
    assert isinstance(target, OutsideLayout)
    assert reason in target.reason


def test_batch_input_and_manifest() -> None:
    plain = classify_key("batch/churn/input/2026/11/records.csv")
    assert plain == BatchInput(
        key="batch/churn/input/2026/11/records.csv",
        model="churn",
        relative_path="2026/11/records.csv",
        is_manifest=False,
    )
    assert plain.settings_key == "batch/churn/batch.json"
    assert plain.output_prefix == "batch/churn/output/"
    manifest = classify_key("batch/churn/input/nightly.manifest.json")
    assert isinstance(manifest, BatchInput)
    assert manifest.is_manifest


@given(endpoint=sagemaker_names, model=key_text.filter(lambda s: "/" not in s))
def test_any_multi_model_key_round_trips(endpoint: str, model: str) -> None:
    target = classify_key(f"multi-model/{endpoint}/{model}.tar.gz")
    assert isinstance(target, MultiModelArtifact)
    assert (target.endpoint, target.model) == (endpoint, model)


@given(model=sagemaker_names, path=key_text.filter(lambda s: not s.endswith("/")))
def test_any_batch_key_round_trips(model: str, path: str) -> None:
    target = classify_key(f"batch/{model}/input/{path}")
    assert isinstance(target, BatchInput)
    assert (target.model, target.relative_path) == (model, path)


@pytest.mark.parametrize("name", ["a", "A1", "fraud-mme", "a--b", "x" * 63])
def test_valid_sagemaker_names(name: str) -> None:
    assert validate_sagemaker_name(name, "endpoint") == name


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "empty"),
        ("x" * 64, "64 characters long"),
        ("-lead", "not a valid SageMaker name"),
        ("trail-", "not a valid SageMaker name"),
        ("under_score", "not a valid SageMaker name"),
        ("sp ace", "not a valid SageMaker name"),
        ("dot.ted", "not a valid SageMaker name"),
    ],
)
def test_invalid_sagemaker_names_say_why(name: str, message: str) -> None:
    with pytest.raises(RejectedName, match=message):
        validate_sagemaker_name(name, "model")


@given(sagemaker_names)
def test_generated_names_are_accepted(name: str) -> None:
    assert validate_sagemaker_name(name, "model") == name


@pytest.mark.parametrize(
    ("raw", "encoding", "expected"),
    [
        ("multi-model/ep/my+model.tar.gz", "url", ["multi-model/ep/my model.tar.gz"]),
        ("multi-model/ep/a%2Bb.tar.gz", "url", ["multi-model/ep/a+b.tar.gz"]),
        ("multi-model/ep/100%25.tar.gz", "url", ["multi-model/ep/100%.tar.gz"]),
        ("multi-model/ep/caf%C3%A9.tar.gz", "url", ["multi-model/ep/café.tar.gz"]),
        ("multi-model/ep/my model.tar.gz", "raw", ["multi-model/ep/my model.tar.gz"]),
        ("multi-model/ep/a+b.tar.gz", "raw", ["multi-model/ep/a+b.tar.gz", "multi-model/ep/a b.tar.gz"]),
        ("multi-model/ep/café.tar.gz", "raw", ["multi-model/ep/café.tar.gz"]),
    ],
)
def test_event_keys_resolve_to_real_keys(raw: str, encoding: str, expected: list[str]) -> None:
    assert candidate_keys(raw, encoding) == expected  # type: ignore[arg-type]


@given(key_text)
def test_url_encoded_keys_decode_exactly_once(real_key: str) -> None:
    assert candidate_keys(quote_plus(real_key, safe="/"), "url") == [real_key]


@given(key_text)
def test_raw_keys_are_tried_as_they_are_first(real_key: str) -> None:
    assert candidate_keys(real_key, "raw")[0] == real_key
