/* The socket to /ws/alerts: resumed from the last journal position, reconnected with
 * backoff, stopped for good when the server refuses the token.
 *
 * Positions. The page keeps the highest position it applied (feed.js `receive`) and
 * reconnects with `&after=<seq>`: the server then sends exactly what was missed (or a
 * fresh snapshot when that is too old), so after a network drop or a web restart every
 * alert is shown once. `?batch=1`: the server may join the messages that queued up while
 * the previous frame went out into one frame {type: "batch", messages}.
 *
 * Closes. 4401 (token invalid, revoked or expired) and 4403 (role or origin not allowed)
 * are final: `onRefused("token" | "forbidden")`, no retry. Any other close reconnects
 * after a pause that doubles from BACKOFF_MIN_MS up to BACKOFF_MAX_MS (each with jitter:
 * half to all of it), back to the minimum once a connection opens.
 *
 * Nothing is touched at import (node imports it; WebSocket can be passed in). */

import { cancel, later } from "./timers.js";

export const BACKOFF_MIN_MS = 1000;
export const BACKOFF_MAX_MS = 30000;
export const CLOSE_UNAUTHORIZED = 4401;
export const CLOSE_FORBIDDEN = 4403;

/** The messages of one frame: [] for one that is not a JSON object, the messages of a
 * batch, else [the message]. */
export function parseFrame(data) {
  let message;
  try {
    message = JSON.parse(data);
  } catch (err) {
    console.warn("ignoring a message that is not JSON", err);
    return [];
  }
  if (!message || typeof message !== "object") return [];
  if (message.type === "batch" && Array.isArray(message.messages)) return message.messages;
  return [message];
}

/** The socket's address: same host, under `base` (the page's root path), resuming after
 * `after` (null: from a snapshot). */
export function socketUrl({ protocol, host }, base, token, after) {
  const scheme = protocol === "https:" ? "wss:" : "ws:";
  const query = new URLSearchParams({ token, batch: "1" });
  if (after !== null && after !== undefined) query.set("after", String(after));
  return `${scheme}//${host}${base}ws/alerts?${query}`;
}

/** The pause before the next attempt (jittered: half to all of `backoff`), and the
 * backoff after it. */
export function nextDelay(backoff, random = Math.random) {
  return { delay: backoff * (0.5 + random() / 2), backoff: Math.min(backoff * 2, BACKOFF_MAX_MS) };
}

/**
 * A socket that keeps itself connected. `url()`: the address for the next attempt (so it
 * resumes from the position then applied); `onMessage(message)` for every message of
 * every frame; `onState("connected" | "reconnecting")`; `onRefused(kind)` on a final close.
 * Returns {connect(), stop()}: stop closes it and cancels any reconnection, for good.
 * (`WebSocket`, `random`, `schedule` and `unschedule` can be given instead of the
 * browser's and timers.js': the tests do.)
 */
export function createSocket({
  url, onMessage, onState, onRefused,
  WebSocket: Socket = globalThis.WebSocket, random = Math.random, schedule = later, unschedule = cancel,
}) {
  let socket = null;
  let timer = null;
  let backoff = BACKOFF_MIN_MS;
  let stopped = false;

  function connect() {
    timer = null;
    if (stopped) return;
    const ws = new Socket(url());
    socket = ws;
    ws.onopen = () => {
      backoff = BACKOFF_MIN_MS;
      onState("connected");
    };
    ws.onmessage = (event) => {
      for (const message of parseFrame(event.data)) onMessage(message);
    };
    ws.onclose = (event) => {
      if (socket !== ws) return;
      socket = null;
      if (event.code === CLOSE_UNAUTHORIZED) {
        onRefused("token");
        return;
      }
      if (event.code === CLOSE_FORBIDDEN) {
        onRefused("forbidden");
        return;
      }
      onState("reconnecting");
      const next = nextDelay(backoff, random);
      backoff = next.backoff;
      timer = schedule(connect, next.delay);
    };
  }

  function stop() {
    stopped = true;
    unschedule(timer);
    timer = null;
    if (socket) {
      const closing = socket;
      socket = null;
      closing.onclose = null;
      closing.onmessage = null;
      closing.close();
    }
  }

  return { connect, stop };
}
