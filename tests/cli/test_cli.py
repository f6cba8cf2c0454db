"""The `sluice` command line against the sandbox, the registry populated through the product: ordinary
SageMaker APIs create the endpoint and model, uploads to the artifact bucket do the rest."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from integration_kit import make_archive
from typer.testing import CliRunner, Result

from sluice_cli.commands.jobs import job_notes, job_row
from sluice_cli.commands.models import model_rows, warmup_text
from sluice_cli.commands.output import duration, human_size, when
from sluice_cli.main import app, sluice_version
from sluice_cli.sandbox.server import Sandbox

ROLE = "arn:aws:iam::123456789012:role/r"
MME_IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.3-cpu-py311"
BATCH_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/xgboost:1.7-1"
ENDPOINT = "cli-mme"
BATCH_MODEL = "cli-scorer"
HOSTILE_KEY = f"multi-model/{ENDPOINT}/hostile.tar.gz"
CHURN_V1 = make_archive({"model.pth": b"churn weights 1"})
CHURN_V2 = make_archive({"model.pth": b"churn weights 2"})
FRAUD = make_archive({"model.pth": b"fraud weights"})


@dataclass
class Deployment:
    sandbox: Sandbox
    bucket: str
    table: str

    def sluice(self, *args: str, table: bool = True, env: dict[str, str | None] | None = None) -> Result:
        """Run the CLI in-process against the sandbox (with --table unless told otherwise)."""
        options = ["--endpoint-url", self.sandbox.endpoint_url] + (["--table", self.table] if table else [])
        return CliRunner().invoke(
            app, [*options, *args], env={"COLUMNS": "250", "SLUICE_REGISTRY_TABLE": None, **(env or {})}
        )

    def sluice_json(self, *args: str) -> Any:
        result = self.sluice("--output", "json", *args)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)


def _create_multi_model_endpoint(sandbox: Sandbox, bucket: str) -> None:
    sm = sandbox.client("sagemaker")
    sm.create_model(
        ModelName=f"{ENDPOINT}-model",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={
            "Image": MME_IMAGE,
            "Mode": "MultiModel",
            "ModelDataUrl": f"s3://{bucket}/serving/{ENDPOINT}/",
        },
    )
    sm.create_endpoint_config(
        EndpointConfigName=f"{ENDPOINT}-config",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": f"{ENDPOINT}-model",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": 1.0,
            }
        ],
    )
    sm.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=f"{ENDPOINT}-config")


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    with Sandbox(start_router=True, transform_delay_seconds=0.2) as sandbox:
        bucket = sandbox.outputs.outputs["ArtifactBucketName"]
        found = Deployment(sandbox, bucket, sandbox.outputs.outputs["RegistryTableName"])
        s3 = sandbox.client("s3")
        _create_multi_model_endpoint(sandbox, bucket)
        sandbox.client("sagemaker").create_model(
            ModelName=BATCH_MODEL,
            ExecutionRoleArn=ROLE,
            PrimaryContainer={"Image": BATCH_IMAGE, "ModelDataUrl": f"s3://{bucket}/models/m.tar.gz"},
        )
        # Someone else's object already sits where fraud v1 would be published: v1 is SKIPPED, v2 used.
        s3.put_object(Bucket=bucket, Key=f"serving/{ENDPOINT}/fraud/v1.tar.gz", Body=b"not sluice's")
        s3.put_object(Bucket=bucket, Key=f"multi-model/{ENDPOINT}/churn.tar.gz", Body=CHURN_V1)
        s3.put_object(Bucket=bucket, Key=f"multi-model/{ENDPOINT}/fraud.tar.gz", Body=FRAUD)
        sandbox.wait_idle(timeout=30, include_delayed=False)
        warmup = json.dumps({"content_type": "text/csv", "body": "1,2,3"}).encode()
        s3.put_object(Bucket=bucket, Key=f"multi-model/{ENDPOINT}/churn.warmup.json", Body=warmup)
        s3.put_object(Bucket=bucket, Key=f"multi-model/{ENDPOINT}/churn.tar.gz", Body=CHURN_V2)
        s3.put_object(Bucket=bucket, Key=f"batch/{BATCH_MODEL}/input/x.csv", Body=b"1,2\n3,4\n")
        s3.put_object(Bucket=bucket, Key=HOSTILE_KEY, Body=make_archive({"../evil": b"x"}))
        sandbox.wait_idle(timeout=30, include_delayed=False)
        _wait_for_job_status(found, "Completed", timeout=15)
        yield found


def _wait_for_job_status(deployment: Deployment, status: str, timeout: float) -> None:
    deadline, seen = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        jobs = deployment.sluice_json("jobs", "--model", BATCH_MODEL)["jobs"]
        seen = [job["status"] for job in jobs]
        if seen == [status]:
            return
        time.sleep(0.1)
    raise AssertionError(f"the batch job did not reach {status} in {timeout} s: {seen}")


# -- models ------------------------------------------------------------------------------------------
def test_models_shows_the_latest_version_of_each_model(deployment: Deployment) -> None:
    result = deployment.sluice("models", ENDPOINT)

    assert result.exit_code == 0, result.output
    lines = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if line.count("│") > 5}
    assert sorted(lines) == ["churn", "fraud"]
    assert "churn/v2.tar.gz" in lines["churn"]
    assert "latest" in lines["churn"]
    assert "ok" in lines["churn"]  # the warm-up invocation of v2
    assert hashlib.sha256(CHURN_V2).hexdigest()[:12] in lines["churn"]
    assert f"{len(CHURN_V2)} B" in lines["churn"]
    assert "fraud/v2.tar.gz" in lines["fraud"]
    assert "churn/v1.tar.gz" not in result.stdout
    assert "TargetModel" in result.stdout


def test_models_json_is_one_document_with_full_values(deployment: Deployment) -> None:
    document = deployment.sluice_json("models", ENDPOINT)

    assert document["endpoint"] == ENDPOINT
    assert document["all_versions"] is False
    churn, fraud = document["models"]
    assert (churn["model"], churn["version"], churn["latest"]) == ("churn", 2, True)
    assert churn["target_model"] == "churn/v2.tar.gz"
    assert churn["status"] == "PUBLISHED"
    assert churn["sha256"] == hashlib.sha256(CHURN_V2).hexdigest()
    assert churn["size"] == len(CHURN_V2)
    assert churn["warmup"]["ok"] is True
    assert churn["published_at"]
    assert churn["s3_uri"] == f"s3://{deployment.bucket}/serving/{ENDPOINT}/churn/v2.tar.gz"
    assert (fraud["model"], fraud["version"], fraud["latest"]) == ("fraud", 2, True)


def test_models_all_versions_shows_every_version_with_skip_reasons(deployment: Deployment) -> None:
    document = deployment.sluice_json("models", ENDPOINT, "--all-versions")

    shown = [(m["model"], m["version"], m["status"], m["latest"]) for m in document["models"]]
    assert shown == [
        ("churn", 1, "PUBLISHED", False),
        ("churn", 2, "PUBLISHED", True),
        ("fraud", 1, "SKIPPED", False),
        ("fraud", 2, "PUBLISHED", True),
    ]
    skipped = document["models"][2]
    assert "already holds other bytes" in skipped["note"]
    assert document["models"][0]["warmup"] is None  # v1 had no warm-up file

    table = deployment.sluice("models", ENDPOINT, "--all-versions")
    assert table.exit_code == 0, table.output
    assert "churn/v1.tar.gz" in table.stdout
    assert "churn/v2.tar.gz" in table.stdout
    assert "SKIPPED" in table.stdout
    assert "already holds other bytes" in table.stdout


def test_models_of_one_model(deployment: Deployment) -> None:
    document = deployment.sluice_json("models", ENDPOINT, "--model", "fraud", "--all-versions")
    assert {m["model"] for m in document["models"]} == {"fraud"}

    missing = deployment.sluice("models", ENDPOINT, "--model", "nope")
    assert missing.exit_code == 1
    assert "no model 'nope' on endpoint 'cli-mme'; models there: churn, fraud" in missing.stderr


def test_unknown_endpoint_is_not_found(deployment: Deployment) -> None:
    result = deployment.sluice("models", "no-such-endpoint")

    assert result.exit_code == 1
    assert "no models registered on endpoint 'no-such-endpoint'" in result.stderr
    assert deployment.table in result.stderr
    assert result.stdout == ""


# -- jobs --------------------------------------------------------------------------------------------
def test_jobs_shows_the_job_completed_with_input_and_output(deployment: Deployment) -> None:
    (job,) = deployment.sluice_json("jobs", "--model", BATCH_MODEL)["jobs"]
    assert job["status"] == "Completed"
    assert job["job_name"].startswith(f"sluice-{BATCH_MODEL}-")
    assert job["input_uri"] == f"s3://{deployment.bucket}/batch/{BATCH_MODEL}/input/x.csv"
    assert job["output_uri"].startswith(f"s3://{deployment.bucket}/batch/{BATCH_MODEL}/output/")
    assert job["duration_seconds"] is not None
    assert job["created_at"] <= job["updated_at"]

    # Without --model: the table is scanned; the status filter ignores case.
    scanned = deployment.sluice_json("jobs", "--status", "completed")["jobs"]
    assert [j["job_name"] for j in scanned] == [job["job_name"]]

    table = deployment.sluice("jobs")
    assert table.exit_code == 0, table.output
    assert job["job_name"] in table.stdout
    assert "Completed" in table.stdout
    assert "→" in table.stdout


def test_jobs_empty_results_say_so(deployment: Deployment) -> None:
    result = deployment.sluice("jobs", "--status", "Failed")
    assert result.exit_code == 0
    assert result.stdout.strip() == "No batch jobs with status Failed."

    assert deployment.sluice_json("jobs", "--model", "nobody")["jobs"] == []


# -- intakes -----------------------------------------------------------------------------------------
def test_intakes_show_why_an_upload_was_rejected(deployment: Deployment) -> None:
    result = deployment.sluice("intakes", "--status", "REJECTED")

    assert result.exit_code == 0, result.output
    assert HOSTILE_KEY in result.stdout
    assert "REJECTED" in result.stdout
    assert "'..'" in result.stdout
    assert "../evil" in result.stdout

    (rejected,) = deployment.sluice_json("intakes", "--status", "rejected")["intakes"]
    assert rejected["key"] == HOSTILE_KEY
    assert rejected["kind"] == "multi-model"
    assert rejected["code"] == "InvalidArtifact"
    assert "'..'" in rejected["reason"]


def test_intakes_newest_first_with_limit(deployment: Deployment) -> None:
    everything = deployment.sluice_json("intakes")["intakes"]
    received = [i["received_at"] for i in everything]
    assert received == sorted(received, reverse=True)
    assert {i["status"] for i in everything} >= {"PUBLISHED", "REJECTED", "BATCH_STARTED"}

    newest = deployment.sluice_json("intakes", "--limit", "2")["intakes"]
    assert newest == everything[:2]

    table = deployment.sluice("intakes")
    assert f"churn v2 on {ENDPOINT}" in table.stdout
    assert "batch job sluice-" in table.stdout

    none = deployment.sluice("intakes", "--status", "UNCHANGED")
    assert (none.exit_code, none.stdout.strip()) == (0, "No uploads with status UNCHANGED.")


def test_a_narrow_terminal_never_wraps_identifiers(deployment: Deployment) -> None:
    """At 60 columns the tables grow or wrap their prose, never a key, job name, URI or model name."""
    narrow = {"COLUMNS": "60"}
    (job,) = deployment.sluice_json("jobs", "--model", BATCH_MODEL)["jobs"]
    (model,) = deployment.sluice_json("models", ENDPOINT, "--model", "churn")["models"]

    intakes = deployment.sluice("intakes", env=narrow)
    jobs = deployment.sluice("jobs", env=narrow)
    models = deployment.sluice("models", ENDPOINT, env=narrow)

    for result in (intakes, jobs, models):
        assert result.exit_code == 0, result.output
    assert HOSTILE_KEY in intakes.stdout
    assert "'../evil'" in intakes.stdout  # the reason wraps between words, never inside one
    for identifier in (job["job_name"], job["input_uri"], job["output_uri"]):
        assert identifier in jobs.stdout
    assert model["target_model"] in models.stdout
    assert max(len(line) for line in intakes.stdout.splitlines()) > 60  # grew past the terminal


# -- configuration -----------------------------------------------------------------------------------
def test_without_a_table_the_sandbox_stack_names_it_as_on_aws(deployment: Deployment) -> None:
    """The sandbox answers DescribeStacks for its stack, so no --table is needed (the default --stack
    `sluice` is samconfig.toml's stack name and the sandbox's)."""
    (stack,) = deployment.sandbox.client("cloudformation").describe_stacks(StackName="sluice")["Stacks"]
    outputs = {o["OutputKey"]: o for o in stack["Outputs"]}
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert outputs["RegistryTableName"]["OutputValue"] == deployment.table
    assert outputs["RegistryTableName"]["ExportName"] == "sluice-RegistryTableName"
    assert outputs["ArtifactBucketName"]["OutputValue"] == deployment.bucket

    result = deployment.sluice("intakes", table=False)
    assert result.exit_code == 0, result.output
    assert HOSTILE_KEY in result.stdout


def test_missing_table_configuration_is_a_usage_error_with_guidance(deployment: Deployment) -> None:
    result = deployment.sluice("--stack", "not-deployed", "intakes", table=False)

    assert result.exit_code == 2
    for hint in ("--table", "SLUICE_REGISTRY_TABLE", "--stack", "RegistryTableName", "'not-deployed'"):
        assert hint in result.stderr


def test_table_from_the_environment_or_the_stack_output(deployment: Deployment) -> None:
    from_env = deployment.sluice("intakes", table=False, env={"SLUICE_REGISTRY_TABLE": deployment.table})
    assert from_env.exit_code == 0, from_env.output

    cloudformation = deployment.sandbox.client("cloudformation")
    for name, outputs in (
        ("cli-outputs", {"RegistryTableName": {"Value": deployment.table}}),
        ("cli-no-outputs", {}),
    ):
        body = {"Resources": {"Marker": {"Type": "AWS::SQS::Queue"}}, "Outputs": outputs}
        cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(body))

    from_stack = deployment.sluice("--stack", "cli-outputs", "models", ENDPOINT, table=False)
    assert from_stack.exit_code == 0, from_stack.output
    assert "churn/v2.tar.gz" in from_stack.stdout

    no_output = deployment.sluice("--stack", "cli-no-outputs", "intakes", table=False)
    assert no_output.exit_code == 2
    assert "has no output RegistryTableName" in no_output.stderr


def test_a_table_that_does_not_exist_is_a_configuration_error(deployment: Deployment) -> None:
    result = deployment.sluice("--table", "no-such-table", "intakes", table=False)

    assert result.exit_code == 2
    assert "registry table was not found" in result.stderr


def test_local_endpoint_without_credentials_uses_dummy_ones(deployment: Deployment) -> None:
    names = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
    no_credentials: dict[str, str | None] = dict.fromkeys(names)
    result = deployment.sluice("intakes", env=no_credentials)

    assert result.exit_code == 0, result.output
    assert "testing" not in result.output


def test_usage_errors_exit_2(deployment: Deployment) -> None:
    assert deployment.sluice("--output", "yaml", "intakes").exit_code == 2
    assert deployment.sluice("intakes", "--limit", "0").exit_code == 2
    bad_url = CliRunner().invoke(app, ["--endpoint-url", "localhost:4566", "intakes"])
    assert bad_url.exit_code == 2
    assert "not an http(s) URL" in bad_url.output


# -- without AWS -------------------------------------------------------------------------------------
def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"sluice {sluice_version()}"
    assert sluice_version() != "unknown"


def test_the_installed_command_prints_its_help() -> None:
    command = Path(sys.executable).parent / "sluice"
    done = subprocess.run(
        [str(command), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "120"},
    )
    assert done.returncode == 0, done.stderr
    for word in ("models", "jobs", "intakes", "--endpoint-url", "--table", "--output"):
        assert word in done.stdout


def test_model_rows_without_a_published_version_say_so() -> None:
    reserved = {
        "model": "m",
        "version": 1,
        "status": "PUBLISHING",
        "reserved_at": "2024-05-01T10:00:00+00:00",
    }

    (row,) = model_rows([reserved], {"m": None}, all_versions=False)

    assert (row["version"], row["latest"]) == (1, False)
    assert row["note"] == "publishing since 2024-05-01 10:00:00Z; no version published yet"


def test_queued_and_failed_jobs_explain_themselves() -> None:
    queued = job_row(
        {
            "status": "QUEUED",
            "reason": "ResourceLimitExceeded",
            "attempts": 3,
            "next_attempt_at": "2024-05-01T10:02:00+00:00",
            "warnings": ["one input object: extra instances idle"],
        }
    )
    failed = job_row({"status": "Failed", "failure_reason": "ClientError: bad input"})

    assert job_notes(queued) == [
        "queued: ResourceLimitExceeded; next attempt 2024-05-01 10:02:00Z (after 3 attempts)",
        "warning: one input object: extra instances idle",
    ]
    assert job_notes(failed) == ["failure: ClientError: bad input"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, "—"), (0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (5 * 1024**3, "5.0 GiB")],
)
def test_human_size(value: int | None, expected: str) -> None:
    assert human_size(value) == expected


def test_durations_times_and_warmups() -> None:
    assert [duration(s) for s in (None, 0.202, 65, 3725)] == ["—", "0.2 s", "1m 05s", "1h 02m"]
    assert when("2024-05-01T10:00:00.123+02:00") == "2024-05-01 08:00:00Z"
    assert when("not a time") == "not a time"
    assert [warmup_text(w) for w in (None, {"ok": True}, {"ok": False, "detail": "HTTP 500"})] == [
        "—",
        "ok",
        "failed: HTTP 500",
    ]
