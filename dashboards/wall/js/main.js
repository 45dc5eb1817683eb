/* The inspectors' wall: live alerts from /ws/alerts, headline figures from
 * /api/stats/headline, the board of centers from /api/board, who is watching from
 * /api/me, center names from /api/centers. The page's only script (a module: no build
 * step, no network beyond this server); this file wires the others together:
 *
 *   texts.js    the zh-CN and English texts, the language in use        pure
 *   format.js   Beijing times, ages, counts, rates; the corrected clock pure
 *   alert.js    one alert: its status, tag and the line under it        pure
 *   feed.js     the lists as received: messages, order, one row a case  pure
 *   centers.js  the board's centers: tree, names, totals                pure
 *   figures.js  the headline's figures and the data's freshness         pure
 *   state.js    what the page holds, shared by the modules              pure
 *   timers.js, net.js, socket.js   timeouts, the API and polls, the socket
 *   dom.js, rows.js, board.js, header.js, sound.js   drawing the page
 *
 * Token. The page is opened as `/wall/?token=…`. The token is kept in sessionStorage
 * (this tab only, survives a reload), removed from the address bar, and sent as
 * `Authorization: Bearer` to /api/* and as `?token=` on the socket. No token, or one the
 * server refuses (HTTP 401/403, socket closed with 4401/4403), stops the page: a clear
 * message, everything it showed cleared, no more retries. Any other close reconnects
 * with backoff, from the last journal position (socket.js).
 *
 * Messages: `snapshot` (the list as it stands), `alert` (a new one; a red one flashes,
 * and beeps when the sound is on) and `change` (the whole alert as it now stands: its
 * row is rebuilt in place, never flashes); see feed.js.
 *
 * Figures and board. The headline (every 5 s) and the board (every 10 s) are the
 * server's counts over every alert and case in the viewer's scope, not only the ones
 * listed. Between two polls the open red/yellow counts, of the headline and of each
 * tile, follow the socket: a new open alert adds one, a change that closes one takes
 * one off (feed.js Known). After any such message both are fetched again shortly; an
 * answer that was under way while a message arrived is not trusted for the counts (it
 * may or may not include it) and is asked for again. `body[data-figures]` says "synced"
 * when the counts shown are the server's.
 *
 * A county drilled into (board.js) narrows the feed to the county and its townships:
 * fetched from /api/alerts, then followed live (messages that arrive meanwhile wait).
 *
 * Runs for days: the lists are bounded (MAX_ROWS, newest raised_at first, ties by
 * alert_id like the server), as is what the page remembers of each alert (KNOWN_MAX);
 * tiles are bounded by the registry; every timer is one of a few, or cleared.
 */

import { flashRed, followBoard, renderBoard, resetBoard, setUpBoard, showFigures, showFreshness, updateTiles } from "./board.js";
import { els, mark } from "./dom.js";
import { clearFeed, fill, MAX_ROWS, newFeed, offer, receive, resetStream } from "./feed.js";
import { adjustFigures, clearFigures, readHeadline } from "./figures.js";
import { setConnection, showConnection, showNotice, showViewer, tick } from "./header.js";
import { basePath, createApi, poller } from "./net.js";
import * as rows from "./rows.js";
import { createSocket, socketUrl } from "./socket.js";
import { beep, setUpSound, showSound, startSound } from "./sound.js";
import { state } from "./state.js";
import { language, otherLanguage, setLanguage, storedLanguage, t } from "./texts.js";
import { cancel, cancelAll, later } from "./timers.js";

const LOAD_RETRY_MS = 15000;
const HEALTH_POLL_MS = 10000;
const HEADLINE_POLL_MS = 5000;
const BOARD_POLL_MS = 10000;
/** After a socket message, the figures and the board are fetched again this much later. */
const SYNC_DELAY_MS = 1200;
const AGE_REFRESH_MS = 30000;
const TOKEN_KEY = "supervisor.wall.token";

// -- token ------------------------------------------------------------------------------

function takeToken() {
  let fromUrl = null;
  try {
    const url = new URL(location.href);
    fromUrl = url.searchParams.get("token");
    if (fromUrl !== null) {
      url.searchParams.delete("token");
      history.replaceState(history.state, "", `${url.pathname}${url.search}${url.hash}`);
    }
  } catch (err) {
    console.warn("could not read the token from the address", err);
  }
  try {
    if (fromUrl && fromUrl.trim()) {
      sessionStorage.setItem(TOKEN_KEY, fromUrl.trim());
      return fromUrl.trim();
    }
    return sessionStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return fromUrl ? fromUrl.trim() : ""; // storage disabled: this load only
  }
}

const token = takeToken();
const base = basePath(location.pathname);
const refused = () => Boolean(state.refused);
const api = createApi({ base, token, onRefused: refuse });
const socket = createSocket({
  url: () => socketUrl(location, base, token, state.stream.lastSeq),
  onMessage,
  onState: setConnection,
  onRefused: refuse,
});

// -- the figures and the board ------------------------------------------------------------

const headlinePoll = poller("api/stats/headline", HEADLINE_POLL_MS, applyHeadline, {
  api, refused, generation: () => state.socketGen,
});
const boardPoll = poller("api/board", BOARD_POLL_MS, applyBoard, {
  api, refused, generation: () => state.socketGen,
});
let syncTimer = null;

/** Fetch the figures and the board again soon (once, however many messages came). */
function scheduleSync(delay = SYNC_DELAY_MS) {
  if (state.refused) return;
  cancel(syncTimer);
  syncTimer = later(() => {
    syncTimer = null;
    headlinePoll.run();
    boardPoll.run();
  }, delay);
}

function applyHeadline(body, exact) {
  if (!readHeadline(state.figures, body, exact)) return;
  if (exact) mark("figures", "synced");
  else scheduleSync();
  showFigures();
  showFreshness();
}

function applyBoard(body, exact) {
  if (!state.centers.load(body, exact)) return;
  followBoard();
  if (exact) mark("board", "synced");
  else scheduleSync();
  renderBoard();
}

/** A socket message moved, or may have moved, the counts: follow it (`delta` for the
 * alert's colour), and fetch them again shortly. */
function counted(a, delta) {
  state.socketGen += 1;
  mark("figures", "live");
  mark("board", "live");
  scheduleSync();
  if (!delta) return;
  if (adjustFigures(state.figures, a.severity, delta)) showFigures();
  if (state.centers.adjust(a.center_id || "", a.severity, delta)) updateTiles();
}

function refreshAges() {
  rows.refreshAges();
  updateTiles();
}

// -- a county's alerts --------------------------------------------------------------------

function enterArea(code) {
  if (state.area && state.area.code === code) return;
  if (state.area) clearFeed(state.area);
  state.area = newFeed(code);
  rows.emptyList();
  loadArea(state.area);
  rows.render();
  refreshAges();
}

function leaveArea() {
  if (!state.area) return;
  clearFeed(state.area);
  state.area = null;
  rows.emptyList();
  rows.render();
  refreshAges();
}

/** Fetch a county's alerts (with its townships'), then apply what the socket brought
 * meanwhile that is newer than the fetch. */
async function loadArea(feed) {
  if (state.refused || state.area !== feed) return;
  const query = new URLSearchParams({ center_id: feed.code, below: "true", limit: String(MAX_ROWS) });
  try {
    const body = await api(`api/alerts?${query}`);
    if (body === null || state.refused || state.area !== feed) return;
    fill(feed, body);
    rows.scheduleRender();
  } catch (err) {
    if (state.refused || state.area !== feed) return;
    console.warn("the county's alerts are unavailable; retrying", err);
    later(() => loadArea(feed), LOAD_RETRY_MS);
  }
}

// -- the socket's messages ----------------------------------------------------------------

function onMessage(message) {
  const result = receive(state.stream, message);
  if (result === null) return;
  if (result.type === "snapshot") {
    if (state.area) {
      // Back after a gap too long to be told what was missed: fetch the county again.
      const code = state.area.code;
      leaveArea();
      enterArea(code);
    }
    // The counts shown (or being fetched) may predate the snapshot: fetch them again.
    state.socketGen += 1;
    mark("figures", "live");
    mark("board", "live");
    scheduleSync(0);
  } else if (result.alert) {
    const a = result.alert;
    if (state.area && state.centers.within(a.center_id || "", state.area.code)) {
      offer(state.area, { type: result.type, seq: result.seq, alert: a });
    }
    counted(a, result.delta);
    if (result.announce) {
      flashRed(a.center_id || "");
      beep(true);
    }
  }
  rows.scheduleRender();
}

// -- refused ------------------------------------------------------------------------------

/** The server refused this page (final until it is opened with another token): show
 * why, show nothing it may no longer see, stop every connection and retry. */
function refuse(kind) {
  if (state.refused) return;
  state.refused = kind;
  cancelAll();
  syncTimer = null;
  socket.stop();
  resetStream(state.stream);
  if (state.area) clearFeed(state.area);
  state.area = null;
  state.centers.clear();
  resetBoard();
  clearFigures(state.figures);
  mark("refused", kind);
  mark("figures", "cleared");
  mark("board", "cleared");
  setConnection("refused");
  showViewer();
  showNotice();
  showFigures();
  showFreshness();
  renderBoard();
  rows.render();
}

// -- the server's health, and what is loaded once -----------------------------------------

/** Two things can fail: the socket to this server, and the server's Kafka feed. A quiet
 * wall must not look like a calm one, so a feed outage is shown too (from /healthz). */
async function pollHealth() {
  if (state.refused) return;
  try {
    const response = await fetch(`${base}healthz`, { cache: "no-store" });
    const body = await response.json();
    state.feedOk = body.status === "ok";
  } catch {
    // The socket state already says whether this server is reachable.
  }
  showConnection();
}

/** Load `path` once; on a network or server error try again later (not once refused). */
async function loadWithRetry(path, use) {
  if (state.refused) return;
  try {
    const body = await api(path);
    if (body !== null && !state.refused) use(body);
  } catch (err) {
    if (state.refused) return;
    console.warn(`${path} unavailable; retrying`, err);
    later(() => loadWithRetry(path, use), LOAD_RETRY_MS);
  }
}

// -- language -----------------------------------------------------------------------------

function applyLanguage(next, remember = false) {
  const lang = setLanguage(next, remember);
  const texts = t();
  document.documentElement.lang = lang;
  document.title = texts.title;
  for (const node of document.querySelectorAll("[data-i18n]")) {
    const text = texts[node.dataset.i18n];
    if (typeof text === "string") node.textContent = text;
  }
  for (const node of document.querySelectorAll("[data-i18n-aria]")) {
    const text = texts[node.dataset.i18nAria];
    if (typeof text === "string") node.setAttribute("aria-label", text);
  }
  els.lang.textContent = texts.otherLanguage;
  els.lang.lang = otherLanguage(lang);
  showConnection();
  showViewer();
  showNotice();
  showFigures();
  showFreshness();
  showSound();
  rows.redrawRows();
  renderBoard();
  tick();
  rows.render();
}

// -- start --------------------------------------------------------------------------------

setUpBoard({ enter: enterArea, leave: leaveArea });
setUpSound();
els.lang.addEventListener("click", () => applyLanguage(otherLanguage(language()), true));

applyLanguage(storedLanguage());
startSound();
setInterval(tick, 1000);
setInterval(refreshAges, AGE_REFRESH_MS);
setConnection("connecting");
if (!token) {
  refuse("missing");
} else {
  loadWithRetry("api/me", (body) => {
    state.me = body;
    showViewer();
  });
  loadWithRetry("api/centers", (body) => {
    state.centers.setNames(body);
    rows.refreshNames();
    showViewer();
    renderBoard();
  });
  headlinePoll.run();
  boardPoll.run();
  socket.connect();
  pollHealth();
  setInterval(pollHealth, HEALTH_POLL_MS);
}
