"""Live reload on the real broker: a running `supervisor worker` picks up a changed rules
directory within seconds, never raises an alert again, and refuses a broken change while
the last good rules stay in force."""

from __future__ import annotations

import asyncio
import re
import shutil
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from supervisor.settings import PROJECT_ROOT
from tests.core.factories import event_doc

from .conftest import running_worker, worker_env
from .kafka_io import alerts_of, collect, produce, wait_for

pytestmark = pytest.mark.integration

CENTER = "451226"
OLD_TITLE = "title: 多次要求补正材料\n"
NEW_TITLE = "title: 多次要求补正材料（规则已更新）\n"
#: The change: a new title, a rule switched off, and an earlier warning threshold (which
#: moves deadlines, so the worker re-indexes them).
CHANGES = [
    (OLD_TITLE, NEW_TITLE),
    (
        "  - id: fee.overcharge\n    severity: red\n",
        "  - id: fee.overcharge\n    enabled: false\n    severity: red\n",
    ),
    ("      share: 0.8\n", "      share: 0.5\n"),
]
BROKEN = ("  - id: supplement.repeated\n", "  - id: supplement.repeated\n    colour: red\n")


def case_id() -> str:
    return f"{CENTER}-2026-{uuid.uuid4().int % 10**7:07d}"


def doc(kind: str, case: str, at: str, **payload: Any) -> dict[str, Any]:
    return event_doc(kind, f"2026-11-27T{at}:00+08:00", case_id=case, center_id=CENTER, **payload)


def accepted(case: str, at: str, limit: float, day: str = "2026-11-27") -> dict[str, Any]:
    return event_doc(
        "accepted",
        f"{day}T{at}:00+08:00",
        case_id=case,
        center_id=CENTER,
        item_code="451226-XK-0042",
        item_name="食品经营许可（新办）",
        promised_limit={"value": limit, "unit": "working_day"},
        fee_standard=0,
    )


def overcharged_and_asked_twice(case: str) -> list[tuple[str, dict[str, Any]]]:
    """fee.overcharge (if on) at 08:06, supplement.repeated at 08:30."""
    events = [
        doc("submitted", case, "08:00"),
        accepted(case, "08:05", 5),
        doc("fee_charged", case, "08:06", amount=50),
        doc("supplement_requested", case, "08:10", missing_materials=["身份证明"]),
        doc("supplement_requested", case, "08:30", missing_materials=["营业执照"]),
    ]
    return [(case, event) for event in events]


def metric(port: int, name: str, labels: str = "") -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
        text = response.read().decode()
    found = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.M)
    assert found, f"{name}{labels} not in /metrics"
    return float(found[1])


def reloads(port: int, result: str) -> float:
    return metric(port, "supervisor_rule_reloads_total", f'{{result="{result}"}}')


async def wait_for_alert(
    bootstrap: str, topic: str, alert_id: str, timeout: float = 60
) -> list[dict[str, Any]]:
    records = await collect(
        bootstrap,
        topic,
        lambda rs: any(a["alert_id"] == alert_id for a in alerts_of(rs)),
        timeout=timeout,
    )
    alerts = alerts_of(records)
    assert any(a["alert_id"] == alert_id for a in alerts), f"{alert_id} was not raised"
    return alerts


def change(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")


async def test_a_rules_change_is_put_in_force_live_and_a_broken_one_refused(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", rules)
    canonical = rules / "canonical.yaml"
    env = worker_env(kafka_bootstrap, tmp_path, uuid.uuid4().hex[:8])
    env |= {"SUPERVISOR_RULES_DIR": str(rules), "SUPERVISOR_RULES_RELOAD_SECONDS": "2"}
    first, late, second, third = case_id(), case_id(), case_id(), case_id()

    with running_worker(env, tmp_path / "worker.log") as worker:
        port, bus = worker.web_port, (worker.bootstrap, worker.alerts)
        enabled = metric(port, "supervisor_rules_loaded")
        assert reloads(port, "applied") == reloads(port, "refused") == 0

        # Under the old rules: an overcharge and a repeated request; a case past its
        # deadlines (warning and overdue fire from the timer).
        await produce(
            *(worker.bootstrap, worker.events),
            [
                *overcharged_and_asked_twice(first),
                (late, accepted(late, "10:00", 3, day="2026-11-16")),
            ],
        )
        await wait_for_alert(*bus, f"supplement.repeated:{first}")
        alerts = await wait_for_alert(*bus, f"deadline.overdue:{late}")
        raised = {a["alert_id"]: a for a in alerts}
        assert raised[f"supplement.repeated:{first}"]["title"] == "多次要求补正材料"
        assert f"fee.overcharge:{first}" in raised
        assert f"deadline.warning:{late}" in raised

        # The change, picked up live.
        text = canonical.read_text(encoding="utf-8")
        for old, new in CHANGES:
            assert text.count(old) == 1, old
            text = text.replace(old, new)
        canonical.write_text(text, encoding="utf-8")
        written = time.monotonic()
        assert await wait_for(lambda: reloads(port, "applied") == 1, 10, every=0.1), (
            "the change was not applied within 10 s"
        )
        delay = time.monotonic() - written
        print(f"\nrules change applied {delay:.2f} s after the write")
        assert delay < 10
        assert metric(port, "supervisor_rules_loaded") == enabled - 1  # fee.overcharge off

        # A new case is judged by the new rules: new title, no overcharge alert.
        await produce(worker.bootstrap, worker.events, overcharged_and_asked_twice(second))
        alerts = await wait_for_alert(*bus, f"supplement.repeated:{second}")
        raised = {a["alert_id"]: a for a in alerts}
        assert raised[f"supplement.repeated:{second}"]["title"] == "多次要求补正材料（规则已更新）"
        assert f"fee.overcharge:{second}" not in raised

        # The first case goes on under the new rules: what it raised is not raised again.
        await produce(
            worker.bootstrap,
            worker.events,
            [
                (first, doc("supplement_requested", first, "08:40", missing_materials=["户口簿"])),
                (first, doc("concluded", first, "08:50")),  # no decision: a new alert
            ],
        )
        await wait_for_alert(*bus, f"workflow.no_decision:{first}")

        # A broken change is refused; the last good rules stay in force.
        change(canonical, *BROKEN)
        line = canonical.read_text(encoding="utf-8").splitlines().index("    colour: red") + 1
        assert await wait_for(lambda: reloads(port, "refused") == 1, 10, every=0.1), (
            "the broken change was not refused within 10 s"
        )
        assert reloads(port, "applied") == 1
        assert metric(port, "supervisor_rules_loaded") == enabled - 1
        log = worker.log.read_text(encoding="utf-8", errors="replace")
        assert "rules reload refused" in log and f"canonical.yaml:{line}:" in log
        await produce(worker.bootstrap, worker.events, overcharged_and_asked_twice(third))
        alerts = await wait_for_alert(*bus, f"supplement.repeated:{third}")
        raised = {a["alert_id"]: a for a in alerts}
        assert raised[f"supplement.repeated:{third}"]["title"] == "多次要求补正材料（规则已更新）"
        assert f"fee.overcharge:{third}" not in raised

        await asyncio.sleep(3)  # a re-raised timer alert would come within a tick and a settle
        records = await collect(*bus, lambda rs: False, timeout=3)
        assert reloads(port, "refused") == 1  # logged and counted once, not at every poll
        assert log.count("rules reload refused") == 1

    ids = Counter(a["alert_id"] for a in alerts_of(records))
    for ident in (
        f"fee.overcharge:{first}",
        f"supplement.repeated:{first}",
        f"workflow.no_decision:{first}",
        f"deadline.warning:{late}",
        f"deadline.overdue:{late}",
        f"supplement.repeated:{second}",
        f"supplement.repeated:{third}",
    ):
        assert ids[ident] == 1, f"{ident} published {ids[ident]} times"
    assert sum(n for ident, n in ids.items() if ident.endswith(first)) == 3
    assert sum(n for ident, n in ids.items() if ident.endswith(late)) == 2
