// The console's times and dates (dashboards/console/js/format.js): Beijing time whatever
// the machine's zone, a due time at midnight said as 24:00 of the day before.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  dayAfter, dayStart, excerpt, formatDeadline, formatDue, formatTime, isDate, payloadText, personText,
  shownThresholds, thresholdValue,
} from "../../dashboards/console/js/format.js";
import { TEXTS } from "../../dashboards/console/js/texts.js";

const zh = TEXTS["zh-CN"];
const en = TEXTS.en;

test("times are shown in Beijing time, whatever offset they come with", () => {
  assert.equal(formatTime("2026-11-27T09:30:00+08:00"), "2026-11-27 09:30");
  assert.equal(formatTime("2026-11-27T01:30:00Z"), "2026-11-27 09:30");
  assert.equal(formatTime(null), "—");
  assert.equal(formatTime("not a time"), "—");
});

test("a due time at midnight is 24:00 of the day before", () => {
  assert.equal(formatDue("2026-12-04T00:00:00+08:00", zh.time), "12月03日 24:00");
  assert.equal(formatDue("2026-12-01T00:00:00+08:00", zh.time), "11月30日 24:00");
  assert.equal(formatDue("2027-01-01T00:00:00+08:00", zh.time), "12月31日 24:00");
  assert.equal(formatDue("2026-12-03T16:00:00Z", zh.time), "12月03日 24:00"); // the same instant
  assert.equal(formatDue("2026-12-03T17:30:00+08:00", zh.time), "12月03日 17:30");
  assert.equal(formatDue("2026-12-04T00:00:30+08:00", zh.time), "12月04日 00:00");
  assert.equal(formatDue("2026-12-04T00:00:00+08:00", TEXTS.en.time), "12/03 24:00");
  assert.equal(formatDue(undefined, zh.time), "—");
});

test("a case's deadline keeps its year", () => {
  assert.equal(formatDeadline("2027-01-01T00:00:00+08:00"), "2026-12-31 24:00");
  assert.equal(formatDeadline("2026-11-26T15:00:00+08:00"), "2026-11-26 15:00");
  assert.equal(formatDeadline(""), "—");
});

test("a period's dates become the API's times: since inclusive, until exclusive", () => {
  assert.equal(dayStart("2026-11-27"), "2026-11-27T00:00:00+08:00");
  assert.equal(dayAfter("2026-11-27"), "2026-11-28T00:00:00+08:00");
  assert.equal(dayAfter("2026-12-31"), "2027-01-01T00:00:00+08:00");
  assert.equal(dayAfter("2028-02-28"), "2028-02-29T00:00:00+08:00");
});

test("only real dates are dates", () => {
  assert.equal(isDate("2026-11-27"), true);
  assert.equal(isDate("2026-02-30"), false);
  assert.equal(isDate("2026-1-5"), false);
  assert.equal(isDate(undefined), false);
});

test("thresholds read as people say them", () => {
  assert.equal(thresholdValue("share", 0.8, zh), "80%");
  assert.equal(thresholdValue("mode", "share", zh), "按已用时限比例");
  assert.equal(thresholdValue("office_hours", ["09:00-12:00", "13:30-17:30"], zh), "09:00-12:00、13:30-17:30");
  assert.equal(thresholdValue("working_days", 5, zh), "5");
});

test("an excerpt is cut with an ellipsis", () => {
  assert.equal(excerpt("短文", 10), "短文");
  assert.equal(excerpt("一二三四五六", 4), "一二三…");
});

test("only the configured mode's threshold is shown", () => {
  const warning = { mode: "share", share: 0.8, remaining_working_days: 1 };
  assert.deepEqual(shownThresholds(warning), [["mode", "share"], ["share", 0.8]]);
  assert.deepEqual(
    shownThresholds({ ...warning, mode: "remaining" }),
    [["mode", "remaining"], ["remaining_working_days", 1]],
  );
  // a mode the page does not know, or no mode: everything, as the API gives it
  assert.deepEqual(shownThresholds({ ...warning, mode: "other" }).length, 3);
  assert.deepEqual(shownThresholds({ working_days: 5 }), [["working_days", 5]]);
  assert.deepEqual(shownThresholds(undefined), []);
});

test("a case event's codes read as words; an unknown code as it is", () => {
  assert.equal(payloadText("decided", "outcome", "approve", zh), "准予");
  assert.equal(payloadText("decided", "outcome", "deny", zh), "不予");
  assert.equal(payloadText("decided", "outcome", "deny", en), "denied");
  assert.equal(payloadText("step_completed", "outcome", "pass", zh), "通过");
  assert.equal(payloadText("step_completed", "outcome", "退回补充", zh), "退回补充");
  assert.equal(payloadText("suspended", "reason_code", "expert_review", zh), "专家评审");
  assert.equal(payloadText("suspended", "reason_code", "inspection", en), "inspection");
  assert.equal(payloadText("suspended", "reason_code", "lunar_eclipse", zh), "lunar_eclipse");
  assert.equal(payloadText("extended", "unit", "working_day", zh), "工作日");
  assert.equal(payloadText("extended", "unit", "natural_day", zh), "自然日");
  assert.equal(payloadText("extended", "unit", "natural_day", en), "calendar days");
  assert.equal(payloadText("extended", "value", 5, zh), "5");
  assert.equal(payloadText("evaluated", "level", 2, zh), "2");
  // a code is a code only in its own field: a reason typed by a center stays as typed
  assert.equal(payloadText("decided", "reason", "approve", zh), "approve");
  assert.equal(payloadText("decided", "outcome", "toString", zh), "toString");
  // what was formatted before stays so
  assert.equal(payloadText("accepted", "promised_limit", { value: 5, unit: "working_day" }, zh), "5 个工作日");
  assert.equal(payloadText("accepted", "promised_limit", { value: 5, unit: "fortnight" }, zh), "5 fortnight");
  assert.equal(payloadText("accepted", "immediate", false, zh), "否");
  assert.equal(payloadText("supplement_requested", "missing_materials", ["身份证", "营业执照"], zh), "身份证、营业执照");
});

test("a handling step reads by its catalogue name, by its code when the catalogue has none", () => {
  const names = { review: "受理审查", site_inspection: "实地踏勘" };
  assert.equal(payloadText("step_completed", "step", "site_inspection", zh, names), "实地踏勘");
  assert.equal(payloadText("step_completed", "step", "approval", zh, names), "approval");
  assert.equal(payloadText("step_completed", "step", "review", zh), "review");
  assert.equal(payloadText("step_completed", "step", "toString", zh, names), "toString");
  assert.equal(
    payloadText("accepted", "required_steps", ["review", "site_inspection", "approval"], zh, names),
    "受理审查、实地踏勘、approval",
  );
});

test("who did a step: a person with their role, the system once", () => {
  assert.equal(personText({ name: "系统", role: "system" }, zh), "系统");
  assert.equal(personText({ name: "系统", role: "system" }, en), "System");
  assert.equal(personText({ name: "王监察", role: "inspector" }, zh), "王监察（纪检监察）");
  assert.equal(personText({ name: "Li", role: "director" }, en), "Li (Director)");
  assert.equal(personText(null, zh), "");
});
