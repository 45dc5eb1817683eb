/* The small form each step opens (签收, 处置, 申诉, 督办, 回复…): labelled fields, checked
 * before anything is sent (the first problem is said next to the form and its field is
 * focused), one request, its failure said in words, Escape to cancel.
 *
 * Never submitted natively: the page's policy has `form-action 'none'`, and the request
 * is the page's own (JSON, with the CSRF value). */

import { h, uid } from "./dom.js";
import { errorText } from "./errors.js";
import { isAbort } from "./api.js";
import { t } from "./texts.js";

/**
 * spec:
 *   name      what the form does (its `data-form`)
 *   title     its heading
 *   fields    [{name, label, kind: "text"|"textarea"|"number"|"select", options:
 *              [[value, label]], value, required: message, min, max, invalid: message,
 *              maxLength, hint, shownWhen(values)}]
 *   submit    the submit button's text
 *   send(values)  the request: a promise of the answer
 *   done(answer)  after it succeeded
 *   cancel()      the person gave up (Cancel, Escape)
 */
export function stepForm(spec) {
  const texts = t();
  const errorId = uid("error");
  const error = h("p", { class: "form-error", id: errorId, role: "alert", hidden: true });
  const controls = new Map();
  const wrappers = new Map();

  for (const field of spec.fields) {
    const id = uid(`f-${field.name}`);
    const control = buildControl(field, id);
    controls.set(field.name, control);
    const hintId = field.hint ? uid("hint") : null;
    if (hintId) control.setAttribute("aria-describedby", hintId);
    wrappers.set(
      field.name,
      h(
        "div",
        { class: `field field--${field.kind ?? "text"}`, dataset: { field: field.name } },
        h("label", { for: id }, field.label),
        control,
        hintId ? h("p", { class: "field__hint", id: hintId }, field.hint) : null,
      ),
    );
  }

  const submit = h("button", { type: "submit", class: "button button--primary" }, spec.submit);
  const form = h(
    "form",
    { class: "step-form", method: "post", novalidate: true, dataset: { form: spec.name } },
    h("h3", { class: "step-form__title" }, spec.title),
    [...wrappers.values()],
    error,
    h(
      "div",
      { class: "step-form__buttons" },
      submit,
      h("button", { type: "button", class: "button", onclick: () => spec.cancel() }, texts.cancel),
    ),
  );

  function values() {
    const found = {};
    for (const field of spec.fields) {
      found[field.name] = controls.get(field.name).value.trim();
    }
    return found;
  }

  function shown(field, current) {
    return !field.shownWhen || field.shownWhen(current);
  }

  function showFields() {
    const current = values();
    for (const field of spec.fields) wrappers.get(field.name).hidden = !shown(field, current);
  }

  /** The first problem: [field name, message], or null. */
  function problem(current) {
    for (const field of spec.fields) {
      if (!shown(field, current)) continue;
      const value = current[field.name];
      if (field.required && !value) return [field.name, field.required];
      if (field.maxLength && value.length > field.maxLength) {
        return [field.name, texts.form.tooLong(field.maxLength)];
      }
      if (field.kind === "number" && value) {
        const number = Number(value);
        if (!Number.isInteger(number) || number < field.min || number > field.max) {
          return [field.name, field.invalid];
        }
      }
    }
    return null;
  }

  function say(message, fieldName) {
    for (const control of controls.values()) control.removeAttribute("aria-invalid");
    error.textContent = message ?? "";
    error.hidden = !message;
    if (fieldName) {
      const control = controls.get(fieldName);
      control.setAttribute("aria-invalid", "true");
      control.setAttribute("aria-errormessage", errorId);
      control.focus();
    }
  }

  form.addEventListener("change", showFields);
  form.addEventListener("input", showFields);
  form.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      spec.cancel();
    }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (submit.disabled) return;
    const current = values();
    const found = problem(current);
    if (found) {
      say(found[1], found[0]);
      return;
    }
    say(null);
    const sent = Object.fromEntries(
      spec.fields.filter((field) => shown(field, current)).map((field) => [field.name, current[field.name]]),
    );
    submit.disabled = true;
    submit.textContent = texts.form.busy;
    form.setAttribute("aria-busy", "true");
    try {
      const answer = await spec.send(sent);
      spec.done(answer);
    } catch (failure) {
      if (isAbort(failure)) return;
      say(errorText(failure, t()));
    } finally {
      submit.disabled = false;
      submit.textContent = spec.submit;
      form.removeAttribute("aria-busy");
    }
  });

  showFields();
  return {
    form,
    /** Focus the first field (or the submit button of a form without fields). */
    focus() {
      const first = spec.fields.find((field) => !wrappers.get(field.name).hidden);
      (first ? controls.get(first.name) : submit).focus();
    },
  };
}

function buildControl(field, id) {
  const common = { id, name: field.name };
  if (field.kind === "textarea") {
    return h("textarea", { ...common, rows: "3" }, field.value ?? "");
  }
  if (field.kind === "select") {
    const select = h(
      "select",
      common,
      field.options.map(([value, label]) => h("option", { value }, label)),
    );
    select.value = field.value ?? "";
    return select;
  }
  if (field.kind === "number") {
    return h("input", {
      ...common,
      type: "number",
      inputmode: "numeric",
      min: field.min,
      max: field.max,
      step: "1",
      value: field.value ?? "",
    });
  }
  // No `maxlength`: a pasted text too long is said so, not cut without a word.
  return h("input", { ...common, type: "text", value: field.value ?? "", autocomplete: "off" });
}
