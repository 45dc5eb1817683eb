// Which buttons a person is offered (dashboards/console/js/permissions.js, after
// supervisor/web/journal.py and supervisor/orders.py), what a failure says
// (errors.js), and that both languages have every text (texts.js).
import assert from "node:assert/strict";
import { test } from "node:test";

import { ApiError, bulkOutcomes, errorText } from "../../dashboards/console/js/errors.js";
import {
  actionPath, alertActions, dispositionsFor, mayIssueOrder, orderActions,
} from "../../dashboards/console/js/permissions.js";
import { TEXTS } from "../../dashboards/console/js/texts.js";

test("the alert steps follow the role and the status", () => {
  assert.deepEqual(alertActions("director", "open", "yellow"), ["acknowledge", "resolve", "appeal"]);
  assert.deepEqual(alertActions("director", "acknowledged", "yellow"), ["resolve", "appeal"]);
  // a red alert is the inspectors' to close; the director appeals one found wrong
  assert.deepEqual(alertActions("director", "open", "red"), ["acknowledge", "appeal"]);
  // an appeal rejected is final: no second one
  assert.deepEqual(alertActions("director", "acknowledged", "red", true), []);
  assert.deepEqual(alertActions("inspector", "acknowledged", "red"), ["resolve"]);
  assert.deepEqual(dispositionsFor("director"), ["verified", "rectified"]);
  assert.deepEqual(dispositionsFor("inspector"), ["verified", "rectified", "held_accountable", "false_alarm"]);
  assert.deepEqual(alertActions("director", "appealed"), []);
  assert.deepEqual(alertActions("inspector", "open"), ["acknowledge", "resolve"]);
  assert.deepEqual(alertActions("inspector", "appealed"), ["accept_appeal", "reject_appeal"]);
  for (const status of ["resolved", "withdrawn", "closed", "superseded"]) {
    assert.deepEqual(alertActions("inspector", status), [], status);
    assert.deepEqual(alertActions("director", status), [], status);
  }
  assert.equal(actionPath("accept_appeal"), "appeal/accept");
  assert.equal(mayIssueOrder("inspector", "open"), true);
  assert.equal(mayIssueOrder("director", "open"), false);
  // 督办 only on an alert that still stands: the API answers 409 for these
  for (const status of ["open", "acknowledged", "appealed", "resolved"]) {
    assert.equal(mayIssueOrder("inspector", status), true, status);
  }
  for (const status of ["withdrawn", "closed", "superseded"]) {
    assert.equal(mayIssueOrder("inspector", status), false, status);
  }
});

test("the order steps follow the role and the status", () => {
  assert.deepEqual(orderActions("director", "issued"), ["reply"]);
  assert.deepEqual(orderActions("director", "returned"), ["reply"]);
  assert.deepEqual(orderActions("director", "replied"), []);
  assert.deepEqual(orderActions("inspector", "replied"), ["close", "return"]);
  // an order with nothing left to put right is withdrawn (撤销) while a reply is owed
  assert.deepEqual(orderActions("inspector", "issued"), ["cancel"]);
  assert.deepEqual(orderActions("inspector", "returned"), ["cancel"]);
  assert.deepEqual(orderActions("inspector", "closed"), []);
  assert.deepEqual(orderActions("inspector", "cancelled"), []);
  assert.deepEqual(orderActions("director", "cancelled"), []);
});

test("a failure says what happened, in Chinese first", () => {
  const zh = TEXTS["zh-CN"];
  assert.equal(errorText(new ApiError(401, "令牌无效、已过期或已吊销"), zh), "令牌无效、已过期或已吊销");
  assert.equal(errorText(new ApiError(404, "no such alert"), zh), "未找到，或不在您的职责范围内。");
  assert.equal(errorText(new ApiError(409, "督办单已办结，不能进行此操作"), zh), "督办单已办结，不能进行此操作");
  assert.equal(errorText(new ApiError(422, [{ loc: ["body"], msg: "x" }]), zh), zh.errors.status[422]);
  assert.equal(errorText(new ApiError(500, "boom"), zh), "服务器出错（500），请稍后重试。");
  assert.equal(errorText(new ApiError(0, ""), zh), zh.errors.network);
  assert.equal(errorText(new TypeError("failed to fetch"), zh), zh.errors.network);
  assert.equal(
    errorText(new ApiError(403, "此令牌不能登录工作台"), TEXTS.en),
    "You are not allowed to do this. (此令牌不能登录工作台)",
  );
});

test("a bulk 签收 says per alert how it went", () => {
  const zh = TEXTS["zh-CN"];
  const chosen = [{ alert_id: "a" }, { alert_id: "b" }, { alert_id: "c" }, { alert_id: "d" }];
  const results = [
    { alert_id: "b", code: 409, detail: "此预警当前为「已签收」，不能签收" },
    { alert_id: "a", code: 200, status: "acknowledged" },
    { alert_id: "c", code: 404, detail: "no such alert" },
  ];
  assert.deepEqual(
    bulkOutcomes(chosen, results, zh).map(({ alert, ok, text }) => [alert.alert_id, ok, text]),
    [
      ["a", true, "已签收"],
      ["b", false, "此预警当前为「已签收」，不能签收"],
      ["c", false, "未找到，或不在您的职责范围内。"],
      ["d", false, "服务器出错（500），请稍后重试。"], // not in the answer: failed
    ],
  );
});

test("both languages have the same texts", () => {
  const shape = (value) => {
    if (typeof value === "function") return "function";
    if (value && typeof value === "object") {
      return Object.fromEntries(Object.keys(value).sort().map((key) => [key, shape(value[key])]));
    }
    return typeof value;
  };
  assert.deepEqual(shape(TEXTS.en), shape(TEXTS["zh-CN"]));
});
