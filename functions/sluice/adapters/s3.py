"""Amazon S3: heads, streams, managed copies and tags of artifact objects."""

from __future__ import annotations

from typing import Any, BinaryIO, cast
from urllib.parse import quote

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from sluice.adapters.clients import client, error_code
from sluice.domain.ports import ORIGIN_METADATA, SHA256_METADATA, ObjectHead
from sluice.errors import TransientAwsError

SOURCE_METADATA = "sluice-source"
SOURCE_VERSION_METADATA = "sluice-source-version-id"

# Multipart above 64 MiB: CopyObject's single-request limit is 5 GB, so large models must be copied in parts.
_COPY_CONFIG = TransferConfig(multipart_threshold=64 * 1024**2, multipart_chunksize=64 * 1024**2)
_NOT_FOUND = {"404", "NoSuchKey", "NotFound", "NoSuchVersion"}


class S3ObjectStore:
    def head(self, bucket: str, key: str, version_id: str | None = None) -> ObjectHead | None:
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        try:
            response = client("s3").head_object(**kwargs)
        except ClientError as exc:
            if error_code(exc) in _NOT_FOUND or (error_code(exc) == "400" and version_id):
                return None
            raise
        version = response.get("VersionId")
        return ObjectHead(
            bucket=bucket,
            key=key,
            size=int(response["ContentLength"]),
            etag=str(response.get("ETag", "")).strip('"'),
            version_id=None if version in (None, "null") else version,
            metadata={k.lower(): v for k, v in response.get("Metadata", {}).items()},
        )

    def open_stream(self, bucket: str, key: str, version_id: str | None) -> BinaryIO:
        """The object's body as a stream: read in chunks, never held whole."""
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        return cast(BinaryIO, client("s3").get_object(**kwargs)["Body"])

    def read_small(self, bucket: str, key: str, *, max_bytes: int) -> bytes | None:
        """A small configuration object, or None when it does not exist. Larger than max_bytes: ValueError."""
        try:
            response = client("s3").get_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in _NOT_FOUND:
                return None
            raise
        if int(response["ContentLength"]) > max_bytes:
            response["Body"].close()
            raise ValueError(f"s3://{bucket}/{key} is {response['ContentLength']} bytes; at most {max_bytes}")
        return cast(bytes, response["Body"].read())

    def copy_published(self, source: ObjectHead, bucket: str, key: str, *, sha256: str) -> ObjectHead:
        """Managed (multipart when large) copy of one exact source version, marked as Sluice's own."""
        copy_source: dict[str, str] = {"Bucket": source.bucket, "Key": source.key}
        if source.version_id:
            copy_source["VersionId"] = source.version_id
        metadata = {
            ORIGIN_METADATA: "published",
            SHA256_METADATA: sha256,
            SOURCE_METADATA: quote(f"s3://{source.bucket}/{source.key}", safe=":/"),
        }
        if source.version_id:
            metadata[SOURCE_VERSION_METADATA] = source.version_id
        try:
            client("s3").copy(
                copy_source,
                bucket,
                key,
                # The source's tags (a user's, or ours from an earlier attempt) are not carried over.
                ExtraArgs={
                    "Metadata": metadata,
                    "MetadataDirective": "REPLACE",
                    "Tagging": "sluice%3Aorigin=published",
                    "TaggingDirective": "REPLACE",
                },
                Config=_COPY_CONFIG,
            )
        except ClientError as exc:
            if error_code(exc) in {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"}:
                raise TransientAwsError(f"copy to s3://{bucket}/{key} failed: {exc}") from exc
            raise
        copied = self.head(bucket, key)
        if copied is None or copied.size != source.size:
            raise TransientAwsError(f"copy to s3://{bucket}/{key} is missing or incomplete after the copy")
        return copied

    def merge_tags(self, bucket: str, key: str, version_id: str | None, tags: dict[str, str]) -> None:
        """Add or replace tags on one object version, keeping the user's own tags (10 at most in all)."""
        s3 = client("s3")
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        existing = {t["Key"]: t["Value"] for t in s3.get_object_tagging(**kwargs).get("TagSet", [])}
        merged = {**existing, **tags}
        if len(merged) > 10:
            # S3 allows 10 tags per object; ours win, the user's oldest extras are dropped from the tail.
            keep = {k: v for k, v in existing.items() if k not in tags}
            merged = dict(list(keep.items())[: 10 - len(tags)]) | tags
        s3.put_object_tagging(
            **kwargs, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in merged.items()]}
        )
