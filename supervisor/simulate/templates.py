"""The item families (事项) the simulated Hechi catalogue is made of: reading them.

Why a module of its own: two readers need the families in
`supervisor/data/item_templates.yaml` (their format is described in that file's header).
`make_catalogue` expands them into the catalogue file the engine reads; the simulator's
`catalogue` takes from them what only the simulator needs (how common an item is, which
levels of center take it, materials, legal basis, township office), which the strict
catalogue format has no field for. Pure: the only I/O is reading the YAML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from supervisor.centers import Level
from supervisor.settings import package_path

Unit = Literal["working_day", "natural_day"]

TEMPLATES_PATH = package_path("data", "item_templates.yaml")

_IMMEDIATE = "即办"
_LEVELS: tuple[Level, ...] = ("city", "county", "township")


@dataclass(frozen=True)
class Office:
    """A department's name at the city, at a county, and the office taking its items at a
    township center (None: townships do not take them)."""

    city: str
    county: str
    township: str | None


@dataclass(frozen=True)
class StepShare:
    """One step of a procedure: its `step` id, its name, and its share of the limit."""

    step: str
    name: str
    share: int


@dataclass(frozen=True)
class Template:
    """One item as the families describe it, before it is catalogued at a place.

    `code` is the item's code without the place ("XK-2001-01"); limits are in days of
    `unit`; `immediate` items have a promised limit of 1 working day. The last five
    fields are hints only the simulator uses (they are not catalogue fields)."""

    code: str
    family: str
    name: str
    dept: str
    office: Office
    levels: frozenset[Level]
    promised: int
    unit: Unit
    immediate: bool
    statutory: int | None
    fee: float
    procedure: tuple[StepShare, ...]
    weight: float
    township_office: str | None
    materials: tuple[str, ...]
    basis: str


def load_templates(path: Path | None = None) -> list[Template]:
    """Every item of every family, in file order. Raises ValueError naming the family of a
    bad entry."""
    source = TEMPLATES_PATH if path is None else path
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    if not isinstance(data, Mapping):
        raise ValueError(f"{source}: expected a mapping of departments, procedures, families")
    offices = {str(key): _office(key, raw, source) for key, raw in data["departments"].items()}
    procedures = {
        str(key): tuple(StepShare(str(s), str(n), int(share)) for s, n, share in steps)
        for key, steps in data["procedures"].items()
    }
    templates: list[Template] = []
    for raw in data["families"]:
        try:
            templates += _family(raw, offices, procedures)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{source}: family {raw.get('code', '?')}: {exc}") from exc
    codes = [t.code for t in templates]
    if len(set(codes)) != len(codes):
        raise ValueError(f"{source}: an item code is used twice")
    return templates


def _office(key: object, raw: Any, source: Path) -> Office:
    if not isinstance(raw, Mapping) or not {"city", "county"} <= raw.keys():
        raise ValueError(f"{source}: department {key}: needs a city and a county name")
    township = raw.get("township")
    return Office(str(raw["city"]), str(raw["county"]), None if township is None else str(township))


def _family(
    raw: Mapping[str, Any],
    offices: Mapping[str, Office],
    procedures: Mapping[str, tuple[StepShare, ...]],
) -> list[Template]:
    code, name, dept = str(raw["code"]), str(raw["name"]), str(raw["dept"])
    office = offices[dept]
    levels = frozenset(_level(v) for v in raw["levels"])
    township = raw.get("townships", office.township) if "township" in levels else None
    if "township" in levels and ("county" not in levels or township is None):
        raise ValueError("townships take a county's items, through a township office")
    unit: Unit = "natural_day" if raw.get("unit") == "natural_day" else "working_day"
    statutory = raw.get("statutory")
    variants = raw.get("variants")
    specs = [None] if not variants else [str(v).split(":") for v in variants]
    items = []
    for index, spec in enumerate(specs):
        promised: Any = raw["promised"]
        fee = float(raw.get("fee", 0))
        if spec is not None:
            if len(spec) > 1:
                promised = spec[1]
            if len(spec) > 2:
                fee = float(spec[2])
        immediate = str(promised) == _IMMEDIATE
        days = 1 if immediate else int(promised)
        if statutory is not None and days > int(statutory):
            raise ValueError(f"promised {days} is longer than statutory {statutory}")
        items.append(
            Template(
                code=code if spec is None else f"{code}-{index + 1:02d}",
                family=code,
                name=name if spec is None else f"{name}（{spec[0]}）",
                dept=dept,
                office=office,
                levels=levels,
                promised=days,
                unit="working_day" if immediate else unit,
                immediate=immediate,
                statutory=None if statutory is None else int(statutory),
                fee=fee,
                procedure=procedures[str(raw["steps"])],
                weight=float(raw.get("weight", 1)) / (1 + index),
                township_office=None if township is None else str(township),
                materials=tuple(str(m) for m in raw["materials"]),
                basis=str(raw["basis"]),
            )
        )
    return items


def _level(value: object) -> Level:
    for level in _LEVELS:
        if value == level:
            return level
    raise ValueError(f"unknown level {value!r}")
