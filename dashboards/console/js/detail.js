/* One alert (#/alert/<id>): what was found and under which rule, the case's time limits
 * and its masked events, who did what to the alert and when, its notifications and their
 * outcomes, the case's other alerts, the supervision orders on it, and the steps the
 * person's role and the alert's status allow, each with the small form it needs.
 *
 * Data: GET /api/alerts/{id} (the alert and its history), then together GET
 * /api/cases/{case_id} (time limits, timeline, the case's alerts), GET
 * /api/orders?case_id= (every order of the case) and the rules. A live change of this alert (or of its case's)
 * reloads it, unless a form is open: then the page says so and offers to refresh, so
 * that nothing typed is lost. */

import * as api from "./api.js";
import * as desk from "./desk.js";
import { latestAttempts } from "./deliveries.js";
import { facts, h } from "./dom.js";
import {
  formatDeadline, formatDue, formatTime, payloadText, shownThresholds, thresholdValue,
} from "./format.js";
import { stepForm } from "./forms.js";
import { actionPath, alertActions, dispositionsFor, mayIssueOrder } from "./permissions.js";
import { hashFor } from "./route.js";
import { t } from "./texts.js";
import {
  alertLink, byText, caseText, failure, loading, orderStatusTag, panel, severityBadge, statusTag,
  viewTitle,
} from "./ui.js";

/** The longest note, reason or requirement the service keeps. */
const NOTE_MAX = 2000;
const PERSON_MAX = 100;
const MEASURE_MAX = 500;
/** History entries that are the notifier's, shown apart as "notifications". */
const NOTIFIER = new Set(["notify", "escalate"]);

export function alertScreen(root, route) {
  const alertId = route.id;
  const aborter = new AbortController();
  const signal = aborter.signal;
  let alert = null;
  let kase = null; // the case (null: unknown or out of scope)
  let orders = [];
  let rules = new Map();
  let openAction = null;
  let openForm = null;

  async function load({ quiet = false } = {}) {
    if (!quiet) root.replaceChildren(viewTitle(t().navAlerts), loading());
    try {
      alert = await api.get(api.alertPath(alertId), { signal });
    } catch (error) {
      if (api.isAbort(error)) return;
      root.replaceChildren(
        viewTitle(t().navAlerts),
        error.status === 404 ? notFound() : failure(error, () => load()),
      );
      return;
    }
    const [found, listed, known] = await Promise.allSettled([
      alert.case_id ? api.get(`api/cases/${encodeURIComponent(alert.case_id)}`, { signal }) : null,
      // the orders of the whole case: on this alert, on the case, on its other alerts
      api.get(`api/orders?${new URLSearchParams(alert.case_id ? { case_id: alert.case_id } : { alert_id: alertId })}`, { signal }),
      desk.rules(),
    ]);
    if (signal.aborted) return;
    kase = found.status === "fulfilled" ? found.value : null;
    orders = listed.status === "fulfilled" ? listed.value ?? [] : [];
    rules = known.status === "fulfilled" ? known.value : new Map();
    render();
  }

  function notFound() {
    return h(
      "div",
      { class: "failure", role: "alert", dataset: { missing: "alert" } },
      h("p", {}, t().detail.notFound),
      h("a", { href: hashFor("alerts"), class: "button" }, t().detail.back),
    );
  }

  function render() {
    const texts = t();
    const where = [desk.centerName(alert.center_id), caseText(alert), formatTime(alert.raised_at)];
    root.replaceChildren(
      h(
        "article",
        { class: "alert-detail", dataset: { alertId: alert.alert_id, status: alert.status } },
        viewTitle(alert.title, severityBadge(alert.severity), statusTag(alert)),
        h("p", { class: "view__sub" }, where.join(" · ")),
        h("p", { class: "view__back" }, h("a", { href: hashFor("alerts") }, `‹ ${texts.detail.back}`)),
        actionsPanel(),
        h(
          "div",
          { class: "columns" },
          h("div", { class: "column" }, messagePanel(), rulePanel(), limitsPanel(), sameCasePanel(), ordersPanel()),
          h("div", { class: "column" }, timelinePanel(), historyPanel(), notificationsPanel()),
        ),
      ),
    );
  }

  // -- what the person may do ------------------------------------------------------------

  function actionsPanel() {
    const texts = t();
    const role = desk.who().role;
    const rejected = (alert.history ?? []).some((change) => change.action === "reject_appeal");
    const actions = alertActions(role, alert.status, alert.severity, rejected);
    if (mayIssueOrder(role, alert.status)) actions.push("issue");
    const slot = h("div", { class: "actions__form", id: "action-form" });
    const buttons = actions.map((action) =>
      h(
        "button",
        {
          type: "button",
          class: `button${action === openAction ? " is-active" : ""}`,
          dataset: { action },
          "aria-expanded": String(action === openAction),
          "aria-controls": "action-form",
          onclick: () => toggle(action),
        },
        texts.action[action],
      ),
    );
    if (openAction && actions.includes(openAction)) {
      openForm = actionForm(openAction);
      slot.append(openForm.form);
    } else {
      openAction = null;
      openForm = null;
    }
    return h(
      "section",
      { class: "panel actions", "aria-labelledby": "actions-title" },
      h("h2", { class: "panel__title", id: "actions-title", tabindex: "-1" }, texts.detail.actions),
      buttons.length
        ? h("div", { class: "actions__buttons" }, buttons)
        : h("p", { class: "muted" }, texts.detail.noActions),
      slot,
    );
  }

  function toggle(action) {
    openAction = openAction === action ? null : action;
    render();
    if (openForm) openForm.focus();
    else root.querySelector(`[data-action="${action}"]`)?.focus();
  }

  function closeForm() {
    const action = openAction;
    openAction = null;
    render();
    root.querySelector(`[data-action="${action}"]`)?.focus();
  }

  /** After a step: the alert as the service now has it, and the confirmation. */
  function changed(answer, action) {
    alert = answer;
    openAction = null;
    render();
    desk.announce(t().done[action]);
    document.getElementById("actions-title")?.focus();
  }

  function actionForm(action) {
    const texts = t();
    const form = texts.form;
    const note = (label, required) => ({
      name: "note", label, kind: "textarea", required, maxLength: NOTE_MAX,
    });
    const send = (body) => api.post(api.alertPath(alert.alert_id, actionPath(action)), body);
    const common = {
      name: action,
      title: texts.action[action],
      submit: form.submit[action],
      send,
      done: (answer) => changed(answer, action),
      cancel: closeForm,
    };
    if (action === "acknowledge") return stepForm({ ...common, fields: [note(form.note)] });
    if (action === "resolve") {
      const accountable = (values) => values.disposition === "held_accountable";
      return stepForm({
        ...common,
        fields: [
          {
            name: "disposition",
            label: form.disposition,
            kind: "select",
            options: [
              ["", form.choose],
              ...dispositionsFor(desk.who().role).map((key) => [key, texts.disposition[key]]),
            ],
            required: form.needDisposition,
          },
          { name: "person", label: form.person, required: form.needPerson, maxLength: PERSON_MAX, shownWhen: accountable },
          { name: "measure", label: form.measure, kind: "textarea", required: form.needMeasure, maxLength: MEASURE_MAX, shownWhen: accountable },
          note(form.resolveNote),
        ],
      });
    }
    if (action === "appeal") {
      return stepForm({
        ...common,
        fields: [{ name: "reason", label: form.reason, kind: "textarea", required: form.needReason, maxLength: NOTE_MAX }],
      });
    }
    if (action === "accept_appeal") return stepForm({ ...common, fields: [note(form.acceptNote)] });
    if (action === "reject_appeal") return stepForm({ ...common, fields: [note(form.rejectNote, form.needRejectNote)] });
    return issueForm(common);
  }

  /** 督办: on this alert, or on its whole case (the order then names the case only). */
  function issueForm(common) {
    const texts = t();
    const subject = alert.case_id
      ? [{
        name: "subject", label: texts.form.subject, kind: "select", value: "alert",
        options: [["alert", texts.form.subjectAlert], ["case", texts.form.subjectCase(alert.case_id)]],
      }]
      : [];
    return stepForm({
      ...common,
      fields: [
        ...subject,
        { name: "requirement", label: texts.form.requirement, kind: "textarea", required: texts.form.needRequirement, maxLength: NOTE_MAX },
        {
          name: "days", label: texts.form.days, kind: "number", value: "5", min: 1, max: 60,
          required: texts.form.badDays, invalid: texts.form.badDays, hint: texts.form.daysHint,
        },
      ],
      send: ({ subject: about, requirement, days }) =>
        api.post("api/orders", {
          ...(about === "case" ? { case_id: alert.case_id } : { alert_id: alert.alert_id }),
          requirement,
          days: Number(days),
        }),
      done: (order) => {
        desk.announceAfterMove(texts.orders.issuedDone(order.order_id));
        location.hash = hashFor("order", { id: order.order_id });
      },
    });
  }

  // -- what was found ----------------------------------------------------------------------

  function messagePanel() {
    const texts = t();
    const detail = texts.detail;
    const notes = [];
    if (alert.case_concluded_at) {
      notes.push(detail.concludedLate(formatTime(alert.case_concluded_at), alert.late_working_days));
    }
    if (alert.status === "withdrawn" && alert.resolution?.reason) notes.push(alert.resolution.reason);
    return panel(
      detail.message,
      h("p", { class: "message" }, alert.message),
      notes.map((text) => h("p", { class: "note" }, text)),
      facts([
        [detail.alertId, h("code", {}, alert.alert_id)],
        [detail.rule, h("code", {}, alert.rule_id)],
        [detail.center, desk.centerName(alert.center_id)],
        [detail.caseId, caseText(alert)],
        [detail.raisedAt, formatTime(alert.raised_at)],
      ]),
    );
  }

  function rulePanel() {
    const texts = t();
    const rule = rules.get(alert.rule_id);
    if (!rule) return panel(texts.detail.ruleSection, h("p", {}, h("code", {}, alert.rule_id)));
    const thresholds = shownThresholds(rule.thresholds);
    return panel(
      texts.detail.ruleSection,
      h("p", { class: "rule__title", dataset: { rule: rule.id } }, severityBadge(rule.severity), " ", rule.title),
      facts([
        [texts.detail.basis, rule.basis],
        [
          texts.detail.thresholds,
          thresholds.length
            ? h(
              "ul",
              { class: "thresholds" },
              thresholds.map(([key, value]) =>
                h("li", {}, `${texts.threshold[key] ?? key}：${thresholdValue(key, value, texts)}`)),
            )
            : texts.none,
        ],
      ]),
    );
  }

  function limitsPanel() {
    const texts = t();
    const detail = texts.detail;
    if (!kase) return panel(detail.deadlines, h("p", { class: "muted" }, detail.noCase));
    const concluded = kase.concluded_at
      ? `${formatTime(kase.concluded_at)}${kase.on_time === null || kase.on_time === undefined ? "" : `（${detail.onTime[kase.on_time]}）`}`
      : null;
    const handler = [kase.department, kase.window_id, kase.staff_id].filter(Boolean).join(" · ");
    return panel(
      detail.deadlines,
      facts(
        [
          [detail.promised, kase.deadline ? formatDeadline(kase.deadline) : null],
          [detail.statutory, kase.statutory_deadline ? formatDeadline(kase.statutory_deadline) : null],
          [detail.accepted, kase.accepted_at ? formatTime(kase.accepted_at) : null],
          [detail.concluded, concluded],
          [detail.caseStatus, kase.status ? texts.caseStatus[kase.status] ?? kase.status : null],
          [detail.handledBy, handler || null],
        ],
        "facts facts--limits",
      ),
    );
  }

  function sameCasePanel() {
    const others = (kase?.alerts ?? []).filter((other) => other.alert_id !== alert.alert_id);
    if (!others.length) return null;
    return panel(
      t().detail.sameCase,
      h(
        "ul",
        { class: "links" },
        others.map((other) =>
          h("li", { dataset: { alertId: other.alert_id } }, severityBadge(other.severity), " ", alertLink(other), " ", statusTag(other))),
      ),
    );
  }

  function ordersPanel() {
    const texts = t();
    return panel(
      texts.detail.orders,
      orders.length
        ? h(
          "ul",
          { class: "links" },
          orders.map((order) =>
            h(
              "li",
              { dataset: { orderId: order.order_id } },
              h("a", { href: hashFor("order", { id: order.order_id }) }, order.order_id),
              " ",
              orderStatusTag(order),
              " ",
              h("span", { class: "muted" }, `${texts.orders.due} ${formatDue(order.due_at, texts.time)}`),
              order.overdue ? h("span", { class: "tag tag--overdue" }, texts.orders.overdue) : null,
            )),
        )
        : h("p", { class: "muted" }, texts.detail.noOrders),
    );
  }

  // -- the case's events, the alert's history ----------------------------------------------

  function timelinePanel() {
    const texts = t();
    const events = kase?.timeline ?? [];
    if (!events.length) return panel(texts.detail.timeline, h("p", { class: "muted" }, texts.detail.noCase));
    return panel(
      texts.detail.timeline,
      h(
        "ol",
        { class: "timeline", dataset: { count: String(events.length) } },
        events.map((event) =>
          h(
            "li",
            { class: "timeline__item", dataset: { type: event.type } },
            h("time", { class: "timeline__time", datetime: event.occurred_at }, formatTime(event.occurred_at)),
            h("span", { class: "timeline__what" }, texts.eventType[event.type] ?? event.type),
            h("span", { class: "timeline__who muted" }, [event.department, event.window_id, event.staff_id].filter(Boolean).join(" · ")),
            eventDetails(event),
          )),
      ),
    );
  }

  function eventDetails(event) {
    const texts = t();
    const lines = Object.entries(event.payload ?? {}).map(
      ([key, value]) => `${texts.payload[key] ?? key}：${payloadText(event.type, key, value, texts, kase?.step_names ?? {})}`,
    );
    const applicant = Object.values(event.applicant ?? {}).filter(Boolean).join(" ");
    if (applicant) lines.push(`${texts.detail.applicant}：${applicant}`);
    return lines.length ? h("ul", { class: "timeline__details" }, lines.map((line) => h("li", {}, line))) : null;
  }

  function historyPanel() {
    const texts = t();
    const changes = (alert.history ?? []).filter((change) => !NOTIFIER.has(change.action));
    return panel(
      texts.detail.history,
      changes.length
        ? h("ol", { class: "history" }, changes.map(historyItem))
        : h("p", { class: "muted" }, texts.detail.noHistory),
    );
  }

  function historyItem(change) {
    const texts = t();
    const lines = [];
    if (change.disposition) lines.push(`${texts.form.disposition}：${texts.disposition[change.disposition] ?? change.disposition}`);
    if (change.accountability) {
      lines.push(texts.detail.accountability(change.accountability.person, change.accountability.measure));
    }
    if (change.action === "case_closed" && change.reason) lines.push(texts.closedReason[change.reason] ?? change.reason);
    if (change.action === "case_concluded_late") {
      lines.push(texts.detail.concludedLate(formatTime(change.case_concluded_at), change.late_working_days));
    }
    const said = [change.reason && change.action !== "case_closed" ? change.reason : null, change.note].filter(Boolean);
    return h(
      "li",
      { class: "history__item", dataset: { action: change.action } },
      h("time", { class: "history__time", datetime: change.at ?? "" }, formatTime(change.at)),
      h("span", { class: "history__who" }, byText(change.by)),
      h("span", { class: "history__what" }, texts.historyAction[change.action] ?? change.action),
      change.superseded_by
        ? h("p", { class: "history__line" }, alertLink({ alert_id: change.superseded_by }, texts.detail.superseded(change.superseded_by)))
        : null,
      lines.map((line) => h("p", { class: "history__line" }, line)),
      said.map((text) => h("blockquote", { class: "history__note" }, text)),
    );
  }

  function notificationsPanel() {
    const texts = t();
    const sent = latestAttempts((alert.history ?? []).filter((change) => NOTIFIER.has(change.action)));
    return panel(
      texts.detail.notifications,
      sent.length
        ? h("ol", { class: "history" }, sent.map(notificationItem))
        : h("p", { class: "muted" }, texts.detail.noNotifications),
    );
  }

  function notificationItem(change) {
    const texts = t();
    const detail = texts.detail;
    if (change.action === "escalate") {
      return h(
        "li",
        { class: "history__item", dataset: { action: "escalate" } },
        h("time", { class: "history__time" }, formatTime(change.at)),
        h("span", { class: "history__what" }, detail.escalated(change.level, desk.centerName(change.to_center), change.recipient_name)),
      );
    }
    const outcome = texts.outcome[change.outcome] ?? change.outcome;
    const extra = [
      change.attempt ? detail.attempt(change.attempt) : null,
      change.next_at ? detail.nextAttempt(formatTime(change.next_at)) : null,
      change.dead ? detail.gaveUp : null,
    ].filter(Boolean);
    return h(
      "li",
      { class: "history__item", dataset: { action: "notify", outcome: change.outcome ?? "" } },
      h("time", { class: "history__time" }, formatTime(change.at)),
      h(
        "span",
        { class: `history__what outcome outcome--${change.outcome}` },
        detail.delivery(texts.channel[change.channel] ?? change.channel, change.recipient_name ?? "", outcome),
      ),
      extra.length ? h("span", { class: "muted" }, extra.join("，")) : null,
      // the channel's own words, in a language of its own: there for whoever asks
      change.error
        ? h("details", { class: "history__line outcome--failed" }, h("summary", {}, detail.technical), change.error)
        : null,
    );
  }

  load();
  return {
    /** A live message: reload when it is about this alert or its case (an order on
     * either among them). */
    onLive(message) {
      if (!alert) return;
      if (message.type === "order") {
        const order = message.order;
        const aboutThis = order.alert_id === alert.alert_id || (alert.case_id && order.case_id === alert.case_id)
          || orders.some((known) => known.order_id === order.order_id);
        if (!aboutThis) return;
        if (openAction) showChanged();
        else load({ quiet: true });
        return;
      }
      const changedAlert = message.alert;
      const ours = changedAlert.alert_id === alert.alert_id;
      const sameCase = alert.case_id && changedAlert.case_id === alert.case_id;
      if (!ours && !sameCase) return;
      if (ours && changedAlert.updated_seq <= alert.updated_seq) return; // already shown
      if (openAction) showChanged();
      else load({ quiet: true });
    },
    dispose() {
      aborter.abort();
    },
  };

  /** A change came while a form is open: say so, and let the person refresh when ready. */
  function showChanged() {
    if (root.querySelector(".changed")) return;
    const texts = t();
    root.querySelector(".alert-detail")?.prepend(
      h(
        "div",
        { class: "changed", role: "status" },
        texts.detail.changed,
        " ",
        h("button", { type: "button", class: "button", onclick: () => { openAction = null; load({ quiet: true }); } }, texts.refresh),
      ),
    );
  }
}
