"""Rules of the batch domain: batch.json, content types, manifests, job names, plans, statuses, retries."""

from __future__ import annotations

import json
import re

import pytest

from sluice.domain.batch import (
    BATCH_FINAL_STATES,
    MANIFEST_MAX_ENTRIES,
    BatchSettings,
    Manifest,
    check_manifest_buckets,
    infer_content_type,
    infer_manifest_content_type,
    next_job_status,
    parse_batch_settings,
    parse_manifest,
    plan_transform_job,
    retry_delay_seconds,
    transform_job_name,
)
from sluice.errors import RejectedConfiguration

SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
DEFAULTS = BatchSettings()


def settings(**values: object) -> BatchSettings:
    return parse_batch_settings(json.dumps(values).encode())


def rejection(raw: bytes | str) -> str:
    with pytest.raises(RejectedConfiguration) as caught:
        parse_batch_settings(raw.encode() if isinstance(raw, str) else raw)
    assert caught.value.code == "InvalidConfiguration"
    return caught.value.reason


# --------------------------------------------------------------------------------------------------
# batch.json
# --------------------------------------------------------------------------------------------------


def test_empty_object_gives_the_defaults() -> None:
    parsed = parse_batch_settings(b"{}")
    assert parsed == DEFAULTS
    assert parsed.instance_type is None
    assert parsed.instance_count == 1
    assert parsed.split_type == "Line"
    assert parsed.batch_strategy == "MultiRecord"
    assert parsed.max_payload_in_mb == 6
    assert parsed.max_concurrent_transforms is None
    assert parsed.assemble_with == "Line"
    assert parsed.compression_type == "None"
    assert parsed.environment == {}


def test_every_key_is_read() -> None:
    raw = {
        "instance_type": "ml.g4dn.xlarge",
        "instance_count": 4,
        "split_type": "RecordIO",
        "batch_strategy": "SingleRecord",
        "max_payload_in_mb": 20,
        "max_concurrent_transforms": 5,
        "assemble_with": "None",
        "accept": "application/json",
        "content_type": "application/x-image",
        "compression_type": "Gzip",
        "data_processing": {"input_filter": "$[1:]", "output_filter": "$[0,-1]", "join_source": "Input"},
        "environment": {"MODEL_THREADS": "4", "_X": ""},
        "model_client_config": {"invocations_timeout_in_seconds": 3600, "invocations_max_retries": 0},
    }
    parsed = settings(**raw)
    assert parsed.model_dump() == raw


def test_a_utf8_byte_order_mark_is_accepted() -> None:
    assert parse_batch_settings(b'\xef\xbb\xbf{"instance_count": 2}').instance_count == 2


def test_invalid_json_names_line_and_column() -> None:
    assert rejection('{\n  "instance_count" 2\n}') == (
        "batch.json is not valid JSON: Expecting ':' delimiter at line 2, column 20"
    )


def test_non_utf8_is_rejected() -> None:
    assert rejection(b'{"accept": "\xff"}') == "batch.json is not UTF-8 text (byte 12: invalid start byte)"


def test_unreadable_json_numbers_are_rejected() -> None:
    assert "batch.json cannot be read as JSON" in rejection('{"instance_count": ' + "9" * 5000 + "}")


def test_deeply_nested_json_is_rejected() -> None:
    assert "batch.json cannot be read as JSON" in rejection("[" * 100_000 + "]" * 100_000)


@pytest.mark.parametrize(
    ("raw", "kind"),
    [("[]", "an array"), ('"x"', "a string"), ("3", "a number"), ("true", "a boolean"), ("null", "null")],
)
def test_non_object_json_is_rejected(raw: str, kind: str) -> None:
    assert rejection(raw) == (
        f'batch.json must be a JSON object of settings, not {kind}; for example {{"instance_count": 2}}'
    )


def test_duplicate_keys_are_rejected() -> None:
    assert rejection('{"instance_count": 1, "instance_count": 2}') == (
        "batch.json has the key 'instance_count' more than once"
    )


def test_unknown_keys_list_the_allowed_ones() -> None:
    reason = rejection('{"instances": 2}')
    assert reason.startswith("batch.json is invalid: unknown key instances; allowed keys: instance_type, ")
    assert "model_client_config" in reason


def test_camel_case_keys_get_the_snake_case_hint() -> None:
    assert "unknown key InstanceCount (did you mean 'instance_count'? keys are snake_case)" in rejection(
        '{"InstanceCount": 2}'
    )


def test_unknown_nested_keys_name_their_path() -> None:
    assert rejection('{"data_processing": {"joinSource": "Input"}}') == (
        "batch.json is invalid: unknown key data_processing.joinSource (did you mean 'join_source'? keys "
        "are snake_case); allowed keys: input_filter, output_filter, join_source"
    )


def test_all_errors_are_reported_together() -> None:
    assert rejection('{"instance_count": 0, "split_type": "line"}') == (
        "batch.json is invalid: instance_count: Input should be greater than or equal to 1 (got 0); "
        "split_type: Input should be 'None', 'Line', 'RecordIO' or 'TFRecord' (got 'line')"
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"instance_count": "2"}', "instance_count: Input should be a valid integer (got '2')"),
        ('{"instance_count": true}', "instance_count: Input should be a valid integer (got True)"),
        ('{"instance_count": 101}', "instance_count: Input should be less than or equal to 100 (got 101)"),
        (
            '{"instance_type": "m5.large"}',
            "instance_type: should be an ML instance type such as ml.m5.xlarge",
        ),
        ('{"max_payload_in_mb": 101}', "max_payload_in_mb: Input should be less than or equal to 100"),
        ('{"max_payload_in_mb": -1}', "max_payload_in_mb: Input should be greater than or equal to 0"),
        ('{"max_concurrent_transforms": -1}', "max_concurrent_transforms: Input should be greater than"),
        ('{"batch_strategy": "Multi"}', "batch_strategy: Input should be 'MultiRecord' or 'SingleRecord'"),
        ('{"assemble_with": "Newline"}', "assemble_with: Input should be 'None' or 'Line'"),
        ('{"compression_type": "gzip"}', "compression_type: Input should be 'None' or 'Gzip'"),
        ('{"accept": ""}', "accept: String should have at least 1 character"),
        ('{"content_type": "' + "a" * 257 + '"}', "content_type: String should have at most 256 characters"),
        ('{"data_processing": "$"}', "data_processing: should be a JSON object (got '$')"),
        ('{"model_client_config": []}', "model_client_config: should be a JSON object (got [])"),
        ('{"environment": []}', "environment: should be a JSON object (got [])"),
        ('{"environment": {"N": 1}}', "environment.N: Input should be a valid string (got 1)"),
        (
            '{"data_processing": {"input_filter": "' + "$" * 64 + '"}}',
            "data_processing.input_filter: String should have at most 63 characters",
        ),
        (
            '{"data_processing": {"join_source": "Output"}}',
            "data_processing.join_source: Input should be 'None' or 'Input' (got 'Output')",
        ),
        (
            '{"model_client_config": {"invocations_timeout_in_seconds": 3601}}',
            "model_client_config.invocations_timeout_in_seconds: Input should be less than or equal to 3600",
        ),
        (
            '{"model_client_config": {"invocations_max_retries": 4}}',
            "model_client_config.invocations_max_retries: Input should be less than or equal to 3",
        ),
    ],
)
def test_field_limits(raw: str, expected: str) -> None:
    assert expected in rejection(raw)


def test_environment_keys_follow_the_sagemaker_pattern() -> None:
    assert rejection('{"environment": {"MY-VAR": "x"}}') == (
        "batch.json is invalid: environment key 'MY-VAR': should start with a letter or underscore and "
        "hold only letters, digits and underscores (at most 1024 characters)"
    )
    assert settings(environment={"A" * 1024: "x"}).environment == {"A" * 1024: "x"}
    assert "environment key" in rejection(json.dumps({"environment": {"A" * 1025: "x"}}))


def test_environment_values_are_at_most_10240_characters() -> None:
    assert settings(environment={"V": "x" * 10240}).environment["V"] == "x" * 10240
    assert "environment.V: String should have at most 10240 characters" in rejection(
        json.dumps({"environment": {"V": "x" * 10241}})
    )


def test_environment_holds_at_most_16_entries() -> None:
    assert len(settings(environment={f"K{i}": "v" for i in range(16)}).environment) == 16
    assert rejection(json.dumps({"environment": {f"K{i}": "v" for i in range(17)}})) == (
        "batch.json is invalid: environment: at most 16 entries allowed, got 17"
    )


def test_payload_times_concurrency_is_at_most_100_mb() -> None:
    assert settings(max_payload_in_mb=10, max_concurrent_transforms=10).max_concurrent_transforms == 10
    assert rejection('{"max_concurrent_transforms": 20}') == (
        "batch.json is invalid: max_concurrent_transforms (20) x max_payload_in_mb (6) = 120 MB, but "
        "SageMaker allows at most 100 MB: lower max_concurrent_transforms to 16 or max_payload_in_mb to 5"
    )


def test_payload_zero_and_concurrency_zero_escape_the_product_rule() -> None:
    assert settings(max_payload_in_mb=0, max_concurrent_transforms=1000).max_concurrent_transforms == 1000
    assert settings(max_payload_in_mb=100, max_concurrent_transforms=0).max_payload_in_mb == 100


def test_payload_100_without_concurrency_is_allowed() -> None:
    assert settings(max_payload_in_mb=100).max_payload_in_mb == 100


def test_single_record_without_splitting_is_allowed() -> None:
    parsed = settings(batch_strategy="SingleRecord", split_type="None")
    assert (parsed.batch_strategy, parsed.split_type) == ("SingleRecord", "None")


def test_payload_zero_is_allowed_with_either_strategy() -> None:
    assert settings(max_payload_in_mb=0, batch_strategy="MultiRecord").max_payload_in_mb == 0
    assert settings(max_payload_in_mb=0, batch_strategy="SingleRecord").max_payload_in_mb == 0


# --------------------------------------------------------------------------------------------------
# Content type
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("data.csv", "text/csv"),
        ("nested/dir/DATA.CSV", "text/csv"),
        ("a.jsonl", "application/jsonlines"),
        ("a.jsonlines", "application/jsonlines"),
        ("a.json", "application/json"),
        ("a.txt", "text/plain"),
        ("a.parquet", "application/x-parquet"),
        ("a.npy", "application/x-npy"),
        ("a.recordio", "application/x-recordio-protobuf"),
        ("a.rec", "application/x-recordio-protobuf"),
        ("part-0.csv.gz", "text/csv"),
        ("part-0.jsonl.GZ", "application/jsonlines"),
    ],
)
def test_content_type_by_extension(path: str, expected: str) -> None:
    assert infer_content_type(path, DEFAULTS) == expected


def test_content_type_setting_wins() -> None:
    assert infer_content_type("a.csv", settings(content_type="application/x-image")) == "application/x-image"
    assert infer_content_type("no-extension", settings(content_type="image/png")) == "image/png"


def test_unknown_extension_is_rejected_with_the_fix() -> None:
    with pytest.raises(RejectedConfiguration) as caught:
        infer_content_type("images/cat.png", DEFAULTS)
    assert caught.value.reason.startswith(
        "cannot infer the content type of 'images/cat.png' from its extension .png (known: .csv, .jsonl"
    )
    assert caught.value.reason.endswith(
        'optionally followed by .gz); set "content_type" in the model\'s batch.json '
        "(batch/<model>/batch.json)"
    )


def test_missing_extension_is_rejected() -> None:
    with pytest.raises(
        RejectedConfiguration, match=r"'dir.v2/data': it has no file extension; set \"content_"
    ):
        infer_content_type("dir.v2/data", DEFAULTS)


def test_gz_without_inner_extension_is_rejected() -> None:
    with pytest.raises(RejectedConfiguration, match=r"'data.gz': no file extension before .gz; set"):
        infer_content_type("data.gz", DEFAULTS)


def test_manifest_content_type_when_all_objects_agree() -> None:
    assert infer_manifest_content_type(["a.csv", "b/c.CSV", "d.csv.gz"], DEFAULTS) == "text/csv"


def test_manifest_content_type_setting_wins_over_disagreement() -> None:
    assert infer_manifest_content_type(["a.csv", "b.json"], settings(content_type="text/csv")) == "text/csv"


def test_manifest_objects_that_disagree_are_rejected() -> None:
    with pytest.raises(RejectedConfiguration) as caught:
        infer_manifest_content_type(["a.csv", "b.csv", "c.json"], DEFAULTS)
    assert caught.value.reason == (
        "the objects the manifest lists have different content types: text/csv (e.g. 'a.csv'), "
        "application/json (e.g. 'c.json'); one transform job sends one content type, so list objects of "
        'one type or set "content_type" in the model\'s batch.json (batch/<model>/batch.json)'
    )


def test_manifest_object_with_unknown_extension_is_rejected() -> None:
    with pytest.raises(RejectedConfiguration, match=r"'b.bin' from its extension .bin"):
        infer_manifest_content_type(["a.csv", "b.bin"], DEFAULTS)


def test_empty_manifest_list_is_rejected() -> None:
    with pytest.raises(RejectedConfiguration, match="the manifest lists no objects"):
        infer_manifest_content_type([], DEFAULTS)


# --------------------------------------------------------------------------------------------------
# Manifest
# --------------------------------------------------------------------------------------------------


def manifest_rejection(document: object) -> str:
    raw = document if isinstance(document, bytes) else json.dumps(document).encode()
    with pytest.raises(RejectedConfiguration) as caught:
        parse_manifest(raw)
    return caught.value.reason


def test_manifest_is_parsed() -> None:
    manifest = parse_manifest(b'[{"prefix": "s3://my-bucket/batch/m/input/"}, "a.csv", "sub/b.csv"]')
    assert manifest == Manifest(prefix="s3://my-bucket/batch/m/input/", relative_keys=("a.csv", "sub/b.csv"))
    assert manifest.bucket == "my-bucket"
    assert manifest.key_prefix == "batch/m/input/"
    assert manifest.object_keys() == ["batch/m/input/a.csv", "batch/m/input/sub/b.csv"]
    assert manifest.object_uris() == [
        "s3://my-bucket/batch/m/input/a.csv",
        "s3://my-bucket/batch/m/input/sub/b.csv",
    ]


def test_manifest_prefix_is_concatenated_as_sagemaker_does() -> None:
    manifest = parse_manifest(b'[{"prefix": "s3://bucket/day-"}, "01.csv"]')
    assert manifest.object_uris() == ["s3://bucket/day-01.csv"]
    assert parse_manifest(b'[{"prefix": "s3://bucket/"}, "x.csv"]').object_keys() == ["x.csv"]


def test_manifest_must_be_json() -> None:
    assert manifest_rejection(b"[{") == (
        "the manifest is not valid JSON: Expecting property name enclosed in double quotes at line 1, "
        "column 3"
    )


def test_manifest_must_be_an_array() -> None:
    assert manifest_rejection({"prefix": "s3://b/"}) == (
        "the manifest must be a JSON array, not an object; for example "
        '[{"prefix": "s3://bucket/prefix/"}, "part-1.csv", "part-2.csv"]'
    )


@pytest.mark.parametrize(
    "document", [[], ["a.csv"], [{"Prefix": "s3://b/"}], [{"prefix": "s3://b/", "x": 1}]]
)
def test_manifest_must_start_with_the_prefix_object(document: object) -> None:
    assert manifest_rejection(document).startswith(
        'the manifest\'s first element must be {"prefix": "s3://<bucket>/<prefix>"}; for example'
    )


@pytest.mark.parametrize("prefix", ["https://b/p/", "s3://bucket", "b/p/", 5, None])
def test_manifest_prefix_must_be_an_s3_uri(prefix: object) -> None:
    assert manifest_rejection([{"prefix": prefix}, "a.csv"]).startswith(
        "the manifest prefix must be an s3://<bucket>/<prefix> URI, got "
    )


def test_manifest_prefix_bucket_must_be_valid() -> None:
    assert manifest_rejection([{"prefix": "s3://My_Bucket/p/"}, "a.csv"]) == (
        "the manifest prefix 's3://My_Bucket/p/' does not name a valid S3 bucket ('My_Bucket')"
    )


def test_manifest_must_list_objects() -> None:
    assert manifest_rejection([{"prefix": "s3://bucket/p/"}]) == (
        "the manifest lists no objects after its prefix"
    )


def test_manifest_entries_are_limited() -> None:
    document = [{"prefix": "s3://bucket/p/"}] + ["a.csv"] * (MANIFEST_MAX_ENTRIES + 1)
    assert manifest_rejection(document) == (
        "the manifest lists 100001 objects; Sluice accepts at most 100000 per manifest: split it into "
        "several manifests"
    )
    assert len(parse_manifest(json.dumps(document[:-1]).encode()).relative_keys) == MANIFEST_MAX_ENTRIES


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (3, "manifest entry 2 must be a string (a key relative to the prefix), got 3"),
        ({"key": "a"}, "manifest entry 2 must be a string (a key relative to the prefix), got {'key': 'a'}"),
        ("", "manifest entry 2 is empty"),
        (
            "/abs.csv",
            "manifest entry 2 ('/abs.csv') must be relative to the prefix 's3://bucket/p/', without",
        ),
        ("s3://bucket/p/x.csv", "manifest entry 2 ('s3://bucket/p/x.csv') must be relative to the prefix"),
        ("k" * 1023, "manifest entry 2 ('kkkkkk"),
    ],
)
def test_manifest_entries_are_checked(entry: object, expected: str) -> None:
    assert manifest_rejection([{"prefix": "s3://bucket/p/"}, "ok.csv", entry]).startswith(expected)


# Issue 13: a manifest could point SageMaker (with the model's role) at any bucket that role reads.
def test_a_manifest_in_another_bucket_is_rejected_naming_the_entry_and_the_bucket() -> None:
    manifest = parse_manifest(b'[{"prefix": "s3://payroll-exports/2026/"}, "salaries.csv", "b.csv"]')

    with pytest.raises(RejectedConfiguration) as caught:
        check_manifest_buckets(manifest, "artifacts", ["extra-inputs"])

    assert caught.value.reason == (
        "the manifest's prefix 's3://payroll-exports/2026/' puts entry 1 ('salaries.csv') in bucket "
        "'payroll-exports', which batch jobs may not read: batch input "
        "comes from the artifact bucket 'artifacts' or a bucket of the stack parameter BatchInputBuckets "
        "(now: extra-inputs); copy the data into the artifact bucket, or have 'payroll-exports' added to "
        "BatchInputBuckets"
    )


def test_a_manifest_names_none_when_no_input_buckets_are_configured() -> None:
    manifest = parse_manifest(b'[{"prefix": "s3://artifacts-archive/"}, "a.csv"]')
    with pytest.raises(RejectedConfiguration, match=r"BatchInputBuckets \(now: none\)"):
        check_manifest_buckets(manifest, "artifacts", [])


@pytest.mark.parametrize("bucket", ["artifacts", "extra-inputs"])
def test_a_manifest_in_the_artifact_bucket_or_an_input_bucket_is_accepted(bucket: str) -> None:
    manifest = parse_manifest(f'[{{"prefix": "s3://{bucket}/data/"}}, "a.csv"]'.encode())
    check_manifest_buckets(manifest, "artifacts", ["extra-inputs"])


def test_manifest_keys_longer_than_s3_allows_are_rejected() -> None:
    assert manifest_rejection([{"prefix": "s3://bucket/p/"}, "é" * 512]).endswith(
        "makes an S3 key longer than 1024 bytes"
    )
    assert parse_manifest(json.dumps([{"prefix": "s3://bucket/p/"}, "k" * 1022]).encode())


# --------------------------------------------------------------------------------------------------
# Job name
# --------------------------------------------------------------------------------------------------


def test_job_name_shape() -> None:
    name = transform_job_name("churn", "batch/churn/input/day1.csv", "v1")
    assert re.fullmatch(r"sluice-churn-[0-9a-f]{12}", name)


def test_job_name_is_deterministic_and_depends_on_every_input() -> None:
    name = transform_job_name("m", "batch/m/input/a.csv", "v1")
    assert name == transform_job_name("m", "batch/m/input/a.csv", "v1")
    assert name != transform_job_name("m", "batch/m/input/a.csv", "v2")
    assert name != transform_job_name("m", "batch/m/input/b.csv", "v1")
    assert name[-12:] != transform_job_name("n", "batch/m/input/a.csv", "v1")[-12:]


def test_job_name_inputs_cannot_be_shifted_between_fields() -> None:
    assert transform_job_name("m", "ab", "c") != transform_job_name("m", "a", "bc")


def test_long_model_names_are_cut_and_trailing_hyphens_stripped() -> None:
    model = "a" * 42 + "--" + "b" * 19  # 63 characters; the cut falls inside the hyphen run
    name = transform_job_name(model, "k", "v")
    assert len(name) <= 63
    assert name.startswith("sluice-" + "a" * 42 + "-")
    assert "--" not in name[:-13]
    assert SAGEMAKER_NAME.fullmatch(name)


def test_max_length_model_name_fills_63_characters() -> None:
    name = transform_job_name("x" * 63, "k", "v")
    assert len(name) == 63
    assert name.startswith("sluice-" + "x" * 43 + "-")


@pytest.mark.parametrize("model", ["", "---", "my_model.v2", "ünïcode"])
def test_any_model_string_gives_a_valid_name(model: str) -> None:
    assert SAGEMAKER_NAME.fullmatch(transform_job_name(model, "k", "v"))


def test_model_without_name_characters_gives_prefix_and_digest() -> None:
    assert re.fullmatch(r"sluice-[0-9a-f]{12}", transform_job_name("", "k", "v"))


# --------------------------------------------------------------------------------------------------
# Plan
# --------------------------------------------------------------------------------------------------


def plan(
    *,
    settings_: BatchSettings = DEFAULTS,
    relative_path: str = "day1.csv",
    manifest: Manifest | None = None,
) -> tuple[str, dict[str, object], tuple[str, ...]]:
    result = plan_transform_job(
        model="churn",
        bucket="artifacts",
        key=f"batch/churn/input/{relative_path}",
        version="3sL4kqtJlcpXroDTDmJ",
        relative_path=relative_path,
        is_manifest=manifest is not None,
        settings=settings_,
        default_instance_type="ml.m5.xlarge",
        manifest=manifest,
    )
    assert result.output_uri == f"s3://artifacts/batch/churn/output/{result.job_name}/"
    return result.job_name, result.request, result.warnings


def test_plan_for_a_single_object_with_defaults() -> None:
    job_name, request, warnings = plan()
    assert job_name == transform_job_name("churn", "batch/churn/input/day1.csv", "3sL4kqtJlcpXroDTDmJ")
    assert request == {
        "TransformJobName": job_name,
        "ModelName": "churn",
        "TransformInput": {
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": "s3://artifacts/batch/churn/input/day1.csv",
                }
            },
            "ContentType": "text/csv",
            "SplitType": "Line",
            "CompressionType": "None",
        },
        "TransformOutput": {
            "S3OutputPath": f"s3://artifacts/batch/churn/output/{job_name}/",
            "AssembleWith": "Line",
        },
        "TransformResources": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1},
        "BatchStrategy": "MultiRecord",
        "MaxPayloadInMB": 6,
        "Tags": [{"Key": "sluice:managed", "Value": "true"}, {"Key": "sluice:model", "Value": "churn"}],
    }
    assert warnings == ()


def test_plan_carries_every_optional_setting() -> None:
    configured = settings(
        instance_type="ml.c5.2xlarge",
        split_type="None",
        batch_strategy="SingleRecord",
        max_payload_in_mb=10,
        max_concurrent_transforms=4,
        assemble_with="None",
        accept="application/jsonlines",
        content_type="application/json",
        compression_type="Gzip",
        data_processing={"input_filter": "$.features"},
        environment={"THREADS": "2"},
        model_client_config={},
    )
    _, request, warnings = plan(settings_=configured, relative_path="x.json.gz")
    assert request["TransformInput"] == {
        "DataSource": {
            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://artifacts/batch/churn/input/x.json.gz"}
        },
        "ContentType": "application/json",
        "SplitType": "None",
        "CompressionType": "Gzip",
    }
    assert request["TransformOutput"] == {
        "S3OutputPath": request["TransformOutput"]["S3OutputPath"],  # type: ignore[index]
        "AssembleWith": "None",
        "Accept": "application/jsonlines",
    }
    assert request["TransformResources"] == {"InstanceType": "ml.c5.2xlarge", "InstanceCount": 1}
    assert request["BatchStrategy"] == "SingleRecord"
    assert request["MaxPayloadInMB"] == 10
    assert request["MaxConcurrentTransforms"] == 4
    assert request["Environment"] == {"THREADS": "2"}
    assert request["DataProcessing"] == {"JoinSource": "None", "InputFilter": "$.features"}
    assert request["ModelClientConfig"] == {"InvocationsTimeoutInSeconds": 600, "InvocationsMaxRetries": 3}
    assert warnings == ()


def test_plan_sends_concurrency_zero_and_both_filters() -> None:
    configured = settings(
        max_concurrent_transforms=0,
        data_processing={"input_filter": "$[1:]", "output_filter": "$[0,-1]", "join_source": "Input"},
    )
    _, request, _ = plan(settings_=configured)
    assert request["MaxConcurrentTransforms"] == 0
    assert request["DataProcessing"] == {
        "JoinSource": "Input",
        "InputFilter": "$[1:]",
        "OutputFilter": "$[0,-1]",
    }


def test_plan_sends_only_the_filters_that_are_set() -> None:
    _, request, _ = plan(settings_=settings(data_processing={"output_filter": "$['id','SageMakerOutput']"}))
    assert request["DataProcessing"] == {"JoinSource": "None", "OutputFilter": "$['id','SageMakerOutput']"}


def test_plan_for_a_manifest() -> None:
    manifest = parse_manifest(b'[{"prefix": "s3://artifacts/data/"}, "a.jsonl", "b.jsonl"]')
    _, request, warnings = plan(
        settings_=settings(instance_count=2), relative_path="x.manifest.json", manifest=manifest
    )
    assert request["TransformInput"]["DataSource"] == {  # type: ignore[index]
        "S3DataSource": {
            "S3DataType": "ManifestFile",
            "S3Uri": "s3://artifacts/batch/churn/input/x.manifest.json",
        }
    }
    assert request["TransformInput"]["ContentType"] == "application/jsonlines"  # type: ignore[index]
    assert warnings == ()


def test_plan_warns_when_instances_outnumber_a_single_object() -> None:
    _, request, warnings = plan(settings_=settings(instance_count=3))
    assert request["TransformResources"] == {"InstanceType": "ml.m5.xlarge", "InstanceCount": 3}
    assert warnings == (
        "instance_count is 3 but the input is a single object: SageMaker Batch Transform distributes work "
        "between instances by S3 object, so 2 instance(s) will sit idle (and be billed). Split the input "
        "into at least 3 objects and upload a manifest (*.manifest.json) listing them, or lower "
        "instance_count in batch.json",
    )


def test_plan_warns_for_a_manifest_of_one_object() -> None:
    manifest = parse_manifest(b'[{"prefix": "s3://artifacts/data/"}, "only.csv"]')
    _, _, warnings = plan(
        settings_=settings(instance_count=2), relative_path="x.manifest.json", manifest=manifest
    )
    assert len(warnings) == 1
    assert warnings[0].startswith("instance_count is 2 but the input is a single object")


def test_plan_warns_for_a_manifest_with_fewer_objects_than_instances() -> None:
    manifest = parse_manifest(b'[{"prefix": "s3://artifacts/data/"}, "a.csv", "b.csv"]')
    _, _, warnings = plan(
        settings_=settings(instance_count=5), relative_path="x.manifest.json", manifest=manifest
    )
    assert warnings[0].startswith("instance_count is 5 but the input is 2 objects: SageMaker Batch Transform")
    assert "so 3 instance(s) will sit idle" in warnings[0]


def test_plan_warns_about_gzip_input_sent_uncompressed() -> None:
    _, _, warnings = plan(relative_path="day1.csv.gz")
    assert warnings == (
        'the input ends in .gz but compression_type is "None": SageMaker will send the compressed bytes to '
        'the model; set "compression_type": "Gzip" in batch.json to have it decompress them',
    )


def test_plan_warns_about_chunked_encoding() -> None:
    _, _, warnings = plan(settings_=settings(max_payload_in_mb=0))
    assert warnings == (
        "max_payload_in_mb is 0 (HTTP chunked encoding): only containers that support chunked encoding "
        "can serve it; SageMaker's built-in algorithms do not",
    )


def test_plan_rejects_an_input_without_a_content_type() -> None:
    with pytest.raises(RejectedConfiguration, match=r"cannot infer the content type of 'photo\.png'"):
        plan(relative_path="photo.png")


def test_plan_needs_the_manifest_exactly_when_the_input_is_one() -> None:
    common = {
        "model": "m",
        "bucket": "b",
        "key": "batch/m/input/x.manifest.json",
        "version": "v",
        "relative_path": "x.manifest.json",
        "settings": DEFAULTS,
        "default_instance_type": "ml.m5.xlarge",
    }
    with pytest.raises(ValueError, match="pass the parsed manifest exactly when is_manifest is true"):
        plan_transform_job(is_manifest=True, manifest=None, **common)  # type: ignore[arg-type]
    manifest = Manifest(prefix="s3://b/", relative_keys=("a.csv",))
    with pytest.raises(ValueError, match="pass the parsed manifest"):
        plan_transform_job(is_manifest=False, manifest=manifest, **common)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# Job status
# --------------------------------------------------------------------------------------------------


def test_final_states() -> None:
    assert {"Completed", "Failed", "Stopped"} == BATCH_FINAL_STATES


@pytest.mark.parametrize(
    ("current", "incoming", "expected"),
    [
        (None, "QUEUED", "QUEUED"),
        (None, "InProgress", "InProgress"),
        (None, "Completed", "Completed"),
        ("QUEUED", "STARTING", "STARTING"),
        ("STARTING", "QUEUED", "QUEUED"),
        ("STARTING", "STARTED", "STARTED"),
        ("QUEUED", "START_FAILED", "START_FAILED"),
        ("STARTING", "REJECTED", "REJECTED"),
        ("QUEUED", "InProgress", "InProgress"),
        ("STARTED", "InProgress", "InProgress"),
        ("STARTED", "Failed", "Failed"),
        ("START_FAILED", "InProgress", "InProgress"),
        ("InProgress", "Stopping", "Stopping"),
        ("InProgress", "Completed", "Completed"),
        ("Stopping", "Stopped", "Stopped"),
        ("Stopping", "Completed", "Completed"),
    ],
)
def test_status_moves_forward(current: str | None, incoming: str, expected: str) -> None:
    assert next_job_status(current, incoming) == expected


@pytest.mark.parametrize(
    ("current", "incoming"),
    [
        ("QUEUED", "QUEUED"),
        ("InProgress", "InProgress"),
        ("Completed", "Completed"),
        ("STARTED", "QUEUED"),
        ("STARTED", "STARTING"),
        ("START_FAILED", "STARTED"),
        ("REJECTED", "QUEUED"),
        ("InProgress", "STARTED"),
        ("InProgress", "QUEUED"),
        ("Stopping", "InProgress"),
        ("Completed", "InProgress"),
        ("Completed", "Stopping"),
        ("Failed", "Completed"),
        ("Stopped", "Failed"),
        ("Completed", "STARTED"),
    ],
)
def test_status_ignores_duplicates_and_late_events(current: str, incoming: str) -> None:
    assert next_job_status(current, incoming) is None


def test_unknown_statuses_are_programming_errors() -> None:
    with pytest.raises(ValueError, match="unknown batch job status 'Running'"):
        next_job_status(None, "Running")
    with pytest.raises(ValueError, match="unknown stored batch job status 'Running'"):
        next_job_status("Running", "Completed")


# --------------------------------------------------------------------------------------------------
# Retry delay
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "jitter", "expected"),
    [(1, 0.0, 30), (2, 0.0, 60), (3, 0.0, 120), (5, 0.0, 480), (6, 0.0, 900), (1, 0.5, 45), (5, 0.5, 690)],
)
def test_retry_delay_doubles_up_to_the_cap(attempt: int, jitter: float, expected: int) -> None:
    assert retry_delay_seconds(attempt, jitter=jitter) == expected


def test_retry_delay_stays_at_the_cap() -> None:
    assert retry_delay_seconds(10**9, jitter=0.99) == 900
    assert retry_delay_seconds(3, base=10, cap=25, jitter=0.9) == 25


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"attempt": 0, "jitter": 0.0}, "attempt must be >= 1, got 0"),
        ({"attempt": 1, "jitter": 1.0}, r"jitter must be in \[0, 1\), got 1.0"),
        ({"attempt": 1, "jitter": -0.1}, r"jitter must be in \[0, 1\), got -0.1"),
        ({"attempt": 1, "jitter": 0.0, "cap": 901}, "need 1 <= base <= cap <= 900, got base=30, cap=901"),
        ({"attempt": 1, "jitter": 0.0, "base": 0}, "need 1 <= base <= cap <= 900, got base=0, cap=900"),
        ({"attempt": 1, "jitter": 0.0, "base": 60, "cap": 30}, "got base=60, cap=30"),
    ],
)
def test_retry_delay_arguments_are_checked(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        retry_delay_seconds(**kwargs)  # type: ignore[arg-type]
