"""Live reload of the item catalogue on the real broker: a running `supervisor worker`
puts a catalogue written into its rules folder in force within seconds (contract §8
rules start judging), and refuses a broken one, naming its file and line, while the
catalogue in force stays."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from supervisor.settings import PROJECT_ROOT
from tests.core.factories import event_doc

from .conftest import running_worker, worker_env
from .kafka_io import alerts_of, collect, produce, wait_for
from .test_rules_reload import metric, reloads, wait_for_alert

pytestmark = pytest.mark.integration

CENTER = "451221"
CODE = "451221-S8-0001"
CATALOGUE = f"""\
items:
  - item_code: {CODE}
    name: 食品经营许可（新办）
    promised_limit: {{value: 5, unit: working_day}}
    steps:
      - {{step: review, name: 审查, limit: {{value: 1, unit: working_day}}}}
"""
BROKEN = CATALOGUE.replace("unit: working_day}}", "unit: week}}")


def case_id() -> str:
    return f"{CENTER}-2026-{uuid.uuid4().int % 10**7:07d}"


def accepted(case: str, at: str, code: str) -> tuple[str, dict[str, Any]]:
    """Accepted `at` (local, 26 November: the worker's clock starts 27 November 09:00)."""
    return case, event_doc(
        "accepted",
        f"2026-11-26T{at}:00+08:00",
        case_id=case,
        center_id=CENTER,
        item_code=code,
        promised_limit={"value": 5, "unit": "working_day"},
        fee_standard=0,
    )


def charged(case: str) -> tuple[str, dict[str, Any]]:
    return case, event_doc(
        "fee_charged", "2026-11-26T10:05:00+08:00", case_id=case, center_id=CENTER, amount=20
    )


async def test_a_catalogue_is_put_in_force_live_and_a_broken_one_refused(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", rules, ignore=shutil.ignore_patterns("catalogue"))
    env = worker_env(kafka_bootstrap, tmp_path, uuid.uuid4().hex[:8])
    env |= {"SUPERVISOR_RULES_DIR": str(rules), "SUPERVISOR_RULES_RELOAD_SECONDS": "1"}
    before, unknown, timed, unknown_after, timed_after = (case_id() for _ in range(5))

    with running_worker(env, tmp_path / "worker.log") as worker:
        port, bus = worker.web_port, (worker.bootstrap, worker.alerts)
        # No catalogue: an uncatalogued item is not judged (its overcharge is)
        await produce(
            worker.bootstrap,
            worker.events,
            [accepted(before, "10:00", "451221-XX-9999"), charged(before)],
        )
        alerts = await wait_for_alert(*bus, f"fee.overcharge:{before}")
        assert not [a for a in alerts if a["rule_id"].startswith(("catalogue.", "stage."))]

        # The catalogue, written into the rules folder of the running worker
        (rules / "catalogue").mkdir()
        path = rules / "catalogue" / "items.yaml"
        path.write_text(CATALOGUE, encoding="utf-8")
        assert await wait_for(lambda: reloads(port, "applied") == 1, 15, every=0.1), (
            "the catalogue was not put in force within 15 s"
        )
        # Judged by it: an unknown item at its acceptance; a stage (Thursday 08:00, one
        # working day) that the worker's clock fires at Friday 08:00
        await produce(
            worker.bootstrap,
            worker.events,
            [accepted(unknown, "10:00", "451221-XX-9999"), accepted(timed, "08:00", CODE)],
        )
        alerts = await wait_for_alert(*bus, f"catalogue.unknown_item:{unknown}")
        raised = {a["alert_id"]: a for a in alerts}
        assert raised[f"catalogue.unknown_item:{unknown}"]["raised_at"] == (
            "2026-11-26T10:00:00+08:00"
        )
        alerts = await wait_for_alert(*bus, f"stage.overdue:{timed}:review")
        raised = {a["alert_id"]: a for a in alerts}
        assert raised[f"stage.overdue:{timed}:review"]["raised_at"] == "2026-11-27T08:00:00+08:00"

        # A broken catalogue: refused with its file and line; the one in force stays
        path.write_text(BROKEN, encoding="utf-8")
        line = BROKEN.splitlines().index(
            "      - {step: review, name: 审查, limit: {value: 1, unit: week}}"
        )
        assert await wait_for(lambda: reloads(port, "refused") == 1, 15, every=0.1), (
            "the broken catalogue was not refused within 15 s"
        )
        assert reloads(port, "applied") == 1
        log = worker.log.read_text(encoding="utf-8", errors="replace")
        assert "rules reload refused" in log and f"items.yaml:{line + 1}:" in log, log[-2000:]
        await produce(
            worker.bootstrap,
            worker.events,
            [
                accepted(unknown_after, "10:00", "451221-XX-9999"),
                accepted(timed_after, "08:30", CODE),
            ],
        )
        await wait_for_alert(*bus, f"catalogue.unknown_item:{unknown_after}")
        alerts = await wait_for_alert(*bus, f"stage.overdue:{timed_after}:review")
        raised = {a["alert_id"]: a for a in alerts}
        assert raised[f"stage.overdue:{timed_after}:review"]["raised_at"] == (
            "2026-11-27T08:30:00+08:00"
        )
        assert metric(port, "supervisor_rules_loaded") > 0
        records = await collect(*bus, lambda rs: False, timeout=2)

    ids = [a["alert_id"] for a in alerts_of(records)]
    assert len(ids) == len(set(ids)), "an alert was published twice"
    assert f"catalogue.unknown_item:{before}" not in ids
