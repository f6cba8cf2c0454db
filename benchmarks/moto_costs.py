"""Emulator costs a benchmark removes for its run, so that a figure measures Sluice, not moto: each a
context manager, documented where it is used (the benchmark's docstring names it)."""

from __future__ import annotations

import copy
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def transactions_snapshot_items() -> Iterator[None]:
    """moto's TransactWriteItems deep-copies every table a transaction touches before applying it (to
    roll back on a failure): a cost that grows with the table, where AWS's does not. Registering a model
    runs two transactions on the registry table, which grows by three items per registration, so at
    700 versions the copies were 80 % of the handler's time and the run took 13 minutes. For the
    duration, a transaction snapshots the items it touches instead (each before it runs) and puts them
    back when it fails: the same outcome, at a cost that does not depend on the table's size."""
    import moto.dynamodb.models as models

    backend_class = models.DynamoDBBackend
    original = backend_class.transact_write_items
    per_item = threading.local()

    def deepcopy(value: Any, memo: Any = None) -> Any:
        if getattr(per_item, "active", False) and isinstance(value, models.Table):
            return value  # what moto would restore on a failure is the table as it stays: a no-op
        return copy.deepcopy(value, memo)

    def touched(backend: Any, item: dict[str, Any]) -> tuple[str, dict[str, Any], Any]:
        op_type, op = next(iter(item.items()))
        table = backend.get_table(op["TableName"])
        if op_type == "Put":
            names = [n for n in (table.hash_key_attr, table.range_key_attr) if n is not None]
            key = {name: op["Item"][name] for name in names}
        else:
            key = op["Key"]
        before = backend.get_item(op["TableName"], key)
        return op["TableName"], key, None if before is None else copy.deepcopy(before.to_json()["Attributes"])

    def transact_write_items(backend: Any, transact_items: list[dict[str, Any]]) -> None:
        try:
            snapshots = [touched(backend, item) for item in transact_items]
        except Exception:  # malformed: moto's own checks answer, with its own snapshots
            return original(backend, transact_items)
        per_item.active = True
        try:
            original(backend, transact_items)
        except Exception:
            for table_name, key, before in reversed(snapshots):
                if before is None:
                    backend.delete_item(table_name, key)
                else:
                    backend.put_item(table_name, before)
            raise
        finally:
            per_item.active = False

    shim = types.SimpleNamespace(deepcopy=deepcopy, copy=copy.copy)
    saved_copy = models.copy
    backend_class.transact_write_items = transact_write_items  # type: ignore[method-assign]
    models.copy = shim  # type: ignore[assignment]
    try:
        yield
    finally:
        backend_class.transact_write_items = original  # type: ignore[method-assign]
        models.copy = saved_copy
