/* Requests to the service: JSON in and out, the session's CSRF value on every change,
 * a failure as an ApiError (errors.js says what a person reads).
 *
 * The session cookie is HttpOnly: no script here can read it, and none needs to. The
 * CSRF value comes from the sign-in answer or from GET /api/session, is kept in memory
 * only, and goes in `X-CSRF-Token` with every POST and DELETE; another site's page cannot
 * know it, so its requests are refused even when the browser sends the cookie. */

import { ApiError } from "./errors.js";

let csrf = null;
let sessionEnded = () => {};

/** The service's root path: what precedes "console/" (a proxy may add a prefix). */
export function rootPath() {
  const path = location.pathname;
  const at = path.lastIndexOf("/console/");
  return at >= 0 ? path.slice(0, at + 1) : "/";
}

export function setCsrf(value) {
  csrf = value || null;
}

/** `handler()` runs when a request finds the session ended (401): sign in again. */
export function onSessionEnded(handler) {
  sessionEnded = handler;
}

/** Whether `error` is a request given up on purpose (the screen was left). */
export function isAbort(error) {
  return error?.name === "AbortError";
}

/** The answer's JSON (null for 204); ApiError on failure. `signal` aborts it; with
 * `signingIn` a 401 is the form's to show, not the end of a session; `onResponse(response)`
 * sees the answer before its body is read (its headers). */
export async function request(method, path, { body, signal, signingIn = false, onResponse } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
  let response;
  try {
    response = await fetch(rootPath() + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
      signal,
    });
  } catch (error) {
    if (isAbort(error)) throw error;
    throw new ApiError(0, "");
  }
  onResponse?.(response);
  if (response.status === 204) return null;
  const answer = await response.json().catch(() => null);
  if (!response.ok) {
    if (response.status === 401 && !signingIn) sessionEnded();
    throw new ApiError(response.status, answer?.detail);
  }
  return answer;
}

export const get = (path, options) => request("GET", path, options);

/** A page of a list and how many match in all (the answer's `X-Total-Count`; null
 * when the service does not say). ApiError on failure. */
export async function getPage(path, { signal } = {}) {
  let total = null;
  const items = await request("GET", path, {
    signal,
    onResponse: (response) => {
      const said = Number.parseInt(response.headers.get("X-Total-Count") ?? "", 10);
      total = Number.isInteger(said) ? said : null;
    },
  });
  return { items: items ?? [], total };
}
export const post = (path, body = {}, options) => request("POST", path, { ...options, body });
export const remove = (path, options) => request("DELETE", path, options);

/** The path of one alert, or of one of its actions ("appeal/accept"). */
export function alertPath(alertId, action) {
  return `api/alerts/${encodeURIComponent(alertId)}${action ? `/${action}` : ""}`;
}
