"""Publishing onto a multi-model endpoint, branch by branch, on in-memory ports."""

from __future__ import annotations

import io
import tarfile
from datetime import UTC, datetime
from typing import Any

import pytest
from fakes import FakeNotifier, FakeObjectStore, FakeRegistry, FakeSageMaker
from hypothesis import given
from hypothesis import strategies as st

from sluice.domain.artifact import ArchiveLimits
from sluice.domain.intake import Upload, upload_sequencer
from sluice.domain.multi_model import MultiModelServices, parse_warmup, register_model_upload
from sluice.domain.ports import InvocationResult, MultiModelEndpoint
from sluice.domain.registry import intake_pk
from sluice.errors import RejectedConfiguration

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
BUCKET = "artifacts"
KEY = "multi-model/mme/churn.tar.gz"


def archive(payload: bytes = b"weights") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("model.pth")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


@pytest.fixture
def services() -> MultiModelServices:
    sagemaker = FakeSageMaker(
        endpoints={"mme": MultiModelEndpoint("mme", "InService", "mme-model", "s3://serving/models/mme/")}
    )
    return MultiModelServices(
        store=FakeObjectStore(),
        registry=FakeRegistry(),
        notifier=FakeNotifier(),
        sagemaker=sagemaker,
        limits=ArchiveLimits(),
    )


def upload(services: MultiModelServices, body: bytes, key: str = KEY, sequencer: str | None = None) -> Upload:
    head = services.store.put(BUCKET, key, body)  # type: ignore[attr-defined]
    return Upload(BUCKET, key, "raw", head.version_id, head.etag, sequencer=upload_sequencer(sequencer))


def test_first_upload_publishes_v1_under_the_endpoint_prefix(services: MultiModelServices) -> None:
    outcome = register_model_upload(upload(services, archive()), services, NOW)
    assert outcome.status == "PUBLISHED"
    assert outcome.details["target_model"] == "churn/v1.tar.gz"
    assert outcome.details["s3_uri"] == "s3://serving/models/mme/churn/v1.tar.gz"
    assert services.store.tags[(BUCKET, KEY)] == {"sluice:status": "published"}  # type: ignore[attr-defined]
    assert services.notifier.sent[-1][0] == "Sluice Model Registered"  # type: ignore[attr-defined]


def test_another_upload_taking_the_number_first_moves_us_to_the_next(services: MultiModelServices) -> None:
    services.registry.steal_next_reservation = 1  # type: ignore[attr-defined]
    outcome = register_model_upload(upload(services, archive()), services, NOW)
    assert outcome.details["version"] == 2


def test_a_name_holding_foreign_bytes_is_skipped_never_overwritten(services: MultiModelServices) -> None:
    foreign = services.store.put("serving", "models/mme/churn/v1.tar.gz", b"someone else's")  # type: ignore[attr-defined]
    outcome = register_model_upload(upload(services, archive()), services, NOW)
    assert outcome.details["version"] == 2
    assert services.store.head("serving", "models/mme/churn/v1.tar.gz") == foreign
    skipped = services.registry.get("model#mme#churn", "v#0000000001")
    assert skipped is not None
    assert skipped["status"] == "SKIPPED"
    assert "already holds other bytes" in skipped["reason"]


def test_a_retry_after_a_crash_resumes_the_reserved_version(services: MultiModelServices) -> None:
    body = archive()
    event = upload(services, body)
    first = register_model_upload(event, services, NOW)
    # Simulate a crash after the copy, before the record was finalized: intake back at PUBLISHING.
    head = services.store.head(BUCKET, KEY)
    assert head is not None
    intake = (intake_pk(BUCKET, KEY), f"version#{head.version_id}")
    services.registry.items[intake]["status"] = "PUBLISHING"  # type: ignore[attr-defined]
    copies_before = len(services.store.copies)  # type: ignore[attr-defined]
    again = register_model_upload(event, services, NOW)
    assert again.details["version"] == first.details["version"] == 1
    assert len(services.store.copies) == copies_before  # the copy had landed: not repeated  # type: ignore[attr-defined]


def test_processed_object_versions_are_not_processed_twice(services: MultiModelServices) -> None:
    event = upload(services, archive())
    register_model_upload(event, services, NOW)
    again = register_model_upload(event, services, NOW)
    assert again.status == "PUBLISHED"
    assert "already processed" in again.message
    assert len(services.store.copies) == 1  # type: ignore[attr-defined]


def test_objects_written_by_sluice_are_ignored(services: MultiModelServices) -> None:
    services.store.put(BUCKET, KEY, archive(), {"sluice-origin": "published"})  # type: ignore[attr-defined]
    outcome = register_model_upload(Upload(BUCKET, KEY, "raw", None, None), services, NOW)
    assert outcome.status == "IGNORED"
    assert "no recursion" in outcome.message


def test_a_vanished_object_is_ignored(services: MultiModelServices) -> None:
    outcome = register_model_upload(Upload(BUCKET, KEY, "raw", None, None), services, NOW)
    assert outcome.status == "IGNORED"
    assert "no longer exists" in outcome.message


def test_a_non_s3_model_data_url_is_a_rejection(services: MultiModelServices) -> None:
    services.sagemaker.endpoints["mme"] = MultiModelEndpoint("mme", "InService", "m", "https://x/")  # type: ignore[attr-defined]
    outcome = register_model_upload(upload(services, archive()), services, NOW)
    assert outcome.status == "REJECTED"
    assert "not an S3 prefix" in outcome.message


def test_warm_up_invokes_the_new_target_model(services: MultiModelServices) -> None:
    services.store.put(
        BUCKET,
        "multi-model/mme/churn.warmup.json",  # type: ignore[attr-defined]
        b'{"content_type": "application/json", "body": {"x": [1, 2]}}',
    )
    outcome = register_model_upload(upload(services, archive()), services, NOW)
    assert outcome.status == "PUBLISHED"
    assert services.sagemaker.invocations == [  # type: ignore[attr-defined]
        ("mme", "churn/v1.tar.gz", "application/json", b'{"x": [1, 2]}')
    ]
    assert outcome.details["warmup"] == {"ok": True, "detail": "HTTP 200"}


def test_a_failed_warm_up_is_recorded_not_fatal(services: MultiModelServices) -> None:
    services.store.put(
        BUCKET, "multi-model/mme/churn.warmup.json", b'{"content_type": "text/csv", "body": "1,2"}'
    )  # type: ignore[attr-defined]
    services.sagemaker.invoke_result = InvocationResult(False, "ModelError: boom")  # type: ignore[attr-defined]
    outcome = register_model_upload(upload(services, archive()), services, NOW)
    assert outcome.status == "PUBLISHED_WARMUP_FAILED"
    assert "ModelError: boom" in outcome.message
    latest = services.registry.latest("mme", "churn")
    assert latest is not None
    assert latest["status"] == "PUBLISHED_WARMUP_FAILED"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "invalid warm-up file"),
        (b'{"body": "x"}', "content_type"),
        (b'{"content_type": "text/csv", "body": "x", "extra": 1}', "extra"),
    ],
)
def test_an_invalid_warm_up_file_is_a_failed_warm_up(
    services: MultiModelServices, body: bytes, message: str
) -> None:
    services.store.put(BUCKET, "multi-model/mme/churn.warmup.json", body)  # type: ignore[attr-defined]
    outcome = register_model_upload(upload(services, archive()), services, NOW)
    assert outcome.status == "PUBLISHED_WARMUP_FAILED"
    assert message in outcome.details["warmup"]["detail"]
    assert services.sagemaker.invocations == []  # type: ignore[attr-defined]


def test_an_oversized_warm_up_file_is_not_used(services: MultiModelServices) -> None:
    services.store.put(BUCKET, "multi-model/mme/churn.warmup.json", b" " * (1024 * 1024 + 1))  # type: ignore[attr-defined]
    outcome = register_model_upload(upload(services, archive()), services, NOW)
    assert outcome.status == "PUBLISHED_WARMUP_FAILED"
    assert "warm-up file not used" in outcome.details["warmup"]["detail"]


def test_parse_warmup_accepts_string_and_json_bodies() -> None:
    assert parse_warmup(b'{"content_type": "text/csv", "body": "1,2"}').body_bytes() == b"1,2"
    assert parse_warmup(b'{"content_type": "a/b", "body": [1]}').body_bytes() == b"[1]"
    with pytest.raises(RejectedConfiguration):
        parse_warmup(b"[]")


def test_a_late_event_of_an_older_upload_is_published_but_not_latest(services: MultiModelServices) -> None:
    older = upload(services, archive(b"older"), sequencer="9")  # shorter: S3 pads it with zeros
    newer = upload(services, archive(b"newer"), sequencer="0A")
    assert register_model_upload(newer, services, NOW).details["latest"] is True
    late = register_model_upload(older, services, NOW)
    assert late.status == "PUBLISHED"
    assert (late.details["version"], late.details["latest"]) == (2, False)
    assert "not latest: v1 was uploaded after it" in late.message
    assert services.notifier.sent[-1][1]["latest"] is False  # type: ignore[attr-defined]
    latest = services.registry.latest("mme", "churn")
    assert latest is not None and latest["version"] == 1


def test_a_later_upload_processed_later_becomes_latest(services: MultiModelServices) -> None:
    register_model_upload(upload(services, archive(b"one"), sequencer="00617F08299329D189"), services, NOW)
    second = register_model_upload(
        upload(services, archive(b"two"), sequencer="00617F0829932A0000"), services, NOW
    )
    assert (second.details["version"], second.details["latest"]) == (2, True)
    assert "not latest" not in second.message


def test_bytes_uploaded_again_keep_latest_against_a_late_older_upload(services: MultiModelServices) -> None:
    """A (bytes X), B (Y), C (X again) uploaded in that order; the events arrive A, C, then B late. C is
    UNCHANGED (latest already holds X), and must still count as latest's upload: B, older than C, is
    published but does not take latest over."""
    x = archive(b"x")
    first = register_model_upload(upload(services, x, sequencer="01"), services, NOW)
    store: Any = services.store
    store.versions[(BUCKET, KEY, "again")] = (x, {})  # S3 gives the same bytes a new version id
    head = store.head(BUCKET, KEY, "again")
    reupload = Upload(BUCKET, KEY, "raw", "again", head.etag, sequencer=upload_sequencer("03"))
    again = register_model_upload(reupload, services, NOW)
    late = register_model_upload(upload(services, archive(b"y"), sequencer="02"), services, NOW)
    assert (first.status, again.status, late.status) == ("PUBLISHED", "UNCHANGED", "PUBLISHED")
    assert (late.details["version"], late.details["latest"]) == (2, False)
    latest = services.registry.latest("mme", "churn")
    assert latest is not None and latest["version"] == 1  # X, the bytes uploaded last


def test_without_sequencers_latest_follows_the_version_number(services: MultiModelServices) -> None:
    register_model_upload(upload(services, archive(b"one")), services, NOW)
    second = register_model_upload(upload(services, archive(b"two")), services, NOW)
    assert second.details["latest"] is True
    latest = services.registry.latest("mme", "churn")
    assert latest is not None and latest["version"] == 2


def test_a_sequencer_replaces_a_latest_published_without_one(services: MultiModelServices) -> None:
    register_model_upload(upload(services, archive(b"one")), services, NOW)
    second = register_model_upload(upload(services, archive(b"two"), sequencer="01"), services, NOW)
    assert second.details["latest"] is True


@pytest.mark.parametrize("raw", [None, "", "  ", "not-hex", "12G4"])
def test_a_missing_or_malformed_sequencer_is_none(raw: str | None) -> None:
    assert upload_sequencer(raw) is None


@given(st.integers(min_value=0, max_value=16**31), st.integers(min_value=0, max_value=16**31))
def test_normalized_sequencers_order_as_their_values(a: int, b: int) -> None:
    """Any hex spelling (case, leading zeros, length) compares as a string like the numbers it names."""
    left, right = upload_sequencer(f"{a:x}"), upload_sequencer(f"{b:018X}")
    assert left is not None and right is not None
    assert (left < right) == (a < b) and (left == right) == (a == b)


class Died(BaseException):
    """The invocation dying (a crash, a timeout): nothing in the intake catches it."""


@pytest.mark.parametrize("dies_at", ["merge_tags", "notify"])
def test_a_crash_after_the_registry_write_still_tags_and_notifies_on_the_retry(
    services: MultiModelServices, monkeypatch: pytest.MonkeyPatch, dies_at: str
) -> None:
    """The intake is final only once the upload is tagged and notified: until then the retry resumes it
    (same vN, the copy found, latest kept) and finishes the tail."""
    event = upload(services, archive(), sequencer="0A")
    port = services.store if dies_at == "merge_tags" else services.notifier

    def die(*args: object, **kwargs: object) -> None:
        raise Died

    with monkeypatch.context() as patch:
        patch.setattr(port, dies_at, die)
        with pytest.raises(Died):
            register_model_upload(event, services, NOW)
    head = services.store.head(BUCKET, KEY)
    assert head is not None
    intake = services.registry.get(intake_pk(BUCKET, KEY), f"version#{head.version_id}")
    assert intake is not None and (intake["status"], intake["version"]) == ("PUBLISHING", 1)

    again = register_model_upload(event, services, NOW)

    assert (again.status, again.details["version"], again.details["latest"]) == ("PUBLISHED", 1, True)
    assert len(services.store.copies) == 1  # type: ignore[attr-defined]
    assert services.store.tags[(BUCKET, KEY)] == {"sluice:status": "published"}  # type: ignore[attr-defined]
    sent = [(t, d["version"], d["latest"]) for t, d in services.notifier.sent]  # type: ignore[attr-defined]
    assert sent == [("Sluice Model Registered", 1, True)]
    intake = services.registry.get(intake_pk(BUCKET, KEY), f"version#{head.version_id}")
    assert intake is not None and intake["status"] == "PUBLISHED"
    assert register_model_upload(event, services, NOW).message.endswith("nothing done again")


def test_a_crash_before_a_rejection_is_notified_rejects_again_on_the_retry(
    services: MultiModelServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = upload(services, b"this is not a gzip file")

    def die(*args: object, **kwargs: object) -> None:
        raise Died

    with monkeypatch.context() as patch:
        patch.setattr(services.notifier, "notify", die)
        with pytest.raises(Died):
            register_model_upload(event, services, NOW)

    retried = register_model_upload(event, services, NOW)

    assert retried.status == "REJECTED"
    assert [t for t, _ in services.notifier.sent] == ["Sluice Artifact Rejected"]  # type: ignore[attr-defined]
    assert register_model_upload(event, services, NOW).message.endswith("nothing done again")
