"""S3 gap: a bucket policy's aws:SecureTransport condition (docs/EMULATION.md, Found since)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, ClassVar

from sluice_cli.sandbox.gaps.base import Gap
from sluice_cli.sandbox.gaps.probes import plain_moto


class S3BucketPolicyTransportCondition(Gap):
    """Evaluates `Bool: {aws:SecureTransport: ...}` in bucket policies as AWS does for SDK calls (TLS)."""

    name = "s3-bucket-policy-conditions"
    reason = "moto applies a bucket policy's Deny regardless of its Condition (TLS-only policy => all denied)"

    # The sandbox speaks plain HTTP to 127.0.0.1; every SDK call to S3 on AWS is TLS.
    CONTEXT: ClassVar[dict[str, str]] = {"aws:securetransport": "true"}

    @classmethod
    def effective_policy(cls, policy: dict[str, Any]) -> dict[str, Any]:
        """The policy with each statement whose only conditions are on aws:SecureTransport either
        dropped (condition false) or kept without its Condition (true); other statements untouched."""
        statements = policy.get("Statement", [])
        kept = []
        for statement in statements if isinstance(statements, list) else [statements]:
            outcome = cls._transport_condition(statement.get("Condition"))
            if outcome is False:
                continue
            if outcome is True:
                statement = {k: v for k, v in statement.items() if k != "Condition"}
            kept.append(statement)
        return {**policy, "Statement": kept}

    @classmethod
    def _transport_condition(cls, condition: Any) -> bool | None:
        """True/False when the condition only tests aws:SecureTransport with Bool; None otherwise."""
        if not isinstance(condition, dict) or set(condition) != {"Bool"}:
            return None
        tests = condition["Bool"]
        if not isinstance(tests, dict) or {k.lower() for k in tests} != {"aws:securetransport"}:
            return None
        (expected,) = tests.values()
        expected_values = expected if isinstance(expected, list) else [expected]
        return cls.CONTEXT["aws:securetransport"] in {str(v).lower() for v in expected_values}

    def _patch(self) -> None:
        from moto.iam.access_control import IAMPolicy, PermissionResult
        from moto.s3.models import FakeBucket

        effective = self.effective_policy

        def make(original: Callable[..., Any]) -> Callable[..., Any]:
            def get_permission(bucket: Any, action: str, resource: str) -> Any:
                if bucket.policy is None:
                    return PermissionResult.NEUTRAL
                policy = effective(json.loads(bucket.policy.decode()))
                return IAMPolicy(json.dumps(policy)).is_action_permitted(action, resource)

            return get_permission

        self._apply(FakeBucket, "get_permission", make)

    @classmethod
    def still_present(cls) -> bool:
        from botocore.exceptions import ClientError

        deny_without_tls = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": ["arn:aws:s3:::gap-probe", "arn:aws:s3:::gap-probe/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
        with plain_moto() as clients:
            s3 = clients("s3")  # an https:// endpoint: AWS would allow this call
            s3.create_bucket(Bucket="gap-probe")
            s3.put_bucket_policy(Bucket="gap-probe", Policy=json.dumps(deny_without_tls))
            try:
                s3.put_object(Bucket="gap-probe", Key="a", Body=b"a")
            except ClientError as error:
                return bool(error.response["ResponseMetadata"]["HTTPStatusCode"] == 403)
            return False
