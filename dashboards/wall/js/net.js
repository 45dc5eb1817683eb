/* The page's calls to its server: the API with the token (a 401 or 403 refuses the page),
 * and the figures polled on a period and again on demand.
 *
 * Nothing is touched at import (node imports it). */

import { cancel, later } from "./timers.js";

/** The path the page is served under, minus "wall/", so that a proxy's prefix still
 * works: "/prefix/wall/" -> "/prefix/"; "/" when not under /wall/. */
export function basePath(pathname) {
  const at = pathname.lastIndexOf("/wall/");
  return at >= 0 ? pathname.slice(0, at + 1) : "/";
}

/** `api(path)`: GET base + path with `Authorization: Bearer <token>`, its JSON. A 401
 * calls `onRefused("token")`, a 403 `onRefused("forbidden")`, and gives null; another
 * error status throws. */
export function createApi({ base, token, onRefused, fetch: get = (...args) => fetch(...args) }) {
  return async function api(path) {
    const response = await get(`${base}${path}`, {
      cache: "no-store",
      headers: { Authorization: `Bearer ${token}` },
    });
    if (response.status === 401) {
      onRefused("token");
      return null;
    }
    if (response.status === 403) {
      onRefused("forbidden");
      return null;
    }
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return response.json();
  };
}

/**
 * A figure fetched every `every` ms, and again at once on `run()` (one at a time; a call
 * while one is under way runs it again after). `apply(body, exact)`: exact when
 * `generation()` (bumped by every socket message that moved, or may have moved, the
 * counts) did not change while it was under way. Stops while `refused()`.
 */
export function poller(path, every, apply, { api, refused, generation }) {
  let timer = null;
  let busy = false;
  let again = false;
  let failing = false;
  async function run() {
    if (refused()) return;
    if (busy) {
      again = true;
      return;
    }
    cancel(timer);
    timer = null;
    busy = true;
    const gen = generation();
    try {
      const body = await api(path);
      if (body !== null && !refused()) apply(body, gen === generation());
      failing = false;
    } catch (err) {
      if (!failing) console.warn(`${path} unavailable; trying again`, err);
      failing = true; // the figures stay; the freshness keeps ageing
    } finally {
      busy = false;
    }
    if (refused()) return;
    if (again) {
      again = false;
      run();
      return;
    }
    timer = later(run, every);
  }
  return { run };
}
