"""The center registry: Hechi's 69 centers, and the code rule for centers it does not know;
the worker's center notes for `center.silent`, sent in batches."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import faust
import pytest

from supervisor.centers import Center, CenterRegistry, is_valid_code, parent_code
from supervisor.core.alerts import Alert, Resolution
from supervisor.core.calendar import CalendarBook
from supervisor.core.events import CaseEvent
from supervisor.core.rules import RuleBook
from supervisor.core.silence import CenterWatch
from supervisor.settings import Settings
from supervisor.worker import centers as worker_centers
from supervisor.worker.centers import CenterNotes, apply_times, decode_times, encode_times
from tests.core.factories import ROOT, event

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


# The worker's center notes (supervisor/worker/centers.py): batched per center, in order.

WORKER_CENTERS = ("451224103", "451221")
MONDAY = "2026-11-23T{}+08:00"


def seen(center: str, at: str) -> CaseEvent:
    return event("submitted", MONDAY.format(at), center_id=center, case_id=f"{center}-2026-1")


def times_of(message: bytes) -> list[str]:
    return [at.strftime("%H:%M:%S") for at in decode_times(message)]


def test_notes_are_batched_per_center_in_order_of_record(registry: CenterRegistry) -> None:
    notes = CenterNotes(registry)
    township, county = WORKER_CENTERS
    recorded = [
        notes.note(seen(township, "09:00:00")),
        notes.note(seen(county, "09:00:00")),
        notes.note(seen(township, "09:00:30")),  # within the minute: adds nothing
        notes.note(seen(township, "09:02:00")),
        notes.note(seen(township, "08:00:00")),  # late: always forwarded
        notes.note(seen(county, "09:00:59")),
        notes.note(seen("110101", "09:00:00")),  # not a registered center
    ]
    assert recorded == [True, True, False, True, True, False, False]
    assert notes.waiting == 4
    sent = notes.take()
    assert [key for key, _ in sent] == [township.encode(), county.encode()]
    assert [times_of(value) for _, value in sent] == [
        ["09:00:00", "09:02:00", "08:00:00"],
        ["09:00:00"],
    ]
    assert notes.waiting == 0 and notes.take() == []
    # the minute is measured from the last time forwarded, across flushes
    assert not notes.note(seen(township, "09:02:59"))
    assert notes.note(seen(township, "09:03:00"))
    assert [times_of(value) for _, value in notes.take()] == [["09:03:00"]]


def test_a_note_carries_its_times_and_the_older_single_form_is_read() -> None:
    times = [datetime.fromisoformat(MONDAY.format(at)) for at in ("10:00:00", "09:30:00")]
    assert json.loads(encode_times(times)) == {"at": [at.isoformat() for at in times]}
    assert decode_times(encode_times(times)) == times
    assert decode_times(b'{"at": "2026-11-23T10:00:00+08:00"}') == times[:1]


@pytest.mark.parametrize(
    "value", [None, b"", b"tock", b"{}", b'{"at": []}', b'{"at": [1]}', b'{"at": "noon"}']
)
def test_a_malformed_note_is_refused(value: bytes | None) -> None:
    with pytest.raises(ValueError, match="not a center note"):
        decode_times(value)


@pytest.fixture(scope="module")
def silence_watch() -> CenterWatch:
    return CenterWatch(RuleBook.load(ROOT / "rules"), CalendarBook.load(ROOT / "rules/calendar"))


def test_a_message_of_times_judges_as_its_times_one_by_one(
    registry: CenterRegistry, silence_watch: CenterWatch
) -> None:
    center = WORKER_CENTERS[0]
    start = silence_watch.start(center, datetime.fromisoformat(MONDAY.format("09:00:00")))
    notes = CenterNotes(registry)
    # silent 09:00-14:00 (alert due 11:00), then a late batch proves 10:00 and 10:30
    # active (resolutions; what is left of the stretch raises again), then live again
    for clock in ("14:00:00", "10:00:00", "10:30:00", "14:05:00", "09:10:00", "16:30:00"):
        assert notes.note(seen(center, clock))
    [(key, value)] = notes.take()
    assert key == center.encode()
    batched = apply_times(silence_watch, start, center, decode_times(value))

    state, alerts, resolved = start, list[Alert](), list[Resolution]()
    for at in decode_times(value):  # as the agent did, one message per time
        one = silence_watch.seen(state, center, at)
        state, alerts, resolved = one.state, alerts + one.alerts, resolved + one.resolved
    assert batched.state == state
    assert batched.alerts == alerts and batched.resolved == resolved
    assert len(alerts) >= 2 and len(resolved) >= 2  # the case exercises both
    assert start.last_seen.hour == 9 and start.fired == []  # the input is left alone


async def test_forward_sends_when_the_buffer_is_full_and_at_shutdown(
    registry: CenterRegistry, silence_watch: CenterWatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[tuple[bytes, bytes]] = []

    async def send(self: faust.Topic, *, key: bytes, value: bytes, **kwargs: Any) -> None:
        sent.append((key, value))

    monkeypatch.setattr(faust.Topic, "send", send)
    monkeypatch.setattr(worker_centers, "FLUSH_AT", 3)
    app = faust.App("test-centers", broker="kafka://127.0.0.1:1", store="memory://")

    async def nothing(*args: Any) -> None:
        return None

    async def not_behind() -> bool:
        return False

    forward = worker_centers.install(
        app,
        Settings.from_env({}),
        registry,
        watch=lambda: silence_watch,
        now=datetime.now,
        publish=nothing,
        publish_resolved=nothing,
        watched=lambda count: None,
        behind=not_behind,
    )
    township, county = WORKER_CENTERS
    await forward(seen(township, "09:00:00"))
    await forward(seen(county, "09:00:00"))
    await forward(seen(township, "09:00:10"))  # filtered: not counted
    assert sent == []
    await forward(seen(township, "08:00:00"))  # the third time recorded
    assert [(key, times_of(value)) for key, value in sent] == [
        (township.encode(), ["09:00:00", "08:00:00"]),
        (county.encode(), ["09:00:00"]),
    ]
    await forward(seen(county, "09:05:00"))
    await app.on_before_shutdown.send()
    assert [(key, times_of(value)) for key, value in sent[2:]] == [(county.encode(), ["09:05:00"])]


@pytest.mark.parametrize(
    ("code", "valid"),
    [("451200", True), ("451221101", True), ("451200\n", False), ("4512001", False), ("", False)],
)
def test_a_code_is_six_or_nine_digits_and_nothing_after(code: str, valid: bool) -> None:
    assert is_valid_code(code) is valid
