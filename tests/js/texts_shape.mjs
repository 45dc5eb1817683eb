// The shape of a page's texts table, for the tests that check both languages alike
// (console_texts.test.mjs, wall_texts.test.mjs). Not a test file itself.

/** Every key path of a texts table, with the kind of its value. */
export function shape(table, prefix = "") {
  const out = {};
  for (const [key, value] of Object.entries(table)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (Array.isArray(value)) out[path] = `array of ${value.length}`;
    else if (value && typeof value === "object") Object.assign(out, shape(value, path));
    else out[path] = typeof value === "function" ? `function/${value.length}` : typeof value;
  }
  return out;
}
