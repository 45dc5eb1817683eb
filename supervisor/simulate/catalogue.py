"""The approval items (审批事项) the simulator files cases under: Hechi's item catalogue.

Why a catalogue and not random limits: the rule engine judges a case by what `accepted`
says (promised and statutory limits, immediate, fee standard, required steps) and, with
an item catalogue configured (contract §8), by what the catalogue says the item's limits
and steps are. Drawing cases from that same catalogue makes the wall look like a real
center's, keeps the simulated violations meaningful (an overcharge is measured against
the item's fee standard, a late stage against its step's limit), and lets the demo judge
the simulated cases by the catalogue without a false alarm.

One source of truth: the catalogue is `supervisor/data/catalogue/hechi.yaml`, in the
contract's format, read here through the engine's own loader
(`supervisor.core.catalogue.Catalogue.load`). It is invented but plausible: 655 items of
23 departments, catalogued by the city (451200) and each county under their own codes;
`supervisor.simulate.make_catalogue` generates it from the item families in
`supervisor/data/item_templates.yaml` (read by `templates.py`). What only the simulator
needs (how common an item is, which levels of center take it, the materials a window
asks for, the legal basis, the township office) is not a catalogue field: it comes from
those families, matched by the item's code without its place, with neutral defaults for
an item they do not know.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from supervisor.centers import Center, Level, region_name
from supervisor.core.catalogue import Catalogue as CoreCatalogue
from supervisor.core.catalogue import CatalogueLimit
from supervisor.core.catalogue import Item as CoreItem
from supervisor.settings import package_path
from supervisor.simulate.templates import Template, load_templates

Unit = Literal["working_day", "natural_day"]

#: The packaged catalogue's directory (what `supervisor.core.catalogue` loads).
DEFAULT_DIR = package_path("data", "catalogue")

_DEFAULT_MATERIALS = ("申请书", "申请人身份证明")
_DEFAULT_BASIS = "《中华人民共和国行政许可法》"
#: The department of a catalogued item that names none (the center's general window).
_NO_DEPARTMENT = "综合受理窗口"


@dataclass(frozen=True)
class Limit:
    """A time limit as the contract writes it: a value and a unit."""

    value: float
    unit: Unit

    @property
    def days(self) -> int:
        """Whole days a deadline counts (a fraction of a day counts as a day)."""
        return math.ceil(self.value)

    def as_payload(self) -> dict[str, object]:
        return {"value": _num(self.value), "unit": self.unit}


@dataclass(frozen=True)
class Step:
    """One handling step (环节): the id `step_completed` reports, its name, its limit."""

    step: str
    name: str
    limit: Limit


@dataclass(frozen=True)
class Item:
    """One catalogued item of one place (the city or a county), as the simulator uses it.

    The first eight fields are the catalogue's; the rest are the simulator's hints."""

    item_code: str
    item_name: str
    department: str
    promised_limit: Limit
    statutory_limit: Limit | None
    immediate: bool
    fee_standard: float
    steps: tuple[Step, ...]
    levels: frozenset[Level]
    weight: float = 1.0
    materials: tuple[str, ...] = _DEFAULT_MATERIALS
    legal_basis: str = _DEFAULT_BASIS
    office: str | None = None  # the department's name without its place
    township_office: str | None = None  # who takes the item at a township center

    @property
    def place(self) -> str:
        """The code of the place that catalogues it: the first 6 digits of its code."""
        return self.item_code[:6]

    @property
    def base_code(self) -> str:
        """The item's code without its place ("XK-2001-01")."""
        return self.item_code[7:]

    @property
    def required_steps(self) -> tuple[str, ...]:
        return tuple(step.step for step in self.steps)

    def offered_at(self, center: Center) -> bool:
        """Whether `center` takes cases of this item: a center of the item's own place, at
        one of the item's levels (a township center belongs to its county's place)."""
        return center.code[:6] == self.place and center.level in self.levels

    def department_at(self, center: Center) -> str:
        """The department a case of this item is handled by at `center` (contract §7): the
        catalogue's at its own place, the township office at a township center, and the
        same department of `center`'s place anywhere else."""
        if center.level == "township" and self.township_office is not None:
            return region_name(center.name) + self.township_office
        if center.code[:6] == self.place or self.office is None:
            return self.department
        return region_name(center.name) + self.office

    def accepted_payload(
        self, *, item_code: str | None = None, promised: Limit | None = None
    ) -> dict[str, object]:
        """The `accepted` payload for this item: its catalogued terms, unless the caller
        declares another code or a (longer) promised limit."""
        payload: dict[str, object] = {
            "item_code": item_code or self.item_code,
            "item_name": self.item_name,
            "promised_limit": (promised or self.promised_limit).as_payload(),
        }
        if self.statutory_limit is not None:
            payload["statutory_limit"] = self.statutory_limit.as_payload()
        payload["immediate"] = self.immediate
        payload["fee_standard"] = _num(self.fee_standard)
        payload["required_steps"] = list(self.required_steps)
        return payload


class Catalogue:
    """All items, by code and by the centers that take them."""

    def __init__(self, items: Sequence[Item]) -> None:
        if not items:
            raise ValueError("the catalogue is empty")
        self.items: tuple[Item, ...] = tuple(items)
        self._by_code = {item.item_code: item for item in self.items}
        if len(self._by_code) != len(self.items):
            raise ValueError("item codes must be unique")
        self._offered: dict[tuple[str, Level], tuple[Item, ...]] = {}

    @classmethod
    def load(cls, directory: Path | None = None, templates: Path | None = None) -> Catalogue:
        """Read a catalogue directory (default: the packaged Hechi catalogue) with the
        engine's loader, and the simulator's hints from the item families."""
        folder = DEFAULT_DIR if directory is None else directory
        core = CoreCatalogue.load(folder)
        if core is None:
            raise ValueError(f"{folder}: no item catalogue (*.yaml) there")
        hints = {t.code: t for t in load_templates(templates)}
        return cls([_item(item, hints.get(item.item_code[7:])) for item in core])

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Item]:
        return iter(self.items)

    def __contains__(self, item_code: object) -> bool:
        return item_code in self._by_code

    def get(self, item_code: str) -> Item | None:
        return self._by_code.get(item_code)

    def offered_at(self, center: Center) -> tuple[Item, ...]:
        """The items whose cases `center` takes."""
        key = (center.code[:6], center.level)
        if key not in self._offered:
            self._offered[key] = tuple(i for i in self.items if i.offered_at(center))
        return self._offered[key]

    def strangers(self, center: Center) -> list[Item]:
        """Items of other places that `center`'s place does not catalogue, one per code
        (a case filed under one of them is `catalogue.unknown_item`)."""
        place = center.code[:6]
        seen: dict[str, Item] = {}
        for item in self.items:
            if item.office is not None and f"{place}-{item.base_code}" not in self._by_code:
                seen.setdefault(item.base_code, item)
        return list(seen.values())


def _item(core: CoreItem, hint: Template | None) -> Item:
    place_level: Level = "city" if core.item_code[:6].endswith("00") else "county"
    levels = {place_level}
    township = None
    if hint is not None and place_level == "county" and hint.township_office is not None:
        levels.add("township")
        township = hint.township_office
    statutory = core.statutory_limit
    item = Item(
        item_code=core.item_code,
        item_name=core.name,
        department=core.department or _NO_DEPARTMENT,
        promised_limit=_limit(core.promised_limit),
        statutory_limit=None if statutory is None else _limit(statutory),
        immediate=core.immediate,
        fee_standard=core.fee_standard,
        steps=tuple(Step(s.step, s.name or s.step, _limit(s.limit)) for s in core.steps),
        levels=frozenset(levels),
    )
    if hint is None:
        return item
    return replace(
        item,
        weight=hint.weight,
        materials=hint.materials,
        legal_basis=hint.basis,
        office=hint.office.city if place_level == "city" else hint.office.county,
        township_office=township,
    )


def _limit(limit: CatalogueLimit) -> Limit:
    return Limit(limit.value, limit.unit)


def _num(value: float) -> float:
    """Whole amounts as integers in JSON (80, not 80.0), as centers send them."""
    return int(value) if float(value).is_integer() else round(value, 2)
