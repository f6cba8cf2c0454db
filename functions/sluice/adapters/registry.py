"""Amazon DynamoDB: the registry of model versions, intakes and batch jobs (one table)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from sluice.adapters.clients import client, error_code
from sluice.domain.registry import (
    JOB_SK,
    LATEST_SK,
    batch_index_pk,
    endpoint_index_pk,
    job_pk,
    model_pk,
    version_from_sk,
    version_sk,
)

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()
# DynamoDB's numbers range from 1E-130 to 9.9999999999999999999999999999999999999E+125 in magnitude
# (Developer Guide, "Supported data types and naming rules"); it refuses a smaller one ("Number underflow")
# and boto3 refuses one below 1E-165. A float that close to zero (a p-value of a glaring regression) is
# stored as 0, as a float itself underflows.
SMALLEST_NUMBER = Decimal("1E-130")


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_plain(v) for v in value]
    return value


def _dynamo(value: Any) -> Any:
    if isinstance(value, float):
        number = Decimal(str(value))
        return number if abs(number) >= SMALLEST_NUMBER or not number else Decimal(0)
    if isinstance(value, dict):
        return {k: _dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_dynamo(v) for v in value]
    return value


def to_item(record: dict[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(_dynamo(v)) for k, v in record.items() if v is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(_deserializer.deserialize(v)) for k, v in item.items()}


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _update_parts(attrs: dict[str, Any]) -> tuple[str, dict[str, str], dict[str, Any]]:
    names = {f"#a{i}": name for i, name in enumerate(attrs)}
    values = {f":a{i}": _serializer.serialize(_dynamo(v)) for i, v in enumerate(attrs.values())}
    sets = ", ".join(f"#a{i} = :a{i}" for i in range(len(attrs)))
    return f"SET {sets}", names, values


class RegistryStore:
    def __init__(self, table_name: str, dynamodb_client: Any | None = None) -> None:
        self.table = table_name
        self._client = dynamodb_client  # the CLI passes its own; Lambdas use the process's client

    @property
    def ddb(self) -> Any:
        return self._client or client("dynamodb")

    # -- generic ---------------------------------------------------------------------------------
    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        item = self.ddb.get_item(TableName=self.table, Key=_key(pk, sk), ConsistentRead=True)
        return from_item(item["Item"]) if "Item" in item else None

    def put(self, record: dict[str, Any]) -> None:
        self.ddb.put_item(TableName=self.table, Item=to_item(record))

    def put_new(self, record: dict[str, Any]) -> bool:
        """Put only if no item has this key. False when one already exists."""
        try:
            self.ddb.put_item(
                TableName=self.table, Item=to_item(record), ConditionExpression="attribute_not_exists(pk)"
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def update(
        self, pk: str, sk: str, attrs: dict[str, Any], *, expect: dict[str, Any] | None = None
    ) -> bool:
        """Set attributes; with `expect`, only when those attributes currently hold those values."""
        expression, names, values = _update_parts(attrs)
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "Key": _key(pk, sk),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        if expect:
            conditions = []
            for i, (name, value) in enumerate(expect.items()):
                names[f"#e{i}"] = name
                if value is None:
                    conditions.append(f"attribute_not_exists(#e{i})")
                else:
                    values[f":e{i}"] = _serializer.serialize(_dynamo(value))
                    conditions.append(f"#e{i} = :e{i}")
            kwargs["ConditionExpression"] = " AND ".join(conditions)
        else:
            kwargs["ConditionExpression"] = "attribute_exists(pk)"
        try:
            self.ddb.update_item(**kwargs)
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    # -- model versions --------------------------------------------------------------------------
    def highest_version(self, endpoint: str, model: str) -> int:
        response = self.ddb.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :v)",
            ExpressionAttributeValues={":pk": {"S": model_pk(endpoint, model)}, ":v": {"S": "v#"}},
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )
        items = response.get("Items", [])
        return version_from_sk(items[0]["sk"]["S"]) if items else 0

    def latest(self, endpoint: str, model: str) -> dict[str, Any] | None:
        return self.get(model_pk(endpoint, model), LATEST_SK)

    def version(self, endpoint: str, model: str, version: int) -> dict[str, Any] | None:
        return self.get(model_pk(endpoint, model), version_sk(version))

    def reserve_version(
        self, endpoint: str, model: str, version: int, record: dict[str, Any], intake: tuple[str, str]
    ) -> bool:
        """Atomically claim version N (it must be new) and point the intake record at it."""
        item = {
            **record,
            "pk": model_pk(endpoint, model),
            "sk": version_sk(version),
            "gsi1pk": endpoint_index_pk(endpoint),
            "gsi1sk": f"{model}#{version:010d}",
            "endpoint": endpoint,
            "model": model,
            "version": version,
        }
        expression, names, values = _update_parts({"status": "PUBLISHING", "version": version})
        try:
            self.ddb.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": to_item(item),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self.table,
                            "Key": _key(*intake),
                            "UpdateExpression": expression,
                            "ExpressionAttributeNames": names,
                            "ExpressionAttributeValues": values,
                        }
                    },
                ]
            )
        except ClientError as exc:
            if error_code(exc) in {"TransactionCanceledException", "ConditionalCheckFailedException"}:
                return False
            raise
        return True

    def finalize_version(
        self,
        endpoint: str,
        model: str,
        version: int,
        attrs: dict[str, Any],
        intake: tuple[str, str],
        intake_attrs: dict[str, Any],
    ) -> bool:
        """Mark version N published with its intake (one transaction), then move "latest" forward.

        "latest" is the most recent *upload*: with `attrs["upload_sequencer"]` (S3's sequencer,
        normalized by sluice.domain.intake.upload_sequencer), N replaces it only when its upload is
        later; without one (sam local, hand-made events), only when N is higher. Returns whether
        "latest" now points at N.
        """
        v_expr, v_names, v_values = _update_parts(attrs)
        i_expr, i_names, i_values = _update_parts(intake_attrs)
        self.ddb.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": _key(model_pk(endpoint, model), version_sk(version)),
                        "UpdateExpression": v_expr,
                        "ExpressionAttributeNames": v_names,
                        "ExpressionAttributeValues": v_values,
                    }
                },
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": _key(*intake),
                        "UpdateExpression": i_expr,
                        "ExpressionAttributeNames": i_names,
                        "ExpressionAttributeValues": i_values,
                    }
                },
            ]
        )
        latest = {
            **attrs,
            "pk": model_pk(endpoint, model),
            "sk": LATEST_SK,
            "version": version,
            "endpoint": endpoint,
            "model": model,
        }
        sequencer = attrs.get("upload_sequencer")
        if sequencer:
            # AWS, S3 event message structure: S3 does not deliver events in order, but for one key the
            # event with the greater `sequencer` (zero-padded to equal length) is the later one. A latest
            # without one (published from an event that had none) gives way.
            condition = "attribute_not_exists(pk) OR attribute_not_exists(#s) OR #s < :s"
            names, values = {"#s": "upload_sequencer"}, {":s": {"S": str(sequencer)}}
        else:
            condition = "attribute_not_exists(pk) OR #v < :v"
            names, values = {"#v": "version"}, {":v": {"N": str(version)}}
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item=to_item(latest),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def advance_latest_upload(self, endpoint: str, model: str, sequencer: str) -> bool:
        """An identical re-upload of latest's bytes: latest's `upload_sequencer` moves to this upload's
        when it is later (same ordering rule as finalize_version), so an older upload of other bytes
        whose event arrives afterwards does not take latest over."""
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key=_key(model_pk(endpoint, model), LATEST_SK),
                UpdateExpression="SET #s = :s",
                ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(#s) OR #s < :s)",
                ExpressionAttributeNames={"#s": "upload_sequencer"},
                ExpressionAttributeValues={":s": {"S": sequencer}},
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def versions_on_endpoint(self, endpoint: str) -> list[dict[str, Any]]:
        return self._query_index(endpoint_index_pk(endpoint))

    # -- batch jobs ------------------------------------------------------------------------------
    def job(self, job_name: str) -> dict[str, Any] | None:
        return self.get(job_pk(job_name), JOB_SK)

    def create_job(self, job_name: str, model: str, record: dict[str, Any], created_at: str) -> bool:
        return self.put_new(
            {
                **record,
                "pk": job_pk(job_name),
                "sk": JOB_SK,
                "gsi1pk": batch_index_pk(model),
                "gsi1sk": created_at,
                "job_name": job_name,
                "model": model,
            }
        )

    def jobs_of_model(self, model: str) -> list[dict[str, Any]]:
        return self._query_index(batch_index_pk(model))

    def _query_index(self, pk: str) -> list[dict[str, Any]]:
        paginator = self.ddb.get_paginator("query")
        items: list[dict[str, Any]] = []
        for page in paginator.paginate(
            TableName=self.table,
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
        ):
            items.extend(from_item(i) for i in page.get("Items", []))
        return items
