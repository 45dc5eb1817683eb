// The wall's board and headline without the page (dashboards/wall/js/centers.js and
// figures.js): the centers' tree and short names, a county's totals with its townships,
// counts taken from the server only when exact, and how fresh the data is.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { Centers, codeParent, worstOf } from "../../dashboards/wall/js/centers.js";
import {
  FRESH_STALE_MINUTES, FRESH_WARN_MINUTES, adjustFigures, clearFigures, freshness, newFigures, readHeadline,
} from "../../dashboards/wall/js/figures.js";
import { followServer } from "../../dashboards/wall/js/format.js";

const BOARD = [
  { code: "451200", name: "河池市政务服务中心", level: "city", parent: null, red: 1, yellow: 0, open_cases: 40, last_event_at: "2026-12-05T09:00:00+08:00" },
  { code: "451224", name: "东兰县政务服务中心", level: "county", parent: "451200", red: 0, yellow: 2, open_cases: 12, last_event_at: null },
  { code: "451224100", name: "东兰县东兰镇便民服务中心", level: "township", parent: "451224", red: 2, yellow: 1, open_cases: 3, last_event_at: "2026-12-05T09:10:00+08:00" },
  { code: "451224101", name: "东兰县隘洞镇便民服务中心", level: "township", parent: "451224", red: 0, yellow: 0, open_cases: 1, last_event_at: "2026-12-05T08:00:00+08:00" },
  { code: "451225", name: "罗城仫佬族自治县政务服务中心", level: "county", parent: "451200", red: 0, yellow: 0, open_cases: 5 },
  { code: "451225100", name: "罗城仫佬族自治县东门镇便民服务中心", level: "township", parent: "451225", red: -3, yellow: "2", open_cases: 2 },
  { name: "no code" },
  null,
];

function board() {
  const centers = new Centers();
  assert.equal(centers.load(BOARD, true), true);
  return centers;
}

describe("the centers", () => {
  test("a tree in the server's order: roots, children, who is within whom", () => {
    const centers = board();
    assert.deepEqual(centers.roots(), ["451200"]);
    assert.equal(centers.top(), "451200");
    assert.deepEqual(centers.childrenOf("451200"), ["451224", "451225"]);
    assert.deepEqual(centers.childrenOf("451224"), ["451224100", "451224101"]);
    assert.deepEqual(centers.childrenOf("451224100"), []);
    assert.deepEqual(centers.childrenOf(null), ["451200"]);
    assert.equal(centers.within("451224101", "451224"), true);
    assert.equal(centers.within("451224101", "451200"), true);
    assert.equal(centers.within("451224101", "451225"), false);
    assert.equal(centers.within("451224", "451224"), true);
    // Not on the board (a director's neighbours): by the shape of the code.
    assert.equal(centers.within("451226105", "451226"), true);
    assert.equal(centers.parentOf("451226105"), "451226");
    assert.equal(codeParent("451226"), "451200");
    assert.equal(codeParent("451200"), null);
    assert.equal(codeParent("x"), null);
  });

  test("a director's board: their center is the top, several roots have none", () => {
    const mine = new Centers();
    mine.load(BOARD.filter((tile) => tile && String(tile.code).startsWith("451224")), true);
    assert.equal(mine.top(), "451224");
    const two = new Centers();
    two.load(BOARD.filter((tile) => tile && tile.level === "township"), true);
    assert.equal(two.top(), null);
    assert.equal(two.roots().length, 3);
  });

  test("names: /api/centers' first, then the board's, then the code; short ones for the tiles", () => {
    const centers = board();
    assert.equal(centers.name("451224"), "东兰县政务服务中心");
    assert.equal(centers.name("999999"), "999999");
    centers.setNames({ 451224: "东兰县政务服务中心（新）" });
    assert.equal(centers.name("451224"), "东兰县政务服务中心（新）");
    centers.setNames(null);
    assert.equal(centers.placeName("451224"), "东兰县");
    assert.equal(centers.shortName("451224"), "东兰县");
    assert.equal(centers.shortName("451224100"), "东兰镇");
    assert.equal(centers.shortName("451225"), "罗城县");
    assert.equal(centers.shortName("451225100"), "东门镇");
    assert.equal(centers.shortName("451200"), "河池市");
  });

  test("totals: a center's own, or with every center under it; the colour is the worst", () => {
    const centers = board();
    assert.deepEqual(centers.totals("451224", false), { red: 0, yellow: 2, openCases: 12, lastEventMs: null });
    const county = centers.totals("451224", true);
    assert.deepEqual([county.red, county.yellow, county.openCases], [2, 3, 16]);
    assert.equal(county.lastEventMs, Date.parse("2026-12-05T09:10:00+08:00"));
    const city = centers.totals("451200", true);
    assert.deepEqual([city.red, city.yellow, city.openCases], [3, 3, 63]);
    assert.equal(worstOf(centers.totals("451224", false)), "yellow");
    assert.equal(worstOf(county), "red");
    assert.equal(worstOf(centers.totals("451225", true)), "none"); // bad counts read as 0
    assert.deepEqual(centers.totals("nowhere", true), { red: 0, yellow: 0, openCases: 0, lastEventMs: null });
  });

  test("counts follow the socket between polls, and a poll overtaken by a message keeps them", () => {
    const centers = board();
    assert.equal(centers.adjust("451224", "red", 1), true);
    assert.equal(centers.adjust("451224", "yellow", -5), true);
    assert.deepEqual([centers.get("451224").red, centers.get("451224").yellow], [1, 0]);
    assert.equal(centers.adjust("nowhere", "red", 1), false);
    centers.load(BOARD, false); // not exact: the live counts stay, the rest is the server's
    assert.deepEqual([centers.get("451224").red, centers.get("451224").yellow], [1, 0]);
    centers.load(BOARD, true);
    assert.deepEqual([centers.get("451224").red, centers.get("451224").yellow], [0, 2]);
    assert.equal(centers.load({ not: "a board" }, true), false);
    assert.equal(centers.tiles.size, 6);
  });
});

describe("the headline", () => {
  const body = {
    accepted_today: 120, open_cases: 800, on_time_rate_today: 0.9, on_time_rate_month: null,
    on_time_today: 9, overdue_today: 1, on_time_month: 200, overdue_month: 7,
    open_alerts: { red: 3, yellow: 11 },
    now: "2026-12-05T10:00:00+08:00", last_event_at: "2026-12-05T09:57:30+08:00",
  };

  test("read as sent; the open counts only when exact, or the first time", () => {
    const figures = newFigures();
    try {
      assert.equal(readHeadline(figures, body, false, 1000), true);
    } finally {
      followServer(Date.now()); // the body's `now` moved this process's clock
    }
    assert.deepEqual(
      [figures.loaded, figures.accepted, figures.openCases, figures.rateToday, figures.rateMonth, figures.red, figures.yellow],
      [true, 120, 800, 0.9, null, 3, 11],
    );
    assert.deepEqual([figures.today, figures.month], [[9, 1], [200, 7]]);
    assert.equal(adjustFigures(figures, "red", 1), true);
    readHeadline(figures, { ...body, now: undefined, open_alerts: { red: 0, yellow: 0 } }, false, 1000);
    assert.deepEqual([figures.red, figures.yellow], [4, 11]); // a message came meanwhile: kept
    readHeadline(figures, { ...body, now: undefined, open_alerts: { red: 0, yellow: 0 } }, true, 1000);
    assert.deepEqual([figures.red, figures.yellow], [0, 0]);
    assert.equal(adjustFigures(figures, "yellow", -1), true);
    assert.equal(figures.yellow, 0);
    assert.equal(adjustFigures(newFigures(), "red", 1), false, "nothing to move before the first headline");
    assert.equal(readHeadline(figures, null, true), false);
  });

  test("freshness: by the server's clock, ageing on this screen's monotonic clock", () => {
    const figures = newFigures();
    assert.deepEqual(freshness(figures, 0), { state: "unknown", minutes: null });
    try {
      readHeadline(figures, body, true, 5000); // 2.5 minutes after the latest event
    } finally {
      followServer(Date.now());
    }
    assert.deepEqual(freshness(figures, 5000), { state: "ok", minutes: 2 });
    const minute = 60_000;
    assert.deepEqual(freshness(figures, 5000 + (FRESH_WARN_MINUTES - 2.5) * minute), { state: "warn", minutes: FRESH_WARN_MINUTES });
    assert.deepEqual(freshness(figures, 5000 + (FRESH_STALE_MINUTES - 2.5) * minute), { state: "stale", minutes: FRESH_STALE_MINUTES });
    readHeadline(figures, { ...body, now: undefined, last_event_at: null }, true, 5000);
    assert.deepEqual(freshness(figures, 5000), { state: "none", minutes: null });
    clearFigures(figures);
    assert.deepEqual(freshness(figures, 5000), { state: "unknown", minutes: null });
    assert.deepEqual([figures.red, figures.yellow, figures.accepted], [0, 0, null]);
  });
});
