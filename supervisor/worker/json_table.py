"""The table `cases` as the case store sees it: JSON objects in and out, each value
encoded once.

Why: with Faust's JSON codec on the table, a value written is encoded twice, once for the
RocksDB store and once more for its changelog record (faust.tables: the store's
`_encode_value`, then `send_changelog`), and a case's value is the worker's largest
write. The table is declared with raw values instead (worker/process.py), and this
wrapper encodes each value once with orjson, the same JSON Faust's codec writes (Faust's
is orjson too, for the plain objects a case is stored as): a changelog or a store written
before reads the same, and a worker of before reads what this one writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from supervisor.worker.case_store import Table


def dumps(value: Any) -> bytes:
    """A stored value as the table holds it (the case store measures it with this)."""
    return orjson.dumps(value)


class JsonTable:
    """`table` (raw bytes values: a Faust table declared with `value_type=bytes`) with
    JSON objects for values: what the case store and the recovery read and write."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def get(self, key: str, /) -> Any:
        raw = self.table.get(key)
        return None if raw is None else orjson.loads(raw)

    def __setitem__(self, key: str, value: Any, /) -> None:
        self.table[key] = dumps(value)

    def keys(self) -> Iterable[Any]:
        return self.table.keys()
