/* The inspectors' wall: live alerts from /ws/alerts, who is watching from /api/me, center
 * names from /api/centers.
 *
 * Plain JS, no build step, no network beyond this server.
 *
 * Token. The page is opened as `/wall/?token=…`. The token is kept in sessionStorage
 * (this tab only, survives a reload), removed from the address bar, and sent as
 * `Authorization: Bearer` to /api/* and as `?token=` on the socket. No token, or one the
 * server refuses (HTTP 401/403, socket closed with 4401/4403), stops the page: a clear
 * message, the list cleared, no more retries. Any other close reconnects with backoff.
 *
 * Positions. Every socket message after the first carries `seq`, its position in the
 * alert journal. The page keeps the highest it has applied and reconnects with
 * `&after=<seq>`: the server then sends exactly what was missed (or a fresh snapshot when
 * that is too old), so after a network drop or a web restart every alert is shown once.
 * A message at or below that position (a restarted server reading its journal again)
 * changes nothing.
 *
 * Messages: `snapshot` (the list as it stands), `alert` (a new one; a red one flashes) and
 * `change` (the whole alert as it now stands: its row is rebuilt in place, never
 * flashes). Statuses: open and acknowledged (已签收) and appealed (申诉中) count in the
 * headline figures; resolved (已办结, with the disposition) and withdrawn (已撤销 by the
 * system after a late event, with its reason; 已摘牌 after an accepted appeal) are greyed.
 *
 * The list is bounded (MAX_ROWS, newest raised_at first, ties by alert_id like the
 * server) and rows are only built for what is shown, so the page can run for days.
 */
"use strict";

(() => {
  const MAX_ROWS = 200;
  const TIME_ZONE = "Asia/Shanghai";
  const BACKOFF_MIN_MS = 1000;
  const BACKOFF_MAX_MS = 30000;
  const LOAD_RETRY_MS = 15000;
  const HEALTH_POLL_MS = 10000;
  const TOKEN_KEY = "supervisor.wall.token";
  const LANG_KEY = "supervisor.wall.lang";
  const CLOSE_UNAUTHORIZED = 4401;
  const CLOSE_FORBIDDEN = 4403;
  const STATUSES = new Set(["open", "acknowledged", "appealed", "resolved", "withdrawn"]);
  const CLOSED = new Set(["resolved", "withdrawn"]);

  // -- texts ----------------------------------------------------------------------------

  const TEXTS = {
    "zh-CN": {
      title: "政务服务电子监察 · 实时预警",
      brand: "政务服务电子监察",
      brandSub: "实时预警 · 红黄牌",
      countersLabel: "当前显示的未办结预警数量",
      red: "红牌",
      redSub: "超期 / 违规",
      yellow: "黄牌",
      yellowSub: "预警",
      headLevel: "级别",
      headAlert: "服务中心 · 预警事项",
      headTime: "触发时间",
      footZone: "时间均为北京时间",
      otherLanguage: "English",
      conn: {
        connected: "已连接",
        connecting: "连接中…",
        reconnecting: "重新连接中…",
        refused: "未授权",
        degraded: "已连接 · 数据源中断",
      },
      empty: "暂无预警",
      emptyDegraded: "数据源中断，暂时收不到新预警",
      severity: { red: "红牌", yellow: "黄牌" },
      role: { inspector: "纪检监察", director: "中心负责人", ops: "运维", system: "系统" },
      system: "系统",
      disposition: { verified: "核实", rectified: "整改", false_alarm: "误报" },
      tag: {
        acknowledged: () => "已签收",
        appealed: () => "申诉中",
        resolved: (d) => (d ? `已办结（${d}）` : "已办结"),
        withdrawn: () => "已撤销",
        delisted: () => "已摘牌",
      },
      change: {
        acknowledge: "签收",
        resolve: "办结",
        appeal: "申诉",
        accept_appeal: "同意申诉，摘牌",
        reject_appeal: "驳回申诉",
      },
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
      },
      shown: (n, max, parts) =>
        `显示最近 ${n} 条（最多 ${max} 条${parts.length ? `，其中${parts.join("、")}` : ""}）`,
      refused: {
        missing: ["缺少访问令牌", "请用管理员提供的带令牌的链接（…/wall/?token=…）打开本页。"],
        token: ["令牌无效或已撤销，请联系管理员", "预警墙已停止连接。拿到新令牌后，用新的链接打开本页。"],
        forbidden: ["无权查看预警墙，请联系管理员", "该令牌的角色，或打开本页的网址，不被允许。"],
      },
      date: (p, weekday) => `${p.year}年${p.month}月${p.day}日 ${weekday}`,
    },
    en: {
      title: "E-Supervision of Government Services · Live Alerts",
      brand: "Service Center Supervision",
      brandSub: "Live alerts · red and yellow cards",
      countersLabel: "Alerts shown that are not closed",
      red: "Red",
      redSub: "overdue / violations",
      yellow: "Yellow",
      yellowSub: "warnings",
      headLevel: "Level",
      headAlert: "Center · Alert",
      headTime: "Raised at",
      footZone: "All times are Beijing time",
      otherLanguage: "中文",
      conn: {
        connected: "Connected",
        connecting: "Connecting…",
        reconnecting: "Reconnecting…",
        refused: "Access refused",
        degraded: "Connected · data source down",
      },
      empty: "No alerts",
      emptyDegraded: "Data source down: no new alerts can arrive for now",
      severity: { red: "Red", yellow: "Yellow" },
      role: { inspector: "Inspector", director: "Director", ops: "Ops", system: "System" },
      system: "System",
      disposition: { verified: "verified", rectified: "rectified", false_alarm: "false alarm" },
      tag: {
        acknowledged: () => "Acknowledged",
        appealed: () => "Under appeal",
        resolved: (d) => (d ? `Resolved (${d})` : "Resolved"),
        withdrawn: () => "Withdrawn",
        delisted: () => "Delisted",
      },
      change: {
        acknowledge: "acknowledged",
        resolve: "resolved",
        appeal: "appealed",
        accept_appeal: "accepted the appeal, delisted",
        reject_appeal: "rejected the appeal",
      },
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
    conn: $("conn"),
    connText: $("conn-text"),
    clock: $("clock"),
    clockDate: $("clock-date"),
    shown: $("foot-shown"),
    viewer: $("viewer"),
    lang: $("lang"),
    notice: $("notice"),
    noticeTitle: $("notice-title"),
    noticeDetail: $("notice-detail"),
  };

  /** alert_id -> {alert, time (ms since epoch), row (element or null), flash (bool)}. */
  const entries = new Map();
  let centers = {};
  let me = null;
  let renderQueued = false;
  /** The highest journal position applied; sent as `after` when reconnecting. */
  let lastSeq = null;
  /** null while allowed; "missing", "token" or "forbidden" once refused (final). */
  let refused = null;

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

  function parts(date) {
    const out = {};
    for (const p of partsFormat.formatToParts(date)) out[p.type] = p.value;
    return out;
  }

  function formatTime(ms) {
    const p = parts(new Date(ms));
    const thisYear = parts(new Date()).year;
    const day = p.year === thisYear ? `${p.month}-${p.day}` : `${p.year}-${p.month}-${p.day}`;
    return `${day} ${p.hour}:${p.minute}`;
  }

  function formatIso(text) {
    const ms = typeof text === "string" ? Date.parse(text) : NaN;
    return Number.isNaN(ms) ? "" : formatTime(ms);
  }

  function formatAge(ms) {
    return t.age(Math.floor((Date.now() - ms) / 60000));
  }

  function centerName(code) {
    return centers[code] || code;
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

  /** Show `alert` (a new one, or the same one as it now stands). Only a new red alert
   * that is still open flashes. */
  function upsert(alert, { flash }) {
    if (!isAlert(alert)) return false;
    const entry = entries.get(alert.alert_id);
    if (!entry) {
      entries.set(alert.alert_id, {
        alert, time: Date.parse(alert.raised_at), row: null,
        flash: flash && alert.severity === "red" && !CLOSED.has(statusOf(alert)),
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

  function replaceAll(alerts) {
    const keep = new Map();
    for (const alert of alerts) {
      if (!isAlert(alert) || keep.has(alert.alert_id)) continue;
      const old = entries.get(alert.alert_id);
      if (old) {
        // Changed while this screen was away: follow the server.
        if (stateKey(old.alert) !== stateKey(alert)) setAlert(old, alert);
        keep.set(alert.alert_id, old);
      } else {
        keep.set(alert.alert_id, { alert, time: Date.parse(alert.raised_at), row: null, flash: false });
      }
    }
    for (const [id, entry] of entries) {
      if (!keep.has(id) && entry.row) entry.row.remove();
    }
    entries.clear();
    for (const [id, entry] of keep) entries.set(id, entry);
  }

  function clearAll() {
    for (const entry of entries.values()) {
      if (entry.row) entry.row.remove();
    }
    entries.clear();
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
    const change = lastChangeOf(a);
    if (!change) return "";
    let what = t.change[change.action] || String(change.action || "");
    if (change.action === "resolve" && dispositionText(a)) {
      what = t.withDisposition(what, dispositionText(a));
    }
    const detail = [change.reason, change.note].filter((x) => typeof x === "string" && x.trim());
    const line = t.by(whoText(change.by), formatIso(change.at), what);
    return detail.length ? `${line}${t.sep}${detail.join(" / ")}` : line;
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
    for (const entry of entries.values()) {
      if (!entry.row) continue;
      const fresh = buildRow(entry);
      entry.row.replaceWith(fresh);
      entry.row = fresh;
    }
  }

  function scheduleRender() {
    // A hidden tab runs no animation frames: never let the list grow past its bound.
    if (entries.size > 2 * MAX_ROWS) {
      render();
      return;
    }
    if (renderQueued) return;
    renderQueued = true;
    requestAnimationFrame(render);
  }

  function render() {
    renderQueued = false;
    const sorted = [...entries.values()].sort(newer);
    for (const dropped of sorted.splice(MAX_ROWS)) {
      if (dropped.row) dropped.row.remove();
      entries.delete(dropped.alert.alert_id);
    }
    // Walk the list in order, moving only rows that are out of place.
    let cursor = els.list.firstElementChild;
    let red = 0;
    let yellow = 0;
    const byStatus = { acknowledged: 0, appealed: 0, resolved: 0, withdrawn: 0 };
    for (const entry of sorted) {
      const status = statusOf(entry.alert);
      if (status in byStatus) byStatus[status] += 1;
      if (!CLOSED.has(status)) {
        if (entry.alert.severity === "red") red += 1;
        else yellow += 1;
      }
      if (!entry.row) entry.row = buildRow(entry);
      if (entry.flash) {
        entry.flash = false;
        const row = entry.row;
        row.classList.add("flash");
        row.addEventListener("animationend", () => row.classList.remove("flash"), { once: true });
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
    els.red.textContent = String(red);
    els.yellow.textContent = String(yellow);
    const shownParts = Object.entries(byStatus)
      .filter(([, n]) => n > 0)
      .map(([status, n]) => t.shownPart[status](n));
    els.shown.textContent = t.shown(sorted.length, MAX_ROWS, shownParts);
    els.empty.classList.toggle("is-visible", sorted.length === 0 && !refused);
  }

  function refreshNames() {
    for (const entry of entries.values()) {
      if (!entry.row) continue;
      const node = entry.row.querySelector(".alert__center");
      if (node) node.textContent = centerName(entry.alert.center_id || "");
    }
    showViewer();
  }

  function refreshAges() {
    for (const entry of entries.values()) {
      const node = entry.row && entry.row.querySelector(".alert__age");
      if (node) node.textContent = formatAge(entry.time);
    }
  }

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
    rebuildRows();
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
    els.empty.textContent = feedOk ? t.empty : t.emptyDegraded;
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

  /** The server refused this page (final until it is opened with another token): show
   * why, show nothing it may no longer see, stop every connection and retry. */
  function refuse(kind) {
    if (refused) return;
    refused = kind;
    for (const id of timers) clearTimeout(id);
    timers.clear();
    reconnectTimer = null;
    if (socket) {
      const closing = socket;
      socket = null;
      closing.onclose = null;
      closing.onmessage = null;
      closing.close();
    }
    clearAll();
    lastSeq = null;
    document.body.dataset.refused = kind;
    setConnection("refused");
    showViewer();
    showNotice();
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

  function onMessage(event) {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch (err) {
      console.warn("ignoring a message that is not JSON", err);
      return;
    }
    if (!message || typeof message !== "object") return;
    const seq = Number.isInteger(message.seq) ? message.seq : null;
    if (message.type === "snapshot" && Array.isArray(message.alerts)) {
      replaceAll(message.alerts);
      if (seq !== null) lastSeq = seq;
    } else if (message.type === "alert" || message.type === "change") {
      // Already applied: a restarted server reading its journal again, or a repeat.
      if (seq !== null && lastSeq !== null && seq <= lastSeq) return;
      if (seq !== null) lastSeq = seq;
      if (!upsert(message.alert, { flash: message.type === "alert" })) return;
    } else {
      return;
    }
    scheduleRender();
  }

  function connect() {
    reconnectTimer = null;
    if (refused) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = new URLSearchParams({ token });
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
    const now = new Date();
    const p = parts(now);
    els.clock.textContent = `${p.hour}:${p.minute}:${p.second}`;
    els.clockDate.textContent = t.date(p, weekdayFormats[lang].format(now));
  }

  applyLanguage(storedLanguage());
  setInterval(tick, 1000);
  setInterval(refreshAges, 30000);
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
    });
    connect();
    pollHealth();
    setInterval(pollHealth, HEALTH_POLL_MS);
  }
})();
