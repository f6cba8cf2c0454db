"""What `sluice status` reads and shows: the endpoint's live variants, its active (else latest) rollout, the
latest upload when it changed nothing yet, the lease and the queued version (a JSON document, and the
sentences and tables printed from it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import RenderableType
from rich.text import Text

from sluice.adapters.clients import error_code, error_message
from sluice.adapters.cloudwatch import AlarmGateway
from sluice.adapters.rollouts import QUEUED_SK, lease_pk
from sluice.domain.rollout.status import ACTIVE
from sluice_cli.commands.analysis_view import HELD_WAYS_OUT, analysis_fields, held_text
from sluice_cli.commands.context import CliContext, NotFound
from sluice_cli.commands.output import NONE, duration, fields_of, table_of, text, weights_text, when
from sluice_cli.commands.upload_outcome import latest_upload_view

VARIANT_COLUMNS = ("variant", "role", "weight", "instances", "status")
VARIANT_IDENTIFIERS = ("variant",)  # never wrapped (output.emit_table)
RECENT = 20  # rollouts read to find the active one (as the domain's active_rollout)


def read_status(cli: CliContext, endpoint: str, now: datetime) -> dict[str, Any]:
    """The `sluice status` document: live variants, the active (else latest) rollout, the latest upload
    when newer, the lease and the queued version. NotFound when there is neither endpoint nor rollout."""
    store = cli.rollout_store()
    described = describe_endpoint(cli.client("sagemaker"), endpoint)
    recent = store.rollouts(endpoint, limit=RECENT)
    if described is None and not recent:
        raise NotFound(
            f"endpoint {endpoint!r} has no SageMaker endpoint in {cli.region_name} and no rollouts "
            f"({cli.describe_target()}); upload endpoints/{endpoint}/<version>/model.tar.gz to deploy one"
        )
    current = next((r for r in recent if r.get("status") in ACTIVE), recent[0] if recent else None)
    names = _alarm_names(current)
    states = AlarmGateway(cli.client("cloudwatch")).states(names) if names else []
    queued = store.get(lease_pk(endpoint), QUEUED_SK)
    lease = store.lease(endpoint)
    latest_upload = _latest_upload(cli, endpoint, current, recent, lease)

    roles = _roles(current)
    return {
        "endpoint": endpoint,
        "sagemaker": endpoint_view(described, roles),
        "rollout": rollout_view(current, now, {a.name: a for a in states}) if current else None,
        "latest_upload": latest_upload,
        "queued": _queued_view(queued),
        "lease": {k: lease.get(k) for k in ("rollout_id", "version", "acquired_at", "execution_arn")}
        if lease
        else None,
    }


def _latest_upload(
    cli: CliContext,
    endpoint: str,
    shown: dict[str, Any] | None,
    recent: list[dict[str, Any]],
    lease: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """The endpoint's latest upload when it is newer than the rollout shown (rejected, queued,
    superseded, still being validated…), else None: it says why that upload changed nothing."""
    upload = cli.registry().latest_endpoint_upload(endpoint, after=(shown or {}).get("created_at"))
    if upload is None or (shown is not None and upload.get("rollout_id") == shown.get("rollout_id")):
        return None
    by_id = {str(r.get("rollout_id")): r for r in recent}
    rollout_id = upload.get("rollout_id")
    rollout = None
    if rollout_id:
        rollout = by_id.get(str(rollout_id)) or cli.rollout_store().rollout(endpoint, str(rollout_id))
    holder = by_id.get(str((lease or {}).get("rollout_id")))
    return latest_upload_view(upload, rollout, lease, holder)


# -- reading --------------------------------------------------------------------------------------------


def describe_endpoint(sagemaker: Any, endpoint: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        return dict(sagemaker.describe_endpoint(EndpointName=endpoint))
    except ClientError as exc:
        message = error_message(exc)
        if error_code(exc) == "ValidationException" and (
            "Could not find" in message or "does not exist" in message
        ):
            return None
        raise


def _plan(rollout: dict[str, Any] | None) -> dict[str, Any]:
    plan = (rollout or {}).get("plan")
    return plan if isinstance(plan, dict) else {}


def _alarm_names(rollout: dict[str, Any] | None) -> list[str]:
    return [str(name) for name in _plan(rollout).get("alarm_names") or []]


def _own_alarm_names(rollout: dict[str, Any] | None) -> set[str]:
    """The automatic alarms Sluice creates for the rollout (and deletes when it ends)."""
    return {str(a.get("AlarmName")) for a in _plan(rollout).get("alarms") or [] if isinstance(a, dict)}


MISSING_WHILE_ACTIVE = "missing"


# While these run, the rollout deletes its automatic alarms (actions_end: promote, roll back).
_ENDING = frozenset({"PROMOTING", "ROLLING_BACK"})


def _why_missing(rollout: dict[str, Any], name: str) -> str:
    """Why CloudWatch has no alarm `name` of the rollout: `deleted` / `deleting` (an automatic alarm of a
    rollout that ended / is ending: Sluice deletes them), `ended` (your alarm, gone after the rollout ended),
    `not_created_yet` (an automatic alarm before the candidate joined), or `missing` (an active rollout
    watches an alarm that does not exist: it cannot roll back on it)."""
    own = name in _own_alarm_names(rollout)
    status = rollout.get("status")
    if status in _ENDING:
        return "deleting" if own else "ended"
    if status not in ACTIVE:
        return "deleted" if own else "ended"
    if own and int(rollout.get("step_index", -1)) < 0 and status in ("STARTING", "DEPLOYING"):
        return "not_created_yet"
    return MISSING_WHILE_ACTIVE


_MISSING_TEXT = {
    "deleted": "deleted (rollout ended)",
    "deleting": "deleted (rollout ending)",
    "ended": "not found (rollout ended)",
    "not_created_yet": "not created yet (armed once the candidate has joined)",
    MISSING_WHILE_ACTIVE: "MISSING: not in CloudWatch, this active rollout cannot roll back on it",
}


def alarm_text(alarm: dict[str, Any]) -> str:
    """`name: STATE (reason)`, or why there is no such alarm."""
    if alarm["state"] is None:
        missing = _MISSING_TEXT.get(str(alarm.get("missing")), "not found")
        return f"{alarm['name']}: {missing}"
    reason = f" ({alarm['reason']})" if alarm["reason"] and alarm["state"] != "OK" else ""
    return f"{alarm['name']}: {alarm['state']}{reason}"


def _roles(rollout: dict[str, Any] | None) -> dict[str, str]:
    """Which live variant is the rollout's baseline and which its candidate (while it is active)."""
    if not rollout or rollout.get("status") not in ACTIVE:
        return {}
    names = _plan(rollout).get("names") or {}
    roles = {}
    if names.get("baseline_variant"):
        roles[str(names["baseline_variant"])] = "baseline"
    if names.get("candidate_variant"):
        roles[str(names["candidate_variant"])] = "candidate"
    return roles


# -- views (the JSON document; the tables are printed from it) -----------------------------------------


def endpoint_view(described: dict[str, Any] | None, roles: dict[str, str]) -> dict[str, Any] | None:
    if described is None:
        return None
    variants = described.get("ProductionVariants") or []
    total = sum(float(v.get("CurrentWeight") or 0.0) for v in variants)
    rows = []
    for variant in variants:
        weight = variant.get("CurrentWeight")
        statuses = [s.get("Status") for s in variant.get("VariantStatus") or [] if s.get("Status")]
        rows.append(
            {
                "variant": variant.get("VariantName"),
                "role": roles.get(str(variant.get("VariantName"))),
                "weight": weight,
                "weight_percent": round(100.0 * float(weight) / total, 2)
                if weight is not None and total
                else None,
                "desired_weight": variant.get("DesiredWeight"),
                "current_instance_count": variant.get("CurrentInstanceCount"),
                "desired_instance_count": variant.get("DesiredInstanceCount"),
                "status": ", ".join(statuses) or described.get("EndpointStatus"),
            }
        )
    return {
        "status": described.get("EndpointStatus"),
        "config": described.get("EndpointConfigName"),
        "failure_reason": described.get("FailureReason"),
        "last_modified": described.get("LastModifiedTime"),
        "variants": rows,
    }


def rollout_view(rollout: dict[str, Any], now: datetime, alarms: dict[str, Any]) -> dict[str, Any]:
    plan = _plan(rollout)
    steps = [int(step.get("percent", 0)) for step in plan.get("steps") or []]
    approval_at = next(
        (int(step.get("percent", 0)) for step in plan.get("steps") or [] if step.get("awaits_approval")), None
    )
    index = int(rollout.get("step_index", -1))
    status = str(rollout.get("status"))
    bake_left = None
    if status == "BAKING" and rollout.get("bake_ends_at"):
        ends = datetime.fromisoformat(str(rollout["bake_ends_at"]))
        bake_left = max(0.0, (ends - now).total_seconds())
    return {
        "rollout_id": rollout.get("rollout_id"),
        "version": rollout.get("version"),
        "status": status,
        "active": status in ACTIVE,
        "mode": rollout.get("mode"),
        "created_at": rollout.get("created_at"),
        "finished_at": rollout.get("finished_at"),
        "step": index + 1 if steps and index >= 0 else None,
        "steps_total": len(steps) or None,
        "steps": steps,
        "approval_before": approval_at,
        "bake_seconds": plan.get("bake_seconds"),
        "bake_ends_at": rollout.get("bake_ends_at") if status == "BAKING" else None,
        "bake_seconds_left": None if bake_left is None else round(bake_left, 1),
        "waiting_for": rollout.get("waiting_for"),
        "weights": rollout.get("weights"),
        "baseline_variant": (plan.get("names") or {}).get("baseline_variant"),
        "candidate_variant": (plan.get("names") or {}).get("candidate_variant"),
        "alarms": [
            {
                "name": name,
                "state": alarms[name].state if name in alarms else None,
                "reason": alarms[name].reason if name in alarms else None,
                "own": name in _own_alarm_names(rollout),
                "missing": None if name in alarms else _why_missing(rollout, name),
            }
            for name in _alarm_names(rollout)
        ],
        "warnings": list(rollout.get("warnings") or []),
        "reason": rollout.get("reason"),
        "alarm": rollout.get("alarm"),
        "endpoint_state": rollout.get("endpoint_state"),
        "resolved": rollout.get("resolved"),
        "abort_requested": rollout.get("abort_requested"),
        "promote_requested": rollout.get("promote_requested"),
        "pause_requested": bool(rollout.get("pause_requested")),
        "approved": bool(rollout.get("approved")),
        "queued_behind": rollout.get("queued_behind"),
        "superseded_by": rollout.get("superseded_by"),
        "config_source": rollout.get("config_source"),
        "execution_arn": rollout.get("execution_arn"),
        # The canary analysis' latest look (sluice.domain.analysis.look.verdict_record, plus step and
        # baked_seconds), kept once the rollout ends; `held` only while the analysis holds it (PAUSED):
        # the record keeps the last one after an abort, which no longer holds anything.
        "analysis": rollout.get("analysis") if isinstance(rollout.get("analysis"), dict) else None,
        "held": _held(rollout),
    }


def _held(rollout: dict[str, Any]) -> dict[str, Any] | None:
    held = rollout.get("held")
    return held if isinstance(held, dict) and rollout.get("status") == "PAUSED" else None


def _queued_view(queued: dict[str, Any] | None) -> dict[str, Any] | None:
    if not queued:
        return None
    return {k: queued.get(k) for k in ("rollout_id", "version", "queued_at")}


# -- printing ---------------------------------------------------------------------------------------------


def status_renderables(document: dict[str, Any]) -> list[RenderableType]:
    """The printed status: sentences and tables, in order (`output.emit` prints them)."""
    shown: list[RenderableType] = []

    def say(sentence: str) -> None:
        shown.append(Text(sentence))

    endpoint, live = document["endpoint"], document["sagemaker"]
    upload = document.get("latest_upload")
    if upload:
        rollout_shown = document["rollout"]
        below = f"; the rollout below is {rollout_shown['version']}'s" if rollout_shown else ""
        say(f"Latest upload: {upload['summary']}")
        say(f"  ({upload['key']}, received {when(upload['received_at'])}{below})")
    if live is None:
        say(f"Endpoint {endpoint}: no SageMaker endpoint of that name.")
    else:
        failure = f" (failure: {live['failure_reason']})" if live["failure_reason"] else ""
        say(f"Endpoint {endpoint}: {live['status']}{failure}, config {live['config']}")
        shown.append(
            table_of(
                "Live variants",
                VARIANT_COLUMNS,
                [_variant_cells(v) for v in live["variants"]],
                identifiers=VARIANT_IDENTIFIERS,
            )
        )
    rollout = document["rollout"]
    if rollout is None:
        say(f"No rollouts on {endpoint}.")
    else:
        which = "Active rollout" if rollout["active"] else "Latest rollout (none active)"
        shown.append(fields_of(f"{which} {rollout['rollout_id']}", rollout_fields(rollout)))
    lease = document["lease"]
    if lease and (rollout is None or lease["rollout_id"] != rollout["rollout_id"] or not rollout["active"]):
        say(
            f"Lease: held by rollout {lease['rollout_id']} ({lease['version']}) since "
            f"{when(lease['acquired_at'])}; no other version starts on {endpoint} until it is released"
        )
    queued = document["queued"]
    if queued:
        say(
            f"Queued next: {queued['version']} (rollout {queued['rollout_id']}, "
            f"since {when(queued['queued_at'])})"
        )
    return shown


def _variant_cells(variant: dict[str, Any]) -> list[str]:
    percent = variant["weight_percent"]
    weight = NONE if percent is None else f"{percent:g} %"
    instances = text(variant["current_instance_count"])
    if variant["desired_instance_count"] not in (None, variant["current_instance_count"]):
        instances += f" → {variant['desired_instance_count']}"
    return [text(variant["variant"]), variant["role"] or "", weight, instances, text(variant["status"])]


def rollout_fields(rollout: dict[str, Any]) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = [
        ("version", text(rollout["version"])),
        ("status", _status_text(rollout)),
    ]
    if rollout["steps"]:
        fields.append(("step", _step_text(rollout)))
        if rollout["active"]:
            fields.append(("bake", _bake_text(rollout)))
    fields.append(("weights", weights_text(rollout["weights"]) if rollout["weights"] else ""))
    for alarm in rollout["alarms"]:
        missing = alarm.get("missing") == MISSING_WHILE_ACTIVE
        fields.append(("warning" if missing else "alarm", alarm_text(alarm)))
    fields.extend(("warning", str(w)) for w in rollout["warnings"])
    if rollout.get("held"):
        fields.append(("held", held_text(rollout["held"])))
    if rollout["reason"]:
        fields.append(("reason", str(rollout["reason"])))
    if rollout.get("analysis"):
        fields.extend(analysis_fields(rollout["analysis"]))
    if rollout["endpoint_state"]:
        recorded = ", ".join(
            f"{name} weight {_g(state.get('weight'))} on {_g(state.get('instances'))} instance(s)"
            for name, state in rollout["endpoint_state"].items()
        )
        fields.append(("endpoint state recorded", recorded or "no variants"))
    fields.append(("started", when(rollout["created_at"])))
    fields.append(("finished", when(rollout["finished_at"]) if rollout["finished_at"] else ""))
    fields.append(("queued behind", text(rollout["queued_behind"]) if rollout["queued_behind"] else ""))
    fields.append(("superseded by", text(rollout["superseded_by"]) if rollout["superseded_by"] else ""))
    if rollout["config_source"]:
        # Read once, when this version was uploaded: a deploy.json changed since belongs to later uploads.
        fields.append(
            (
                f"{rollout['version']} configured by",
                f"{rollout['config_source']}, as read when {rollout['version']} was uploaded "
                f"({when(rollout['created_at'])})",
            )
        )
    return fields


def _g(value: Any) -> str:
    return NONE if value is None else f"{value:g}" if isinstance(value, int | float) else str(value)


def _status_text(rollout: dict[str, Any]) -> str:
    notes = []
    if rollout["active"]:
        if rollout["abort_requested"]:
            notes.append(f"abort requested by {rollout['abort_requested'].get('by', '?')}")
        if rollout["promote_requested"]:
            notes.append(f"promote requested by {rollout['promote_requested'].get('by', '?')}")
        if rollout["pause_requested"] and rollout["status"] != "PAUSED":
            notes.append("pause requested: pauses at the next step boundary")
        if rollout.get("held"):
            notes.append(f"held by the canary analysis: {HELD_WAYS_OUT}")
        elif rollout["status"] == "PAUSED":
            notes.append("`sluice resume` continues")
        if rollout["status"] == "AWAITING_APPROVAL":
            notes.append("`sluice promote` approves the final step")
    elif rollout["status"] == "NEEDS_ATTENTION":
        notes.append("holds the endpoint: fix it, then `sluice resolve` hands it on")
    elif rollout["status"] == "RESOLVED" and rollout.get("resolved"):
        resolved = rollout["resolved"]
        notes.append(f"by {resolved.get('by', '?')}: {resolved.get('reason', '')}")
    return str(rollout["status"]) + (f" ({'; '.join(notes)})" if notes else "")


def _step_text(rollout: dict[str, Any]) -> str:
    steps = rollout["steps"]
    current = rollout["step"]
    planned = " → ".join(f"{p} %" + (" ◀" if current == i + 1 else "") for i, p in enumerate(steps))
    where = f"{current}/{len(steps)}" if current else f"0/{len(steps)} (no weights shifted yet)"
    approval = f"; approval before {rollout['approval_before']} %" if rollout["approval_before"] else ""
    bake = f", bake {rollout['bake_seconds']} s each" if rollout["bake_seconds"] is not None else ""
    return f"{where}   planned {planned}{bake}{approval}"


def _bake_text(rollout: dict[str, Any]) -> str:
    left = rollout["bake_seconds_left"]
    if left is None:
        return NONE
    return f"{duration(left)} left (ends {when(rollout['bake_ends_at'])})"
