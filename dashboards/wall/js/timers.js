/* The page's timeouts, kept so that a refused page can stop every one of them at once
 * (cancelAll): a reconnection, a poll, a retry. The repeating ones (the clock, the ages,
 * the health check) are intervals of their own and check whether the page was refused.
 *
 * No DOM (node imports it). */

const pending = new Set();

/** `fn` once after `ms`; returns its id, for cancel. */
export function later(fn, ms) {
  const id = setTimeout(() => {
    pending.delete(id);
    fn();
  }, ms);
  pending.add(id);
  return id;
}

/** Cancel a timeout of `later` (null: nothing). */
export function cancel(id) {
  if (id === null) return;
  clearTimeout(id);
  pending.delete(id);
}

/** Cancel every timeout of `later` still pending. */
export function cancelAll() {
  for (const id of pending) clearTimeout(id);
  pending.clear();
}
