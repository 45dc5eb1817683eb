// The modules the wall and the console share (dashboards/common/): Beijing time of any
// instant, and each page's language choice kept apart from the other's.
import assert from "node:assert/strict";
import { test } from "node:test";

import { beijingParts } from "../../dashboards/common/beijing.js";
import { DEFAULT_LANGUAGE, languageChoice } from "../../dashboards/common/language.js";

test("Beijing time of ms, a Date or an ISO time alike; null for nothing readable", () => {
  const iso = "2026-12-05T16:30:05Z"; // 00:30:05 on the 6th in Beijing
  const expected = { year: "2026", month: "12", day: "06", hour: "00", minute: "30", second: "05" };
  for (const instant of [iso, Date.parse(iso), new Date(iso), "2026-12-06T00:30:05+08:00"]) {
    const { year, month, day, hour, minute, second } = beijingParts(instant);
    assert.deepEqual({ year, month, day, hour, minute, second }, expected, String(instant));
  }
  for (const nothing of [null, undefined, "", "not a time", Number.NaN]) {
    assert.equal(beijingParts(nothing), null, String(nothing));
  }
});

test("each page chooses its language on its own; unknown ones are Chinese", () => {
  const wall = languageChoice("test.wall.lang");
  const desk = languageChoice("test.desk.lang");
  assert.equal(wall.language(), DEFAULT_LANGUAGE);
  assert.equal(wall.set("en"), "en");
  assert.equal(desk.language(), "zh-CN"); // the other page is unchanged
  assert.equal(wall.other(), "zh-CN");
  assert.equal(desk.other(), "en");
  assert.equal(wall.set("fr", true), "zh-CN"); // no storage in node: no error
  assert.equal(wall.stored(), "zh-CN");
});
