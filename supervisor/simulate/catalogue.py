"""The approval items (审批事项) the simulator files cases under.

Why a catalogue and not random limits: the rule engine judges a case by what `accepted`
says (promised and statutory limits, immediate, fee standard, required steps). Drawing
those from a small realistic catalogue makes the wall look like a real center's and
keeps the simulated violations meaningful (an overcharge is measured against a real
fee standard, a skipped step is one the item really requires).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from supervisor.centers import Level

Unit = Literal["working_day", "natural_day"]

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "items.yaml"

_LEVELS: tuple[Level, ...] = ("city", "county", "township")
_UNITS: tuple[Unit, ...] = ("working_day", "natural_day")


@dataclass(frozen=True)
class Limit:
    """A time limit as the contract writes it: a value and a unit."""

    value: int
    unit: Unit

    def as_payload(self) -> dict[str, object]:
        return {"value": self.value, "unit": self.unit}


@dataclass(frozen=True)
class Item:
    """One approval item as a center publishes it in its service guide (办事指南)."""

    item_code: str
    item_name: str
    departments: Mapping[Level, str]
    promised_limit: Limit
    statutory_limit: Limit | None
    immediate: bool
    fee_standard: float
    required_steps: tuple[str, ...]
    levels: frozenset[Level]
    weight: float
    materials: tuple[str, ...]
    legal_basis: str

    def code_at(self, center_code: str) -> str:
        """The item's code at a center: items are catalogued per county (first 6 digits)."""
        return f"{center_code[:6]}-{self.item_code}"

    def department_at(self, level: Level) -> str:
        """The department handling the item at a level, without its place name."""
        return self.departments[level]

    def accepted_payload(self, center_code: str) -> dict[str, object]:
        """The `accepted` payload the contract requires for this item."""
        payload: dict[str, object] = {
            "item_code": self.code_at(center_code),
            "item_name": self.item_name,
            "promised_limit": self.promised_limit.as_payload(),
        }
        if self.statutory_limit is not None:
            payload["statutory_limit"] = self.statutory_limit.as_payload()
        payload["immediate"] = self.immediate
        fee = self.fee_standard
        payload["fee_standard"] = int(fee) if fee.is_integer() else fee
        payload["required_steps"] = list(self.required_steps)
        return payload


class Catalogue:
    """All items, with the subset each center level offers."""

    def __init__(self, items: Sequence[Item]) -> None:
        if not items:
            raise ValueError("the catalogue is empty")
        codes = [item.item_code for item in items]
        if len(set(codes)) != len(codes):
            raise ValueError("item codes must be unique")
        self.items: tuple[Item, ...] = tuple(items)
        for level in _LEVELS:
            if not self.at_level(level):
                raise ValueError(f"no item is offered at {level} level")

    @classmethod
    def load(cls, path: Path | None = None) -> Catalogue:
        """Read an items YAML (default: the packaged one)."""
        source = DEFAULT_PATH if path is None else path
        with source.open(encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
        raw_items = data.get("items") if isinstance(data, Mapping) else None
        if not isinstance(raw_items, list):
            raise ValueError(f"{source}: expected a mapping with a list 'items'")
        return cls([_parse_item(raw, source) for raw in raw_items])

    def at_level(self, level: Level) -> tuple[Item, ...]:
        return tuple(item for item in self.items if level in item.levels)

    def get(self, item_code: str) -> Item | None:
        for item in self.items:
            if item.item_code == item_code:
                return item
        return None


def _parse_item(raw: Any, source: Path) -> Item:
    if not isinstance(raw, Mapping):
        raise ValueError(f"{source}: each item must be a mapping, got {raw!r}")
    code = str(raw.get("item_code", ""))
    where = f"{source}: item {code or '?'}"
    try:
        levels = frozenset(_level(v, where) for v in raw["levels"])
        departments = _departments(raw["department"], levels, where)
        statutory = raw.get("statutory_limit")
        item = Item(
            item_code=code,
            item_name=str(raw["item_name"]),
            departments=departments,
            promised_limit=_limit(raw["promised_limit"], where),
            statutory_limit=None if statutory is None else _limit(statutory, where),
            immediate=bool(raw.get("immediate", False)),
            fee_standard=float(raw.get("fee_standard", 0)),
            required_steps=tuple(str(s) for s in raw.get("required_steps") or ()),
            levels=levels,
            weight=float(raw.get("weight", 1)),
            materials=tuple(str(m) for m in raw.get("materials") or ()),
            legal_basis=str(raw.get("legal_basis", "")),
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{where}: missing or malformed field ({exc})") from exc
    if not code or item.fee_standard < 0 or item.weight <= 0 or not item.materials:
        raise ValueError(f"{where}: needs a code, a fee >= 0, a weight > 0 and materials")
    return item


def _level(value: Any, where: str) -> Level:
    for level in _LEVELS:
        if value == level:
            return level
    raise ValueError(f"{where}: unknown level {value!r}")


def _departments(raw: Any, levels: frozenset[Level], where: str) -> dict[Level, str]:
    if isinstance(raw, str):
        return {level: raw for level in levels}
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: department must be a name or a mapping per level")
    departments = {_level(key, where): str(value) for key, value in raw.items()}
    missing = levels - departments.keys()
    if missing:
        raise ValueError(f"{where}: no department for levels {sorted(missing)}")
    return departments


def _limit(raw: Any, where: str) -> Limit:
    value = raw["value"]
    unit = next((u for u in _UNITS if u == raw["unit"]), None)
    if unit is None or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{where}: a limit needs a whole positive value and a known unit")
    return Limit(value, unit)
