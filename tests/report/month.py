"""A hand-made November 2026 (and a little October) in the read model, for the report's
tests: cases, cards, events and supervision orders of the city center, 金城江区 (451202)
and one of its townships, and 南丹县 (451221), another county.

    451200    c-city-1 on time                               -> 100
    451202    j1 on time, j2 late (red card), j3 open past its deadline (yellow card)
                                                              -> 1/2 on time: 50, less
                                                                 2 × 33.3 (max 30), less
                                                                 0.5 × 33.3 (max 10): 10.0
    451202101 d1 on time (October: d0 on time)                -> 100
    451221    n1 late by far (red card)                       -> 0 less 30: 0.0

Orders: DB-JCJ on j2 (金城江区), answered the next day (a phone in the reply, masked);
DB-ND on n1 (南丹县), never answered, due 11-19.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from supervisor import orders
from supervisor.store.projection import Projection, Record
from supervisor.store.queries import ReadModel
from tests.store.test_projection import TOPICS, fact
from tests.web.test_hub import make_alert

CN: Final = ZoneInfo("Asia/Shanghai")
NAMES: Final = {
    "451200": "河池市政务服务中心",
    "451202": "金城江区政务服务中心",
    "451202101": "金城江区东江镇便民服务中心",
    "451221": "南丹县政务服务中心",
}
INSPECTOR: Final = {"name": "王监察", "role": "inspector", "id": "svt_aaaaaaaaaaaa"}
DIRECTOR: Final = {"name": "李主任", "role": "director", "id": "svt_bbbbbbbbbbbb"}
#: A report of November, read on 12-05 (the month is over).
NOW: Final = datetime(2026, 12, 5, 9, 0, tzinfo=CN)
J2: Final = "451202-2026-0000002"
N1: Final = "451221-2026-0000001"


def case(
    case_id: str,
    center: str,
    accepted: str,
    deadline: str,
    concluded: str | None = None,
    on_time: bool | None = None,
    department: str = "金城江区市场监督管理局",
) -> list[dict[str, Any]]:
    """The facts of a case accepted at 09:00 of `accepted` (MM-DD of 2026), due at 24:00
    of `deadline`, concluded at 16:00 of `concluded` (or still open)."""
    at = f"2026-{accepted}T09:00:00+08:00"
    due = (
        datetime.fromisoformat(f"2026-{deadline}T00:00:00+08:00") + timedelta(days=1)
    ).isoformat()
    told: dict[str, Any] = {
        "center_id": center,
        "department": department,
        "accepted_at": at,
        "deadline": due,
    }
    documents = [fact(case_id, "accepted", at, "open", **told)]
    if concluded is not None:
        done = f"2026-{concluded}T16:00:00+08:00"
        documents.append(
            fact(
                case_id, "concluded", done, "concluded", concluded_at=done, on_time=on_time, **told
            )
        )
    return documents


def card(
    n: int, center: str, case_id: str, severity: str, rule: str, raised: str
) -> dict[str, Any]:
    alert = make_alert(n, severity=severity, rule_id=rule, center_id=center)
    return {
        **alert,
        "case_id": case_id,
        "alert_id": f"{rule}:{case_id}",
        "raised_at": f"2026-{raised}T10:00:00+08:00",
    }


def event(case_id: str, center: str, n: int, kind: str, at: str, **more: Any) -> bytes:
    document = {
        "schema_version": "1",
        "event_id": f"{case_id}-e{n}",
        "case_id": case_id,
        "center_id": center,
        "type": kind,
        "occurred_at": f"2026-{at}+08:00",
        "staff_id": "jcj-0101",
        "window_id": "W03",
        "department": "金城江区市场监督管理局",
        **more,
    }
    return json.dumps(document, ensure_ascii=False).encode()


def issued(order_id: str, center: str, case_id: str, at: datetime, due: datetime) -> dict[str, Any]:
    return orders.issue_record(
        order_id,
        center_id=center,
        case_id=case_id,
        alert_id=f"deadline.overdue:{case_id}",
        requirement="请核实超期原因，约谈窗口人员并整改",
        days=5,
        due_at=due,
        by=INSPECTOR,
        at=at,
    )


def records() -> list[Record]:
    """Every record of the month, on the projection's topics."""
    facts = [
        *case("c-city-1", "451200", "11-02", "11-09", "11-04", True, "河池市民政局"),
        *case("j1", "451202", "11-03", "11-10", "11-06", True),
        *case(J2, "451202", "11-02", "11-06", "11-20", False),
        *case("j3", "451202", "11-02", "11-05"),
        *case("d0", "451202101", "10-12", "10-20", "10-14", True),
        *case("d1", "451202101", "11-09", "11-16", "11-10", True),
        *case(N1, "451221", "11-02", "11-03", "11-27", False, "南丹县民政局"),
    ]
    journal = [
        card(1, "451202", J2, "red", "deadline.overdue", "11-09"),
        card(2, "451202", "j3", "yellow", "deadline.warning", "11-05"),
        card(3, "451221", N1, "red", "deadline.overdue", "11-05"),
        issued("DB-JCJ", "451202", J2, datetime(2026, 11, 12, 10, 0, tzinfo=CN),
               datetime(2026, 11, 20, 0, 0, tzinfo=CN)),
        orders.step_record(
            "DB-JCJ", "reply", center_id="451202", note="已约谈窗口人员，已办结，电话 13800001111",
            by=DIRECTOR, at=datetime(2026, 11, 13, 15, 30, tzinfo=CN),
        ),
        issued("DB-ND", "451221", N1, datetime(2026, 11, 12, 11, 0, tzinfo=CN),
               datetime(2026, 11, 19, 0, 0, tzinfo=CN)),
    ]  # fmt: skip
    events = [
        event(J2, "451202", 1, "submitted", "11-02T08:50:00", applicant={
            "name": "李小梅", "id_number": "452727198805060021", "phone": "13977881234"}),
        event(J2, "451202", 2, "accepted", "11-02T09:00:00", payload={
            "item_code": "451202-XK-0042", "item_name": "食品经营许可（新办）",
            "promised_limit": {"value": 3, "unit": "working_day"},
            "statutory_limit": {"value": 20, "unit": "working_day"},
            "immediate": False, "fee_standard": 0, "required_steps": ["review"]}),
    ]  # fmt: skip
    return [
        *(Record("alerts", 0, n, _json(r)) for n, r in enumerate(journal)),
        *(Record("facts", 0, n, _json(d)) for n, d in enumerate(facts)),
        *(Record("events", 0, n, e) for n, e in enumerate(events)),
    ]


def _json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode()


async def seed(read: ReadModel) -> None:
    """Project the month into the read model."""
    outcome = await Projection(read.db, TOPICS, center_names=NAMES).apply(records())
    assert outcome.malformed == [] and outcome.invalid_events == 0, outcome
