"""The base of the domain's plain-JSON records: frozen pydantic models that travel in the Step Functions
input and are stored in the registry (`to_dict` / `from_dict`)."""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict


class Record(BaseModel):
    # Validators are built at a model's first use, not at import: a function imports every model its
    # domain declares but one invocation uses few of them (benchmarks/bench_cold_import.py).
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types, for the Step Functions input and the registry."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """The record `to_dict` gave."""
        return cls.model_validate(data)
