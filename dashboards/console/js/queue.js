/* The work queues (#/queue), the screen after signing in: what waits for this person,
 * how many, and the first ones, each a link to its detail (GET /api/queue).
 *
 * They are fetched again shortly after any live change (an alert's, or a supervision
 * order's step), and every half minute besides: an order becomes overdue with time
 * alone, with no message to say so. */

import * as api from "./api.js";
import * as desk from "./desk.js";
import { h } from "./dom.js";
import { excerpt, formatDue, formatTime } from "./format.js";
import { hashFor } from "./route.js";
import { t } from "./texts.js";
import {
  alertLink, byText, caseText, failure, loading, orderStatusTag, severityBadge, statusTag, viewTitle,
} from "./ui.js";

const POLL_MS = 30000;
const LIVE_DELAY_MS = 800;
const REQUIREMENT_EXCERPT = 60;
/** Where "see all" of each queue leads: the list it is the start of. */
const FULL_LIST = {
  alerts_to_acknowledge: hashFor("alerts", { params: { status: "open" } }),
  appeals_to_review: hashFor("alerts", { params: { status: "appealed" } }),
  orders_to_answer: hashFor("orders", { params: { status: "awaiting" } }),
  replies_to_check: hashFor("orders", { params: { status: "replied" } }),
  orders_overdue: hashFor("orders", { params: { overdue: "1" } }),
};

export function queueScreen(root) {
  const texts = t();
  const body = h("div", { class: "queues" }, loading());
  const role = desk.who().role;
  let aborter = null;
  let pollTimer = null;
  let liveTimer = null;

  root.replaceChildren(viewTitle(texts.queue.title), h("p", { class: "view__sub" }, texts.queue.intro[role] ?? ""), body);

  async function load() {
    clearTimeout(pollTimer);
    aborter?.abort();
    aborter = new AbortController();
    try {
      const queues = await api.get("api/queue", { signal: aborter.signal });
      body.replaceChildren(...queues.map(queueSection));
    } catch (error) {
      if (api.isAbort(error)) return;
      body.replaceChildren(failure(error, load));
    }
    pollTimer = setTimeout(load, POLL_MS);
  }

  function queueSection(queue) {
    const title = texts.queue.names[queue.key] ?? queue.key;
    const headingId = `queue-${queue.key}`;
    const more = FULL_LIST[queue.key] && queue.total > queue.items.length
      ? h("a", { href: FULL_LIST[queue.key], class: "queue__all" }, texts.queue.all(queue.total))
      : null;
    return h(
      "section",
      { class: "panel queue", dataset: { queue: queue.key, total: String(queue.total) }, "aria-labelledby": headingId },
      h(
        "h2",
        { class: "panel__title", id: headingId },
        title,
        h("span", { class: `count${queue.total ? " count--some" : ""}` }, String(queue.total)),
      ),
      queue.items.length
        ? h("ul", { class: "queue__items" }, queue.items.map((item) => queueItem(queue.key, item)))
        : h("p", { class: "muted" }, texts.queue.empty),
      more,
    );
  }

  function queueItem(key, item) {
    if (key === "appeals_decided") return decisionItem(item);
    if (key.startsWith("orders_") || key === "replies_to_check") return orderItem(item);
    return alertItem(item);
  }

  function alertItem(alert) {
    return h(
      "li",
      { class: "queue__item", dataset: { alertId: alert.alert_id } },
      severityBadge(alert.severity),
      alertLink(alert),
      statusTag(alert),
      h("span", { class: "muted" }, `${desk.centerName(alert.center_id)} · ${caseText(alert)} · ${formatTime(alert.raised_at)}`),
    );
  }

  function orderItem(order) {
    const orders = texts.orders;
    return h(
      "li",
      { class: "queue__item", dataset: { orderId: order.order_id } },
      h("a", { href: hashFor("order", { id: order.order_id }) }, order.order_id),
      h("span", {}, excerpt(order.requirement, REQUIREMENT_EXCERPT)),
      h("span", { class: "muted" }, `${desk.centerName(order.center_id)} · ${orders.due} ${formatDue(order.due_at, texts.time)}`),
      orderStatusTag(order),
      order.overdue ? h("span", { class: "tag tag--overdue" }, orders.overdue) : null,
    );
  }

  function decisionItem({ decision, alert }) {
    return h(
      "li",
      { class: "queue__item", dataset: { alertId: alert.alert_id, decision: decision.action } },
      severityBadge(alert.severity),
      alertLink(alert),
      statusTag(alert),
      h("strong", {}, texts.queue.decision[decision.action] ?? decision.action),
      h("span", { class: "muted" }, texts.queue.decidedBy(byText(decision.by), formatTime(decision.at))),
      decision.note ? h("blockquote", { class: "history__note" }, decision.note) : null,
    );
  }

  load();
  return {
    onLive() {
      clearTimeout(liveTimer);
      liveTimer = setTimeout(load, LIVE_DELAY_MS);
    },
    dispose() {
      clearTimeout(pollTimer);
      clearTimeout(liveTimer);
      aborter?.abort();
    },
  };
}
