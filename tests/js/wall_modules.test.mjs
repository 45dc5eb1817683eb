// The wall's modules (dashboards/wall/js/): the page loads main.js only, every module is
// reached from it, and the pure ones import here, where there is no document, window or
// WebSocket (the console can build on them).
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { test } from "node:test";

const DIR = new URL("../../dashboards/wall/js/", import.meta.url);
const PURE = [
  "texts.js", "format.js", "alert.js", "feed.js", "centers.js", "figures.js", "state.js",
  "timers.js", "net.js", "socket.js",
];

const COMMON = new URL("../../common/", DIR);

/** The modules a module imports, relative names as written ("./feed.js" -> "feed.js"). */
function importsOf(name) {
  const source = readFileSync(new URL(name, DIR), "utf8");
  return [...source.matchAll(/^import[^;]*?from\s+"\.\/([^"]+)";/gms)].map((m) => m[1]);
}

/** The modules of dashboards/common/ a module imports ("../../common/x.js" -> "x.js"). */
function commonImportsOf(name) {
  const source = readFileSync(new URL(name, DIR), "utf8");
  return [...source.matchAll(/^import[^;]*?from\s+"\.\.\/\.\.\/common\/([^"]+)";/gms)].map((m) => m[1]);
}

test("the page loads one script, a module from its own origin", () => {
  const page = readFileSync(new URL("../index.html", DIR), "utf8");
  const scripts = [...page.matchAll(/<script\b[^>]*>/g)].map((m) => m[0]);
  assert.deepEqual(scripts, ['<script type="module" src="js/main.js">']);
});

test("every module is reached from main.js, and nothing it imports is missing", () => {
  const files = readdirSync(DIR).filter((name) => name.endsWith(".js")).sort();
  const reached = new Set(["main.js"]);
  const queue = ["main.js"];
  while (queue.length) {
    for (const name of importsOf(queue.shift())) {
      assert.ok(files.includes(name), `${name} is imported but not there`);
      if (!reached.has(name)) {
        reached.add(name);
        queue.push(name);
      }
    }
  }
  assert.deepEqual([...reached].sort(), files);
  const common = new Set(readdirSync(COMMON));
  const shared = files.flatMap(commonImportsOf);
  assert.ok(shared.length > 0, "the wall imports the common modules");
  for (const name of shared) assert.ok(common.has(name), `common/${name} is imported but not there`);
});

test("the pure modules import without a browser, and import no module that needs one", async () => {
  assert.equal(typeof document, "undefined");
  assert.equal(typeof window, "undefined");
  for (const name of PURE) {
    const module = await import(new URL(name, DIR));
    assert.ok(Object.keys(module).length > 0, name);
    for (const imported of importsOf(name)) assert.ok(PURE.includes(imported), `${name} imports ${imported}`);
  }
  const { activeFeed, state } = await import(new URL("state.js", DIR));
  assert.equal(activeFeed(), state.stream.all);
  assert.equal(state.refused, null);
});
