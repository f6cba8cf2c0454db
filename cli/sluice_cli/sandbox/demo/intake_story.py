"""Steps 1 to 7: a multi-model endpoint, v1 and v2 registered, an identical re-upload, the warm-up,
a hostile archive rejected, and a batch job."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sluice.domain.registry import JOB_SK, LATEST_SK, intake_pk, intake_sk, job_pk, model_pk, version_sk
from sluice_cli.sandbox import seed
from sluice_cli.sandbox.demo import uploads
from sluice_cli.sandbox.demo.cast import (
    ARCHIVE_KEY,
    BATCH_INPUT_KEY,
    BATCH_MODEL,
    BATCH_RECORDS,
    BATCH_STATE,
    ENDPOINT,
    ENDPOINT_CONFIG,
    ENDPOINT_MODEL,
    HOSTILE_KEY,
    HOSTILE_MODEL,
    MODEL,
    REGISTERED,
    REJECTED,
    RUNNING,
    SERVING_PREFIX,
    UNCHANGED,
    WARMUP_KEY,
)
from sluice_cli.sandbox.demo.checks import Checks, short, shown
from sluice_cli.sandbox.demo.harness import Demo, Notification, sha256_of


def _notified(notes: Sequence[Notification]) -> list[str]:
    return [f"{n.channel} {n.status}" for n in notes]


def create_multi_model_endpoint(demo: Demo, checks: Checks) -> None:
    """Step 1: an ordinary SageMaker multi-model endpoint, its model data under the artifact bucket."""
    sagemaker = demo.client("sagemaker")
    model_data_url = seed.serving_prefix(demo.bucket, ENDPOINT)
    seed.create_multi_model_endpoint(demo, demo.bucket, ENDPOINT)
    demo.say(f"SageMaker: CreateModel {ENDPOINT_MODEL} (Mode MultiModel, ModelDataUrl {model_data_url})")
    demo.say(
        f"SageMaker: CreateEndpointConfig {ENDPOINT_CONFIG} (ml.m5.large x 1), CreateEndpoint {ENDPOINT}"
    )
    demo.say(
        f"(the model-data prefix {SERVING_PREFIX} lies in the artifact bucket on purpose: "
        "Sluice must not react to its own copies)"
    )

    endpoint = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    container = sagemaker.describe_model(ModelName=ENDPOINT_MODEL)["PrimaryContainer"]
    checks.equal("endpoint status", endpoint["EndpointStatus"], "InService")
    checks.equal("container mode", container.get("Mode"), "MultiModel")
    checks.equal("ModelDataUrl", container.get("ModelDataUrl"), model_data_url)


def register_first_version(demo: Demo, checks: Checks) -> None:
    """Step 2: upload a valid archive → v1 published, latest pointer, origin metadata, status tag."""
    archive = uploads.model_archive("churn-v1")
    demo.facts["v1_sha256"] = sha256_of(archive)
    version_id = demo.upload(ARCHIVE_KEY, archive, "members: model.pth, code/inference.py")
    seen = len(demo.notifications)
    demo.settle()

    intake = demo.intake(ARCHIVE_KEY, version_id) or {}
    latest = demo.record(model_pk(ENDPOINT, MODEL), LATEST_SK)
    demo.show_record(
        f"registry: latest pointer (pk {model_pk(ENDPOINT, MODEL)}, sk {LATEST_SK})",
        latest,
        [
            "version",
            "target_model",
            "sha256",
            "s3_uri",
            "size",
            "member_count",
            "source_version_id",
            "status",
        ],
    )
    published_key = f"{SERVING_PREFIX}{MODEL}/v1.tar.gz"
    metadata = (demo.head(published_key) or {}).get("Metadata", {})
    demo.say(f"S3: {published_key} metadata {shown(metadata) if metadata else '(no such object)'}")
    tags = demo.tags(ARCHIVE_KEY, version_id)
    demo.say(f"S3: tags of the uploaded object version: {shown(tags)}")
    copies = demo.records_with_pk(intake_pk(demo.bucket, published_key))

    latest = latest or {}
    checks.equal("intake status", intake.get("status"), "PUBLISHED")
    checks.equal("latest version", latest.get("version"), 1)
    checks.equal("latest TargetModel", latest.get("target_model"), f"{MODEL}/v1.tar.gz")
    checks.same_sha256("latest sha256", latest.get("sha256"), demo.facts["v1_sha256"], "of the upload")
    checks.equal("v1.tar.gz sluice-origin", metadata.get("sluice-origin"), "published")
    checks.equal("source tag sluice:status", tags.get("sluice:status"), "published")
    checks.equal("intakes of Sluice's own copy", len(copies), 0)
    notified = _notified(demo.notified(REGISTERED, seen))
    checks.equal("notified Registered", notified, ["SNS PUBLISHED", "EventBridge PUBLISHED"])
    checks.facts.update(intake_status=intake.get("status"), latest=latest, tags=tags)


def reupload_identical(demo: Demo, checks: Checks) -> None:
    """Step 3: the same bytes again → a new S3 version, recorded as UNCHANGED, nothing published."""
    archive = uploads.model_archive("churn-v1")
    version_id = demo.upload(ARCHIVE_KEY, archive, "byte-identical to v1 (a new S3 object version)")
    seen = len(demo.notifications)
    demo.settle()

    pk, sk = intake_pk(demo.bucket, ARCHIVE_KEY), intake_sk(version_id, None)
    intake = demo.record(pk, sk)
    demo.show_record(
        f"registry: intake record (pk {pk}, sk {sk})",
        intake,
        ["status", "version", "source_version_id", "size", "received_at"],
    )
    published = demo.keys_under(f"{SERVING_PREFIX}{MODEL}/")
    demo.say(f"S3: under {SERVING_PREFIX}{MODEL}/: {shown(published)}")
    latest = demo.record(model_pk(ENDPOINT, MODEL), LATEST_SK) or {}
    tags = demo.tags(ARCHIVE_KEY, version_id)

    intake = intake or {}
    checks.equal("intake status", intake.get("status"), "UNCHANGED")
    checks.equal("intake version", intake.get("version"), 1)
    checks.equal("published objects", [k.rsplit("/", 1)[-1] for k in published], ["v1.tar.gz"])
    checks.equal("latest version", latest.get("version"), 1)
    checks.equal("source tag sluice:status", tags.get("sluice:status"), "unchanged")
    notified = _notified(demo.notified(UNCHANGED, seen))
    checks.equal("notified Unchanged", notified, ["SNS UNCHANGED", "EventBridge UNCHANGED"])
    checks.facts.update(intake_status=intake.get("status"), intake_version=intake.get("version"))
    checks.facts.update(published=published)


def register_second_version(demo: Demo, checks: Checks) -> None:
    """Step 4: a warm-up request, then new bytes → v2 published and latest; v1 stays untouched."""
    demo.upload(WARMUP_KEY, uploads.warmup_request(), "the request to warm each new version up with")
    demo.settle()
    warmup_intakes = demo.records_with_pk(intake_pk(demo.bucket, WARMUP_KEY))
    demo.say(
        f"registry: intake records of the warm-up file: {len(warmup_intakes)} (configuration, read later)"
    )

    archive = uploads.model_archive("churn-v2")
    demo.facts["v2_sha256"] = sha256_of(archive)
    version_id = demo.upload(ARCHIVE_KEY, archive, "retrained weights")
    seen = len(demo.notifications)
    demo.settle()

    intake = demo.intake(ARCHIVE_KEY, version_id) or {}
    latest = demo.record(model_pk(ENDPOINT, MODEL), LATEST_SK)
    demo.show_record(
        f"registry: latest pointer (pk {model_pk(ENDPOINT, MODEL)}, sk {LATEST_SK})",
        latest,
        ["version", "target_model", "sha256", "s3_uri", "status"],
    )
    prefix = f"{SERVING_PREFIX}{MODEL}/"
    names = [k.removeprefix(prefix) for k in demo.keys_under(prefix)]
    shas = {n: (demo.head(prefix + n) or {}).get("Metadata", {}).get("sluice-sha256") for n in names}
    versions = {n: len(demo.versions_of(prefix + n)) for n in names}
    for name in names:
        demo.say(f"S3: {prefix}{name}  sluice-sha256 {short(shas[name])}, {versions[name]} S3 version(s)")

    latest = latest or {}
    checks.equal("warm-up file intakes", len(warmup_intakes), 0)
    checks.equal("intake status", intake.get("status"), "PUBLISHED")
    checks.equal("latest version", latest.get("version"), 2)
    checks.equal("latest TargetModel", latest.get("target_model"), f"{MODEL}/v2.tar.gz")
    checks.same_sha256("latest sha256", latest.get("sha256"), demo.facts["v2_sha256"], "of the upload")
    checks.equal("published objects", names, ["v1.tar.gz", "v2.tar.gz"])
    checks.same_sha256("v1.tar.gz sha256", shas.get("v1.tar.gz"), demo.facts["v1_sha256"], "v1's, still")
    checks.equal("S3 versions of v1.tar.gz", versions.get("v1.tar.gz"), 1)
    notified = _notified(demo.notified(REGISTERED, seen))
    checks.equal("notified Registered", notified, ["SNS PUBLISHED", "EventBridge PUBLISHED"])
    checks.facts.update(intake_status=intake.get("status"), latest=latest, published=names)


def show_warm_up(demo: Demo, checks: Checks) -> None:
    """Step 5: the warm-up request went to v2 (moto answers with a canned body); the result is recorded."""
    pk = model_pk(ENDPOINT, MODEL)
    v2 = demo.record(pk, version_sk(2))
    v1 = demo.record(pk, version_sk(1)) or {}
    demo.show_record(
        f"registry: version record (pk {pk}, sk {version_sk(2)})",
        v2,
        ["version", "status", "target_model", "warmup", "published_at"],
    )
    v2 = v2 or {}
    warmup = v2.get("warmup") or {}
    checks.equal("v2 warm-up ok", warmup.get("ok"), True)
    checks.that("v2 warm-up detail", "recorded", warmup.get("detail"), bool(warmup.get("detail")))
    checks.equal("v2 status", v2.get("status"), "PUBLISHED")
    checks.equal("v1 warm-up (no file then)", v1.get("warmup"), None)
    checks.facts.update(warmup=warmup, status=v2.get("status"))


def reject_hostile_archive(demo: Demo, checks: Checks) -> None:
    """Step 6: an archive with a path-traversal member → REJECTED with the reason, nothing published."""
    archive = uploads.hostile_archive()
    version_id = demo.upload(HOSTILE_KEY, archive, f"members: model.pth, {uploads.HOSTILE_MEMBER}")
    seen = len(demo.notifications)
    demo.settle()

    pk, sk = intake_pk(demo.bucket, HOSTILE_KEY), intake_sk(version_id, None)
    intake = demo.record(pk, sk)
    demo.show_record(f"registry: intake record (pk {pk}, sk {sk})", intake, ["status", "code", "reason"])
    published = demo.keys_under(f"{SERVING_PREFIX}{HOSTILE_MODEL}/")
    source = demo.head(HOSTILE_KEY, version_id)
    tags = demo.tags(HOSTILE_KEY, version_id)
    demo.say(f"S3: under {SERVING_PREFIX}{HOSTILE_MODEL}/: {shown(published)}")
    demo.say(f"S3: the uploaded object is {'still there' if source else 'gone'}, tags {shown(tags)}")
    latest = demo.record(model_pk(ENDPOINT, HOSTILE_MODEL), LATEST_SK)

    intake = intake or {}
    reason = str(intake.get("reason", ""))
    checks.equal("intake status", intake.get("status"), "REJECTED")
    checks.that(
        "reason",
        f"names {uploads.HOSTILE_MEMBER} and '..'",
        reason,
        uploads.HOSTILE_MEMBER in reason and "'..'" in reason,
    )
    checks.equal(f"objects under {SERVING_PREFIX}{HOSTILE_MODEL}/", published, [])
    checks.equal("uploaded object kept", source is not None, True)
    checks.equal("source tag sluice:status", tags.get("sluice:status"), "rejected")
    checks.equal(f"latest pointer of {HOSTILE_MODEL}", latest, None)
    notified = _notified(demo.notified(REJECTED, seen))
    checks.equal("notified Rejected", notified, ["SNS REJECTED", "EventBridge REJECTED"])
    checks.facts.update(intake_status=intake.get("status"), reason=reason, code=intake.get("code"))


def run_batch_job(demo: Demo, checks: Checks) -> None:
    """Step 7: a CSV under batch/<model>/input/ → a transform job, followed STARTED → Completed."""
    seed.create_batch_model(demo, demo.bucket, BATCH_MODEL)
    demo.say(f"SageMaker: CreateModel {BATCH_MODEL} (an ordinary single-model container)")
    version_id = demo.upload(
        BATCH_INPUT_KEY, uploads.batch_csv(BATCH_RECORDS), f"{BATCH_RECORDS} CSV records"
    )
    seen = len(demo.notifications)

    # The intake record names the job as soon as it started; the job then runs for a while.
    intake = demo.poll(lambda: _with_job_name(demo.intake(BATCH_INPUT_KEY, version_id))) or {}
    job_name = str(intake.get("job_name", ""))
    running = demo.record(job_pk(job_name), JOB_SK) if job_name else None
    demo.show_record(
        f"registry: job record while the job runs (pk {job_pk(job_name)}, sk {JOB_SK})",
        running,
        ["status", "instance_type", "instance_count", "input_uri", "output_uri", "warnings"],
    )
    demo.settle()

    job = demo.record(job_pk(job_name), JOB_SK) if job_name else None
    demo.show_record(
        "registry: job record once SageMaker is done",
        job,
        ["status", "transform_start", "transform_end", "duration_seconds", "output_uri"],
    )
    output_prefix = f"batch/{BATCH_MODEL}/output/{job_name}/"
    outputs = [k.removeprefix(output_prefix) for k in demo.keys_under(output_prefix)] if job_name else []
    lines = sum(demo.read(output_prefix + name).count(b"\n") for name in outputs)
    demo.say(f"S3: under {output_prefix}: {shown(outputs)} ({lines} lines)")
    described = demo.client("sagemaker").describe_transform_job(TransformJobName=job_name) if job_name else {}
    demo.say(f"SageMaker: DescribeTransformJob → {described.get('TransformJobStatus', '—')}")
    statuses = [n.status for n in demo.notified(BATCH_STATE, seen) if n.channel == "SNS"]

    job = job or {}
    running_status = (running or {}).get("status")
    checks.equal("intake status", intake.get("status"), "BATCH_STARTED")
    checks.that(
        "intake job_name", f"sluice-{BATCH_MODEL}-…", job_name, job_name.startswith(f"sluice-{BATCH_MODEL}-")
    )
    checks.that(
        "job status while running", "STARTED or InProgress", running_status, running_status in RUNNING
    )
    checks.equal("job status at the end", job.get("status"), "Completed")
    duration = job.get("duration_seconds")
    checks.that("job duration_seconds", "recorded", duration, isinstance(duration, int | float))
    checks.equal("output objects", outputs, ["records.csv.out"])
    checks.equal("output lines", lines, BATCH_RECORDS)
    checks.equal("SageMaker job status", described.get("TransformJobStatus"), "Completed")
    checks.equal("notified job states (SNS)", statuses, ["STARTED", "InProgress", "Completed"])
    checks.facts.update(
        job_name=job_name, running_status=running_status, job=job, outputs=outputs, statuses=statuses
    )


def _with_job_name(intake: dict[str, Any] | None) -> dict[str, Any] | None:
    return intake if intake and intake.get("job_name") else None
