"""The zh-CN words of a notification: subject, plain-text body and HTML body.

One `Message` per notification (plan.py's `Notification`): an alert (红色预警, and its
repeats), a digest of yellow alerts (黄色预警汇总) or an escalation (升级督办). A message
keeps its parts (lead paragraphs, the alert's fields, the digest's table, the links) so a
channel can lay them out its own way, and renders them as plain text (`text()`) and as
escaped HTML (`html()`) for email; a webhook sends the subject and the plain text with
the notification's data.

No personal data leaves unmasked: every free text that comes from an alert or a record
(title, message, case id, names) goes through `supervisor.masking.mask_text` (ID and
mobile numbers), whatever upstream already did. Pure: no I/O, no clock.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from supervisor.centers import CenterRegistry
from supervisor.masking import mask_text
from supervisor.notify.plan import AlertInfo, Notification, Step

SEVERITY_ZH = {"red": "红色", "yellow": "黄色"}
FOOTER = "本消息由政务服务电子监察系统自动发送，请勿直接回复。"
CenterName = Callable[[str], str]


@dataclass(frozen=True)
class Message:
    subject: str
    lead: list[str]
    fields: list[tuple[str, str]] = field(default_factory=list)
    table_head: tuple[str, ...] = ()
    table: list[tuple[str, ...]] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)
    footer: str = FOOTER

    def text(self) -> str:
        lines = [*self.lead, ""]
        if self.fields:
            lines += [f"{label}：{value}" for label, value in self.fields] + [""]
        if self.table:
            for number, row in enumerate(self.table, 1):
                cells = "；".join(
                    f"{head}：{cell}" for head, cell in zip(self.table_head, row, strict=True)
                )
                lines.append(f"{number}. {cells}")
            lines.append("")
        lines += [f"{label}：{url}" for label, url in self.links]
        if self.links:
            lines.append("")
        lines.append(self.footer)
        return "\n".join(lines) + "\n"

    def html(self) -> str:
        e = html.escape
        cell = 'style="border:1px solid #ccc;padding:4px 8px;text-align:left"'
        parts = [
            '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">',
            f"<title>{e(self.subject)}</title></head>",
            '<body style="font-family:sans-serif;font-size:14px;color:#222">',
        ]
        parts += [f"<p>{e(paragraph)}</p>" for paragraph in self.lead]
        if self.fields:
            parts.append('<table style="border-collapse:collapse">')
            parts += [
                f"<tr><th {cell}>{e(label)}</th><td {cell}>{e(value)}</td></tr>"
                for label, value in self.fields
            ]
            parts.append("</table>")
        if self.table:
            parts.append('<table style="border-collapse:collapse"><tr>')
            parts += [f"<th {cell}>{e(head)}</th>" for head in self.table_head]
            parts.append("</tr>")
            for row in self.table:
                parts.append("<tr>" + "".join(f"<td {cell}>{e(c)}</td>" for c in row) + "</tr>")
            parts.append("</table>")
        parts += [
            f'<p>{e(label)}：<a href="{e(url, quote=True)}">{e(url)}</a></p>'
            for label, url in self.links
        ]
        parts.append(f'<p style="color:#888;font-size:12px">{e(self.footer)}</p>')
        parts.append("</body></html>")
        return "\n".join(parts) + "\n"


def render(
    notification: Notification,
    *,
    center_name: CenterName | None = None,
    wall_url: str | None = None,
    zone: str = "Asia/Shanghai",
) -> Message:
    """The message of any notification; `center_name` names centers (e.g.
    `CenterRegistry.load().name`), `wall_url` links to the wall."""
    names = _namer(notification.alerts, center_name)
    if notification.kind == "digest":
        message = digest_message(
            notification.alerts,
            notification.center_id,
            due_at=notification.due_at,
            center_name=names,
            wall_url=wall_url,
            zone=zone,
        )
    elif notification.kind == "escalation" and notification.escalation is not None:
        message = escalation_message(
            notification.alerts[0],
            notification.escalation,
            waited_working_hours=notification.waited_working_hours,
            center_name=names,
            wall_url=wall_url,
            zone=zone,
        )
    else:
        message = alert_message(
            notification.alerts[0], repeat=notification.repeat, center_name=names, wall_url=wall_url
        )
    footer = f"{message.footer}消息编号：{notification.id}"
    return Message(
        message.subject,
        message.lead,
        message.fields,
        message.table_head,
        message.table,
        message.links,
        footer,
    )


def alert_message(
    alert: AlertInfo,
    *,
    repeat: int = 0,
    center_name: CenterName | None = None,
    wall_url: str | None = None,
) -> Message:
    """One alert (红色预警 at once, or its n-th reminder)."""
    names = _namer([alert], center_name)
    center = names(alert.center_id)
    level = SEVERITY_ZH.get(alert.severity, alert.severity)
    title = _m(alert.title, alert.case_id) or alert.rule_id
    if repeat:
        subject = f"【{level}预警·第{repeat}次提醒】{center}：{title}（仍未处理）"
        lead = [
            f"{center}的以下{level}预警自 {_when(alert.raised_at)} 起仍未签收或处理，"
            f"这是第 {repeat} 次提醒。请立即核实处理，并在电子监察系统中签收。"
        ]
    else:
        subject = f"【{level}预警】{center}：{title}"
        lead = [f"{center}有一条{level}预警，请及时核实处理，并在电子监察系统中签收（确认收到）。"]
    return Message(subject, lead, _fields(alert, center), links=_links(wall_url))


def digest_message(
    alerts: Sequence[AlertInfo],
    center_id: str,
    *,
    due_at: datetime | None = None,
    center_name: CenterName | None = None,
    wall_url: str | None = None,
    zone: str = "Asia/Shanghai",
) -> Message:
    """The yellow alerts of one center gathered since the last digest."""
    names = _namer(alerts, center_name)
    center = names(center_id)
    count = len(alerts)
    until = f"（截至 {_local(due_at, zone)}）" if due_at is not None else ""
    subject = f"【黄色预警汇总】{center}：{count} 条待处理预警"
    lead = [
        f"{center}新增 {count} 条黄色预警{until}，尚未签收或处理。"
        "请及时核实，并在电子监察系统中签收或处理。"
    ]
    rows: list[tuple[str, ...]] = [
        (
            _when(a.raised_at),
            _m(a.title, a.case_id) or a.rule_id,
            _m(a.case_id, a.case_id) or "—",
            _m(a.message, a.case_id) or "—",
        )
        for a in alerts
    ]
    return Message(
        subject,
        lead,
        table_head=("预警时间", "预警类型", "办件编号", "内容"),
        table=rows,
        links=_links(wall_url),
    )


def escalation_message(
    alert: AlertInfo,
    step: Step,
    *,
    waited_working_hours: float,
    center_name: CenterName | None = None,
    wall_url: str | None = None,
    zone: str = "Asia/Shanghai",
) -> Message:
    """升级督办: an unacknowledged red alert, to the director of a center above."""
    names = _namer([alert], center_name)
    center = names(alert.center_id)
    above = names(step.center_id)
    hours = f"{waited_working_hours:g}"
    title = _m(alert.title, alert.case_id) or alert.rule_id
    subject = f"【升级督办】{center}：{title}（{hours} 个办公小时未签收）"
    lead = [
        f"升级督办（第 {step.level} 级）：{center}的红色预警在 {hours} 个办公小时内未签收，"
        f"于 {_local(step.at, zone)} 升级至{above}督办。",
        f"请督促{center}立即核实处理，并在电子监察系统中签收；处理结果将记入该预警的处理记录。",
    ]
    fields = [("督办级别", f"第 {step.level} 级（{above}）"), *_fields(alert, center)]
    return Message(subject, lead, fields, links=_links(wall_url))


# -- helpers ------------------------------------------------------------------------------


def _m(text: str, case_id: str = "") -> str:
    """`text` masked (`mask_text`), the alert's own case id, `case_id`, kept readable."""
    return mask_text(text or "", keep=(case_id,) if case_id else ())


@lru_cache(maxsize=1)
def _registry() -> CenterRegistry:
    return CenterRegistry.load()


def _namer(alerts: Sequence[AlertInfo], center_name: CenterName | None) -> CenterName:
    """Names from `center_name`, else the names the alerts carry, else the packaged
    registry of Hechi's centers (which labels unregistered codes too), else the code."""
    known = {a.center_id: a.center_name for a in alerts if a.center_name}

    def name(code: str) -> str:
        if center_name is not None:
            found = center_name(code)
            if found and found != code:
                return _m(found)
        return _m(known.get(code, "")) or _m(_registry().name(code)) or code

    return name


def _fields(alert: AlertInfo, center: str) -> list[tuple[str, str]]:
    rows = [
        ("预警等级", SEVERITY_ZH.get(alert.severity, alert.severity)),
        ("预警类型", f"{_m(alert.title, alert.case_id) or alert.rule_id}（{alert.rule_id}）"),
        ("中心", f"{center}（{alert.center_id}）"),
    ]
    if alert.case_id:
        rows.append(("办件编号", _m(alert.case_id, alert.case_id)))
    rows.append(("预警时间", _when(alert.raised_at)))
    rows.append(("内容", _m(alert.message, alert.case_id) or "—"))
    rows.append(("预警编号", _m(alert.alert_id, alert.case_id)))
    return rows


def _links(wall_url: str | None) -> list[tuple[str, str]]:
    return [("查看与签收", wall_url)] if wall_url else []


def _when(iso: str) -> str:
    """`2026-11-23T10:00:00+08:00` as `2026-11-23 10:00` (its own offset kept)."""
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return _m(iso) or "—"


def _local(at: datetime | None, zone: str) -> str:
    if at is None:
        return "—"
    return at.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")
