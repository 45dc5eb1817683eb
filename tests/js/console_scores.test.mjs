// The console's assessment (dashboards/console/js/scores.js): the periods a person picks
// (last month in Beijing time by default), the queries and downloads, the ranking table's
// rows as the API says them, and the ECharts options of the score and trend charts.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { mayViewAssessment } from "../../dashboards/console/js/permissions.js";
import { hashFor, parseHash } from "../../dashboards/console/js/route.js";
import {
  BAR_UNITS, TONE_COLORS, TREND_UNITS, assessmentParams, assessmentQuery, barOption, changeOf,
  downloadPaths, gradeCounts, gradeTone, indicatorColumns, indicatorText, lastMonth, parsePeriod,
  periodAs, periodLabel, periodName, rankingRows, shortLabel, trendKeys, trendOption, trendQuery, trendTable,
  unitLabel, yearChoices,
} from "../../dashboards/console/js/scores.js";
import { TEXTS } from "../../dashboards/console/js/texts.js";

const ZH = TEXTS["zh-CN"].assessment;
const EN = TEXTS.en.assessment;
const GRADES = [
  { name: "优秀", min: 90 }, { name: "良好", min: 80 }, { name: "合格", min: 60 }, { name: "不合格", min: 0 },
];

/** GET /api/assessment?period=2026-11 as the service answers it (supervisor/assessment/run.py). */
const RANKING = {
  scheme: "河池市政务服务电子监察绩效考核（月度）",
  period: "2026-11",
  period_label: "2026年11月",
  first_day: "2026-11-01",
  last_day: "2026-11-30",
  by: "center",
  units: [
    {
      rank: 1, key: "451224", center_id: "451224", center_name: "东兰县政务服务中心", group: null,
      score: 90, grade: "优秀", change: 2.5,
      indicators: [
        { id: "on_time", name: "按期办结率", value: 1, points: 100, deducted: null },
        { id: "red_cards", name: "红牌扣分", value: 0, points: null, deducted: 0 },
        { id: "yellow_cards", name: "黄牌扣分", value: 20, points: null, deducted: 10 },
      ],
    },
    {
      rank: 2, key: "451221", center_id: "451221", center_name: "南丹县政务服务中心", group: null,
      score: 70, grade: "合格", change: -30,
      indicators: [
        { id: "on_time", name: "按期办结率", value: null, points: null, deducted: null },
        { id: "red_cards", name: "红牌扣分", value: 100, points: null, deducted: 30 },
        { id: "yellow_cards", name: "黄牌扣分", value: 0, points: null, deducted: 0 },
      ],
    },
    {
      rank: 2, key: "451224103", center_id: "451224103", center_name: "", group: null,
      score: 70, grade: "合格", change: null,
      indicators: [
        { id: "on_time", name: "按期办结率", value: 0.875, points: 87.5, deducted: null },
        { id: "red_cards", name: "红牌扣分", value: 12.5, points: null, deducted: 25 },
        { id: "yellow_cards", name: "黄牌扣分", value: 0, points: null, deducted: 0 },
      ],
    },
  ],
};

/** GET /api/assessment/trend?period=2026-11&months=3 (supervisor/web/assessing.py). */
const TREND = {
  scheme: RANKING.scheme,
  by: "center",
  period: "2026-11",
  grades: GRADES,
  periods: ["2026-09", "2026-10", "2026-11"].map((period) => ({ period })),
  units: [
    { key: "451224", center_id: "451224", center_name: "东兰县政务服务中心", group: null,
      points: [null, null, { score: 90, grade: "优秀", rank: 1 }] },
    { key: "451221", center_id: "451221", center_name: "南丹县政务服务中心", group: null,
      points: [null, { score: 100, grade: "优秀", rank: 1 }, { score: 70, grade: "合格", rank: 2 }] },
    { key: "451224103", center_id: "451224103", center_name: "东兰县某镇", group: null,
      points: [null, { score: 0, grade: "不合格", rank: 2 }, { score: 70, grade: "合格", rank: 2 }] },
  ],
};

test("the default period is last month in Beijing time, whatever the desk's zone", () => {
  // 2026-12-31 17:00 UTC is 2027-01-01 01:00 in Beijing: last month is December
  assert.equal(lastMonth(Date.UTC(2026, 11, 31, 17)), "2026-12");
  assert.equal(lastMonth(Date.UTC(2026, 11, 31, 15)), "2026-11");
  assert.equal(lastMonth(new Date("2027-01-15T12:00:00+08:00")), "2026-12");
});

test("periods: read, named, switched between kinds, and refused as the API refuses them", () => {
  assert.deepEqual(parsePeriod("2026-11"), { kind: "month", year: 2026, part: 11 });
  assert.deepEqual(parsePeriod("2026-Q4"), { kind: "quarter", year: 2026, part: 4 });
  assert.deepEqual(parsePeriod("2026"), { kind: "year", year: 2026, part: 0 });
  for (const bad of ["2026-13", "2026-00", "2026-Q5", "1999", "2101-01", "26-11", "", null, "2026-11x"]) {
    assert.equal(parsePeriod(bad), null, bad);
  }
  assert.equal(periodName({ kind: "month", year: 2026, part: 3 }), "2026-03");
  assert.equal(periodAs("2026-11", "quarter", "2026-11"), "2026-Q4");
  assert.equal(periodAs("2026-11", "year", "2026-11"), "2026");
  assert.equal(periodAs("2026-Q2", "month", "2026-11"), "2026-06");
  assert.equal(periodAs("2026", "month", "2026-11"), "2026-11"); // never past the default
  assert.equal(periodAs("2025", "month", "2026-11"), "2025-12");
  assert.equal(periodLabel("2026-11", ZH), "2026年11月");
  assert.equal(periodLabel("2026-Q4", ZH), "2026年第四季度");
  assert.equal(periodLabel("2026", ZH), "2026年");
  assert.equal(periodLabel("2026-Q4", EN), "2026 Q4");
  assert.deepEqual(yearChoices("2026-11", "2026-11", 3), [2026, 2025, 2024]);
  assert.deepEqual(yearChoices("2026-11", "2019-05", 3), [2026, 2025, 2024, 2019]);
  assert.deepEqual(yearChoices("2001-01", null), [2001, 2000]);
});

test("the address keeps the choices, and nothing the API would refuse", () => {
  const params = { period: "2026-Q4", by: "department", center_id: "451224", unit: "451224/东兰县民政局" };
  const hash = hashFor("assessment", { params });
  assert.deepEqual(parseHash(hash), { view: "assessment", params });
  assert.deepEqual(parseHash("#/assessment"), { view: "assessment", params: {} });
  assert.deepEqual(
    assessmentParams({ period: "2026-13", by: "floor", center_id: "45'--", unit: "x".repeat(201) }),
    {},
  );
  assert.deepEqual(assessmentParams({ by: "county" }), { by: "county" });
});

test("the queries of the ranking, the trend and the downloads", () => {
  const choices = { period: "2026-11", by: "center", center_id: "451224" };
  assert.equal(assessmentQuery(choices).toString(), "period=2026-11&by=center&center_id=451224");
  assert.equal(trendQuery({ period: "2026-11" }).toString(), "period=2026-11&by=center&months=6");
  assert.deepEqual(downloadPaths(choices), [
    { key: "xlsx", path: "api/assessment/export?period=2026-11&center_id=451224&by=center&format=xlsx" },
    { key: "pdf", path: "api/assessment/export?period=2026-11&center_id=451224&by=center&format=pdf" },
    { key: "report", path: "api/report?period=2026-11&center_id=451224" },
  ]);
  // the bulletin is monthly
  assert.deepEqual(downloadPaths({ period: "2026-Q4" }).map((one) => one.key), ["xlsx", "pdf"]);
});

test("the ranking's rows are the API's figures, formatted", () => {
  const rows = rankingRows(RANKING, ZH, GRADES);
  assert.deepEqual(
    rows.map((row) => [row.rank, row.unit, row.scoreText, row.grade, row.tone, row.change.text]),
    [
      [1, "东兰县政务服务中心", "90.0", "优秀", "excellent", "↑ 2.5"],
      [2, "南丹县政务服务中心", "70.0", "合格", "pass", "↓ 30.0"],
      [2, "451224103", "70.0", "合格", "pass", "—"], // no name: its code
    ],
  );
  assert.deepEqual(rows[0].indicators, ["100.0%（100分）", "0", "-10"]);
  assert.deepEqual(rows[1].indicators, ["—", "-30", "0"]);
  assert.deepEqual(rows[2].indicators, ["87.5%（87.5分）", "-25", "0"]);
  assert.deepEqual(indicatorColumns(RANKING).map((one) => one.name), ["按期办结率", "红牌扣分", "黄牌扣分"]);
  assert.deepEqual(indicatorColumns({ units: [] }), []);
  assert.deepEqual(rankingRows({ units: [] }, ZH), []);
  assert.deepEqual(gradeCounts(rows, GRADES), [
    { grade: "优秀", count: 1, tone: "excellent" },
    { grade: "合格", count: 2, tone: "pass" },
  ]);
  assert.equal(indicatorText({ value: 0.5, points: 50, deducted: null }, EN), "50.0% (50 pts)");
});

test("changes, grades and units as people read them", () => {
  assert.deepEqual(changeOf(0, ZH), { text: "持平", direction: "same" });
  assert.deepEqual(changeOf(-0.25, ZH), { text: "↓ 0.3", direction: "down" });
  assert.deepEqual(changeOf(undefined, ZH), { text: "—", direction: "none" });
  // by place among the scheme's grades, whatever their names; else by the default names
  const own = [{ name: "A", min: 85 }, { name: "B", min: 70 }, { name: "C", min: 50 }, { name: "D", min: 0 }];
  assert.deepEqual(["A", "B", "C", "D"].map((g) => gradeTone(g, own)), ["excellent", "good", "pass", "fail"]);
  assert.deepEqual(
    ["优秀", "良好", "合格", "不合格", "其他"].map((g) => gradeTone(g)),
    ["excellent", "good", "pass", "fail", "none"],
  );
  assert.equal(gradeTone("合格", [{ name: "合格", min: 60 }, { name: "不合格", min: 0 }]), "excellent");
  const staff = { center_id: "451224", center_name: "东兰县政务服务中心", group: "dl-0311" };
  assert.equal(unitLabel(staff, ZH), "东兰县政务服务中心 · dl-0311");
  assert.equal(unitLabel({ ...staff, group: "（未注明）" }, ZH), "东兰县政务服务中心 · 未注明");
  assert.equal(unitLabel({ ...staff, group: "（未注明）" }, EN), "东兰县政务服务中心 · not given");
  assert.equal(shortLabel({ center_id: "451224103", center_name: "东兰县三石镇便民服务中心", group: null }, ZH), "东兰县三石镇");
  assert.equal(shortLabel(staff, ZH), "东兰县 · dl-0311");
  assert.equal(shortLabel({ center_id: "451224", center_name: "", group: null }, ZH), "451224");
});

test("the score chart: a bar a unit in the table's order, colored by grade, at most BAR_UNITS", () => {
  const rows = rankingRows(RANKING, ZH, GRADES);
  const option = barOption(rows, ZH, GRADES);
  // short names on the axis: the table says them in full
  assert.deepEqual(option.xAxis.data, ["东兰县", "南丹县", "451224103"]);
  const [series] = option.series;
  assert.equal(series.type, "bar");
  assert.deepEqual(series.data.map((one) => one.value), [90, 70, 70]);
  assert.deepEqual(series.data.map((one) => one.itemStyle.color), [TONE_COLORS.excellent, TONE_COLORS.pass, TONE_COLORS.pass]);
  assert.deepEqual(series.markLine.data.map((one) => one.yAxis), [90, 80, 60]);
  assert.deepEqual([option.yAxis.min, option.yAxis.max], [0, 100]);
  const many = Array.from({ length: BAR_UNITS + 5 }, (_, n) => ({ ...rows[0], unit: `u${n}` }));
  assert.equal(barOption(many, ZH, GRADES).xAxis.data.length, BAR_UNITS);
  // thirty names upright, each a line's height wide: they do not run into one another
  assert.equal(barOption(many, ZH, GRADES).xAxis.axisLabel.rotate, 90);
  assert.equal(option.xAxis.axisLabel.rotate, 0);
  JSON.stringify(option); // plain data: no function, nothing of the DOM
});

test("the trend chart: the top units, or the one picked, a gap where not assessed", () => {
  assert.deepEqual(trendKeys(TREND), ["451224", "451221", "451224103"]);
  assert.deepEqual(trendKeys(TREND, "451221"), ["451221"]);
  assert.deepEqual(trendKeys(TREND, "nowhere"), trendKeys(TREND)); // a stale pick: the top
  const many = { ...TREND, units: Array.from({ length: 9 }, (_, n) => ({ ...TREND.units[0], key: `k${n}` })) };
  assert.equal(trendKeys(many).length, TREND_UNITS);
  assert.deepEqual(trendKeys(null), []);

  const option = trendOption(TREND, ["451221", "451224103"], ZH);
  assert.deepEqual(option.xAxis.data, ["2026年9月", "2026年10月", "2026年11月"]);
  assert.deepEqual(option.series.map((one) => one.name), ["南丹县", "东兰县某镇"]);
  assert.deepEqual(option.series[0].data, [null, 100, 70]);
  assert.deepEqual(option.series[1].data, [null, 0, 70]);
  assert.ok(option.series.every((one) => one.type === "line" && one.connectNulls === false));
  assert.deepEqual(option.legend.data, ["南丹县", "东兰县某镇"]);
  assert.deepEqual(trendOption(TREND, ["451221"], EN).xAxis.data, ["2026-09", "2026-10", "2026-11"]);

  const figures = trendTable(TREND, ["451221"], ZH);
  assert.deepEqual(figures.head, ["2026年9月", "2026年10月", "2026年11月"]);
  assert.deepEqual(figures.rows, [
    { unit: "南丹县政务服务中心", cells: ["—", "100.0（优秀，第 1 名）", "70.0（合格，第 2 名）"] },
  ]);
});

test("anyone who may see alerts may open the assessment; the page names no other origin", () => {
  assert.equal(mayViewAssessment("inspector"), true);
  assert.equal(mayViewAssessment("director"), true);
  assert.equal(mayViewAssessment("ops"), false);
  const charts = readFileSync(new URL("../../dashboards/console/js/charts.js", import.meta.url), "utf8");
  assert.match(charts, /ECHARTS_PATH = "vendor\/echarts\/echarts\.min\.js"/);
  assert.doesNotMatch(charts, /https?:\/\//);
});

test("both languages have every text of the assessment", () => {
  const keys = (node, prefix = "") =>
    Object.entries(node).flatMap(([key, value]) =>
      value && typeof value === "object" ? keys(value, `${prefix}${key}.`) : [`${prefix}${key}`],
    );
  assert.deepEqual(keys(EN).sort(), keys(ZH).sort());
  assert.equal(TEXTS["zh-CN"].navAssessment, "绩效考核");
});
