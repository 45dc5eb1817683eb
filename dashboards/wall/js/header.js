/* The header's status: the connection (the socket, and the server's Kafka feed: a quiet
 * wall must not look like a calm one), who is watching, the clock and date in Beijing
 * time; and the notice that stops a refused page. */

import { els, mark } from "./dom.js";
import { showFreshness } from "./board.js";
import { clockDate, clockTime, nowMs } from "./format.js";
import { showEmpty } from "./rows.js";
import { state } from "./state.js";
import { language, t } from "./texts.js";

export function setConnection(socketState) {
  state.socketState = socketState;
  showConnection();
}

export function showConnection() {
  const texts = t();
  let look = state.socketState;
  let text = texts.conn[state.socketState];
  if (state.socketState === "connected" && !state.feedOk) {
    look = "degraded";
    text = texts.conn.degraded;
  }
  els.conn.className = `conn conn--${look}`;
  els.connText.textContent = text;
  mark("connection", state.socketState);
  mark("feed", state.feedOk ? "ok" : "degraded");
  showEmpty();
}

/** Why the page stopped (a refused page), or nothing. */
export function showNotice() {
  if (!state.refused) {
    els.notice.hidden = true;
    return;
  }
  const [title, detail] = t().refused[state.refused];
  els.noticeTitle.textContent = title;
  els.noticeDetail.textContent = detail;
  els.notice.hidden = false;
}

/** 王监察 · 纪检监察 (a director's: and their center, by its short name, so the line
 * fits the header; the full name is its tooltip). */
export function showViewer() {
  const me = state.me;
  if (!me || state.refused) {
    els.viewer.hidden = true;
    return;
  }
  const shown = [me.name, t().role[me.role] || me.role];
  const full = [...shown];
  if (me.role === "director" && me.center) {
    shown.push(state.centers.shortName(me.center));
    full.push(state.centers.name(me.center));
  }
  els.viewer.textContent = shown.filter(Boolean).join(" · ");
  els.viewer.title = full.filter(Boolean).join(" · ");
  els.viewer.hidden = false;
}

/** Every second: the clock, the date, and the freshness ageing. */
export function tick() {
  const now = nowMs();
  els.clock.textContent = clockTime(now);
  els.clockDate.textContent = clockDate(t(), language(), now);
  showFreshness();
}
