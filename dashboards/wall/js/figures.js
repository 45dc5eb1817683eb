/* The header's figures (/api/stats/headline, every 5 s): 今日受理, 在办件, the open
 * red/yellow alerts, 按期办结率 today and this month; and the freshness of the data, the
 * time since the latest event from the centers, by the server's clock, so that a frozen
 * wall is never taken for a quiet one.
 *
 * Pure: no DOM (node imports it). `mono` is a monotonic clock in ms (performance.now()). */

import { count, followServer } from "./format.js";

/** Minutes without an event after which the freshness turns amber, then red. */
export const FRESH_WARN_MINUTES = 10;
export const FRESH_STALE_MINUTES = 30;

export function newFigures() {
  return {
    loaded: false,
    accepted: null,
    openCases: null,
    red: null,
    yellow: null,
    rateToday: null,
    rateMonth: null,
    /** [on time, overdue] of the cases judged today, and this month. */
    today: [0, 0],
    month: [0, 0],
    lastEventMs: null,
    serverNowMs: null,
    /** `mono` when the headline was read. */
    fetchedAt: 0,
  };
}

/**
 * The headline as fetched. The open red/yellow counts are taken when `exact` (no socket
 * message moved them while the fetch was under way) or when there are none yet; else the
 * counts followed live stay until an exact answer. Follows the server's clock. False when
 * the body is not a headline.
 */
export function readHeadline(figures, body, exact, mono = performance.now()) {
  if (!body || typeof body !== "object") return false;
  figures.loaded = true;
  figures.accepted = count(body.accepted_today);
  figures.openCases = count(body.open_cases);
  figures.rateToday = typeof body.on_time_rate_today === "number" ? body.on_time_rate_today : null;
  figures.rateMonth = typeof body.on_time_rate_month === "number" ? body.on_time_rate_month : null;
  figures.today = [count(body.on_time_today), count(body.overdue_today)];
  figures.month = [count(body.on_time_month), count(body.overdue_month)];
  const alerts = body.open_alerts && typeof body.open_alerts === "object" ? body.open_alerts : {};
  if (exact || figures.red === null) {
    figures.red = count(alerts.red);
    figures.yellow = count(alerts.yellow);
  }
  const serverNow = typeof body.now === "string" ? Date.parse(body.now) : NaN;
  const lastEvent = typeof body.last_event_at === "string" ? Date.parse(body.last_event_at) : NaN;
  figures.fetchedAt = mono;
  figures.serverNowMs = Number.isNaN(serverNow) ? Date.now() : serverNow;
  figures.lastEventMs = Number.isNaN(lastEvent) ? null : lastEvent;
  if (!Number.isNaN(serverNow)) followServer(serverNow);
  return true;
}

/** The open count of `severity` moved by `delta` (a socket message); false while there
 * is no count to move (before the first headline). */
export function adjustFigures(figures, severity, delta) {
  if (figures.red === null) return false;
  figures[severity] = Math.max(0, figures[severity] + delta);
  return true;
}

/** Nothing to show any more (the page was refused). */
export function clearFigures(figures) {
  Object.assign(figures, {
    loaded: false, accepted: null, openCases: null, red: 0, yellow: 0,
    rateToday: null, rateMonth: null, lastEventMs: null,
  });
}

/** How long since the latest event from the centers, by the server's clock (ms); null
 * when none is known. */
export function freshnessAgeMs(figures, mono = performance.now()) {
  if (figures.lastEventMs === null) return null;
  return figures.serverNowMs - figures.lastEventMs + (mono - figures.fetchedAt);
}

/**
 * {state, minutes}: "unknown" before the first headline, "none" when no event ever came,
 * else "ok", "warn" (FRESH_WARN_MINUTES and more) or "stale" (FRESH_STALE_MINUTES and
 * more), with the whole minutes since the latest event.
 */
export function freshness(figures, mono = performance.now()) {
  if (!figures.loaded) return { state: "unknown", minutes: null };
  const age = freshnessAgeMs(figures, mono);
  if (age === null) return { state: "none", minutes: null };
  const minutes = Math.max(0, Math.floor(age / 60000));
  const state = minutes >= FRESH_STALE_MINUTES ? "stale" : minutes >= FRESH_WARN_MINUTES ? "warn" : "ok";
  return { state, minutes };
}
