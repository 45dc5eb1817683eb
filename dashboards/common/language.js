/* The language a page speaks: Chinese by default, English by the header's switch, and
 * remembered in this browser for the next visit (each page under its own key). Pure but
 * for localStorage, which it does without when there is none (node, storage off). */

export const LANGUAGES = ["zh-CN", "en"];
export const DEFAULT_LANGUAGE = "zh-CN";

/** The language choice of one page, remembered under `storageKey`:
 * {language(), other(lang?), set(lang, remember?), stored()}. */
export function languageChoice(storageKey) {
  let current = DEFAULT_LANGUAGE;
  return {
    /** The language in use: "zh-CN" or "en". */
    language: () => current,
    /** The language the switch offers: the one not in use. */
    other: (lang = current) => (lang === "en" ? "zh-CN" : "en"),
    /** Use `lang` (an unknown one: Chinese); with `remember`, keep it for the next visit. */
    set(lang, remember = false) {
      current = LANGUAGES.includes(lang) ? lang : DEFAULT_LANGUAGE;
      if (remember) {
        try {
          localStorage.setItem(storageKey, current);
        } catch {
          // Not remembered (storage off, or no browser); switched all the same.
        }
      }
      return current;
    },
    /** The language remembered in this browser, or Chinese. */
    stored() {
      try {
        return localStorage.getItem(storageKey) || DEFAULT_LANGUAGE;
      } catch {
        return DEFAULT_LANGUAGE;
      }
    },
  };
}
