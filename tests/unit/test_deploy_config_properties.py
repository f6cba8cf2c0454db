"""Properties of deploy.json parsing and the image allow-list that must hold for every input."""

from __future__ import annotations

import contextlib
import json
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from sluice.domain.deploy_config import DeployConfig, check_image, parse_deploy_config
from sluice.errors import RejectedConfiguration


def rejection_of(image: str, allowed: list[str]) -> str | None:
    """The reason check_image rejects `image` for, None when it accepts it."""
    try:
        check_image(image, allowed)
    except RejectedConfiguration as rejection:
        return rejection.reason
    return None


IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud:1"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=30), children, max_size=4)
    ),
    max_leaves=12,
)
near_values = st.one_of(
    json_values,
    st.sampled_from(
        [IMAGE, "nginx", "ml.m5.xlarge", "Serial", "Direct", "continue", "rollback", "s3://b/k", "a", "a_b"]
    ),
    st.integers(min_value=-2, max_value=120),
    st.lists(st.integers(min_value=-1, max_value=101), max_size=5),
)
containers = st.lists(
    st.dictionaries(
        st.sampled_from(["image", "model_data", "environment", "hostname", "Image"]), near_values
    ),
    max_size=3,
)
sections = {
    "rollout": st.dictionaries(
        st.sampled_from(
            ["steps", "bake_seconds", "alarms", "auto_alarms", "on_insufficient_data", "manual_approval", "x"]
        ),
        st.one_of(
            near_values,
            st.dictionaries(st.sampled_from(["error_rate", "latency_p99_ms", "p"]), near_values, max_size=2),
        ),
        max_size=4,
    ),
    "autoscaling": st.dictionaries(
        st.sampled_from(
            ["min", "max", "max_rps", "safety_factor", "scale_in_cooldown", "scale_out_cooldown"]
        ),
        near_values,
        max_size=6,
    ),
    "containers": containers,
}
documents = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            **sections,
            **{key: near_values for key in DeployConfig.model_fields if key not in sections},
            "Unknown": near_values,
        },
    ),
)


@settings(max_examples=400)
@given(documents)
def test_parse_deploy_config_only_ever_rejects(document: object) -> None:
    try:
        parsed = parse_deploy_config(json.dumps(document).encode())
    except RejectedConfiguration as rejection:
        reason = rejection.reason
        assert reason.startswith("deploy.json ")
        return
    steps = parsed.rollout.steps
    assert steps[-1] == 100
    assert all(1 <= step <= 100 for step in steps)
    assert all(earlier < later for earlier, later in pairwise(steps))
    assert not (parsed.containers and (parsed.image is not None or parsed.environment is not None))


@given(st.binary(max_size=200))
def test_parse_deploy_config_only_ever_rejects_bytes(raw: bytes) -> None:
    with contextlib.suppress(RejectedConfiguration):
        parse_deploy_config(raw)


# Registry hosts of a few labels from a small alphabet, so that patterns and hosts often meet.
labels = st.text(alphabet="ab1-", min_size=1, max_size=3)
hosts = st.lists(labels, min_size=2, max_size=4).map(".".join)


@st.composite
def allow_lists(draw: st.DrawFn) -> tuple[list[str], list[list[tuple[str, str]]]]:
    """Patterns, each also described label by label as (kind, text) for the oracle below."""
    patterns: list[str] = []
    described: list[list[tuple[str, str]]] = []
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        parts = draw(
            st.lists(
                st.one_of(
                    labels.map(lambda text: ("exact", text)),
                    st.just(("any", "")),
                    labels.map(lambda text: ("prefix", text)),
                ),
                min_size=2,
                max_size=4,
            )
        )
        patterns.append(".".join({"exact": t, "any": "*", "prefix": f"{t}*"}[kind] for kind, t in parts))
        described.append(parts)
    return patterns, described


def oracle(described: list[list[tuple[str, str]]], host: str) -> bool:
    host_labels = host.split(".")
    for parts in described:
        if len(parts) != len(host_labels):
            continue
        if all(
            (kind == "exact" and label == text)
            or kind == "any"
            or (kind == "prefix" and label.startswith(text) and len(label) > len(text))
            for (kind, text), label in zip(parts, host_labels, strict=True)
        ):
            return True
    return False


@settings(max_examples=400)
@given(allow_lists(), hosts, st.booleans())
def test_check_image_accepts_exactly_what_the_allow_list_allows(
    allow_list: tuple[list[str], list[list[tuple[str, str]]]], host: str, upper: bool
) -> None:
    patterns, described = allow_list
    image = f"{host.upper() if upper else host}/repository:tag"
    reason = rejection_of(image, patterns)
    assert (reason is None) == oracle(described, host)
    if reason is not None:
        assert repr(host.upper() if upper else host) in reason


@given(st.text(alphabet="abc-_/:", max_size=20).filter(lambda s: "." not in s.partition("/")[0]))
def test_images_without_a_registry_host_are_always_rejected(image: str) -> None:
    first = image.partition("/")[0]
    if "/" in image and (":" in first or first == "localhost"):
        return
    reason = rejection_of(image, ["*", "*.*", "*.*.*"])
    assert reason is not None
    assert "names no registry host" in reason
