/* The centers the viewer may see, as the board has them (/api/board, every 10 s): the
 * city, its counties and their townships, each with its open red/yellow alerts, open
 * cases and latest event; their names (/api/centers); who is under whom, and the short
 * names a tile shows.
 *
 * Pure: no DOM (node imports it). */

import { count } from "./format.js";
import { worstOf } from "./feed.js";

export { worstOf };

/** The parent of a center by its code, when the board does not say: a township's
 * (9 digits) is its county (its first 6), a county's (6 digits, not ending 00) its city. */
export function codeParent(code) {
  if (/^\d{9}$/.test(code)) return code.slice(0, 6);
  if (/^\d{6}$/.test(code) && !code.endsWith("00")) return `${code.slice(0, 4)}00`;
  return null;
}

export class Centers {
  constructor() {
    /** code -> {code, name, level, parent, red, yellow, openCases, lastEventMs}. */
    this.tiles = new Map();
    /** code -> codes of the centers directly under it, in the server's (wall) order. */
    this.children = new Map();
    /** code -> full name, from /api/centers. */
    this.names = {};
  }

  clear() {
    this.tiles.clear();
    this.children.clear();
  }

  /** The names of /api/centers ({code: name}). */
  setNames(body) {
    this.names = body && typeof body === "object" ? body : {};
  }

  /**
   * The board as fetched. The open counts are the server's when `exact` (no socket message
   * moved them while the fetch was under way); otherwise a center already known keeps its
   * own, followed live, until an exact answer.
   */
  load(body, exact) {
    if (!Array.isArray(body)) return false;
    const fresh = new Map();
    for (const raw of body) {
      if (!raw || typeof raw !== "object" || typeof raw.code !== "string" || !raw.code) continue;
      const old = this.tiles.get(raw.code);
      const last = typeof raw.last_event_at === "string" ? Date.parse(raw.last_event_at) : NaN;
      fresh.set(raw.code, {
        code: raw.code,
        name: typeof raw.name === "string" && raw.name ? raw.name : raw.code,
        level: raw.level,
        parent: typeof raw.parent === "string" && raw.parent ? raw.parent : null,
        red: exact || !old ? count(raw.red) : old.red,
        yellow: exact || !old ? count(raw.yellow) : old.yellow,
        openCases: count(raw.open_cases),
        lastEventMs: Number.isNaN(last) ? null : last,
      });
    }
    this.clear();
    for (const [code, tile] of fresh) {
      this.tiles.set(code, tile);
      if (tile.parent && fresh.has(tile.parent)) {
        if (!this.children.has(tile.parent)) this.children.set(tile.parent, []);
        this.children.get(tile.parent).push(code);
      }
    }
    return true;
  }

  has(code) {
    return this.tiles.has(code);
  }

  get(code) {
    return this.tiles.get(code);
  }

  /** A center's open count of `severity` moved by `delta` (a socket message); false when
   * the board does not have it. */
  adjust(code, severity, delta) {
    const tile = this.tiles.get(code);
    if (!tile) return false;
    tile[severity] = Math.max(0, tile[severity] + delta);
    return true;
  }

  /** The full name: /api/centers', else the board's, else the code. */
  name(code) {
    const tile = this.tiles.get(code);
    return this.names[code] || (tile && tile.name) || code;
  }

  parentOf(code) {
    const tile = this.tiles.get(code);
    return tile ? tile.parent : codeParent(code);
  }

  /** Whether `code` is `area` or under it. */
  within(code, area) {
    let current = code;
    for (let depth = 0; current && depth < 5; depth += 1) {
      if (current === area) return true;
      current = this.parentOf(current);
    }
    return false;
  }

  /** The centers with no parent on the board, in its order. */
  roots() {
    const out = [];
    for (const tile of this.tiles.values()) {
      if (!tile.parent || !this.tiles.has(tile.parent)) out.push(tile.code);
    }
    return out;
  }

  /** The board's top center (the city for an inspector, their own center for a director);
   * null when there are several, shown side by side. */
  top() {
    const top = this.roots();
    return top.length === 1 ? top[0] : null;
  }

  /** The centers directly under `code` (null: the roots). */
  childrenOf(code) {
    return code === null ? this.roots() : this.children.get(code) || [];
  }

  /** 东兰县政务服务中心 -> 东兰县. */
  placeName(code) {
    const full = this.name(code);
    return full.replace(/(政务服务中心|便民服务中心)$/, "") || full;
  }

  /** The name on a tile, short enough to read across the room: 东兰县政务服务中心 ->
   * 东兰县; 东兰县东兰镇便民服务中心 -> 东兰镇 (its county is around it); an autonomous
   * county as it is usually called: 罗城仫佬族自治县 -> 罗城县. The full name is the
   * tile's tooltip. */
  shortName(code) {
    let name = this.placeName(code);
    const parent = this.parentOf(code);
    const above = parent && this.tiles.get(parent);
    if (above && above.level === "county") {
      const prefix = this.placeName(parent);
      if (name.startsWith(prefix) && name.length > prefix.length) name = name.slice(prefix.length);
    }
    return name.replace(/^(.{2})\S*?族自治县$/, "$1县");
  }

  /** Open red/yellow alerts, open cases and the latest event of a center, with those
   * under it if `area`. */
  totals(code, area) {
    const tile = this.tiles.get(code);
    const sum = { red: 0, yellow: 0, openCases: 0, lastEventMs: null };
    if (!tile) return sum;
    sum.red = tile.red;
    sum.yellow = tile.yellow;
    sum.openCases = tile.openCases;
    sum.lastEventMs = tile.lastEventMs;
    if (area) {
      for (const child of this.childrenOf(code)) {
        const below = this.totals(child, true);
        sum.red += below.red;
        sum.yellow += below.yellow;
        sum.openCases += below.openCases;
        if (below.lastEventMs !== null && (sum.lastEventMs === null || below.lastEventMs > sum.lastEventMs)) {
          sum.lastEventMs = below.lastEventMs;
        }
      }
    }
    return sum;
  }
}

