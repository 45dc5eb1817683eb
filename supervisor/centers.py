"""The registry of Hechi's government service centers (政务服务中心).

Why a registry: the wall groups alerts by county, `center.silent` only watches registered
centers, and people read names, not division codes. Why it also answers for codes it does
not know: the contract says events from unregistered centers are still supervised, so
`ancestors`, `is_within` and `name` fall back to the contract's code rule (9 digits: the
parent is the first 6; a county's city is its first 4 digits + "00") instead of failing.

The data lives in `supervisor/data/hechi_centers.yaml` (sources and caveats there). The
module is pure: the only I/O is reading that YAML in `CenterRegistry.load`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from supervisor.settings import package_path

Level = Literal["city", "county", "township"]

DEFAULT_PATH = package_path("data", "hechi_centers.yaml")

#: The schema's pattern for center_id.
CODE_PATTERN = re.compile(r"^[0-9]{6}([0-9]{3})?$")

_SUFFIXES = ("政务服务中心", "便民服务中心")


@dataclass(frozen=True)
class Center:
    """One government service center: its division code, display name and place."""

    code: str
    name: str
    level: Literal["city", "county", "township"]
    parent: str | None


def is_valid_code(code: str) -> bool:
    """True for a 6-digit (city/county) or 9-digit (township) code, as the schema requires."""
    return bool(CODE_PATTERN.fullmatch(code))  # `$` alone would let a final newline by


def parent_code(code: str) -> str | None:
    """The contract's parent of a code, registered or not; None for a city or bad code.

    9 digits -> the first 6 (the county); 6 digits not ending in "00" -> first 4 + "00"
    (the city); a city (6 digits ending in "00") has no parent in this registry: the
    province is outside the supervised area.
    """
    if not is_valid_code(code):
        return None
    if len(code) == 9:
        return code[:6]
    if code.endswith("00"):
        return None
    return code[:4] + "00"


def level_of(code: str) -> Level | None:
    """The level a code denotes by its shape alone (None for an invalid code)."""
    if not is_valid_code(code):
        return None
    if len(code) == 9:
        return "township"
    return "city" if code.endswith("00") else "county"


def region_name(center_name: str) -> str:
    """The place part of a center's name: 东兰县政务服务中心 -> 东兰县.

    Used to label unregistered centers and to name departments after their place.
    """
    for suffix in _SUFFIXES:
        if center_name.endswith(suffix):
            return center_name[: -len(suffix)]
    return center_name


class CenterRegistry:
    """Hechi's centers, in wall order: the city, then each county followed by its townships."""

    def __init__(self, centers: Iterable[Center]) -> None:
        ordered = list(centers)
        self._by_code: dict[str, Center] = {}
        for center in ordered:
            _check(center, self._by_code)
            self._by_code[center.code] = center
        self._children: dict[str, list[Center]] = {}
        for center in ordered:
            if center.parent is not None:
                self._children.setdefault(center.parent, []).append(center)
        self._ordered = self._wall_order(ordered)

    @classmethod
    def load(cls, path: Path | None = None) -> CenterRegistry:
        """Read a registry YAML (default: the packaged Hechi registry)."""
        source = DEFAULT_PATH if path is None else path
        with source.open(encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
        if not isinstance(data, Mapping):
            raise ValueError(f"{source}: expected a mapping with 'city' and 'counties'")
        return cls(_parse(data, source))

    def get(self, code: str) -> Center | None:
        return self._by_code.get(code)

    def name(self, code: str) -> str:
        """The display name; for an unregistered code, a label derived from its parent."""
        center = self._by_code.get(code)
        if center is not None:
            return center.name
        parent = self._by_code.get(parent_code(code) or "")
        if parent is None:
            return code
        place = region_name(parent.name)
        if len(code) == 9:
            return f"{place}乡镇便民服务中心（{code}）"
        return f"{place}县级政务服务中心（{code}）"

    def all(self) -> list[Center]:
        return list(self._ordered)

    def children(self, code: str) -> list[Center]:
        """Registered direct children of a center, in code order."""
        return list(self._children.get(code, []))

    def ancestors(self, code: str) -> list[str]:
        """Parent, grandparent ... of a code, nearest first; registered or not.

        451224103 -> ["451224", "451200"]. A registered center's recorded parent wins;
        otherwise the contract's code rule applies.
        """
        chain: list[str] = []
        current = code
        while True:
            center = self._by_code.get(current)
            parent = center.parent if center is not None else parent_code(current)
            if parent is None or parent in chain or parent == code:
                return chain
            chain.append(parent)
            current = parent

    def is_within(self, code: str, scope: str) -> bool:
        """True when `code` is `scope` itself or lies below it."""
        return code == scope or scope in self.ancestors(code)

    def __len__(self) -> int:
        return len(self._by_code)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def _wall_order(self, centers: list[Center]) -> list[Center]:
        roots = sorted((c for c in centers if c.parent is None), key=lambda c: c.code)
        ordered: list[Center] = []

        def visit(center: Center) -> None:
            ordered.append(center)
            for child in sorted(self._children.get(center.code, []), key=lambda c: c.code):
                visit(child)

        for root in roots:
            visit(root)
        return ordered


def _check(center: Center, known: Mapping[str, Center]) -> None:
    """Reject a center the contract's code rule would contradict."""
    if not is_valid_code(center.code):
        raise ValueError(f"center {center.code!r}: not a 6- or 9-digit division code")
    if center.code in known:
        raise ValueError(f"center {center.code}: listed twice")
    if level_of(center.code) != center.level:
        raise ValueError(f"center {center.code}: a {center.level} code must not look like this")
    if center.parent != parent_code(center.code):
        raise ValueError(
            f"center {center.code}: parent {center.parent} contradicts the code rule "
            f"(expected {parent_code(center.code)})"
        )
    if center.parent is not None and center.parent not in known:
        raise ValueError(f"center {center.code}: parent {center.parent} is not listed before it")


def _parse(data: Mapping[str, object], source: Path) -> list[Center]:
    city = _entry(data.get("city"), source, "city")
    centers = [Center(city["code"], city["name"], "city", None)]
    counties = data.get("counties") or []
    if not isinstance(counties, list):
        raise ValueError(f"{source}: 'counties' must be a list")
    for raw_county in counties:
        county = _entry(raw_county, source, "county")
        centers.append(Center(county["code"], county["name"], "county", city["code"]))
        townships = raw_county.get("townships") or []
        if not isinstance(townships, list):
            raise ValueError(f"{source}: townships of {county['code']} must be a list")
        for raw_township in townships:
            township = _entry(raw_township, source, "township")
            centers.append(Center(township["code"], township["name"], "township", county["code"]))
    return centers


def _entry(raw: object, source: Path, what: str) -> dict[str, str]:
    if not isinstance(raw, Mapping) or "code" not in raw or "name" not in raw:
        raise ValueError(f"{source}: each {what} needs a code and a name, got {raw!r}")
    return {"code": str(raw["code"]), "name": str(raw["name"])}
