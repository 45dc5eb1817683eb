// An alert's notifications as the console lists them (dashboards/console/js/deliveries.js):
// each delivery once, as its latest attempt says; escalations each.
import assert from "node:assert/strict";
import { test } from "node:test";

import { latestAttempts } from "../../dashboards/console/js/deliveries.js";

const attempt = (n, channel, recipient, outcome) => ({
  action: "notify", notification_id: "n1", channel, recipient_name: recipient, attempt: n, outcome,
});

test("a delivery retried twenty times is one line, its latest attempt", () => {
  const webhook = [1, 2, 3].map((n) => attempt(n, "webhook", "市中心主任", "retry"));
  const email = attempt(1, "email", "市中心主任", "delivered");
  const escalation = { action: "escalate", level: 1 };
  const shown = latestAttempts([webhook[0], email, webhook[1], escalation, webhook[2]]);
  assert.deepEqual(shown, [email, escalation, webhook[2]]);
  const other = { ...attempt(1, "webhook", "县中心主任", "failed") };
  assert.deepEqual(latestAttempts([webhook[0], other]), [webhook[0], other]);
  assert.deepEqual(latestAttempts([]), []);
});
