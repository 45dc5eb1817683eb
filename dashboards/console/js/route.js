/* Where the person is, in the address's hash, so that a reload, a bookmark or a link sent
 * to a colleague opens the same screen with the same filters. Pure (node tests run it).
 *
 *   #/queue                       the work queues (the landing screen)
 *   #/alerts?q=…&severity=…&page=2  the alert search, its filters and page
 *   #/alert/<id>                  one alert (ids hold ':' and may hold '/': encoded)
 *   #/orders?status=…&overdue=1&page=2  the supervision orders, a page
 *   #/orders/<id>                 one order
 *   #/assessment?period=2026-11&by=center&center_id=…&unit=…  the assessment (绩效考核)
 */

import { dayAfter, dayStart, isDate } from "./format.js";
import { assessmentParams } from "./scores.js";

export const PAGE_SIZE = 50;
export const SEVERITIES = ["red", "yellow"];
export const ALERT_STATUSES = [
  "open", "acknowledged", "appealed", "resolved", "withdrawn", "closed", "superseded",
];
export const ORDER_STATUSES = ["issued", "replied", "returned", "closed", "cancelled"];
/** Groups of order statuses a person asks for together: waiting for the center's reply
 * (issued, or sent back), and not yet closed. */
export const ORDER_GROUPS = {
  awaiting: ["issued", "returned"],
  open: ["issued", "replied", "returned"],
};
export const ORDER_PAGE_SIZE = 50;
/** The furthest page of orders the API serves (its offset is at most 100,000). */
const ORDER_PAGE_MAX = 100000 / ORDER_PAGE_SIZE + 1;
/** The alert filters the hash keeps, in the order they are written. */
const FILTERS = [
  "q", "severity", "status", "disposition", "rule_id", "center_id", "below", "since", "until",
];
/** How a resolved alert was disposed of (处置): a filter, so that 问责 can be found. */
export const DISPOSITIONS = ["verified", "rectified", "held_accountable", "false_alarm"];

/** {view, id?, params} of a hash; anything unknown is the queue. */
export function parseHash(hash) {
  const raw = String(hash ?? "").replace(/^#/, "");
  const [path, query = ""] = splitOnce(raw, "?");
  const params = Object.fromEntries(new URLSearchParams(query));
  const one = (prefix) => (path.startsWith(prefix) && path.length > prefix.length
    ? safeDecode(path.slice(prefix.length))
    : null);
  const alertId = one("/alert/");
  if (alertId) return { view: "alert", id: alertId, params: {} };
  const orderId = one("/orders/");
  if (orderId) return { view: "order", id: orderId, params: {} };
  if (path === "/alerts") return { view: "alerts", params: alertFilters(params) };
  if (path === "/orders") return { view: "orders", params: orderFilters(params) };
  if (path === "/assessment") return { view: "assessment", params: assessmentParams(params) };
  return { view: "queue", params: {} };
}

/** The hash of a screen: `hashFor("alert", {id})`, `hashFor("alerts", {params})`,
 * `hashFor("assessment", {params})`. */
export function hashFor(view, { id, params } = {}) {
  if (view === "alert") return `#/alert/${encodeURIComponent(id)}`;
  if (view === "order") return `#/orders/${encodeURIComponent(id)}`;
  if (view === "alerts" || view === "orders" || view === "assessment") {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(params ?? {})) {
      if (value !== undefined && value !== null && value !== "") query.set(key, String(value));
    }
    const text = query.toString();
    return `#/${view}${text ? `?${text}` : ""}`;
  }
  return "#/queue";
}

/** The alert filters of a hash's parameters, each checked (a hand-edited or stale
 * address must not send the API something it refuses), plus `page` (1 or more). */
export function alertFilters(params) {
  const chosen = {};
  const text = (params.q ?? "").trim();
  if (text) chosen.q = text.slice(0, 400);
  if (SEVERITIES.includes(params.severity)) chosen.severity = params.severity;
  if (ALERT_STATUSES.includes(params.status)) chosen.status = params.status;
  if (DISPOSITIONS.includes(params.disposition)) chosen.disposition = params.disposition;
  if (params.rule_id) chosen.rule_id = params.rule_id.slice(0, 128);
  if (/^\d{6}(\d{3})?$/.test(params.center_id ?? "")) {
    chosen.center_id = params.center_id;
    if (params.below === "0") chosen.below = "0";
  }
  if (sinceAccepted(params.since)) chosen.since = params.since;
  if (untilAccepted(params.until)) chosen.until = params.until;
  const page = Number.parseInt(params.page, 10);
  if (page > 1 && page <= 10000 / PAGE_SIZE + 1) chosen.page = String(page);
  return chosen;
}

/** The dates the API takes: it refuses (422) a time outside the years 2000–2100, by its
 * own date (supervisor/web/bounds.py check_moment). A start date is sent as its midnight
 * (dayStart), so it may be any day of those years; an end date as the midnight after it
 * (dayAfter), so 2100-12-31 would be sent as 2101-01-01: its last day is 2100-12-30. (The
 * API would take an end date of 1999-12-31, sent as 2000-01-01; nothing is that old, and
 * the message is simpler with one first day.) */
export const FIRST_DATE = "2000-01-01";
export const LAST_SINCE = "2100-12-31";
export const LAST_UNTIL = "2100-12-30";

/** Whether `date` (YYYY-MM-DD) is a start date the API takes. */
export function sinceAccepted(date) {
  return isDate(date) && date >= FIRST_DATE && date <= LAST_SINCE;
}

/** Whether `date` (YYYY-MM-DD) is an end date the API takes, sent as the day after. */
export function untilAccepted(date) {
  return isDate(date) && date >= FIRST_DATE && date <= LAST_UNTIL;
}

/** What is wrong with a period typed into the search form, before it is sent: null, or
 * {field: "since" | "until", text} naming the field (a date the API would refuse, or an
 * end before the start). Empty dates are no filter. */
export function periodProblem({ since, until }, texts) {
  const list = texts.list;
  if (since && !sinceAccepted(since)) {
    return { field: "since", text: list.badDate(list.since, FIRST_DATE, LAST_SINCE) };
  }
  if (until && !untilAccepted(until)) {
    return { field: "until", text: list.badDate(list.until, FIRST_DATE, LAST_UNTIL) };
  }
  if (since && until && until < since) return { field: "until", text: list.badPeriod };
  return null;
}

/** Only the filters of `params` (no page), in a stable order. */
export function filtersOnly(params) {
  const kept = {};
  for (const key of FILTERS) if (params[key] !== undefined) kept[key] = params[key];
  return kept;
}

/** The query of `/api/alerts` (or of its export, without paging) for some filters. */
export function alertQuery(filters, { page = 1, paged = true } = {}) {
  const query = new URLSearchParams();
  for (const key of ["q", "severity", "status", "disposition", "rule_id", "center_id"]) {
    if (filters[key]) query.set(key, filters[key]);
  }
  if (filters.center_id && filters.below !== "0") query.set("below", "true");
  if (filters.since) query.set("since", dayStart(filters.since));
  if (filters.until) query.set("until", dayAfter(filters.until));
  if (paged) {
    query.set("limit", String(PAGE_SIZE));
    query.set("offset", String((page - 1) * PAGE_SIZE));
  }
  return query;
}

/** The order filters of a hash's parameters. */
export function orderFilters(params) {
  const chosen = {};
  if (ORDER_STATUSES.includes(params.status) || Object.hasOwn(ORDER_GROUPS, params.status)) {
    chosen.status = params.status;
  }
  if (params.overdue === "1") chosen.overdue = "1";
  const page = Number.parseInt(params.page, 10);
  if (page > 1 && page <= ORDER_PAGE_MAX) chosen.page = String(page);
  return chosen;
}

/** The query of `/api/orders` for some order filters and their page (a group of
 * statuses asked as the status repeated). */
export function orderQuery(filters) {
  const query = new URLSearchParams();
  for (const status of ORDER_GROUPS[filters.status] ?? (filters.status ? [filters.status] : [])) {
    query.append("status", status);
  }
  if (filters.overdue === "1") query.set("overdue", "true");
  const page = Number.parseInt(filters.page ?? "1", 10) || 1;
  query.set("limit", String(ORDER_PAGE_SIZE));
  query.set("offset", String((page - 1) * ORDER_PAGE_SIZE));
  return query;
}

function splitOnce(text, separator) {
  const at = text.indexOf(separator);
  return at < 0 ? [text] : [text.slice(0, at), text.slice(at + 1)];
}

function safeDecode(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
