"""The endpoints/ part of the S3 layout: which uploads start a canary rollout, and version names."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sluice.domain.layout import (
    ENDPOINTS_PREFIX,
    EndpointArtifact,
    OutsideLayout,
    classify_key,
    validate_version,
)
from sluice.errors import RejectedName

VERSION = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9-]{0,31}$")
versions = st.from_regex(r"\A[a-zA-Z0-9][a-zA-Z0-9-]{0,31}\Z")
segments = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"),
    min_size=1,
    max_size=30,
)


def test_model_archive_names_endpoint_and_version() -> None:
    target = classify_key("endpoints/fraud/v2/model.tar.gz")
    assert target == EndpointArtifact(key="endpoints/fraud/v2/model.tar.gz", endpoint="fraud", version="v2")
    assert target.kind == "endpoint"
    assert ENDPOINTS_PREFIX == "endpoints/"


def test_deploy_config_keys_are_looked_up_version_first() -> None:
    target = classify_key("endpoints/fraud/v2/model.tar.gz")
    assert isinstance(target, EndpointArtifact)
    assert target.deploy_config_keys == ("endpoints/fraud/v2/deploy.json", "endpoints/fraud/deploy.json")


@given(endpoint=segments, version=segments, sha256=st.from_regex(r"\A[0-9a-f]{64}\Z"))
def test_the_published_copy_of_an_upload_is_outside_the_layout(
    endpoint: str, version: str, sha256: str
) -> None:
    """The copy the candidate serves must start no rollout (and no other intake) of its own."""
    target = classify_key(f"endpoints/{endpoint}/{version}/model.tar.gz")
    assert isinstance(target, EndpointArtifact)
    published = target.published_key(sha256)
    assert published == f"published/endpoints/{endpoint}/{version}/{sha256}/model.tar.gz"
    assert isinstance(classify_key(published), OutsideLayout)


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (
            "endpoints/fraud/deploy.json",
            "a deploy.json only configures rollouts: uploading it starts nothing",
        ),
        (
            "endpoints/fraud/v2/deploy.json",
            "a deploy.json only configures rollouts: uploading it starts nothing",
        ),
        ("endpoints/fraud/v2/model.tar", "endpoints/<endpoint>/<version>/model.tar.gz"),
        ("endpoints/fraud/v2/other.tar.gz", "endpoints/<endpoint>/<version>/model.tar.gz"),
        ("endpoints/fraud/v2/sub/model.tar.gz", "endpoints/<endpoint>/<version>/model.tar.gz"),
        ("endpoints/fraud/v2/sub/deploy.json", "endpoints/<endpoint>/<version>/model.tar.gz"),
        ("endpoints/fraud/model.tar.gz", "endpoints/<endpoint>/<version>/model.tar.gz"),
        ("endpoints/model.tar.gz", "endpoints/<endpoint>/<version>/model.tar.gz"),
        ("endpoints//v2/model.tar.gz", "endpoints/<endpoint>/<version>/model.tar.gz"),
        ("endpoints/fraud//model.tar.gz", "endpoints/<endpoint>/<version>/model.tar.gz"),
        ("endpoints/fraud/v2/", "endpoints/<endpoint>/<version>/model.tar.gz"),
        ("endpoint/fraud/v2/model.tar.gz", "outside the multi-model/, batch/ and endpoints/ prefixes"),
    ],
)
def test_other_keys_under_endpoints_are_ignored_with_a_reason(key: str, reason: str) -> None:
    target = classify_key(key)
    assert isinstance(target, OutsideLayout)
    assert reason in target.reason


@given(endpoint=segments, version=segments)
def test_any_endpoint_archive_key_round_trips(endpoint: str, version: str) -> None:
    target = classify_key(f"endpoints/{endpoint}/{version}/model.tar.gz")
    assert isinstance(target, EndpointArtifact)
    assert (target.endpoint, target.version) == (endpoint, version)


@given(endpoint=segments, version=segments, name=segments)
def test_only_model_tar_gz_starts_a_rollout(endpoint: str, version: str, name: str) -> None:
    target = classify_key(f"endpoints/{endpoint}/{version}/{name}")
    assert isinstance(target, EndpointArtifact) == (name == "model.tar.gz")


@pytest.mark.parametrize("version", ["v2", "2", "V-2", "2026-11-03", "a--b", "v2-", "x" * 32])
def test_valid_versions(version: str) -> None:
    assert validate_version(version) == version


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("", "version is empty: upload to endpoints/<endpoint>/<version>/model.tar.gz"),
        ("x" * 33, f"version {'x' * 33!r} is 33 characters long; Sluice allows 32"),
        ("-v2", "version '-v2' must start with a letter or a digit"),
        ("é2", "version 'é2' must start with a letter or a digit"),
        (
            "v2.1",
            "version 'v2.1' contains '.': use only letters, digits and hyphens "
            "(pattern ^[a-zA-Z0-9][a-zA-Z0-9-]{0,31}$)",
        ),
        ("v_2 x", "version 'v_2 x' contains ' ', '_': use only letters, digits and hyphens"),
        ("vé", "version 'vé' contains 'é'"),
    ],
)
def test_invalid_versions_say_why(version: str, message: str) -> None:
    with pytest.raises(RejectedName) as caught:
        validate_version(version)
    assert caught.value.code == "InvalidName"
    assert caught.value.reason.startswith(message)


@given(versions)
def test_generated_versions_are_accepted(version: str) -> None:
    assert validate_version(version) == version


@given(st.text(max_size=40))
def test_validate_version_accepts_exactly_the_pattern(version: str) -> None:
    try:
        accepted = validate_version(version) == version
    except RejectedName:
        accepted = False
    assert accepted == bool(VERSION.fullmatch(version))
