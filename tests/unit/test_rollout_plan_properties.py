"""Properties of rollout plans that must hold for every step list, capacity and name."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from sluice.domain.deploy_config import AutoAlarms, DeployConfig, RolloutSettings
from sluice.domain.rollout_plan import (
    MISSING_DATA_TREATMENT,
    BaselineContainer,
    BaselineState,
    BaselineVariant,
    QueuedVersion,
    RolloutPlan,
    decide_next_queued,
    plan_first_deployment,
    plan_rollout,
)

SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

step_lists = st.sets(st.integers(min_value=1, max_value=99), max_size=8).map(lambda s: [*sorted(s), 100])
alnum = st.sampled_from(ALNUM)
endpoints = st.one_of(
    st.tuples(alnum, st.lists(st.tuples(st.text("-", max_size=3), alnum).map("".join), max_size=30))
    .map(lambda parts: parts[0] + "".join(parts[1]))
    .filter(lambda name: len(name) <= 63),
    st.text(ALNUM + "-", min_size=61, max_size=61).map(lambda middle: f"a{middle}z"),
)
versions = st.tuples(alnum, st.text(ALNUM + "-", max_size=31)).map("".join)
suffixes = st.text("abcdef0123456789", min_size=1, max_size=12)


def state(count: int, variant_name: str = "prod") -> BaselineState:
    return BaselineState(
        endpoint_config_name="prod-config",
        variants=[
            BaselineVariant(
                variant_name=variant_name,
                model_name="prod-model",
                instance_type="ml.m5.xlarge",
                current_instance_count=count,
                current_weight=1.0,
                containers=[BaselineContainer(image=f"{ECR}/prod:1")],
            )
        ],
    )


def rollout(
    endpoint: str, version: str, deploy: DeployConfig, count: int, suffix: str = "abc123"
) -> RolloutPlan:
    return plan_rollout(
        endpoint=endpoint,
        version=version,
        config=deploy,
        baseline=state(count),
        model_data_url=f"s3://bucket/endpoints/{endpoint}/{version}/model.tar.gz",
        execution_role_arn="arn:aws:iam::123456789012:role/r",
        suffix=suffix,
        allowed_registries=[ECR],
    )


@settings(max_examples=300)
@given(step_lists, st.integers(min_value=1, max_value=60), st.none() | st.integers(min_value=1, max_value=80))
def test_every_step_keeps_weights_capacity_and_baseline(
    steps: list[int], count: int, initial: int | None
) -> None:
    deploy = DeployConfig(rollout=RolloutSettings(steps=steps), initial_instance_count=initial)
    planned = rollout("fraud", "v2", deploy, count)
    assert [step.percent for step in planned.steps] == steps
    promote_count = planned.promote_config["ProductionVariants"][0]["InitialInstanceCount"]
    assert promote_count == max(count, initial or 0)
    for step in planned.steps:
        candidate, production = step.desired_weights_and_capacities
        assert (candidate["VariantName"], production["VariantName"]) == ("v2", "prod")
        assert candidate["DesiredWeight"] + production["DesiredWeight"] == 100
        assert candidate["DesiredWeight"] == step.percent
        assert candidate["DesiredInstanceCount"] == step.candidate_instances >= 1
        assert step.candidate_instances * 100 >= count * step.percent  # >= ceil(count x w / 100)
        assert step.baseline_instances == count
        back_candidate, back_production = step.rollback_weights_and_capacities
        assert (back_candidate["DesiredWeight"], back_production["DesiredWeight"]) == (0, 100)
        assert back_candidate["DesiredInstanceCount"] == step.candidate_instances
        # the baseline's capacity is never set: it keeps what it has (a scale-out included)
        for entry in (candidate, back_candidate):
            assert set(entry) == {"VariantName", "DesiredWeight", "DesiredInstanceCount"}
        for entry in (production, back_production):
            assert set(entry) == {"VariantName", "DesiredWeight"}
    last_candidate, last_production = planned.steps[-1].desired_weights_and_capacities
    assert (last_candidate["DesiredWeight"], last_production["DesiredWeight"]) == (100, 0)
    assert last_candidate["DesiredInstanceCount"] == promote_count
    counts = [step.candidate_instances for step in planned.steps]
    assert counts == sorted(counts)
    first_variant = planned.candidate_config["ProductionVariants"][1]
    assert first_variant["InitialInstanceCount"] == planned.steps[0].candidate_instances
    assert first_variant["InitialVariantWeight"] == 0.0
    assert planned.candidate_config["ProductionVariants"][0]["InitialInstanceCount"] == count


@settings(max_examples=300)
@given(endpoints, versions, suffixes, st.sampled_from(["prod", "v2", "V2"]))
def test_names_are_valid_for_any_endpoint_and_version(
    endpoint: str, version: str, suffix: str, production: str
) -> None:
    planned = plan_rollout(
        endpoint=endpoint,
        version=version,
        config=DeployConfig(),
        baseline=state(2, variant_name=production),
        model_data_url="s3://bucket/model.tar.gz",
        execution_role_arn="arn:aws:iam::123456789012:role/r",
        suffix=suffix,
        allowed_registries=[ECR],
    )
    names = planned.names
    for name in (names.model, names.candidate_variant, names.candidate_config, names.promote_config):
        assert len(name) <= 63
        assert SAGEMAKER_NAME.fullmatch(name), name
    assert names.candidate_variant.casefold() != production.casefold()
    assert names.candidate_config != names.promote_config
    for alarm in (names.error_alarm, names.latency_alarm):
        assert alarm.startswith(f"sluice-{endpoint}-{version}-")
        assert len(alarm) <= 255
    first = plan_first_deployment(
        endpoint=endpoint,
        version=version,
        config=DeployConfig(image=f"{ECR}/x:1", instance_type="ml.m5.large"),
        model_data_url="s3://bucket/model.tar.gz",
        execution_role_arn="arn:aws:iam::123456789012:role/r",
        suffix=suffix,
        allowed_registries=[ECR],
    )
    for name in (first.model_name, first.variant_name, first.endpoint_config_name):
        assert len(name) <= 63
        assert SAGEMAKER_NAME.fullmatch(name), name


@given(endpoints, versions, suffixes, suffixes)
def test_distinct_rollouts_of_a_version_get_distinct_names(
    endpoint: str, version: str, one: str, other: str
) -> None:
    first = rollout(endpoint, version, DeployConfig(), 2, one).names
    second = rollout(endpoint, version, DeployConfig(), 2, other).names
    assert (first.model == second.model) == (one == other)
    assert (first.candidate_config == second.candidate_config) == (one == other)


@given(
    step_lists,
    st.integers(min_value=1, max_value=20),
    st.sampled_from(["hold", "continue", "rollback"]),
    st.none() | st.floats(min_value=0.0001, max_value=1),
    st.none() | st.floats(min_value=0.1, max_value=60_000),
)
def test_plans_are_json_and_round_trip(
    steps: list[int], count: int, missing: str, error_rate: float | None, latency: float | None
) -> None:
    deploy = DeployConfig(
        rollout=RolloutSettings(
            steps=steps,
            on_insufficient_data=missing,  # type: ignore[arg-type]
            auto_alarms=AutoAlarms(error_rate=error_rate, latency_p99_ms=latency),
        )
    )
    planned = rollout("fraud", "v2", deploy, count)
    assert RolloutPlan.from_dict(json.loads(json.dumps(planned.to_dict()))) == planned
    assert len(planned.alarms) == (error_rate is not None) + (latency is not None)
    for alarm in planned.alarms:
        assert alarm["TreatMissingData"] == MISSING_DATA_TREATMENT[missing]
        assert alarm["AlarmName"] in planned.alarm_names


T0 = datetime(2026, 11, 3, tzinfo=UTC)
uploads = st.lists(
    st.tuples(st.sampled_from(["v3", "v4", "v5", "v6"]), st.integers(min_value=0, max_value=30)),
    min_size=1,
    max_size=8,
    unique=True,
)


@given(uploads, st.randoms(use_true_random=False))
def test_only_the_newest_upload_stays_queued_and_every_other_is_superseded_once(
    made: list[tuple[str, int]], random: object
) -> None:
    items = [
        QueuedVersion(
            version=version,
            key=f"endpoints/fraud/{version}/model.tar.gz",
            uploaded_at=T0 + timedelta(seconds=second),
            object_version_id=f"{version}-{second}",
        )
        for version, second in made
    ]
    arrival = list(items)
    random.shuffle(arrival)  # type: ignore[attr-defined]
    queued: QueuedVersion | None = None
    superseded: list[QueuedVersion] = []
    for incoming in arrival:
        queued, dropped = decide_next_queued(queued, incoming)
        if dropped is not None:
            superseded.append(dropped)
    assert queued is not None
    assert decide_next_queued(queued, queued.model_copy()) == (queued, None)  # a redelivered event
    newest = max(item.uploaded_at for item in items)
    assert queued.uploaded_at == newest
    assert sorted(superseded, key=repr) == sorted((item for item in items if item != queued), key=repr)
