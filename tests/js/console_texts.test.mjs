// The console's texts (dashboards/console/js/texts.js): both languages have every key, with
// the same shape; an alert's closing (`case_closed` in its history) is said with its cause,
// and a cause never claims more than happened.
import assert from "node:assert/strict";
import { test } from "node:test";

import { LANGUAGES, TEXTS } from "../../dashboards/console/js/texts.js";
import { shape } from "./texts_shape.mjs";

const zh = TEXTS["zh-CN"];
const en = TEXTS.en;

test("both languages have the same keys, each a text or a function of the same arguments", () => {
  assert.deepEqual(LANGUAGES, Object.keys(TEXTS));
  assert.deepEqual(shape(en), shape(zh));
});

test("an alert closed is said as closed, its cause beneath: each cause as it is", () => {
  // detail.js shows historyAction[action], then closedReason[reason] on a line of its own
  assert.equal(zh.historyAction.case_closed, "预警关闭");
  assert.deepEqual(zh.closedReason, {
    concluded_in_time: "办件已按期办结",
    case_withdrawn: "申请人已撤回办件",
    order_replied: "督办单已回复",
    order_cancelled: "督办单已撤销",
  });
  // a reply to an order closes its late-reply alert while the case is still open
  for (const said of [zh.historyAction.case_closed, zh.closedReason.order_replied]) {
    assert.doesNotMatch(said, /办结|撤回/);
  }
  assert.doesNotMatch(en.historyAction.case_closed, /concluded|withdrawn/i);
  assert.equal(en.closedReason.order_replied, "The supervision order was answered");
});

test("a case concluded late: how late, and never 0 days late", () => {
  assert.equal(zh.detail.concludedLate("2026-12-07 19:38", 0), "办件已于 2026-12-07 19:38 办结，超期不足 0.01 个工作日");
  assert.equal(zh.detail.concludedLate("2026-12-07 19:38", 0.004), "办件已于 2026-12-07 19:38 办结，超期不足 0.01 个工作日");
  assert.equal(en.detail.concludedLate("2026-12-07 19:38", 0), "Case concluded 2026-12-07 19:38, less than 0.01 working days late");
  assert.equal(zh.detail.concludedLate("2026-12-07 19:38", 0.01), "办件已于 2026-12-07 19:38 办结，超期 0.01 个工作日");
  assert.equal(en.detail.concludedLate("2026-12-07 19:38", 2.5), "Case concluded 2026-12-07 19:38, 2.5 working days late");
  // no figure given: late, without a number
  assert.equal(zh.detail.concludedLate("2026-12-07 19:38", undefined), "办件已于 2026-12-07 19:38 超期办结");
});
