/* Live changes from /ws/alerts (the wall's socket), so that an open list, alert, order or
 * queue shows what colleagues and the system do without a reload. The session cookie
 * authenticates it (same origin); `?batch=1` may bundle several messages in one frame.
 *
 * The socket starts with a snapshot the console does not need (it reads the API); what
 * it uses are the `alert` (new), `change` and `order` (a supervision order's step)
 * messages. After a drop it reconnects with a
 * growing pause, from the last position it had, so nothing is missed. A socket closed
 * with 4401 (credentials refused) asks the API whether the session still holds: if not,
 * api.js brings the sign-in form back; if so, it reconnects like after a drop. */

import * as api from "./api.js";

const CLOSE_UNAUTHORIZED = 4401;
const CLOSE_FORBIDDEN = 4403;
const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 30000;

/**
 * Start; `onMessage({type: "alert" | "change", seq, alert})` for each new or changed
 * alert and `onMessage({type: "order", seq, order})` for each step of an order, `onState(state)` with "connecting" | "on" | "off". Returns `stop()`.
 */
export function connectLive({ onMessage, onState }) {
  let socket = null;
  let lastSeq = null;
  let backoff = BACKOFF_MIN_MS;
  let timer = null;
  let stopped = false;

  function connect() {
    timer = null;
    if (stopped) return;
    onState("connecting");
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = new URLSearchParams({ batch: "1" });
    if (lastSeq !== null) query.set("after", String(lastSeq));
    const ws = new WebSocket(`${scheme}//${location.host}${api.rootPath()}ws/alerts?${query}`);
    socket = ws;
    ws.onopen = () => {
      backoff = BACKOFF_MIN_MS;
      onState("on");
    };
    ws.onmessage = (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return; // not JSON: nothing this page can use
      }
      const messages = message?.type === "batch" && Array.isArray(message.messages) ? message.messages : [message];
      for (const one of messages) take(one);
    };
    ws.onclose = (event) => {
      if (socket !== ws || stopped) return;
      socket = null;
      onState("off");
      if (event.code === CLOSE_FORBIDDEN) return; // this origin is not allowed: no retry
      if (event.code === CLOSE_UNAUTHORIZED) reconnectIfSignedIn();
      else reconnect();
    };
  }

  function reconnect() {
    timer = setTimeout(connect, backoff * (0.5 + Math.random() / 2));
    backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
  }

  async function reconnectIfSignedIn() {
    try {
      await api.get("api/session");
    } catch (error) {
      if (error.status === 401) return; // api.js has ended the session
    }
    if (!stopped) reconnect();
  }

  function take(message) {
    if (!message || typeof message !== "object") return;
    const seq = Number.isInteger(message.seq) ? message.seq : null;
    if (message.type === "snapshot") {
      if (seq !== null) lastSeq = seq;
      return;
    }
    if (message.type !== "alert" && message.type !== "change" && message.type !== "order") return;
    if (seq !== null && lastSeq !== null && seq <= lastSeq) return; // already had it
    if (seq !== null) lastSeq = seq;
    const about = message.type === "order" ? message.order : message.alert;
    if (about && typeof about === "object") onMessage(message);
  }

  connect();
  return function stop() {
    stopped = true;
    clearTimeout(timer);
    if (socket) {
      const closing = socket;
      socket = null;
      closing.close();
    }
  };
}
