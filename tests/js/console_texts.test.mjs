// The console's texts (dashboards/console/js/texts.js): both languages have every key, with
// the same shape; an alert's closing (`case_closed` in its history) is said with its cause,
// and a cause never claims more than happened.
import assert from "node:assert/strict";
import { test } from "node:test";

import { LANGUAGES, TEXTS } from "../../dashboards/console/js/texts.js";

const zh = TEXTS["zh-CN"];
const en = TEXTS.en;

/** Every key path of a texts table, with the kind of its value. */
function shape(table, prefix = "") {
  const out = {};
  for (const [key, value] of Object.entries(table)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (Array.isArray(value)) out[path] = `array of ${value.length}`;
    else if (value && typeof value === "object") Object.assign(out, shape(value, path));
    else out[path] = typeof value === "function" ? `function/${value.length}` : typeof value;
  }
  return out;
}

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
  });
  // a reply to an order closes its late-reply alert while the case is still open
  for (const said of [zh.historyAction.case_closed, zh.closedReason.order_replied]) {
    assert.doesNotMatch(said, /办结|撤回/);
  }
  assert.doesNotMatch(en.historyAction.case_closed, /concluded|withdrawn/i);
  assert.equal(en.closedReason.order_replied, "The supervision order was answered");
});
