/* The assessment (#/assessment, 绩效考核): each unit's score, grade, rank and change
 * against the period before for a month, quarter or year (GET /api/assessment), its
 * scores as a bar chart, and the trend over the last periods as a line chart (GET
 * /api/assessment/trend), for the top units or the one a person picks in the table; the
 * downloads of the service's exports and bulletin.
 *
 * The choices live in the hash (#/assessment?period=2026-11&by=center&center_id=…&unit=…):
 * a reload or a link sent to a colleague shows the same. Which centers are in it is the
 * service's to say (a director gets their own center and those below it); this screen
 * shows what it is given. scores.js turns the answers into rows and chart options. */

import * as api from "./api.js";
import { chartBoard } from "./charts.js";
import * as desk from "./desk.js";
import { h } from "./dom.js";
import { hashFor } from "./route.js";
import {
  GROUPINGS, PERIOD_KINDS, TREND_POINTS, assessmentQuery, barOption, BAR_UNITS, downloadPaths,
  gradeCounts, indicatorColumns, lastMonth, parsePeriod, periodAs, periodLabel, periodName,
  rankingRows, trendKeys, trendOption, trendQuery, trendTable, yearChoices,
} from "./scores.js";
import { t } from "./texts.js";
import { failure, loading, viewTitle } from "./ui.js";

export function assessmentScreen(root, route) {
  const texts = t();
  const words = texts.assessment;
  const latest = lastMonth(Date.now());
  const board = chartBoard();
  let choices = withDefaults(route.params);
  let aborter = null;
  let trend = null; // the last trend answer, for a pick of another unit
  let ranking = null;

  const controls = {};
  const form = choiceForm();
  const heading = h("h2", { class: "panel__title", id: "ranking-title" }, words.ranking);
  const grades = h("p", { class: "assess__grades", "aria-label": words.gradeSummary });
  const downloads = h("div", { class: "results__downloads", role: "group", "aria-label": words.downloads });
  const table = h("div", { class: "assess__table" }, loading());
  const barTitle = h("h2", { class: "panel__title", id: "score-chart-title" }, words.barTitle);
  const barChart = h("div", { class: "chart", id: "score-chart", role: "img", "aria-labelledby": "score-chart-title" });
  const trendTitle = h("h2", { class: "panel__title", id: "trend-chart-title" }, "");
  const trendWhich = h("p", { class: "assess__which" });
  const trendChart = h("div", { class: "chart", id: "trend-chart", role: "img" });
  const trendFigures = h("div", { class: "assess__trend-figures" });
  const charts = h(
    "div",
    { class: "columns assess__charts" },
    h("section", { class: "panel", "aria-labelledby": "score-chart-title" }, barTitle, barChart),
    h("section", { class: "panel", "aria-labelledby": "trend-chart-title" }, trendTitle, trendWhich, trendChart, trendFigures),
  );
  const screen = h(
    "div",
    { class: "assess", dataset: { state: "loading" } },
    form,
    h(
      "section",
      { class: "panel", "aria-labelledby": "ranking-title" },
      heading,
      h("div", { class: "results__bar" }, grades, downloads),
      table,
    ),
    charts,
  );
  root.replaceChildren(viewTitle(words.title), h("p", { class: "view__sub" }, words.intro), screen);
  fillForm();
  load();

  // -- the choices ------------------------------------------------------------------------

  /** The hash's choices with the defaults filled in: last month (Beijing), by center. */
  function withDefaults(params) {
    return { period: params.period ?? latest, by: params.by ?? "center", center_id: params.center_id, unit: params.unit };
  }

  function choiceForm() {
    const select = (name, label, options) => {
      const control = h("select", { id: `assess-${name}`, name }, options.map(([value, text]) => h("option", { value }, text)));
      controls[name] = control;
      return h("div", { class: `field field--${name}` }, h("label", { for: control.id }, label), control);
    };
    const built = h(
      "form",
      { class: "panel filters", role: "search", "aria-label": words.filters, method: "post", novalidate: true },
      h(
        "div",
        { class: "filters__grid assess__choices" },
        select("kind", words.kind, PERIOD_KINDS.map((kind) => [kind, words.kinds[kind]])),
        select("year", words.year, []),
        select("part", words.month, []),
        select("by", words.by, GROUPINGS.map((by) => [by, words.groupings[by]])),
        select("center", words.center, [
          ["", words.allCenters],
          ...desk.centerList().map(([code, name]) => [code, code.length > 6 ? `\u3000${name}` : name]),
        ]),
        h("div", { class: "filters__buttons" }, h("button", { type: "submit", class: "button button--primary" }, words.show)),
      ),
    );
    controls.kind.addEventListener("change", () => fillPeriod(periodAs(chosenPeriod(), controls.kind.value, latest)));
    built.addEventListener("submit", (event) => {
      event.preventDefault();
      go({ period: chosenPeriod(), by: controls.by.value, center_id: controls.center.value });
    });
    return built;
  }

  function fillForm() {
    fillPeriod(choices.period);
    controls.by.value = choices.by;
    keepOption(controls.center, choices.center_id ?? "");
  }

  /** The period pickers showing `period`: its kind, its year, its month or quarter. */
  function fillPeriod(period) {
    const { kind, year, part } = parsePeriod(period);
    controls.kind.value = kind;
    controls.year.replaceChildren(
      ...yearChoices(latest, period).map((one) => h("option", { value: String(one) }, words.yearOption(one))),
    );
    controls.year.value = String(year);
    const parts = kind === "month" ? 12 : kind === "quarter" ? 4 : 0;
    controls.part.replaceChildren(
      ...Array.from({ length: parts }, (_, at) =>
        h("option", { value: String(at + 1) }, kind === "month" ? words.monthOption(at + 1) : words.quarterOption(at + 1)),
      ),
    );
    const field = controls.part.closest(".field");
    field.hidden = kind === "year";
    field.querySelector("label").textContent = kind === "quarter" ? words.quarter : words.month;
    if (parts) controls.part.value = String(part);
  }

  function chosenPeriod() {
    const kind = controls.kind.value;
    return periodName({ kind, year: Number(controls.year.value), part: Number(controls.part.value) || 0 });
  }

  /** To the assessment of `chosen` (the trend of the top units); the same again reloads. */
  function go(chosen) {
    const target = hashFor("assessment", { params: { ...chosen, unit: undefined } });
    if (target === location.hash) load();
    else location.hash = target;
  }

  // -- the answers ------------------------------------------------------------------------

  async function load() {
    aborter?.abort();
    aborter = new AbortController();
    const { signal } = aborter;
    screen.dataset.state = "loading";
    table.replaceChildren(loading());
    downloads.replaceChildren();
    grades.replaceChildren();
    heading.textContent = words.ranking;
    showDownloads();
    const [said, trendSaid] = await Promise.allSettled([
      api.get(`api/assessment?${assessmentQuery(choices)}`, { signal }),
      api.get(`api/assessment/trend?${trendQuery(choices, TREND_POINTS)}`, { signal }),
    ]);
    if (signal.aborted) return;
    if (said.status === "rejected") {
      if (api.isAbort(said.reason)) return;
      ranking = null;
      downloads.replaceChildren(); // nothing to download of what was refused
      table.replaceChildren(failure(said.reason, load));
      charts.hidden = true;
      screen.dataset.state = "failed";
      return;
    }
    ranking = said.value;
    trend = trendSaid.status === "fulfilled" ? trendSaid.value : null;
    const rows = rankingRows(ranking, words, trend?.grades);
    heading.textContent = words.heading(
      ranking.scheme, periodLabel(ranking.period, words), words.groupings[ranking.by] ?? ranking.by,
    );
    grades.replaceChildren(
      ...gradeCounts(rows, trend?.grades).map((one) =>
        h("span", { class: `grade grade--${one.tone}` }, words.gradeCount(one.grade, one.count)),
      ),
    );
    table.replaceChildren(rows.length ? rankingTable(rows) : h("p", { class: "empty" }, words.empty));
    charts.hidden = !rows.length;
    const drawn = [];
    if (rows.length) {
      barTitle.textContent = rows.length > BAR_UNITS ? words.barTitleTop(BAR_UNITS) : words.barTitle;
      barChart.setAttribute("aria-label", words.barLabel(Math.min(rows.length, BAR_UNITS)));
      drawn.push(drawChart(barChart, barOption(rows, words, trend?.grades)));
      drawn.push(showTrend(trendSaid));
    }
    await Promise.all(drawn);
    if (!signal.aborted) screen.dataset.state = "ready";
  }

  function showDownloads() {
    const labels = { xlsx: words.exportXlsx, pdf: words.exportPdf, report: words.reportPdf };
    downloads.replaceChildren(
      ...downloadPaths(choices).map(({ key, path }) =>
        h("a", { class: "button", href: `${api.rootPath()}${path}`, download: "", dataset: { download: key } }, labels[key]),
      ),
    );
  }

  function rankingTable(rows) {
    const columns = words.columns;
    const indicators = indicatorColumns(ranking);
    return h(
      "table",
      { class: "table assess__ranking", id: "ranking" },
      h("caption", { class: "visually-hidden" }, heading.textContent),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col", class: "num" }, columns.rank),
          h("th", { scope: "col" }, columns.unit),
          h("th", { scope: "col", class: "num" }, columns.score),
          h("th", { scope: "col" }, columns.grade),
          h("th", { scope: "col", class: "num" }, columns.change),
          indicators.map((one) => h("th", { scope: "col", class: "num", dataset: { indicator: one.id } }, one.name)),
        ),
      ),
      h("tbody", {}, rows.map((row) => rankingRow(row, indicators))),
    );
  }

  function rankingRow(row, indicators) {
    const chosen = row.key === choices.unit;
    const change = row.change;
    const said = { up: words.changeUp, down: words.changeDown }[change.direction];
    return h(
      "tr",
      { dataset: { key: row.key }, class: chosen ? "is-chosen" : null, "aria-current": chosen ? "true" : null },
      h("td", { class: "num", dataset: { col: "rank" } }, String(row.rank)),
      h(
        "th",
        { scope: "row", dataset: { col: "unit" } },
        h("a", { href: hashFor("assessment", { params: { ...choices, unit: row.key } }), title: words.trendPick(row.unit) }, row.unit),
      ),
      h("td", { class: "num assess__score", dataset: { col: "score" } }, row.scoreText),
      h("td", { dataset: { col: "grade" } }, h("span", { class: `grade grade--${row.tone}` }, row.grade)),
      h(
        "td",
        { class: "num", dataset: { col: "change" } },
        h(
          "span",
          {
            class: `change change--${change.direction}`,
            "aria-label": said ? said(change.text.slice(2)) : change.direction === "none" ? words.changeNone : null,
          },
          change.text,
        ),
      ),
      row.indicators.map((text, at) => h("td", { class: "num", dataset: { col: indicators[at]?.id } }, text)),
    );
  }

  /** The trend chart and its figures, of the chosen unit or the top ones. */
  function showTrend(settled) {
    const kind = parsePeriod(choices.period).kind;
    trendTitle.textContent = words.trendTitle[kind](TREND_POINTS);
    if (settled.status === "rejected") {
      if (api.isAbort(settled.reason)) return null;
      board.drop(trendChart);
      trendWhich.replaceChildren();
      trendChart.hidden = true;
      trendFigures.replaceChildren(failure(settled.reason, load));
      return null;
    }
    trendChart.hidden = false;
    const keys = trendKeys(trend, choices.unit);
    if (!keys.length) {
      trendWhich.replaceChildren(h("span", { class: "muted" }, words.trendNone));
      trendChart.hidden = true;
      trendFigures.replaceChildren();
      return null;
    }
    const one = keys.length === 1 && choices.unit === keys[0];
    const figures = trendTable(trend, keys, words);
    trendWhich.replaceChildren(
      ...(one
        ? [
          words.trendOfOne(figures.rows[0].unit),
          " · ",
          h("a", { href: hashFor("assessment", { params: { ...choices, unit: undefined } }) }, words.showTop),
        ]
        : [words.trendOfTop(keys.length)]),
    );
    trendChart.setAttribute("aria-label", words.trendLabel(figures.rows.map((row) => row.unit).join("、")));
    trendFigures.replaceChildren(
      h(
        "details",
        {},
        h("summary", {}, words.trendTable),
        h(
          "table",
          { class: "table assess__trend" },
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, words.columns.unit), figures.head.map((label) => h("th", { scope: "col" }, label)))),
          h("tbody", {}, figures.rows.map((row) => h("tr", {}, h("th", { scope: "row" }, row.unit), row.cells.map((cell) => h("td", {}, cell))))),
        ),
      ),
    );
    return drawChart(trendChart, trendOption(trend, keys, words));
  }

  /** Draw a chart; when ECharts cannot be loaded, say so where the chart would be. */
  async function drawChart(node, option) {
    node.dataset.drawn = "false";
    try {
      await board.draw(node, option);
      node.dataset.drawn = "true";
    } catch {
      board.drop(node);
      node.replaceChildren(h("p", { class: "muted" }, words.chartFailed));
    }
  }

  /** Only the unit of the trend changed: the table marks it, the trend chart follows. */
  function pickUnit() {
    for (const row of table.querySelectorAll("tbody tr")) {
      const chosen = row.dataset.key === choices.unit;
      row.classList.toggle("is-chosen", chosen);
      if (chosen) row.setAttribute("aria-current", "true");
      else row.removeAttribute("aria-current");
      const link = row.querySelector("a");
      if (link) link.href = hashFor("assessment", { params: { ...choices, unit: row.dataset.key } });
    }
    if (trend) showTrend({ status: "fulfilled", value: trend });
  }

  return {
    onLive() {}, // scores are of whole periods: an alert's change moves none at once
    update(next) {
      const before = choices;
      choices = withDefaults(next.params);
      const same = ["period", "by", "center_id"].every((key) => (before[key] ?? "") === (choices[key] ?? ""));
      if (same && ranking && screen.dataset.state !== "loading") {
        pickUnit();
        return;
      }
      fillForm();
      load();
    },
    dispose() {
      aborter?.abort();
      board.dispose();
    },
  };
}

/** Choose `value` in `select`, adding it as an option when missing (a center the list of
 * names does not have). */
function keepOption(select, value) {
  if (value && ![...select.options].some((option) => option.value === value)) {
    select.append(h("option", { value }, value));
  }
  select.value = value;
}
