"""The center registry: Hechi's 69 centers, and the code rule for centers it does not know."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from supervisor.centers import Center, CenterRegistry, parent_code

SCHEMA = Path(__file__).resolve().parents[1] / "supervisor" / "schema" / "case-event.schema.json"
PATTERN = re.compile(json.loads(SCHEMA.read_text("utf-8"))["properties"]["center_id"]["pattern"])

COUNTIES = {
    "451202": "金城江区",
    "451203": "宜州区",
    "451221": "南丹县",
    "451222": "天峨县",
    "451223": "凤山县",
    "451224": "东兰县",
    "451225": "罗城仫佬族自治县",
    "451226": "环江毛南族自治县",
    "451227": "巴马瑶族自治县",
    "451228": "都安瑶族自治县",
    "451229": "大化瑶族自治县",
}


@pytest.fixture(scope="module")
def registry() -> CenterRegistry:
    return CenterRegistry.load()


def test_hechi_has_69_centers_by_level(registry: CenterRegistry) -> None:
    levels = [c.level for c in registry.all()]
    assert len(registry) == len(levels) == 69
    assert (levels.count("city"), levels.count("county"), levels.count("township")) == (1, 11, 57)


def test_codes_match_the_schema_and_are_unique(registry: CenterRegistry) -> None:
    codes = [c.code for c in registry.all()]
    assert len(set(codes)) == len(codes)
    assert all(PATTERN.match(code) for code in codes)


def test_city_and_counties_carry_their_real_division_codes(registry: CenterRegistry) -> None:
    city = registry.get("451200")
    assert city == Center("451200", "河池市政务服务中心", "city", None)
    counties = {c.code: c for c in registry.all() if c.level == "county"}
    assert counties.keys() == COUNTIES.keys()
    for code, place in COUNTIES.items():
        assert counties[code].name == f"{place}政务服务中心"
        assert counties[code].parent == "451200"


def test_townships_sit_under_their_county_and_spread_over_all_counties(
    registry: CenterRegistry,
) -> None:
    townships = [c for c in registry.all() if c.level == "township"]
    for township in townships:
        assert len(township.code) == 9
        assert township.parent == township.code[:6]
        assert township.name.startswith(COUNTIES[township.code[:6]])
        assert township.name.endswith("便民服务中心")
    per_county = {code: len(registry.children(code)) for code in COUNTIES}
    assert all(count >= 5 for count in per_county.values())
    assert sum(per_county.values()) == 57
    assert registry.name("451224103") == "东兰县三石镇便民服务中心"  # the contract's example


def test_all_lists_the_city_then_each_county_followed_by_its_townships(
    registry: CenterRegistry,
) -> None:
    ordered = registry.all()
    assert ordered[0].level == "city"
    current_county = None
    for center in ordered[1:]:
        if center.level == "county":
            current_county = center.code
        else:
            assert center.parent == current_county
    county_order = [c.code for c in ordered if c.level == "county"]
    assert county_order == sorted(county_order)


def test_children(registry: CenterRegistry) -> None:
    assert [c.code for c in registry.children("451200")] == sorted(COUNTIES)
    assert [c.code for c in registry.children("451224")][:2] == ["451224100", "451224101"]
    assert registry.children("451224103") == []
    assert registry.children("999999") == []


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("451224103", ["451224", "451200"]),  # registered township
        ("451224", ["451200"]),  # registered county
        ("451200", []),  # the city
        ("451224205", ["451224", "451200"]),  # unregistered township (三弄瑶族乡)
        ("451281", ["451200"]),  # unregistered county-level code (宜州市 before 2016)
        ("451281101", ["451281", "451200"]),  # township of an unregistered county
        ("450102001", ["450102", "450100"]),  # outside Hechi: the rule still holds
        ("4512", []),  # not a center code
    ],
)
def test_ancestors(registry: CenterRegistry, code: str, expected: list[str]) -> None:
    assert registry.ancestors(code) == expected


def test_parent_code_rule() -> None:
    assert parent_code("451224103") == "451224"
    assert parent_code("451224") == "451200"
    assert parent_code("451200") is None
    assert parent_code("45122") is None


def test_is_within(registry: CenterRegistry) -> None:
    assert registry.is_within("451224103", "451224103")
    assert registry.is_within("451224103", "451224")
    assert registry.is_within("451224103", "451200")
    assert registry.is_within("451224999", "451224")  # unregistered township
    assert registry.is_within("451281", "451200")  # unregistered county
    assert not registry.is_within("451224103", "451221")
    assert not registry.is_within("451224", "451224103")
    assert not registry.is_within("450102001", "451200")


def test_names_of_unknown_codes_are_derived(registry: CenterRegistry) -> None:
    assert registry.name("451224") == "东兰县政务服务中心"
    assert registry.name("451224205") == "东兰县乡镇便民服务中心（451224205）"
    assert registry.name("451281") == "河池市县级政务服务中心（451281）"
    assert registry.name("450102001") == "450102001"
    assert registry.get("451224205") is None


def test_load_reads_another_file_and_rejects_contradictions(tmp_path: Path) -> None:
    good = tmp_path / "centers.yaml"
    good.write_text(
        "city: {code: '451200', name: 河池市政务服务中心}\n"
        "counties:\n"
        "  - code: '451221'\n"
        "    name: 南丹县政务服务中心\n"
        "    townships: [{code: '451221101', name: 南丹县大厂镇便民服务中心}]\n",
        encoding="utf-8",
    )
    small = CenterRegistry.load(good)
    assert [c.code for c in small.all()] == ["451200", "451221", "451221101"]

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "city: {code: '451200', name: 河池市}\n"
        "counties:\n"
        "  - code: '451221'\n"
        "    name: 南丹县\n"
        "    townships: [{code: '451222101', name: 天峨县向阳镇}]\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="451222101"):
        CenterRegistry.load(bad)
