"""Properties of the batch domain that must hold for every input, not just the examples."""

from __future__ import annotations

import contextlib
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sluice.domain.batch import (
    BATCH_FINAL_STATES,
    SAGEMAKER_STATES,
    SLUICE_STATES,
    BatchSettings,
    check_manifest_buckets,
    next_job_status,
    parse_batch_settings,
    parse_manifest,
    retry_delay_seconds,
    transform_job_name,
)
from sluice.errors import RejectedConfiguration

SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
ALL_STATES = sorted(SLUICE_STATES | SAGEMAKER_STATES)

# Model names as SageMaker allows them: alphanumeric ends, hyphen runs between, up to 63 characters.
alnum = st.sampled_from(ALNUM)
segments = st.tuples(st.text("-", max_size=4), alnum).map("".join)
sagemaker_names = (
    st.tuples(alnum, st.lists(segments, max_size=40))
    .map(lambda parts: parts[0] + "".join(parts[1]))
    .filter(lambda name: len(name) <= 63)
)
full_length_names = st.text(ALNUM + "-", min_size=61, max_size=61).map(lambda middle: f"a{middle}z")
model_names = st.one_of(sagemaker_names, full_length_names)
keys = st.text(min_size=1, max_size=200)
versions = st.text(ALNUM + "._-", min_size=1, max_size=64)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=30), children, max_size=4)
    ),
    max_leaves=12,
)
setting_keys = st.sampled_from([*BatchSettings.model_fields, "InstanceType", "unknown"])
setting_values = st.one_of(
    json_values,
    st.sampled_from(
        ["None", "Line", "RecordIO", "MultiRecord", "SingleRecord", "Gzip", "Input", "ml.m5.xlarge"]
    ),
    st.integers(min_value=-2, max_value=120),
    st.dictionaries(
        st.sampled_from(["input_filter", "join_source", "invocations_max_retries", "A_B", "x-y"]),
        json_values,
        max_size=3,
    ),
)
settings_documents = st.one_of(json_values, st.dictionaries(setting_keys, setting_values, max_size=6))


@given(model_names)
def test_generated_model_names_are_sagemaker_names(model: str) -> None:
    assert SAGEMAKER_NAME.fullmatch(model)


@given(model_names, keys, versions)
def test_job_name_is_valid_and_deterministic(model: str, key: str, version: str) -> None:
    name = transform_job_name(model, key, version)
    assert len(name) <= 63
    assert SAGEMAKER_NAME.fullmatch(name)
    assert name.startswith("sluice-")
    assert re.fullmatch(r"[0-9a-f]{12}", name[-12:])
    assert name == transform_job_name(model, key, version)


@given(st.text(max_size=100), keys, versions)
def test_job_name_is_valid_for_any_model_string(model: str, key: str, version: str) -> None:
    name = transform_job_name(model, key, version)
    assert len(name) <= 63
    assert SAGEMAKER_NAME.fullmatch(name)


@given(st.tuples(model_names, keys, versions), st.tuples(model_names, keys, versions))
def test_distinct_inputs_give_distinct_job_names(
    first: tuple[str, str, str], second: tuple[str, str, str]
) -> None:
    if first != second:
        assert transform_job_name(*first) != transform_job_name(*second)


@settings(max_examples=300)
@given(settings_documents)
def test_parse_batch_settings_only_ever_rejects(document: object) -> None:
    raw = json.dumps(document).encode()
    try:
        parsed = parse_batch_settings(raw)
    except RejectedConfiguration:
        return
    assert isinstance(parsed, BatchSettings)
    if parsed.max_concurrent_transforms is not None:
        assert parsed.max_concurrent_transforms * parsed.max_payload_in_mb <= 100


@given(st.binary(max_size=200))
def test_parse_batch_settings_only_ever_rejects_bytes(raw: bytes) -> None:
    with contextlib.suppress(RejectedConfiguration):
        parse_batch_settings(raw)


@given(
    st.one_of(
        json_values, st.lists(st.one_of(st.just({"prefix": "s3://bucket/p/"}), json_values), max_size=5)
    )
)
def test_parse_manifest_only_ever_rejects(document: object) -> None:
    try:
        manifest = parse_manifest(json.dumps(document).encode())
    except RejectedConfiguration:
        return
    assert manifest.relative_keys
    assert all(uri.startswith(manifest.prefix) for uri in manifest.object_uris())


@given(st.lists(st.sampled_from(ALL_STATES), max_size=12))
def test_status_never_leaves_a_final_state(events: list[str]) -> None:
    stored: str | None = None
    for incoming in events:
        following = next_job_status(stored, incoming)
        if stored in BATCH_FINAL_STATES:
            assert following is None
        if stored in SAGEMAKER_STATES and following is not None:
            assert following in SAGEMAKER_STATES
        if following is not None:
            assert following != stored
            stored = following


@given(
    st.integers(min_value=1, max_value=200),
    st.floats(min_value=0, max_value=1, exclude_max=True),
    st.integers(min_value=1, max_value=900),
    st.integers(min_value=0, max_value=900),
)
def test_retry_delay_is_bounded_and_non_decreasing(
    attempt: int, jitter: float, base: int, spread: int
) -> None:
    cap = min(900, base + spread)
    delay = retry_delay_seconds(attempt, base=base, cap=cap, jitter=jitter)
    assert base <= delay <= cap
    assert delay <= retry_delay_seconds(attempt + 1, base=base, cap=cap, jitter=jitter)


manifest_buckets = st.sampled_from(["artifacts", "extra-inputs", "other-team", "artifacts-evil", "a.b"])
manifest_entries = st.one_of(
    st.sampled_from(["x.csv", "-evil/x.csv", "/x.csv", "../x.csv", "s3://other-team/x.csv", ".csv", "%2F"]),
    st.text(min_size=1, max_size=12),
)


# Issue 13: a manifest may only make SageMaker read the artifact bucket and BatchInputBuckets.
@given(
    manifest_buckets,
    st.sampled_from(["", "p/", "day-", "a//b/"]),
    st.lists(manifest_entries, min_size=1, max_size=4),
    st.lists(manifest_buckets, max_size=2),
)
def test_a_manifest_is_accepted_iff_every_object_it_lists_is_in_an_allowed_bucket(
    bucket: str, key_prefix: str, entries: list[str], input_buckets: list[str]
) -> None:
    try:
        manifest = parse_manifest(json.dumps([{"prefix": f"s3://{bucket}/{key_prefix}"}, *entries]).encode())
    except RejectedConfiguration:
        return
    # What SageMaker reads: prefix + entry, plainly concatenated (TransformS3DataSource).
    read_from = {uri.removeprefix("s3://").split("/", 1)[0] for uri in manifest.object_uris()}
    if read_from <= {"artifacts", *input_buckets}:
        check_manifest_buckets(manifest, "artifacts", input_buckets)
    else:
        with pytest.raises(RejectedConfiguration, match=r"^the manifest's prefix .* batch jobs may not"):
            check_manifest_buckets(manifest, "artifacts", input_buckets)
