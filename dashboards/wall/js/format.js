/* Times and figures as the wall shows them. Always Beijing time, whatever the screen's
 * own zone: the centers' time limits are Beijing working days, and two screens must read
 * the same figures.
 *
 * The screen's clock may be off: `nowMs()` is this screen's time corrected by the
 * server's (`followServer`, from the headline's `now`) when they differ by more than
 * CLOCK_TOLERANCE_MS. Every "now" below defaults to it, and can be given instead.
 *
 * Pure: no DOM (node imports it). */

import { TIME_ZONE, beijingParts } from "../../common/beijing.js";

export { TIME_ZONE, beijingParts };
/** A screen clock further off than this from the server's is corrected. */
export const CLOCK_TOLERANCE_MS = 60000;

const WEEKDAYS = {
  "zh-CN": new Intl.DateTimeFormat("zh-CN", { timeZone: TIME_ZONE, weekday: "long" }),
  en: new Intl.DateTimeFormat("en-GB", { timeZone: TIME_ZONE, weekday: "short" }),
};
const NUMBERS = new Intl.NumberFormat("zh-CN");

// -- the clock ----------------------------------------------------------------------------

/** Server time minus this screen's time, when the screen's clock is off. */
let clockOffset = 0;

/** Now, in ms since the epoch, by this screen's clock corrected by the server's. */
export function nowMs() {
  return Date.now() + clockOffset;
}

/** The server said it is `serverMs` (at this screen's `localMs`): follow it when this
 * screen's clock is off by more than CLOCK_TOLERANCE_MS, else trust the screen's. */
export function followServer(serverMs, localMs = Date.now()) {
  const offset = serverMs - localMs;
  clockOffset = Math.abs(offset) > CLOCK_TOLERANCE_MS ? offset : 0;
  return clockOffset;
}

// -- times --------------------------------------------------------------------------------

/** A row's time: "12-05 09:30" this year (Beijing), "2025-12-05 09:30" another year;
 * "" for an unreadable one. */
export function formatTime(ms, now = nowMs()) {
  const p = beijingParts(ms);
  if (!p) return "";
  const thisYear = beijingParts(now)?.year;
  const day = p.year === thisYear ? `${p.month}-${p.day}` : `${p.year}-${p.month}-${p.day}`;
  return `${day} ${p.hour}:${p.minute}`;
}

/** formatTime of an ISO time with offset; "" when missing or unreadable. */
export function formatIso(text, now = nowMs()) {
  const ms = typeof text === "string" ? Date.parse(text) : NaN;
  return Number.isNaN(ms) ? "" : formatTime(ms, now);
}

/** Whole minutes from `ms` to now; never negative (a time a little ahead is "just now"). */
export function minutesSince(ms, now = nowMs()) {
  return Math.max(0, Math.floor((now - ms) / 60000));
}

/** How long ago, in the language of `texts`: "3 分钟前", "2 h ago". */
export function formatAge(ms, texts, now = nowMs()) {
  return texts.age(minutesSince(ms, now));
}

/** The header's clock: "09:30:05" (Beijing). */
export function clockTime(ms = nowMs()) {
  const p = beijingParts(ms);
  return `${p.hour}:${p.minute}:${p.second}`;
}

/** The header's date, in the language of `texts` ("12月5日 星期六", "Sat, 2026-12-05"). */
export function clockDate(texts, lang, ms = nowMs()) {
  const weekdays = WEEKDAYS[lang] || WEEKDAYS["zh-CN"];
  return texts.date(beijingParts(ms), weekdays.format(new Date(ms)));
}

// -- figures ------------------------------------------------------------------------------

/** 12345 -> "12,345"; anything not an integer (not loaded yet) -> "—". */
export function formatCount(n) {
  return Number.isInteger(n) ? NUMBERS.format(n) : "—";
}

/** 0.75 -> "75%", 0.6667 -> "66.7%", null -> "—". */
export function formatRate(rate) {
  if (typeof rate !== "number" || !Number.isFinite(rate)) return "—";
  const pct = Math.round(rate * 1000) / 10;
  return Number.isInteger(pct) ? `${pct}%` : `${pct.toFixed(1)}%`;
}

/** A count from the server: a non-negative integer, else 0. */
export function count(value) {
  return Number.isInteger(value) && value >= 0 ? value : 0;
}
