"""The simulated Hechi item catalogue (contract §8): what the engine, the simulator and the
demo read. It must load with the engine's strict loader, have Hechi's size (655 items,
23 departments), be plausible item by item, and be exactly what its generator writes from
the item families (so that nobody edits the generated file and the families drift)."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from supervisor.centers import CenterRegistry, region_name
from supervisor.core.catalogue import Catalogue
from supervisor.core.rules import RuleBook
from supervisor.simulate import make_catalogue
from supervisor.simulate import templates as families
from supervisor.simulate.catalogue import Catalogue as SimulatorCatalogue
from supervisor.simulate.templates import StepShare

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "supervisor/data/catalogue"
REGISTRY = CenterRegistry.load()


@pytest.fixture(scope="module")
def shipped() -> Catalogue:
    catalogue = Catalogue.load(FOLDER)
    assert catalogue is not None
    return catalogue


def kind_of(department: str, code: str) -> str:
    """A department without its place: 南丹县市场监督管理局 -> 市场监督管理局."""
    place = REGISTRY.get(code[:6])
    assert place is not None, code
    prefix = region_name(place.name)
    assert department.startswith(prefix), (department, code)
    return department.removeprefix(prefix)


def test_it_loads_with_the_engines_loader_655_items(shipped: Catalogue) -> None:
    assert len(shipped) == 655
    assert [p.name for p in FOLDER.iterdir()] == ["hechi.yaml"]
    assert FOLDER.joinpath("hechi.yaml").stat().st_size < 1_500_000


def test_a_rules_directory_with_it_loads_as_the_worker_loads_it(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules, ignore=shutil.ignore_patterns("catalogue"))
    shutil.copytree(FOLDER, rules / "catalogue")
    book = RuleBook.load(rules)
    assert book.catalogue is not None and len(book.catalogue) == 655
    assert book.catalogue.has_steps


def test_23_departments_each_with_items_at_the_city(shipped: Catalogue) -> None:
    """The seed article's 23 municipal departments with approval offices: the city's list
    has them all; a county's departments are the same ones under the county's name."""
    kinds = {item.department: kind_of(item.department or "", item.item_code) for item in shipped}
    city = {kinds[i.department] for i in shipped if i.item_code.startswith("451200-")}
    assert len(city) == 23
    # the same department is named the city's way or the county's (卫生健康委员会/局)
    offices = {t.dept: t.office for t in families.load_templates()}
    assert len(offices) == 23
    names = {name for o in offices.values() for name in (o.city, o.county)}
    assert set(kinds.values()) <= names


def test_each_place_catalogues_its_own_items(shipped: Catalogue) -> None:
    per_place = Counter(item.item_code[:6] for item in shipped)
    places = [c.code for c in REGISTRY.all() if c.level in ("city", "county")]
    assert set(per_place) == set(places) and len(places) == 12
    assert per_place["451200"] == 115
    assert all(40 <= per_place[code] <= 60 for code in places if code != "451200")
    assert sum(per_place.values()) == 655


def test_items_are_plausible_one_by_one(shipped: Catalogue) -> None:
    steps = Counter(len(item.steps) for item in shipped)
    assert set(steps) == {1, 2, 3, 4}
    immediate = [item for item in shipped if item.immediate]
    assert 0.1 < len(immediate) / len(shipped) < 0.35
    assert any(item.promised_limit.unit == "natural_day" for item in shipped)
    fees = Counter(item.fee_standard for item in shipped)
    assert fees[0] > 0.8 * len(shipped) and {20, 40, 60, 80, 120} <= set(fees)
    for item in shipped:
        promised, statutory = item.promised_limit, item.statutory_limit
        assert item.name and item.department
        if statutory is not None:
            assert statutory.unit == promised.unit and promised.value <= statutory.value
        if item.immediate:
            assert (promised.value, promised.unit) == (1, "working_day")
        # the steps share out the promised limit, in its unit, each at least a day
        assert sum(step.limit.value for step in item.steps) == promised.value, item
        assert all(step.limit.unit == promised.unit for step in item.steps)
        assert all(step.limit.value >= 1 and step.name for step in item.steps)
        assert item.steps[0].step == "review"


def test_counties_promise_their_own_limits(shipped: Catalogue) -> None:
    """承诺时限压缩: some counties promise less than the city for the same item."""
    by_code: dict[str, dict[str, float]] = {}
    for item in shipped:
        by_code.setdefault(item.item_code[7:], {})[item.item_code[:6]] = item.promised_limit.value
    varied = [code for code, limits in by_code.items() if len(set(limits.values())) > 1]
    assert len(varied) >= 10


def test_the_shipped_file_is_what_the_generator_writes() -> None:
    text = make_catalogue.render(families.load_templates(), REGISTRY)
    assert FOLDER.joinpath("hechi.yaml").read_text(encoding="utf-8") == text, (
        "run `python -m supervisor.simulate.make_catalogue` after editing the families"
    )
    assert make_catalogue.main(["--check"]) == 0


def test_the_simulator_knows_every_item_and_its_hints(shipped: Catalogue) -> None:
    simulator = SimulatorCatalogue.load()
    assert {i.item_code for i in simulator} == {i.item_code for i in shipped}
    for item in simulator:
        listed = shipped.get(item.item_code)
        assert listed is not None
        assert item.item_name == listed.name and item.department == listed.department
        assert item.required_steps == tuple(s.step for s in listed.steps)
        assert item.office is not None  # its family was found: hints, not defaults
        assert item.department.endswith(item.office)


def test_the_promised_limit_is_shared_out_among_the_steps() -> None:
    rsa = (
        StepShare("review", "受理审查", 1),
        StepShare("site", "现场核查", 2),
        StepShare("approval", "审批决定", 2),
    )
    assert [n for _, n in make_catalogue.steps_for(rsa, 5)] == [1, 2, 2]
    assert [n for _, n in make_catalogue.steps_for(rsa, 10)] == [2, 4, 4]
    assert [n for _, n in make_catalogue.steps_for(rsa, 7)] == [1, 2, 4]
    assert [(s.step, n) for s, n in make_catalogue.steps_for(rsa, 2)] == [
        ("review", 1),
        ("approval", 1),
    ]
    assert [(s.step, n) for s, n in make_catalogue.steps_for(rsa, 1)] == [("review", 1)]


def test_a_family_promising_more_than_the_law_allows_is_refused(tmp_path: Path) -> None:
    text = families.TEMPLATES_PATH.read_text(encoding="utf-8")
    bad = text.replace(
        "promised: 15, statutory: 20, steps: rea", "promised: 25, statutory: 20, steps: rea", 1
    )
    assert bad != text
    path = tmp_path / "families.yaml"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(ValueError, match=r"XK-0201.*longer than statutory"):
        families.load_templates(path)


def test_the_demo_judges_by_the_rules_in_force_and_this_catalogue(tmp_path: Path) -> None:
    """`supervisor demo` runs its worker with the configured rules plus this catalogue
    (the configured directory's own catalogue left out); an edit of a rule file is seen
    through the demo's directory, so the worker still reloads it live."""
    from supervisor.demo import demo_rules

    source = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", source)
    (source / "catalogue").mkdir()
    shutil.copy(ROOT / "rules/examples/catalogue.yaml", source / "catalogue/own.yaml")
    target = demo_rules(source, tmp_path / "data" / "demo-rules")
    book = RuleBook.load(target)
    assert book.catalogue is not None and len(book.catalogue) == 655
    assert sorted(p.name for p in (target / "catalogue").iterdir()) == ["hechi.yaml"]
    mirrored = {p.relative_to(target) for p in target.glob("**/*.yaml")}
    original = {p.relative_to(source) for p in source.glob("**/*.yaml")}
    assert mirrored == original - {Path("catalogue/own.yaml")} | {Path("catalogue/hechi.yaml")}
    canonical = source / "canonical.yaml"
    canonical.write_text(canonical.read_text("utf-8").replace("办件超期", "办件已超期"), "utf-8")
    assert "办件已超期" in (target / "canonical.yaml").read_text("utf-8")
    # built again at the next start; a start with the demo's own directory keeps it
    assert demo_rules(source, target) == target and (target / "catalogue/hechi.yaml").exists()
    assert demo_rules(target, target) == target and (target / "catalogue/hechi.yaml").exists()
