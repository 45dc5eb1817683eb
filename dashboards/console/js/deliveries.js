/* An alert's notifications as the console lists them. The notifier writes each attempt
 * into the alert's history (supervisor/notify/service.py): a webhook that keeps failing
 * leaves one entry a retry, twenty in a minute. The list shows each delivery once, as its
 * latest attempt says (which attempt it was, whether another is due, or given up);
 * escalations are each shown. Pure (node tests run it). */

/** `changes` (notify and escalate entries, oldest first) with each delivery's earlier
 * attempts left out: one entry per notification, channel and recipient, at the place of
 * its latest attempt. */
export function latestAttempts(changes) {
  const last = new Map();
  changes.forEach((change, index) => {
    if (change.action === "notify") last.set(deliveryKey(change), index);
  });
  return changes.filter((change, index) =>
    change.action !== "notify" || last.get(deliveryKey(change)) === index);
}

function deliveryKey(change) {
  return JSON.stringify([change.notification_id ?? "", change.channel ?? "", change.recipient_name ?? ""]);
}
