"""Rules of deploy.json, the image allow-list and capacity, with the messages users read."""

from __future__ import annotations

import json

import pytest

from sluice.domain.deploy_config import (
    DEFAULT_ALLOWED_REGISTRIES,
    AnalysisSettings,
    Autoscaling,
    DeployConfig,
    autoscaling_target,
    check_image,
    check_images,
    default_allowed_registries,
    ecr_registry,
    environment_bytes,
    image_registry,
    instance_count_warning,
    parse_deploy_config,
    registry_matches,
)
from sluice.errors import RejectedConfiguration

ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
IMAGE = f"{ECR}/fraud:1"
PREFIX = "deploy.json is invalid: "


def config(**values: object) -> DeployConfig:
    return parse_deploy_config(json.dumps(values).encode())


def rejection(raw: bytes | str | dict[str, object]) -> str:
    if isinstance(raw, dict):
        raw = json.dumps(raw)
    with pytest.raises(RejectedConfiguration) as caught:
        parse_deploy_config(raw.encode() if isinstance(raw, str) else raw)
    assert caught.value.code == "InvalidConfiguration"
    return caught.value.reason


# --------------------------------------------------------------------------------------------------
# Defaults and the documented shape
# --------------------------------------------------------------------------------------------------


def test_empty_object_gives_the_documented_defaults() -> None:
    parsed = parse_deploy_config(b"{}")
    assert parsed == DeployConfig()
    assert parsed.image is None
    assert parsed.environment is None
    assert parsed.containers is None
    assert parsed.instance_type is None
    assert parsed.initial_instance_count is None
    assert parsed.autoscaling is None
    assert parsed.require_multi_instance is False
    rollout = parsed.rollout
    assert rollout.steps == [10, 25, 50, 100]
    assert rollout.bake_seconds == 300
    assert rollout.alarms == []
    assert rollout.auto_alarms is not None
    assert (rollout.auto_alarms.error_rate, rollout.auto_alarms.latency_p99_ms) == (0.01, 500)
    assert rollout.auto_alarms.min_invocations == 100
    assert rollout.on_insufficient_data == "hold"  # no silent promotion without evidence
    assert rollout.manual_approval is False
    assert rollout.candidate_capacity == "per_step"
    assert rollout.analysis is not None  # the canary analysis is on unless deploy.json says null
    analysis = rollout.analysis
    assert (analysis.min_invocations, analysis.max_bake_seconds) == (200, 1800)
    assert (analysis.error_rate_tolerance, analysis.latency_tolerance) == (0.001, 0.10)
    assert (analysis.latency_percentile, analysis.confidence) == (90, 0.95)
    assert parsed.images() == []


def test_the_issue_example_is_read_key_for_key() -> None:
    raw = {
        "image": IMAGE,
        "environment": {"KEY": "value"},
        "instance_type": "ml.m5.xlarge",
        "initial_instance_count": 2,
        "autoscaling": {
            "min": 2,
            "max": 8,
            "max_rps": 50,
            "safety_factor": 0.5,
            "scale_in_cooldown": 300,
            "scale_out_cooldown": 60,
        },
        "rollout": {
            "steps": [10, 25, 50, 100],
            "bake_seconds": 300,
            "alarms": ["existing-alarm-name"],
            "auto_alarms": {"error_rate": 0.01, "latency_p99_ms": 500},
            "on_insufficient_data": "rollback",
            "manual_approval": False,
        },
        "require_multi_instance": True,
    }
    parsed = config(**raw)
    dumped = parsed.model_dump(exclude_none=True)
    # every key as given, plus the defaults the example leaves out
    raw["rollout"]["auto_alarms"]["min_invocations"] = 100  # type: ignore[index]
    raw["rollout"]["candidate_capacity"] = "per_step"  # type: ignore[index]
    raw["rollout"]["analysis"] = AnalysisSettings().model_dump()  # type: ignore[index]
    assert dumped == raw
    assert parsed.images() == [IMAGE]


def test_multi_container_example() -> None:
    parsed = config(
        containers=[
            {"image": f"{ECR}/prep:1", "model_data": "s3://bucket/prep.tar.gz", "hostname": "prep"},
            {"image": f"{ECR}/model:1", "environment": {"THREADS": "4"}, "hostname": "model"},
        ],
        inference_execution_mode="Direct",
    )
    assert parsed.containers is not None
    assert [container.takes_upload for container in parsed.containers] == [False, True]
    assert parsed.execution_mode == "Direct"
    assert parsed.images() == [f"{ECR}/prep:1", f"{ECR}/model:1"]


def test_execution_mode_defaults_to_serial() -> None:
    assert config(containers=[{"image": IMAGE}]).execution_mode == "Serial"


def test_model_data_null_means_no_model_data() -> None:
    parsed = config(containers=[{"image": IMAGE, "model_data": None}, {"image": IMAGE}])
    assert parsed.containers is not None
    assert [container.takes_upload for container in parsed.containers] == [False, True]
    assert parsed.containers[0].model_data is None


def test_auto_alarms_can_be_switched_off_one_by_one_or_together() -> None:
    assert config(rollout={"auto_alarms": None}).rollout.auto_alarms is None
    only_latency = config(rollout={"auto_alarms": {"error_rate": None}}).rollout.auto_alarms
    assert only_latency is not None
    assert (only_latency.error_rate, only_latency.latency_p99_ms) == (None, 500)


def test_instance_types_with_a_hyphenated_family_are_accepted() -> None:
    assert config(instance_type="ml.p6-b200.48xlarge").instance_type == "ml.p6-b200.48xlarge"


# --------------------------------------------------------------------------------------------------
# Reading the file
# --------------------------------------------------------------------------------------------------


def test_invalid_json_names_line_and_column() -> None:
    assert rejection('{\n  "image" 1\n}') == (
        "deploy.json is not valid JSON: Expecting ':' delimiter at line 2, column 11"
    )


def test_non_utf8_and_duplicate_keys_are_rejected() -> None:
    assert rejection(b'{"image": "\xff"}') == "deploy.json is not UTF-8 text (byte 11: invalid start byte)"
    assert rejection('{"image": "a", "image": "b"}') == "deploy.json has the key 'image' more than once"


@pytest.mark.parametrize(("raw", "kind"), [("[]", "an array"), ('"x"', "a string"), ("null", "null")])
def test_non_object_json_is_rejected(raw: str, kind: str) -> None:
    assert rejection(raw) == (
        f"deploy.json must be a JSON object of settings, not {kind}; "
        'for example {"rollout": {"steps": [10, 50, 100]}}'
    )


def test_unknown_keys_list_the_allowed_ones() -> None:
    assert rejection({"instances": 2}) == (
        PREFIX + "unknown key instances; allowed keys: image, environment, containers, "
        "inference_execution_mode, instance_type, initial_instance_count, autoscaling, rollout, "
        "require_multi_instance"
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {"InstanceType": "ml.m5.large"},
            "unknown key InstanceType (did you mean 'instance_type'? keys are snake_case)",
        ),
        (
            {"containers": [{"image": IMAGE, "hostName": "a"}]},
            "unknown key containers[0].hostName; allowed keys: image, model_data, environment, hostname",
        ),
        (
            {"rollout": {"bakeSeconds": 1}},
            "unknown key rollout.bakeSeconds (did you mean 'bake_seconds'? keys are snake_case); allowed "
            "keys: steps, bake_seconds, alarms, auto_alarms, on_insufficient_data, manual_approval",
        ),
        (
            {"rollout": {"auto_alarms": {"p99": 1}}},
            "unknown key rollout.auto_alarms.p99; allowed keys: error_rate, min_invocations, latency_p99_ms",
        ),
        (
            {"autoscaling": {"min": 1, "max": 2, "max_rps": 1, "target": 3}},
            "unknown key autoscaling.target; allowed keys: min, max, max_rps, safety_factor, "
            "scale_in_cooldown, scale_out_cooldown",
        ),
    ],
)
def test_unknown_nested_keys_name_their_path(raw: dict[str, object], expected: str) -> None:
    assert expected in rejection(raw)


def test_all_errors_are_reported_together() -> None:
    assert rejection({"initial_instance_count": 0, "rollout": {"on_insufficient_data": "ignore"}}) == (
        PREFIX + "initial_instance_count: Input should be greater than or equal to 1 (got 0); "
        "rollout.on_insufficient_data: Input should be 'hold', 'continue' or 'rollback' (got 'ignore')"
    )


# --------------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([], "rollout.steps: no steps: list the candidate's traffic percentages, e.g. [10, 25, 50, 100]"),
        ([0, 100], "rollout.steps: step 1 is 0; each step is a percentage of traffic from 1 to 100"),
        ([50, 101], "step 2 is 101; each step is a percentage of traffic from 1 to 100"),
        (
            [50, 25, 100],
            "rollout.steps: step 2 (25) is not above step 1 (50); steps must be strictly increasing",
        ),
        ([50, 50, 100], "step 2 (50) is not above step 1 (50); steps must be strictly increasing"),
        ([10, 50], "rollout.steps: the last step is 50, but the rollout must end at 100 (all traffic)"),
        (["10", 100], "rollout.steps[0]: Input should be a valid integer (got '10')"),
        ([10.5, 100], "rollout.steps[0]: Input should be a valid integer (got 10.5)"),
    ],
)
def test_steps_rules(steps: list[object], message: str) -> None:
    assert message in rejection({"rollout": {"steps": steps}})


@pytest.mark.parametrize("steps", [[100], [1, 100], [1, 2, 3, 99, 100], [50, 100]])
def test_valid_steps(steps: list[int]) -> None:
    assert config(rollout={"steps": steps}).rollout.steps == steps


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "rollout.bake_seconds: Input should be greater than or equal to 0 (got -1)"),
        (86401, "rollout.bake_seconds: Input should be less than or equal to 86400 (got 86401)"),
    ],
)
def test_bake_seconds_range(value: int, message: str) -> None:
    assert message in rejection({"rollout": {"bake_seconds": value}})
    assert config(rollout={"bake_seconds": 0}).rollout.bake_seconds == 0
    assert config(rollout={"bake_seconds": 86400}).rollout.bake_seconds == 86400


@pytest.mark.parametrize(
    ("autoscaling", "message"),
    [
        ({"min": 0, "max": 2, "max_rps": 5}, "autoscaling.min: Input should be greater than or equal to 1"),
        ({"min": 3, "max": 2, "max_rps": 5}, "autoscaling: max (2) is below min (3): raise max or lower min"),
        ({"min": 1, "max": 2, "max_rps": 0}, "autoscaling.max_rps: Input should be greater than 0 (got 0)"),
        (
            {"min": 1, "max": 2, "max_rps": 5, "safety_factor": 0},
            "autoscaling.safety_factor: Input should be greater than 0",
        ),
        (
            {"min": 1, "max": 2, "max_rps": 5, "safety_factor": 1.5},
            "autoscaling.safety_factor: Input should be less than or equal to 1 (got 1.5)",
        ),
        (
            {"min": 1, "max": 2, "max_rps": 5, "scale_in_cooldown": 3601},
            "autoscaling.scale_in_cooldown: Input should be less than or equal to 3600",
        ),
        (
            {"min": 1, "max": 2, "max_rps": 5, "scale_out_cooldown": -1},
            "autoscaling.scale_out_cooldown: Input should be greater than or equal to 0",
        ),
        ({"min": 1, "max": 2}, "autoscaling.max_rps: Field required"),
    ],
)
def test_autoscaling_rules(autoscaling: dict[str, object], message: str) -> None:
    assert message in rejection({"autoscaling": autoscaling})


def test_autoscaling_defaults() -> None:
    scaling = config(autoscaling={"min": 2, "max": 2, "max_rps": 10}).autoscaling
    assert scaling == Autoscaling(
        min=2, max=2, max_rps=10, safety_factor=0.5, scale_in_cooldown=300, scale_out_cooldown=60
    )


def test_initial_instance_count_must_sit_within_autoscaling() -> None:
    assert rejection({"initial_instance_count": 9, "autoscaling": {"min": 2, "max": 8, "max_rps": 5}}) == (
        PREFIX + "initial_instance_count (9) is outside autoscaling min..max (2..8): Application Auto "
        "Scaling would resize it at once"
    )


def test_containers_exclude_the_top_level_image_and_environment() -> None:
    assert rejection({"image": IMAGE, "environment": {}, "containers": [{"image": IMAGE}]}) == (
        PREFIX + "containers and the top-level image and environment are mutually exclusive: give each "
        "container its own image and environment inside containers"
    )
    assert "containers and the top-level image are mutually exclusive" in rejection(
        {"image": IMAGE, "containers": [{"image": IMAGE}]}
    )


def test_inference_execution_mode_needs_containers() -> None:
    assert rejection({"inference_execution_mode": "Serial"}) == (
        PREFIX + "inference_execution_mode applies to multi-container models only: list the containers, "
        "or remove inference_execution_mode"
    )


def test_containers_count_is_1_to_15() -> None:
    assert "containers: List should have at least 1 item after validation, not 0" in rejection(
        {"containers": []}
    )
    assert "containers: at most 15 entries allowed, got 16" in rejection(
        {"containers": [{"image": IMAGE}] * 16}
    )
    assert len(config(containers=[{"image": IMAGE}] * 15).containers or []) == 15


def test_direct_invocation_needs_a_hostname_on_every_container() -> None:
    reason = rejection(
        {
            "containers": [{"image": IMAGE, "hostname": "a"}, {"image": IMAGE}, {"image": IMAGE}],
            "inference_execution_mode": "Direct",
        }
    )
    assert reason == (
        PREFIX + "containers[1], containers[2] has no hostname: with Direct invocation callers pick a "
        "container by its hostname (TargetContainerHostname), so every container needs one"
    )


def test_a_serial_pipeline_names_all_containers_or_none() -> None:
    assert rejection({"containers": [{"image": IMAGE, "hostname": "a"}, {"image": IMAGE}]}) == (
        PREFIX + "containers[1] has no hostname but other containers have one: in a Serial pipeline "
        "SageMaker needs a hostname on every container or on none"
    )
    assert config(containers=[{"image": IMAGE}, {"image": IMAGE, "model_data": None}]).containers


def test_hostnames_are_unique_and_valid() -> None:
    assert rejection(
        {
            "containers": [
                {"image": IMAGE, "hostname": "a"},
                {"image": IMAGE, "hostname": "a", "model_data": None},
            ]
        }
    ) == (PREFIX + "containers[0] and containers[1] share the hostname 'a': hostnames must be unique")
    assert "containers[0].hostname: should be letters and digits with hyphens between them" in rejection(
        {"containers": [{"image": IMAGE, "hostname": "a_b"}]}
    )


def test_some_container_must_take_the_upload() -> None:
    assert rejection({"containers": [{"image": IMAGE, "model_data": "s3://bucket/own.tar.gz"}]}) == (
        PREFIX + "no container takes the uploaded model.tar.gz: leave model_data out of the container that "
        "serves it (model_data is for the other containers' own archives)"
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"image": ""}, "image: String should have at least 1 character"),
        ({"image": "a b"}, "image: should be an image URI without spaces"),
        ({"image": "r.io/" + "x" * 251}, "image: String should have at most 255 characters"),
        ({"instance_type": "m5.large"}, "instance_type: should be an ML instance type such as ml.m5.xlarge"),
        ({"instance_type": "ml.M5.large"}, "instance_type: should be an ML instance type"),
        (
            {"containers": [{"image": IMAGE, "model_data": "https://x/y"}]},
            "containers[0].model_data: should be an s3://<bucket>/<key> URI (got 'https://x/y')",
        ),
        ({"containers": [{"model_data": None}]}, "containers[0].image: Field required"),
        ({"containers": ["img"]}, "containers[0]: should be a JSON object (got 'img')"),
        ({"rollout": {"alarms": [""]}}, "rollout.alarms[0]: String should have at least 1 character"),
        (
            {"rollout": {"alarms": ["x" * 256]}},
            "rollout.alarms[0]: String should have at most 255 characters",
        ),
        ({"rollout": {"alarms": "one"}}, "rollout.alarms: Input should be a valid list (got 'one')"),
        ({"rollout": {"manual_approval": "yes"}}, "rollout.manual_approval: Input should be a valid boolean"),
        (
            {"rollout": {"auto_alarms": {"error_rate": 0}}},
            "rollout.auto_alarms.error_rate: Input should be greater than 0",
        ),
        (
            {"rollout": {"auto_alarms": {"error_rate": 1.5}}},
            "error_rate: Input should be less than or equal to 1",
        ),
        (
            {"rollout": {"auto_alarms": {"latency_p99_ms": 0}}},
            "latency_p99_ms: Input should be greater than 0",
        ),
        (
            {"rollout": {"auto_alarms": {"min_invocations": 0}}},
            "rollout.auto_alarms.min_invocations: Input should be greater than or equal to 1",
        ),
        (
            {"rollout": {"auto_alarms": {"min_invocations": 2.5}}},
            "rollout.auto_alarms.min_invocations: Input should be a valid integer",
        ),
        ({"rollout": "fast"}, "rollout: should be a JSON object (got 'fast')"),
        ({"require_multi_instance": 1}, "require_multi_instance: Input should be a valid boolean (got 1)"),
        (
            {"initial_instance_count": 2.0},
            "initial_instance_count: Input should be a valid integer (got 2.0)",
        ),
    ],
)
def test_field_rules(raw: dict[str, object], message: str) -> None:
    assert message in rejection(raw)


def test_alarm_names_are_unique_and_at_most_98() -> None:
    assert rejection({"rollout": {"alarms": ["a", "b", "a"]}}) == (
        PREFIX + "rollout.alarms: alarm names listed more than once: 'a'"
    )
    assert "rollout.alarms: at most 98 entries allowed, got 99" in rejection(
        {"rollout": {"alarms": [f"a{i}" for i in range(99)]}}
    )
    assert len(config(rollout={"alarms": [f"a{i}" for i in range(98)]}).rollout.alarms) == 98


def test_environment_rules() -> None:
    assert rejection({"environment": {"MY-VAR": "x"}}) == (
        PREFIX + "environment key 'MY-VAR': should start with a letter or underscore and hold only letters, "
        "digits and underscores"
    )
    assert "environment key 'AAAAA" in rejection({"environment": {"A" * 1025: "x"}})
    assert "environment.V: Value error, is" not in rejection({"environment": {"V": "é" * 513}})
    assert rejection({"environment": {"V": "é" * 513}}) == (
        PREFIX + "environment.V: is 1026 bytes long in UTF-8; SageMaker allows 1024 per key and value"
    )
    assert config(environment={"V": "é" * 512}).environment == {"V": "é" * 512}
    assert "environment: at most 100 entries allowed, got 101" in rejection(
        {"environment": {f"K{i}": "" for i in range(101)}}
    )
    assert "containers[0].environment.N: Input should be a valid string (got 1)" in rejection(
        {"containers": [{"image": IMAGE, "environment": {"N": 1}}]}
    )


def test_environment_is_at_most_32_kb_across_all_containers() -> None:
    big = {f"K{i:02d}": "v" * 1021 for i in range(16)}  # 16 x 1024 bytes = 16 KB per container
    assert environment_bytes(big) == 16 * 1024
    assert config(containers=[{"image": IMAGE, "environment": big}, {"image": IMAGE, "environment": big}])
    over = {**big, "EXTRA": "x"}
    assert rejection(
        {"containers": [{"image": IMAGE, "environment": big}, {"image": IMAGE, "environment": over}]}
    ) == (
        PREFIX + "the environment variables total 32774 bytes; SageMaker allows 32768 (32 KB) for all "
        "containers of a model together"
    )


# --------------------------------------------------------------------------------------------------
# Image allow-list
# --------------------------------------------------------------------------------------------------

ALLOWED = ("*.dkr.ecr.*.amazonaws.com", "registry.example.com:5000")


@pytest.mark.parametrize(
    "image",
    [
        IMAGE,
        f"{ECR}/team/fraud@sha256:" + "a" * 64,
        "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-inference:2.3",
        "123456789012.DKR.ECR.us-east-1.AMAZONAWS.COM/fraud:1",
        "registry.example.com:5000/fraud:1",
    ],
)
def test_allowed_images(image: str) -> None:
    check_image(image, ALLOWED)


def test_an_image_from_another_registry_is_rejected_with_the_allow_list() -> None:
    with pytest.raises(RejectedConfiguration) as caught:
        check_image("ghcr.io/someone/miner:latest", ALLOWED)
    assert caught.value.reason == (
        "image 'ghcr.io/someone/miner:latest' comes from registry 'ghcr.io', which is not on the allow-list "
        "(allowed: *.dkr.ecr.*.amazonaws.com, registry.example.com:5000); push the image to an allowed "
        "registry or have the stack's allow-list extended"
    )


@pytest.mark.parametrize("image", ["nginx:latest", "nginx", "team/app:1", "library/python:3.13"])
def test_docker_hub_shorthand_is_rejected(image: str) -> None:
    with pytest.raises(RejectedConfiguration) as caught:
        check_image(image, ALLOWED)
    assert caught.value.reason == (
        f"image {image!r} names no registry host (Docker Hub shorthand): give the full URI, e.g. "
        "<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>, from an allowed registry "
        "(allowed: *.dkr.ecr.*.amazonaws.com, registry.example.com:5000)"
    )


def test_an_empty_allow_list_allows_nothing() -> None:
    with pytest.raises(RejectedConfiguration, match=r"\(allowed: none\)"):
        check_image(IMAGE, [])


@pytest.mark.parametrize(
    ("pattern", "registry", "matches"),
    [
        ("*.dkr.ecr.*.amazonaws.com", ECR, True),
        ("*.dkr.ecr.*.amazonaws.com", "evil.com/x.dkr.ecr.us-east-1.amazonaws.com", False),
        ("*.dkr.ecr.*.amazonaws.com", "a.b.dkr.ecr.us-east-1.amazonaws.com", False),
        ("*.dkr.ecr.*.amazonaws.com", "123.dkr.ecr.us-east-1.amazonaws.com.evil.com", False),
        ("*.dkr.ecr.*.amazonaws.com", ".dkr.ecr.us-east-1.amazonaws.com", False),
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com", ECR, True),
        (
            "123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "123456789012.dkr.ecr.us-east-2.amazonaws.com",
            False,
        ),
        ("ecr-*.example.com", "ecr-prod.example.com", True),
        ("ecr-*.example.com", "ecr-.example.com", False),
        ("ecr-*.example.com", "prod.example.com", False),
        ("a+b.example.com", "aab.example.com", False),
        ("localhost:5000", "localhost:5000", True),
    ],
)
def test_registry_patterns(pattern: str, registry: str, matches: bool) -> None:
    assert registry_matches(pattern, registry) is matches


@pytest.mark.parametrize(
    ("image", "registry"),
    [
        (IMAGE, ECR),
        ("localhost/x", "localhost"),
        ("localhost:5000/x", "localhost:5000"),
        ("nginx", None),
        ("team/app", None),
        ("r.io", None),
    ],
)
def test_image_registry(image: str, registry: str | None) -> None:
    assert image_registry(image) == registry


def test_default_allow_list() -> None:
    assert default_allowed_registries("123456789012", "us-east-1") == (
        "123456789012.dkr.ecr.us-east-1.amazonaws.com",
        "763104351884.dkr.ecr.*.amazonaws.com",
        "683313688378.dkr.ecr.us-east-1.amazonaws.com",
    )
    assert DEFAULT_ALLOWED_REGISTRIES is default_allowed_registries


def test_default_allow_list_in_a_region_with_its_own_dlc_account_and_in_china() -> None:
    assert default_allowed_registries("123456789012", "af-south-1") == (
        "123456789012.dkr.ecr.af-south-1.amazonaws.com",
        "763104351884.dkr.ecr.*.amazonaws.com",
        "626614931356.dkr.ecr.af-south-1.amazonaws.com",
        "510948584623.dkr.ecr.af-south-1.amazonaws.com",
    )
    china = default_allowed_registries("123456789012", "cn-north-1")
    assert china[0] == "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn"
    assert "727897471807.dkr.ecr.cn-north-1.amazonaws.com.cn" in china
    assert ecr_registry("1", "eu-west-1") == "1.dkr.ecr.eu-west-1.amazonaws.com"


def test_default_allow_list_in_an_unlisted_region_keeps_this_account_and_the_dlc_pattern() -> None:
    assert default_allowed_registries("123456789012", "xx-future-9") == (
        "123456789012.dkr.ecr.xx-future-9.amazonaws.com",
        "763104351884.dkr.ecr.*.amazonaws.com",
    )


def test_default_allow_list_checks_its_inputs() -> None:
    with pytest.raises(ValueError, match="account id must be 12 digits"):
        default_allowed_registries("*", "us-east-1")
    with pytest.raises(ValueError, match="not an AWS Region name"):
        default_allowed_registries("123456789012", "*")


def test_the_default_allow_list_admits_dlc_and_own_images_only() -> None:
    allowed = default_allowed_registries("123456789012", "eu-west-1")
    check_image("763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-inference:2.3.0-cpu-py311", allowed)
    check_image("123456789012.dkr.ecr.eu-west-1.amazonaws.com/mine:1", allowed)
    check_image("141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1", allowed)
    with pytest.raises(RejectedConfiguration):
        check_image("999999999999.dkr.ecr.eu-west-1.amazonaws.com/theirs:1", allowed)


# --------------------------------------------------------------------------------------------------
# Capacity
# --------------------------------------------------------------------------------------------------


def test_autoscaling_target_is_max_rps_times_safety_times_60() -> None:
    assert autoscaling_target(Autoscaling(min=1, max=2, max_rps=50, safety_factor=0.5)) == 1500.0
    assert autoscaling_target(Autoscaling(min=1, max=2, max_rps=3.5, safety_factor=1)) == 210.0


def test_two_or_more_instances_need_no_warning() -> None:
    assert instance_count_warning(2, require_multi_instance=True) is None
    assert instance_count_warning(7, require_multi_instance=False) is None


def test_a_single_instance_is_a_warning() -> None:
    assert instance_count_warning(1, require_multi_instance=False, what="endpoint 'fraud'") == (
        "endpoint 'fraud' runs on a single instance: while SageMaker replaces it (host failure, patching, "
        "an update) the endpoint cannot serve. With two or more instances SageMaker spreads them across "
        "Availability Zones: set initial_instance_count (and autoscaling min) to 2 or more, or "
        "require_multi_instance to refuse single-instance deployments"
    )


def test_a_single_instance_is_rejected_when_multi_instance_is_required() -> None:
    with pytest.raises(RejectedConfiguration) as caught:
        instance_count_warning(1, require_multi_instance=True)
    assert caught.value.reason == (
        "the endpoint would run on a single instance, and deploy.json sets require_multi_instance: set "
        "initial_instance_count (and autoscaling min) to 2 or more"
    )


def test_instance_count_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        instance_count_warning(0, require_multi_instance=False)


# Issue 13: an image refused by the allow-list is named by its field, like every other deploy.json error.
def test_check_images_names_the_field_of_the_refused_image() -> None:
    single = parse_deploy_config(json.dumps({"image": "ghcr.io/someone/miner:latest"}).encode())
    with pytest.raises(RejectedConfiguration) as caught:
        check_images(single, ALLOWED)
    assert caught.value.reason.startswith("image: image 'ghcr.io/someone/miner:latest' comes from registry")

    pipeline = parse_deploy_config(
        json.dumps({"containers": [{"image": IMAGE, "model_data": None}, {"image": "nginx:latest"}]}).encode()
    )
    with pytest.raises(RejectedConfiguration) as caught:
        check_images(pipeline, ALLOWED)
    assert caught.value.reason.startswith("containers[1].image: image 'nginx:latest' names no registry host")

    check_images(parse_deploy_config(b"{}"), [])  # nothing named: the production image is kept


# -- rollout.analysis ------------------------------------------------------------------------------


def test_analysis_null_turns_it_off_and_keys_are_read() -> None:
    assert config(rollout={"analysis": None}).rollout.analysis is None
    analysis = config(
        rollout={
            "bake_seconds": 120,
            "analysis": {
                "min_invocations": 500,
                "max_bake_seconds": 600,
                "error_rate_tolerance": 0.005,
                "latency_tolerance": 0.2,
                "latency_percentile": 99,
                "confidence": 0.99,
            },
        }
    ).rollout.analysis
    assert analysis is not None
    assert (analysis.min_invocations, analysis.max_bake_seconds, analysis.confidence) == (500, 600, 0.99)
    assert (analysis.error_rate_tolerance, analysis.latency_tolerance, analysis.latency_percentile) == (
        0.005,
        0.2,
        99,
    )


def test_an_analysis_that_would_cut_the_bake_short_is_refused_but_the_default_stretches() -> None:
    message = rejection({"rollout": {"bake_seconds": 600, "analysis": {"max_bake_seconds": 300}}})
    assert (
        "analysis.max_bake_seconds (300) is below bake_seconds (600): a bake may only be extended, "
        "never cut short"
    ) in message
    # left to its default (1800), max_bake_seconds is no reason to refuse a day-long bake
    assert config(rollout={"bake_seconds": 86400}).rollout.bake_seconds == 86400


@pytest.mark.parametrize(
    ("analysis", "message"),
    [
        ({"confidence": 1}, "rollout.analysis.confidence: Input should be less than or equal to 0.9999"),
        (
            {"min_invocations": 0},
            "rollout.analysis.min_invocations: Input should be greater than or equal to 1",
        ),
        (
            {"latency_percentile": 100},
            "rollout.analysis.latency_percentile: Input should be less than or equal",
        ),
        ({"threshold": 1}, "unknown key rollout.analysis.threshold; allowed keys: min_invocations,"),
    ],
)
def test_analysis_settings_out_of_range_are_named(analysis: dict[str, object], message: str) -> None:
    assert message in rejection({"rollout": {"analysis": analysis}})
