"""Canary rollouts: the intake of `endpoints/<endpoint>/<version>/model.tar.gz`, each action the rollout
state machine (statemachines/rollout.asl.json) asks of the RolloutStepFunction, and the signals
(abort, promote, pause, resume) that alarms and operators send.

Every decision lands in the rollout's decision log with its reason (`sluice history`). State machine
actions take the execution's state dict and return it updated; they raise RolloutRefused (pre-flight:
nothing changed), RolloutAborted (roll back) or EndpointBusy (the state machine retries with backoff).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sluice.domain.artifact import ArchiveLimits, validate_archive
from sluice.domain.deploy_config import DeployConfig, check_image, parse_deploy_config
from sluice.domain.intake import IntakeServices, Outcome, Upload, open_intake, reject
from sluice.domain.layout import EndpointArtifact, validate_sagemaker_name, validate_version
from sluice.domain.ports import ObjectHead
from sluice.domain.rollout_plan import (
    BaselineAutoscaling,
    BaselineContainer,
    BaselineState,
    BaselineVariant,
    FirstDeploymentPlan,
    RolloutPlan,
    plan_first_deployment,
    plan_rollout,
)
from sluice.errors import NotResolvable, Rejected, RejectedConfiguration, RolloutAborted, RolloutRefused

KIND = "endpoint"
STATE_CHANGE = "Sluice Rollout State Change"
MAX_DEPLOY_CONFIG_BYTES = 256 * 1024
ABORT_ERROR = "Sluice.Abort"
ACTIVE = frozenset(
    {
        "STARTING",
        "DEPLOYING",
        "UPDATING",
        "SHIFTING",
        "BAKING",
        "PAUSED",
        "AWAITING_APPROVAL",
        "PROMOTING",
        "ROLLING_BACK",
    }
)
# Clears the stored wait (a token answered or timed out is spent).
CLEARED_WAIT: dict[str, Any] = dict.fromkeys(("wait_token", "waiting_for"))
FINAL = frozenset(
    {
        "PROMOTED",
        "ROLLED_BACK",
        "REFUSED",
        "SUPERSEDED",
        "DEPLOYED",
        "NEEDS_ATTENTION",
        "RESOLVED",
        "CANCELLED",
    }
)


# --------------------------------------------------------------------------------------------------
# Ports
# --------------------------------------------------------------------------------------------------


class EndpointPort(Protocol):
    def state(self, endpoint: str) -> dict[str, Any] | None: ...
    def create_model(self, request: dict[str, Any]) -> None: ...
    def create_endpoint_config(self, request: dict[str, Any]) -> None: ...
    def create_endpoint(self, endpoint: str, config_name: str, tags: list[dict[str, str]]) -> None: ...
    def update_endpoint(self, endpoint: str, config_name: str) -> None: ...
    def set_weights(self, endpoint: str, desired: list[dict[str, Any]]) -> None: ...
    def delete_model(self, name: str, *, only_if_managed: bool = False) -> bool: ...
    def delete_endpoint_config(self, name: str, *, only_if_managed: bool = False) -> bool: ...


class AlarmStatePort(Protocol):
    name: str
    state: str
    reason: str


class AlarmPort(Protocol):
    def put_alarm(self, request: dict[str, Any]) -> None: ...
    def delete_alarms(self, names: list[str]) -> None: ...
    def firing(self, names: list[str]) -> list[Any]: ...
    def states(self, names: list[str]) -> list[Any]: ...


class AutoscalingPort(Protocol):
    def registration(self, endpoint: str, variant: str) -> dict[str, Any] | None: ...
    def apply(self, register: dict[str, Any], policy: dict[str, Any]) -> None: ...
    def remove(self, deregister: dict[str, Any]) -> bool: ...


class WorkflowPort(Protocol):
    def start(self, state_machine_arn: str, name: str, payload: dict[str, Any]) -> str: ...
    def is_running(self, execution_arn: str) -> bool: ...
    def succeed(self, token: str, output: dict[str, Any]) -> bool: ...
    def fail(self, token: str, error: str, cause: str) -> bool: ...


class RolloutStorePort(Protocol):
    def create_rollout(
        self, endpoint: str, rollout_id: str, record: dict[str, Any], created_at: str
    ) -> bool: ...
    def rollout(self, endpoint: str, rollout_id: str) -> dict[str, Any] | None: ...
    def rollouts(self, endpoint: str, *, limit: int = 20) -> list[dict[str, Any]]: ...
    def update_rollout(
        self, endpoint: str, rollout_id: str, attrs: dict[str, Any], *, expect: dict[str, Any] | None = None
    ) -> bool: ...
    def signal(self, endpoint: str, rollout_id: str, attrs: dict[str, Any]) -> dict[str, Any] | None: ...
    def log_decision(self, endpoint: str, rollout_id: str, at: str, entry: dict[str, Any]) -> None: ...
    def acquire_lease(self, endpoint: str, holder: dict[str, Any]) -> dict[str, Any] | None: ...
    def take_over_lease(self, endpoint: str, dead_rollout_id: str, holder: dict[str, Any]) -> bool: ...
    def release_lease(self, endpoint: str, rollout_id: str) -> bool: ...
    def lease(self, endpoint: str) -> dict[str, Any] | None: ...
    def queue_if_newest(
        self, endpoint: str, queued: dict[str, Any]
    ) -> tuple[bool, dict[str, Any] | None]: ...
    def queued(self, endpoint: str) -> dict[str, Any] | None: ...
    def pop_queued(self, endpoint: str) -> dict[str, Any] | None: ...
    def own_alarms(self, names: list[str], endpoint: str, rollout_id: str) -> None: ...
    def alarm_owners(self, alarm_name: str) -> list[dict[str, Any]]: ...
    def disown_alarms(self, names: list[str], endpoint: str, rollout_id: str) -> None: ...


@dataclass(frozen=True)
class RolloutServices(IntakeServices):
    rollouts: RolloutStorePort
    endpoints: EndpointPort
    alarms: AlarmPort
    autoscaling: AutoscalingPort
    workflow: WorkflowPort
    state_machine_arn: str
    execution_role_arn: str
    allowed_registries: tuple[str, ...]
    limits: ArchiveLimits


# --------------------------------------------------------------------------------------------------
# The decision log and notifications
# --------------------------------------------------------------------------------------------------


def _iso(now: datetime) -> str:
    return now.astimezone(UTC).isoformat()


def uploaded_at(upload: Upload, now: datetime) -> str:
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


def decide(
    services: RolloutServices,
    endpoint: str,
    rollout_id: str,
    now: datetime,
    event: str,
    reason: str,
    *,
    notify: str | None = None,
    **details: Any,
) -> None:
    """Record one decision (with its reason) and, when `notify` names a status, tell subscribers."""
    entry = {"event": event, "reason": reason, **{k: v for k, v in details.items() if v is not None}}
    services.rollouts.log_decision(endpoint, rollout_id, _iso(now), entry)
    if notify:
        detail = {
            "status": notify,
            "endpoint": endpoint,
            "rollout_id": rollout_id,
            "event": event,
            "reason": reason,
            **entry,
        }
        services.notifier.notify(STATE_CHANGE, detail, subject=f"Sluice rollout on {endpoint}: {notify}")


# --------------------------------------------------------------------------------------------------
# Intake: endpoints/<endpoint>/<version>/model.tar.gz
# --------------------------------------------------------------------------------------------------


def rollout_id_for(now: datetime, version: str, suffix: str) -> str:
    """Sortable by start time (newest first in a query), unique per upload."""
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{version}-{suffix}"


def execution_name(endpoint: str, version: str, suffix: str) -> str:
    """Step Functions execution names: at most 80 of [A-Za-z0-9-_]."""
    return f"{endpoint[:52]}-{version[:18]}-{suffix}"[:80]


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
        for image in config.images():
            check_image(image, services.allowed_registries)
        with services.store.open_stream(head.bucket, head.key, head.version_id) as stream:
            report = validate_archive(stream, services.limits)
    except Rejected as error:
        return reject(services, head, KIND, error, now, **context)

    rollout_id = rollout_id_for(now, target.version, suffix)
    record = {
        "status": "STARTING",
        "version": target.version,
        "suffix": suffix,
        "source": {"bucket": head.bucket, "key": head.key, "version_id": head.version_id},
        "model_data_url": head.uri,
        "uploaded_at": uploaded_at(upload, now),
        "sha256": report.sha256,
        # JSON text: the registry drops None inside maps, and an explicit null means something here
        # ("auto_alarms": null = no automatic alarms, "model_data": null = no model data).
        "config": config.model_dump_json(exclude_unset=True),
        "config_source": config_source,
        "step_index": -1,
    }
    services.rollouts.create_rollout(target.endpoint, rollout_id, record, _iso(now))
    decide(
        services,
        target.endpoint,
        rollout_id,
        now,
        "received",
        f"{head.key} (sha256 {report.sha256[:12]}…) with {config_source}",
    )
    started = _start_or_queue(services, target.endpoint, rollout_id, target.version, suffix, now)
    # Only now: if starting failed, the retried event must find the upload still to be done.
    services.registry.update(
        *opened.key, {"status": "ROLLOUT_STARTED", "rollout_id": rollout_id, "updated_at": _iso(now)}
    )
    message = (
        f"rollout {rollout_id} of {target.version} on {target.endpoint} "
        f"{'started' if started else 'queued behind the running rollout'}"
    )
    return Outcome(
        status="STARTED" if started else "QUEUED",
        message=message,
        details={**context, "rollout_id": rollout_id},
    )


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
                return parse_deploy_config(raw), key
            except RejectedConfiguration as error:
                raise RejectedConfiguration(f"{key}: {error.reason}") from error
    return DeployConfig(), "default settings (no deploy.json)"


LEASE_GRACE = timedelta(minutes=2)  # a lease this young may belong to an execution still starting


def _holder(
    endpoint: str, rollout_id: str, version: str, suffix: str, arn: str, now: datetime
) -> dict[str, Any]:
    name = execution_name(endpoint, version, suffix)
    return {
        "rollout_id": rollout_id,
        "execution_name": name,
        "acquired_at": _iso(now),
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
        if lease is None:
            _start_execution(services, endpoint, holder)
            return True
        current = lease
        if current:
            break
    dead_holder = _dead_holder(services, endpoint, current, now)
    if dead_holder is not None:
        dead = str(current.get("rollout_id"))
        endpoint_state = services.endpoints.state(endpoint)
        problem = _left_half_way(endpoint, endpoint_state)
        if problem is not None:
            _orphaned(services, endpoint, current, dead_holder, endpoint_state, problem, now)
        elif services.rollouts.take_over_lease(endpoint, dead, holder):
            _abandoned(services, endpoint, current, dead_holder, rollout_id, now)
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
    return False


def _left_half_way(endpoint: str, current: dict[str, Any] | None) -> str | None:
    """Why the endpoint is not safe to start a rollout on after a rollout's execution died (None: it is
    InService with one variant, or gone - as any rollout leaves it when it ends)."""
    if current is None:
        return None
    variants = list(current.get("variants", []))
    if current.get("status") == "InService" and len(variants) == 1:
        return None
    split = _split_text(_traffic_shares(variants))
    return f"endpoint {endpoint} is {current.get('status')} with {split or 'no variants'}"


def _variants_seen(current: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Each variant's weight and instances, as recorded for a human (NEEDS_ATTENTION)."""
    return {
        v["variant_name"]: {"weight": v.get("current_weight"), "instances": v.get("current_instance_count")}
        for v in (current or {}).get("variants", [])
    }


def _hold_for_a_human(
    services: RolloutServices,
    endpoint: str,
    rollout_id: str,
    reason: str,
    explanation: str,
    current: dict[str, Any] | None,
    now: datetime,
    *,
    hint: str = "",
) -> None:
    """NEEDS_ATTENTION: the exact variants recorded and notified; the rollout keeps the lease."""
    seen = _variants_seen(current)
    services.rollouts.update_rollout(
        endpoint, rollout_id, {"status": "NEEDS_ATTENTION", "reason": reason, "endpoint_state": seen}
    )
    decide(
        services,
        endpoint,
        rollout_id,
        now,
        "needs attention",
        f"{explanation}; the lease stays held until a human resolves it" + (f" ({hint})" if hint else ""),
        notify="NEEDS_ATTENTION",
        variants=seen,
    )


def _orphaned(
    services: RolloutServices,
    endpoint: str,
    lease: dict[str, Any],
    rollout: dict[str, Any],
    current: dict[str, Any] | None,
    problem: str,
    now: datetime,
) -> None:
    """A rollout's execution died (stopped by hand, timed out) leaving the endpoint half-way: the
    rollout NEEDS_ATTENTION and keeps the lease, exactly as when its own rollback fails."""
    reason = (
        f"its execution {lease.get('execution_arn')} is no longer running but the rollout was "
        f"{rollout.get('status', 'unknown')}: {problem}"
    )
    _hold_for_a_human(
        services,
        endpoint,
        str(lease.get("rollout_id")),
        reason,
        reason,
        current,
        now,
        hint=f"`sluice resolve {endpoint}`",
    )


def _abandoned(
    services: RolloutServices,
    endpoint: str,
    lease: dict[str, Any],
    rollout: dict[str, Any],
    successor: str,
    now: datetime,
) -> None:
    """The dead holder's record says what became of it (it would otherwise show as running for ever)."""
    dead = str(lease.get("rollout_id"))
    if rollout.get("status") not in ACTIVE:
        return
    services.rollouts.update_rollout(
        endpoint,
        dead,
        {
            "status": "ABANDONED",
            "finished_at": _iso(now),
            "reason": f"execution ended while {rollout['status']}",
        },
    )
    decide(
        services,
        endpoint,
        dead,
        now,
        "abandoned",
        f"its execution {lease.get('execution_arn')} ended while the rollout was {rollout['status']}; the "
        f"endpoint was in one piece, so rollout {successor} took the lease over",
        notify="ABANDONED",
    )


def _execution_arn(state_machine_arn: str, name: str) -> str:
    return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"


def _queue(
    services: RolloutServices, endpoint: str, rollout_id: str, version: str, now: datetime, *, behind: str
) -> None:
    """Only the newest upload runs next: queued behind the running rollout, it supersedes the version
    queued before it - unless that one was uploaded later (a late event), then it is itself superseded."""
    rollout = services.rollouts.rollout(endpoint, rollout_id) or {}
    uploaded_at = str(rollout.get("uploaded_at") or _iso(now))
    taken, replaced = services.rollouts.queue_if_newest(
        endpoint,
        {"rollout_id": rollout_id, "version": version, "queued_at": _iso(now), "uploaded_at": uploaded_at},
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


# --------------------------------------------------------------------------------------------------
# State machine actions
# --------------------------------------------------------------------------------------------------


def _load(services: RolloutServices, state: dict[str, Any]) -> dict[str, Any]:
    rollout = services.rollouts.rollout(state["endpoint"], state["rollout_id"])
    if rollout is None:
        raise RuntimeError(f"rollout {state['rollout_id']} of {state['endpoint']} is not in the registry")
    return rollout


def _plan(rollout: dict[str, Any]) -> RolloutPlan:
    # The registry drops None values inside maps (DynamoDB): a plan without autoscaling comes back
    # without those keys, which the plan model requires.
    return RolloutPlan.from_dict({"autoscaling": None, "baseline_autoscaling": None, **rollout["plan"]})


def _first_deployment_plan(rollout: dict[str, Any]) -> FirstDeploymentPlan:
    return FirstDeploymentPlan.from_dict({"autoscaling": None, **rollout["plan"]})


def baseline_from(
    endpoint_state: dict[str, Any], autoscaling: dict[str, dict[str, Any] | None]
) -> BaselineState:
    """The adapters' reading of an endpoint, as the planner's BaselineState."""
    variants = []
    for variant in endpoint_state["variants"]:
        registration = autoscaling.get(variant["variant_name"])
        variants.append(
            BaselineVariant(
                variant_name=variant["variant_name"],
                model_name=variant["model_name"],
                instance_type=variant.get("instance_type"),
                current_instance_count=int(variant.get("current_instance_count") or 1),
                current_weight=float(variant.get("current_weight") or 0.0),
                containers=[BaselineContainer(**c) for c in variant["containers"]],
                inference_execution_mode=variant.get("inference_execution_mode"),
                model_settings=variant.get("model_settings", {}),
                autoscaling=BaselineAutoscaling(**registration) if registration else None,
            )
        )
    return BaselineState(
        endpoint_config_name=endpoint_state["config_name"],
        variants=variants,
        config_settings=endpoint_state.get("config_settings", {}),
    )


def prepare(services: RolloutServices, state: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Pre-flight and the plan. Raises RolloutRefused (nothing changed) with the precise reason."""
    endpoint, rollout_id = state["endpoint"], state["rollout_id"]
    rollout = _load(services, state)
    stored = rollout.get("config") or {}
    config = (
        DeployConfig.model_validate_json(stored)
        if isinstance(stored, str)
        else DeployConfig.model_validate(stored)
    )
    current = services.endpoints.state(endpoint)
    # The stack's SageMaker execution role, else the one the production model already runs with.
    production_roles = [v.get("execution_role_arn") for v in (current or {}).get("variants", [])]
    role = services.execution_role_arn or next((r for r in production_roles if r), "")
    if not role:
        raise RolloutRefused(
            f"endpoint {endpoint} does not exist yet and the stack has no SageMaker execution role: set the "
            "SageMakerExecutionRoleArn parameter (the role SageMaker assumes to pull the image and model)"
        )
    common = {
        "endpoint": endpoint,
        "version": rollout["version"],
        "config": config,
        "model_data_url": rollout["model_data_url"],
        "execution_role_arn": role,
        "suffix": rollout["suffix"],
        "allowed_registries": services.allowed_registries,
    }
    try:
        if current is None:
            first = plan_first_deployment(**common)
            services.rollouts.update_rollout(
                endpoint,
                rollout_id,
                {"status": "DEPLOYING", "plan": first.to_dict(), "mode": "first", "warnings": first.warnings},
            )
            decide(
                services,
                endpoint,
                rollout_id,
                now,
                "started",
                f"first deployment: endpoint {endpoint} does not exist yet; {first.variant_name} at 100 %",
                notify="STARTED",
                warnings=first.warnings or None,
            )
            return {**state, "mode": "first", "phase": "first"}
        if current["status"] != "InService":
            raise RolloutRefused(
                f"endpoint {endpoint} is {current['status']}; a rollout starts only on an InService endpoint"
            )
        registrations = {
            v["variant_name"]: services.autoscaling.registration(endpoint, v["variant_name"])
            for v in current["variants"]
        }
        plan = plan_rollout(**common, baseline=baseline_from(current, registrations))
    except (RejectedConfiguration, Rejected) as error:
        raise RolloutRefused(error.reason) from error
    user_alarms = [name for name in plan.alarm_names if name not in _auto_alarm_names(plan)]
    firing = services.alarms.firing(user_alarms)
    if firing:
        first_alarm = firing[0]
        raise RolloutRefused(
            f"alarm {first_alarm.name} is already in ALARM ({first_alarm.reason}); a firing alarm would "
            "abort any rollout, including a fix: resolve it (or remove it from deploy.json) and upload again"
        )
    services.rollouts.update_rollout(
        endpoint,
        rollout_id,
        {
            "status": "STARTING",
            "plan": plan.to_dict(),
            "mode": "rollout",
            "warnings": plan.warnings,
            "baseline_config": plan.names.baseline_config,
        },
    )
    steps = ", ".join(f"{s.percent} %" for s in plan.steps)
    decide(
        services,
        endpoint,
        rollout_id,
        now,
        "started",
        f"canary of {rollout['version']} against {plan.names.baseline_variant}: steps {steps}, "
        f"bake {plan.bake_seconds} s each, alarms {', '.join(plan.alarm_names) or 'none'}",
        notify="STARTED",
        warnings=plan.warnings or None,
    )
    return {
        **state,
        "mode": "rollout",
        "phase": "rollout",
        "step_index": -1,
        "bake_seconds": max(1, plan.bake_seconds),  # Step Functions timeouts are >= 1 s
    }


def _auto_alarm_names(plan: RolloutPlan) -> set[str]:
    return {str(request["AlarmName"]) for request in plan.alarms}


def refused(services: RolloutServices, state: dict[str, Any], now: datetime) -> dict[str, Any]:
    endpoint, rollout_id = state["endpoint"], state["rollout_id"]
    reason = error_reason(state.get("error"))
    services.rollouts.update_rollout(endpoint, rollout_id, {"status": "REFUSED", "reason": reason})
    decide(services, endpoint, rollout_id, now, "refused", reason, notify="REFUSED")
    _release_and_continue(services, endpoint, rollout_id, now)
    return state


def error_reason(error: Any) -> str:
    """The message inside a Step Functions Catch result ({"Error", "Cause"}; a Lambda's Cause is JSON)."""
    if not isinstance(error, dict):
        return "unknown error"
    cause = error.get("Cause") or ""
    try:
        parsed = json.loads(cause)
    except (TypeError, ValueError):
        parsed = None
    if isinstance(parsed, dict) and parsed.get("errorMessage"):
        return str(parsed["errorMessage"])
    return f"{error.get('Error', 'error')}: {cause}".strip(": ")


def create_endpoint(services: RolloutServices, state: dict[str, Any], now: datetime) -> dict[str, Any]:
    rollout = _load(services, state)
    plan = _first_deployment_plan(rollout)
    services.endpoints.create_model(plan.create_model)
    services.endpoints.create_endpoint_config(plan.endpoint_config)
    services.endpoints.create_endpoint(
        plan.endpoint, plan.endpoint_config_name, plan.create_endpoint.get("Tags", [])
    )
    decide(
        services,
        state["endpoint"],
        state["rollout_id"],
        now,
        "endpoint created",
        f"CreateEndpoint {plan.endpoint} with {plan.variant_name} at 100 %",
    )
    return {**state, "after": "created"}


def finish_first_deployment(
    services: RolloutServices, state: dict[str, Any], now: datetime
) -> dict[str, Any]:
    endpoint, rollout_id = state["endpoint"], state["rollout_id"]
    plan = _first_deployment_plan(_load(services, state))
    if plan.autoscaling:
        services.autoscaling.apply(
            plan.autoscaling.register_scalable_target, plan.autoscaling.put_scaling_policy
        )
    services.rollouts.update_rollout(
        endpoint, rollout_id, {"status": "DEPLOYED", "weights": {plan.variant_name: 100}}
    )
    decide(
        services,
        endpoint,
        rollout_id,
        now,
        "deployed",
        f"{plan.variant_name} serves 100 % of {endpoint}",
        notify="DEPLOYED",
        autoscaling=plan.autoscaling.resource_id if plan.autoscaling else None,
    )
    _release_and_continue(services, endpoint, rollout_id, now)
    return state


def add_candidate(services: RolloutServices, state: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The candidate's model and a config with the baseline unchanged plus the candidate at weight 0."""
    endpoint, rollout_id = state["endpoint"], state["rollout_id"]
    plan = _plan(_load(services, state))
    services.endpoints.create_model(plan.create_model)
    services.endpoints.create_endpoint_config(plan.candidate_config)
    services.endpoints.update_endpoint(endpoint, plan.names.candidate_config)
    services.rollouts.update_rollout(
        endpoint, rollout_id, {"status": "UPDATING", "weights": _weights(plan, -1)}
    )
    decide(
        services,
        endpoint,
        rollout_id,
        now,
        "candidate added",
        f"UpdateEndpoint to {plan.names.candidate_config}: {plan.names.candidate_variant} at 0 %, "
        f"{plan.names.baseline_variant} unchanged",
        weights=_weights(plan, -1),
    )
    return {**state, "after": "candidate_added"}


def _weights(plan: RolloutPlan, step_index: int) -> dict[str, int]:
    percent = plan.steps[step_index].percent if step_index >= 0 else 0
    return {plan.names.candidate_variant: percent, plan.names.baseline_variant: 100 - percent}


def create_alarms(services: RolloutServices, state: dict[str, Any], now: datetime) -> dict[str, Any]:
    endpoint, rollout_id = state["endpoint"], state["rollout_id"]
    plan = _plan(_load(services, state))
    for request in plan.alarms:
        services.alarms.put_alarm(request)
    services.rollouts.own_alarms(plan.alarm_names, endpoint, rollout_id)
    existing = {alarm.name for alarm in services.alarms.states(plan.alarm_names)}
    missing = [name for name in plan.alarm_names if name not in existing]
    watched = [name for name in plan.alarm_names if name in existing]
    reason = f"watching {', '.join(watched) or 'no alarms'}"
    if missing:
        # A typo in deploy.json must not look like protection: say which names guard nothing.
        reason += f"; WARNING: no such alarm {', '.join(missing)} (it guards nothing)"
    decide(services, endpoint, rollout_id, now, "alarms armed", reason, missing_alarms=missing or None)
    return state


def _raise_if_aborted(
    services: RolloutServices, rollout: dict[str, Any], plan: RolloutPlan, now: datetime
) -> None:
    """Step boundary: an abort already requested, or any of the rollout's alarms in ALARM, ends it here."""
    requested = rollout.get("abort_requested")
    if requested:
        raise RolloutAborted(str(requested.get("reason", "abort requested")))
    firing = services.alarms.firing(plan.alarm_names)
    if firing:
        alarm = firing[0]
        reason = f"alarm {alarm.name} is in ALARM: {alarm.reason}"
        services.rollouts.signal(
            rollout["endpoint"],
            rollout["rollout_id"],
            {
                "abort_requested": {
                    "by": "step boundary check",
                    "alarm": alarm.name,
                    "reason": reason,
                    "at": _iso(now),
                }
            },
        )
        raise RolloutAborted(reason)


def next_step(services: RolloutServices, state: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Signals first (abort, promote, pause), then the next step's weights, or promote after the last."""
    endpoint, rollout_id = state["endpoint"], state["rollout_id"]
    rollout = _load(services, state)
    plan = _plan(rollout)
    _raise_if_aborted(services, rollout, plan, now)
    if rollout.get("promote_requested"):
        decide(
            services,
            endpoint,
            rollout_id,
            now,
            "skipping to promotion",
            f"promote requested by {rollout['promote_requested'].get('by', 'operator')}: "
            "remaining steps skipped",
        )
        return {**state, "action": "promote"}
    if rollout.get("pause_requested"):
        return {**state, "action": "pause"}
    index = int(state.get("step_index", -1)) + 1
    if index >= len(plan.steps):
        return {**state, "action": "promote"}
    step = plan.steps[index]
    if step.awaits_approval and not rollout.get("approved"):
        return {**state, "action": "approve"}
    services.endpoints.set_weights(endpoint, step.desired_weights_and_capacities)
    weights = _weights(plan, index)
    services.rollouts.update_rollout(
        endpoint, rollout_id, {"status": "SHIFTING", "step_index": index, "weights": weights}
    )
    decide(
        services,
        endpoint,
        rollout_id,
        now,
        "weights set",
        f"step {index + 1}/{len(plan.steps)}: {plan.names.candidate_variant} {step.percent} % on "
        f"{step.candidate_instances} instance(s), {plan.names.baseline_variant} {100 - step.percent} % on "
        f"{step.baseline_instances}",
        notify="STEP",
        weights=weights,
        step=index + 1,
    )
    return {**state, "action": "wait", "after": "weights_set", "step_index": index, "weights": weights}


def check_alarms(services: RolloutServices, state: dict[str, Any], now: datetime) -> dict[str, Any]:
    rollout = _load(services, state)
    _raise_if_aborted(services, rollout, _plan(rollout), now)
    return state


def wait_for_signal(
    services: RolloutServices, state: dict[str, Any], token: str, waiting_for: str, now: datetime
) -> dict[str, Any]:
    """Store the wait's token, then act on any signal that arrived before it was stored (no window)."""
    endpoint, rollout_id = state["endpoint"], state["rollout_id"]
    attrs: dict[str, Any] = {"wait_token": token, "waiting_for": waiting_for, "wait_started_at": _iso(now)}
    if waiting_for == "bake":
        bake = int(state.get("bake_seconds", 0))
        attrs.update(status="BAKING", bake_ends_at=_iso(now + timedelta(seconds=bake)))
    else:
        attrs.update(status="PAUSED" if waiting_for == "pause" else "AWAITING_APPROVAL")
    rollout = services.rollouts.signal(endpoint, rollout_id, attrs) or {}
    if rollout.get("abort_requested"):
        services.workflow.fail(token, ABORT_ERROR, str(rollout["abort_requested"].get("reason", "abort")))
    elif rollout.get("promote_requested"):
        # A paused rollout continues into NextStep, which sees the request and promotes.
        services.workflow.succeed(token, {"action": "promote"})
    elif waiting_for == "pause" and not rollout.get("pause_requested"):
        services.workflow.succeed(token, {"action": "continue"})
    elif waiting_for == "bake":
        decide(
            services,
            endpoint,
            rollout_id,
            now,
            "baking",
            f"step {int(state.get('step_index', 0)) + 1} bakes for {state.get('bake_seconds')} s",
        )
    else:
        decide(
            services,
            endpoint,
            rollout_id,
            now,
            waiting_for,
            "paused at a step boundary: `sluice resume` continues"
            if waiting_for == "pause"
            else "the final step waits for `sluice promote`",
            notify=attrs["status"],
        )
    return state


def bake_passed(services: RolloutServices, state: dict[str, Any], now: datetime) -> dict[str, Any]:
    endpoint, rollout_id = state["endpoint"], state["rollout_id"]
    services.rollouts.update_rollout(endpoint, rollout_id, dict(CLEARED_WAIT))
    decide(
        services,
        endpoint,
        rollout_id,
        now,
        "bake passed",
        f"step {int(state.get('step_index', 0)) + 1}: {state.get('bake_seconds')} s without an alarm",
    )
    return state


def promote(services: RolloutServices, state: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A config with only the candidate; autoscaling deregistered first (else UpdateEndpoint fails)."""
    endpoint, rollout_id = state["endpoint"], state["rollout_id"]
    plan = _plan(_load(services, state))
    if plan.baseline_autoscaling:
        services.autoscaling.remove(plan.baseline_autoscaling.deregister_scalable_target)
    services.endpoints.create_endpoint_config(plan.promote_config)
    services.endpoints.update_endpoint(endpoint, plan.names.promote_config)
    services.rollouts.update_rollout(endpoint, rollout_id, {"status": "PROMOTING", **CLEARED_WAIT})
    decide(
        services,
        endpoint,
        rollout_id,
        now,
        "promoting",
        f"UpdateEndpoint to {plan.names.promote_config}: only {plan.names.candidate_variant}",
    )
    return {**state, "phase": "promote", "after": "promoted"}


def finish_promotion(services: RolloutServices, state: dict[str, Any], now: datetime) -> dict[str, Any]:
    endpoint, rollout_id = state["endpoint"], state["rollout_id"]
    plan = _plan(_load(services, state))
    if plan.autoscaling:
        services.autoscaling.apply(
            plan.autoscaling.register_scalable_target, plan.autoscaling.put_scaling_policy
        )
    _cleanup(services, plan, plan.cleanup_after_promotion, endpoint, rollout_id, now)
    weights = {plan.names.candidate_variant: 100}
    services.rollouts.update_rollout(
        endpoint, rollout_id, {"status": "PROMOTED", "weights": weights, "finished_at": _iso(now)}
    )
    decide(
        services,
        endpoint,
        rollout_id,
        now,
        "promoted",
        f"{plan.names.candidate_variant} serves 100 % of {endpoint}",
        notify="PROMOTED",
        weights=weights,
    )
    _release_and_continue(services, endpoint, rollout_id, now)
    return state


def _cleanup(
    services: RolloutServices, plan: RolloutPlan, cleanup: Any, endpoint: str, rollout_id: str, now: datetime
) -> None:
    """Remove what the rollout leaves behind. The baseline's model and config are removed only when
    Sluice created them (an earlier rollout): a user's own resources are kept, and the log says so."""
    services.alarms.delete_alarms(list(cleanup.alarms))
    services.rollouts.disown_alarms(plan.alarm_names, endpoint, rollout_id)
    kept = []
    for config_name in cleanup.endpoint_configs:
        ours = config_name in (plan.names.candidate_config, plan.names.promote_config)
        if not services.endpoints.delete_endpoint_config(config_name, only_if_managed=not ours) and not ours:
            kept.append(f"endpoint config {config_name}")
    for model in cleanup.models:
        ours = model == plan.names.model
        if not services.endpoints.delete_model(model, only_if_managed=not ours) and not ours:
            kept.append(f"model {model}")
    if kept:
        decide(
            services,
            endpoint,
            rollout_id,
            now,
            "kept",
            f"{', '.join(kept)}: not created by Sluice (or already gone), left in place",
        )


def rollback_weights(services: RolloutServices, state: dict[str, Any], now: datetime) -> dict[str, Any]:
    """First, in one fast call: all traffic back to the baseline (skipped if the candidate never joined)."""
    endpoint, rollout_id = state["endpoint"], state["rollout_id"]
    rollout = _load(services, state)
    plan = _plan(rollout)
    requested = rollout.get("abort_requested") or {}
    reason = str(requested.get("reason") or error_reason(state.get("error")))
    current = services.endpoints.state(endpoint) or {"variants": []}
    index = int(state.get("step_index", -1))
    joined = any(v["variant_name"] == plan.names.candidate_variant for v in current["variants"])
    if joined:
        desired = plan.steps[index].rollback_weights_and_capacities if index >= 0 else plan.rollback_weights
        services.endpoints.set_weights(endpoint, desired)
    services.rollouts.update_rollout(
        endpoint,
        rollout_id,
        {
            "status": "ROLLING_BACK",
            "reason": reason,
            "alarm": requested.get("alarm"),
            **CLEARED_WAIT,
            "weights": _weights(plan, -1),
        },
    )
    decide(
        services,
        endpoint,
        rollout_id,
        now,
        "rolling back",
        reason if joined else f"{reason} (the candidate never received traffic)",
        notify="ROLLING_BACK",
        alarm=requested.get("alarm"),
        weights=_weights(plan, -1),
    )
    return {**state, "phase": "rollback", "weights": _weights(plan, -1)}


def rollback_config(services: RolloutServices, state: dict[str, Any], now: datetime) -> dict[str, Any]:
    endpoint, rollout_id = state["endpoint"], state["rollout_id"]
    plan = _plan(_load(services, state))
    current = services.endpoints.state(endpoint)
    if current is not None and current["config_name"] != plan.names.baseline_config:
        services.endpoints.update_endpoint(endpoint, plan.names.baseline_config)
        decide(
            services,
            endpoint,
            rollout_id,
            now,
            "candidate removed",
            f"UpdateEndpoint back to {plan.names.baseline_config}",
        )
    return {**state, "phase": "rollback", "after": "rolled_back"}


def finish_rollback(services: RolloutServices, state: dict[str, Any], now: datetime) -> dict[str, Any]:
    endpoint, rollout_id = state["endpoint"], state["rollout_id"]
    rollout = _load(services, state)
    plan = _plan(rollout)
    if (
        plan.baseline_autoscaling
        and services.autoscaling.registration(endpoint, plan.names.baseline_variant) is None
    ):
        services.autoscaling.apply(
            plan.baseline_autoscaling.register_scalable_target, plan.baseline_autoscaling.put_scaling_policy
        )
    _cleanup(services, plan, plan.cleanup_after_rollback, endpoint, rollout_id, now)
    services.rollouts.update_rollout(
        endpoint, rollout_id, {"status": "ROLLED_BACK", "finished_at": _iso(now)}
    )
    decide(
        services,
        endpoint,
        rollout_id,
        now,
        "rolled back",
        f"{plan.names.baseline_variant} serves 100 %; {rollout.get('reason', '')}".strip("; "),
        notify="ROLLED_BACK",
        alarm=rollout.get("alarm"),
        weights={plan.names.baseline_variant: 100},
    )
    _release_and_continue(services, endpoint, rollout_id, now)
    return state


def endpoint_unhealthy(services: RolloutServices, state: dict[str, Any], now: datetime) -> dict[str, Any]:
    endpoint, rollout_id = state["endpoint"], state["rollout_id"]
    current = services.endpoints.state(endpoint) or {}
    reason = (
        f"endpoint {endpoint} is {current.get('status', 'missing')}: {current.get('failure_reason') or '-'}"
    )
    if state.get("phase") != "rollback":
        services.rollouts.signal(
            endpoint,
            rollout_id,
            {"abort_requested": {"by": "endpoint status", "reason": reason, "at": _iso(now)}},
        )
    decide(services, endpoint, rollout_id, now, "endpoint unhealthy", reason)
    return state


def needs_attention(services: RolloutServices, state: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A rollback (or a cleanup) kept failing: record the exact endpoint state, notify, keep the lease."""
    endpoint, rollout_id = state["endpoint"], state["rollout_id"]
    current = services.endpoints.state(endpoint)
    reason = error_reason(state.get("error"))
    explanation = (
        f"{reason}; endpoint {endpoint} is {(current or {}).get('status', 'missing')} "
        f"with {json.dumps(_variants_seen(current))}"
    )
    _hold_for_a_human(services, endpoint, rollout_id, reason, explanation, current, now)
    return state


# --------------------------------------------------------------------------------------------------
# Resolving a rollout that needs attention (`sluice resolve`)
# --------------------------------------------------------------------------------------------------


def state_machine_of(execution_arn: str) -> str:
    """arn:...:execution:<machine>:<name> -> arn:...:stateMachine:<machine>."""
    machine = execution_arn.replace(":execution:", ":stateMachine:", 1)
    return machine.rsplit(":", 1)[0]


def needing_attention(services: RolloutServices, endpoint: str) -> dict[str, Any] | None:
    """The endpoint's rollout that NEEDS_ATTENTION (the newest, if ever more than one)."""
    for rollout in services.rollouts.rollouts(endpoint, limit=20):
        if rollout.get("status") == "NEEDS_ATTENTION":
            return rollout
    return None


def _traffic_shares(variants: list[dict[str, Any]]) -> dict[str, float]:
    """Each variant's share of traffic in percent (SageMaker weights are relative)."""
    weights = {str(v["variant_name"]): float(v.get("current_weight") or 0) for v in variants}
    total = sum(weights.values())
    return {name: round(100 * w / total, 2) if total else 0.0 for name, w in weights.items()}


def _split_text(shares: dict[str, float]) -> str:
    """Traffic shares as text, e.g. `v1 90 %, v2 10 %`."""
    return ", ".join(f"{name} {share:g} %" for name, share in sorted(shares.items()))


def _one_piece(endpoint: str, current: dict[str, Any] | None) -> tuple[str | None, dict[str, float]]:
    """The variant serving all traffic (None: the endpoint is gone). NotResolvable while the endpoint is
    changing, failed, or still splits traffic between variants."""
    if current is None:
        return None, {}
    status = str(current.get("status"))
    shares = _traffic_shares(list(current.get("variants", [])))
    if status != "InService":
        raise NotResolvable(
            f"endpoint {endpoint} is {status}, not InService: wait for it to settle (or fix it), then "
            "resolve; the lease stays held"
        )
    serving = [name for name, share in shares.items() if share > 0]
    if len(serving) != 1:
        raise NotResolvable(
            f"endpoint {endpoint} still splits traffic ({_split_text(shares)}): put all of it on one "
            "variant first, e.g. "
            f"aws sagemaker update-endpoint-weights-and-capacities --endpoint-name {endpoint} "
            "--desired-weights-and-capacities VariantName=<other>,DesiredWeight=0, then resolve again; "
            "the lease stays held"
        )
    return serving[0], shares


def _autoscaling_for(services: RolloutServices, endpoint: str, plan: RolloutPlan, serving: str) -> str | None:
    """Give the serving variant the autoscaling the rollout would have left it with, if it lost it."""
    if serving == plan.names.baseline_variant:
        wanted = plan.baseline_autoscaling
    elif serving == plan.names.candidate_variant:
        wanted = plan.autoscaling
    else:
        return None
    if wanted is None or services.autoscaling.registration(endpoint, serving) is not None:
        return None
    services.autoscaling.apply(wanted.register_scalable_target, wanted.put_scaling_policy)
    return f"autoscaling registered again on {serving}"


def resolve(
    services: RolloutServices,
    endpoint: str,
    reason: str,
    by: str,
    now: datetime,
    *,
    cancel_queued: bool = False,
) -> dict[str, Any]:
    """A human has dealt with a rollout that NEEDS_ATTENTION: check the endpoint is in one piece again
    (InService, all traffic on one variant, or deleted), record who resolved it and why, remove the
    rollout's own alarms, give the serving variant its autoscaling back, and hand the lease on - to the
    newest queued version, or, with `cancel_queued`, to nobody (the queued version is CANCELLED)."""
    stuck = needing_attention(services, endpoint)
    if stuck is None:
        raise NotResolvable(f"no rollout of endpoint {endpoint} needs attention: nothing to resolve")
    rollout_id = str(stuck["rollout_id"])
    serving, shares = _one_piece(endpoint, services.endpoints.state(endpoint))
    plan = _plan(stuck) if stuck.get("mode") == "rollout" and stuck.get("plan") else None
    idle = sorted(name for name, share in shares.items() if share == 0)
    waiting = None if cancel_queued else services.rollouts.queued(endpoint)
    if idle and waiting:
        # Pre-flight refuses an endpoint with more than one variant: starting the queued version now
        # would only waste it.
        back = (
            f"aws sagemaker update-endpoint --endpoint-name {endpoint} --endpoint-config-name "
            f"{plan.names.baseline_config}"
            if plan and serving == plan.names.baseline_variant
            else f"UpdateEndpoint to an endpoint config holding only {serving}"
        )
        raise NotResolvable(
            f"endpoint {endpoint} still has {', '.join(idle)} deployed at weight 0, and version "
            f"{waiting.get('version')} is queued to run next: a rollout needs an endpoint with a single "
            f"production variant, so it would be refused. Remove {', '.join(idle)} first ({back}), wait "
            "for InService, then resolve again - or resolve with --cancel-queued; the lease stays held"
        )
    notes: list[str] = []
    alarms: list[str] = []
    if plan is not None:
        alarms = sorted(_auto_alarm_names(plan))
        services.alarms.delete_alarms(alarms)
        services.rollouts.disown_alarms(plan.alarm_names, endpoint, rollout_id)
        restored = _autoscaling_for(services, endpoint, plan, serving) if serving else None
        notes += [restored] if restored else []
    if idle:
        notes.append(
            f"{', '.join(idle)} still deployed at weight 0 (instances billed): remove with UpdateEndpoint"
        )
    where = f"{serving} serves 100 %" if serving else f"endpoint {endpoint} no longer exists"
    resolution = {"by": by, "reason": reason, "at": _iso(now), "weights": shares}
    services.rollouts.update_rollout(
        endpoint, rollout_id, {"status": "RESOLVED", "resolved": resolution, "finished_at": _iso(now)}
    )
    decide(
        services,
        endpoint,
        rollout_id,
        now,
        "resolved",
        "; ".join([f"by {by}: {reason}", where, *notes]),
        notify="RESOLVED",
        by=by,
        weights=shares or None,
        alarms_deleted=alarms or None,
    )
    cancelled = None
    if cancel_queued:
        dropped = cancel_queued_version(services, endpoint, f"while resolving rollout {rollout_id}", by, now)
        cancelled = str(dropped["rollout_id"]) if dropped else None
    started = start_next_queued(services, endpoint, rollout_id, now)
    return {
        "rollout_id": rollout_id,
        "version": stuck.get("version"),
        "serving": serving,
        "weights": shares,
        "alarms_deleted": alarms,
        "notes": notes,
        "cancelled": cancelled,
        "started": started,
    }


def cancel_queued_version(
    services: RolloutServices, endpoint: str, reason: str, by: str, now: datetime
) -> dict[str, Any] | None:
    """Drop the version waiting to run next on the endpoint (`sluice dequeue`): it is CANCELLED, with who
    and why in its log, and will not start. Returns its rollout record, or None when nothing was queued."""
    queued = services.rollouts.pop_queued(endpoint)
    if not queued:
        return None
    rollout_id = str(queued["rollout_id"])
    services.rollouts.update_rollout(
        endpoint, rollout_id, {"status": "CANCELLED", "finished_at": _iso(now), "cancelled_by": by}
    )
    decide(
        services,
        endpoint,
        rollout_id,
        now,
        "cancelled",
        f"by {by} {reason}".strip(),
        notify="CANCELLED",
        by=by,
    )
    return services.rollouts.rollout(endpoint, rollout_id) or dict(queued)


def _release_and_continue(services: RolloutServices, endpoint: str, rollout_id: str, now: datetime) -> None:
    start_next_queued(services, endpoint, rollout_id, now)


ACTIONS = {
    "prepare": prepare,
    "refused": refused,
    "create_endpoint": create_endpoint,
    "finish_first_deployment": finish_first_deployment,
    "add_candidate": add_candidate,
    "create_alarms": create_alarms,
    "next_step": next_step,
    "check_alarms": check_alarms,
    "bake_passed": bake_passed,
    "promote": promote,
    "finish_promotion": finish_promotion,
    "rollback_weights": rollback_weights,
    "rollback_config": rollback_config,
    "finish_rollback": finish_rollback,
    "endpoint_unhealthy": endpoint_unhealthy,
    "needs_attention": needs_attention,
}
WAITS = {"bake": "bake", "pause": "pause", "await_approval": "approval"}


def run_action(
    services: RolloutServices, action: str, state: dict[str, Any], token: str | None, now: datetime
) -> dict[str, Any]:
    """The RolloutStepFunction's one entry point."""
    if action in WAITS:
        if not token:
            raise ValueError(f"{action} needs the task token")
        return wait_for_signal(services, state, token, WAITS[action], now)
    if action not in ACTIONS:
        raise ValueError(f"unknown rollout action {action!r}")
    return ACTIONS[action](services, state, now)


# --------------------------------------------------------------------------------------------------
# Signals: alarms and operators
# --------------------------------------------------------------------------------------------------


def active_rollout(services: RolloutServices, endpoint: str) -> dict[str, Any] | None:
    for rollout in services.rollouts.rollouts(endpoint, limit=20):
        if rollout.get("status") in ACTIVE:
            return rollout
    return None


def request_abort(
    services: RolloutServices,
    endpoint: str,
    rollout_id: str,
    reason: str,
    by: str,
    now: datetime,
    alarm: str | None = None,
) -> dict[str, Any] | None:
    """Flag the abort, then fail the stored wait (if any): the state machine rolls back at once."""
    request = {"by": by, "reason": reason, "at": _iso(now), **({"alarm": alarm} if alarm else {})}
    rollout = services.rollouts.signal(endpoint, rollout_id, {"abort_requested": request})
    if rollout is None or rollout.get("status") not in ACTIVE:
        return rollout
    decide(
        services,
        endpoint,
        rollout_id,
        now,
        "alarm fired" if alarm else "abort requested",
        reason,
        alarm=alarm,
        by=by,
    )
    if rollout.get("wait_token"):
        services.workflow.fail(str(rollout["wait_token"]), ABORT_ERROR, reason)
    return rollout


def request_promote(
    services: RolloutServices, endpoint: str, rollout_id: str, by: str, now: datetime
) -> dict[str, Any] | None:
    rollout = services.rollouts.signal(
        endpoint, rollout_id, {"promote_requested": {"by": by, "at": _iso(now)}, "approved": True}
    )
    if rollout is None or rollout.get("status") not in ACTIVE:
        return rollout
    decide(services, endpoint, rollout_id, now, "promote requested", f"by {by}", by=by)
    if rollout.get("wait_token"):
        # Any wait: a bake or the approval ends now; a pause ends into NextStep, which promotes.
        services.workflow.succeed(str(rollout["wait_token"]), {"action": "promote"})
    return rollout


def request_pause(
    services: RolloutServices, endpoint: str, rollout_id: str, paused: bool, by: str, now: datetime
) -> dict[str, Any] | None:
    rollout = services.rollouts.signal(endpoint, rollout_id, {"pause_requested": paused})
    if rollout is None or rollout.get("status") not in ACTIVE:
        return rollout
    if not paused and rollout.get("wait_token") and rollout.get("waiting_for") == "pause":
        services.workflow.succeed(str(rollout["wait_token"]), {"action": "continue"})
    if rollout:
        decide(
            services,
            endpoint,
            rollout_id,
            now,
            "pause requested" if paused else "resume requested",
            f"by {by}",
            # PAUSED is notified when the rollout really stops at the boundary (wait_for_signal).
            notify=None if paused else "RESUMED",
        )
    return rollout


def alarm_fired(services: RolloutServices, alarm_name: str, reason: str, now: datetime) -> list[str]:
    """An alarm went to ALARM: abort every active rollout it guards. Returns the rollouts aborted."""
    aborted = []
    for owner in services.rollouts.alarm_owners(alarm_name):
        rollout = request_abort(
            services,
            str(owner["endpoint"]),
            str(owner["rollout_id"]),
            f"alarm {alarm_name} is in ALARM: {reason}",
            "alarm",
            now,
            alarm=alarm_name,
        )
        if rollout is not None and rollout.get("status") in ACTIVE:
            aborted.append(str(owner["rollout_id"]))
    return aborted


def new_suffix(seed: str) -> str:
    """6 hex characters, unique enough per rollout (the caller passes something random or unique)."""
    return hashlib.sha256(seed.encode()).hexdigest()[:6]
