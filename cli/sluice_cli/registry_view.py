"""Read-only views of the registry table for the `sluice` CLI.

The Lambdas' `RegistryStore` takes its DynamoDB client from the environment; the CLI builds its clients
from its own options (profile, region, endpoint), so it reads the table here with a client it is given.
Keys and item shapes are never re-typed: key builders come from `sluice.domain.registry`, items go
through the adapters' `from_item`. Rollouts, their decision logs, lease and queue are read with the
Lambdas' own `RolloutStore`, given the CLI's client (`CliContext.rollout_store()`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from sluice.adapters.registry import from_item
from sluice.adapters.rollouts import rollout_pk
from sluice.domain.registry import (
    INTAKE_INDEX_PK,
    JOB_SK,
    LATEST_SK,
    batch_index_pk,
    endpoint_index_pk,
    job_pk,
    model_pk,
)
from sluice.domain.rollout.intake import KIND as ENDPOINT_KIND

INDEX_NAME = "gsi1"

Record = dict[str, Any]
RecordFilter = Callable[[Record], bool]


def status_filter(status: str | None) -> RecordFilter:
    """Records whose status equals `status`, ignoring case (`completed` finds `Completed`)."""
    if status is None:
        return lambda record: True
    wanted = status.casefold()
    return lambda record: str(record.get("status", "")).casefold() == wanted


class RegistryView:
    """Queries the CLI needs, over a boto3 DynamoDB client built from the CLI's session."""

    def __init__(self, dynamodb: Any, table: str) -> None:
        self.dynamodb = dynamodb
        self.table = table

    # -- model versions ------------------------------------------------------------------------------
    def model_versions(self, endpoint: str) -> list[Record]:
        """Every version record of every model on an endpoint (gsi1 `endpoint#<endpoint>`)."""
        return list(self._query_index(endpoint_index_pk(endpoint)))

    def latest_pointer(self, endpoint: str, model: str) -> Record | None:
        item = self.dynamodb.get_item(
            TableName=self.table,
            Key={"pk": {"S": model_pk(endpoint, model)}, "sk": {"S": LATEST_SK}},
        )
        return from_item(item["Item"]) if "Item" in item else None

    # -- batch jobs ----------------------------------------------------------------------------------
    def jobs(self, *, model: str | None, keep: RecordFilter, limit: int) -> list[Record]:
        """Newest first. With a model: gsi1 `batch#<model>` (ordered by creation time). Without: a scan
        of the table for job records, sorted here (reads the whole table; fine at registry sizes)."""
        if model is not None:
            return _first(self._query_index(batch_index_pk(model), newest_first=True), keep, limit)
        jobs = [job for job in self._scan_jobs() if keep(job)]
        jobs.sort(key=lambda job: str(job.get("created_at", "")), reverse=True)
        return jobs[:limit]

    def _scan_jobs(self) -> Iterator[Record]:
        paginator = self.dynamodb.get_paginator("scan")
        for page in paginator.paginate(
            TableName=self.table,
            FilterExpression="begins_with(pk, :job) AND sk = :sk",
            ExpressionAttributeValues={":job": {"S": job_pk("")}, ":sk": {"S": JOB_SK}},
        ):
            yield from (from_item(item) for item in page.get("Items", []))

    # -- intakes -------------------------------------------------------------------------------------
    def intakes(self, *, keep: RecordFilter, limit: int) -> list[Record]:
        """The most recent uploads, newest first (gsi1 `intake`, ordered by receipt time)."""
        return _first(self._query_index(INTAKE_INDEX_PK, newest_first=True), keep, limit)

    def latest_endpoint_upload(
        self, endpoint: str, *, after: str | None, read_at_most: int = 500
    ) -> Record | None:
        """The newest upload of `endpoints/<endpoint>/<version>/model.tar.gz` received after `after` (an ISO
        time, as intakes record it), or None. There is no index per endpoint: the intake index is read
        newest first (only what is newer than `after`, else at most `read_at_most` uploads)."""
        condition, values = "gsi1pk = :pk", {":pk": {"S": INTAKE_INDEX_PK}}
        if after:
            condition += " AND gsi1sk > :after"
            values[":after"] = {"S": after}
        paginator = self.dynamodb.get_paginator("query")
        read = 0
        for page in paginator.paginate(
            TableName=self.table,
            IndexName=INDEX_NAME,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values,
            ScanIndexForward=False,
            PaginationConfig={"PageSize": 100},
        ):
            for record in (from_item(item) for item in page.get("Items", [])):
                newer = after is None or str(record.get("received_at", "")) > after
                if newer and record.get("kind") == ENDPOINT_KIND and record.get("endpoint") == endpoint:
                    return record
            read += len(page.get("Items", []))
            if after is None and read >= read_at_most:
                break
        return None

    # -- rollouts -----------------------------------------------------------------------------------
    def rollouts_by_id(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], Record]:
        """Rollout records by (endpoint, rollout id), in BatchGetItem requests of up to 100 keys (strongly
        consistent, as `RolloutStore` reads them). Keys with no record are left out."""
        wanted = list(dict.fromkeys(keys))
        found: dict[tuple[str, str], Record] = {}
        for start in range(0, len(wanted), 100):
            request: dict[str, Any] = {
                self.table: {
                    "Keys": [
                        {"pk": {"S": rollout_pk(endpoint)}, "sk": {"S": rollout_id}}
                        for endpoint, rollout_id in wanted[start : start + 100]
                    ],
                    "ConsistentRead": True,
                }
            }
            while request:
                response = self.dynamodb.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table, []):
                    record = from_item(item)
                    found[(str(record.get("endpoint")), str(record.get("rollout_id")))] = record
                request = response.get("UnprocessedKeys") or {}
        return found

    # -- plumbing ------------------------------------------------------------------------------------
    def _query_index(self, pk: str, *, newest_first: bool = False) -> Iterator[Record]:
        """Lazily, page by page: callers that need only the first few stop early."""
        paginator = self.dynamodb.get_paginator("query")
        for page in paginator.paginate(
            TableName=self.table,
            IndexName=INDEX_NAME,
            KeyConditionExpression="gsi1pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
            ScanIndexForward=not newest_first,
        ):
            yield from (from_item(item) for item in page.get("Items", []))


def _first(records: Iterator[Record], keep: RecordFilter, limit: int) -> list[Record]:
    found: list[Record] = []
    for record in records:
        if keep(record):
            found.append(record)
            if len(found) >= limit:
                break
    return found
