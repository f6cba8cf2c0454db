"""The envelope every EventBridge event shares; one module per event source holds its model
(`s3_events`, `transform_job_events`, `alarm_events`), so a handler builds only the models it parses.

Sample events live in events/; tests load them, never re-type them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class EventBridgeModel(BaseModel):
    """The envelope of every EventBridge event: the fields of Powertools' EventBridgeModel.

    Declared here rather than imported: importing Powertools' parser models loads its whole parser
    package (and pydantic's network and email types), which every handler would pay at each cold start
    (benchmarks/bench_cold_import.py). Subclasses type `detail` and pin `detail_type`; a handler
    validates its event with `Model.model_validate(event)`.
    """

    model_config = ConfigDict(populate_by_name=True)

    version: str
    id: str
    source: str
    account: str
    time: datetime
    region: str
    resources: list[str]
    detail_type: str = Field(alias="detail-type")
    detail: dict[str, Any] | BaseModel
    replay_name: str | None = Field(default=None, alias="replay-name")
