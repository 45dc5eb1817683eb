/* The board of centers on the left and the header's figures.
 *
 * Board. The viewer's top center (the city for an inspector, their own center for a
 * director) with the centers under it; a click, or Enter on the tile chosen with the
 * arrow keys, drills into a county: its townships' tiles, and the feed narrowed to the
 * county and its townships (main.js enterArea). Escape or Backspace goes back. A tile of
 * a center with centers under it counts them in (含乡镇); the center in focus shows its
 * own (本级). Colour: the worst open alert. The centers themselves: centers.js.
 *
 * Figures. 今日受理, 在办件, the open red/yellow alerts, 按期办结率, and the freshness of
 * the data (amber after 10 minutes without an event, red after 30): figures.js. */

import { el, els, flash, mark } from "./dom.js";
import { worstOf } from "./feed.js";
import { freshness } from "./figures.js";
import { formatAge, formatCount, formatRate, formatTime } from "./format.js";
import { state } from "./state.js";
import { t } from "./texts.js";

/** code -> the tile element shown for it in the current view. */
const tileNodes = new Map();
/** The center whose centers are shown (undefined until the board has loaded; null:
 * several top centers, shown side by side). */
let view;
let shownCodes = "";
let selected = null;
let keyboardUsed = false;
/** What drilling in and out does to the feed (main.js). */
let area = { enter() {}, leave() {} };

// -- figures ----------------------------------------------------------------------------

export function showFigures() {
  const texts = t();
  const figures = state.figures;
  els.accepted.textContent = formatCount(figures.accepted);
  els.openCases.textContent = formatCount(figures.openCases);
  els.red.textContent = figures.red === null ? "—" : String(figures.red);
  els.yellow.textContent = figures.yellow === null ? "—" : String(figures.yellow);
  els.rateToday.textContent = formatRate(figures.rateToday);
  els.rateMonth.textContent = formatRate(figures.rateMonth);
  els.rateToday.parentElement.title = figures.loaded ? texts.rateDetail(texts.rateToday, ...figures.today) : "";
  els.rateMonth.parentElement.title = figures.loaded ? texts.rateDetail(texts.rateMonth, ...figures.month) : "";
}

export function showFreshness() {
  const texts = t();
  const figures = state.figures;
  const { state: look, minutes } = freshness(figures);
  const text = look === "unknown" ? texts.freshUnknown : look === "none" ? texts.freshNone : texts.fresh(texts.age(minutes));
  els.fresh.dataset.freshness = look;
  els.freshText.textContent = text;
  els.fresh.title = figures.lastEventMs === null ? "" : texts.freshTitle(formatTime(figures.lastEventMs));
}

/** A new open red alert: the header's red figure and the tiles of its center (and of
 * those above it) flash. */
export function flashRed(centerId) {
  flash(els.redFigure);
  let code = centerId;
  for (let depth = 0; code && depth < 4; depth += 1) {
    const node = tileNodes.get(code);
    if (node) flash(node);
    code = state.centers.parentOf(code);
  }
}

// -- the board --------------------------------------------------------------------------

function drilled() {
  return view !== undefined && view !== state.centers.top();
}

function drillable(code) {
  return code !== view && state.centers.childrenOf(code).length > 0;
}

/** The board was fetched again: a view that is gone (or none yet) becomes the top one. */
export function followBoard() {
  const centers = state.centers;
  if (view === undefined || (view !== null && !centers.has(view))) {
    view = centers.top();
    area.leave();
  }
}

/** Nothing in view (the page was refused). */
export function resetBoard() {
  view = undefined;
}

function buildTile(code, { focus }) {
  const tile = state.centers.get(code);
  const node = el("button", `tile${focus ? " tile--focus" : ""}`);
  node.type = "button";
  node.dataset.code = code;
  node.dataset.level = tile ? tile.level : "";
  node.dataset.scope = !focus && state.centers.childrenOf(code).length ? "area" : "own";
  node.tabIndex = -1;
  node.addEventListener("click", () => {
    selected = code;
    if (!open(code)) showSelection();
  });
  return node;
}

/** Rebuild the tiles when the view (or the set of centers) changed; else update them. */
export function renderBoard() {
  const texts = t();
  const centers = state.centers;
  const list = view === undefined ? [] : centers.childrenOf(view);
  const codes = `${view}|${list.join(",")}`;
  if (codes !== shownCodes) {
    shownCodes = codes;
    tileNodes.clear();
    els.focus.replaceChildren();
    els.tiles.replaceChildren();
    if (view !== undefined && view !== null && centers.has(view)) {
      const node = buildTile(view, { focus: true });
      tileNodes.set(view, node);
      els.focus.append(node);
    }
    for (const code of list) {
      const node = buildTile(code, { focus: false });
      tileNodes.set(code, node);
      els.tiles.append(node);
    }
    els.tiles.dataset.count = String(list.length);
    if (selected !== null && !tileNodes.has(selected)) selected = null;
  }
  const isDrilled = drilled();
  mark("view", isDrilled ? view : "top");
  els.back.hidden = !isDrilled;
  els.centersTitle.textContent = isDrilled || (view && centers.get(view) && centers.get(view).level !== "city")
    ? texts.centersArea(centers.shortName(view))
    : texts.centersTop;
  const top = centers.top();
  const narrowed = state.area ? state.area.code : top && centers.get(top).level !== "city" ? top : null;
  els.feedTitle.textContent = narrowed ? texts.feedArea(centers.shortName(narrowed)) : texts.feedAll;
  updateTiles();
  showSelection();
}

export function updateTiles() {
  const texts = t();
  const centers = state.centers;
  for (const [code, node] of tileNodes) {
    const tile = centers.get(code);
    if (!tile) continue;
    const focus = node.classList.contains("tile--focus");
    const isArea = node.dataset.scope === "area";
    const sum = centers.totals(code, isArea);
    const worst = worstOf(sum);
    node.dataset.worst = worst;
    node.dataset.red = String(sum.red);
    node.dataset.yellow = String(sum.yellow);
    node.dataset.openCases = String(sum.openCases);
    node.classList.remove("tile--red", "tile--yellow", "tile--none");
    node.classList.add(`tile--${worst}`);
    node.classList.toggle("tile--drillable", drillable(code));
    node.title = drillable(code) ? texts.tileOpenHint(tile.name) : tile.name;

    const head = el("span", "tile__head");
    head.append(el("span", "tile__name", centers.shortName(code)));
    if (focus) head.append(el("span", "tile__scope", texts.tileOwn));

    const counts = el("span", "tile__counts");
    for (const severity of ["red", "yellow"]) {
      const count = el("span", `tile__count tile__count--${severity}${sum[severity] ? "" : " is-zero"}`);
      count.append(el("b", "tile__number", String(sum[severity])), el("span", "", texts.severity[severity]));
      count.dataset.severity = severity;
      counts.append(count);
    }
    const cases = el("span", "tile__cases", texts.tileCases(sum.openCases, formatCount(sum.openCases)));
    // How long ago its latest event was; on a small tile just the age (tooltip: what).
    const age = sum.lastEventMs === null ? null : formatAge(sum.lastEventMs, texts);
    const fresh = el("span", "tile__fresh", age === null ? texts.tileNoData : isArea ? age : texts.tileFresh(age));
    if (age !== null) fresh.title = texts.tileFresh(age);
    const foot = el("span", "tile__foot");
    if (isArea) {
      // The centers under it, one square each in its colour: which township is red.
      const dots = el("span", "tile__dots");
      for (const child of centers.childrenOf(code)) {
        const dot = el("i", `tile__dot tile__dot--${worstOf(centers.totals(child, false))}`);
        dot.title = centers.name(child);
        dots.append(dot);
      }
      foot.append(dots);
    }
    foot.append(fresh);
    node.replaceChildren(head, counts, cases, foot);
  }
}

// -- choosing a tile: click, arrow keys, Enter, Escape ------------------------------------

/** The tiles the arrow keys move through: the center in focus, then those under it. */
function navigable() {
  return [...tileNodes.keys()];
}

function showSelection(focusIt = false) {
  const order = navigable();
  const current = selected !== null && tileNodes.has(selected) ? selected : null;
  order.forEach((code, i) => {
    const node = tileNodes.get(code);
    const chosen = current === code;
    node.tabIndex = chosen || (current === null && i === 0) ? 0 : -1;
    node.classList.toggle("is-selected", chosen && keyboardUsed);
  });
  if (focusIt && current !== null && keyboardUsed && document.activeElement !== tileNodes.get(current)) {
    tileNodes.get(current).focus({ preventScroll: true });
  }
}

function select(code) {
  selected = code;
  showSelection(true);
}

/** Drill into `code` (a center with centers under it); false if it has none. */
function open(code) {
  if (code === null || !drillable(code)) return false;
  view = code;
  area.enter(code);
  renderBoard();
  const first = state.centers.childrenOf(code)[0];
  select(first !== undefined ? first : code);
  return true;
}

/** Back to the center above the one in focus; false at the top. */
function back() {
  if (!drilled()) return false;
  const from = view;
  const parent = state.centers.parentOf(from);
  view = parent && state.centers.has(parent) ? parent : state.centers.top();
  if (drilled()) area.enter(view);
  else area.leave();
  renderBoard();
  select(from);
  return true;
}

/** The direction of an arrow key: the nearest tile that way (left/right: in order). */
function move(key) {
  const order = navigable();
  if (!order.length) return;
  keyboardUsed = true;
  const at = order.indexOf(selected);
  if (at < 0) {
    select(order[0]);
    return;
  }
  if (key === "ArrowLeft" || key === "ArrowRight") {
    const next = at + (key === "ArrowRight" ? 1 : -1);
    select(order[Math.max(0, Math.min(order.length - 1, next))]);
    return;
  }
  const down = key === "ArrowDown";
  const from = tileNodes.get(selected).getBoundingClientRect();
  const fromX = from.left + from.width / 2;
  let best = null;
  let bestScore = Infinity;
  for (const code of order) {
    if (code === selected) continue;
    const r = tileNodes.get(code).getBoundingClientRect();
    const dy = down ? r.top - from.bottom : from.top - r.bottom;
    if (dy < -1) continue; // not in that direction
    const score = dy + 2 * Math.abs(r.left + r.width / 2 - fromX);
    if (score < bestScore) {
      bestScore = score;
      best = code;
    }
  }
  if (best !== null) select(best);
}

function onKey(event) {
  if (state.refused || event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
  if (event.isComposing) return;
  const target = event.target instanceof Element ? event.target : null;
  if (target && target.closest("input, textarea, select, [contenteditable]")) return;
  const onOtherControl = target && !target.closest(".tile") && target.closest("button, a");
  switch (event.key) {
    case "ArrowLeft":
    case "ArrowRight":
    case "ArrowUp":
    case "ArrowDown":
      move(event.key);
      break;
    case "Enter":
      if (onOtherControl) return; // the header's buttons work as buttons
      keyboardUsed = true;
      if (selected === null || !tileNodes.has(selected)) {
        const order = navigable();
        if (order.length) select(order[0]);
      } else {
        open(selected);
      }
      break;
    case "Escape":
    case "Backspace":
      keyboardUsed = true;
      if (!back()) return;
      break;
    default:
      return;
  }
  event.preventDefault();
}

/** The back button and the keys; `enter(code)` / `leave()`: narrow the feed to a county,
 * and back to every alert. */
export function setUpBoard({ enter, leave }) {
  area = { enter, leave };
  els.back.addEventListener("click", () => back());
  document.addEventListener("keydown", onKey);
}
