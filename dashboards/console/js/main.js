/* The supervision console (监察工作台): sign-in, the header, and which screen shows.
 *
 * On load it asks who is signed in (GET /api/session: the cookie, if any, and the CSRF
 * value again after a reload); without a session it shows the sign-in form. Signed in,
 * the screen follows the address's hash (route.js), so that a reload keeps the person
 * where they were; live alert changes go to the screen open (live.js). A request that
 * finds the session ended (401) brings the sign-in form back, the hash kept, so the
 * person lands where they were once signed in again.
 *
 * Each screen is `screen(root, route)` returning {onLive(message), dispose(),
 * update?(route)}: `update` when only its filters changed (the form and the focus stay). */

import * as api from "./api.js";
import * as desk from "./desk.js";
import { assessmentScreen } from "./assessment.js";
import { alertScreen } from "./detail.js";
import { errorText } from "./errors.js";
import { alertsScreen } from "./list.js";
import { connectLive } from "./live.js";
import { orderScreen, ordersScreen } from "./orders.js";
import { mayViewAssessment } from "./permissions.js";
import { queueScreen } from "./queue.js";
import { parseHash } from "./route.js";
import { hideSignIn, setUpSignIn, showSignIn, signOut } from "./session.js";
import { language, otherLanguage, setLanguage, storedLanguage, t } from "./texts.js";

const SCREENS = {
  queue: queueScreen,
  alerts: alertsScreen,
  alert: alertScreen,
  orders: ordersScreen,
  order: orderScreen,
  assessment: assessmentScreen,
};
/** Which navigation entry each screen belongs to. */
const NAV_OF = {
  queue: "queue", alerts: "alerts", alert: "alerts", orders: "orders", order: "orders", assessment: "assessment",
};

const $ = (id) => document.getElementById(id);
const view = $("view");
let screen = null;
let shownRoute = null;
let stopLive = null;
let liveState = "connecting";

// -- screens ---------------------------------------------------------------------------------

function route() {
  if (!desk.who()) return;
  let next = parseHash(location.hash);
  if (next.view === "assessment" && !mayViewAssessment(desk.who().role)) next = parseHash("#/queue");
  if (next.view === "queue" && location.hash !== "#/queue") history.replaceState(null, "", "#/queue");
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === NAV_OF[next.view]) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.body.dataset.view = next.view;
  desk.moved();
  if (screen?.update && shownRoute?.view === next.view) {
    shownRoute = next;
    screen.update(next);
    return;
  }
  openScreen(next);
  view.querySelector(".view__title")?.focus();
}

function openScreen(next) {
  screen?.dispose();
  shownRoute = next;
  screen = SCREENS[next.view](view, next);
}

// -- signed in, signed out ------------------------------------------------------------------

async function startDesk(session) {
  desk.begin(session);
  api.setCsrf(session.csrf);
  hideSignIn();
  document.body.dataset.state = "loading";
  try {
    await desk.loadCenters(); // first: every screen names centers
  } catch {
    // names fall back to codes; a refused session has brought the sign-in form back
    if (!desk.who()) return;
  }
  document.body.dataset.state = "signed-in";
  showHeader();
  stopLive = connectLive({
    onMessage: (message) => screen?.onLive(message),
    onState: (state) => {
      liveState = state;
      showLive();
    },
  });
  route();
}

/** Leave the signed-in page: nothing of it stays on screen. */
function endDesk(message) {
  stopLive?.();
  stopLive = null;
  screen?.dispose();
  screen = null;
  shownRoute = null;
  desk.end();
  api.setCsrf(null);
  view.replaceChildren();
  showHeader();
  showSignIn(message);
}

async function signOutClicked() {
  const button = $("sign-out");
  button.disabled = true;
  try {
    await signOut();
    endDesk(t().signIn.signedOut);
  } catch (error) {
    if (desk.who()) desk.announce(errorText(error, t())); // a 401 has signed out already
  } finally {
    button.disabled = false;
  }
}

// -- the header ------------------------------------------------------------------------------

function showHeader() {
  const texts = t();
  const person = desk.who();
  $("nav").hidden = !person;
  document.querySelector('[data-nav="assessment"]').hidden = !person || !mayViewAssessment(person.role);
  $("sign-out").hidden = !person;
  $("live").hidden = !person;
  const who = $("who");
  who.hidden = !person;
  who.textContent = person
    ? texts.who(person.name, texts.role[person.role] ?? person.role, person.center ? desk.centerName(person.center) : "")
    : "";
  showLive();
}

function showLive() {
  $("live").dataset.live = liveState;
  $("live-text").textContent = t().live[liveState];
}

// -- language --------------------------------------------------------------------------------

/** Every `data-i18n="a.b"` element gets that text; `data-i18n-aria` its aria-label. */
function showStaticTexts() {
  const texts = t();
  const lookup = (path) => path.split(".").reduce((node, key) => node?.[key], texts);
  for (const node of document.querySelectorAll("[data-i18n]")) {
    const text = lookup(node.dataset.i18n);
    if (typeof text === "string") node.textContent = text;
  }
  for (const node of document.querySelectorAll("[data-i18n-aria]")) {
    const text = lookup(node.dataset.i18nAria);
    if (typeof text === "string") node.setAttribute("aria-label", text);
  }
  document.documentElement.lang = language();
  document.title = texts.title;
  const switcher = $("lang");
  switcher.textContent = texts.otherLanguage;
  switcher.lang = language() === "en" ? "zh-CN" : "en";
}

$("lang").addEventListener("click", () => {
  setLanguage(otherLanguage(language()), true);
  showStaticTexts();
  showHeader();
  if (desk.who() && shownRoute) openScreen(shownRoute); // drawn again in the new language
});

// -- start -----------------------------------------------------------------------------------

setLanguage(storedLanguage());
showStaticTexts();
$("sign-out").addEventListener("click", signOutClicked);
window.addEventListener("hashchange", route);
api.onSessionEnded(() => {
  if (desk.who()) endDesk(t().signIn.expired);
});
setUpSignIn(startDesk);

let session = null;
try {
  session = await api.get("api/session", { signingIn: true });
} catch (error) {
  showSignIn(error.status === 401 ? null : errorText(error, t()));
}
if (session) await startDesk(session);
