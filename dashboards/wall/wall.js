/* The inspectors' wall: live alerts from /ws/alerts, center names from /api/centers.
 *
 * Plain JS, no build step, no network beyond this server. The server sends a snapshot
 * of the recent alerts on every (re)connection, then one message per new alert; this
 * page keeps its own bounded, de-duplicated list (by alert_id), ordered like the
 * server's: newest raised_at first, ties by alert_id. When the socket drops it
 * reconnects with exponential backoff and jitter, and the next snapshot replaces the
 * list, so a screen never keeps alerts the server no longer has.
 *
 * An alert that a late event proved wrong is not removed: a `{"type": "resolved",
 * "resolution": {...}}` message (or an alert arriving with `resolution` set, as the
 * snapshot sends them) greys and strikes its row, labels it 已撤销 with the reason, and
 * takes it out of the red/yellow counts. A resolution never flashes.
 */
"use strict";

(() => {
  const MAX_ROWS = 200;
  const TIME_ZONE = "Asia/Shanghai";
  const BACKOFF_MIN_MS = 1000;
  const BACKOFF_MAX_MS = 30000;
  const CENTERS_RETRY_MS = 15000;
  const HEALTH_POLL_MS = 10000;
  const SEVERITY_LABEL = { red: "红牌", yellow: "黄牌" };
  const WITHDRAWN_LABEL = "已撤销";
  const WHOLE_CENTER = "全中心"; // an alert on a whole center (center.silent) has no case

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
  };

  /** alert_id -> {alert, time (ms since epoch), row (element or null), flash (bool)};
   * `alert.resolution` is set once the alert is resolved. */
  const entries = new Map();
  let centers = {};
  let renderQueued = false;

  // -- formatting (always Beijing time, whatever the screen's own zone) -----------------

  const partsFormat = new Intl.DateTimeFormat("zh-CN", {
    timeZone: TIME_ZONE, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
  });
  const weekdayFormat = new Intl.DateTimeFormat("zh-CN", { timeZone: TIME_ZONE, weekday: "long" });

  function parts(date) {
    const out = {};
    for (const p of partsFormat.formatToParts(date)) out[p.type] = p.value;
    return out;
  }

  function formatRaisedAt(ms) {
    const p = parts(new Date(ms));
    const thisYear = parts(new Date()).year;
    const day = p.year === thisYear ? `${p.month}-${p.day}` : `${p.year}-${p.month}-${p.day}`;
    return `${day} ${p.hour}:${p.minute}`;
  }

  function formatAge(ms) {
    const minutes = Math.floor((Date.now() - ms) / 60000);
    if (minutes < 1) return "刚刚";
    if (minutes < 60) return `${minutes} 分钟前`;
    const hours = Math.floor(minutes / 60);
    if (hours < 48) return `${hours} 小时前`;
    return `${Math.floor(hours / 24)} 天前`;
  }

  function centerName(code) {
    return centers[code] || code;
  }

  // -- the list -------------------------------------------------------------------------

  function isAlert(a) {
    return a && typeof a.alert_id === "string" && a.alert_id !== "" &&
      (a.severity === "red" || a.severity === "yellow") &&
      typeof a.raised_at === "string" && !Number.isNaN(Date.parse(a.raised_at));
  }

  function isResolution(r) {
    return r && typeof r === "object" && r.status === "resolved" &&
      typeof r.alert_id === "string" && r.alert_id !== "";
  }

  function resolutionOf(alert) {
    return isResolution(alert.resolution) ? alert.resolution : null;
  }

  function newer(a, b) {
    // Newest first; ties by alert_id descending, as the server orders them.
    if (a.time !== b.time) return b.time - a.time;
    return a.alert.alert_id < b.alert.alert_id ? 1 : a.alert.alert_id > b.alert.alert_id ? -1 : 0;
  }

  function add(alert, { flash }) {
    if (!isAlert(alert) || entries.has(alert.alert_id)) return;
    entries.set(alert.alert_id, {
      alert, time: Date.parse(alert.raised_at), row: null,
      flash: flash && alert.severity === "red" && !resolutionOf(alert),
    });
  }

  /** Show an entry's alert with this resolution (null: open again); rebuilds its row. */
  function setResolution(entry, resolution) {
    if (resolution) {
      entry.alert = { ...entry.alert, resolution };
    } else {
      const { resolution: _dropped, ...open } = entry.alert;
      entry.alert = open;
    }
    entry.flash = false;
    if (entry.row) {
      const fresh = buildRow(entry);
      entry.row.replaceWith(fresh); // same place in the list; no flash on the new row
      entry.row = fresh;
    }
  }

  function resolve(resolution) {
    if (!isResolution(resolution)) return false;
    const entry = entries.get(resolution.alert_id);
    // Unknown here: the server keeps it and sends the alert already resolved if it comes.
    if (!entry || resolutionOf(entry.alert)) return false;
    setResolution(entry, resolution);
    return true;
  }

  function replaceAll(alerts) {
    const keep = new Map();
    for (const alert of alerts) {
      if (!isAlert(alert) || keep.has(alert.alert_id)) continue;
      const old = entries.get(alert.alert_id);
      if (old) {
        // Resolved while this screen was away (or the other way round): follow the server.
        const now = resolutionOf(alert);
        if (Boolean(now) !== Boolean(resolutionOf(old.alert))) setResolution(old, now);
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

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function reasonText(resolution) {
    const when = Date.parse(resolution.resolved_at);
    const at = Number.isNaN(when) ? "" : `（${formatRaisedAt(when)}）`;
    const reason = typeof resolution.reason === "string" && resolution.reason ? resolution.reason : "未说明原因";
    return `撤销原因${at}：${reason}`;
  }

  function buildRow(entry) {
    const a = entry.alert;
    const resolution = resolutionOf(a);
    const row = el("li", `alert alert--${a.severity}${resolution ? " alert--resolved" : ""}`);
    row.dataset.alertId = a.alert_id;
    row.dataset.severity = a.severity;
    row.dataset.status = resolution ? "resolved" : "open";
    row.dataset.centerId = a.center_id || "";
    row.title = `${a.rule_id || ""} · ${a.alert_id}`;

    row.append(el("div", "alert__badge", SEVERITY_LABEL[a.severity]));

    const main = el("div", "alert__main");
    const line1 = el("div", "alert__line1");
    line1.append(el("span", "alert__center", centerName(a.center_id || "")));
    if (resolution) line1.append(el("span", "alert__withdrawn", WITHDRAWN_LABEL));
    line1.append(el("span", "alert__title", a.title || a.rule_id || ""));
    const line2 = el("div", "alert__line2");
    line2.append(a.case_id
      ? el("span", "alert__case", `办件 ${a.case_id}`)
      : el("span", "alert__case alert__case--center", WHOLE_CENTER));
    line2.append(el("span", "alert__message", a.message || ""));
    main.append(line1, line2);
    if (resolution) {
      const reason = reasonText(resolution);
      main.append(el("div", "alert__reason", reason));
      row.title = `${WITHDRAWN_LABEL} · ${reason}\n${row.title}`;
    }
    row.append(main);

    const time = el("time", "alert__time", formatRaisedAt(entry.time));
    time.dateTime = a.raised_at;
    time.append(el("small", "alert__age", formatAge(entry.time)));
    row.append(time);
    return row;
  }

  function scheduleRender() {
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
    let withdrawn = 0;
    for (const entry of sorted) {
      if (resolutionOf(entry.alert)) withdrawn += 1;
      else if (entry.alert.severity === "red") red += 1;
      else yellow += 1;
      if (!entry.row) entry.row = buildRow(entry);
      if (entry.flash) {
        entry.flash = false;
        entry.row.classList.add("flash");
        entry.row.addEventListener("animationend", () => entry.row.classList.remove("flash"), { once: true });
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
    const ofWhich = withdrawn ? `，其中${WITHDRAWN_LABEL} ${withdrawn} 条` : "";
    els.shown.textContent = `显示最近 ${sorted.length} 条（最多 ${MAX_ROWS} 条${ofWhich}）`;
    els.empty.classList.toggle("is-visible", sorted.length === 0);
  }

  function refreshNames() {
    for (const entry of entries.values()) {
      if (!entry.row) continue;
      const node = entry.row.querySelector(".alert__center");
      if (node) node.textContent = centerName(entry.alert.center_id || "");
    }
  }

  function refreshAges() {
    for (const entry of entries.values()) {
      const node = entry.row && entry.row.querySelector(".alert__age");
      if (node) node.textContent = formatAge(entry.time);
    }
  }

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
    let text = { connected: "已连接", connecting: "连接中…", reconnecting: "重新连接中…" }[socketState];
    if (socketState === "connected" && !feedOk) {
      look = "degraded";
      text = "已连接 · 数据源中断";
    }
    els.conn.className = `conn conn--${look}`;
    els.connText.textContent = text;
    document.body.dataset.connection = socketState;
    document.body.dataset.feed = feedOk ? "ok" : "degraded";
    els.empty.textContent = feedOk ? "暂无预警" : "数据源中断，暂时收不到新预警";
  }

  async function pollHealth() {
    try {
      const response = await fetch(`${basePath()}healthz`, { cache: "no-store" });
      const body = await response.json();
      feedOk = body.status === "ok";
    } catch (err) {
      // The socket state already says whether this server is reachable.
    }
    showConnection();
  }

  let backoff = BACKOFF_MIN_MS;

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}${basePath()}ws/alerts`);
    socket.onopen = () => {
      backoff = BACKOFF_MIN_MS;
      setConnection("connected");
    };
    socket.onmessage = (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (err) {
        console.warn("ignoring a message that is not JSON", err);
        return;
      }
      if (message.type === "snapshot" && Array.isArray(message.alerts)) {
        replaceAll(message.alerts);
      } else if (message.type === "alert") {
        add(message.alert, { flash: true });
      } else if (message.type === "resolved") {
        if (!resolve(message.resolution)) return;
      } else {
        return;
      }
      scheduleRender();
    };
    socket.onclose = () => {
      setConnection("reconnecting");
      const delay = backoff * (0.5 + Math.random() / 2);
      backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
      setTimeout(connect, delay);
    };
  }

  /** The path the page is served under, minus "wall/", so a proxy prefix still works. */
  function basePath() {
    const path = location.pathname;
    const at = path.lastIndexOf("/wall/");
    return at >= 0 ? path.slice(0, at + 1) : "/";
  }

  async function loadCenters() {
    try {
      const response = await fetch(`${basePath()}api/centers`, { cache: "no-store" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      centers = await response.json();
      refreshNames();
    } catch (err) {
      console.warn("center names unavailable, showing codes; retrying", err);
      setTimeout(loadCenters, CENTERS_RETRY_MS);
    }
  }

  // -- clock ----------------------------------------------------------------------------

  function tick() {
    const now = new Date();
    const p = parts(now);
    els.clock.textContent = `${p.hour}:${p.minute}:${p.second}`;
    els.clockDate.textContent = `${p.year}年${p.month}月${p.day}日 ${weekdayFormat.format(now)}`;
  }

  tick();
  setInterval(tick, 1000);
  setInterval(refreshAges, 30000);
  setConnection("connecting");
  render();
  loadCenters();
  connect();
  pollHealth();
  setInterval(pollHealth, HEALTH_POLL_MS);
})();
