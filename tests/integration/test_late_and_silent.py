"""On the real broker: a late event resolves the alert it proves wrong (with the reason,
on the alerts topic), and `center.silent` watches every registered center."""

from __future__ import annotations

import json
import shutil
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord

from supervisor.settings import PROJECT_ROOT
from tests.core.factories import event_doc

from .conftest import RunningWorker, running_worker, worker_env
from .kafka_io import alerts_of, collect, produce

pytestmark = pytest.mark.integration

Records = list[ConsumerRecord[bytes, bytes]]


def values(records: Records) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in records if r.value]


def resolutions(records: Records) -> list[dict[str, Any]]:
    return [v for v in values(records) if v.get("status") == "resolved"]


async def test_a_late_conclusion_resolves_the_overdue_alert(worker: RunningWorker) -> None:
    center = "451224103"
    case = f"{center}-2026-{uuid.uuid4().int % 10**7:07d}"

    def doc(kind: str, at: str, **payload: Any) -> tuple[str, dict[str, Any]]:
        return case, event_doc(kind, at, case_id=case, center_id=center, **payload)

    accepted = doc(
        "accepted",
        "2026-11-16T10:00:00+08:00",
        item_code="X-1",
        promised_limit={"value": 3, "unit": "working_day"},
    )
    await produce(worker.bootstrap, worker.events, [accepted])
    overdue = f"deadline.overdue:{case}"
    fired = await collect(
        worker.bootstrap,
        worker.alerts,
        lambda rs: any(a["alert_id"] == overdue for a in alerts_of(rs)),
    )
    assert any(a["alert_id"] == overdue for a in alerts_of(fired))

    # the township uploads the rest of its day late: decided and concluded on the 19th
    await produce(
        worker.bootstrap,
        worker.events,
        [
            doc("decided", "2026-11-19T09:50:00+08:00", outcome="approve"),
            doc("concluded", "2026-11-19T10:00:00+08:00"),
        ],
    )
    records = await collect(
        worker.bootstrap,
        worker.alerts,
        lambda rs: any(r["alert_id"] == overdue for r in resolutions(rs)),
    )
    mine = [r for r in resolutions(records) if r["case_id"] == case]
    assert [r["alert_id"] for r in mine] == [overdue]  # the warning (09:36) was true
    assert mine[0]["rule_id"] == "deadline.overdue"
    assert "办结" in mine[0]["reason"] and "2026-11-19 10:00" in mine[0]["reason"]
    keyed = [r for r in records if r.key == overdue.encode()]
    assert len(keyed) == 2  # the alert and its resolution, under the same key


@pytest.fixture(scope="module")
def quick_silence(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A worker whose rules call a center silent after 0.002 office hours (7.2 s)."""
    home = tmp_path_factory.mktemp("silent")
    rules = home / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", rules)
    canonical = rules / "canonical.yaml"
    text = canonical.read_text(encoding="utf-8")
    assert "      working_hours: 2\n" in text
    canonical.write_text(
        text.replace("      working_hours: 2\n", "      working_hours: 0.002\n"),
        encoding="utf-8",
    )
    env = {
        **worker_env(kafka_bootstrap, home, uuid.uuid4().hex[:8]),
        "SUPERVISOR_RULES_DIR": str(rules),
    }
    with running_worker(env, home / "worker.log") as running:
        yield running


def stretch_start(alert: dict[str, Any]) -> datetime:
    """The start of the silent stretch, from the alert id (to the second)."""
    return datetime.strptime(alert["alert_id"].rsplit(":", 1)[1] + "+0800", "%Y%m%dT%H%M%S%z")


def silent(records: Records) -> dict[str, dict[str, Any]]:
    return {a["center_id"]: a for a in alerts_of(records) if a["rule_id"] == "center.silent"}


async def test_every_registered_center_is_watched_and_a_late_batch_resolves(
    quick_silence: RunningWorker,
) -> None:
    from supervisor.centers import CenterRegistry

    registered = {center.code for center in CenterRegistry.load().all()}
    run = quick_silence
    # an unregistered center is supervised for its cases, not watched for silence
    await produce(
        run.bootstrap,
        run.events,
        [
            (
                "110101-2026-1",
                event_doc(
                    "submitted",
                    "2026-11-27T09:00:00+08:00",
                    case_id="110101-2026-1",
                    center_id="110101",
                ),
            )
        ],
    )
    records = await collect(
        run.bootstrap, run.alerts, lambda rs: set(silent(rs)) >= registered, timeout=90
    )
    alerts = silent(records)
    assert set(alerts) == registered
    city = alerts["451200"]
    since = stretch_start(city)
    raised = datetime.fromisoformat(city["raised_at"])
    # 7.2 s after the stretch began; both instants are written to the whole second
    assert raised - since in (timedelta(seconds=7), timedelta(seconds=8))
    assert city["severity"] == "yellow" and city["case_id"] == ""
    assert city["title"] == "中心数据中断" and "河池市" in city["message"]

    # 451221's events of that quiet stretch arrive late: the alert is resolved
    target = alerts["451221"]
    inside = (stretch_start(target) + timedelta(seconds=3)).isoformat()
    case = "451221-2026-late0001"
    await produce(
        run.bootstrap,
        run.events,
        [(case, event_doc("submitted", inside, case_id=case, center_id="451221"))],
    )
    records = await collect(
        run.bootstrap,
        run.alerts,
        lambda rs: any(r["alert_id"] == target["alert_id"] for r in resolutions(rs)),
    )
    mine = [r for r in resolutions(records) if r["alert_id"] == target["alert_id"]]
    assert len(mine) == 1 and mine[0]["rule_id"] == "center.silent"
    assert "迟到数据" in mine[0]["reason"]
    assert "110101" not in silent(records)
