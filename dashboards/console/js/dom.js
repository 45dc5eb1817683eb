/* Building the page from data without HTML strings: every text goes in as text (an
 * alert's message or a note cannot inject markup), and no inline style or handler
 * attribute is ever written (the Content-Security-Policy forbids both). */

let serial = 0;

/** A fresh element id, for a label's `for` and `aria-describedby`. */
export function uid(prefix = "c") {
  serial += 1;
  return `${prefix}-${serial}`;
}

/** `<tag props…>children</tag>`. Props: `class`, `text`, `dataset` ({…}), `on<event>`
 * (a listener), `hidden`/`disabled`… (true: present); null, undefined and false are
 * left out. Children: nodes, strings, arrays of them; null and false are skipped. */
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** A definition list of [term, value] pairs; pairs whose value is null are left out. */
export function facts(pairs, className = "facts") {
  return h(
    "dl",
    { class: className },
    pairs
      .filter(([, value]) => value !== null && value !== undefined && value !== "")
      .map(([term, value]) => h("div", { class: "facts__row" }, h("dt", {}, term), h("dd", {}, value))),
  );
}
