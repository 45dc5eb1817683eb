/* The alerts as received, without the page: the lists (every alert in scope, or a
 * county's), the socket's messages applied to them, their order, one row per case, and
 * what the page heard of each alert (for the open counts).
 *
 * Messages (docs/architecture.md §8): `snapshot` (the list as it stands), `alert` (a new
 * one) and `change` (the whole alert as it now stands). Every message after the first
 * carries `seq`, its position in the alert journal; the stream keeps the highest it has
 * applied, to reconnect with `after=<seq>`, and a message at or below it (a restarted
 * server reading its journal again) changes nothing. An alert is known by its id: the
 * same alert twice is one entry, and changes it only when its state moved (`stateKey`).
 *
 * Pure: no DOM (node imports it); what the page draws of an entry is the page's business
 * (rows.js keeps its elements by entry). */

import {
  isAlert, isOpen, lastChangeOf, FROM_OPEN, stateKey, statusOf, withdrawnBySystem,
} from "./alert.js";

/** The rows a list keeps (newest raised_at first). */
export const MAX_ROWS = 200;
/** How many alerts the counts remember (oldest forgotten first). */
export const KNOWN_MAX = 20000;
/** Messages kept for a county's list while it is being fetched. */
export const BUFFER_MAX = 2000;
/** The statuses the footer counts among the rows shown, in its order. */
export const SHOWN_STATUSES = ["acknowledged", "appealed", "resolved", "withdrawn", "closed", "superseded"];

// -- a list ---------------------------------------------------------------------------------

/**
 * A list of alerts: every alert in scope (`code` null), or a county's (drilled into).
 * `entries`: alert_id -> {alert, time (raised_at, ms since epoch), flash (a new red alert
 * not yet shown)}. A county's list is `ready` once fetched; messages that arrive before
 * wait in `buffer` and are applied after it when newer than the fetch's position `seq`.
 */
export function newFeed(code = null) {
  return { code, entries: new Map(), ready: code === null, buffer: [], seq: null };
}

function newEntry(alert, flash) {
  return { alert, time: Date.parse(alert.raised_at), flash };
}

/** Newest first; ties by alert_id descending, as the server orders them. */
export function newer(a, b) {
  if (a.time !== b.time) return b.time - a.time;
  return a.alert.alert_id < b.alert.alert_id ? 1 : a.alert.alert_id > b.alert.alert_id ? -1 : 0;
}

/** Give an entry its alert as it now stands (a change never flashes). */
export function setAlert(entry, alert) {
  entry.alert = alert;
  entry.flash = false;
}

/** Put `alert` in `feed`: a new one, or the same one as it now stands. Only a new red
 * alert that is still open flashes (with `flash`: it came as news). False when nothing
 * changed: not an alert, or the same state of one already there. */
export function upsert(feed, alert, { flash = false } = {}) {
  if (!isAlert(alert)) return false;
  const entry = feed.entries.get(alert.alert_id);
  if (!entry) {
    feed.entries.set(alert.alert_id, newEntry(alert, flash && alert.severity === "red" && isOpen(alert)));
    return true;
  }
  if (stateKey(entry.alert) === stateKey(alert)) return false;
  setAlert(entry, alert);
  return true;
}

/** The list becomes `alerts` (a snapshot, or a county's as fetched): the entries of
 * alerts already there are kept (changed while the screen was away: they follow the
 * server), the others forgotten; the first of two with the same id counts; none flashes. */
export function replaceAll(feed, alerts) {
  const keep = new Map();
  for (const alert of alerts) {
    if (!isAlert(alert) || keep.has(alert.alert_id)) continue;
    const old = feed.entries.get(alert.alert_id);
    if (old) {
      if (stateKey(old.alert) !== stateKey(alert)) setAlert(old, alert);
      keep.set(alert.alert_id, old);
    } else {
      keep.set(alert.alert_id, newEntry(alert, false));
    }
  }
  feed.entries.clear();
  for (const [id, entry] of keep) feed.entries.set(id, entry);
}

export function clearFeed(feed) {
  feed.entries.clear();
  feed.buffer = [];
}

/** The newest `max` entries of a list, sorted newest first; the others are forgotten. */
export function trim(feed, max = MAX_ROWS) {
  const sorted = [...feed.entries.values()].sort(newer);
  for (const dropped of sorted.splice(max)) feed.entries.delete(dropped.alert.alert_id);
  return sorted;
}

// -- a county's list -------------------------------------------------------------------------

/** A message for a county's list: applied when the list is ready, else kept for after its
 * fetch (at most BUFFER_MAX, the oldest dropped). */
export function offer(feed, message) {
  if (feed.ready) {
    upsert(feed, message.alert, { flash: message.type === "alert" });
    return;
  }
  feed.buffer.push(message);
  if (feed.buffer.length > BUFFER_MAX) feed.buffer.shift();
}

/** A county's alerts as fetched (`/api/alerts`: {items, seq}); then what the socket
 * brought meanwhile that is newer than the fetch's position. */
export function fill(feed, body) {
  replaceAll(feed, Array.isArray(body.items) ? body.items : []);
  feed.seq = Number.isInteger(body.seq) ? body.seq : null;
  feed.ready = true;
  for (const message of feed.buffer) {
    if (feed.seq === null || message.seq === null || message.seq > feed.seq) {
      upsert(feed, message.alert, { flash: message.type === "alert" });
    }
  }
  feed.buffer = [];
}

// -- the rows shown ------------------------------------------------------------------------

/** The rank of an alert among its case's: open before closed, red before yellow. */
export function caseRank(a) {
  return (isOpen(a) ? 0 : 2) + (a.severity === "red" ? 0 : 1);
}

/**
 * One row per case (contract: a case shows once, with its worst open alert): of a case's
 * alerts, the open red one first, then open yellow, then the newest closed one; `more`:
 * how many more the case has. Alerts of no case (a center's) stand alone. `sorted` is
 * newest first (trim), so the first of equal rank is the newest. [{entry, more}].
 */
export function oneRowPerCase(sorted) {
  const best = new Map();
  const count = new Map();
  for (const entry of sorted) {
    const id = entry.alert.case_id;
    if (!id) continue;
    count.set(id, (count.get(id) || 0) + 1);
    const held = best.get(id);
    if (!held || caseRank(entry.alert) < caseRank(held.alert)) best.set(id, entry);
  }
  const shown = [];
  for (const entry of sorted) {
    const id = entry.alert.case_id;
    if (id && best.get(id) !== entry) continue;
    shown.push({ entry, more: id ? count.get(id) - 1 : 0 });
  }
  return shown;
}

/** The footer's count of the rows shown that are not plainly open: [[status, n]…] in
 * SHOWN_STATUSES' order, those with none left out; "delisted" (摘牌, an appeal upheld)
 * counted apart from "withdrawn" (by the system), after it. */
export function countByStatus(shown) {
  // 已摘牌 (an appeal upheld) apart from 已撤销 (the system's), as their rows say
  const order = SHOWN_STATUSES.flatMap((status) => status === "withdrawn" ? [status, "delisted"] : [status]);
  const counts = new Map(order.map((status) => [status, 0]));
  for (const item of shown) {
    const a = (item.entry || item).alert;
    let status = statusOf(a);
    if (status === "withdrawn" && !withdrawnBySystem(a)) status = "delisted";
    if (counts.has(status)) counts.set(status, counts.get(status) + 1);
  }
  return [...counts].filter(([, n]) => n > 0);
}

/** Open alerts by colour, of alerts or entries: {red, yellow}. */
export function openCounts(items) {
  const out = { red: 0, yellow: 0 };
  for (const item of items) {
    const a = item && item.alert && typeof item.alert === "object" ? item.alert : item;
    if (isAlert(a) && isOpen(a)) out[a.severity] += 1;
  }
  return out;
}

/** The colour of a center: its worst open alert ("red", "yellow" or "none"). */
export function worstOf(counts) {
  return counts.red > 0 ? "red" : counts.yellow > 0 ? "yellow" : "none";
}

// -- what the page heard of each alert (the counts between two polls) -----------------------

/**
 * alert_id -> {center, severity, open}: for the alerts the page heard of (snapshot and
 * messages; oldest forgotten first, beyond `max`), whether each was open, so that a change
 * that closes one takes it off the counts.
 */
export class Known {
  constructor(max = KNOWN_MAX) {
    this.max = max;
    this.alerts = new Map();
  }

  get size() {
    return this.alerts.size;
  }

  has(alertId) {
    return this.alerts.has(alertId);
  }

  get(alertId) {
    return this.alerts.get(alertId);
  }

  clear() {
    this.alerts.clear();
  }

  remember(a) {
    this.alerts.delete(a.alert_id);
    this.alerts.set(a.alert_id, { center: a.center_id || "", severity: a.severity, open: isOpen(a) });
    while (this.alerts.size > this.max) this.alerts.delete(this.alerts.keys().next().value);
  }

  /** Follow one `alert` or `change` message: +1 when its alert became open business, -1
   * when it stopped being, 0 when neither or when it cannot be told (a change to an
   * alert never heard of, which may or may not have been open). */
  track(message) {
    const a = message.alert;
    const now = isOpen(a);
    const prev = this.alerts.get(a.alert_id);
    let before;
    if (prev) {
      before = prev.open;
    } else if (message.type === "alert") {
      before = false;
    } else {
      const change = lastChangeOf(a);
      before = change && FROM_OPEN.has(change.action) ? true : null; // null: cannot tell
    }
    this.remember(a);
    if (before === null || before === now) return 0;
    return now ? 1 : -1;
  }
}

// -- the socket's messages -------------------------------------------------------------------

/** What the socket brought: every alert in scope (`all`), what the page heard of
 * (`known`), and the highest journal position applied (`lastSeq`, null before any). */
export function newStream() {
  return { all: newFeed(null), known: new Known(), lastSeq: null };
}

/**
 * Apply one message (already parsed from JSON; a batch already split) to the stream.
 * Returns null for what changes nothing (an unknown type, a repeat at or below lastSeq),
 * else {type, seq, alert, delta, announce}:
 * - `snapshot`: the list replaced, its alerts remembered (alert null);
 * - `alert` / `change`: `alert` the alert as it now stands (null when the message has no
 *   valid one: its position still counts), `delta` the move of the open count of its
 *   colour (+1, -1, 0), `announce` true for a new open red alert never heard of before.
 */
export function receive(stream, message) {
  if (!message || typeof message !== "object") return null;
  const seq = Number.isInteger(message.seq) ? message.seq : null;
  if (message.type === "snapshot" && Array.isArray(message.alerts)) {
    replaceAll(stream.all, message.alerts);
    for (const a of message.alerts) if (isAlert(a)) stream.known.remember(a);
    if (seq !== null) stream.lastSeq = seq;
    return { type: "snapshot", seq, alert: null, delta: 0, announce: false };
  }
  if (message.type !== "alert" && message.type !== "change") return null;
  // Already applied: a restarted server reading its journal again, or a repeat.
  if (seq !== null && stream.lastSeq !== null && seq <= stream.lastSeq) return null;
  if (seq !== null) stream.lastSeq = seq;
  const a = message.alert;
  if (!isAlert(a)) return { type: message.type, seq, alert: null, delta: 0, announce: false };
  const isNew = message.type === "alert";
  upsert(stream.all, a, { flash: isNew });
  const wasKnown = stream.known.has(a.alert_id);
  const delta = stream.known.track({ type: message.type, alert: a });
  const announce = isNew && !wasKnown && a.severity === "red" && isOpen(a);
  return { type: message.type, seq, alert: a, delta, announce };
}

/** Forget everything (the page was refused): nothing shown, nothing to resume from. */
export function resetStream(stream) {
  clearFeed(stream.all);
  stream.known.clear();
  stream.lastSeq = null;
}
