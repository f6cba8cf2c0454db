"""An upload whose idempotency record another invocation holds: deliver its event again past that
invocation's deadline (issue 9, finding 19).

What Powertools idempotency does (aws-lambda-powertools 3.37, `utilities/idempotency/`, the version in
uv.lock; "handle lambda timeout scenarios for INPROGRESS records", powertools-lambda-python PR #1387):
- before the intake runs it writes the record INPROGRESS, and deletes it when the intake raises an
  Exception (`base.py`, `IdempotencyHandler._get_function_response`). An invocation that dies without
  raising (out of memory, the runtime exiting, a timeout) leaves it INPROGRESS;
- the record's `in_progress_expiration` is the invocation's deadline: the time of the write plus
  `context.get_remaining_time_in_millis()` (`persistence/base.py`, `save_inprogress`), when a Lambda
  context is registered (`IdempotencyConfig.register_lambda_context`, which
  `sluice.wiring.idempotency.idempotent_upload` calls for every intake; without one the record would hold the
  event for the whole idempotency window, 7 days);
- until then, the same event is refused with `IdempotencyAlreadyInProgressError` (`base.py`,
  `_handle_for_status`); after it, the conditional put takes the record over and the event runs
  (`persistence/dynamodb.py`, `_put_record`: `#status = :inprogress AND #in_progress_expiry <
  :now_in_millis`).

Lambda retries a failed asynchronous invocation after about 1 minute and again 2 minutes later ("How
Lambda handles errors and retries with asynchronous invocation", Lambda developer guide). An intake
with a 15-minute timeout that dies in its first 12 minutes therefore has both retries refused, and the
event used to reach FailureQueue as IdempotencyAlreadyInProgressError, not as its cause. Instead, the
refused delivery queues the event in UploadRedeliveryQueue with a delay ending just past the holder's
deadline (never more than 15 minutes: Lambda's longest timeout is SQS's longest delay). By then the
holder has finished, and the event delivered again reads its result (nothing is done twice), or it has
died, and the event takes the record over and runs.

A redelivered event carries `sluice-redelivery` (the number of times it waited). It waits once: held
again after that, the invocation that took the record over died as well, so the event fails with
UploadInProgressElsewhere, naming the upload and the record, instead of looping on a crash.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sluice.domain.intake import Outcome, Upload
from sluice.domain.ports import RetryQueuePort
from sluice.errors import UploadInProgressElsewhere

REDELIVERY_FIELD = "sluice-redelivery"
MAX_REDELIVERIES = 1
# Past the deadline by this much, so that clocks a little apart (the holder's host wrote the deadline,
# another host reads it) still see it expired.
DEADLINE_MARGIN_SECONDS = 2
MAX_DELAY_SECONDS = 900  # SQS DelaySeconds limit, and Lambda's longest timeout


@dataclass(frozen=True)
class HeldRecord:
    """The idempotency record that refused an event, still INPROGRESS."""

    key: str  # its `id` in IdempotencyTable
    in_progress_until: datetime | None  # None: no deadline recorded; held until the record expires


def redeliver(
    upload: Upload,
    event: dict[str, Any],
    *,
    redelivered: int,
    function_name: str,
    held: HeldRecord | None,
    now: datetime,
    queue: RetryQueuePort,
) -> Outcome:
    """Queue `event` to be invoked again on `function_name` just past `held`'s deadline (`held` None:
    the holder finished meanwhile, so at once); raise UploadInProgressElsewhere when it must not wait
    (it waited before, the record has no deadline, or the deadline is beyond an SQS delay)."""
    delay = DEADLINE_MARGIN_SECONDS if held is None else _delay_past(held, upload, redelivered, now)
    payload = {**event, REDELIVERY_FIELD: redelivered + 1}
    queue.send_later(json.dumps({"function_name": function_name, "payload": payload}), delay)
    until = held.in_progress_until if held is not None else None
    held_by = "it finished meanwhile" if held is None else f"held{_until(held)}"
    return Outcome(
        status="REDELIVERY_QUEUED",
        message=f"{_describe(upload)}: another invocation has it ({held_by}); delivered again in {delay} s",
        details={
            "key": upload.key_in_event,
            "version_id": upload.version_id,
            "idempotency_key": held.key if held is not None else None,
            "in_progress_until": until.isoformat() if until is not None else None,
            "delay_seconds": delay,
            "redelivery": redelivered + 1,
        },
    )


def _delay_past(held: HeldRecord, upload: Upload, redelivered: int, now: datetime) -> int:
    """Seconds until just past the deadline of the invocation holding `held`."""
    record = f"{_describe(upload)}: the idempotency record {held.key} (IdempotencyTable) is INPROGRESS"
    if redelivered >= MAX_REDELIVERIES:
        raise UploadInProgressElsewhere(
            f"{record}{_until(held)} although this event already waited for it {redelivered} time(s): "
            "the invocations that took it ended without finishing (killed: out of memory, runtime exit "
            "or timeout; look for Runtime.* errors and 'Task timed out' in the function's log group). "
            "Fix the cause, then invoke the function with this event again once the record's deadline "
            "has passed, or after deleting the record."
        )
    if held.in_progress_until is None:
        raise UploadInProgressElsewhere(
            f"{record} with no deadline (its invocation registered no Lambda context), so it holds the "
            "event until the record expires. If no invocation is still running, delete the record, "
            "then invoke the function with this event again."
        )
    delay = max(0, math.ceil((held.in_progress_until - now).total_seconds())) + DEADLINE_MARGIN_SECONDS
    if delay > MAX_DELAY_SECONDS:
        raise UploadInProgressElsewhere(
            f"{record}{_until(held)}, later than an SQS delay reaches ({MAX_DELAY_SECONDS} s): invoke "
            "the function with this event again after that time."
        )
    return delay


def _describe(upload: Upload) -> str:
    version = f" (version {upload.version_id})" if upload.version_id else f" (ETag {upload.etag})"
    return f"s3://{upload.bucket}/{upload.key_in_event}{version}"


def _until(held: HeldRecord) -> str:
    if held.in_progress_until is None:
        return ""
    return f" until {held.in_progress_until.isoformat()}"
