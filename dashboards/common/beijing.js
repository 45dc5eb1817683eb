/* Beijing time, in which the wall and the console show every time, whatever the screen's
 * own zone: the centers' time limits are Beijing working days, and two people comparing
 * a time must read the same figures. Pure: no DOM (node imports it). */

export const TIME_ZONE = "Asia/Shanghai";

const PARTS = new Intl.DateTimeFormat("en-GB", {
  timeZone: TIME_ZONE,
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hourCycle: "h23",
});

/** {year, month, day, hour, minute, second} in Beijing time of an instant (ms since the
 * epoch, a Date, or an ISO time with offset): strings of two digits, the year four.
 * null for a missing or unreadable one. */
export function beijingParts(instant) {
  if (instant === null || instant === undefined || instant === "") return null;
  const date = instant instanceof Date ? instant : new Date(instant);
  if (Number.isNaN(date.getTime())) return null;
  const parts = {};
  for (const { type, value } of PARTS.formatToParts(date)) parts[type] = value;
  return parts;
}
