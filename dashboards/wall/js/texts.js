/* Every text the wall shows, in Chinese (the default) and English, and the language in
 * use (the header's 中文/English switch, remembered in localStorage). Functions build the
 * texts that carry a value. Both languages have the same keys, and the same keys inside
 * each group (tests/js/wall_texts.test.mjs).
 *
 * Pure: no DOM, nothing done at import but building these tables (node imports it). */

import { DEFAULT_LANGUAGE, LANGUAGES, languageChoice } from "../../common/language.js";

export { DEFAULT_LANGUAGE, LANGUAGES };
const choice = languageChoice("supervisor.wall.lang");

/** How late a case concluded late was, in working days to 0.01 ("2", "1.25"); "0" when
 * it rounds to nothing (the service gives 0.00 under 0.005 days, though the case was late:
 * said "less than 0.01", never "0 days late"). */
export function lateDays(days) {
  return String(Math.round(Number(days) * 100) / 100);
}

/** `table[key]`, or `fallback` when `key` is not one of its own ("toString" included). */
function pick(table, key, fallback) {
  return typeof key === "string" && Object.hasOwn(table, key) ? table[key] : fallback;
}

export const TEXTS = {
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
      // by why it closed: only a case concluded in time may be said to be concluded
      // (docs/alerts.md); a cause the page does not know is said as closed, no more
      closed: (reason) => pick({ concluded_in_time: "已按期办结", case_withdrawn: "办件已撤回", order_replied: "督办单已回复", order_cancelled: "督办单已撤销" }, reason, "已关闭"),
      superseded: () => "已转红牌",
    },
    change: {
      acknowledge: "签收",
      resolve: "办结",
      appeal: "申诉",
      accept_appeal: "同意申诉，摘牌",
      reject_appeal: "驳回申诉",
      case_closed: "预警关闭",
      superseded: "办件已超期，预警转为红牌",
      case_concluded_late: "办件已办结",
    },
    // why an alert closed, after the step (预警关闭（督办单已回复）): a reply to an order
    // closes its late-reply alert while the case is still open
    closedReason: { concluded_in_time: "办件已按期办结", case_withdrawn: "申请人已撤回办件", order_replied: "督办单已回复", order_cancelled: "督办单已撤销" },
    concludedLate: (at, days) => (lateDays(days) === "0"
      ? `办件已于 ${at} 办结，超期不足 0.01 个工作日`
      : `办件已于 ${at} 办结，超期 ${lateDays(days)} 个工作日`),
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
      delisted: (n) => `已摘牌 ${n} 条`,
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
      closed: (reason) => pick({ concluded_in_time: "Concluded in time", case_withdrawn: "Case withdrawn", order_replied: "Order answered", order_cancelled: "Order withdrawn" }, reason, "Closed"),
      superseded: () => "Now red",
    },
    change: {
      acknowledge: "acknowledged",
      resolve: "resolved",
      appeal: "appealed",
      accept_appeal: "accepted the appeal, delisted",
      reject_appeal: "rejected the appeal",
      case_closed: "closed the alert",
      superseded: "the case is overdue: the warning became a red card",
      case_concluded_late: "the case was concluded",
    },
    closedReason: { concluded_in_time: "case concluded in time", case_withdrawn: "case withdrawn by the applicant", order_replied: "supervision order answered", order_cancelled: "supervision order withdrawn" },
    concludedLate: (at, days) => (lateDays(days) === "0"
      ? `Case concluded ${at}, less than 0.01 working days late`
      : `Case concluded ${at}, ${lateDays(days)} working days late`),
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
      delisted: (n) => `${n} delisted on appeal`,
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

/** The texts of the language in use. */
export function t() {
  return TEXTS[choice.language()];
}

/** The language in use: "zh-CN" or "en". */
export const language = choice.language;
/** The language the switch offers: the one not in use. */
export const otherLanguage = choice.other;
/** Use `lang` (an unknown one: Chinese); with `remember`, keep it for the next visit. */
export const setLanguage = choice.set;
/** The language remembered in this browser, or Chinese. */
export const storedLanguage = choice.stored;
