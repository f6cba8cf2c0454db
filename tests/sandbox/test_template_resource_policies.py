"""Resource policies in template.yaml that decide whether AWS delivers something at all.

EventBridge sends a rule's undeliverable events to its dead-letter queue only when the queue's policy
lets `events.amazonaws.com` send from that rule (EventBridge user guide, "Using dead-letter queues":
the queue needs a resource-based policy granting the rule's ARN). SAM writes no such policy when a
rule's DeadLetterConfig names an existing queue by Arn, so template.yaml writes it by hand, and a rule
left out of it loses its dead letters silently on AWS (moto delivers them regardless).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sluice_cli.sandbox.template import load_yaml

TEMPLATE = load_yaml((Path(__file__).parents[2] / "template.yaml").read_text())
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]


def _rules_dead_lettering_into(queue: str) -> set[str]:
    """Logical IDs of the rules SAM generates (<FunctionId><EventId>) whose DLQ is `queue`."""
    rules = set()
    for function_id, resource in RESOURCES.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event_id, event in (resource["Properties"].get("Events") or {}).items():
            dead_letters = (event.get("Properties") or {}).get("DeadLetterConfig") or {}
            if event["Type"] == "EventBridgeRule" and dead_letters.get("Arn") == {
                "Fn::GetAtt": [queue, "Arn"]
            }:
                rules.add(f"{function_id}{event_id}")
    return rules


def _source_arns_allowed_to_send(policy: str) -> set[str]:
    statements = RESOURCES[policy]["Properties"]["PolicyDocument"]["Statement"]
    allowed = set()
    for statement in statements:
        if statement["Effect"] == "Allow" and statement.get("Principal") == {
            "Service": "events.amazonaws.com"
        }:
            for arn in statement["Condition"]["ArnEquals"]["aws:SourceArn"]:
                allowed.add(arn["Fn::GetAtt"][0])
    return allowed


def test_every_rule_that_dead_letters_into_the_failure_queue_may_send_to_it() -> None:
    rules = _rules_dead_lettering_into("FailureQueue")
    assert len(rules) == 6  # the six EventBridge rules of the stack
    missing = rules - _source_arns_allowed_to_send("FailureQueuePolicy")
    assert not missing, f"FailureQueuePolicy does not let these rules dead-letter: {sorted(missing)}"


def test_the_failure_queue_policy_names_no_rule_that_does_not_exist() -> None:
    generated = _rules_dead_lettering_into("FailureQueue")
    assert _source_arns_allowed_to_send("FailureQueuePolicy") <= generated


# -- alarm actions publishing to the encrypted notification topic ---------------------------------------
# CloudWatch publishes an alarm action as the service `cloudwatch.amazonaws.com`: the topic's policy must
# let it publish, and, the topic being encrypted with a KMS key, the key's policy must let it use the key
# (kms:GenerateDataKey* and kms:Decrypt: Amazon SNS Developer Guide, "Key management", permissions for
# AWS service event sources). Either one missing and AWS drops the notification; moto delivers anyway.
def _alarms_publishing_to(topic: str) -> set[str]:
    alarms = set()
    for logical_id, resource in RESOURCES.items():
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            properties = resource["Properties"]
            actions = [*properties.get("AlarmActions", []), *properties.get("OKActions", [])]
            if {"Ref": topic} in actions:
                alarms.add(logical_id)
    return alarms


def _service_statements(document: dict[str, Any], service: str) -> list[dict[str, Any]]:
    found = []
    for statement in document["Statement"]:
        principal = statement.get("Principal")
        services = principal.get("Service", []) if isinstance(principal, dict) else []
        if statement["Effect"] == "Allow" and service in (
            [services] if isinstance(services, str) else services
        ):
            found.append(statement)
    return found


def _actions(statements: list[dict[str, Any]]) -> set[str]:
    actions: set[str] = set()
    for statement in statements:
        listed = statement["Action"]
        actions |= {listed} if isinstance(listed, str) else set(listed)
    return actions


def test_the_stacks_alarms_may_publish_to_the_notification_topic_and_use_its_key() -> None:
    assert _alarms_publishing_to("NotificationTopic") == {"FailureQueueAlarm", "BatchRetryBacklogAlarm"}
    (topic_policy,) = [r for r in RESOURCES.values() if r["Type"] == "AWS::SNS::TopicPolicy"]
    assert topic_policy["Properties"]["Topics"] == [{"Ref": "NotificationTopic"}]
    allowed = _service_statements(topic_policy["Properties"]["PolicyDocument"], "cloudwatch.amazonaws.com")
    assert "sns:Publish" in _actions(allowed)
    # only on behalf of this account's alarms (confused deputy)
    assert all(
        s["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"} for s in allowed
    )

    key = RESOURCES["NotificationTopic"]["Properties"]["KmsMasterKeyId"]
    assert key == {"Ref": "NotificationKey"}  # a customer managed key: alias/aws/sns could never allow it
    key_statements = _service_statements(
        RESOURCES["NotificationKey"]["Properties"]["KeyPolicy"], "cloudwatch.amazonaws.com"
    )
    assert {"kms:Decrypt", "kms:GenerateDataKey*"} <= _actions(key_statements)
