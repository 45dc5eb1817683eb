// The wall's times and figures (dashboards/wall/js/format.js): Beijing time whatever the
// machine's zone, the year only when it is not this one, and a screen clock that is off
// corrected by the server's.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  CLOCK_TOLERANCE_MS, TIME_ZONE, beijingParts, clockDate, clockTime, count, followServer, formatAge,
  formatCount, formatIso, formatRate, formatTime, minutesSince, nowMs,
} from "../../dashboards/wall/js/format.js";
import { TEXTS } from "../../dashboards/wall/js/texts.js";

const at = (iso) => Date.parse(iso);
const NOW = at("2026-12-05T08:00:00+08:00");

test("an instant's parts are Beijing's, whatever offset it came with", () => {
  assert.equal(TIME_ZONE, "Asia/Shanghai");
  const p = beijingParts(at("2026-12-04T16:30:05Z"));
  assert.deepEqual(
    [p.year, p.month, p.day, p.hour, p.minute, p.second],
    ["2026", "12", "05", "00", "30", "05"],
  );
  assert.deepEqual(beijingParts(new Date(at("2026-12-05T00:30:05+08:00"))), p);
});

test("a row's time: month-day and hour-minute in Beijing, the year when not this year's", () => {
  assert.equal(formatTime(at("2026-12-05T01:30:00Z"), NOW), "12-05 09:30");
  assert.equal(formatTime(at("2026-03-01T09:05:59+08:00"), NOW), "03-01 09:05");
  // 23:30 UTC on New Year's Eve is already the 1st in Beijing: this year, no year shown.
  assert.equal(formatTime(at("2025-12-31T16:30:00Z"), at("2026-01-01T12:00:00+08:00")), "01-01 00:30");
  assert.equal(formatTime(at("2025-12-31T15:59:00Z"), at("2026-01-01T12:00:00+08:00")), "2025-12-31 23:59");
  assert.equal(formatIso("2026-12-05T09:30:00+08:00", NOW), "12-05 09:30");
  assert.equal(formatIso("not a time", NOW), "");
  assert.equal(formatIso(undefined, NOW), "");
  assert.equal(formatIso(12345, NOW), "");
});

test("ages in whole minutes, never negative, said in each language", () => {
  assert.equal(minutesSince(NOW - 59_999, NOW), 0);
  assert.equal(minutesSince(NOW - 60_000, NOW), 1);
  assert.equal(minutesSince(NOW + 120_000, NOW), 0); // a time a little ahead: just now
  assert.equal(formatAge(NOW - 3 * 60_000, TEXTS["zh-CN"], NOW), "3 分钟前");
  assert.equal(formatAge(NOW - 3 * 3_600_000, TEXTS["zh-CN"], NOW), "3 小时前");
  assert.equal(formatAge(NOW - 3 * 86_400_000, TEXTS["zh-CN"], NOW), "3 天前");
  assert.equal(formatAge(NOW - 3 * 60_000, TEXTS.en, NOW), "3 min ago");
  assert.equal(formatAge(NOW, TEXTS.en, NOW), "just now");
});

test("the header's clock and date, in Beijing time and both languages", () => {
  const instant = at("2026-12-04T23:59:58Z"); // Saturday 07:59:58 in Beijing
  assert.equal(clockTime(instant), "07:59:58");
  assert.equal(clockDate(TEXTS["zh-CN"], "zh-CN", instant), "12月5日 星期六");
  assert.equal(clockDate(TEXTS.en, "en", instant), "Sat, 2026-12-05");
  assert.equal(clockTime(at("2026-12-05T00:00:00+08:00")), "00:00:00"); // h23, not 24:00
});

test("counts and rates as the header shows them", () => {
  assert.equal(formatCount(0), "0");
  assert.equal(formatCount(12345), "12,345");
  assert.equal(formatCount(null), "—");
  assert.equal(formatCount(1.5), "—");
  assert.equal(formatRate(0.75), "75%");
  assert.equal(formatRate(0.6667), "66.7%");
  assert.equal(formatRate(1), "100%");
  assert.equal(formatRate(0), "0%");
  assert.equal(formatRate(0.99999), "100%");
  assert.equal(formatRate(null), "—");
  assert.equal(formatRate(Number.NaN), "—");
  assert.equal(count(7), 7);
  assert.equal(count(-1), 0);
  assert.equal(count("7"), 0);
  assert.equal(count(undefined), 0);
});

test("a screen clock off by more than a minute follows the server's; a small drift does not", () => {
  const local = Date.now();
  try {
    assert.equal(followServer(local + CLOCK_TOLERANCE_MS - 1000, local), 0);
    assert.ok(Math.abs(nowMs() - Date.now()) < 1000);
    assert.equal(followServer(local + 3_600_000, local), 3_600_000);
    assert.ok(Math.abs(nowMs() - (Date.now() + 3_600_000)) < 1000);
    // The defaults of every "now" follow it: an alert of an hour ago is "just now" here.
    assert.equal(minutesSince(local + 3_600_000), 0);
    assert.equal(followServer(local - 120_000, local), -120_000);
  } finally {
    followServer(Date.now());
  }
  assert.ok(Math.abs(nowMs() - Date.now()) < 1000);
});
