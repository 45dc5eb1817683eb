/* One alert as the server sends it (docs/alerts.md), and what the wall says of it: its
 * status, its tag (已签收, 已撤销…) and the line under it (the last change: who, when,
 * what; or why it was withdrawn).
 *
 * Statuses: open, acknowledged (已签收) and appealed (申诉中) are open business; resolved
 * (已办结, with the disposition), withdrawn (已撤销 by the system after a late event, with
 * its reason; 已摘牌 after an accepted appeal), closed (by its case, or by the reply to a
 * supervision order: 已按期办结, 办件已撤回, 督办单已回复, else 已关闭) and superseded (by
 * the case's red alert) need nobody any more, and are greyed.
 *
 * Pure: no DOM (node imports it). The texts are passed in (texts.js `t()`). */

import { formatIso } from "./format.js";

export const STATUSES = new Set([
  "open", "acknowledged", "appealed", "resolved", "withdrawn", "closed", "superseded",
]);
/** Statuses that need nobody any more (closed and superseded: the case moved on). */
export const CLOSED = new Set(["resolved", "withdrawn", "closed", "superseded"]);
/** Changes that can only be made to an open alert (so it was open before). */
export const FROM_OPEN = new Set(["acknowledge", "resolve", "appeal", "accept_appeal", "reject_appeal"]);

/** Whether `a` is an alert the wall can show: an id, a colour, a readable raised_at. */
export function isAlert(a) {
  return Boolean(a) && typeof a === "object" && typeof a.alert_id === "string" && a.alert_id !== "" &&
    (a.severity === "red" || a.severity === "yellow") &&
    typeof a.raised_at === "string" && !Number.isNaN(Date.parse(a.raised_at));
}

/** The alert's status; an alert of an older server without one: withdrawn when it has a
 * resolution, else open. */
export function statusOf(a) {
  if (STATUSES.has(a.status)) return a.status;
  return a.resolution && typeof a.resolution === "object" ? "withdrawn" : "open";
}

/** Open business: open, acknowledged or appealed. */
export function isOpen(a) {
  return !CLOSED.has(statusOf(a));
}

export function lastChangeOf(a) {
  const change = a.last_change;
  return change && typeof change === "object" ? change : null;
}

/** Withdrawn by the system (a late event proved it wrong), not by an accepted appeal. */
export function withdrawnBySystem(a) {
  const change = lastChangeOf(a);
  return Boolean(a.resolution && typeof a.resolution === "object") ||
    (change !== null && change.action === "system_withdraw");
}

/** What tells one state of an alert from another (a change must rebuild its row). */
export function stateKey(a) {
  return `${statusOf(a)}|${a.updated_seq ?? ""}|${a.disposition ?? ""}|${a.resolution ? 1 : 0}`;
}

/** Who made a change: "王监察（纪检监察）", or 系统. */
export function whoText(by, texts) {
  if (!by || typeof by !== "object") return "";
  if (by.role === "system") return texts.system;
  const name = typeof by.name === "string" ? by.name : "";
  return texts.who(name, texts.role[by.role] || "");
}

/** The disposition of a resolved alert (核实, 整改, 问责, 误报), or "". */
export function dispositionText(a, texts) {
  return a.disposition ? texts.disposition[a.disposition] || String(a.disposition) : "";
}

/** Why a closed alert closed ("concluded_in_time", "case_withdrawn", "order_replied"), as
 * its closing step (`case_closed`) says; "" when that is not the alert's last change (the
 * alert as the server sends it carries its last change only). */
export function closedReasonOf(a) {
  const change = lastChangeOf(a);
  return change && change.action === "case_closed" && typeof change.reason === "string" ? change.reason : "";
}

/** The status tag: [text, modifier] (modifier: the status, or "withdrawn" / "delisted"
 * for the two kinds of withdrawal), or null for an open alert. A closed alert's tag says
 * why it closed: only a case concluded in time is 已按期办结. */
export function tagOf(a, texts) {
  const status = statusOf(a);
  if (status === "open") return null;
  if (status === "withdrawn") {
    return withdrawnBySystem(a) ? [texts.tag.withdrawn(), "withdrawn"] : [texts.tag.delisted(), "delisted"];
  }
  if (status === "closed") return [texts.tag.closed(closedReasonOf(a)), status];
  return [texts.tag[status](dispositionText(a, texts)), status];
}

/**
 * The line under the alert: the system's withdrawal and its reason, or who did the last
 * change, when, and what (with its reason and note); a case concluded late says so first.
 * "" when there is nothing to say. `centerName(code)`: the name of an escalation's center.
 */
export function changeText(a, texts, centerName = (code) => code, now = undefined) {
  const status = statusOf(a);
  if (status === "withdrawn" && withdrawnBySystem(a)) {
    const r = a.resolution && typeof a.resolution === "object" ? a.resolution : {};
    const change = lastChangeOf(a) || {};
    const reason = [r.reason, change.reason].find((x) => typeof x === "string" && x) || texts.noReason;
    return texts.withdrawnReason(formatIso(r.resolved_at || change.at, now), reason);
  }
  const late = typeof a.case_concluded_at === "string" && typeof a.late_working_days === "number"
    ? texts.concludedLate(formatIso(a.case_concluded_at, now), a.late_working_days)
    : "";
  const change = lastChangeOf(a);
  if (!change) return late;
  if (change.action === "case_concluded_late") return late;
  let what = texts.change[change.action] || String(change.action || "");
  if (change.action === "case_closed" && texts.closedReason[change.reason]) {
    what = texts.withDisposition(what, texts.closedReason[change.reason]);
  }
  if (change.action === "escalate") {
    // The notifier's step up the hierarchy: the alert's status is unchanged.
    const to = typeof change.to_center === "string" && change.to_center ? centerName(change.to_center) : "";
    const who = typeof change.recipient_name === "string" ? change.recipient_name : "";
    what = texts.escalated(Number.isInteger(change.level) ? change.level : 1, to, who);
  }
  if (change.action === "resolve" && dispositionText(a, texts)) {
    what = texts.withDisposition(what, dispositionText(a, texts));
  }
  const own = change.action === "case_closed" ? [] : [change.reason];
  const detail = [...own, change.note].filter((x) => typeof x === "string" && x.trim());
  const line = texts.by(whoText(change.by, texts), formatIso(change.at, now), what);
  const full = detail.length ? `${line}${texts.sep}${detail.join(" / ")}` : line;
  return late ? `${late}${texts.then}${full}` : full;
}
