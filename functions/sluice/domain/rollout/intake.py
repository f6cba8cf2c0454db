"""Rollout intake of `endpoints/<endpoint>/<version>/model.tar.gz`: validation, the endpoint's lease, the
queue of the newest waiting version, and the takeover of a dead execution's lease."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from sluice.domain.artifact import validate_archive
from sluice.domain.deploy_config import DeployConfig, check_images, parse_deploy_config
from sluice.domain.intake import Outcome, Upload, open_intake, reject
from sluice.domain.layout import EndpointArtifact, validate_sagemaker_name, validate_version
from sluice.domain.ports import ObjectHead
from sluice.domain.publishing import publish_once
from sluice.domain.rollout.dead_execution import hold_orphan, left_half_way, record_abandoned
from sluice.domain.rollout.log import decide, utc_iso
from sluice.domain.rollout.services import RolloutServices
from sluice.errors import Rejected, RejectedConfiguration, RejectedTarget

KIND = "endpoint"


MAX_DEPLOY_CONFIG_BYTES = 256 * 1024


def rollout_id_for(now: datetime, version: str, suffix: str) -> str:
    """Sortable by start time (newest first in a query), unique per upload."""
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{version}-{suffix}"


def execution_name(endpoint: str, version: str, suffix: str) -> str:
    """Step Functions execution names: at most 80 of [A-Za-z0-9-_]."""
    return f"{endpoint[:52]}-{version[:18]}-{suffix}"[:80]


def upload_time(upload: Upload, now: datetime) -> str:
    """When the upload happened (the S3 event's time, else now), in one fixed, sortable UTC format."""
    when = now
    if upload.event_time:
        try:
            when = datetime.fromisoformat(upload.event_time.replace("Z", "+00:00"))
        except ValueError:
            when = now
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_suffix(seed: str) -> str:
    """6 hex characters, unique enough per rollout (the caller passes something random or unique)."""
    return hashlib.sha256(seed.encode()).hexdigest()[:6]


def start_rollout_upload(upload: Upload, services: RolloutServices, now: datetime, suffix: str) -> Outcome:
    """Validate an uploaded version and start its rollout, or queue it behind the running one."""
    opened = open_intake(upload, services, EndpointArtifact, resumable=frozenset({"RECEIVED"}), now=now)
    if isinstance(opened, Outcome):
        return opened
    head, target = opened.head, opened.target
    context = {"endpoint": target.endpoint, "version": target.version}
    try:
        validate_sagemaker_name(target.endpoint, "endpoint")
        validate_version(target.version)
        config, config_source = _deploy_config(services, head, target)
        with services.store.open_stream(head.bucket, head.key, head.version_id) as stream:
            report = validate_archive(stream, services.limits)
        model_data = _publish_model_data(services, head, target, report.sha256)
    except Rejected as error:
        return reject(services, head, KIND, error, now, **context)

    resumed = _resumed_rollout(services, target.endpoint, opened.previous)
    if resumed is not None and (resumed.get("execution_arn") or resumed.get("status") not in _RESTARTABLE):
        # An earlier attempt of this upload started (or queued) its rollout, then died before saying so.
        return _recorded_started(services, opened.key, resumed, context, now)
    if resumed is None:
        rollout_id = rollout_id_for(now, target.version, suffix)
        # Named on the intake before anything else is written: an attempt that dies after this point is
        # resumed by the retry for this same rollout (its lease, its execution name), never doubled.
        services.registry.update(
            *opened.key, {"rollout_id": rollout_id, "suffix": suffix, "updated_at": utc_iso(now)}
        )
    else:
        rollout_id, suffix = str(resumed["rollout_id"]), str(resumed["suffix"])
        if resumed.get("status") == "START_FAILED":  # its StartExecution failed and gave the lease back
            services.rollouts.update_rollout(
                target.endpoint, rollout_id, {"status": "STARTING", "reason": None}
            )
    record = {
        "status": "STARTING",
        "version": target.version,
        "suffix": suffix,
        "source": {"bucket": head.bucket, "key": head.key, "version_id": head.version_id},
        "model_data_url": model_data.uri,
        "model_data_version_id": model_data.version_id,
        "uploaded_at": upload_time(upload, now),
        "sha256": report.sha256,
        # JSON text: the registry drops None inside maps, and an explicit null means something here
        # ("auto_alarms": null = no automatic alarms, "model_data": null = no model data).
        "config": config.model_dump_json(exclude_unset=True),
        "config_source": config_source,
        "step_index": -1,
    }
    if services.rollouts.create_rollout(target.endpoint, rollout_id, record, utc_iso(now)):
        decide(
            services,
            target.endpoint,
            rollout_id,
            now,
            "received",
            f"{head.key} (sha256 {report.sha256[:12]}…) with {config_source}; the model serves "
            f"{model_data.uri}",
            model_data_url=model_data.uri,
        )
    started = _start_or_queue(services, target.endpoint, rollout_id, target.version, suffix, now)
    # Only now: if starting failed, the retried event must find the upload still to be done.
    return _recorded_started(
        services,
        opened.key,
        {"rollout_id": rollout_id, "status": "STARTING" if started else "QUEUED"},
        context,
        now,
    )


# A rollout an earlier attempt of the same upload created, and whose execution never started.
_RESTARTABLE = ("STARTING", "START_FAILED")


def _resumed_rollout(
    services: RolloutServices, endpoint: str, previous: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The rollout an earlier attempt of this upload named on its intake record (None: a first attempt,
    or one that died before naming it)."""
    named = previous or {}
    if not named.get("rollout_id") or not named.get("suffix"):
        return None
    rollout_id = str(named["rollout_id"])
    # Not created yet (it died in between): the retry creates it, under the same name.
    return services.rollouts.rollout(endpoint, rollout_id) or {
        "rollout_id": rollout_id,
        "suffix": named["suffix"],
        "status": "STARTING",
    }


def _recorded_started(
    services: RolloutServices,
    intake: tuple[str, str],
    rollout: dict[str, Any],
    context: dict[str, str],
    now: datetime,
) -> Outcome:
    """The upload's intake record says its rollout runs (or waits its turn): the intake is done."""
    rollout_id = str(rollout["rollout_id"])
    services.registry.update(
        *intake, {"status": "ROLLOUT_STARTED", "rollout_id": rollout_id, "updated_at": utc_iso(now)}
    )
    queued = rollout.get("status") in ("QUEUED", "SUPERSEDED", "CANCELLED")
    message = (
        f"rollout {rollout_id} of {context['version']} on {context['endpoint']} "
        f"{'queued behind the running rollout' if queued else 'started'}"
    )
    return Outcome(
        status="QUEUED" if queued else "STARTED",
        message=message,
        details={**context, "rollout_id": rollout_id},
    )


def _publish_model_data(
    services: RolloutServices, head: ObjectHead, target: EndpointArtifact, sha256: str
) -> ObjectHead:
    """The validated object version, copied by its version id to a key that never changes: the
    candidate's ModelDataUrl (SageMaker reads it again on every scale-out or instance replacement, so
    the upload key, which anyone may overwrite, must not be it). A retried intake finds its copy."""
    key = target.published_key(sha256)
    published = publish_once(services.store, head, head.bucket, key, sha256=sha256)
    if published is None:
        raise RejectedTarget(
            f"s3://{head.bucket}/{key} already holds other bytes than this archive; Sluice never overwrites "
            "model data (move that object away if no model serves it, then upload again)"
        )
    return published


def _deploy_config(
    services: RolloutServices, head: ObjectHead, target: EndpointArtifact
) -> tuple[DeployConfig, str]:
    for key in target.deploy_config_keys:
        try:
            raw = services.store.read_small(head.bucket, key, max_bytes=MAX_DEPLOY_CONFIG_BYTES)
        except ValueError as exc:
            raise RejectedConfiguration(f"{key} is too large: {exc}") from exc
        if raw is not None:
            try:
                config = parse_deploy_config(raw)
                # Before anything is created: write access to endpoints/ must not mean "run any container".
                check_images(config, services.allowed_registries)
            except RejectedConfiguration as error:
                raise RejectedConfiguration(f"{key}: {error.reason}") from error
            return config, key
    return DeployConfig(), "default settings (no deploy.json)"


LEASE_GRACE = timedelta(minutes=2)  # a lease this young may belong to an execution still starting


def _holder(
    endpoint: str, rollout_id: str, version: str, suffix: str, arn: str, now: datetime
) -> dict[str, Any]:
    name = execution_name(endpoint, version, suffix)
    return {
        "rollout_id": rollout_id,
        "execution_name": name,
        "acquired_at": utc_iso(now),
        "execution_arn": _execution_arn(arn, name),
        "version": version,
    }


def _start_execution(services: RolloutServices, endpoint: str, holder: dict[str, Any]) -> None:
    """Start the execution that now holds the lease; if that fails, give the lease back and say why
    (the error is raised on, so the event is retried or lands in the failure queue)."""
    rollout_id, version = holder["rollout_id"], holder["version"]
    try:
        services.workflow.start(
            services.state_machine_arn,
            holder["execution_name"],
            {"rollout_id": rollout_id, "endpoint": endpoint, "version": version},
        )
    except Exception as error:
        services.rollouts.release_lease(endpoint, rollout_id)
        services.rollouts.update_rollout(
            endpoint, rollout_id, {"status": "START_FAILED", "reason": f"StartExecution failed: {error}"}
        )
        raise
    services.rollouts.update_rollout(endpoint, rollout_id, {"execution_arn": holder["execution_arn"]})


def _dead_holder(
    services: RolloutServices, endpoint: str, lease: dict[str, Any], now: datetime
) -> dict[str, Any] | None:
    """The holder's rollout record ({} if gone) when its execution ended without releasing the lease
    (crash, manual stop), else None. Not so a rollout that NEEDS_ATTENTION: its execution has ended too,
    but the endpoint may be half-way, and only a human (`sluice resolve`) hands its lease on."""
    arn, acquired = lease.get("execution_arn"), lease.get("acquired_at")
    if not arn:
        return None
    if acquired and now - datetime.fromisoformat(str(acquired)) < LEASE_GRACE:
        return None
    holder = services.rollouts.rollout(endpoint, str(lease.get("rollout_id"))) or {}
    if holder.get("status") == "NEEDS_ATTENTION" or services.workflow.is_running(str(arn)):
        return None
    return holder


def _start_or_queue(
    services: RolloutServices, endpoint: str, rollout_id: str, version: str, suffix: str, now: datetime
) -> bool:
    holder = _holder(endpoint, rollout_id, version, suffix, services.state_machine_arn, now)
    current: dict[str, Any] = {}
    for _ in range(3):  # {}: the lease vanished between our put and our read - try again
        lease = services.rollouts.acquire_lease(endpoint, holder)
        if lease is None or lease.get("rollout_id") == rollout_id:  # ours: taken by an attempt that died
            _start_execution(services, endpoint, holder)
            return True
        current = lease
        if current:
            break
    dead_holder = _dead_holder(services, endpoint, current, now)
    if dead_holder is not None:
        dead = str(current.get("rollout_id"))
        endpoint_state = services.endpoints.state(endpoint)
        left = left_half_way(endpoint, endpoint_state)
        if left is not None:
            hold_orphan(services, endpoint, current, dead_holder, endpoint_state, left, now)
        elif services.rollouts.take_over_lease(endpoint, dead, holder):
            record_abandoned(
                services,
                endpoint,
                current,
                dead_holder,
                f"the endpoint was in one piece, so rollout {rollout_id} took the lease over",
                now,
            )
            decide(
                services,
                endpoint,
                rollout_id,
                now,
                "lease recovered",
                f"the lease of {dead} belonged to an execution that is no longer running; the endpoint "
                "is in one piece",
            )
            _start_execution(services, endpoint, holder)
            return True
    _queue(services, endpoint, rollout_id, version, now, behind=str(current.get("rollout_id")))
    # Check-and-queue is two writes: the running rollout may have ended between them, found nothing
    # queued and freed the lease. Look again, so a version is never left queued behind no one.
    if services.rollouts.lease(endpoint) is None and services.rollouts.queued(endpoint):
        started = start_next_queued(services, endpoint, str(current.get("rollout_id")), now)
        return started == rollout_id
    return False


def _execution_arn(state_machine_arn: str, name: str) -> str:
    return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"


def _queue(
    services: RolloutServices, endpoint: str, rollout_id: str, version: str, now: datetime, *, behind: str
) -> None:
    """Only the newest upload runs next: queued behind the running rollout, it supersedes the version
    queued before it - unless that one was uploaded later (a late event), then it is itself superseded."""
    rollout = services.rollouts.rollout(endpoint, rollout_id) or {}
    uploaded_at = str(rollout.get("uploaded_at") or utc_iso(now))
    taken, replaced = services.rollouts.queue_if_newest(
        endpoint,
        {"rollout_id": rollout_id, "version": version, "queued_at": utc_iso(now), "uploaded_at": uploaded_at},
    )
    if not taken:
        services.rollouts.update_rollout(endpoint, rollout_id, {"status": "SUPERSEDED"})
        decide(
            services,
            endpoint,
            rollout_id,
            now,
            "superseded",
            "a version uploaded after this one is already queued; only the newest queued version runs",
            notify="SUPERSEDED",
        )
        return
    services.rollouts.update_rollout(endpoint, rollout_id, {"status": "QUEUED", "queued_behind": behind})
    blocking = services.rollouts.rollout(endpoint, behind) or {}
    decide(
        services,
        endpoint,
        rollout_id,
        now,
        "queued",
        f"rollout {behind} needs attention and holds the endpoint; this version runs once someone has "
        f"resolved it (`sluice resolve {endpoint}`)"
        if blocking.get("status") == "NEEDS_ATTENTION"
        else f"rollout {behind} holds the endpoint; this version runs when it ends",
        notify="QUEUED",
    )
    if replaced and replaced.get("rollout_id") != rollout_id:
        old = str(replaced["rollout_id"])
        services.rollouts.update_rollout(endpoint, old, {"status": "SUPERSEDED", "superseded_by": rollout_id})
        decide(
            services,
            endpoint,
            old,
            now,
            "superseded",
            f"version {version} was uploaded while this one waited; only the newest queued version runs",
            notify="SUPERSEDED",
        )


def start_next_queued(services: RolloutServices, endpoint: str, finished: str, now: datetime) -> str | None:
    """A rollout ended: hand its lease straight to the newest queued version (so no upload can slip in
    between and run before it), or release the lease when nothing waits. Returns the rollout started."""
    queued = services.rollouts.pop_queued(endpoint)
    if not queued:
        services.rollouts.release_lease(endpoint, finished)
        queued = services.rollouts.pop_queued(endpoint)  # queued between our look and the release
        if not queued:
            return None
    rollout_id = str(queued["rollout_id"])
    rollout = services.rollouts.rollout(endpoint, rollout_id) or {}
    holder = _holder(
        endpoint,
        rollout_id,
        str(queued["version"]),
        str(rollout.get("suffix", rollout_id[-6:])),
        services.state_machine_arn,
        now,
    )
    services.rollouts.update_rollout(endpoint, rollout_id, {"status": "STARTING"})
    if services.rollouts.take_over_lease(endpoint, finished, holder):
        _start_execution(services, endpoint, holder)
    elif not _start_or_queue(
        services, endpoint, rollout_id, holder["version"], str(rollout.get("suffix", "")), now
    ):
        return None
    decide(services, endpoint, rollout_id, now, "dequeued", f"rollout {finished} ended", notify="STARTING")
    return rollout_id
