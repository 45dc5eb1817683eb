/* Signing in and out at a desk. The person pastes their access token into the form; the
 * page exchanges it (POST /api/session, JSON body) for an HttpOnly session cookie and the
 * CSRF value, and forgets the token: it is never in the address, in storage or in a
 * request other than that one. The form has no `action` and is never submitted natively
 * (the policy's `form-action 'none'` would refuse it anyway; `method="post"` keeps the
 * token out of any address even then). */

import * as api from "./api.js";
import { errorText } from "./errors.js";
import { t } from "./texts.js";

const $ = (id) => document.getElementById(id);

/** Wire the sign-in form: `onSignedIn(session)` with {name, role, center, csrf}. */
export function setUpSignIn(onSignedIn) {
  const form = $("signin-form");
  const input = $("signin-token");
  const button = $("signin-button");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (button.disabled) return;
    const token = input.value.trim();
    if (!token) {
      sayError(t().signIn.empty);
      input.focus();
      return;
    }
    sayError(null);
    button.disabled = true;
    button.textContent = t().signIn.busy;
    try {
      const session = await api.post("api/session", { token }, { signingIn: true });
      input.value = "";
      onSignedIn(session);
    } catch (failure) {
      sayError(errorText(failure, t()));
      input.select();
    } finally {
      button.disabled = false;
      button.textContent = t().signIn.button;
    }
  });
}

/** The sign-in form, with `message` above it (signed out, session ended…). */
export function showSignIn(message) {
  document.body.dataset.state = "signed-out";
  $("signin").hidden = false;
  const note = $("signin-message");
  note.textContent = message ?? "";
  note.hidden = !message;
  $("signin-token").focus();
}

export function hideSignIn() {
  $("signin").hidden = true;
  sayError(null);
}

/** 退出: the service deletes the cookie (a change: the CSRF value goes with it). */
export function signOut() {
  return api.remove("api/session");
}

function sayError(message) {
  const error = $("signin-error");
  const input = $("signin-token");
  error.textContent = message ?? "";
  error.hidden = !message;
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}
