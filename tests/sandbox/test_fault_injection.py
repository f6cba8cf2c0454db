"""faults.py on plain moto: S3 faults reach every S3 operation Sluice uses through moto's own S3 dispatch
(a moto release that moves the hook fails here), answer S3's status, and `crash_after` kills only the
invocation that made the call."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from sluice_cli.sandbox.faults import FaultInjection, InvocationCrashed
from sluice_cli.sandbox.lambda_runtime import function_environment

BUCKET = "bkt"
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})


@pytest.fixture
def s3() -> Iterator[tuple[Any, FaultInjection]]:
    with mock_aws(), FaultInjection() as faults:
        client = boto3.client("s3", region_name="us-east-1", config=NO_RETRIES)
        client.create_bucket(Bucket=BUCKET)
        client.put_object(Bucket=BUCKET, Key="src", Body=b"source bytes")
        yield client, faults


def _upload_part_copy(client: Any) -> Any:
    upload = client.create_multipart_upload(Bucket=BUCKET, Key="dst")["UploadId"]
    return client.upload_part_copy(
        Bucket=BUCKET, Key="dst", UploadId=upload, PartNumber=2, CopySource={"Bucket": BUCKET, "Key": "src"}
    )


def _complete(client: Any) -> Any:
    upload = client.create_multipart_upload(Bucket=BUCKET, Key="dst")["UploadId"]
    etag = client.upload_part_copy(
        Bucket=BUCKET, Key="dst", UploadId=upload, PartNumber=1, CopySource={"Bucket": BUCKET, "Key": "src"}
    )["CopyPartResult"]["ETag"]
    return client.complete_multipart_upload(
        Bucket=BUCKET,
        Key="dst",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )


def _abort(client: Any) -> Any:
    upload = client.create_multipart_upload(Bucket=BUCKET, Key="dst")["UploadId"]
    return client.abort_multipart_upload(Bucket=BUCKET, Key="dst", UploadId=upload)


# Every S3 operation Sluice (its adapters, s3transfer's managed copy) and its tests make.
OPERATIONS = {
    "HeadObject": lambda c: c.head_object(Bucket=BUCKET, Key="src"),
    "GetObject": lambda c: c.get_object(Bucket=BUCKET, Key="src"),
    "PutObject": lambda c: c.put_object(Bucket=BUCKET, Key="k", Body=b"1"),
    "CopyObject": lambda c: c.copy_object(
        Bucket=BUCKET, Key="k", CopySource={"Bucket": BUCKET, "Key": "src"}
    ),
    "CreateMultipartUpload": lambda c: c.create_multipart_upload(Bucket=BUCKET, Key="dst"),
    "UploadPartCopy": _upload_part_copy,
    "CompleteMultipartUpload": _complete,
    "AbortMultipartUpload": _abort,
    "GetObjectTagging": lambda c: c.get_object_tagging(Bucket=BUCKET, Key="src"),
    "PutObjectTagging": lambda c: c.put_object_tagging(
        Bucket=BUCKET, Key="src", Tagging={"TagSet": [{"Key": "a", "Value": "b"}]}
    ),
    "ListObjectsV2": lambda c: c.list_objects_v2(Bucket=BUCKET),
    "ListObjectVersions": lambda c: c.list_object_versions(Bucket=BUCKET),
    "ListMultipartUploads": lambda c: c.list_multipart_uploads(Bucket=BUCKET),
}


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_an_s3_fault_answers_each_operation_through_moto_s3_dispatch(
    s3: tuple[Any, FaultInjection], operation: str
) -> None:
    """If this fails after a moto upgrade, moto's S3 no longer passes `_authenticate_and_authorize_s3_action`
    (or names the request differently): move the hook in faults.py."""
    client, faults = s3
    fault = faults.fail("s3", operation, "InvalidRequest", f"drill on {operation}", times=1)
    with pytest.raises(ClientError) as refused:
        OPERATIONS[operation](client)
    assert refused.value.response["Error"] == {"Code": "InvalidRequest", "Message": f"drill on {operation}"}
    assert refused.value.operation_name == operation
    assert fault.failed == 1
    OPERATIONS[operation](client)  # answered once only


def test_s3_faults_answer_s3s_status_and_botocore_retries_them_as_on_aws(
    s3: tuple[Any, FaultInjection],
) -> None:
    client, faults = s3
    faults.fail("s3", "PutObject", "SlowDown", "Please reduce your request rate.", when={"Key": "k"})
    with pytest.raises(ClientError) as refused:
        client.put_object(Bucket=BUCKET, Key="k", Body=b"1")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert refused.value.response["Error"]["Code"] == "SlowDown"

    retrying = boto3.client("s3", region_name="us-east-1", config=Config(retries={"mode": "standard"}))
    fault = faults.fail("s3", "HeadObject", "InternalError", "We encountered an internal error.", times=2)
    assert retrying.head_object(Bucket=BUCKET, Key="src")["ResponseMetadata"]["RetryAttempts"] == 2
    assert fault.failed == 2


def test_a_copy_failing_after_it_started_is_a_200_with_the_error_in_the_body(
    s3: tuple[Any, FaultInjection],
) -> None:
    """S3 API reference (CopyObject, UploadPartCopy): an error during the copy is embedded in a 200 OK;
    botocore reads it as a 500 (`_handle_200_error`) and retries."""
    client, faults = s3
    faults.fail(
        "s3",
        "UploadPartCopy",
        "InternalError",
        "We encountered an internal error. Please try again.",
        status=200,
        when={"PartNumber": "2"},
    )
    with pytest.raises(ClientError) as refused:
        _upload_part_copy(client)
    assert refused.value.response["Error"]["Code"] == "InternalError"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500


def test_crash_after_kills_the_invocation_that_made_the_call_right_after_it(
    s3: tuple[Any, FaultInjection],
) -> None:
    client, faults = s3
    faults.crash_after("s3", "PutObject", when={"Key": "k"})
    client.put_object(Bucket=BUCKET, Key="other", Body=b"1")  # not a handler: never crashes
    with function_environment({}), pytest.raises(InvocationCrashed, match="after s3 PutObject"):
        client.put_object(Bucket=BUCKET, Key="k", Body=b"1")
    assert client.get_object(Bucket=BUCKET, Key="k")["Body"].read() == b"1"  # the call itself landed
    client.put_object(Bucket=BUCKET, Key="k", Body=b"2")  # once only


def test_a_call_on_a_transfer_thread_crashes_the_handler_at_its_next_call(
    s3: tuple[Any, FaultInjection],
) -> None:
    client, faults = s3
    faults.crash_after("s3", "CopyObject")
    with function_environment({}):
        worker = threading.Thread(
            target=client.copy_object, kwargs={"Bucket": BUCKET, "Key": "k", "CopySource": f"{BUCKET}/src"}
        )
        worker.start()
        worker.join()
        with pytest.raises(InvocationCrashed, match="after s3 CopyObject"):
            client.head_object(Bucket=BUCKET, Key="k")
        client.head_object(Bucket=BUCKET, Key="k")


def test_crash_before_kills_the_invocation_instead_of_sending_the_call(
    s3: tuple[Any, FaultInjection],
) -> None:
    client, faults = s3
    faults.crash_before("s3", "PutObject", when={"Key": "k"})
    client.put_object(Bucket=BUCKET, Key="k", Body=b"user")  # not a handler: never crashes
    with function_environment({}), pytest.raises(InvocationCrashed, match="before sending s3 PutObject"):
        client.put_object(Bucket=BUCKET, Key="k", Body=b"handler")
    assert client.get_object(Bucket=BUCKET, Key="k")["Body"].read() == b"user"  # never sent


def test_a_crash_picks_its_call_by_a_path_inside_a_parameter(s3: tuple[Any, FaultInjection]) -> None:
    client, faults = s3
    faults.crash_after("s3", "PutObject", when={"Metadata.owner": "handler"})
    with function_environment({}):
        client.put_object(Bucket=BUCKET, Key="k", Body=b"1", Metadata={"owner": "other"})
        with pytest.raises(InvocationCrashed):
            client.put_object(Bucket=BUCKET, Key="k", Body=b"2", Metadata={"owner": "handler"})
