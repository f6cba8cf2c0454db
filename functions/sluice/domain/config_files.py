"""The JSON configuration files users upload (batch.json, deploy.json): read strictly, every problem
reported at once in words a user can act on. Pure."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from sluice.errors import RejectedConfiguration

Model = TypeVar("Model", bound=BaseModel)


@dataclass(frozen=True)
class ConfigFile(Generic[Model]):
    """One kind of configuration file: its name, its pydantic model, and how to explain its errors.

    `models_by_location` maps the path of each nested object (e.g. ("rollout",)) to its model, so an
    unknown key is answered with the keys allowed there; `pattern_meanings` says in words what a
    regular expression of the model asks for.
    """

    name: str
    model: type[Model]
    models_by_location: Mapping[tuple[str, ...], type[BaseModel]]
    pattern_meanings: Mapping[str, str]
    example: str

    def parse(self, raw: bytes) -> Model:
        """The file's settings; any problem becomes one RejectedConfiguration listing all errors."""
        document = load_json(raw, self.name)
        if not isinstance(document, dict):
            raise RejectedConfiguration(
                f"{self.name} must be a JSON object of settings, not {json_type(document)}; "
                f"for example {self.example}"
            )
        try:
            return self.model.model_validate(document)
        except ValidationError as exc:
            problems = "; ".join(self.describe(error) for error in exc.errors())
            raise RejectedConfiguration(f"{self.name} is invalid: {problems}") from None

    def describe(self, error: Mapping[str, Any]) -> str:
        loc: tuple[str | int, ...] = tuple(error["loc"])
        kind = error["type"]
        context = error.get("ctx", {})
        message = str(error["msg"]).removeprefix("Value error, ")
        if kind == "extra_forbidden":
            return self._unknown_key(loc)
        if kind == "string_pattern_mismatch":
            message = self.pattern_meanings.get(context.get("pattern"), message)
        elif kind in ("model_type", "dict_type"):
            message = "should be a JSON object"
        elif kind == "too_long" and isinstance(error.get("input"), dict | list):
            message = f"at most {context['max_length']} entries allowed, got {len(error['input'])}"
        if loc and loc[-1] == "[key]":
            return f"{format_loc(loc[:-2])} key {short_repr(loc[-2])}: {message}"
        where = format_loc(loc)
        got = error.get("input")
        quiet = kind == "value_error" or isinstance(got, dict | BaseModel)
        suffix = "" if quiet else f" (got {short_repr(got)})"
        return f"{where}: {message}{suffix}" if where else f"{message}{suffix}"

    def _unknown_key(self, loc: tuple[str | int, ...]) -> str:
        parent = loc[:-1]
        key = str(loc[-1])
        model = self.models_by_location[tuple(str(part) for part in parent if isinstance(part, str))]
        allowed = list(model.model_fields)
        snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key).lower()
        hint = f" (did you mean {snake!r}? keys are snake_case)" if snake != key and snake in allowed else ""
        where = f"{format_loc(parent)}." if parent else ""
        return f"unknown key {where}{key}{hint}; allowed keys: {', '.join(allowed)}"


def load_json(raw: bytes, what: str) -> Any:
    """JSON text as Python, or RejectedConfiguration saying where it is not (line, column, key)."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RejectedConfiguration(f"{what} is not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    try:
        return json.loads(text, object_pairs_hook=_reject_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise RejectedConfiguration(
            f"{what} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    except _DuplicateKeyError as exc:
        raise RejectedConfiguration(f"{what} has the key {exc.key!r} more than once") from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer of more than 4300 digits, deep nesting
        raise RejectedConfiguration(f"{what} cannot be read as JSON: {exc}") from None


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise _DuplicateKeyError(key)
        document[key] = value
    return document


def json_type(value: object) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null"


def format_loc(loc: Sequence[str | int]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def short_repr(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
