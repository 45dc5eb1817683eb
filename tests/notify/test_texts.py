"""The zh-CN words: subjects, plain and HTML bodies, and no unmasked personal data."""

from __future__ import annotations

from typing import Any

from supervisor.notify.plan import AlertInfo
from supervisor.notify.texts import alert_message, digest_message, render

from .factories import TOWNSHIP, Run, alert, planner

MON = "2026-11-23"
PHONE, ID_NUMBER = "13800001111", "452701199001011234"


def leaky(n: int = 1, **kwargs: str) -> dict[str, Any]:
    record = alert(n, message=f"申请人（电话 {PHONE}，身份证 {ID_NUMBER}）办件超期。", **kwargs)
    record["title"] = "办件超期 <script>alert(1)</script>"
    return record


def no_personal_data(subject: str, text: str, html: str) -> None:
    for part in (subject, text, html):
        assert PHONE not in part and ID_NUMBER not in part
    assert "<script>" not in html and "&lt;script&gt;" in html  # escaped in HTML only


def test_a_red_alert_message() -> None:
    run = Run()
    out = run.apply(leaky(center=TOWNSHIP), f"{MON}T10:00:00+08:00")
    message = render(out.outbox[0], wall_url="https://wall.example.invalid/wall/")
    assert message.subject.startswith("【红色预警】南丹县大厂镇便民服务中心：办件超期")
    text, html = message.text(), message.html()
    assert "请及时核实处理" in text and "签收" in text
    assert "预警编号：deadline.overdue:451221-2026-0000001" in text
    assert "138****1111" in text and "4527**********1234" in text
    assert f"消息编号：{out.outbox[0].id}" in text
    assert '<html lang="zh-CN">' in html and "&lt;script&gt;" in html and "<script>" not in html
    assert 'href="https://wall.example.invalid/wall/"' in html
    no_personal_data(message.subject, text, html)


def test_a_repeat_says_which_reminder_it_is() -> None:
    run = Run(planner(escalate_after_working_hours=0))
    run.apply(leaky(rule="workflow.no_decision"), f"{MON}T09:00:00+08:00")
    out = run.advance(f"{MON}T13:30:00+08:00")
    message = render(out.outbox[0])
    assert "第1次提醒" in message.subject and "仍未处理" in message.subject
    assert "这是第 1 次提醒" in message.text()


def test_a_digest_lists_its_alerts() -> None:
    run = Run()
    for n in (1, 2, 3):
        run.apply(leaky(n, severity="yellow"), f"{MON}T10:0{n}:00+08:00")
    out = run.advance(f"{MON}T10:31:00+08:00")
    message = render(
        out.outbox[0], center_name=lambda code: {"451221": "南丹县中心"}.get(code, code)
    )
    assert message.subject == "【黄色预警汇总】南丹县中心：3 条待处理预警"
    assert "截至 2026-11-23 10:31" in message.text()
    assert len(message.table) == 3 and message.table_head[0] == "预警时间"
    assert [row[2] for row in message.table] == [
        "451221-2026-0000001",
        "451221-2026-0000002",
        "451221-2026-0000003",
    ]
    assert message.html().count("<tr>") == 4
    no_personal_data(message.subject, message.text(), message.html())


def test_an_escalation_message() -> None:
    run = Run()
    run.apply(leaky(center=TOWNSHIP), f"{MON}T09:00:00+08:00")
    out = run.advance(f"{MON}T11:00:00+08:00")
    step = next(n for n in out.outbox if n.kind == "escalation")
    message = render(step)
    assert message.subject.startswith("【升级督办】南丹县大厂镇便民服务中心：")
    assert "2 个办公小时未签收" in message.subject
    text = message.text()
    assert "升级督办（第 1 级）" in text and "升级至南丹县政务服务中心督办" in text
    assert "2026-11-23 11:00" in text
    assert "督办级别：第 1 级（南丹县政务服务中心）" in text
    no_personal_data(message.subject, text, message.html())


def test_the_alerts_own_center_name_and_unregistered_codes() -> None:
    info = AlertInfo.of(
        {**alert(center="451221199"), "details": {"center_name": "南丹县某新设便民服务中心"}}
    )
    assert info.center_name == "南丹县某新设便民服务中心"
    assert "南丹县某新设便民服务中心" in alert_message(info).subject
    bare = AlertInfo.of(alert(center="451221199"))
    assert "451221199" in alert_message(bare).subject  # the registry's label for it


def test_a_digest_without_time_or_names() -> None:
    info = AlertInfo.of(alert(severity="yellow"))
    message = digest_message([info], "451221")
    assert message.subject == "【黄色预警汇总】南丹县政务服务中心：1 条待处理预警"
    assert message.text().endswith("请勿直接回复。\n")
