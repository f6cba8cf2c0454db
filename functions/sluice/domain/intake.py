"""What every intake shares: resolving the uploaded object, the intake record, rejections, outcomes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from sluice.domain.layout import (
    BatchInput,
    EndpointArtifact,
    KeyEncoding,
    MultiModelArtifact,
    OutsideLayout,
    candidate_keys,
    classify_key,
)
from sluice.domain.ports import NotifierPort, ObjectHead, ObjectStore, Registry
from sluice.domain.registry import INTAKE_INDEX_PK, intake_pk, intake_sk
from sluice.errors import Rejected

STATUS_TAG = "sluice:status"
REJECTED_DETAIL_TYPE = "Sluice Artifact Rejected"


@dataclass(frozen=True)
class Upload:
    """One uploaded object version, as an event reported it (the key may still be URL-encoded)."""

    bucket: str
    key_in_event: str
    key_encoding: KeyEncoding
    version_id: str | None
    etag: str | None
    event_time: str | None = None  # when S3 reported the upload (the event's `time`), ISO 8601
    sequencer: str | None = None  # S3's `sequencer` for this key, normalized by `upload_sequencer`


SEQUENCER_WIDTH = 32


def upload_sequencer(raw: str | None) -> str | None:
    """S3's `sequencer` as a string DynamoDB orders like S3 does; None when absent or not hex.

    AWS (S3 event message structure): events for the same key are ordered by `sequencer`, the greater
    value being the later event; values may differ in length, so the shorter is left-padded with zeros
    before a lexicographic comparison. Uppercased and padded to a fixed width, any two compare as
    strings (sam local events and hand-made ones may carry none: nothing is rejected for it).
    """
    if not raw:
        return None
    value = raw.strip().upper()
    if not value or any(c not in "0123456789ABCDEF" for c in value):
        return None
    return value.rjust(SEQUENCER_WIDTH, "0")


@dataclass(frozen=True)
class Outcome:
    """What an intake did, for the handler's return value and logs."""

    status: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "message": self.message, **self.details}


def ignored(message: str, **details: Any) -> Outcome:
    return Outcome(status="IGNORED", message=message, details=details)


def resolve_object(upload: Upload, store: ObjectStore) -> ObjectHead | None:
    """The real object behind an event's key, decoding the key at most once; None when it is gone."""
    for key in candidate_keys(upload.key_in_event, upload.key_encoding):
        head = store.head(upload.bucket, key, upload.version_id)
        if head is not None:
            return head
    return None


Target = TypeVar("Target", MultiModelArtifact, BatchInput, EndpointArtifact)


@dataclass(frozen=True)
class OpenedIntake(Generic[Target]):
    """An upload this journey acts on: the real object, what the layout says it is, its earlier record."""

    head: ObjectHead
    target: Target
    previous: dict[str, Any] | None

    @property
    def key(self) -> tuple[str, str]:
        return intake_key(self.head)


def open_intake(
    upload: Upload,
    services: IntakeServices,
    target_type: type[Target],
    *,
    resumable: frozenset[str],
    now: datetime,
) -> OpenedIntake[Target] | Outcome:
    """The start every intake shares: find the real object, skip what is not ours to act on, and record
    the upload as RECEIVED — or return the Outcome that ends the journey here.

    An object version already recorded in a status outside `resumable` was processed before: nothing is
    done again (this holds beyond the idempotency window too).
    """
    head = resolve_object(upload, services.store)
    if head is None:
        return ignored("the object no longer exists", bucket=upload.bucket, key=upload.key_in_event)
    if head.written_by_sluice:
        return ignored("written by Sluice itself (no recursion)", key=head.key)
    target = classify_key(head.key)
    if not isinstance(target, target_type):
        reason = target.reason if isinstance(target, OutsideLayout) else f"not a {target_type.__name__}"
        return ignored(reason, key=head.key)
    previous = services.registry.get(*intake_key(head))
    if previous is not None and previous.get("status") not in resumable:
        return Outcome(
            status=str(previous["status"]),
            message="this object version was already processed; nothing done again",
            details={
                "key": head.key,
                "version": previous.get("version"),
                "job_name": previous.get("job_name"),
            },
        )
    if previous is None:
        names = {k: v for k, v in vars(target).items() if k in ("endpoint", "model", "version")}
        services.registry.put(intake_record(head, target.kind, "RECEIVED", now, **names))
    return OpenedIntake(head=head, target=target, previous=previous)


def intake_key(head: ObjectHead) -> tuple[str, str]:
    return intake_pk(head.bucket, head.key), intake_sk(head.version_id, head.etag)


def intake_record(head: ObjectHead, kind: str, status: str, now: datetime, **attrs: Any) -> dict[str, Any]:
    pk, sk = intake_key(head)
    return {
        "pk": pk,
        "sk": sk,
        "gsi1pk": INTAKE_INDEX_PK,
        "gsi1sk": f"{now.isoformat()}#{head.key}",
        "kind": kind,
        "bucket": head.bucket,
        "key": head.key,
        "source_version_id": head.version_id,
        "etag": head.etag,
        "size": head.size,
        "status": status,
        "received_at": now.isoformat(),
        "updated_at": now.isoformat(),
        **attrs,
    }


@dataclass(frozen=True)
class IntakeServices:
    store: ObjectStore
    registry: Registry
    notifier: NotifierPort


def reject(
    services: IntakeServices, head: ObjectHead, kind: str, error: Rejected, now: datetime, **context: Any
) -> Outcome:
    """Tag, notify and record a rejection. The source object stays where it is, untouched but for a tag.

    Recorded last: a retry after a crash before that rejects the upload again (a notification may be
    sent twice, never lost); a REJECTED record ends every later delivery."""
    services.store.merge_tags(head.bucket, head.key, head.version_id, {STATUS_TAG: "rejected"})
    detail = {
        "status": "REJECTED",
        "kind": kind,
        "code": error.code,
        "reason": error.reason,
        "bucket": head.bucket,
        "key": head.key,
        "version_id": head.version_id,
        **context,
    }
    services.notifier.notify(REJECTED_DETAIL_TYPE, detail, subject=f"Sluice rejected {head.key}"[:100])
    pk, sk = intake_key(head)
    attrs = {"status": "REJECTED", "code": error.code, "reason": error.reason, "updated_at": now.isoformat()}
    if not services.registry.update(pk, sk, {**attrs, **context}):
        services.registry.put(intake_record(head, kind, "REJECTED", now, **attrs, **context))
    return Outcome(status="REJECTED", message=error.reason, details=detail)
