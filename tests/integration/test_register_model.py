"""RegisterModelFunction on moto: what a user sees in S3, the registry and the notifications."""

from __future__ import annotations

import io
import tarfile
from urllib.parse import quote_plus

import pytest
from integration_kit import Stack, make_archive

FN = "RegisterModelFunction"


def upload(stack: Stack, endpoint: str, model: str, body: bytes) -> tuple[str, dict, dict]:
    key = f"multi-model/{endpoint}/{model}.tar.gz"
    put = stack.put(key, body)
    return key, put, stack.invoke(FN, stack.s3_event(key, put))


def test_a_valid_archive_is_published_as_v1_and_recorded(clean_notifications: Stack) -> None:
    stack = clean_notifications
    endpoint = stack.multi_model_endpoint()
    key, put, result = upload(stack, endpoint, "churn", make_archive())

    assert result["status"] == "PUBLISHED"
    published = f"serving/{endpoint}/churn/v1.tar.gz"
    assert stack.keys(f"serving/{endpoint}/") == [published]
    head = stack.client("s3").head_object(Bucket=stack.bucket, Key=published)
    assert head["Metadata"]["sluice-origin"] == "published"
    assert head["ContentLength"] == put_size(stack, key)
    latest = stack.latest(endpoint, "churn")
    assert latest is not None
    assert latest["version"] == 1
    assert latest["target_model"] == "churn/v1.tar.gz"
    assert latest["source_key"] == key and latest["source_version_id"] == put["VersionId"]
    assert latest["sha256"] == head["Metadata"]["sluice-sha256"]
    assert stack.intake(key, put)["status"] == "PUBLISHED"  # type: ignore[index]
    assert stack.tags(key, put["VersionId"]) == {"sluice:status": "published"}
    assert [t for t, _ in stack.notifications()] == ["Sluice Model Registered"]
    ((detail_type, detail),) = stack.bus_events()
    assert detail_type == "Sluice Model Registered"
    assert detail["target_model"] == "churn/v1.tar.gz" and detail["endpoint"] == endpoint


def put_size(stack: Stack, key: str) -> int:
    return int(stack.client("s3").head_object(Bucket=stack.bucket, Key=key)["ContentLength"])


def test_identical_bytes_are_a_no_op_and_new_bytes_are_v2(clean_notifications: Stack) -> None:
    stack = clean_notifications
    endpoint = stack.multi_model_endpoint()
    first = make_archive({"model.pth": b"one"})
    upload(stack, endpoint, "churn", first)
    v1_before = stack.client("s3").get_object(Bucket=stack.bucket, Key=f"serving/{endpoint}/churn/v1.tar.gz")

    _, put, again = upload(stack, endpoint, "churn", first)
    assert again["status"] == "UNCHANGED"
    assert "identical to churn v1" in again["message"]
    assert stack.intake(f"multi-model/{endpoint}/churn.tar.gz", put)["status"] == "UNCHANGED"  # type: ignore[index]
    assert stack.keys(f"serving/{endpoint}/") == [f"serving/{endpoint}/churn/v1.tar.gz"]

    _, _, second = upload(stack, endpoint, "churn", make_archive({"model.pth": b"two"}))
    assert second["status"] == "PUBLISHED" and second["version"] == 2
    assert stack.latest(endpoint, "churn")["target_model"] == "churn/v2.tar.gz"  # type: ignore[index]
    v1_after = stack.client("s3").get_object(Bucket=stack.bucket, Key=f"serving/{endpoint}/churn/v1.tar.gz")
    assert v1_after["ETag"] == v1_before["ETag"]  # v1 untouched: published names are immutable
    assert [t for t, _ in stack.notifications()] == [
        "Sluice Model Registered",
        "Sluice Model Unchanged",
        "Sluice Model Registered",
    ]


def test_the_same_event_delivered_twice_has_one_side_effect(clean_notifications: Stack) -> None:
    stack = clean_notifications
    endpoint = stack.multi_model_endpoint()
    key = f"multi-model/{endpoint}/churn.tar.gz"
    put = stack.put(key, make_archive())
    event = stack.s3_event(key, put)
    first = stack.invoke(FN, event)
    event["id"] = "redelivered"  # EventBridge may deliver the same upload again under any id
    second = stack.invoke(FN, event)
    assert first == second
    versions = stack.client("s3").list_object_versions(Bucket=stack.bucket, Prefix=f"serving/{endpoint}/")
    assert len(versions["Versions"]) == 1
    assert len(stack.notifications()) == 1


def test_a_late_event_of_an_older_upload_does_not_displace_the_newer_latest(
    clean_notifications: Stack,
) -> None:
    stack = clean_notifications
    endpoint = stack.multi_model_endpoint()
    key = f"multi-model/{endpoint}/churn.tar.gz"
    older = stack.put(key, make_archive({"model.pth": b"older"}))
    newer = stack.put(key, make_archive({"model.pth": b"newer"}))
    first = stack.invoke(FN, stack.s3_event(key, newer))
    late = stack.invoke(
        FN, stack.s3_event(key, older)
    )  # S3 does not promise order: the older event comes late

    statuses = [stack.intake(key, put)["status"] for put in (older, newer)]  # type: ignore[index]
    assert statuses == ["PUBLISHED", "PUBLISHED"]
    assert (first["version"], first["latest"]) == (1, True)
    assert (late["version"], late["latest"]) == (2, False)  # numbered as published, not latest
    assert "published churn v2" in late["message"]
    assert "not latest: v1 was uploaded after it" in late["message"]
    latest = stack.latest(endpoint, "churn")
    assert latest is not None
    assert (latest["version"], latest["source_version_id"]) == (1, newer["VersionId"])
    assert latest["upload_sequencer"] == newer["Sequencer"].rjust(32, "0")
    registered = [d for t, d in stack.bus_events() if t == "Sluice Model Registered"]
    assert [(d["version"], d["latest"]) for d in registered] == [(1, True), (2, False)]


def hostile(name: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = "/etc/shadow"
    return info


def archive_bytes(*members: tuple[str, bytes]) -> bytes:
    """A .tar.gz of `members` in order, names as given (even repeated, or not UTF-8 when they hold
    surrogate escapes)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", encoding="utf-8", errors="surrogateescape") as tar:
        for name, body in members:
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        # Issue 13: each of these was published before.
        (make_archive() + make_archive({"evil.py": b"import os"}), "data after the end of the tar archive"),
        (archive_bytes(("./model.pth", b"a"), ("model.pth", b"b")), "extracts to the same path 'model.pth'"),
        (archive_bytes(("model\x1b[8m.pth", b"w")), "control character (U+001B)"),
        (archive_bytes(("mod\udce8le.pth", b"w")), "not valid UTF-8 (byte 0xe8"),
        (make_archive({"../../etc/passwd": b"root::0:0"}), ".."),
        (make_archive({"/etc/cron.d/x": b"* * * * * root sh"}), "absolute"),
        (make_archive({"model.pth": b"w"}, extra=[hostile("link")]), "symbolic link"),
        (make_archive({"model.pth": b"w"}, extra=[hostile("hard", tarfile.LNKTYPE)]), "hard link"),
        (b"this is not a gzip file", "gzip"),
        (make_archive({}), "no regular file"),
    ],
    ids=[
        *("appended-archive", "duplicate-member", "control-character", "non-utf8-name"),
        *("path-traversal", "absolute-path", "symlink", "hardlink", "not-gzip", "empty"),
    ],
)
def test_hostile_or_broken_archives_are_rejected_and_kept(
    clean_notifications: Stack, body: bytes, reason: str
) -> None:
    stack = clean_notifications
    endpoint = stack.multi_model_endpoint()
    key, put, result = upload(stack, endpoint, "evil", body)

    assert result["status"] == "REJECTED"
    assert reason.lower() in result["reason"].lower()
    assert stack.keys(f"serving/{endpoint}/") == []  # nothing published, not even partly
    assert stack.latest(endpoint, "evil") is None
    kept = stack.client("s3").get_object(Bucket=stack.bucket, Key=key, VersionId=put["VersionId"])
    assert kept["Body"].read() == body  # the upload stays, byte for byte
    assert stack.tags(key, put["VersionId"]) == {"sluice:status": "rejected"}
    record = stack.intake(key, put)
    assert record is not None
    assert record["status"] == "REJECTED" and record["code"] == "InvalidArtifact"
    assert record["reason"] == result["reason"]
    ((detail_type, detail),) = stack.notifications()
    assert detail_type == "Sluice Artifact Rejected" and detail["reason"] == result["reason"]


def test_unknown_endpoint_is_rejected(clean_notifications: Stack) -> None:
    stack = clean_notifications
    _, _, result = upload(stack, "no-such-endpoint", "churn", make_archive())
    assert result["status"] == "REJECTED"
    assert result["reason"] == "endpoint 'no-such-endpoint' does not exist"
    assert result["code"] == "InvalidTarget"


def test_single_model_endpoint_is_rejected(clean_notifications: Stack) -> None:
    stack = clean_notifications
    endpoint = stack.multi_model_endpoint(mode="SingleModel")
    _, _, result = upload(stack, endpoint, "churn", make_archive())
    assert result["status"] == "REJECTED"
    assert "is not a multi-model endpoint" in result["reason"]


def test_endpoint_that_cannot_serve_is_rejected(clean_notifications: Stack) -> None:
    from moto.sagemaker.models import sagemaker_backends

    stack = clean_notifications
    endpoint = stack.multi_model_endpoint()
    sagemaker_backends["123456789012"]["us-east-1"].endpoints[endpoint].endpoint_status = "Failed"
    _, _, result = upload(stack, endpoint, "churn", make_archive())
    assert result["status"] == "REJECTED"
    assert "is Failed" in result["reason"]


def test_invalid_names_are_rejected_with_the_rule(clean_notifications: Stack) -> None:
    stack = clean_notifications
    key = "multi-model/under_score/churn.tar.gz"
    put = stack.put(key, make_archive())
    result = stack.invoke(FN, stack.s3_event(key, put))
    assert result["status"] == "REJECTED" and result["code"] == "InvalidName"
    assert "'under_score' is not a valid SageMaker name" in result["reason"]


@pytest.mark.parametrize("encoding", ["raw", "url"])
def test_keys_with_spaces_resolve_once_whatever_the_encoding(
    clean_notifications: Stack, encoding: str
) -> None:
    stack = clean_notifications
    endpoint = stack.multi_model_endpoint()
    key = f"multi-model/{endpoint}/my model+100%.tar.gz"
    put = stack.put(key, make_archive())
    in_event = key if encoding == "raw" else quote_plus(key, safe="/")
    result = stack.invoke(FN, stack.s3_event(key, put, key_in_event=in_event))
    # The real object was found (not "no longer exists"): then the model name is refused for what it is.
    assert result["status"] == "REJECTED"
    assert "'my model+100%' is not a valid SageMaker name" in result["reason"]
    assert stack.tags(key, put["VersionId"]) == {"sluice:status": "rejected"}


def test_objects_sluice_wrote_never_re_trigger_intake(clean_notifications: Stack) -> None:
    """The serving prefix may lie inside multi-model/ itself: the published copy must not loop."""
    stack = clean_notifications
    endpoint = stack.multi_model_endpoint(prefix=f"s3://{stack.bucket}/multi-model/")
    upload(stack, endpoint, "churn", make_archive())
    published = "multi-model/churn/v1.tar.gz"  # looks like endpoint "churn", model "v1"
    head = stack.client("s3").head_object(Bucket=stack.bucket, Key=published)
    result = stack.invoke(
        FN, stack.s3_event(published, {"VersionId": head["VersionId"], "ETag": head["ETag"]})
    )
    assert result["status"] == "IGNORED"
    assert "written by Sluice" in result["message"]


def test_warm_up_invokes_the_new_target_model_and_records_it(clean_notifications: Stack) -> None:
    stack = clean_notifications
    endpoint = stack.multi_model_endpoint()
    stack.put(f"multi-model/{endpoint}/churn.warmup.json", b'{"content_type": "text/csv", "body": "42,0.5"}')
    _, _, result = upload(stack, endpoint, "churn", make_archive())
    assert result["status"] == "PUBLISHED"
    assert result["warmup"]["ok"] is True
    assert stack.latest(endpoint, "churn")["warmup"]["ok"] is True  # type: ignore[index]


def test_invalid_warm_up_file_is_recorded_and_registration_still_succeeds(clean_notifications: Stack) -> None:
    stack = clean_notifications
    endpoint = stack.multi_model_endpoint()
    stack.put(f"multi-model/{endpoint}/churn.warmup.json", b'{"body": "no content type"}')
    _, _, result = upload(stack, endpoint, "churn", make_archive())
    assert result["status"] == "PUBLISHED_WARMUP_FAILED"
    assert "content_type" in result["warmup"]["detail"]
    assert stack.keys(f"serving/{endpoint}/") == [f"serving/{endpoint}/churn/v1.tar.gz"]


def test_a_warm_up_that_gets_no_answer_is_recorded_and_the_intake_still_ends(
    clean_notifications: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first load longer than botocore's 60 s read timeout ends in ReadTimeoutError, not ClientError:
    the published version is recorded PUBLISHED_WARMUP_FAILED with the reason, never left PUBLISHING."""
    from botocore.exceptions import ReadTimeoutError

    from sluice.adapters import sagemaker as sagemaker_adapter

    real_client = sagemaker_adapter.client

    class NoAnswer:
        def invoke_endpoint(self, **_: object) -> None:
            raise ReadTimeoutError(endpoint_url="https://runtime.sagemaker.us-east-1.amazonaws.com/")

    monkeypatch.setattr(
        sagemaker_adapter,
        "client",
        lambda service: NoAnswer() if service == "sagemaker-runtime" else real_client(service),
    )
    stack = clean_notifications
    endpoint = stack.multi_model_endpoint()
    stack.put(f"multi-model/{endpoint}/churn.warmup.json", b'{"content_type": "text/csv", "body": "42,0.5"}')
    _, _, result = upload(stack, endpoint, "churn", make_archive())
    assert result["status"] == "PUBLISHED_WARMUP_FAILED"
    assert "Read timeout" in result["warmup"]["detail"]
    assert stack.latest(endpoint, "churn")["status"] == "PUBLISHED_WARMUP_FAILED"  # type: ignore[index]


def test_keys_outside_the_layout_are_ignored(stack: Stack) -> None:
    key = "multi-model/some-endpoint/notes.txt"
    put = stack.put(key, b"hello")
    result = stack.invoke(FN, stack.s3_event(key, put))
    assert result["status"] == "IGNORED"
    assert stack.intake(key, put) is None
    assert stack.tags(key, put["VersionId"]) == {}


@pytest.mark.access_denied  # as on AWS: the function's role may not read a bucket outside the stack
def test_unexpected_errors_end_in_the_failure_queue_with_the_event(stack: Stack) -> None:
    """A serving bucket that does not exist (or is not the stack's) is not the upload's fault: raise,
    retry, then FailureQueue."""
    endpoint = stack.multi_model_endpoint(prefix="s3://bucket-that-does-not-exist/models/")
    key = f"multi-model/{endpoint}/churn.tar.gz"
    put = stack.put(key, make_archive())
    event = stack.s3_event(key, put)
    delivered = stack.sandbox.router.invoke_async(FN, event)
    assert delivered is False
    queue = stack.sandbox.outputs.outputs["FailureQueueUrl"]
    messages = stack.client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    import json

    records = [json.loads(m["Body"]) for m in messages]
    mine = [r for r in records if r["requestPayload"]["id"] == event["id"]]
    assert len(mine) == 1
    assert mine[0]["requestContext"]["condition"] == "RetriesExhausted"
    assert mine[0]["requestPayload"] == event
    assert stack.client("s3").head_object(Bucket=stack.bucket, Key=key)  # the upload is still there


def test_large_archives_are_copied_in_parts(
    clean_notifications: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CopyObject stops at 5 GB; above the threshold the copy must be multipart (scaled down here)."""
    import os

    from boto3.s3.transfer import TransferConfig

    from sluice.adapters import s3 as s3_adapter

    mib = 1024 * 1024
    monkeypatch.setattr(
        s3_adapter, "_COPY_CONFIG", TransferConfig(multipart_threshold=5 * mib, multipart_chunksize=5 * mib)
    )
    stack = clean_notifications
    endpoint = stack.multi_model_endpoint()
    body = make_archive({"weights.bin": os.urandom(12 * mib)})  # incompressible: ~12 MiB on S3
    _, _, result = upload(stack, endpoint, "big", body)

    assert result["status"] == "PUBLISHED"
    published = stack.client("s3").head_object(Bucket=stack.bucket, Key=f"serving/{endpoint}/big/v1.tar.gz")
    assert published["ETag"].strip('"').endswith("-3")  # three parts of 5 MiB
    assert published["ContentLength"] == len(body)
    assert published["Metadata"]["sluice-origin"] == "published"
