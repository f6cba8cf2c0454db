"""SNS gap: Publish's Subject constraints (docs/EMULATION.md, SNS)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sluice_cli.sandbox.gaps.base import Gap
from sluice_cli.sandbox.gaps.probes import plain_moto

_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class SnsSubjectValidation(Gap):
    """Publish refuses a Subject with line breaks or control characters, as SNS does (Publish API
    reference: "Subjects must be UTF-8 text with no line breaks or control characters, and less than
    100 characters long"; AWS answers InvalidParameter "Invalid parameter: Subject"). moto checks only the
    length (over 100 refused, as AWS does in practice: getmoto/moto#1503)."""

    name = "sns-subject-validation"
    reason = "moto accepts an SNS Subject with line breaks or control characters (AWS refuses it)"

    def _patch(self) -> None:
        from moto.sns.exceptions import InvalidParameterValue
        from moto.sns.models import SNSBackend

        def make(original: Callable[..., Any]) -> Callable[..., Any]:
            def publish(backend: Any, message: str, *args: Any, **kwargs: Any) -> Any:
                subject = kwargs.get("subject")
                if subject is not None and (not subject or _CONTROL_CHARACTERS.search(subject)):
                    raise InvalidParameterValue("Invalid parameter: Subject")
                return original(backend, message, *args, **kwargs)

            return publish

        self._apply(SNSBackend, "publish", make)

    @classmethod
    def still_present(cls) -> bool:
        from botocore.exceptions import ClientError

        with plain_moto() as clients:
            sns = clients("sns")
            topic = sns.create_topic(Name="gap-probe")["TopicArn"]
            try:
                sns.publish(TopicArn=topic, Subject="two\nlines", Message="probe")
            except ClientError:
                return False
            return True
