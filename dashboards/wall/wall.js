/* The inspectors' wall: live alerts from /ws/alerts, headline figures from
 * /api/stats/headline, the board of centers from /api/board, who is watching from
 * /api/me, center names from /api/centers.
 *
 * Plain JS, no build step, no network beyond this server.
 *
 * Token. The page is opened as `/wall/?token=…`. The token is kept in sessionStorage
 * (this tab only, survives a reload), removed from the address bar, and sent as
 * `Authorization: Bearer` to /api/* and as `?token=` on the socket. No token, or one the
 * server refuses (HTTP 401/403, socket closed with 4401/4403), stops the page: a clear
 * message, everything it showed cleared, no more retries. Any other close reconnects
 * with backoff.
 *
 * Positions. Every socket message after the first carries `seq`, its position in the
 * alert journal. The page keeps the highest it has applied and reconnects with
 * `&after=<seq>`: the server then sends exactly what was missed (or a fresh snapshot when
 * that is too old), so after a network drop or a web restart every alert is shown once.
 * A message at or below that position (a restarted server reading its journal again)
 * changes nothing.
 *
 * Messages: `snapshot` (the list as it stands), `alert` (a new one; a red one flashes,
 * and beeps when the sound is on) and `change` (the whole alert as it now stands: its
 * row is rebuilt in place, never flashes). Statuses: open and acknowledged (已签收) and
 * appealed (申诉中) are open business; resolved (已办结, with the disposition) and
 * withdrawn (已撤销 by the system after a late event, with its reason; 已摘牌 after an
 * accepted appeal) are greyed.
 *
 * Figures and board. The headline (every 5 s) and the board (every 10 s) are the
 * server's counts over every alert and case in the viewer's scope, not only the ones
 * listed. Between two polls the open red/yellow counts, of the headline and of each
 * tile, follow the socket: a new open alert adds one, a change that closes one takes
 * one off (the page remembers whether each alert it heard of was open). After any such
 * message both are fetched again shortly; an answer that was under way while a message
 * arrived is not trusted for the counts (it may or may not include it) and is asked for
 * again. `body[data-figures]` says "synced" when the counts shown are the server's.
 *
 * Board. The viewer's top center (the city for an inspector, their own center for a
 * director) with the centers under it; a click, or Enter on the tile chosen with the
 * arrow keys, drills into a county: its townships' tiles, and the feed narrowed to the
 * county and its townships (fetched from /api/alerts, then followed live). Escape or
 * Backspace goes back. A tile of a center with centers under it counts them in
 * (含乡镇); the center in focus shows its own (本级). Colour: the worst open alert.
 *
 * Freshness. Besides the socket's state, the header shows the time since the latest
 * event from the centers (the headline's `last_event_at`, against the server's clock):
 * amber after 10 minutes, red after 30, so a frozen wall is never taken for a quiet one.
 *
 * Runs for days: the lists are bounded (MAX_ROWS, newest raised_at first, ties by
 * alert_id like the server), as is what the page remembers of each alert (KNOWN_MAX);
 * tiles are bounded by the registry; every timer is one of a few, or cleared.
 */
"use strict";

(() => {
  const MAX_ROWS = 200;
  const KNOWN_MAX = 20000;
  const BUFFER_MAX = 2000;
  const TIME_ZONE = "Asia/Shanghai";
  const BACKOFF_MIN_MS = 1000;
  const BACKOFF_MAX_MS = 30000;
  const LOAD_RETRY_MS = 15000;
  const HEALTH_POLL_MS = 10000;
  const HEADLINE_POLL_MS = 5000;
  const BOARD_POLL_MS = 10000;
  /** After a socket message, the figures and the board are fetched again this much later. */
  const SYNC_DELAY_MS = 1200;
  const AGE_REFRESH_MS = 30000;
  const FRESH_WARN_MINUTES = 10;
  const FRESH_STALE_MINUTES = 30;
  /** A screen clock further off than this from the server's is corrected. */
  const CLOCK_TOLERANCE_MS = 60000;
  const BEEP_GAP_MS = 3000;
  const TOKEN_KEY = "supervisor.wall.token";
  const LANG_KEY = "supervisor.wall.lang";
  const SOUND_KEY = "supervisor.wall.sound";
  const CLOSE_UNAUTHORIZED = 4401;
  const CLOSE_FORBIDDEN = 4403;
  const STATUSES = new Set([
    "open", "acknowledged", "appealed", "resolved", "withdrawn", "closed", "superseded",
  ]);
  /** Statuses that need nobody any more (closed and superseded: the case moved on). */
  const CLOSED = new Set(["resolved", "withdrawn", "closed", "superseded"]);
  /** Changes that can only be made to an open alert (so it was open before). */
  const FROM_OPEN = new Set(["acknowledge", "resolve", "appeal", "accept_appeal", "reject_appeal"]);

  // -- texts ----------------------------------------------------------------------------

  const TEXTS = {
    "zh-CN": {
      title: "政务服务电子监察 · 实时预警",
      brand: "政务服务电子监察",
      brandSub: "实时预警 · 红黄牌",
      figuresLabel: "今日概况",
      figAccepted: "今日受理",
      figOpen: "在办件",
      red: "红牌",
      yellow: "黄牌",
      openSub: "未办结",
      figRate: "按期办结率",
      rateToday: "今日",
      rateMonth: "本月",
      rateDetail: (label, onTime, overdue) => `${label}：按期 ${onTime} 件，超期 ${overdue} 件`,
      headLevel: "级别",
      headAlert: "服务中心 · 预警事项",
      headTime: "触发时间",
      footZone: "时间均为北京时间",
      keysHint: "方向键 选择中心 · Enter 进入 · Esc 返回",
      otherLanguage: "English",
      back: "返回",
      legendRed: "有红牌",
      legendYellow: "有黄牌",
      legendNone: "无预警",
      centersTop: "各中心预警态势 · 县区含所辖乡镇",
      centersArea: (name) => `${name} · 各乡镇`,
      feedAll: "预警动态 · 全部中心",
      feedArea: (name) => `预警动态 · ${name}（含乡镇）`,
      tileOwn: "本级",
      tileCases: (n, shown) => `在办 ${shown} 件`,
      tileFresh: (age) => `最近数据 ${age}`,
      tileNoData: "暂无数据",
      tileOpenHint: (name) => `${name}：按 Enter 或点击进入`,
      fresh: (age) => `最近数据：${age}`,
      freshNone: "最近数据：暂无",
      freshUnknown: "最近数据：—",
      freshTitle: (at) => `各中心最近一次办件事件：${at}`,
      sound: {
        off: "声音提醒：关（点击开启）",
        on: "声音提醒：开（点击关闭）",
        blocked: "声音提醒已开启：点击页面任意处后才能发声",
      },
      conn: {
        connected: "已连接",
        connecting: "连接中…",
        reconnecting: "重新连接中…",
        refused: "未授权",
        degraded: "已连接 · 数据源中断",
      },
      empty: "暂无预警",
      emptyDegraded: "数据源中断，暂时收不到新预警",
      loading: "加载中…",
      severity: { red: "红牌", yellow: "黄牌" },
      role: { inspector: "纪检监察", director: "中心负责人", ops: "运维", system: "系统" },
      system: "系统",
      disposition: { verified: "核实", rectified: "整改", held_accountable: "问责", false_alarm: "误报" },
      tag: {
        acknowledged: () => "已签收",
        appealed: () => "申诉中",
        resolved: (d) => (d ? `已办结（${d}）` : "已办结"),
        withdrawn: () => "已撤销",
        delisted: () => "已摘牌",
        closed: () => "已按期办结",
        superseded: () => "已转红牌",
      },
      change: {
        acknowledge: "签收",
        resolve: "办结",
        appeal: "申诉",
        accept_appeal: "同意申诉，摘牌",
        reject_appeal: "驳回申诉",
        case_closed: "办件已按期办结或撤回，预警关闭",
        superseded: "办件已超期，预警转为红牌",
        case_concluded_late: "办件已办结",
      },
      closedReason: { concluded_in_time: "按期办结", case_withdrawn: "申请人撤回", order_replied: "督办单已回复" },
      concludedLate: (at, days) => `办件已于 ${at} 办结，超期 ${days} 个工作日`,
      then: "；",
      caseMore: (n) => `该办件另有 ${n} 条`,
      escalated: (level, to, who) =>
        `升级督办（第 ${level} 级）${to ? `：${to}` : ""}${who ? ` ${who}` : ""}`,
      sep: "：",
      withDisposition: (what, d) => `${what}（${d}）`,
      by: (who, at, what) => `${who} ${at} ${what}`,
      who: (name, role) => (role ? `${name}（${role}）` : name),
      withdrawnReason: (at, reason) => `撤销原因${at ? `（${at}）` : ""}：${reason}`,
      noReason: "未说明原因",
      wholeCenter: "全中心",
      caseLabel: (id) => `办件 ${id}`,
      age: (minutes) => {
        if (minutes < 1) return "刚刚";
        if (minutes < 60) return `${minutes} 分钟前`;
        const hours = Math.floor(minutes / 60);
        if (hours < 48) return `${hours} 小时前`;
        return `${Math.floor(hours / 24)} 天前`;
      },
      shownPart: {
        acknowledged: (n) => `已签收 ${n} 条`,
        appealed: (n) => `申诉中 ${n} 条`,
        resolved: (n) => `已办结 ${n} 条`,
        withdrawn: (n) => `已撤销 ${n} 条`,
        closed: (n) => `已关闭 ${n} 条`,
        superseded: (n) => `已转红牌 ${n} 条`,
      },
      shown: (n, max, parts) =>
        `显示最近 ${n} 条（最多 ${max} 条${parts.length ? `，其中${parts.join("、")}` : ""}）`,
      refused: {
        missing: ["缺少访问令牌", "请用管理员提供的带令牌的链接（…/wall/?token=…）打开本页。"],
        token: ["令牌无效或已撤销，请联系管理员", "预警墙已停止连接。拿到新令牌后，用新的链接打开本页。"],
        forbidden: ["无权查看预警墙，请联系管理员", "该令牌的角色，或打开本页的网址，不被允许。"],
      },
      date: (p, weekday) => `${Number(p.month)}月${Number(p.day)}日 ${weekday}`,
    },
    en: {
      title: "E-Supervision of Government Services · Live Alerts",
      brand: "Service Center Supervision",
      brandSub: "Live alerts · red and yellow cards",
      figuresLabel: "Today",
      figAccepted: "Accepted today",
      figOpen: "Open cases",
      red: "Red",
      yellow: "Yellow",
      openSub: "open",
      figRate: "On-time rate",
      rateToday: "Today",
      rateMonth: "Month",
      rateDetail: (label, onTime, overdue) => `${label}: ${onTime} on time, ${overdue} overdue`,
      headLevel: "Level",
      headAlert: "Center · Alert",
      headTime: "Raised at",
      footZone: "All times are Beijing time",
      keysHint: "Arrow keys: choose a center · Enter: open · Esc: back",
      otherLanguage: "中文",
      back: "Back",
      legendRed: "red card",
      legendYellow: "yellow card",
      legendNone: "no alert",
      centersTop: "Centers (counties incl. townships)",
      centersArea: (name) => `${name} · townships`,
      feedAll: "Alerts · all centers",
      feedArea: (name) => `Alerts · ${name} (with townships)`,
      tileOwn: "own",
      tileCases: (n, shown) => `${shown} open case${n === 1 ? "" : "s"}`,
      tileFresh: (age) => `latest data ${age}`,
      tileNoData: "no data yet",
      tileOpenHint: (name) => `${name}: press Enter or click to open`,
      fresh: (age) => `Latest data: ${age}`,
      freshNone: "Latest data: none yet",
      freshUnknown: "Latest data: —",
      freshTitle: (at) => `Latest case event from the centers: ${at}`,
      sound: {
        off: "Sound alerts: off (click to turn on)",
        on: "Sound alerts: on (click to turn off)",
        blocked: "Sound alerts are on: click anywhere on the page to let them play",
      },
      conn: {
        connected: "Connected",
        connecting: "Connecting…",
        reconnecting: "Reconnecting…",
        refused: "Access refused",
        degraded: "Connected · data source down",
      },
      empty: "No alerts",
      emptyDegraded: "Data source down: no new alerts can arrive for now",
      loading: "Loading…",
      severity: { red: "Red", yellow: "Yellow" },
      role: { inspector: "Inspector", director: "Director", ops: "Ops", system: "System" },
      system: "System",
      disposition: { verified: "verified", rectified: "rectified", held_accountable: "held to account", false_alarm: "false alarm" },
      tag: {
        acknowledged: () => "Acknowledged",
        appealed: () => "Under appeal",
        resolved: (d) => (d ? `Resolved (${d})` : "Resolved"),
        withdrawn: () => "Withdrawn",
        delisted: () => "Delisted",
        closed: () => "Concluded in time",
        superseded: () => "Now red",
      },
      change: {
        acknowledge: "acknowledged",
        resolve: "resolved",
        appeal: "appealed",
        accept_appeal: "accepted the appeal, delisted",
        reject_appeal: "rejected the appeal",
        case_closed: "the case was concluded in time or withdrawn: warning closed",
        superseded: "the case is overdue: the warning became a red card",
        case_concluded_late: "the case was concluded",
      },
      closedReason: { concluded_in_time: "concluded in time", case_withdrawn: "withdrawn by the applicant", order_replied: "supervision order answered" },
      concludedLate: (at, days) => `Case concluded ${at}, ${days} working days late`,
      then: "; ",
      caseMore: (n) => `+${n} more of this case`,
      escalated: (level, to, who) =>
        `escalated (level ${level})${to ? ` to ${to}` : ""}${who ? `, ${who}` : ""}`,
      sep: ": ",
      withDisposition: (what, d) => `${what} (${d})`,
      by: (who, at, what) => `${who} ${what} at ${at}`,
      who: (name, role) => (role ? `${name} (${role})` : name),
      withdrawnReason: (at, reason) => `Withdrawn${at ? ` (${at})` : ""}: ${reason}`,
      noReason: "no reason given",
      wholeCenter: "whole center",
      caseLabel: (id) => `Case ${id}`,
      age: (minutes) => {
        if (minutes < 1) return "just now";
        if (minutes < 60) return `${minutes} min ago`;
        const hours = Math.floor(minutes / 60);
        if (hours < 48) return `${hours} h ago`;
        return `${Math.floor(hours / 24)} d ago`;
      },
      shownPart: {
        acknowledged: (n) => `${n} acknowledged`,
        appealed: (n) => `${n} under appeal`,
        resolved: (n) => `${n} resolved`,
        withdrawn: (n) => `${n} withdrawn`,
        closed: (n) => `${n} closed`,
        superseded: (n) => `${n} now red`,
      },
      shown: (n, max, parts) =>
        `Showing the latest ${n} (at most ${max}${parts.length ? `; ${parts.join(", ")}` : ""})`,
      refused: {
        missing: ["No access token", "Open this page with the link your administrator gave you (…/wall/?token=…)."],
        token: ["Token invalid or revoked: please contact your administrator", "The wall has stopped connecting. Open it again with a link that has a new token."],
        forbidden: ["Not allowed to view the wall: please contact your administrator", "The token's role, or the address this page was opened from, is not allowed."],
      },
      date: (p, weekday) => `${weekday}, ${p.year}-${p.month}-${p.day}`,
    },
  };

  let lang = "zh-CN";
  let t = TEXTS[lang];

  const $ = (id) => document.getElementById(id);
  const els = {
    list: $("alerts"),
    empty: $("empty"),
    red: $("count-red"),
    yellow: $("count-yellow"),
    redFigure: $("figure-red"),
    accepted: $("fig-accepted"),
    openCases: $("fig-open"),
    rateToday: $("rate-today"),
    rateMonth: $("rate-month"),
    conn: $("conn"),
    connText: $("conn-text"),
    fresh: $("fresh"),
    freshText: $("fresh-text"),
    clock: $("clock"),
    clockDate: $("clock-date"),
    shown: $("foot-shown"),
    viewer: $("viewer"),
    lang: $("lang"),
    sound: $("sound"),
    notice: $("notice"),
    noticeTitle: $("notice-title"),
    noticeDetail: $("notice-detail"),
    back: $("back"),
    centersTitle: $("centers-title"),
    feedTitle: $("feed-title"),
    focus: $("focus"),
    tiles: $("tiles"),
  };

  /** A list of alerts: every alert in scope (`code` null), or a county's (drilled into).
   * `entries`: alert_id -> {alert, time (ms since epoch), row (element or null), flash}.
   * A county's list is `ready` once fetched; messages that arrive before wait in
   * `buffer` and are applied after it when newer than the fetch's position. */
  function newFeed(code) {
    return { code, entries: new Map(), ready: code === null, buffer: [], seq: null };
  }

  const feedAll = newFeed(null);
  let feedArea = null;
  let centers = {};
  let me = null;
  let renderQueued = false;
  /** The highest journal position applied; sent as `after` when reconnecting. */
  let lastSeq = null;
  /** null while allowed; "missing", "token" or "forbidden" once refused (final). */
  let refused = null;
  /** Server time minus this screen's time, when the screen's clock is off. */
  let clockOffset = 0;

  function activeFeed() {
    return feedArea || feedAll;
  }

  // -- token ----------------------------------------------------------------------------

  function takeToken() {
    let fromUrl = null;
    try {
      const url = new URL(location.href);
      fromUrl = url.searchParams.get("token");
      if (fromUrl !== null) {
        url.searchParams.delete("token");
        history.replaceState(history.state, "", `${url.pathname}${url.search}${url.hash}`);
      }
    } catch (err) {
      console.warn("could not read the token from the address", err);
    }
    try {
      if (fromUrl && fromUrl.trim()) {
        sessionStorage.setItem(TOKEN_KEY, fromUrl.trim());
        return fromUrl.trim();
      }
      return sessionStorage.getItem(TOKEN_KEY) || "";
    } catch (err) {
      return fromUrl ? fromUrl.trim() : ""; // storage disabled: this load only
    }
  }

  const token = takeToken();

  // -- formatting (always Beijing time, whatever the screen's own zone) -----------------

  const partsFormat = new Intl.DateTimeFormat("zh-CN", {
    timeZone: TIME_ZONE, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
  });
  const weekdayFormats = {
    "zh-CN": new Intl.DateTimeFormat("zh-CN", { timeZone: TIME_ZONE, weekday: "long" }),
    en: new Intl.DateTimeFormat("en-GB", { timeZone: TIME_ZONE, weekday: "short" }),
  };
  const numberFormat = new Intl.NumberFormat("zh-CN");

  function nowMs() {
    return Date.now() + clockOffset;
  }

  function parts(date) {
    const out = {};
    for (const p of partsFormat.formatToParts(date)) out[p.type] = p.value;
    return out;
  }

  function formatTime(ms) {
    const p = parts(new Date(ms));
    const thisYear = parts(new Date(nowMs())).year;
    const day = p.year === thisYear ? `${p.month}-${p.day}` : `${p.year}-${p.month}-${p.day}`;
    return `${day} ${p.hour}:${p.minute}`;
  }

  function formatIso(text) {
    const ms = typeof text === "string" ? Date.parse(text) : NaN;
    return Number.isNaN(ms) ? "" : formatTime(ms);
  }

  function minutesSince(ms) {
    return Math.max(0, Math.floor((nowMs() - ms) / 60000));
  }

  function formatAge(ms) {
    return t.age(minutesSince(ms));
  }

  function formatCount(n) {
    return Number.isInteger(n) ? numberFormat.format(n) : "—";
  }

  /** 0.75 -> "75%", 0.6667 -> "66.7%", null -> "—". */
  function formatRate(rate) {
    if (typeof rate !== "number" || !Number.isFinite(rate)) return "—";
    const pct = Math.round(rate * 1000) / 10;
    return Number.isInteger(pct) ? `${pct}%` : `${pct.toFixed(1)}%`;
  }

  function centerName(code) {
    const tile = tiles.get(code);
    return centers[code] || (tile && tile.name) || code;
  }

  // -- alerts and their status ----------------------------------------------------------

  function isAlert(a) {
    return a && typeof a === "object" && typeof a.alert_id === "string" && a.alert_id !== "" &&
      (a.severity === "red" || a.severity === "yellow") &&
      typeof a.raised_at === "string" && !Number.isNaN(Date.parse(a.raised_at));
  }

  function statusOf(a) {
    if (STATUSES.has(a.status)) return a.status;
    return a.resolution && typeof a.resolution === "object" ? "withdrawn" : "open";
  }

  function isOpen(a) {
    return !CLOSED.has(statusOf(a));
  }

  function lastChangeOf(a) {
    const change = a.last_change;
    return change && typeof change === "object" ? change : null;
  }

  /** Withdrawn by the system (a late event proved it wrong), not by an accepted appeal. */
  function withdrawnBySystem(a) {
    const change = lastChangeOf(a);
    return Boolean(a.resolution && typeof a.resolution === "object") ||
      (change !== null && change.action === "system_withdraw");
  }

  /** What tells one state of an alert from another (a change must rebuild its row). */
  function stateKey(a) {
    return `${statusOf(a)}|${a.updated_seq ?? ""}|${a.disposition ?? ""}|${a.resolution ? 1 : 0}`;
  }

  function newer(a, b) {
    // Newest first; ties by alert_id descending, as the server orders them.
    if (a.time !== b.time) return b.time - a.time;
    return a.alert.alert_id < b.alert.alert_id ? 1 : a.alert.alert_id > b.alert.alert_id ? -1 : 0;
  }

  /** Show `alert` in `feed` (a new one, or the same one as it now stands). Only a new
   * red alert that is still open flashes. */
  function upsert(feed, alert, { flash }) {
    if (!isAlert(alert)) return false;
    const entry = feed.entries.get(alert.alert_id);
    if (!entry) {
      feed.entries.set(alert.alert_id, {
        alert, time: Date.parse(alert.raised_at), row: null,
        flash: flash && alert.severity === "red" && isOpen(alert),
      });
      return true;
    }
    if (stateKey(entry.alert) === stateKey(alert)) return false;
    setAlert(entry, alert);
    return true;
  }

  /** Give an entry its alert as it now stands; rebuilds its row in place, no flash. */
  function setAlert(entry, alert) {
    entry.alert = alert;
    entry.flash = false;
    if (entry.row) {
      const fresh = buildRow(entry);
      entry.row.replaceWith(fresh);
      entry.row = fresh;
    }
  }

  function replaceAll(feed, alerts) {
    const keep = new Map();
    for (const alert of alerts) {
      if (!isAlert(alert) || keep.has(alert.alert_id)) continue;
      const old = feed.entries.get(alert.alert_id);
      if (old) {
        // Changed while this screen was away: follow the server.
        if (stateKey(old.alert) !== stateKey(alert)) setAlert(old, alert);
        keep.set(alert.alert_id, old);
      } else {
        keep.set(alert.alert_id, { alert, time: Date.parse(alert.raised_at), row: null, flash: false });
      }
    }
    for (const [id, entry] of feed.entries) {
      if (!keep.has(id) && entry.row) entry.row.remove();
    }
    feed.entries.clear();
    for (const [id, entry] of keep) feed.entries.set(id, entry);
  }

  function clearFeed(feed) {
    for (const entry of feed.entries.values()) {
      if (entry.row) entry.row.remove();
    }
    feed.entries.clear();
    feed.buffer = [];
  }

  /** The newest MAX_ROWS of a feed, sorted; the others are forgotten. */
  function trim(feed) {
    const sorted = [...feed.entries.values()].sort(newer);
    for (const dropped of sorted.splice(MAX_ROWS)) {
      if (dropped.row) dropped.row.remove();
      feed.entries.delete(dropped.alert.alert_id);
    }
    return sorted;
  }

  // -- rows -----------------------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function whoText(by) {
    if (!by || typeof by !== "object") return "";
    if (by.role === "system") return t.system;
    const name = typeof by.name === "string" ? by.name : "";
    return t.who(name, t.role[by.role] || "");
  }

  function dispositionText(a) {
    return a.disposition ? t.disposition[a.disposition] || String(a.disposition) : "";
  }

  /** The status tag: [text, modifier] or null for an open alert. */
  function tagOf(a) {
    const status = statusOf(a);
    if (status === "open") return null;
    if (status === "withdrawn") {
      return withdrawnBySystem(a) ? [t.tag.withdrawn(), "withdrawn"] : [t.tag.delisted(), "delisted"];
    }
    return [t.tag[status](dispositionText(a)), status];
  }

  /** The line under the alert: the withdrawal's reason, or who did the last change. */
  function changeText(a) {
    const status = statusOf(a);
    if (status === "withdrawn" && withdrawnBySystem(a)) {
      const r = a.resolution && typeof a.resolution === "object" ? a.resolution : {};
      const change = lastChangeOf(a) || {};
      const reason = [r.reason, change.reason].find((x) => typeof x === "string" && x) || t.noReason;
      return t.withdrawnReason(formatIso(r.resolved_at || change.at), reason);
    }
    const late = typeof a.case_concluded_at === "string" && typeof a.late_working_days === "number"
      ? t.concludedLate(formatIso(a.case_concluded_at), a.late_working_days)
      : "";
    const change = lastChangeOf(a);
    if (!change) return late;
    if (change.action === "case_concluded_late") return late;
    let what = t.change[change.action] || String(change.action || "");
    if (change.action === "case_closed" && t.closedReason[change.reason]) {
      what = t.withDisposition(what, t.closedReason[change.reason]);
    }
    if (change.action === "escalate") {
      // The notifier's step up the hierarchy: the alert's status is unchanged.
      const to = typeof change.to_center === "string" && change.to_center ? centerName(change.to_center) : "";
      const who = typeof change.recipient_name === "string" ? change.recipient_name : "";
      what = t.escalated(Number.isInteger(change.level) ? change.level : 1, to, who);
    }
    if (change.action === "resolve" && dispositionText(a)) {
      what = t.withDisposition(what, dispositionText(a));
    }
    const own = change.action === "case_closed" ? [] : [change.reason];
    const detail = [...own, change.note].filter((x) => typeof x === "string" && x.trim());
    const line = t.by(whoText(change.by), formatIso(change.at), what);
    const full = detail.length ? `${line}${t.sep}${detail.join(" / ")}` : line;
    return late ? `${late}${t.then}${full}` : full;
  }

  function buildRow(entry) {
    const a = entry.alert;
    const status = statusOf(a);
    const closed = CLOSED.has(status);
    const tag = tagOf(a);
    const row = el("li", `alert alert--${a.severity} alert--${status}${closed ? " alert--closed" : ""}`);
    row.dataset.alertId = a.alert_id;
    row.dataset.severity = a.severity;
    row.dataset.status = status;
    row.dataset.centerId = a.center_id || "";
    row.title = `${a.rule_id || ""} · ${a.alert_id}`;

    row.append(el("div", "alert__badge", t.severity[a.severity]));

    const main = el("div", "alert__main");
    const line1 = el("div", "alert__line1");
    line1.append(el("span", "alert__center", centerName(a.center_id || "")));
    if (tag) {
      const [text, modifier] = tag;
      // `alert__withdrawn`: the system's withdrawal, as the wall has always shown it.
      const extra = modifier === "withdrawn" ? " alert__withdrawn" : "";
      line1.append(el("span", `alert__tag alert__tag--${modifier}${extra}`, text));
    }
    line1.append(el("span", "alert__title", a.title || a.rule_id || ""));
    const line2 = el("div", "alert__line2");
    line2.append(a.case_id
      ? el("span", "alert__case", t.caseLabel(a.case_id))
      : el("span", "alert__case alert__case--center", t.wholeCenter));
    line2.append(el("span", "alert__message", a.message || ""));
    main.append(line1, line2);
    const change = changeText(a);
    if (change) {
      const reason = status === "withdrawn" ? " alert__reason" : "";
      main.append(el("div", `alert__change${reason}`, change));
      row.title = `${tag ? tag[0] : ""} · ${change}\n${row.title}`;
    }
    row.append(main);

    const time = el("time", "alert__time", formatTime(entry.time));
    time.dateTime = a.raised_at;
    time.append(el("small", "alert__age", formatAge(entry.time)));
    row.append(time);
    return row;
  }

  function rebuildRows() {
    for (const feed of [feedAll, feedArea]) {
      if (!feed) continue;
      for (const entry of feed.entries.values()) {
        if (!entry.row) continue;
        const fresh = buildRow(entry);
        entry.row.replaceWith(fresh);
        entry.row = fresh;
      }
    }
  }

  function scheduleRender() {
    // A hidden tab runs no animation frames: never let a list grow past its bound.
    for (const feed of [feedAll, feedArea]) {
      if (feed && feed !== activeFeed() && feed.entries.size > 2 * MAX_ROWS) trim(feed);
    }
    if (activeFeed().entries.size > 2 * MAX_ROWS) {
      render();
      return;
    }
    if (renderQueued) return;
    renderQueued = true;
    requestAnimationFrame(render);
  }

  /** The rank of an alert among its case's: open before closed, red before yellow. */
  function caseRank(a) {
    return (isOpen(a) ? 0 : 2) + (a.severity === "red" ? 0 : 1);
  }

  /**
   * One row per case (contract: a case shows once, with its worst open alert): of a
   * case's alerts, the open red one first, then open yellow, then the newest closed one;
   * the row says how many more the case has. Alerts of no case (a center's) stand alone.
   * `sorted` is newest first, so the first of equal rank is the newest.
   */
  function oneRowPerCase(sorted) {
    const best = new Map();
    const count = new Map();
    for (const entry of sorted) {
      const id = entry.alert.case_id;
      if (!id) continue;
      count.set(id, (count.get(id) || 0) + 1);
      const held = best.get(id);
      if (!held || caseRank(entry.alert) < caseRank(held.alert)) best.set(id, entry);
    }
    const shown = [];
    for (const entry of sorted) {
      const id = entry.alert.case_id;
      if (id && best.get(id) !== entry) continue;
      entry.more = id ? count.get(id) - 1 : 0;
      shown.push(entry);
    }
    return shown;
  }

  function showMore(entry) {
    const row = entry.row;
    let more = row.querySelector(".alert__more");
    if (!entry.more) {
      if (more) more.remove();
      delete row.dataset.caseAlerts;
      return;
    }
    if (!more) {
      more = el("span", "alert__more");
      const line = row.querySelector(".alert__line2");
      if (line) line.append(more);
    }
    more.textContent = t.caseMore(entry.more);
    row.dataset.caseAlerts = String(entry.more + 1);
  }

  function render() {
    renderQueued = false;
    const feed = activeFeed();
    const sorted = oneRowPerCase(trim(feed));
    // Walk the list in order, moving only rows that are out of place.
    let cursor = els.list.firstElementChild;
    const byStatus = {
      acknowledged: 0, appealed: 0, resolved: 0, withdrawn: 0, closed: 0, superseded: 0,
    };
    for (const entry of sorted) {
      const status = statusOf(entry.alert);
      if (status in byStatus) byStatus[status] += 1;
      if (!entry.row) entry.row = buildRow(entry);
      showMore(entry);
      if (entry.flash) {
        entry.flash = false;
        flash(entry.row);
      }
      if (entry.row === cursor) {
        cursor = cursor.nextElementSibling;
      } else {
        els.list.insertBefore(entry.row, cursor);
      }
    }
    while (cursor) {
      const next = cursor.nextElementSibling;
      cursor.remove();
      cursor = next;
    }
    const shownParts = Object.entries(byStatus)
      .filter(([, n]) => n > 0)
      .map(([status, n]) => t.shownPart[status](n));
    els.shown.textContent = t.shown(sorted.length, MAX_ROWS, shownParts);
    showEmpty();
  }

  function showEmpty() {
    const feed = activeFeed();
    els.empty.textContent = !feed.ready ? t.loading : feedOk ? t.empty : t.emptyDegraded;
    els.empty.classList.toggle("is-visible", feed.entries.size === 0 && !refused);
  }

  /** (Re)start the flash animation of a node. */
  function flash(node) {
    node.classList.remove("flash");
    void node.offsetWidth; // let the removal take effect, so the animation starts again
    node.classList.add("flash");
    node.addEventListener("animationend", () => node.classList.remove("flash"), { once: true });
  }

  function refreshNames() {
    for (const feed of [feedAll, feedArea]) {
      if (!feed) continue;
      for (const entry of feed.entries.values()) {
        if (!entry.row) continue;
        const node = entry.row.querySelector(".alert__center");
        if (node) node.textContent = centerName(entry.alert.center_id || "");
      }
    }
    showViewer();
  }

  function refreshAges() {
    for (const entry of activeFeed().entries.values()) {
      const node = entry.row && entry.row.querySelector(".alert__age");
      if (node) node.textContent = formatAge(entry.time);
    }
    updateTiles();
  }

  // -- headline figures and freshness ---------------------------------------------------

  const figures = {
    loaded: false,
    accepted: null,
    openCases: null,
    red: null,
    yellow: null,
    rateToday: null,
    rateMonth: null,
    today: [0, 0],
    month: [0, 0],
    lastEventMs: null,
    serverNowMs: null,
    fetchedAt: 0,
  };

  function int(value) {
    return Number.isInteger(value) && value >= 0 ? value : 0;
  }

  function applyHeadline(body, exact) {
    if (!body || typeof body !== "object") return;
    figures.loaded = true;
    figures.accepted = int(body.accepted_today);
    figures.openCases = int(body.open_cases);
    figures.rateToday = typeof body.on_time_rate_today === "number" ? body.on_time_rate_today : null;
    figures.rateMonth = typeof body.on_time_rate_month === "number" ? body.on_time_rate_month : null;
    figures.today = [int(body.on_time_today), int(body.overdue_today)];
    figures.month = [int(body.on_time_month), int(body.overdue_month)];
    const alerts = body.open_alerts && typeof body.open_alerts === "object" ? body.open_alerts : {};
    if (exact || figures.red === null) {
      figures.red = int(alerts.red);
      figures.yellow = int(alerts.yellow);
    }
    const serverNow = typeof body.now === "string" ? Date.parse(body.now) : NaN;
    const lastEvent = typeof body.last_event_at === "string" ? Date.parse(body.last_event_at) : NaN;
    figures.fetchedAt = performance.now();
    figures.serverNowMs = Number.isNaN(serverNow) ? Date.now() : serverNow;
    figures.lastEventMs = Number.isNaN(lastEvent) ? null : lastEvent;
    if (!Number.isNaN(serverNow)) {
      const offset = serverNow - Date.now();
      clockOffset = Math.abs(offset) > CLOCK_TOLERANCE_MS ? offset : 0;
    }
    if (exact) {
      document.body.dataset.figures = "synced";
    } else {
      scheduleSync();
    }
    showFigures();
    showFreshness();
  }

  function showFigures() {
    els.accepted.textContent = formatCount(figures.accepted);
    els.openCases.textContent = formatCount(figures.openCases);
    els.red.textContent = figures.red === null ? "—" : String(figures.red);
    els.yellow.textContent = figures.yellow === null ? "—" : String(figures.yellow);
    els.rateToday.textContent = formatRate(figures.rateToday);
    els.rateMonth.textContent = formatRate(figures.rateMonth);
    els.rateToday.parentElement.title = figures.loaded ? t.rateDetail(t.rateToday, ...figures.today) : "";
    els.rateMonth.parentElement.title = figures.loaded ? t.rateDetail(t.rateMonth, ...figures.month) : "";
  }

  /** How long since the latest event from the centers, by the server's clock. */
  function freshnessAgeMs() {
    if (figures.lastEventMs === null) return null;
    return figures.serverNowMs - figures.lastEventMs + (performance.now() - figures.fetchedAt);
  }

  function showFreshness() {
    let state;
    let text;
    const age = freshnessAgeMs();
    if (!figures.loaded) {
      state = "unknown";
      text = t.freshUnknown;
    } else if (age === null) {
      state = "none";
      text = t.freshNone;
    } else {
      const minutes = Math.max(0, Math.floor(age / 60000));
      state = minutes >= FRESH_STALE_MINUTES ? "stale" : minutes >= FRESH_WARN_MINUTES ? "warn" : "ok";
      text = t.fresh(t.age(minutes));
    }
    els.fresh.dataset.freshness = state;
    els.freshText.textContent = text;
    els.fresh.title = figures.lastEventMs === null ? "" : t.freshTitle(formatTime(figures.lastEventMs));
  }

  // -- live counts: what the page heard of each alert -----------------------------------

  /** alert_id -> {center, severity, open}: for the alerts the page heard of (snapshot and
   * messages; oldest forgotten first), whether each was open, so that a change that
   * closes one takes it off the counts. */
  const known = new Map();
  /** Bumped by every socket message that moved (or may have moved) the counts. */
  let socketGen = 0;

  function remember(a) {
    known.delete(a.alert_id);
    known.set(a.alert_id, { center: a.center_id || "", severity: a.severity, open: isOpen(a) });
    while (known.size > KNOWN_MAX) known.delete(known.keys().next().value);
  }

  /** Follow one `alert` or `change` message in the counts. */
  function track(message) {
    const a = message.alert;
    const now = isOpen(a);
    const prev = known.get(a.alert_id);
    let before;
    if (prev) {
      before = prev.open;
    } else if (message.type === "alert") {
      before = false;
    } else {
      const change = lastChangeOf(a);
      before = change && FROM_OPEN.has(change.action) ? true : null; // null: cannot tell
    }
    remember(a);
    socketGen += 1;
    document.body.dataset.figures = "live";
    document.body.dataset.board = "live";
    scheduleSync();
    if (before === null || before === now) return;
    const delta = now ? 1 : -1;
    if (figures.red !== null) {
      figures[a.severity] = Math.max(0, figures[a.severity] + delta);
      showFigures();
    }
    const tile = tiles.get(a.center_id || "");
    if (tile) {
      tile[a.severity] = Math.max(0, tile[a.severity] + delta);
      updateTiles();
    }
  }

  /** A new open red alert: the header's red figure and the tiles of its center flash,
   * and the sound plays when it is on. */
  function announceRed(a) {
    flash(els.redFigure);
    let code = a.center_id || "";
    for (let depth = 0; code && depth < 4; depth += 1) {
      const node = tileNodes.get(code);
      if (node) flash(node);
      code = parentOf(code);
    }
    beep(true);
  }

  // -- the board of centers -------------------------------------------------------------

  /** code -> {code, name, level, parent, red, yellow, openCases, lastEventMs}. */
  const tiles = new Map();
  /** code -> codes of the centers directly under it, in the server's (wall) order. */
  const children = new Map();
  /** code -> the tile element shown for it in the current view. */
  const tileNodes = new Map();
  /** The center whose centers are shown (undefined until the board has loaded; null:
   * several top centers, shown side by side). */
  let view;
  let shownCodes = "";
  let selected = null;
  let keyboardUsed = false;

  function codeParent(code) {
    if (/^\d{9}$/.test(code)) return code.slice(0, 6);
    if (/^\d{6}$/.test(code) && !code.endsWith("00")) return `${code.slice(0, 4)}00`;
    return null;
  }

  function parentOf(code) {
    const tile = tiles.get(code);
    return tile ? tile.parent : codeParent(code);
  }

  function within(code, area) {
    let current = code;
    for (let depth = 0; current && depth < 5; depth += 1) {
      if (current === area) return true;
      current = parentOf(current);
    }
    return false;
  }

  function roots() {
    const out = [];
    for (const tile of tiles.values()) {
      if (!tile.parent || !tiles.has(tile.parent)) out.push(tile.code);
    }
    return out;
  }

  function topView() {
    const top = roots();
    return top.length === 1 ? top[0] : null;
  }

  function childrenOf(code) {
    return code === null ? roots() : children.get(code) || [];
  }

  function drilled() {
    return view !== undefined && view !== topView();
  }

  function drillable(code) {
    return code !== view && childrenOf(code).length > 0;
  }

  /** 东兰县政务服务中心 -> 东兰县. */
  function placeName(code) {
    const full = centerName(code);
    return full.replace(/(政务服务中心|便民服务中心)$/, "") || full;
  }

  /** The name on a tile, short enough to read across the room: 东兰县政务服务中心 ->
   * 东兰县; 东兰县东兰镇便民服务中心 -> 东兰镇 (its county is around it); an autonomous
   * county as it is usually called: 罗城仫佬族自治县 -> 罗城县. The full name is the
   * tile's tooltip. */
  function shortName(code) {
    let name = placeName(code);
    const parent = parentOf(code);
    const above = parent && tiles.get(parent);
    if (above && above.level === "county") {
      const prefix = placeName(parent);
      if (name.startsWith(prefix) && name.length > prefix.length) name = name.slice(prefix.length);
    }
    return name.replace(/^(.{2})\S*?族自治县$/, "$1县");
  }

  /** Open red/yellow alerts and open cases of a center, with those under it if `area`. */
  function totals(code, area) {
    const tile = tiles.get(code);
    const sum = { red: 0, yellow: 0, openCases: 0, lastEventMs: null };
    if (!tile) return sum;
    sum.red = tile.red;
    sum.yellow = tile.yellow;
    sum.openCases = tile.openCases;
    sum.lastEventMs = tile.lastEventMs;
    if (area) {
      for (const child of childrenOf(code)) {
        const below = totals(child, true);
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

  function worstOf(sum) {
    return sum.red > 0 ? "red" : sum.yellow > 0 ? "yellow" : "none";
  }

  function applyBoard(body, exact) {
    if (!Array.isArray(body)) return;
    const fresh = new Map();
    for (const raw of body) {
      if (!raw || typeof raw !== "object" || typeof raw.code !== "string" || !raw.code) continue;
      const old = tiles.get(raw.code);
      const last = typeof raw.last_event_at === "string" ? Date.parse(raw.last_event_at) : NaN;
      fresh.set(raw.code, {
        code: raw.code,
        name: typeof raw.name === "string" && raw.name ? raw.name : raw.code,
        level: raw.level,
        parent: typeof raw.parent === "string" && raw.parent ? raw.parent : null,
        red: exact || !old ? int(raw.red) : old.red,
        yellow: exact || !old ? int(raw.yellow) : old.yellow,
        openCases: int(raw.open_cases),
        lastEventMs: Number.isNaN(last) ? null : last,
      });
    }
    tiles.clear();
    children.clear();
    for (const [code, tile] of fresh) {
      tiles.set(code, tile);
      if (tile.parent && fresh.has(tile.parent)) {
        if (!children.has(tile.parent)) children.set(tile.parent, []);
        children.get(tile.parent).push(code);
      }
    }
    if (view === undefined || (view !== null && !tiles.has(view))) {
      view = topView();
      leaveArea();
    }
    if (exact) {
      document.body.dataset.board = "synced";
    } else {
      scheduleSync();
    }
    renderBoard();
  }

  function buildTile(code, { focus }) {
    const tile = tiles.get(code);
    const node = el("button", `tile${focus ? " tile--focus" : ""}`);
    node.type = "button";
    node.dataset.code = code;
    node.dataset.level = tile ? tile.level : "";
    node.dataset.scope = !focus && childrenOf(code).length ? "area" : "own";
    node.tabIndex = -1;
    node.addEventListener("click", () => {
      selected = code;
      if (!open(code)) showSelection();
    });
    return node;
  }

  /** Rebuild the tiles when the view (or the set of centers) changed; else update them. */
  function renderBoard() {
    const list = view === undefined ? [] : childrenOf(view);
    const codes = `${view}|${list.join(",")}`;
    if (codes !== shownCodes) {
      shownCodes = codes;
      tileNodes.clear();
      els.focus.replaceChildren();
      els.tiles.replaceChildren();
      if (view !== undefined && view !== null && tiles.has(view)) {
        const node = buildTile(view, { focus: true });
        tileNodes.set(view, node);
        els.focus.append(node);
      }
      for (const code of list) {
        const node = buildTile(code, { focus: false });
        tileNodes.set(code, node);
        els.tiles.append(node);
      }
      els.tiles.dataset.count = String(list.length);
      if (selected !== null && !tileNodes.has(selected)) selected = null;
    }
    const isDrilled = drilled();
    document.body.dataset.view = isDrilled ? view : "top";
    els.back.hidden = !isDrilled;
    els.centersTitle.textContent = isDrilled || (view && tiles.get(view) && tiles.get(view).level !== "city")
      ? t.centersArea(shortName(view))
      : t.centersTop;
    const top = topView();
    const narrowed = feedArea ? feedArea.code : top && tiles.get(top).level !== "city" ? top : null;
    els.feedTitle.textContent = narrowed ? t.feedArea(shortName(narrowed)) : t.feedAll;
    updateTiles();
    showSelection();
  }

  function updateTiles() {
    for (const [code, node] of tileNodes) {
      const tile = tiles.get(code);
      if (!tile) continue;
      const focus = node.classList.contains("tile--focus");
      const area = node.dataset.scope === "area";
      const sum = totals(code, area);
      const worst = worstOf(sum);
      node.dataset.worst = worst;
      node.dataset.red = String(sum.red);
      node.dataset.yellow = String(sum.yellow);
      node.dataset.openCases = String(sum.openCases);
      node.classList.remove("tile--red", "tile--yellow", "tile--none");
      node.classList.add(`tile--${worst}`);
      node.classList.toggle("tile--drillable", drillable(code));
      node.title = drillable(code) ? t.tileOpenHint(tile.name) : tile.name;

      const head = el("span", "tile__head");
      head.append(el("span", "tile__name", shortName(code)));
      if (focus) head.append(el("span", "tile__scope", t.tileOwn));

      const counts = el("span", "tile__counts");
      for (const severity of ["red", "yellow"]) {
        const count = el("span", `tile__count tile__count--${severity}${sum[severity] ? "" : " is-zero"}`);
        count.append(el("b", "tile__number", String(sum[severity])), el("span", "", t.severity[severity]));
        count.dataset.severity = severity;
        counts.append(count);
      }
      const cases = el("span", "tile__cases", t.tileCases(sum.openCases, formatCount(sum.openCases)));
      // How long ago its latest event was; on a small tile just the age (tooltip: what).
      const age = sum.lastEventMs === null ? null : formatAge(sum.lastEventMs);
      const fresh = el("span", "tile__fresh", age === null ? t.tileNoData : area ? age : t.tileFresh(age));
      if (age !== null) fresh.title = t.tileFresh(age);
      const foot = el("span", "tile__foot");
      if (area) {
        // The centers under it, one square each in its colour: which township is red.
        const dots = el("span", "tile__dots");
        for (const child of childrenOf(code)) {
          const dot = el("i", `tile__dot tile__dot--${worstOf(totals(child, false))}`);
          dot.title = centerName(child);
          dots.append(dot);
        }
        foot.append(dots);
      }
      foot.append(fresh);
      node.replaceChildren(head, counts, cases, foot);
    }
  }

  /** The tiles the arrow keys move through: the center in focus, then those under it. */
  function navigable() {
    return [...tileNodes.keys()];
  }

  function showSelection(focusIt = false) {
    const order = navigable();
    const current = selected !== null && tileNodes.has(selected) ? selected : null;
    order.forEach((code, i) => {
      const node = tileNodes.get(code);
      const chosen = current === code;
      node.tabIndex = chosen || (current === null && i === 0) ? 0 : -1;
      node.classList.toggle("is-selected", chosen && keyboardUsed);
    });
    if (focusIt && current !== null && keyboardUsed && document.activeElement !== tileNodes.get(current)) {
      tileNodes.get(current).focus({ preventScroll: true });
    }
  }

  function select(code) {
    selected = code;
    showSelection(true);
  }

  /** Drill into `code` (a center with centers under it); false if it has none. */
  function open(code) {
    if (code === null || !drillable(code)) return false;
    view = code;
    enterArea(code);
    renderBoard();
    const first = childrenOf(code)[0];
    select(first !== undefined ? first : code);
    return true;
  }

  /** Back to the center above the one in focus; false at the top. */
  function back() {
    if (!drilled()) return false;
    const from = view;
    const parent = parentOf(from);
    view = parent && tiles.has(parent) ? parent : topView();
    if (drilled()) enterArea(view);
    else leaveArea();
    renderBoard();
    select(from);
    return true;
  }

  /** The direction of an arrow key: the nearest tile that way (left/right: in order). */
  function move(key) {
    const order = navigable();
    if (!order.length) return;
    keyboardUsed = true;
    const at = order.indexOf(selected);
    if (at < 0) {
      select(order[0]);
      return;
    }
    if (key === "ArrowLeft" || key === "ArrowRight") {
      const next = at + (key === "ArrowRight" ? 1 : -1);
      select(order[Math.max(0, Math.min(order.length - 1, next))]);
      return;
    }
    const down = key === "ArrowDown";
    const from = tileNodes.get(selected).getBoundingClientRect();
    const fromX = from.left + from.width / 2;
    let best = null;
    let bestScore = Infinity;
    for (const code of order) {
      if (code === selected) continue;
      const r = tileNodes.get(code).getBoundingClientRect();
      const dy = down ? r.top - from.bottom : from.top - r.bottom;
      if (dy < -1) continue; // not in that direction
      const score = dy + 2 * Math.abs(r.left + r.width / 2 - fromX);
      if (score < bestScore) {
        bestScore = score;
        best = code;
      }
    }
    if (best !== null) select(best);
  }

  els.back.addEventListener("click", () => back());

  document.addEventListener("keydown", (event) => {
    if (refused || event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.isComposing) return;
    const target = event.target instanceof Element ? event.target : null;
    if (target && target.closest("input, textarea, select, [contenteditable]")) return;
    const onOtherControl = target && !target.closest(".tile") && target.closest("button, a");
    switch (event.key) {
      case "ArrowLeft":
      case "ArrowRight":
      case "ArrowUp":
      case "ArrowDown":
        move(event.key);
        break;
      case "Enter":
        if (onOtherControl) return; // the header's buttons work as buttons
        keyboardUsed = true;
        if (selected === null || !tileNodes.has(selected)) {
          const order = navigable();
          if (order.length) select(order[0]);
        } else {
          open(selected);
        }
        break;
      case "Escape":
      case "Backspace":
        keyboardUsed = true;
        if (!back()) return;
        break;
      default:
        return;
    }
    event.preventDefault();
  });

  // -- a county's alerts ----------------------------------------------------------------

  function enterArea(code) {
    if (feedArea && feedArea.code === code) return;
    if (feedArea) clearFeed(feedArea);
    feedArea = newFeed(code);
    els.list.replaceChildren();
    loadArea(feedArea);
    render();
    refreshAges();
  }

  function leaveArea() {
    if (!feedArea) return;
    clearFeed(feedArea);
    feedArea = null;
    els.list.replaceChildren();
    render();
    refreshAges();
  }

  /** Fetch a county's alerts (with its townships'), then apply what the socket brought
   * meanwhile that is newer than the fetch. */
  async function loadArea(feed) {
    if (refused || feedArea !== feed) return;
    const query = new URLSearchParams({ center_id: feed.code, below: "true", limit: String(MAX_ROWS) });
    try {
      const body = await api(`api/alerts?${query}`);
      if (body === null || refused || feedArea !== feed) return;
      replaceAll(feed, Array.isArray(body.items) ? body.items : []);
      feed.seq = Number.isInteger(body.seq) ? body.seq : null;
      feed.ready = true;
      for (const message of feed.buffer) {
        if (feed.seq === null || message.seq === null || message.seq > feed.seq) {
          upsert(feed, message.alert, { flash: message.type === "alert" });
        }
      }
      feed.buffer = [];
      scheduleRender();
    } catch (err) {
      if (refused || feedArea !== feed) return;
      console.warn("the county's alerts are unavailable; retrying", err);
      later(() => loadArea(feed), LOAD_RETRY_MS);
    }
  }

  // -- sound ----------------------------------------------------------------------------

  let soundOn = storedFlag(SOUND_KEY);
  let audio = null;
  let lastBeep = -Infinity;
  let beeps = 0;

  function storedFlag(key) {
    try {
      return localStorage.getItem(key) === "on";
    } catch (err) {
      return false;
    }
  }

  /** The page's AudioContext, made on first need (a browser lets it play only after a
   * click or key on the page, or when its autoplay policy allows it). */
  function audioContext() {
    if (audio) return audio;
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return null;
    try {
      audio = new Context();
      audio.onstatechange = showSound;
    } catch (err) {
      audio = null;
    }
    return audio;
  }

  function soundState() {
    if (!soundOn) return "off";
    return audio && audio.state === "running" ? "on" : "blocked";
  }

  function showSound() {
    const state = soundState();
    els.sound.dataset.sound = state;
    els.sound.dataset.beeps = String(beeps);
    els.sound.setAttribute("aria-pressed", String(soundOn));
    els.sound.title = t.sound[state];
    els.sound.setAttribute("aria-label", t.sound[state]);
  }

  /** Resume the context on a user gesture (when the sound is on). */
  function unlockAudio() {
    if (!soundOn) return;
    const context = audioContext();
    if (context && context.state === "suspended") context.resume().then(showSound, () => {});
    showSound();
  }

  /** Two short tones (880 Hz, 660 Hz), generated: no audio file. Alerts beep at most once
   * every BEEP_GAP_MS (a burst after a reconnect is one beep). */
  function beep(forAlert) {
    if (soundState() !== "on") return;
    if (forAlert) {
      const now = performance.now();
      if (now - lastBeep < BEEP_GAP_MS) return;
      lastBeep = now;
      beeps += 1;
    }
    const context = audio;
    const start = context.currentTime + 0.02;
    [[0, 880], [0.24, 660]].forEach(([offset, frequency]) => {
      const oscillator = context.createOscillator();
      const gain = context.createGain();
      oscillator.type = "sine";
      oscillator.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, start + offset);
      gain.gain.exponentialRampToValueAtTime(0.35, start + offset + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.2);
      oscillator.connect(gain).connect(context.destination);
      oscillator.onended = () => {
        oscillator.disconnect();
        gain.disconnect();
      };
      oscillator.start(start + offset);
      oscillator.stop(start + offset + 0.22);
    });
    showSound();
  }

  els.sound.addEventListener("click", () => {
    soundOn = !soundOn;
    try {
      localStorage.setItem(SOUND_KEY, soundOn ? "on" : "off");
    } catch (err) {
      // Not remembered; switched all the same.
    }
    if (soundOn) {
      const context = audioContext(); // made and resumed in the click: allowed to play
      if (context) {
        context.resume().then(() => {
          showSound();
          beep(false); // so the person at the wall hears what it will sound like
        }, () => showSound());
      }
    }
    showSound();
  });

  // Remembered as on: the first click or key on the page lets it play.
  document.addEventListener("pointerdown", unlockAudio, true);
  document.addEventListener("keydown", unlockAudio, true);

  // -- header: who is watching, language ------------------------------------------------

  function showViewer() {
    if (!me || refused) {
      els.viewer.hidden = true;
      return;
    }
    const shown = [me.name, t.role[me.role] || me.role];
    if (me.role === "director" && me.center) shown.push(centerName(me.center));
    els.viewer.textContent = shown.filter(Boolean).join(" · ");
    els.viewer.hidden = false;
  }

  function applyLanguage(next) {
    lang = TEXTS[next] ? next : "zh-CN";
    t = TEXTS[lang];
    document.documentElement.lang = lang;
    document.title = t.title;
    for (const node of document.querySelectorAll("[data-i18n]")) {
      const text = t[node.dataset.i18n];
      if (typeof text === "string") node.textContent = text;
    }
    for (const node of document.querySelectorAll("[data-i18n-aria]")) {
      const text = t[node.dataset.i18nAria];
      if (typeof text === "string") node.setAttribute("aria-label", text);
    }
    els.lang.textContent = t.otherLanguage;
    els.lang.lang = lang === "en" ? "zh-CN" : "en";
    showConnection();
    showViewer();
    showNotice();
    showFigures();
    showFreshness();
    showSound();
    rebuildRows();
    renderBoard();
    tick();
    render();
  }

  function storedLanguage() {
    try {
      return localStorage.getItem(LANG_KEY) || "zh-CN";
    } catch (err) {
      return "zh-CN";
    }
  }

  els.lang.addEventListener("click", () => {
    const next = lang === "en" ? "zh-CN" : "en";
    try {
      localStorage.setItem(LANG_KEY, next);
    } catch (err) {
      // Not remembered; switched all the same.
    }
    applyLanguage(next);
  });

  // -- connection -----------------------------------------------------------------------

  // Two things can fail: the socket to this server, and the server's Kafka feed. A quiet
  // wall must not look like a calm one, so a feed outage is shown too (from /healthz).
  let socketState = "connecting";
  let feedOk = true;

  function setConnection(state) {
    socketState = state;
    showConnection();
  }

  function showConnection() {
    let look = socketState;
    let text = t.conn[socketState];
    if (socketState === "connected" && !feedOk) {
      look = "degraded";
      text = t.conn.degraded;
    }
    els.conn.className = `conn conn--${look}`;
    els.connText.textContent = text;
    document.body.dataset.connection = socketState;
    document.body.dataset.feed = feedOk ? "ok" : "degraded";
    showEmpty();
  }

  function showNotice() {
    if (!refused) {
      els.notice.hidden = true;
      return;
    }
    const [title, detail] = t.refused[refused];
    els.noticeTitle.textContent = title;
    els.noticeDetail.textContent = detail;
    els.notice.hidden = false;
  }

  let socket = null;
  let reconnectTimer = null;
  let backoff = BACKOFF_MIN_MS;
  const timers = new Set();

  function later(fn, ms) {
    const id = setTimeout(() => {
      timers.delete(id);
      fn();
    }, ms);
    timers.add(id);
    return id;
  }

  function cancel(id) {
    if (id === null) return;
    clearTimeout(id);
    timers.delete(id);
  }

  /** The server refused this page (final until it is opened with another token): show
   * why, show nothing it may no longer see, stop every connection and retry. */
  function refuse(kind) {
    if (refused) return;
    refused = kind;
    for (const id of timers) clearTimeout(id);
    timers.clear();
    reconnectTimer = null;
    syncTimer = null;
    if (socket) {
      const closing = socket;
      socket = null;
      closing.onclose = null;
      closing.onmessage = null;
      closing.close();
    }
    clearFeed(feedAll);
    if (feedArea) clearFeed(feedArea);
    feedArea = null;
    known.clear();
    tiles.clear();
    children.clear();
    view = undefined;
    lastSeq = null;
    Object.assign(figures, {
      loaded: false, accepted: null, openCases: null, red: 0, yellow: 0,
      rateToday: null, rateMonth: null, lastEventMs: null,
    });
    document.body.dataset.refused = kind;
    document.body.dataset.figures = "cleared";
    document.body.dataset.board = "cleared";
    setConnection("refused");
    showViewer();
    showNotice();
    showFigures();
    showFreshness();
    renderBoard();
    render();
  }

  async function api(path) {
    const response = await fetch(`${basePath()}${path}`, {
      cache: "no-store",
      headers: { Authorization: `Bearer ${token}` },
    });
    if (response.status === 401) {
      refuse("token");
      return null;
    }
    if (response.status === 403) {
      refuse("forbidden");
      return null;
    }
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return response.json();
  }

  /** A figure fetched every `every` ms, and again at once on `run()` (one at a time; a
   * call while one is under way runs it again after). `apply(body, exact)`: exact when no
   * socket message moved the counts while it was under way. */
  function poller(path, every, apply) {
    let timer = null;
    let busy = false;
    let again = false;
    let failing = false;
    async function run() {
      if (refused) return;
      if (busy) {
        again = true;
        return;
      }
      cancel(timer);
      timer = null;
      busy = true;
      const gen = socketGen;
      try {
        const body = await api(path);
        if (body !== null && !refused) apply(body, gen === socketGen);
        failing = false;
      } catch (err) {
        if (!failing) console.warn(`${path} unavailable; trying again`, err);
        failing = true; // the figures stay; the freshness keeps ageing
      } finally {
        busy = false;
      }
      if (refused) return;
      if (again) {
        again = false;
        run();
        return;
      }
      timer = later(run, every);
    }
    return { run };
  }

  const headlinePoll = poller("api/stats/headline", HEADLINE_POLL_MS, applyHeadline);
  const boardPoll = poller("api/board", BOARD_POLL_MS, applyBoard);
  let syncTimer = null;

  /** Fetch the figures and the board again soon (once, however many messages came). */
  function scheduleSync(delay = SYNC_DELAY_MS) {
    if (refused) return;
    cancel(syncTimer);
    syncTimer = later(() => {
      syncTimer = null;
      headlinePoll.run();
      boardPoll.run();
    }, delay);
  }

  /** One `alert` or `change`: in the lists it belongs to, in the counts, announced. */
  function apply(message) {
    const a = message.alert;
    if (!isAlert(a)) return;
    const isNew = message.type === "alert";
    upsert(feedAll, a, { flash: isNew });
    if (feedArea && within(a.center_id || "", feedArea.code)) {
      if (feedArea.ready) {
        upsert(feedArea, a, { flash: isNew });
      } else {
        feedArea.buffer.push(message);
        if (feedArea.buffer.length > BUFFER_MAX) feedArea.buffer.shift();
      }
    }
    const wasKnown = known.has(a.alert_id);
    track(message);
    if (isNew && !wasKnown && a.severity === "red" && isOpen(a)) announceRed(a);
  }

  function onMessage(event) {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch (err) {
      console.warn("ignoring a message that is not JSON", err);
      return;
    }
    if (!message || typeof message !== "object") return;
    if (message.type === "batch" && Array.isArray(message.messages)) {
      // Several messages in one frame (?batch=1): what queued up while the last went out.
      for (const one of message.messages) onParsed(one);
      return;
    }
    onParsed(message);
  }

  function onParsed(message) {
    if (!message || typeof message !== "object") return;
    const seq = Number.isInteger(message.seq) ? message.seq : null;
    if (message.type === "snapshot" && Array.isArray(message.alerts)) {
      replaceAll(feedAll, message.alerts);
      for (const a of message.alerts) if (isAlert(a)) remember(a);
      if (seq !== null) lastSeq = seq;
      if (feedArea) {
        // Back after a gap too long to be told what was missed: fetch the county again.
        const code = feedArea.code;
        leaveArea();
        enterArea(code);
      }
      // The counts shown (or being fetched) may predate the snapshot: fetch them again.
      socketGen += 1;
      document.body.dataset.figures = "live";
      document.body.dataset.board = "live";
      scheduleSync(0);
    } else if (message.type === "alert" || message.type === "change") {
      // Already applied: a restarted server reading its journal again, or a repeat.
      if (seq !== null && lastSeq !== null && seq <= lastSeq) return;
      if (seq !== null) lastSeq = seq;
      apply({ type: message.type, seq, alert: message.alert });
    } else {
      return;
    }
    scheduleRender();
  }

  function connect() {
    reconnectTimer = null;
    if (refused) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = new URLSearchParams({ token, batch: "1" });
    if (lastSeq !== null) query.set("after", String(lastSeq));
    const ws = new WebSocket(`${scheme}//${location.host}${basePath()}ws/alerts?${query}`);
    socket = ws;
    ws.onopen = () => {
      backoff = BACKOFF_MIN_MS;
      setConnection("connected");
    };
    ws.onmessage = onMessage;
    ws.onclose = (event) => {
      if (socket !== ws) return;
      socket = null;
      if (event.code === CLOSE_UNAUTHORIZED) {
        refuse("token");
        return;
      }
      if (event.code === CLOSE_FORBIDDEN) {
        refuse("forbidden");
        return;
      }
      setConnection("reconnecting");
      const delay = backoff * (0.5 + Math.random() / 2);
      backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
      reconnectTimer = later(connect, delay);
    };
  }

  /** The path the page is served under, minus "wall/", so a proxy prefix still works. */
  function basePath() {
    const path = location.pathname;
    const at = path.lastIndexOf("/wall/");
    return at >= 0 ? path.slice(0, at + 1) : "/";
  }

  async function pollHealth() {
    if (refused) return;
    try {
      const response = await fetch(`${basePath()}healthz`, { cache: "no-store" });
      const body = await response.json();
      feedOk = body.status === "ok";
    } catch (err) {
      // The socket state already says whether this server is reachable.
    }
    showConnection();
  }

  /** Load `path` once; on a network or server error try again later (not once refused). */
  async function loadWithRetry(path, use) {
    if (refused) return;
    try {
      const body = await api(path);
      if (body !== null && !refused) use(body);
    } catch (err) {
      if (refused) return;
      console.warn(`${path} unavailable; retrying`, err);
      later(() => loadWithRetry(path, use), LOAD_RETRY_MS);
    }
  }

  // -- clock ----------------------------------------------------------------------------

  function tick() {
    const now = new Date(nowMs());
    const p = parts(now);
    els.clock.textContent = `${p.hour}:${p.minute}:${p.second}`;
    els.clockDate.textContent = t.date(p, weekdayFormats[lang].format(now));
    showFreshness();
  }

  applyLanguage(storedLanguage());
  if (soundOn) audioContext(); // plays at once where the autoplay policy allows it
  showSound();
  setInterval(tick, 1000);
  setInterval(refreshAges, AGE_REFRESH_MS);
  setConnection("connecting");
  if (!token) {
    refuse("missing");
  } else {
    loadWithRetry("api/me", (body) => {
      me = body;
      showViewer();
    });
    loadWithRetry("api/centers", (body) => {
      centers = body && typeof body === "object" ? body : {};
      refreshNames();
      renderBoard();
    });
    headlinePoll.run();
    boardPoll.run();
    connect();
    pollHealth();
    setInterval(pollHealth, HEALTH_POLL_MS);
  }
})();
