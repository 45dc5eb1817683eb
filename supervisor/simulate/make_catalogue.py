"""Writes the simulated Hechi item catalogue (事项库) from its item families.

Why generated: Hechi's catalogue has 655 items (the seed article's figure) over the city
and its 11 counties, each county publishing its own list with its own promises; written
by hand that is thousands of lines nobody could review. The families in
`supervisor/data/item_templates.yaml` are what a person reviews (about a hundred items
of 23 departments, their limits, steps and fees); this module expands them, the same way
every time, into `supervisor/data/catalogue/hechi.yaml`, in the contract's catalogue
format (§8), which both the engine (`supervisor.core.catalogue`) and the simulator read.
The catalogue is invented but plausible (see the families file's header): it is not
Hechi's official list.

The expansion, deterministic (no randomness, no clock):

- the city (451200) catalogues every family item offered at city level; each county
  every item offered at county level, under its own code ("451221-XK-2001-01");
- a county may promise a shorter limit than the family's (承诺时限压缩): a limit of 5
  working days or more is cut by 1 (by 2 from 10 days) for about a third of the
  (county, item) pairs, chosen by a CRC of the pair;
- each item's promised limit is shared out among its steps (`steps_for`);
- each place lists a fixed number of items (`quotas`), `TOTAL_ITEMS` in all: the
  items its townships need and its commonest ones, the rarer ones chosen by CRC.

Run `python -m supervisor.simulate.make_catalogue` after editing the families; with
`--check` it only says whether the shipped file is up to date (exit 1 if not).
"""

from __future__ import annotations

import argparse
import json
import sys
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from supervisor.centers import Center, CenterRegistry, region_name
from supervisor.simulate.catalogue import DEFAULT_DIR as CATALOGUE_DIR
from supervisor.simulate.templates import StepShare, Template, load_templates

CATALOGUE_PATH = CATALOGUE_DIR / "hechi.yaml"

#: Hechi's approval items, as the seed article counts them.
TOTAL_ITEMS = 655
#: The city's list, and each urban district's (金城江区, 宜州区): the busiest places.
CITY_ITEMS = 115
DISTRICT_ITEMS = 60
FULL_LISTS = frozenset({"451202", "451203"})


def steps_for(procedure: Sequence[StepShare], days: int) -> list[tuple[StepShare, int]]:
    """Each step with its limit in whole days: `days` shared out by the steps' shares
    (rounded down, at least 1 each), what is left going to the last step, so that the
    limits add up to the item's promised limit. A limit shorter than the procedure keeps
    the first steps and the last one (a 2-day item of a 3-step procedure: review and
    approval)."""
    steps = list(procedure)
    if days < len(steps):
        steps = steps[: max(days - 1, 0)] + steps[-1:] if days > 1 else steps[:1]
    total = sum(s.share for s in steps)
    limits = [max(1, days * s.share // total) for s in steps]
    while sum(limits) > days and max(limits) > 1:
        limits[limits.index(max(limits))] -= 1
    limits[-1] += max(0, days - sum(limits))
    return list(zip(steps, limits, strict=True))


def _crc(*parts: str) -> int:
    return zlib.crc32("/".join(parts).encode("utf-8"))


def county_promise(template: Template, place: str) -> int:
    """The promised limit a county publishes for an item: the family's, or (for about a
    third of the pairs, on limits of 5 working days or more) 1 day shorter, 2 from 10."""
    if (
        place.endswith("00")
        or template.immediate
        or template.unit != "working_day"
        or template.promised < 5
        or _crc("promise", place, template.code) % 3
    ):
        return template.promised
    return template.promised - (2 if template.promised >= 10 else 1)


def places(registry: CenterRegistry) -> list[Center]:
    """The city and the county-level centers, in wall order: each has its own list."""
    return [c for c in registry.all() if c.level in ("city", "county")]


def quotas(registry: CenterRegistry) -> dict[str, int]:
    """How many items each place catalogues: `CITY_ITEMS` for the city, `DISTRICT_ITEMS`
    for each urban district, the rest of `TOTAL_ITEMS` shared evenly among the other
    counties (the first in wall order taking one more when it does not divide)."""
    codes = [place.code for place in places(registry)]
    fixed = {code: CITY_ITEMS if code.endswith("00") else DISTRICT_ITEMS for code in codes}
    others = [code for code in codes if code not in FULL_LISTS and not code.endswith("00")]
    left = TOTAL_ITEMS - sum(n for code, n in fixed.items() if code not in others)
    share, extra = divmod(left, len(others)) if others else (0, 0)
    return {
        code: share + (1 if others.index(code) < extra else 0) if code in others else fixed[code]
        for code in codes
    }


def selection(
    templates: Sequence[Template], registry: CenterRegistry
) -> list[tuple[Center, Template]]:
    """Which items each place catalogues, `quotas()` of them: (place, item) in wall order,
    then file order, `TOTAL_ITEMS` in all.

    A place takes first the items its township centers need (a county's), then the first
    item of each department (so every department has one), then the most common items,
    ties broken by a CRC of (place, item) so that the counties' lists differ in their
    rarer items. Raises ValueError when a place is offered fewer items than its quota."""
    chosen: list[tuple[Center, Template]] = []
    wanted = quotas(registry)
    for place in places(registry):
        level = "city" if place.level == "city" else "county"
        offered = [t for t in templates if level in t.levels]
        firsts: dict[str, str] = {}
        for template in offered:
            firsts.setdefault(template.dept, template.code)
        county = place.level == "county"
        ranked = sorted(
            offered,
            key=lambda t: (
                0 if county and t.township_office else 1 if firsts[t.dept] == t.code else 2,
                -t.weight,
                _crc(place.code, t.code),
            ),
        )

        quota = wanted[place.code]
        if len(offered) < quota:
            raise ValueError(f"{place.name}: {len(offered)} items offered, {quota} wanted")
        keep = {t.code for t in ranked[:quota]}
        chosen += [(place, t) for t in offered if t.code in keep]
    return chosen


def entry(place: Center, template: Template) -> dict[str, Any]:
    """One catalogue entry (contract §8) of an item at a place."""
    days = county_promise(template, place.code)
    office = template.office.city if place.level == "city" else template.office.county
    item: dict[str, Any] = {
        "item_code": f"{place.code}-{template.code}",
        "name": template.name,
        "department": region_name(place.name) + office,
        "promised_limit": {"value": days, "unit": template.unit},
    }
    if template.statutory is not None:
        item["statutory_limit"] = {"value": template.statutory, "unit": template.unit}
    item["fee_standard"] = int(template.fee) if template.fee.is_integer() else template.fee
    item["immediate"] = template.immediate
    item["steps"] = [
        {"step": s.step, "name": s.name, "limit": {"value": limit, "unit": template.unit}}
        for s, limit in steps_for(template.procedure, days)
    ]
    return item


def render(templates: Sequence[Template], registry: CenterRegistry) -> str:
    """The catalogue file's text: a header saying what it is, then one entry per item."""
    chosen = selection(templates, registry)
    entries = [entry(place, template) for place, template in chosen]
    per_place: dict[str, int] = {}
    for place, _ in chosen:
        per_place[place.name] = per_place.get(place.name, 0) + 1
    departments = {t.dept for _, t in chosen}
    steps = [len(e["steps"]) for e in entries]
    lines = [
        "# Hechi's item catalogue (事项库), as the simulator and the demo use it: contract §8.",
        "#",
        "# INVENTED BUT PLAUSIBLE, not Hechi's official catalogue: the item names follow the",
        "# national catalogue's wording, the limits, steps and the choice of items per place",
        "# are made up (see supervisor/data/item_templates.yaml for the sources of the rest).",
        f"# {len(entries)} items of {len(departments)} departments, {min(steps)}-{max(steps)} "
        "handling steps each; the city (451200)",
        "# and each county catalogue their own items under their own code:",
    ]
    lines += [f"#   {name} {count}" for name, count in per_place.items()]
    lines += [
        "#",
        "# GENERATED: do not edit. Edit supervisor/data/item_templates.yaml, then run",
        "#   python -m supervisor.simulate.make_catalogue",
        "# The demo (`supervisor demo`) runs the worker with a copy of rules/ that has this file",
        "# in its catalogue/ folder; copy it to rules/catalogue/ to judge any input by it.",
        "items:",
    ]
    for item in entries:
        lines.append(f"  - item_code: {_scalar(item['item_code'])}")
        for key in ("name", "department"):
            lines.append(f"    {key}: {_scalar(item[key])}")
        for key in ("promised_limit", "statutory_limit"):
            if key in item:
                lines.append(f"    {key}: {_limit(item[key])}")
        lines.append(f"    fee_standard: {item['fee_standard']}")
        lines.append(f"    immediate: {'true' if item['immediate'] else 'false'}")
        lines.append("    steps:")
        for step in item["steps"]:
            lines.append(
                f"      - {{step: {_scalar(step['step'])}, name: {_scalar(step['name'])}, "
                f"limit: {_limit(step['limit'])}}}"
            )
    return "\n".join(lines) + "\n"


def _limit(limit: Mapping[str, Any]) -> str:
    return f"{{value: {limit['value']}, unit: {limit['unit']}}}"


def _scalar(text: str) -> str:
    """`text` as a YAML scalar that reads back as itself, in a flow mapping too."""
    try:
        if yaml.safe_load(f"{{k: {text}}}") == {"k": text}:
            return text
    except yaml.YAMLError:
        pass
    return json.dumps(text, ensure_ascii=False)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only check the shipped file")
    args = parser.parse_args(argv)
    text = render(load_templates(), CenterRegistry.load())
    if args.check:
        current = CATALOGUE_PATH.read_text(encoding="utf-8") if CATALOGUE_PATH.exists() else ""
        if current != text:
            print(f"{CATALOGUE_PATH} is out of date: run this without --check", file=sys.stderr)
            return 1
        print(f"{CATALOGUE_PATH} is up to date", file=sys.stderr)
        return 0
    CATALOGUE_DIR.mkdir(parents=True, exist_ok=True)
    CATALOGUE_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {CATALOGUE_PATH}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
