"""EventBridge gaps: S3 events' ids and sequencers, and the `account` of put_events events at targets
(docs/EMULATION.md, S3 and EventBridge; Found since)."""

from __future__ import annotations

import copy
import itertools
import json
import uuid
from collections.abc import Callable
from typing import Any, ClassVar

from sluice_cli.sandbox.gaps.base import Gap
from sluice_cli.sandbox.gaps.probes import drain_queue, plain_moto, probe_rule_to_queue


class S3EventBridgeEventIds(Gap):
    """Gives each S3 EventBridge event its own id and an increasing sequencer."""

    name = "s3-eventbridge-event-ids"
    reason = "moto sends every S3 EventBridge event with the same id and sequencer (AWS ids are unique)"

    def __init__(self) -> None:
        super().__init__()
        self._sequence = itertools.count(1)

    def _patch(self) -> None:
        from moto.events.models import Rule
        from moto.events.utils import _BASE_EVENT_MESSAGE

        constant_id = _BASE_EVENT_MESSAGE["id"]
        sequence = self._sequence

        def make(original: Callable[..., Any]) -> Callable[..., Any]:
            def send_to_targets(rule: Any, original_event: Any, transform_input: bool = True) -> None:
                # moto passes one dict to every rule: the first rule gives it the id all rules then see.
                if original_event.get("id") == constant_id and original_event.get("source") == "aws.s3":
                    original_event["id"] = str(uuid.uuid4())
                    obj = original_event.get("detail", {}).get("object")
                    if isinstance(obj, dict) and "sequencer" in obj:
                        obj["sequencer"] = f"{next(sequence):018X}"
                original(rule, original_event, transform_input=transform_input)

            return send_to_targets

        self._apply(Rule, "send_to_targets", make)

    @classmethod
    def still_present(cls) -> bool:
        with plain_moto() as clients:
            s3 = clients("s3")
            s3.create_bucket(Bucket="gap-probe")
            s3.put_bucket_notification_configuration(
                Bucket="gap-probe", NotificationConfiguration={"EventBridgeConfiguration": {}}
            )
            url = probe_rule_to_queue(clients, {"source": ["aws.s3"], "detail-type": ["Object Created"]})
            s3.put_object(Bucket="gap-probe", Key="a", Body=b"a")
            s3.put_object(Bucket="gap-probe", Key="b", Body=b"b")
            events = drain_queue(clients, url)
            return len(events) == 2 and events[0]["id"] == events[1]["id"]


class EventBridgeTargetEventAccount(Gap):
    """Delivers put_events events to targets whole, with `account`, as EventBridge does."""

    name = "eventbridge-target-event-account"
    reason = "moto drops `account` from every put_events event it delivers to a target (S3's keep it)"

    # The fields of an EventBridge event, in the order AWS writes them.
    FIELDS: ClassVar[tuple[str, ...]] = (
        "version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail",
        "replay-name",
    )  # fmt: skip

    def _patch(self) -> None:
        from moto.events.utils import EventTemplateParser

        fields = self.FIELDS

        def make(original: Any) -> Any:
            parse = original.__func__ if isinstance(original, staticmethod) else original

            def parse_or_copy(input_template: Any, input_paths_map: Any, event: Any) -> Any:
                if input_template:  # an InputTransformer: moto's own rendering
                    return parse(input_template, input_paths_map, event)
                return {key: copy.deepcopy(event[key]) for key in fields if key in event}

            return staticmethod(parse_or_copy)

        self._apply(EventTemplateParser, "parse", make)

    @classmethod
    def still_present(cls) -> bool:
        with plain_moto() as clients:
            url = probe_rule_to_queue(clients, {"source": ["gap.probe"]})
            clients("events").put_events(
                Entries=[{"Source": "gap.probe", "DetailType": "Probe", "Detail": json.dumps({"a": 1})}]
            )
            (event,) = drain_queue(clients, url)
            return "account" not in event
