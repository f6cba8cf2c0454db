"""What became of an upload of `endpoints/<endpoint>/<version>/model.tar.gz`: its rollout's outcome (for
`sluice intakes`) and, for `sluice status`, why the latest upload changed nothing on the endpoint.

The intake record says what the intake did (REJECTED, or ROLLOUT_STARTED with the rollout's id); what
the rollout then did lives on the rollout record only, so it is read here (joined by `rollout_id`)
rather than copied onto the intake by every path that ends a rollout.
"""

from __future__ import annotations

from typing import Any

from sluice.domain.rollout.status import ACTIVE
from sluice_cli.commands.output import when

Record = dict[str, Any]


def rollout_outcome(rollout: Record | None) -> str:
    """One line: the rollout's status and why (`ROLLED_BACK: p99 regression`), as it is now."""
    if rollout is None:
        return "rollout record not found"
    status = str(rollout.get("status") or "UNKNOWN")
    if status == "QUEUED":
        return f"QUEUED behind rollout {rollout.get('queued_behind') or '?'}"
    if status == "SUPERSEDED":
        by = rollout.get("superseded_by")
        return f"SUPERSEDED by rollout {by}" if by else "SUPERSEDED: a newer upload was already queued"
    if status == "CANCELLED":
        by = rollout.get("cancelled_by")
        return f"CANCELLED (dequeued{' by ' + str(by) if by else ''})"
    if status == "RESOLVED" and isinstance(rollout.get("resolved"), dict):
        resolved = rollout["resolved"]
        return f"RESOLVED by {resolved.get('by', '?')}: {resolved.get('reason', '')}"
    if status in ACTIVE:
        return f"{status} (in progress)"
    reason = rollout.get("reason")
    return f"{status}: {reason}" if reason else status


def latest_upload_view(
    upload: Record,
    rollout: Record | None,
    lease: Record | None,
    holder: Record | None,
) -> dict[str, Any]:
    """The JSON view of the endpoint's latest upload, newer than the rollout `sluice status` shows.

    `rollout`: the rollout the upload started (ROLLOUT_STARTED), if any; `lease` and `holder`: the
    endpoint's lease and the rollout holding it (what a queued version waits for)."""
    status = str(upload.get("status"))
    rollout_status = str(rollout.get("status")) if rollout else None
    waits_for = None
    if rollout_status == "QUEUED":
        holder_id = (lease or {}).get("rollout_id") or (rollout or {}).get("queued_behind")
        waits_for = {
            "rollout_id": holder_id,
            "version": (holder or {}).get("version") or (lease or {}).get("version"),
            "status": (holder or {}).get("status"),
        }
    view = {
        "key": upload.get("key"),
        "version": upload.get("version"),
        "received_at": upload.get("received_at"),
        "status": status,
        "code": upload.get("code"),
        "reason": upload.get("reason"),
        "rollout_id": upload.get("rollout_id"),
        "rollout_status": rollout_status,
        "waits_for": waits_for,
    }
    view["summary"] = upload_summary(view, rollout)
    return view


def upload_summary(view: dict[str, Any], rollout: Record | None) -> str:
    """`v2 rejected: <code>: <reason>`, `v3 queued: waits for …`: why the upload changed nothing (yet)."""
    version = view["version"] or view["key"]
    status = view["status"]
    if status == "REJECTED":
        return (
            f"{version} rejected: {view['code']}: {view['reason']}"
            if view["code"]
            else (f"{version} rejected: {view['reason']}")
        )
    if status == "RECEIVED" and view["rollout_status"] is None:
        return (
            f"{version} received {when(view['received_at'])}, not yet started: being validated (a long "
            "archive), or its intake failed and will be retried (see the stack's FailureQueue)"
        )
    if status not in ("ROLLOUT_STARTED", "RECEIVED"):  # RECEIVED with a rollout: the intake names its
        return f"{version}: {status}"  # rollout before it starts or queues it, then becomes ROLLOUT_STARTED
    waits = view["waits_for"]
    if waits is not None:
        holder = waits["rollout_id"] or "?"
        what = ", ".join(str(x) for x in (waits["version"], waits["status"]) if x)
        why = f"waits for rollout {holder}" + (f" ({what})" if what else "") + ", which holds the endpoint"
        if waits["status"] == "NEEDS_ATTENTION":
            return f"{version} queued: {why} until someone resolves it (`sluice resolve`)"
        return f"{version} queued: {why}; it starts when that rollout ends"
    return f"{version}: {rollout_outcome(rollout)}"
