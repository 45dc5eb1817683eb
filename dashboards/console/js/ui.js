/* Pieces every screen shows the same way: severity and status, a person, a link to an
 * alert, the loading and failure states, a screen's title. */

import { h } from "./dom.js";
import { errorText } from "./errors.js";
import { personText } from "./format.js";
import { hashFor } from "./route.js";
import { t } from "./texts.js";

export function severityBadge(severity) {
  return h("span", { class: `badge badge--${severity}`, text: t().severity[severity] ?? severity });
}

/** The status of an alert as said to people: an accepted appeal is 已摘牌, a resolution
 * says its disposition. */
export function statusText(alert) {
  const texts = t();
  if (alert.status === "withdrawn" && alert.last_change?.action === "accept_appeal") {
    return texts.status.delisted;
  }
  if (alert.status === "resolved" && alert.disposition) {
    return texts.resolvedAs(texts.disposition[alert.disposition] ?? alert.disposition);
  }
  return texts.status[alert.status] ?? alert.status;
}

export function statusTag(alert) {
  return h("span", { class: `tag tag--${alert.status}`, dataset: { status: alert.status } }, statusText(alert));
}

/** An order's status in the reader's language (the service's `status_text` is Chinese). */
export function orderStatusTag(order, id) {
  const text = t().orders.statuses[order.status] ?? order.status_text;
  return h("span", { class: `tag tag--order-${order.status}`, id }, text);
}

/** "王监察（纪检监察）" of a journal's `by`; the system's steps just 系统. */
export function byText(by) {
  return personText(by, t());
}

/** The case an alert is about, or "whole center" (center.silent has no case). */
export function caseText(alert) {
  return alert.case_id || t().wholeCenter;
}

export function alertLink(alert, text = alert.title) {
  return h("a", { href: hashFor("alert", { id: alert.alert_id }), class: "alert-link" }, text);
}

/** The links of a pager: previous, "page n of m" (m 0: not known), next. `to(n)` is the
 * address of page n. */
export function pagerLinks({ page, pages, hasNext, to, texts }) {
  const list = texts.list;
  const off = (text) => h("span", { class: "button is-disabled", "aria-disabled": "true" }, text);
  return [
    page > 1 ? h("a", { href: to(page - 1), rel: "prev", class: "button" }, `‹ ${list.prev}`) : off(`‹ ${list.prev}`),
    h("span", { class: "pager__page" }, list.page(page, pages)),
    hasNext ? h("a", { href: to(page + 1), rel: "next", class: "button" }, `${list.next} ›`) : off(`${list.next} ›`),
  ];
}

export function loading() {
  return h("p", { class: "loading", role: "status" }, t().loading);
}

/** A failure: what went wrong and, when `retry` is given, a button to try again. */
export function failure(error, retry) {
  return h(
    "div",
    { class: "failure", role: "alert" },
    h("p", {}, errorText(error, t())),
    retry ? h("button", { type: "button", class: "button", onclick: retry }, t().retry) : null,
  );
}

/** A screen's title; focused when the screen opens, so a screen reader reads it. */
export function viewTitle(text, ...rest) {
  return h("div", { class: "view__head" }, h("h1", { class: "view__title", tabindex: "-1" }, text), rest);
}

/** A section with a heading (h2) and its content. */
export function panel(title, ...content) {
  return h("section", { class: "panel" }, h("h2", { class: "panel__title" }, title), content);
}
