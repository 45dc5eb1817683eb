/* The alert feed on the right: one row per case, newest first, drawn from the list shown
 * (state.js activeFeed), at most MAX_ROWS; the footer's count of what is shown.
 *
 * Each entry's row is kept (by entry) with the state it shows; a row is rebuilt where it
 * stands when its alert changed or the language did, and the list is walked in order
 * moving only the rows out of place, so that a flashing row keeps flashing. A new red
 * alert flashes once, when first drawn. */

import { CLOSED, changeText, stateKey, statusOf, tagOf } from "./alert.js";
import { el, els, flash } from "./dom.js";
import { countByStatus, MAX_ROWS, oneRowPerCase, trim } from "./feed.js";
import { formatAge, formatTime } from "./format.js";
import { activeFeed, state } from "./state.js";
import { t } from "./texts.js";

/** entry -> {row, key}: the row drawn for an entry, and what it shows (`key`). */
const drawn = new WeakMap();
/** Bumped when every row must be drawn again (the language changed). */
let generation = 0;
let renderQueued = false;

function buildRow(entry) {
  const texts = t();
  const a = entry.alert;
  const status = statusOf(a);
  const closed = CLOSED.has(status);
  const tag = tagOf(a, texts);
  const row = el("li", `alert alert--${a.severity} alert--${status}${closed ? " alert--closed" : ""}`);
  row.dataset.alertId = a.alert_id;
  row.dataset.severity = a.severity;
  row.dataset.status = status;
  row.dataset.centerId = a.center_id || "";
  row.title = `${a.rule_id || ""} · ${a.alert_id}`;

  row.append(el("div", "alert__badge", texts.severity[a.severity]));

  const main = el("div", "alert__main");
  const line1 = el("div", "alert__line1");
  line1.append(el("span", "alert__center", state.centers.name(a.center_id || "")));
  if (tag) {
    const [text, modifier] = tag;
    // `alert__withdrawn`: the system's withdrawal, as the wall has always shown it.
    const extra = modifier === "withdrawn" ? " alert__withdrawn" : "";
    line1.append(el("span", `alert__tag alert__tag--${modifier}${extra}`, text));
  }
  line1.append(el("span", "alert__title", a.title || a.rule_id || ""));
  const line2 = el("div", "alert__line2");
  line2.append(a.case_id
    ? el("span", "alert__case", texts.caseLabel(a.case_id))
    : el("span", "alert__case alert__case--center", texts.wholeCenter));
  line2.append(el("span", "alert__message", a.message || ""));
  main.append(line1, line2);
  const change = changeText(a, texts, (code) => state.centers.name(code));
  if (change) {
    const reason = status === "withdrawn" ? " alert__reason" : "";
    main.append(el("div", `alert__change${reason}`, change));
    row.title = `${tag ? tag[0] : ""} · ${change}\n${row.title}`;
  }
  row.append(main);

  const time = el("time", "alert__time", formatTime(entry.time));
  time.dateTime = a.raised_at;
  time.append(el("small", "alert__age", formatAge(entry.time, texts)));
  row.append(time);
  return row;
}

/** The entry's row, rebuilt (in its place, if it is in the list) when what it shows is
 * not the entry's alert as it now stands, in the language in use. */
function rowFor(entry) {
  const key = `${generation}|${stateKey(entry.alert)}`;
  const held = drawn.get(entry);
  if (held && held.key === key) return held.row;
  const row = buildRow(entry);
  if (held) held.row.replaceWith(row); // in place; nothing when it is not in the list
  drawn.set(entry, { row, key });
  return row;
}

/** How many more alerts the row's case has ("该办件另有 2 条"). */
function showMore(row, count) {
  let more = row.querySelector(".alert__more");
  if (!count) {
    if (more) more.remove();
    delete row.dataset.caseAlerts;
    return;
  }
  if (!more) {
    more = el("span", "alert__more");
    const line = row.querySelector(".alert__line2");
    if (line) line.append(more);
  }
  more.textContent = t().caseMore(count);
  row.dataset.caseAlerts = String(count + 1);
}

export function render() {
  renderQueued = false;
  const texts = t();
  const shown = oneRowPerCase(trim(activeFeed()));
  // First the rows to rebuild, where they stand; then the walk moves only rows out of place.
  const rows = shown.map(({ entry }) => rowFor(entry));
  let cursor = els.list.firstElementChild;
  shown.forEach(({ entry, more }, i) => {
    const row = rows[i];
    showMore(row, more);
    if (entry.flash) {
      entry.flash = false;
      flash(row);
    }
    if (row === cursor) {
      cursor = cursor.nextElementSibling;
    } else {
      els.list.insertBefore(row, cursor);
    }
  });
  while (cursor) {
    const next = cursor.nextElementSibling;
    cursor.remove();
    cursor = next;
  }
  const parts = countByStatus(shown).map(([status, n]) => texts.shownPart[status](n));
  els.shown.textContent = texts.shown(shown.length, MAX_ROWS, parts);
  showEmpty();
}

/** Render at the next frame (once, however many messages came). */
export function scheduleRender() {
  // A hidden tab runs no animation frames: never let a list grow past its bound.
  for (const feed of [state.stream.all, state.area]) {
    if (feed && feed !== activeFeed() && feed.entries.size > 2 * MAX_ROWS) trim(feed);
  }
  if (activeFeed().entries.size > 2 * MAX_ROWS) {
    render();
    return;
  }
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(render);
}

/** The line shown instead of an empty list: loading, no alerts, or the feed is down. */
export function showEmpty() {
  const feed = activeFeed();
  const texts = t();
  els.empty.textContent = !feed.ready ? texts.loading : state.feedOk ? texts.empty : texts.emptyDegraded;
  els.empty.classList.toggle("is-visible", feed.entries.size === 0 && !state.refused);
}

/** Take every row out of the list (another list is about to be shown). */
export function emptyList() {
  els.list.replaceChildren();
}

/** Draw every row again at the next render (the language changed). */
export function redrawRows() {
  generation += 1;
}

/** The centers' names arrived: put them in the rows already drawn. */
export function refreshNames() {
  for (const feed of [state.stream.all, state.area]) {
    if (!feed) continue;
    for (const entry of feed.entries.values()) {
      const held = drawn.get(entry);
      const node = held && held.row.querySelector(".alert__center");
      if (node) node.textContent = state.centers.name(entry.alert.center_id || "");
    }
  }
}

/** The rows' ages ("3 分钟前"), every AGE_REFRESH_MS. */
export function refreshAges() {
  const texts = t();
  for (const entry of activeFeed().entries.values()) {
    const held = drawn.get(entry);
    const node = held && held.row.querySelector(".alert__age");
    if (node) node.textContent = formatAge(entry.time, texts);
  }
}
