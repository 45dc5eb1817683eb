/* Times and values as people read them. Pure: no DOM, no state (node tests run it).
 *
 * Every time is shown in Beijing time, whatever the desk computer's zone: the centers'
 * time limits are Beijing working days, and two people comparing a due time must read the
 * same figures. A due time at local midnight is said as 24:00 of the day before ("11月27日
 * 24:00"), as time limits are written in the rules: "by the end of the 5th working day". */

import { TIME_ZONE, beijingParts } from "../../common/beijing.js";

export { TIME_ZONE, beijingParts };
/** Beijing's offset, for the dates of a filter turned into times (no summer time). */
export const OFFSET = "+08:00";

/** "2026-11-27 09:30" (Beijing), or "—". */
export function formatTime(iso) {
  const p = beijingParts(iso);
  return p ? `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}` : "—";
}

/** A case's deadline with its year: "2026-11-26 24:00" at midnight (the end of the day
 * before), else as formatTime; "—" when missing. */
export function formatDeadline(iso) {
  const p = beijingParts(iso);
  if (!p) return "—";
  if (!atMidnight(p)) return formatTime(iso);
  const before = dayBefore(iso);
  return `${before.year}-${before.month}-${before.day} 24:00`;
}

/** A due time: "MM月DD日 24:00" at midnight (the end of the day before), else
 * "MM月DD日 HH:MM"; `texts` is the language's `time` texts. "—" when missing. */
export function formatDue(iso, texts) {
  const p = beijingParts(iso);
  if (!p) return "—";
  if (atMidnight(p)) {
    const before = dayBefore(iso);
    return texts.due24(before.month, before.day);
  }
  return texts.due(p.month, p.day, p.hour, p.minute);
}

function atMidnight(p) {
  return p.hour === "00" && p.minute === "00" && p.second === "00";
}

/** The Beijing parts of the second before `iso`: the day a midnight ends. */
function dayBefore(iso) {
  return beijingParts(new Date(new Date(iso).getTime() - 1000).toISOString());
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Whether `value` is a date as a date input gives it (YYYY-MM-DD), and a real one. */
export function isDate(value) {
  const found = DATE.exec(value ?? "");
  if (!found) return false;
  const [, y, m, d] = found.map(Number);
  const day = new Date(Date.UTC(y, m - 1, d));
  return day.getUTCFullYear() === y && day.getUTCMonth() === m - 1 && day.getUTCDate() === d;
}

/** The start of a Beijing day as an ISO time: the API's `since` (inclusive). */
export function dayStart(date) {
  return `${date}T00:00:00${OFFSET}`;
}

/** The start of the Beijing day after `date`: the API's `until` is exclusive, and a
 * person who picks "to 27 November" means the whole of that day. */
export function dayAfter(date) {
  const [y, m, d] = date.split("-").map(Number);
  const next = new Date(Date.UTC(y, m - 1, d + 1));
  const pad = (n) => String(n).padStart(2, "0");
  return `${next.getUTCFullYear()}-${pad(next.getUTCMonth() + 1)}-${pad(next.getUTCDate())}T00:00:00${OFFSET}`;
}

/** A rule's threshold value as text: a share as a percentage, a list joined. */
export function thresholdValue(key, value, texts) {
  if (key === "mode" && texts.thresholdMode[value]) return texts.thresholdMode[value];
  if (key === "share" && typeof value === "number") return `${Math.round(value * 1000) / 10}%`;
  if (Array.isArray(value)) return value.join("、");
  if (value !== null && typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** At most `max` characters of `text`, with an ellipsis when cut. */
export function excerpt(text, max) {
  const value = String(text ?? "");
  return value.length > max ? `${value.slice(0, max - 1)}…` : value;
}

/** The parameters of a rule that apply: a rule with a `mode` (deadline.warning: `share`,
 * or `remaining`) is given every mode's parameter by /api/rules, but only the configured
 * mode's is used; the others are left out so nobody reads them as also in force. */
const MODE_PARAMS = { share: ["share"], remaining: ["remaining_working_days"] };

/** [key, value] of the thresholds to show, in the API's order. */
export function shownThresholds(thresholds) {
  const entries = Object.entries(thresholds ?? {});
  const mode = thresholds?.mode;
  if (typeof mode !== "string" || !Object.hasOwn(MODE_PARAMS, mode)) return entries;
  const unused = new Set(
    Object.entries(MODE_PARAMS).filter(([name]) => name !== mode).flatMap(([, keys]) => keys),
  );
  return entries.filter(([key]) => !unused.has(key));
}

/** One field of a case event's payload as text: a code (an outcome, a reason code, a
 * unit) in the reader's language where `texts.payloadValue[eventType][key]` knows it, as
 * it is otherwise; a handling step (`step`, `required_steps`) by the name the item
 * catalogue gives it (`stepNames`, the case's `step_names`), its code otherwise; a list
 * joined, a yes/no, a time limit ({value, unit}). */
export function payloadText(eventType, key, value, texts, stepNames = {}) {
  const stepName = (code) => (typeof code === "string" && Object.hasOwn(stepNames, code) ? stepNames[code] : code);
  if (key === "step") return String(stepName(value));
  if (key === "required_steps" && Array.isArray(value)) return value.map(stepName).join("、");
  const codes = texts.payloadValue[eventType]?.[key];
  if (typeof value === "string" && codes && Object.hasOwn(codes, value)) return codes[value];
  if (Array.isArray(value)) return value.join("、");
  if (typeof value === "boolean") return value ? texts.yes : texts.no;
  if (value && typeof value === "object" && "value" in value) {
    const unit = Object.hasOwn(texts.unit, value.unit) ? texts.unit[value.unit] : value.unit ?? "";
    return `${value.value} ${unit}`.trim();
  }
  if (value && typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** "王监察（纪检监察）" of a journal's `by`; the system once (系统, not 系统（系统）). */
export function personText(by, texts) {
  if (!by) return "";
  if (by.role === "system") return texts.role.system;
  return texts.person(by.name ?? "", texts.role[by.role] ?? by.role ?? "");
}
