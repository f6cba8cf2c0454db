"""Amazon DynamoDB: rollouts, their decision logs, the per-endpoint lease and queue, alarm owners.

Same table as the registry (keys in docs/DESIGN.md, "Canary rollouts").
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from sluice.adapters.clients import error_code
from sluice.adapters.registry import RegistryStore, _dynamo, _serializer, from_item, to_item


def rollout_pk(endpoint: str) -> str:
    return f"rollout#{endpoint}"


def log_pk(endpoint: str, rollout_id: str) -> str:
    return f"log#{endpoint}#{rollout_id}"


def lease_pk(endpoint: str) -> str:
    return f"lease#{endpoint}"


def alarm_owner_pk(alarm_name: str) -> str:
    return f"alarm#{alarm_name}"


LEASE_SK = "lease"
QUEUED_SK = "queued"
ROLLOUTS_INDEX_PK = "rollouts"


class RolloutStore(RegistryStore):
    # -- rollouts ----------------------------------------------------------------------------------
    def create_rollout(self, endpoint: str, rollout_id: str, record: dict[str, Any], created_at: str) -> bool:
        return self.put_new(
            {
                **record,
                "pk": rollout_pk(endpoint),
                "sk": rollout_id,
                "gsi1pk": ROLLOUTS_INDEX_PK,
                "gsi1sk": f"{created_at}#{endpoint}",
                "endpoint": endpoint,
                "rollout_id": rollout_id,
                "created_at": created_at,
            }
        )

    def rollout(self, endpoint: str, rollout_id: str) -> dict[str, Any] | None:
        return self.get(rollout_pk(endpoint), rollout_id)

    def rollouts(self, endpoint: str, *, limit: int = 20) -> list[dict[str, Any]]:
        """Newest first (rollout ids start with their UTC start time)."""
        response = self.ddb.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": rollout_pk(endpoint)}},
            ScanIndexForward=False,
            Limit=limit,
            ConsistentRead=True,
        )
        return [from_item(i) for i in response.get("Items", [])]

    def update_rollout(
        self, endpoint: str, rollout_id: str, attrs: dict[str, Any], *, expect: dict[str, Any] | None = None
    ) -> bool:
        return self.update(rollout_pk(endpoint), rollout_id, attrs, expect=expect)

    def signal(
        self, endpoint: str, rollout_id: str, attrs: dict[str, Any], *, keep_existing: bool = False
    ) -> dict[str, Any] | None:
        """Set attributes and read the whole item back in the same request (None: no such rollout).

        DynamoDB applies updates of one item one at a time, so of two writers (the alarm handler
        setting `abort_requested`, the bake storing its token) the second always sees the first.
        With keep_existing, an attribute already set keeps its value (if_not_exists): the first abort's
        reason stays the rollout's reason when a second alarm fires.
        """
        names = {f"#a{i}": name for i, name in enumerate(attrs)}
        values = {f":a{i}": _serializer.serialize(_dynamo(v)) for i, v in enumerate(attrs.values())}
        assignments = [
            f"#a{i} = if_not_exists(#a{i}, :a{i})" if keep_existing else f"#a{i} = :a{i}"
            for i in range(len(attrs))
        ]
        try:
            response = self.ddb.update_item(
                TableName=self.table,
                Key={"pk": {"S": rollout_pk(endpoint)}, "sk": {"S": rollout_id}},
                UpdateExpression="SET " + ", ".join(assignments),
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise
        return from_item(response["Attributes"])

    # -- decision log ------------------------------------------------------------------------------
    def log_decision(self, endpoint: str, rollout_id: str, at: str, entry: dict[str, Any]) -> None:
        """Append one decision; `at` (ISO time) plus a counter keeps entries ordered and distinct."""
        for seq in range(100):
            if self.put_new({**entry, "pk": log_pk(endpoint, rollout_id), "sk": f"{at}#{seq:02d}", "at": at}):
                return
        raise RuntimeError(f"could not append to the decision log of {rollout_id}")

    def history(self, endpoint: str, rollout_id: str) -> list[dict[str, Any]]:
        paginator = self.ddb.get_paginator("query")
        entries: list[dict[str, Any]] = []
        for page in paginator.paginate(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": log_pk(endpoint, rollout_id)}},
            ConsistentRead=True,
        ):
            entries.extend(from_item(i) for i in page.get("Items", []))
        return entries

    # -- lease and queue ---------------------------------------------------------------------------
    def acquire_lease(self, endpoint: str, holder: dict[str, Any]) -> dict[str, Any] | None:
        """Take the endpoint's lease. None when taken now; else the current holder."""
        if self.put_new({**holder, "pk": lease_pk(endpoint), "sk": LEASE_SK}):
            return None
        return self.get(lease_pk(endpoint), LEASE_SK) or {}

    def take_over_lease(self, endpoint: str, dead_rollout_id: str, holder: dict[str, Any]) -> bool:
        """Replace the lease of a rollout whose execution is no longer running (conditional on it)."""
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item=to_item({**holder, "pk": lease_pk(endpoint), "sk": LEASE_SK}),
                ConditionExpression="rollout_id = :dead",
                ExpressionAttributeValues={":dead": {"S": dead_rollout_id}},
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def release_lease(self, endpoint: str, rollout_id: str) -> bool:
        try:
            self.ddb.delete_item(
                TableName=self.table,
                Key={"pk": {"S": lease_pk(endpoint)}, "sk": {"S": LEASE_SK}},
                ConditionExpression="rollout_id = :id",
                ExpressionAttributeValues={":id": {"S": rollout_id}},
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def lease(self, endpoint: str) -> dict[str, Any] | None:
        return self.get(lease_pk(endpoint), LEASE_SK)

    def replace_queued(self, endpoint: str, queued: dict[str, Any]) -> dict[str, Any] | None:
        """Make `queued` the version that runs next; returns the one it replaces (to mark SUPERSEDED)."""
        response = self.ddb.put_item(
            TableName=self.table,
            Item=to_item({**queued, "pk": lease_pk(endpoint), "sk": QUEUED_SK}),
            ReturnValues="ALL_OLD",
        )
        return from_item(response["Attributes"]) if response.get("Attributes") else None

    def queue_if_newest(self, endpoint: str, queued: dict[str, Any]) -> tuple[bool, dict[str, Any] | None]:
        """Queue `queued` unless a version uploaded later is already queued (one conditional write).

        Returns (queued, the one replaced); (False, None) when a newer upload holds the place.
        """
        try:
            response = self.ddb.put_item(
                TableName=self.table,
                Item=to_item({**queued, "pk": lease_pk(endpoint), "sk": QUEUED_SK}),
                ConditionExpression="attribute_not_exists(pk) OR uploaded_at <= :mine",
                ExpressionAttributeValues={":mine": {"S": str(queued["uploaded_at"])}},
                ReturnValues="ALL_OLD",
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False, None
            raise
        return True, (from_item(response["Attributes"]) if response.get("Attributes") else None)

    def queued(self, endpoint: str) -> dict[str, Any] | None:
        return self.get(lease_pk(endpoint), QUEUED_SK)

    def pop_queued(self, endpoint: str) -> dict[str, Any] | None:
        response = self.ddb.delete_item(
            TableName=self.table,
            Key={"pk": {"S": lease_pk(endpoint)}, "sk": {"S": QUEUED_SK}},
            ReturnValues="ALL_OLD",
        )
        return from_item(response["Attributes"]) if response.get("Attributes") else None

    # -- alarm owners ------------------------------------------------------------------------------
    def own_alarms(self, names: list[str], endpoint: str, rollout_id: str) -> None:
        """One owner item per (alarm, endpoint): a user's alarm may guard rollouts of several endpoints."""
        for name in names:
            self.put(
                {"pk": alarm_owner_pk(name), "sk": endpoint, "endpoint": endpoint, "rollout_id": rollout_id}
            )

    def alarm_owners(self, alarm_name: str) -> list[dict[str, Any]]:
        response = self.ddb.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": alarm_owner_pk(alarm_name)}},
            ConsistentRead=True,
        )
        return [from_item(i) for i in response.get("Items", [])]

    def disown_alarms(self, names: list[str], endpoint: str, rollout_id: str) -> None:
        for name in names:
            try:
                self.ddb.delete_item(
                    TableName=self.table,
                    Key={"pk": {"S": alarm_owner_pk(name)}, "sk": {"S": endpoint}},
                    ConditionExpression="rollout_id = :id",
                    ExpressionAttributeValues={":id": {"S": rollout_id}},
                )
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
