/* The alert search (#/alerts?…): filters (free text, severity, status, rule, center,
 * period), a page of 50, the download of what is shown (CSV, Excel), and several alerts
 * acknowledged at once (签收), each with its own result.
 *
 * The filters and the page live in the hash: a reload, the Back button or a link sent to
 * a colleague give the same list. Live changes refresh the page of results in place,
 * keeping what is selected and where the focus is. */

import * as api from "./api.js";
import * as desk from "./desk.js";
import { h } from "./dom.js";
import { bulkOutcomes, errorText } from "./errors.js";
import { excerpt, formatTime } from "./format.js";
import {
  ALERT_STATUSES, DISPOSITIONS, FIRST_DATE, LAST_SINCE, LAST_UNTIL, PAGE_SIZE, SEVERITIES, alertQuery,
  filtersOnly,
  hashFor, periodProblem,
} from "./route.js";
import { t } from "./texts.js";
import { alertLink, caseText, failure, loading, pagerLinks, severityBadge, statusTag, viewTitle } from "./ui.js";

/** A live change is applied after this quiet time, so that a burst reloads once. */
const LIVE_DELAY_MS = 800;
const MESSAGE_EXCERPT = 90;

export function alertsScreen(root, route) {
  let filters = route.params;
  let page = Number(filters.page ?? 1);
  let items = [];
  let aborter = null;
  let liveTimer = null;
  let bulkRunning = false;
  const selected = new Set();

  const texts = t();
  const controls = {};
  const formError = h("p", { class: "form-error", role: "alert", hidden: true });
  const form = filterForm();
  const summary = h("p", { class: "results__summary", id: "results-summary", role: "status" });
  const downloads = h("div", { class: "results__downloads", role: "group", "aria-label": texts.list.exportLabel });
  const bulkButton = h("button", { type: "button", class: "button button--primary", id: "bulk-ack", disabled: true, onclick: acknowledgeSelected });
  const bulkProgress = h("span", { class: "results__progress", role: "status" });
  const bulkResults = h("div", { class: "bulk-results", id: "bulk-results", hidden: true });
  const results = h("div", { class: "results" });
  const pager = h("nav", { class: "pager", "aria-label": texts.list.page(page, 0) });

  // the button's label is written by showSelection(), otherwise only once a page of
  // results arrives: while loading, or when the search failed, it was an empty pill
  showSelection();
  root.replaceChildren(
    viewTitle(texts.list.title),
    form,
    h(
      "section",
      { class: "panel results-panel", "aria-labelledby": "results-summary" },
      h("div", { class: "results__bar" }, summary, h("div", { class: "results__bulk" }, bulkButton, bulkProgress), downloads),
      bulkResults,
      results,
      pager,
    ),
  );
  fillForm();
  load();

  // -- the filters ------------------------------------------------------------------------

  function filterForm() {
    const list = texts.list;
    const any = ["", texts.any];
    const select = (name, options) => h("select", { id: `filter-${name}`, name }, options.map(([value, label]) => h("option", { value }, label)));
    controls.q = h("input", { id: "filter-q", name: "q", type: "search", autocomplete: "off", "aria-describedby": "filter-q-hint" });
    controls.severity = select("severity", [any, ...SEVERITIES.map((s) => [s, texts.severity[s]])]);
    controls.status = select("status", [any, ...ALERT_STATUSES.map((s) => [s, texts.status[s]])]);
    controls.disposition = select("disposition", [any, ...DISPOSITIONS.map((d) => [d, texts.disposition[d]])]);
    controls.rule_id = select("rule_id", [any]);
    controls.center_id = select("center_id", [
      any,
      ...desk.centerList().map(([code, name]) => [code, code.length > 6 ? `\u3000${name}` : name]),
    ]);
    controls.below = h("input", { id: "filter-below", name: "below", type: "checkbox" });
    controls.since = h("input", { id: "filter-since", name: "since", type: "date", min: FIRST_DATE, max: LAST_SINCE });
    controls.until = h("input", { id: "filter-until", name: "until", type: "date", min: FIRST_DATE, max: LAST_UNTIL });
    desk.rules().then(
      (rules) => {
        const chosen = controls.rule_id.value || filters.rule_id || "";
        controls.rule_id.replaceChildren(
          h("option", { value: "" }, texts.any),
          ...[...rules.values()].map((rule) => h("option", { value: rule.id }, rule.title)),
        );
        keepOption(controls.rule_id, chosen);
      },
      () => {}, // the rule filter keeps what the address says; the rest works without
    );
    const labelled = (name, label, control, extra) =>
      h("div", { class: `field field--${name}` }, h("label", { for: control.id }, label), control, extra);
    const built = h(
      "form",
      { class: "panel filters", role: "search", "aria-label": list.filters, method: "post", novalidate: true },
      h(
        "div",
        { class: "filters__grid" },
        labelled("q", list.q, controls.q, h("p", { class: "field__hint", id: "filter-q-hint" }, list.qHint)),
        labelled("severity", list.severity, controls.severity),
        labelled("status", list.status, controls.status),
        labelled("disposition", list.disposition, controls.disposition),
        labelled("rule", list.rule, controls.rule_id),
        h(
          "div",
          { class: "field field--center" },
          h("label", { for: controls.center_id.id }, list.center),
          controls.center_id,
          h("label", { class: "check", for: controls.below.id }, controls.below, list.below),
        ),
        labelled("since", list.since, controls.since),
        labelled("until", list.until, controls.until),
        h(
          "div",
          { class: "filters__buttons" },
          h("button", { type: "submit", class: "button button--primary" }, list.search),
          h("button", { type: "button", class: "button", onclick: () => go({}) }, list.reset),
        ),
      ),
      formError,
    );
    built.addEventListener("submit", (event) => {
      event.preventDefault();
      search();
    });
    return built;
  }

  function fillForm() {
    controls.q.value = filters.q ?? "";
    controls.severity.value = filters.severity ?? "";
    controls.status.value = filters.status ?? "";
    controls.disposition.value = filters.disposition ?? "";
    keepOption(controls.rule_id, filters.rule_id ?? "");
    keepOption(controls.center_id, filters.center_id ?? "");
    controls.below.checked = filters.below !== "0";
    controls.since.value = filters.since ?? "";
    controls.until.value = filters.until ?? "";
    formError.hidden = true;
    for (const name of ["since", "until"]) controls[name].removeAttribute("aria-invalid");
  }

  function search() {
    const chosen = {
      q: controls.q.value.trim(),
      severity: controls.severity.value,
      status: controls.status.value,
      disposition: controls.disposition.value,
      rule_id: controls.rule_id.value,
      center_id: controls.center_id.value,
      below: controls.center_id.value && !controls.below.checked ? "0" : "",
      since: typedDate(controls.since),
      until: typedDate(controls.until),
    };
    // checked here as the API checks it: a date it refuses would only come back as a
    // general 422, and its 重试 would repeat it
    const problem = periodProblem(chosen, texts);
    for (const name of ["since", "until"]) controls[name].removeAttribute("aria-invalid");
    if (problem) {
      formError.textContent = problem.text;
      formError.hidden = false;
      controls[problem.field].setAttribute("aria-invalid", "true");
      controls[problem.field].focus();
      return;
    }
    formError.hidden = true; // the same search again reloads without passing fillForm()
    go(chosen);
  }

  /** To the list of `chosen` filters, first page; the same list again is reloaded. */
  function go(chosen) {
    const target = hashFor("alerts", { params: chosen });
    if (target === location.hash || (target === "#/alerts" && location.hash === "")) load();
    else location.hash = target;
  }

  // -- the results ------------------------------------------------------------------------

  async function load({ quiet = false } = {}) {
    aborter?.abort();
    aborter = new AbortController();
    const { signal } = aborter;
    if (!quiet) results.replaceChildren(loading());
    let answer;
    try {
      answer = await api.get(`api/alerts?${alertQuery(filters, { page })}`, { signal });
    } catch (error) {
      if (api.isAbort(error)) return;
      results.replaceChildren(failure(error, () => load()));
      summary.textContent = "";
      return;
    }
    items = answer.items ?? [];
    const open = new Set(items.filter((a) => a.status === "open").map((a) => a.alert_id));
    for (const id of [...selected]) if (!open.has(id)) selected.delete(id);
    showResults(answer);
  }

  function showResults(answer) {
    const list = texts.list;
    summary.textContent = list.total(answer.total, answer.total_exact);
    showDownloads();
    const focused = document.activeElement?.closest?.("[data-focus-key]")?.dataset.focusKey;
    results.replaceChildren(items.length ? table() : h("p", { class: "empty" }, list.empty));
    if (focused) results.querySelector(`[data-focus-key="${CSS.escape(focused)}"]`)?.focus();
    showPager(answer.total, answer.total_exact);
    showSelection();
  }

  function showDownloads() {
    const query = alertQuery(filters, { paged: false });
    const link = (format, label) => {
      query.set("format", format);
      return h("a", { class: "button", href: `${api.rootPath()}api/export/alerts?${query}`, download: "", dataset: { export: format } }, label);
    };
    downloads.replaceChildren(link("csv", texts.list.exportCsv), link("xlsx", texts.list.exportXlsx));
  }

  function table() {
    const columns = texts.list.columns;
    const openOnes = items.filter((a) => a.status === "open");
    const all = h("input", {
      type: "checkbox",
      id: "select-all",
      "aria-label": texts.list.selectAll,
      disabled: !openOnes.length || bulkRunning,
      dataset: { focusKey: "select-all" },
    });
    all.checked = openOnes.length > 0 && openOnes.every((a) => selected.has(a.alert_id));
    all.addEventListener("change", () => {
      for (const a of openOnes) {
        if (all.checked) selected.add(a.alert_id);
        else selected.delete(a.alert_id);
      }
      for (const box of results.querySelectorAll("tbody input[type=checkbox]:not(:disabled)")) box.checked = all.checked;
      showSelection();
    });
    return h(
      "table",
      { class: "table", "aria-describedby": "results-summary" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col", class: "table__check" }, all),
          [columns.severity, columns.alert, columns.center, columns.caseId, columns.raised, columns.status].map((name) =>
            h("th", { scope: "col" }, name)),
        ),
      ),
      h("tbody", {}, items.map(row)),
    );
  }

  function row(alert) {
    const list = texts.list;
    const open = alert.status === "open";
    const box = h("input", {
      type: "checkbox",
      "aria-label": list.selectRow(alert.title, caseText(alert)),
      title: open ? null : list.onlyOpen,
      disabled: !open || bulkRunning,
      dataset: { focusKey: `select:${alert.alert_id}` },
    });
    box.checked = selected.has(alert.alert_id);
    box.addEventListener("change", () => {
      if (box.checked) selected.add(alert.alert_id);
      else selected.delete(alert.alert_id);
      showSelection();
    });
    const link = alertLink(alert);
    link.dataset.focusKey = `open:${alert.alert_id}`;
    return h(
      "tr",
      { dataset: { alertId: alert.alert_id, status: alert.status, severity: alert.severity } },
      h("td", { class: "table__check" }, box),
      h("td", {}, severityBadge(alert.severity)),
      h("td", { class: "table__alert" }, link, h("span", { class: "table__message muted" }, excerpt(alert.message, MESSAGE_EXCERPT))),
      h("td", {}, desk.centerName(alert.center_id)),
      h("td", { class: "table__case" }, caseText(alert)),
      h("td", { class: "table__time" }, formatTime(alert.raised_at)),
      h("td", {}, statusTag(alert)),
    );
  }

  function showPager(total, exact) {
    const list = texts.list;
    const pages = exact ? Math.max(1, Math.ceil(total / PAGE_SIZE)) : 0;
    const base = filtersOnly(filters);
    const to = (n) => hashFor("alerts", { params: { ...base, page: n > 1 ? n : "" } });
    const hasNext = exact ? page < pages : items.length === PAGE_SIZE;
    pager.setAttribute("aria-label", list.page(page, pages));
    pager.replaceChildren(...pagerLinks({ page, pages, hasNext, to, texts }));
  }

  function showSelection() {
    bulkButton.textContent = texts.list.bulkAck(selected.size);
    bulkButton.disabled = bulkRunning || selected.size === 0;
  }

  // -- several acknowledged at once ----------------------------------------------------------

  /** 签收 the selected alerts in one request (the service checks each as a single 签收
   * and answers for each once it is in the journal), then say per alert how it went and
   * show the page as it now stands. */
  async function acknowledgeSelected() {
    const chosen = items.filter((a) => selected.has(a.alert_id));
    if (!chosen.length || bulkRunning) return;
    bulkRunning = true;
    showSelection();
    for (const box of results.querySelectorAll("input[type=checkbox]")) box.disabled = true;
    bulkProgress.textContent = texts.list.bulkRunning(chosen.length);
    let outcomes;
    try {
      const answer = await api.post("api/acknowledgements", { alert_ids: chosen.map((a) => a.alert_id) });
      outcomes = bulkOutcomes(chosen, answer.results, t());
      for (const one of outcomes) if (one.ok) selected.delete(one.alert.alert_id);
    } catch (error) {
      const text = errorText(error, t());
      outcomes = chosen.map((alert) => ({ alert, ok: false, text }));
    }
    bulkRunning = false;
    bulkProgress.textContent = "";
    showBulkResults(outcomes);
    await load({ quiet: true });
    bulkResults.focus();
  }

  function showBulkResults(outcomes) {
    const ok = outcomes.filter((one) => one.ok).length;
    const done = texts.list.bulkDone(ok, outcomes.length - ok);
    bulkResults.replaceChildren(
      h("p", { class: "bulk-results__summary" }, done),
      h(
        "ul",
        {},
        outcomes.map(({ alert, ok: fine, text }) =>
          h(
            "li",
            { dataset: { alertId: alert.alert_id, result: fine ? "ok" : "failed" }, class: fine ? "is-ok" : "is-failed" },
            `${alert.title}（${caseText(alert)}）：`,
            h("strong", {}, text),
          )),
      ),
    );
    bulkResults.tabIndex = -1;
    bulkResults.setAttribute("role", "status");
    bulkResults.hidden = false;
    desk.announce(done);
  }

  return {
    /** The hash changed but the screen is the same: new filters or page. */
    update(next) {
      filters = next.params;
      page = Number(filters.page ?? 1);
      selected.clear();
      bulkResults.hidden = true;
      fillForm();
      load();
    },
    /** A new alert (it may belong on this page), or a change of one shown: reload. */
    onLive(message) {
      if (bulkRunning || message.type === "order") return;
      const shown = items.some((a) => a.alert_id === message.alert.alert_id);
      if (message.type === "change" && !shown) return;
      clearTimeout(liveTimer);
      liveTimer = setTimeout(() => load({ quiet: true }), LIVE_DELAY_MS);
    },
    dispose() {
      clearTimeout(liveTimer);
      aborter?.abort();
    },
  };
}

/** A date input's value; a date typed in part (the browser's value is then "") is kept
 * as what it is, not a date, so that the form says so rather than search without it. */
function typedDate(input) {
  return input.value || (input.validity?.badInput ? "?" : "");
}

/** Select `value` in `select`, adding it as an option when it is not one yet (a rule or
 * center named in the address before the lists arrived). */
function keepOption(select, value) {
  if (value && ![...select.options].some((option) => option.value === value)) {
    select.append(h("option", { value }, value));
  }
  select.value = value;
}
