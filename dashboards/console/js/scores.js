/* The assessment (绩效考核) as the console shows it: the periods a person picks, the
 * queries of GET /api/assessment and /api/assessment/trend, the ranking table's rows, and
 * the ECharts options of its two charts (scores as bars, the trend as lines). Pure: no
 * DOM, no ECharts (node tests run it); assessment.js draws, charts.js loads ECharts.
 *
 * The scores, grades, ranks and changes are the service's, shown as it says them: this
 * only formats them and picks colors. */

import { beijingParts } from "../../common/beijing.js";

/** How the units are grouped, in the order the picker offers them. */
export const GROUPINGS = ["center", "county", "department", "window", "staff"];
export const PERIOD_KINDS = ["month", "quarter", "year"];
/** The years the API takes (supervisor/assessment/periods.py). */
export const EARLIEST_YEAR = 2000;
export const LATEST_YEAR = 2100;
/** How many periods the trend chart shows, and how many units it draws at most. */
export const TREND_POINTS = 6;
export const TREND_UNITS = 5;
/** The most bars the score chart draws (the table lists every unit). */
export const BAR_UNITS = 30;
/** The colors of a grade's tone: the table's classes (console.css) say the same. */
export const TONE_COLORS = {
  excellent: "#2f7d32",
  good: "#1d5fbf",
  pass: "#b45309",
  fail: "#c8102e",
  none: "#8a94a6",
};
/** The tones of the default scheme's grades, for when the grades' order is not known. */
const KNOWN_TONES = { 优秀: "excellent", 良好: "good", 合格: "pass", 不合格: "fail" };
/** A unit whose cases name no department, window or staff member (run.py's UNNAMED). */
const UNNAMED = "（未注明）";

const MONTH = /^(\d{4})-(\d{2})$/;
const QUARTER = /^(\d{4})-Q([1-4])$/;
const YEAR = /^(\d{4})$/;
const CENTER = /^\d{6}(\d{3})?$/;
const CENTER_SUFFIX = /(政务服务中心|便民服务中心|服务中心)$/;

// -- periods ---------------------------------------------------------------------------------

/** The month before the one of `now` (ms since the epoch, or a Date), in Beijing time:
 * "2026-11" on any day of December 2026. The assessment's default: the last whole month. */
export function lastMonth(now) {
  const p = beijingParts(now instanceof Date ? now : new Date(now));
  const year = Number(p.year);
  const month = Number(p.month);
  return month === 1 ? `${year - 1}-12` : `${year}-${pad(month - 1)}`;
}

/** {kind, year, part} of a period's name ("2026-11", "2026-Q4", "2026"); part is the
 * month or quarter (0 for a year). null for anything the API would refuse. */
export function parsePeriod(text) {
  const value = String(text ?? "").trim();
  let found = MONTH.exec(value);
  if (found) {
    const month = Number(found[2]);
    return inYears(found[1]) && month >= 1 && month <= 12
      ? { kind: "month", year: Number(found[1]), part: month }
      : null;
  }
  found = QUARTER.exec(value);
  if (found) return inYears(found[1]) ? { kind: "quarter", year: Number(found[1]), part: Number(found[2]) } : null;
  found = YEAR.exec(value);
  if (found) return inYears(found[1]) ? { kind: "year", year: Number(found[1]), part: 0 } : null;
  return null;
}

/** The name of a period: "2026-11", "2026-Q4", "2026". */
export function periodName({ kind, year, part }) {
  if (kind === "month") return `${year}-${pad(part)}`;
  if (kind === "quarter") return `${year}-Q${part}`;
  return String(year);
}

/** The period of `kind` that `period` falls in or ends with: 2026-11 as a quarter is
 * 2026-Q4, as a year 2026; a quarter or a year as a month is its last month, but never
 * later than `latest` (the default month), so that a switch lands on data. */
export function periodAs(period, kind, latest) {
  const from = parsePeriod(period) ?? parsePeriod(latest);
  const month = from.kind === "month" ? from.part : from.kind === "quarter" ? from.part * 3 : 12;
  if (kind === "month") {
    const name = periodName({ kind, year: from.year, part: month });
    return latest && name > latest ? latest : name;
  }
  if (kind === "quarter") return periodName({ kind, year: from.year, part: Math.ceil(month / 3) });
  return String(from.year);
}

/** A period as people read it: "2026年11月", "2026年第四季度", "2026年"; in English
 * "2026-11", "2026 Q4", "2026". */
export function periodLabel(period, texts) {
  const found = parsePeriod(period);
  if (!found) return String(period ?? "");
  return texts.periodLabel[found.kind](found.year, found.part);
}

/** The years to pick from: from the year of `latest` back to the earliest, newest first
 * (`chosen` among them even when older). */
export function yearChoices(latest, chosen, count = 10) {
  const newest = parsePeriod(latest)?.year ?? LATEST_YEAR;
  const years = [];
  for (let year = newest; year >= Math.max(EARLIEST_YEAR, newest - count + 1); year -= 1) years.push(year);
  const picked = parsePeriod(chosen)?.year;
  if (picked && !years.includes(picked)) years.push(picked);
  return years.sort((a, b) => b - a);
}

// -- the address and the queries -------------------------------------------------------------

/** The screen's choices of a hash's parameters, each checked (a hand-edited address must
 * not send the API what it refuses): period, by, center_id, unit (a unit's key, for the
 * trend). Left out when missing or wrong: the screen uses its defaults. */
export function assessmentParams(params) {
  const chosen = {};
  const period = parsePeriod(params.period);
  if (period) chosen.period = periodName(period);
  if (GROUPINGS.includes(params.by)) chosen.by = params.by;
  if (CENTER.test(params.center_id ?? "")) chosen.center_id = params.center_id;
  const unit = String(params.unit ?? "").trim();
  if (unit && unit.length <= 200) chosen.unit = unit;
  return chosen;
}

/** The query of GET /api/assessment for some choices (`period` filled in). */
export function assessmentQuery({ period, by = "center", center_id: centerId }) {
  const query = new URLSearchParams({ period, by });
  if (centerId) query.set("center_id", centerId);
  return query;
}

/** The query of GET /api/assessment/trend: the `months` periods ending with `period`. */
export function trendQuery(choices, months = TREND_POINTS) {
  const query = assessmentQuery(choices);
  query.set("months", String(months));
  return query;
}

/** The downloads of an assessment (the service's exports and reports), as paths below
 * the service's root: the ranking as Excel and as PDF, and for a month its bulletin
 * (月度通报) as PDF. [{key, path}] */
export function downloadPaths({ period, by = "center", center_id: centerId }) {
  const query = (extra) => {
    const built = new URLSearchParams({ period });
    if (centerId) built.set("center_id", centerId);
    for (const [key, value] of Object.entries(extra)) built.set(key, value);
    return built.toString();
  };
  const paths = [
    { key: "xlsx", path: `api/assessment/export?${query({ by, format: "xlsx" })}` },
    { key: "pdf", path: `api/assessment/export?${query({ by, format: "pdf" })}` },
  ];
  if (parsePeriod(period)?.kind === "month") {
    paths.push({ key: "report", path: `api/report?${query({})}` });
  }
  return paths;
}

// -- the ranking -----------------------------------------------------------------------------

/** The tone of a grade ("excellent", "good", "pass", "fail"; "none" when unknown) by its
 * place among `grades` (the scheme's, highest first: [{name, min}]), else by its name. */
export function gradeTone(grade, grades) {
  const names = (grades ?? []).map((one) => one.name);
  const at = names.indexOf(grade);
  if (at < 0) return KNOWN_TONES[grade] ?? "none";
  if (at === 0) return "excellent";
  if (at === names.length - 1) return "fail";
  return at === 1 ? "good" : "pass";
}

/** How a unit is named: a center by its name (its code when unknown); a department,
 * window or staff member after its center's name. */
export function unitLabel(unit, texts) {
  const center = unit.center_name || unit.center_id || "";
  if (unit.group === null || unit.group === undefined) return center;
  const group = unit.group === UNNAMED ? texts.unnamed : unit.group;
  return `${center} · ${group}`;
}

/** A unit's name made short for a chart's axis or legend: a center's name without its
 * "政务服务中心" or "便民服务中心" ("东兰县三石镇"); the table says it in full. */
export function shortLabel(unit, texts) {
  const center = String(unit.center_name || unit.center_id || "").replace(CENTER_SUFFIX, "") || unit.center_id;
  if (unit.group === null || unit.group === undefined) return center;
  return `${center} · ${unit.group === UNNAMED ? texts.unnamed : unit.group}`;
}

/** The change against the period before: {text, direction} with direction "up",
 * "down", "same" or "none" (not assessed then). */
export function changeOf(change, texts) {
  if (change === null || change === undefined) return { text: "—", direction: "none" };
  const size = Math.abs(change).toFixed(1);
  if (change > 0) return { text: `↑ ${size}`, direction: "up" };
  if (change < 0) return { text: `↓ ${size}`, direction: "down" };
  return { text: texts.same, direction: "same" };
}

/** One indicator's part as the table shows it: a deduction as "-2" (or "0"); a rate as
 * a percentage with the points earned; "—" without data. */
export function indicatorText(part, texts) {
  if (part.deducted !== null && part.deducted !== undefined) {
    return part.deducted ? `-${trim(part.deducted)}` : "0";
  }
  if (part.value === null || part.value === undefined) return "—";
  const rate = `${(part.value * 100).toFixed(1)}%`;
  return part.points === null || part.points === undefined ? rate : texts.points(rate, trim(part.points));
}

/** The ranking table's columns of indicators: [{id, name}], from the first unit (every
 * unit has the scheme's indicators, in its order). */
export function indicatorColumns(answer) {
  return (answer?.units?.[0]?.indicators ?? []).map((part) => ({ id: part.id, name: part.name }));
}

/** The ranking table's rows of GET /api/assessment's answer, in its order: {key, rank,
 * unit, score, scoreText, grade, tone, change: {text, direction}, indicators: [text]}.
 * `grades`: the scheme's, highest first (from the trend), for the tones. */
export function rankingRows(answer, texts, grades) {
  return (answer?.units ?? []).map((unit) => ({
    key: unit.key,
    rank: unit.rank,
    unit: unitLabel(unit, texts),
    short: shortLabel(unit, texts),
    centerId: unit.center_id,
    score: unit.score,
    scoreText: Number(unit.score).toFixed(1),
    grade: unit.grade,
    tone: gradeTone(unit.grade, grades),
    change: changeOf(unit.change, texts),
    indicators: (unit.indicators ?? []).map((part) => indicatorText(part, texts)),
  }));
}

/** How many units of each grade: [{grade, count, tone}], the grades in the scheme's
 * order (or as they come), for the summary above the table. */
export function gradeCounts(rows, grades) {
  const order = (grades ?? []).map((one) => one.name);
  for (const row of rows) if (!order.includes(row.grade)) order.push(row.grade);
  return order
    .map((grade) => ({ grade, count: rows.filter((row) => row.grade === grade).length, tone: gradeTone(grade, grades) }))
    .filter((one) => one.count > 0);
}

// -- the charts ------------------------------------------------------------------------------

const AXIS = { color: "#5c6779" };
const GRID_LINE = { lineStyle: { color: "#dde2ea" } };
const FONT = '"Noto Sans CJK SC", "Noto Sans SC", "Microsoft YaHei", sans-serif';

/** The angle of the score chart's unit names: level for a few, slanted for some, upright
 * for many (each then takes only a line's height of the axis). */
export function labelAngle(units) {
  if (units > 12) return 90;
  return units > 6 ? 30 : 0;
}

/** The ECharts option of the score chart: a bar per unit (at most BAR_UNITS, the
 * table's first), colored by grade, on a 0–100 axis, the grades' lower bounds as lines. */
export function barOption(rows, texts, grades) {
  const shown = rows.slice(0, BAR_UNITS);
  return {
    animation: false,
    textStyle: { fontFamily: FONT },
    grid: { left: 16, right: 64, top: 24, bottom: 8, containLabel: true },
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    xAxis: {
      type: "category",
      data: shown.map((row) => row.short),
      // every name shown; upright beside each other when more than a dozen (at 30° thirty
      // of them ran into one another at a laptop's width)
      axisLabel: { ...AXIS, interval: 0, rotate: labelAngle(shown.length), width: 96, overflow: "truncate" },
    },
    yAxis: { type: "value", min: 0, max: 100, axisLabel: AXIS, splitLine: GRID_LINE },
    series: [
      {
        type: "bar",
        name: texts.columns.score,
        barMaxWidth: 36,
        data: shown.map((row) => ({ value: row.score, itemStyle: { color: TONE_COLORS[row.tone] } })),
        label: { show: shown.length <= 15, position: "top", formatter: "{c}", color: "#1f2633" },
        markLine: gradeLines(grades),
      },
    ],
  };
}

/** The units the trend chart draws: the chosen one when the trend has it, else the
 * first TREND_UNITS (the trend lists them in the last period's ranking). */
export function trendKeys(trend, chosen) {
  const keys = (trend?.units ?? []).map((unit) => unit.key);
  if (chosen && keys.includes(chosen)) return [chosen];
  return keys.slice(0, TREND_UNITS);
}

/** The ECharts option of the trend chart: a line per unit of `keys` over the trend's
 * periods (a gap where a unit was not assessed), on a 0–100 axis; the tooltip says the
 * score, the grade and the rank. */
export function trendOption(trend, keys, texts) {
  const byKey = new Map((trend?.units ?? []).map((unit) => [unit.key, unit]));
  const periods = (trend?.periods ?? []).map((one) => periodLabel(one.period, texts));
  const units = keys.map((key) => byKey.get(key)).filter(Boolean);
  return {
    animation: false,
    textStyle: { fontFamily: FONT },
    // hues apart from the grades' green, orange and red: a line's color says no grade
    color: ["#1d5fbf", "#6b3fa0", "#0f7c8c", "#8a6d00", "#c2185b", "#455a64"],
    grid: { left: 16, right: 64, top: 40, bottom: 8, containLabel: true },
    legend: { type: "scroll", top: 0, data: units.map((unit) => shortLabel(unit, texts)) },
    tooltip: { trigger: "axis" },
    xAxis: { type: "category", boundaryGap: false, data: periods, axisLabel: AXIS },
    yAxis: { type: "value", min: 0, max: 100, axisLabel: AXIS, splitLine: GRID_LINE },
    series: units.map((unit, at) => ({
      type: "line",
      name: shortLabel(unit, texts),
      connectNulls: false,
      symbolSize: 7,
      data: unit.points.map((point) => (point === null ? null : point.score)),
      markLine: at === 0 ? gradeLines(trend?.grades) : undefined,
    })),
  };
}

/** The trend as a table for people who do not see the chart: {head: [period labels],
 * rows: [{unit, cells: ["90.0 优秀 #1" | "—"]}]}. */
export function trendTable(trend, keys, texts) {
  const byKey = new Map((trend?.units ?? []).map((unit) => [unit.key, unit]));
  return {
    head: (trend?.periods ?? []).map((one) => periodLabel(one.period, texts)),
    rows: keys
      .map((key) => byKey.get(key))
      .filter(Boolean)
      .map((unit) => ({
        unit: unitLabel(unit, texts),
        cells: unit.points.map((point) =>
          point === null ? "—" : texts.trendCell(Number(point.score).toFixed(1), point.grade, point.rank),
        ),
      })),
  };
}

/** The grades' lower bounds (but 0) as dashed lines, for a score axis. */
function gradeLines(grades) {
  const bounds = (grades ?? []).filter((one) => one.min > 0);
  if (!bounds.length) return undefined;
  return {
    silent: true,
    symbol: "none",
    lineStyle: { type: "dashed", color: "#9aa5b5" },
    label: { position: "end", formatter: "{b}", color: "#5c6779" },
    data: bounds.map((one) => ({ yAxis: one.min, name: `${one.name} ${one.min}` })),
  };
}

function inYears(text) {
  const year = Number(text);
  return year >= EARLIEST_YEAR && year <= LATEST_YEAR;
}

function pad(n) {
  return String(n).padStart(2, "0");
}

/** A number without trailing zeros: 2 -> "2", 2.5 -> "2.5", 0.25 -> "0.25". */
function trim(n) {
  return String(Math.round(Number(n) * 100) / 100);
}
