"""`supervisor replay` gives what the events say in event-time order, whatever the order
of its lines (contract §1: a township uploads late batches; §3: the same id, in a replay,
after a restart and on any worker).

Random stories of forty cases, each with an item of a catalogue (stages, contract §8),
suspensions, extensions approved or not, decisions, conclusions, withdrawals, ratings,
complaints and who handled each step (§7), are replayed sorted by event time and
shuffled: every alert the same, field for field: its id (not the revision `:r2` the
alerts topic needs after a late event), its instant and its details (who handled it as
event-time order knows it at the deadline, the item).
"""

from __future__ import annotations

import io
import json
import random
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from supervisor.core.engine import Engine
from supervisor.replay import build_engine, replay
from tests.core.factories import event_doc

ROOT = Path(__file__).resolve().parents[1]
START = datetime.fromisoformat("2026-11-02T09:00:00+08:00")
UNTIL = datetime.fromisoformat("2027-06-30T00:00:00+08:00")
CATALOGUE = """\
items:
  - item_code: A
    name: 测试事项
    department: 测试局
    promised_limit: {value: 5, unit: working_day}
    statutory_limit: {value: 10, unit: working_day}
    fee_standard: 0
    steps:
      - {step: s1, name: 受理审查, limit: {value: 1, unit: working_day}}
      - {step: s2, name: 现场核查, limit: {value: 2, unit: working_day}}
      - {step: s3, name: 审批, limit: {value: 1, unit: natural_day}}
"""


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    rules = tmp_path_factory.mktemp("order") / "rules"
    shutil.copytree(ROOT / "rules", rules)
    (rules / "catalogue").mkdir(exist_ok=True)
    (rules / "catalogue" / "items.yaml").write_text(CATALOGUE, encoding="utf-8")
    return build_engine(rules, "Asia/Shanghai")


def story(rng: random.Random, case: str) -> list[dict[str, Any]]:
    """One case's events, in event time."""
    hours = rng.uniform(0, 48)
    events: list[dict[str, Any]] = []

    def add(kind: str, **payload: Any) -> None:
        # a second apart at least: events of one case at the same instant have no order
        # but their lines' (the engine keeps it), which shuffling changes
        at = (START + timedelta(hours=hours, seconds=len(events))).isoformat()
        who = {k: rng.choice("abc") for k in ("department", "window_id", "staff_id")}
        who = {k: v for k, v in who.items() if rng.random() < 0.6}
        events.append(
            event_doc(kind, at, case_id=case, event_id=f"{case}-{len(events)}", **payload) | who
        )

    add("submitted")
    hours += rng.uniform(0, 30)
    add(
        "accepted",
        item_code=rng.choice(["A", "A", "B"]),
        promised_limit={"value": rng.choice([1, 3, 5]), "unit": "working_day"},
        immediate=False,
        fee_standard=0,
    )
    for step in ("s1", "s2", "s3"):
        hours += rng.uniform(0, 60)
        if rng.random() < 0.7:
            add("step_completed", step=step)
        if rng.random() < 0.2:
            add("suspended", reason_code="testing", reason="检验检测")
            hours += rng.uniform(1, 80)
            add("resumed")
        if rng.random() < 0.15:
            approval = {"approved_by": "局长"} if rng.random() < 0.6 else {}
            add("extended", value=rng.choice([1, 2, 11]), unit="working_day", **approval)
    hours += rng.uniform(0, 100)
    ending = rng.random()
    if ending < 0.15:
        add("withdrawn")
    elif ending < 0.85:
        add("decided", outcome=rng.choice(["approve", "deny"]), reason="依法审查")
        hours += rng.uniform(0, 2)
        add("concluded")
        if rng.random() < 0.5:
            hours += rng.uniform(0, 300)
            add("delivered")
        if rng.random() < 0.4:
            hours += rng.uniform(0, 50)
            add("evaluated", level=rng.randint(1, 5))
        if rng.random() < 0.4:
            hours += rng.uniform(0, 50)
            add("complained")
            if rng.random() < 0.5:
                hours += rng.uniform(0, 600)
                add("complaint_answered")
    return events


def replayed(engine: Engine, documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    lines = [json.dumps(document, ensure_ascii=False) for document in documents]
    alerts = replay(lines, engine, UNTIL, errors=io.StringIO())
    return sorted((a.to_dict() for a in alerts), key=lambda a: (a["raised_at"], a["alert_id"]))


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_shuffled_lines_give_the_alerts_of_event_time_order(engine: Engine, seed: int) -> None:
    rng = random.Random(seed)
    documents = [doc for n in range(40) for doc in story(rng, f"451221-2026-{n:07d}")]
    in_time = sorted(documents, key=lambda d: datetime.fromisoformat(d["occurred_at"]))
    shuffled = documents.copy()
    rng.shuffle(shuffled)
    expected = replayed(engine, in_time)
    assert len({a["rule_id"] for a in expected}) >= 8  # a rich story, not an empty one
    assert replayed(engine, shuffled) == expected
