"""The one exception hierarchy of Sluice.

Rejections are expected outcomes: recorded, notified, never retried.
Transient errors are raised so the platform (Lambda async retries, SQS) tries again.
Anything else is a bug and ends in the OnFailure destination with its event.
"""

from __future__ import annotations


class SluiceError(Exception):
    """Base of every error Sluice raises on purpose."""


class Rejected(SluiceError):
    """The input is wrong; the user must fix it. Recorded with `reason`, never retried."""

    def __init__(self, reason: str, *, code: str = "Rejected") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class RejectedArtifact(Rejected):
    """A model archive failed validation (gzip/tar malformed, unsafe member, limits)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, code="InvalidArtifact")


class RejectedTarget(Rejected):
    """The SageMaker resource the upload names is missing or of the wrong kind."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, code="InvalidTarget")


class RejectedConfiguration(Rejected):
    """A configuration file (batch.json, warmup.json) is invalid."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, code="InvalidConfiguration")


class RejectedName(Rejected):
    """A name taken from the S3 key is not a valid SageMaker name."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, code="InvalidName")


class QuotaTooLow(Rejected):
    """An account quota smaller than the request itself (SageMaker's ResourceLimitExceeded with a request
    delta above the limit): waiting never helps, a quota increase or a smaller request does."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, code="QuotaTooLow")


class TransientAwsError(SluiceError):
    """An AWS call failed in a way that a later retry can fix (throttling, conflicts)."""


class CapacityUnavailable(TransientAwsError):
    """SageMaker refused for quota or throttling: buffer the request and retry later."""


class EndpointBusy(TransientAwsError):
    """SageMaker is applying another update to the endpoint, or throttled us: try again with backoff.

    The rollout state machine retries on this exact name (the Lambda errorType).
    """


class MetricsUnavailable(TransientAwsError):
    """CloudWatch did not answer a canary analysis' read (throttled, an error, unreachable): the look
    judges nothing, as one with too little traffic (no rollback of a healthy candidate for it)."""


class UploadInProgressElsewhere(SluiceError):
    """Another invocation holds the upload's idempotency record (INPROGRESS) and the event cannot simply
    wait for it: it waited once already, or the record has no deadline. The message names the upload,
    the record and what to do (README, "Rejections, failures, notifications")."""


class RolloutRefused(Rejected):
    """Pre-flight refused a rollout before anything changed (endpoint not InService, alarm firing...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, code="RolloutRefused")


class NotResolvable(SluiceError):
    """`sluice resolve` refused: nothing needs attention, or the endpoint still is not in one piece."""


class RolloutAborted(SluiceError):
    """An alarm, an operator's abort or an unhealthy endpoint ends the rollout: roll back."""


class RefusedRequest(SluiceError):
    """AWS refused one request for what it holds (a ValidationException, a limit reached): sending it
    again fails the same way, so the caller records the refusal and goes on with the others."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
