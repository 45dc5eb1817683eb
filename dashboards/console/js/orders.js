/* Supervision orders (督办单): the list (#/orders?status=…&overdue=1&page=2), the soonest
 * due first, a page of ORDER_PAGE_SIZE at a time, and one order (#/orders/<id>) with every step (who, when, what) and the step the
 * person may take: a director replies (整改情况); an inspector closes (办结) or sends the
 * reply back (退回, a new reply is due in as many working days).
 *
 * Each step of an order comes over the live socket (`{type: "order", order}`): the list
 * is fetched again shortly after one, and an open order when the step is its own (or,
 * while a form is open, the person is told and refreshes when ready). */

import * as api from "./api.js";
import * as desk from "./desk.js";
import { facts, h } from "./dom.js";
import { excerpt, formatDue, formatTime } from "./format.js";
import { stepForm } from "./forms.js";
import { orderActions } from "./permissions.js";
import { ORDER_GROUPS, ORDER_PAGE_SIZE, ORDER_STATUSES, hashFor, orderQuery } from "./route.js";
import { t } from "./texts.js";
import { byText, failure, loading, orderStatusTag, pagerLinks, panel, viewTitle } from "./ui.js";

const NOTE_MAX = 2000;
const REQUIREMENT_EXCERPT = 40;
const LIVE_DELAY_MS = 800;

export function ordersScreen(root, route) {
  const texts = t();
  const orders = texts.orders;
  let filters = route.params;
  let aborter = null;
  let liveTimer = null;
  const status = h(
    "select",
    { id: "order-status", name: "status" },
    h("option", { value: "" }, texts.any),
    Object.keys(ORDER_GROUPS).map((value) => h("option", { value }, orders.groups[value])),
    ORDER_STATUSES.map((value) => h("option", { value }, orders.statuses[value])),
  );
  const overdue = h("input", { id: "order-overdue", name: "overdue", type: "checkbox" });
  const form = h(
    "form",
    { class: "panel filters filters--inline", role: "search", "aria-label": texts.list.filters, method: "post", novalidate: true },
    h("div", { class: "field" }, h("label", { for: status.id }, orders.status), status),
    h("label", { class: "check", for: overdue.id }, overdue, orders.overdueOnly),
    h("button", { type: "submit", class: "button button--primary" }, texts.list.search),
  );
  const results = h("div", { class: "results" });
  const summary = h("p", { class: "results__summary", role: "status" });
  const pager = h("nav", { class: "pager", "aria-label": texts.list.page(1, 0) });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const target = hashFor("orders", { params: { status: status.value, overdue: overdue.checked ? "1" : "" } });
    if (target === location.hash) load();
    else location.hash = target;
  });
  root.replaceChildren(viewTitle(orders.title), form, h("section", { class: "panel results-panel" }, summary, results, pager));

  async function load() {
    status.value = filters.status ?? "";
    overdue.checked = filters.overdue === "1";
    aborter?.abort();
    aborter = new AbortController();
    results.replaceChildren(loading());
    try {
      const { items: found, total } = await api.getPage(`api/orders?${orderQuery(filters)}`, { signal: aborter.signal });
      const page = Number.parseInt(filters.page ?? "1", 10) || 1;
      summary.textContent = total === null ? "" : orders.total(total);
      results.replaceChildren(found.length ? table(found) : h("p", { class: "empty" }, orders.empty));
      showPager(page, total, found.length);
    } catch (error) {
      if (api.isAbort(error)) return;
      results.replaceChildren(failure(error, load));
    }
  }

  function showPager(page, total, shown) {
    const pages = total === null ? 0 : Math.max(1, Math.ceil(total / ORDER_PAGE_SIZE));
    const hasNext = total === null ? shown === ORDER_PAGE_SIZE : page < pages;
    const base = { status: filters.status ?? "", overdue: filters.overdue ?? "" };
    const to = (n) => hashFor("orders", { params: { ...base, page: n > 1 ? n : "" } });
    pager.setAttribute("aria-label", texts.list.page(page, pages));
    pager.hidden = page === 1 && !hasNext;
    pager.replaceChildren(...pagerLinks({ page, pages, hasNext, to, texts }));
  }

  function table(found) {
    const columns = orders.columns;
    return h(
      "table",
      { class: "table" },
      h("thead", {}, h("tr", {}, [columns.id, columns.center, columns.caseId, columns.requirement, columns.due, columns.status, columns.round].map((name) => h("th", { scope: "col" }, name)))),
      h(
        "tbody",
        {},
        found.map((order) =>
          h(
            "tr",
            { dataset: { orderId: order.order_id, status: order.status } },
            h("td", {}, h("a", { href: hashFor("order", { id: order.order_id }) }, order.order_id)),
            h("td", {}, desk.centerName(order.center_id)),
            h("td", { class: "table__case" }, order.case_id),
            h("td", {}, excerpt(order.requirement, REQUIREMENT_EXCERPT)),
            h("td", { class: "table__time" }, formatDue(order.due_at, texts.time), order.overdue ? h("span", { class: "tag tag--overdue" }, orders.overdue) : null),
            h("td", {}, orderStatusTag(order)),
            h("td", {}, String(order.round)),
          )),
      ),
    );
  }

  load();
  return {
    update(next) {
      filters = next.params;
      load();
    },
    onLive(message) {
      if (message.type !== "order") return;
      clearTimeout(liveTimer);
      liveTimer = setTimeout(load, LIVE_DELAY_MS);
    },
    dispose() {
      clearTimeout(liveTimer);
      aborter?.abort();
    },
  };
}

export function orderScreen(root, route) {
  const orderId = route.id;
  const aborter = new AbortController();
  let order = null;
  let openStep = null;
  let openForm = null;

  async function load({ quiet = false } = {}) {
    if (!quiet) root.replaceChildren(viewTitle(t().orders.orderTitle(orderId)), loading());
    try {
      order = await api.get(`api/orders/${encodeURIComponent(orderId)}`, { signal: aborter.signal });
    } catch (error) {
      if (api.isAbort(error)) return;
      root.replaceChildren(viewTitle(t().orders.orderTitle(orderId)), error.status === 404 ? notFound() : failure(error, load));
      return;
    }
    render();
  }

  function notFound() {
    return h(
      "div",
      { class: "failure", role: "alert", dataset: { missing: "order" } },
      h("p", {}, t().orders.notFound),
      h("a", { href: hashFor("orders"), class: "button" }, t().orders.back),
    );
  }

  function render() {
    const texts = t();
    const orders = texts.orders;
    const issuer = order.issued_by ? `${byText(order.issued_by)} · ${formatTime(order.issued_at)}` : formatTime(order.issued_at);
    root.replaceChildren(
      h(
        "article",
        { class: "order-detail", dataset: { orderId: order.order_id, status: order.status } },
        viewTitle(
          orders.orderTitle(order.order_id),
          orderStatusTag(order, "order-status-text"),
          order.overdue ? h("span", { class: "tag tag--overdue" }, orders.overdue) : null,
        ),
        h("p", { class: "view__back" }, h("a", { href: hashFor("orders") }, `‹ ${orders.back}`)),
        stepsPanel(),
        h(
          "div",
          { class: "columns" },
          h(
            "div",
            { class: "column" },
            panel(
              orders.requirement,
              h("p", { class: "message" }, order.requirement),
              facts([
                [texts.detail.center, desk.centerName(order.center_id)],
                [texts.detail.caseId, order.case_id],
                [orders.alert, order.alert_id ? alertLinkOf(order.alert_id) : null],
                [orders.daysLabel, orders.days(order.days)],
                [orders.issued, issuer],
                [orders.due, h("span", { id: "order-due" }, formatDue(order.due_at, texts.time))],
                [orders.roundLabel, orders.round(order.round)],
              ]),
            ),
          ),
          h("div", { class: "column" }, historyPanel()),
        ),
      ),
    );
  }

  function historyPanel() {
    const texts = t();
    const orders = texts.orders;
    return panel(
      orders.steps,
      h(
        "ol",
        { class: "history", id: "order-steps" },
        order.history.map((step) =>
          h(
            "li",
            { class: "history__item", dataset: { action: step.action } },
            h("time", { class: "history__time", datetime: step.at }, formatTime(step.at)),
            h("span", { class: "history__who" }, byText(step.by)),
            h("span", { class: "history__what" }, orders.step[step.action] ?? step.action),
            step.due_at ? h("p", { class: "history__line" }, orders.stepDue(formatDue(step.due_at, texts.time))) : null,
            step.note ? h("blockquote", { class: "history__note" }, step.note) : null,
          )),
      ),
    );
  }

  /** The order's alert by its rule's title (办件超期), its id in the tooltip: the title
   * once the rules are read, the id until then (or when they cannot be). */
  function alertLinkOf(alertId) {
    const link = h("a", { href: hashFor("alert", { id: alertId }), title: alertId }, alertId);
    desk.rules().then(
      (rules) => {
        const rule = rules.get(alertId.split(":")[0]);
        if (rule?.title) link.textContent = rule.title;
      },
      () => {},
    );
    return link;
  }

  function stepsPanel() {
    const texts = t();
    const steps = orderActions(desk.who().role, order.status);
    if (!steps.includes(openStep)) openStep = null;
    openForm = openStep ? stepFormFor(openStep) : null;
    return h(
      "section",
      { class: "panel actions", "aria-labelledby": "actions-title" },
      h("h2", { class: "panel__title", id: "actions-title", tabindex: "-1" }, texts.detail.actions),
      steps.length
        ? h(
          "div",
          { class: "actions__buttons" },
          steps.map((step) =>
            h(
              "button",
              {
                type: "button",
                class: `button${step === openStep ? " is-active" : ""}`,
                dataset: { action: step },
                "aria-expanded": String(step === openStep),
                "aria-controls": "action-form",
                onclick: () => toggle(step),
              },
              texts.orders[step],
            )),
        )
        : h("p", { class: "muted" }, texts.detail.noActions),
      h("div", { class: "actions__form", id: "action-form" }, openForm?.form),
    );
  }

  function toggle(step) {
    openStep = openStep === step ? null : step;
    render();
    if (openForm) openForm.focus();
    else root.querySelector(`[data-action="${step}"]`)?.focus();
  }

  function stepFormFor(step) {
    const texts = t();
    const orders = texts.orders;
    const note = {
      reply: { label: orders.replyNote, required: texts.form.needReply },
      close: { label: orders.closeNote },
      return: { label: orders.returnNote, required: texts.form.needReturnNote },
      cancel: { label: orders.cancelNote, required: texts.form.needCancelNote },
    }[step];
    return stepForm({
      name: step,
      title: orders[step],
      submit: texts.form.submit[step],
      fields: [{ name: "note", kind: "textarea", maxLength: NOTE_MAX, ...note }],
      send: (body) => api.post(`api/orders/${encodeURIComponent(order.order_id)}/${step}`, body),
      done: (answer) => {
        order = answer;
        openStep = null;
        render();
        desk.announce(texts.done[step]);
        document.getElementById("actions-title")?.focus();
      },
      cancel: () => {
        openStep = null;
        render();
        root.querySelector(`[data-action="${step}"]`)?.focus();
      },
    });
  }

  /** Another person's step came while a form is open: say so, and let the person
   * refresh when ready. */
  function showChanged() {
    if (root.querySelector(".changed")) return;
    const texts = t();
    root.querySelector(".order-detail")?.prepend(
      h(
        "div",
        { class: "changed", role: "status" },
        texts.orders.changed,
        " ",
        h("button", { type: "button", class: "button", onclick: () => { openStep = null; load({ quiet: true }); } }, texts.refresh),
      ),
    );
  }

  load();
  return {
    /** A step of this order (another person's, or this one's read back): show it. */
    onLive(message) {
      if (message.type !== "order" || message.order.order_id !== orderId || !order) return;
      if (order.history.some((step) => step.seq === message.seq)) return; // shown already
      if (openStep) showChanged();
      else load({ quiet: true });
    },
    dispose() {
      aborter.abort();
    },
  };
}
