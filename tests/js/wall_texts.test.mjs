// The wall's texts (dashboards/wall/js/texts.js): both languages have every key, with the
// same shape, every text the page names (index.html data-i18n) exists, and the language
// switch falls back to Chinese.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import {
  DEFAULT_LANGUAGE, LANGUAGES, TEXTS, language, otherLanguage, setLanguage, storedLanguage, t,
} from "../../dashboards/wall/js/texts.js";
import { shape } from "./texts_shape.mjs";

const page = readFileSync(new URL("../../dashboards/wall/index.html", import.meta.url), "utf8");

test("both languages have the same keys, each a text or a function of the same arguments", () => {
  assert.deepEqual(LANGUAGES, Object.keys(TEXTS));
  const zh = shape(TEXTS["zh-CN"]);
  const en = shape(TEXTS.en);
  assert.deepEqual(Object.keys(en).filter((key) => !(key in zh)), [], "keys only in English");
  assert.deepEqual(Object.keys(zh).filter((key) => !(key in en)), [], "keys missing in English");
  assert.deepEqual(en, zh);
  assert.ok(Object.keys(zh).length > 90);
});

test("no text is empty, in either language", () => {
  const samples = [3, 5, 2];
  for (const lang of LANGUAGES) {
    for (const [path, kind] of Object.entries(shape(TEXTS[lang]))) {
      const value = path.split(".").reduce((node, key) => node[key], TEXTS[lang]);
      if (kind === "string") assert.ok(value.trim(), `${lang} ${path}`);
      if (kind.startsWith("array")) for (const line of value) assert.ok(line.trim(), `${lang} ${path}`);
      if (kind.startsWith("function") && path !== "date") {
        const text = value(...samples.slice(0, value.length));
        assert.equal(typeof text, "string", `${lang} ${path}`);
        assert.ok(text.trim(), `${lang} ${path}`);
      }
    }
  }
});

test("every text the page names is a text in both languages, and the page starts in Chinese", () => {
  const named = [...page.matchAll(/data-i18n(?:-aria)?="([^"]+)"/g)].map((m) => m[1]);
  assert.ok(named.length >= 15);
  for (const key of named) {
    for (const lang of LANGUAGES) assert.equal(typeof TEXTS[lang][key], "string", `${lang} ${key}`);
  }
  for (const [, key, text] of page.matchAll(/data-i18n="([^"]+)">([^<]*)</g)) {
    assert.equal(TEXTS["zh-CN"][key], text, key);
  }
  assert.match(page, new RegExp(`<title>${TEXTS["zh-CN"].title}</title>`));
});

test("the texts that carry a value, in both languages", () => {
  const zh = TEXTS["zh-CN"];
  const en = TEXTS.en;
  assert.equal(zh.age(0), "刚刚");
  assert.equal(zh.age(59), "59 分钟前");
  assert.equal(zh.age(60 * 47), "47 小时前");
  assert.equal(zh.age(60 * 48), "2 天前");
  assert.equal(en.age(0), "just now");
  assert.equal(en.age(5), "5 min ago");
  assert.equal(en.age(90), "1 h ago");
  assert.equal(en.age(60 * 24 * 3), "3 d ago");
  assert.equal(zh.tileCases(1, "1"), "在办 1 件");
  assert.equal(en.tileCases(1, "1"), "1 open case");
  assert.equal(en.tileCases(1234, "1,234"), "1,234 open cases");
  assert.equal(zh.shown(2, 200, []), "显示最近 2 条（最多 200 条）");
  assert.equal(zh.shown(3, 200, ["已签收 1 条", "已办结 1 条"]), "显示最近 3 条（最多 200 条，其中已签收 1 条、已办结 1 条）");
  assert.equal(en.shown(3, 200, ["1 acknowledged"]), "Showing the latest 3 (at most 200; 1 acknowledged)");
  assert.equal(zh.tag.resolved("整改"), "已办结（整改）");
  assert.equal(zh.tag.resolved(""), "已办结");
  assert.equal(en.escalated(2, "东兰县政务服务中心", "李主任"), "escalated (level 2) to 东兰县政务服务中心, 李主任");
  assert.equal(zh.escalated(1, "", ""), "升级督办（第 1 级）");
  const p = { year: "2026", month: "12", day: "05" };
  assert.equal(zh.date(p, "星期六"), "12月5日 星期六");
  assert.equal(en.date(p, "Sat"), "Sat, 2026-12-05");
  for (const kind of ["missing", "token", "forbidden"]) {
    assert.equal(zh.refused[kind].length, 2);
    assert.equal(en.refused[kind].length, 2);
  }
  assert.equal(zh.refused.token[0], "令牌无效或已撤销，请联系管理员");
});

test("the language switch: Chinese first, English on demand, anything else is Chinese", () => {
  assert.equal(DEFAULT_LANGUAGE, "zh-CN");
  assert.equal(language(), "zh-CN");
  assert.equal(t(), TEXTS["zh-CN"]);
  assert.equal(otherLanguage(), "en");
  assert.equal(setLanguage("en"), "en");
  assert.equal(t().brand, "Service Center Supervision");
  assert.equal(otherLanguage(), "zh-CN");
  assert.equal(setLanguage("toString"), "zh-CN");
  assert.equal(setLanguage("fr", true), "zh-CN"); // remembering without storage: no error
  assert.equal(t(), TEXTS["zh-CN"]);
  assert.equal(storedLanguage(), "zh-CN"); // no localStorage here
});
