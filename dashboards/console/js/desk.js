/* Who is signed in, and what every screen looks up: center names (GET /api/centers) and
 * the rules (GET /api/rules, fetched once per sign-in). Also the page's announcements: a
 * short confirmation after a step, read out by screen readers (an aria-live region). */

import * as api from "./api.js";

const ANNOUNCE_MS = 6000;

let person = null;
let centers = {};
let rulesById = null;
let announceTimer = null;
let afterMove = null;

/** Signed in as `session` ({name, role, center}). */
export function begin(session) {
  person = { name: session.name, role: session.role, center: session.center ?? null };
  centers = {};
  rulesById = null;
}

export function end() {
  person = null;
  centers = {};
  rulesById = null;
}

/** {name, role, center} of the person signed in, or null. */
export function who() {
  return person;
}

export async function loadCenters() {
  const answer = await api.get("api/centers");
  centers = answer && typeof answer === "object" ? answer : {};
}

/** A center's name; its code when the registry does not know it. */
export function centerName(code) {
  return centers[code] || code || "—";
}

/** [code, name] of every center in scope, by code: a county before its townships. */
export function centerList() {
  return Object.entries(centers).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The rules by id (a Map), fetched on first use; a failure is retried next time. */
export function rules() {
  if (!rulesById) {
    rulesById = api
      .get("api/rules")
      .then((list) => new Map((list ?? []).map((rule) => [rule.id, rule])))
      .catch((error) => {
        rulesById = null;
        throw error;
      });
  }
  return rulesById;
}

/** Show (and have read out) a short confirmation. */
export function announce(text) {
  const region = document.getElementById("announce");
  region.textContent = text;
  region.hidden = false;
  clearTimeout(announceTimer);
  announceTimer = setTimeout(silence, ANNOUNCE_MS);
}

/** Announce `text` once the screen a step leads to is open (see `moved`). */
export function announceAfterMove(text) {
  afterMove = text;
}

/** Another screen opened: a confirmation of a step on the one before would be read as
 * about this one, so it goes, unless it was meant for this screen. */
export function moved() {
  const text = afterMove;
  afterMove = null;
  if (text) announce(text);
  else silence();
}

function silence() {
  clearTimeout(announceTimer);
  const region = document.getElementById("announce");
  region.hidden = true;
  region.textContent = "";
}
