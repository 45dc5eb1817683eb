// What the wall says of one alert (dashboards/wall/js/alert.js): its status tag and the
// line under it, in both languages, times in Beijing.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  changeText, closedReasonOf, stateKey, tagOf, whoText, withdrawnBySystem,
} from "../../dashboards/wall/js/alert.js";
import { TEXTS } from "../../dashboards/wall/js/texts.js";

const zh = TEXTS["zh-CN"];
const en = TEXTS.en;
const NOW = Date.parse("2026-12-05T12:00:00+08:00");
const inspector = { name: "王监察", role: "inspector" };

function alert(overrides = {}) {
  return {
    alert_id: "deadline.overdue:451221-2026-00001",
    severity: "red",
    status: "open",
    center_id: "451221",
    case_id: "451221-2026-00001",
    raised_at: "2026-12-05T08:00:00+08:00",
    ...overrides,
  };
}

test("the tag: none while open; each status its own, the two withdrawals told apart", () => {
  assert.equal(tagOf(alert(), zh), null);
  assert.deepEqual(tagOf(alert({ status: "acknowledged" }), zh), ["已签收", "acknowledged"]);
  assert.deepEqual(tagOf(alert({ status: "appealed" }), en), ["Under appeal", "appealed"]);
  assert.deepEqual(tagOf(alert({ status: "resolved", disposition: "held_accountable" }), zh), ["已办结（问责）", "resolved"]);
  assert.deepEqual(tagOf(alert({ status: "resolved" }), en), ["Resolved", "resolved"]);
  assert.deepEqual(tagOf(alert({ status: "closed" }), zh), ["已关闭", "closed"]); // no cause known
  assert.deepEqual(tagOf(alert({ status: "superseded" }), zh), ["已转红牌", "superseded"]);
  const bySystem = alert({ status: "withdrawn", last_change: { action: "system_withdraw" } });
  const byAppeal = alert({ status: "withdrawn", last_change: { action: "accept_appeal", by: inspector } });
  assert.equal(withdrawnBySystem(bySystem), true);
  assert.equal(withdrawnBySystem(byAppeal), false);
  assert.deepEqual(tagOf(bySystem, zh), ["已撤销", "withdrawn"]);
  assert.deepEqual(tagOf(byAppeal, zh), ["已摘牌", "delisted"]);
  assert.deepEqual(tagOf(byAppeal, en), ["Delisted", "delisted"]);
});

test("withdrawn by the system: its reason and when (Beijing time)", () => {
  const a = alert({
    status: "withdrawn",
    resolution: { reason: "补正材料事件迟到，超期不成立", resolved_at: "2026-12-05T02:15:00Z" },
  });
  assert.equal(changeText(a, zh, undefined, NOW), "撤销原因（12-05 10:15）：补正材料事件迟到，超期不成立");
  assert.equal(changeText(a, en, undefined, NOW), "Withdrawn (12-05 10:15): 补正材料事件迟到，超期不成立");
  const bare = alert({ status: "withdrawn", last_change: { action: "system_withdraw" } });
  assert.equal(changeText(bare, zh, undefined, NOW), "撤销原因：未说明原因");
});

test("who did the last change, when and what, with its reason and note", () => {
  const resolved = alert({
    status: "resolved",
    disposition: "rectified",
    last_change: { action: "resolve", by: inspector, at: "2026-12-05T09:30:00+08:00", note: "已约谈窗口" },
  });
  assert.equal(changeText(resolved, zh, undefined, NOW), "王监察（纪检监察） 12-05 09:30 办结（整改）：已约谈窗口");
  assert.equal(changeText(resolved, en, undefined, NOW), "王监察 (Inspector) resolved (rectified) at 12-05 09:30: 已约谈窗口");
  const appealed = alert({
    status: "appealed",
    last_change: { action: "appeal", by: { name: "李主任", role: "director" }, at: "2026-12-05T10:00:00+08:00", reason: "系统故障", note: " " },
  });
  assert.equal(changeText(appealed, zh, undefined, NOW), "李主任（中心负责人） 12-05 10:00 申诉：系统故障");
  assert.equal(whoText({ role: "system" }, zh), "系统");
  assert.equal(whoText(null, zh), "");
  assert.equal(changeText(alert(), zh, undefined, NOW), "");
});

test("closed by its case, escalated, concluded late", () => {
  const closed = alert({
    severity: "yellow",
    status: "closed",
    last_change: { action: "case_closed", reason: "concluded_in_time", by: { role: "system" }, at: "2026-12-05T11:00:00+08:00" },
  });
  assert.equal(changeText(closed, zh, undefined, NOW), "系统 12-05 11:00 预警关闭（办件已按期办结）");
  const escalated = alert({
    last_change: { action: "escalate", level: 2, to_center: "451200", recipient_name: "赵局长", by: { role: "system" }, at: "2026-12-05T11:30:00+08:00" },
  });
  const names = { 451200: "河池市政务服务中心" };
  assert.equal(
    changeText(escalated, zh, (code) => names[code] || code, NOW),
    "系统 12-05 11:30 升级督办（第 2 级）：河池市政务服务中心 赵局长",
  );
  const late = alert({
    case_concluded_at: "2026-12-05T03:00:00Z",
    late_working_days: 2,
    last_change: { action: "case_concluded_late", by: { role: "system" }, at: "2026-12-05T11:00:00+08:00" },
  });
  assert.equal(changeText(late, zh, undefined, NOW), "办件已于 12-05 11:00 办结，超期 2 个工作日");
  assert.equal(changeText(late, en, undefined, NOW), "Case concluded 12-05 11:00, 2 working days late");
  const lateThenResolved = { ...late, status: "resolved", last_change: { action: "resolve", by: inspector, at: "2026-12-05T11:45:00+08:00" } };
  assert.equal(
    changeText(lateThenResolved, zh, undefined, NOW),
    "办件已于 12-05 11:00 办结，超期 2 个工作日；王监察（纪检监察） 12-05 11:45 办结",
  );
});

test("a row is rebuilt only when the alert's state moved", () => {
  const a = alert();
  assert.equal(stateKey(a), stateKey({ ...a, title: "another title" }));
  assert.notEqual(stateKey(a), stateKey({ ...a, status: "acknowledged" }));
  assert.notEqual(stateKey(a), stateKey({ ...a, updated_seq: 9 }));
  assert.notEqual(stateKey(a), stateKey({ ...a, disposition: "verified" }));
});

test("closed: each cause said as it is; a reply to an order claims no case concluded", () => {
  const closedBy = (reason) => alert({
    alert_id: "supervision.reply_overdue:DB-0001:1",
    status: "closed",
    last_change: { action: "case_closed", reason, by: { role: "system" }, at: "2026-12-05T11:00:00+08:00" },
  });
  const replied = changeText(closedBy("order_replied"), zh, undefined, NOW);
  assert.equal(replied, "系统 12-05 11:00 预警关闭（督办单已回复）");
  assert.doesNotMatch(replied, /办结|撤回/);
  assert.equal(changeText(closedBy("order_replied"), en, undefined, NOW), "System closed the alert (supervision order answered) at 12-05 11:00");
  assert.equal(changeText(closedBy("case_withdrawn"), zh, undefined, NOW), "系统 12-05 11:00 预警关闭（申请人已撤回办件）");
  assert.equal(changeText(closedBy("concluded_in_time"), en, undefined, NOW), "System closed the alert (case concluded in time) at 12-05 11:00");
  // a cause the page does not know: the step alone, which is true whatever the cause
  assert.equal(changeText(closedBy("something_new"), zh, undefined, NOW), "系统 12-05 11:00 预警关闭");
});

test("a closed alert's tag says why it closed: only a case concluded in time is 已按期办结", () => {
  const closedBy = (reason, action = "case_closed") => alert({
    severity: "yellow",
    status: "closed",
    last_change: { action, reason, by: { role: "system" }, at: "2026-12-07T19:40:00+08:00" },
  });
  const tags = (texts) => ["concluded_in_time", "case_withdrawn", "order_replied", "something_new", "toString", undefined]
    .map((reason) => tagOf(closedBy(reason), texts));
  assert.deepEqual(tags(zh), [
    ["已按期办结", "closed"],
    ["办件已撤回", "closed"],
    ["督办单已回复", "closed"],
    ["已关闭", "closed"],
    ["已关闭", "closed"],
    ["已关闭", "closed"],
  ]);
  assert.deepEqual(tags(en).map(([text]) => text), [
    "Concluded in time", "Case withdrawn", "Order answered", "Closed", "Closed", "Closed",
  ]);
  // the row the audit saw: a withdrawn case no longer claims to be concluded in time
  const withdrawn = closedBy("case_withdrawn");
  assert.equal(
    `${tagOf(withdrawn, zh)[0]} | ${changeText(withdrawn, zh, undefined, NOW)}`,
    "办件已撤回 | 系统 12-07 19:40 预警关闭（申请人已撤回办件）",
  );
  for (const reason of ["case_withdrawn", "order_replied"]) {
    assert.doesNotMatch(tagOf(closedBy(reason), zh)[0], /办结/);
    assert.doesNotMatch(tagOf(closedBy(reason), en)[0], /concluded/i);
  }
  // the cause is the closing step's: a later step (the server sends the last only) hides it
  assert.equal(closedReasonOf(closedBy("case_withdrawn")), "case_withdrawn");
  assert.equal(closedReasonOf(closedBy("concluded_in_time", "notify")), "");
  assert.deepEqual(tagOf(closedBy("concluded_in_time", "notify"), zh), ["已关闭", "closed"]);
  // the footer counts them all as 已关闭, whatever the tag
  assert.equal(zh.shownPart.closed(3), "已关闭 3 条");
});

test("a case concluded less than 0.01 working days late is not said to be 0 days late", () => {
  const late = (days) => alert({
    case_concluded_at: "2026-12-07T11:38:00Z",
    late_working_days: days,
    last_change: { action: "case_concluded_late", by: { role: "system" }, at: "2026-12-07T19:38:00+08:00" },
  });
  assert.equal(changeText(late(0), zh, undefined, NOW), "办件已于 12-07 19:38 办结，超期不足 0.01 个工作日");
  assert.equal(changeText(late(0.004), zh, undefined, NOW), "办件已于 12-07 19:38 办结，超期不足 0.01 个工作日");
  assert.equal(changeText(late(0), en, undefined, NOW), "Case concluded 12-07 19:38, less than 0.01 working days late");
  assert.equal(changeText(late(0.01), zh, undefined, NOW), "办件已于 12-07 19:38 办结，超期 0.01 个工作日");
  assert.equal(changeText(late(1.25), en, undefined, NOW), "Case concluded 12-07 19:38, 1.25 working days late");
  assert.equal(changeText(late(2.0000001), zh, undefined, NOW), "办件已于 12-07 19:38 办结，超期 2 个工作日");
});
