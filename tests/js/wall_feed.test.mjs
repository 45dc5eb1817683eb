// The wall's alerts as received (dashboards/wall/js/feed.js and alert.js): the socket's
// snapshot, alert and change messages applied; resuming by journal position, repeats and
// duplicates by id changing nothing; the order, one row per case with its worst alert
// first; the open counts by colour, followed between two polls.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { isAlert, isOpen, stateKey, statusOf } from "../../dashboards/wall/js/alert.js";
import {
  BUFFER_MAX, Known, MAX_ROWS, caseRank, countByStatus, fill, newFeed, newStream, newer, offer,
  oneRowPerCase, openCounts, receive, replaceAll, resetStream, trim, upsert, worstOf,
} from "../../dashboards/wall/js/feed.js";

let serial = 0;

/** An alert as the server sends it; raised `minute` minutes after 08:00 Beijing. */
function alert(overrides = {}) {
  serial += 1;
  const minute = overrides.minute ?? serial;
  const raised = new Date(Date.parse("2026-12-05T08:00:00+08:00") + minute * 60_000).toISOString();
  const out = {
    alert_id: `deadline.warning:451221-2026-${String(serial).padStart(5, "0")}`,
    rule_id: "deadline.warning",
    severity: "yellow",
    status: "open",
    center_id: "451221",
    case_id: `451221-2026-${String(serial).padStart(5, "0")}`,
    raised_at: raised,
    title: "即将超期",
    message: "……",
    ...overrides,
  };
  delete out.minute;
  return out;
}

const ids = (feed) => trim(feed).map((entry) => entry.alert.alert_id);

describe("one alert", () => {
  test("what the wall can show: an id, a colour, a readable time", () => {
    assert.equal(isAlert(alert()), true);
    assert.equal(isAlert(alert({ severity: "blue" })), false);
    assert.equal(isAlert(alert({ alert_id: "" })), false);
    assert.equal(isAlert(alert({ raised_at: "yesterday" })), false);
    assert.equal(isAlert(null), false);
    assert.equal(isAlert("deadline.warning:x"), false);
  });

  test("open business: open, acknowledged, appealed; an older server's alert by its resolution", () => {
    for (const status of ["open", "acknowledged", "appealed"]) assert.equal(isOpen(alert({ status })), true);
    for (const status of ["resolved", "withdrawn", "closed", "superseded"]) {
      assert.equal(isOpen(alert({ status })), false);
    }
    assert.equal(statusOf(alert({ status: undefined })), "open");
    assert.equal(statusOf(alert({ status: undefined, resolution: { reason: "x" } })), "withdrawn");
    assert.equal(statusOf(alert({ status: "unheard-of" })), "open");
  });
});

describe("messages", () => {
  test("a snapshot is the list as it stands: invalid alerts skipped, an id twice counted once", () => {
    const stream = newStream();
    const a = alert();
    const b = alert({ severity: "red" });
    const result = receive(stream, {
      type: "snapshot", seq: 10, alerts: [a, b, { ...a, title: "again" }, { alert_id: "broken" }],
    });
    assert.equal(result.type, "snapshot");
    assert.equal(stream.lastSeq, 10);
    assert.deepEqual(ids(stream.all), [b.alert_id, a.alert_id]);
    assert.equal(stream.all.entries.get(a.alert_id).alert.title, "即将超期");
    assert.equal(stream.known.size, 2);
    // A snapshot never flashes, even a red one.
    assert.equal(stream.all.entries.get(b.alert_id).flash, false);
  });

  test("a new alert joins the list; a new open red one flashes and is announced", () => {
    const stream = newStream();
    receive(stream, { type: "snapshot", seq: 1, alerts: [] });
    const yellow = alert();
    const red = alert({ severity: "red" });
    const first = receive(stream, { type: "alert", seq: 2, alert: yellow });
    assert.deepEqual([first.delta, first.announce], [1, false]);
    const second = receive(stream, { type: "alert", seq: 3, alert: red });
    assert.deepEqual([second.delta, second.announce], [1, true]);
    assert.equal(stream.all.entries.get(red.alert_id).flash, true);
    assert.equal(stream.all.entries.get(yellow.alert_id).flash, false);
    assert.equal(stream.lastSeq, 3);
    // A red alert that comes in already closed neither flashes nor counts.
    const closed = alert({ severity: "red", status: "closed" });
    const third = receive(stream, { type: "alert", seq: 4, alert: closed });
    assert.deepEqual([third.delta, third.announce], [0, false]);
    assert.equal(stream.all.entries.get(closed.alert_id).flash, false);
  });

  test("a change is the whole alert as it now stands: the entry follows, never flashes", () => {
    const stream = newStream();
    const red = alert({ severity: "red" });
    receive(stream, { type: "alert", seq: 5, alert: red });
    const entry = stream.all.entries.get(red.alert_id);
    const acknowledged = { ...red, status: "acknowledged", updated_seq: 6 };
    const ack = receive(stream, { type: "change", seq: 6, alert: acknowledged });
    assert.deepEqual([ack.delta, ack.announce], [0, false]); // still open business
    assert.equal(stream.all.entries.get(red.alert_id), entry, "the same entry");
    assert.equal(entry.alert.status, "acknowledged");
    assert.equal(entry.flash, false);
    const resolved = { ...red, status: "resolved", disposition: "rectified", updated_seq: 7 };
    assert.equal(receive(stream, { type: "change", seq: 7, alert: resolved }).delta, -1);
    assert.equal(entry.alert.status, "resolved");
    assert.equal(stream.all.entries.size, 1);
  });

  test("resuming: a message at or below the last position changes nothing", () => {
    const stream = newStream();
    const a = alert();
    receive(stream, { type: "snapshot", seq: 20, alerts: [a] });
    const before = stateKey(stream.all.entries.get(a.alert_id).alert);
    assert.equal(receive(stream, { type: "change", seq: 20, alert: { ...a, status: "resolved" } }), null);
    assert.equal(receive(stream, { type: "alert", seq: 3, alert: alert() }), null);
    assert.equal(stream.lastSeq, 20);
    assert.equal(stateKey(stream.all.entries.get(a.alert_id).alert), before);
    assert.equal(stream.all.entries.size, 1);
    // Past it, applied; the position moves on even for a message with no valid alert.
    const next = receive(stream, { type: "alert", seq: 21, alert: { alert_id: "broken" } });
    assert.deepEqual([next.type, next.alert, stream.lastSeq], ["alert", null, 21]);
    assert.equal(receive(stream, { type: "change", seq: 22, alert: { ...a, status: "resolved", updated_seq: 22 } }).delta, -1);
    assert.equal(stream.lastSeq, 22);
  });

  test("a message without a position is applied and leaves the position alone", () => {
    const stream = newStream();
    receive(stream, { type: "snapshot", seq: 4, alerts: [] });
    assert.notEqual(receive(stream, { type: "alert", alert: alert() }), null);
    assert.equal(stream.lastSeq, 4);
    assert.equal(stream.all.entries.size, 1);
  });

  test("the same alert twice (a repeat under a new position) is one entry, counted and announced once", () => {
    const stream = newStream();
    const red = alert({ severity: "red" });
    assert.equal(receive(stream, { type: "alert", seq: 1, alert: red }).announce, true);
    const again = receive(stream, { type: "alert", seq: 2, alert: { ...red } });
    assert.deepEqual([again.delta, again.announce], [0, false]);
    assert.equal(stream.all.entries.size, 1);
    assert.equal(upsert(stream.all, { ...red }, { flash: true }), false, "same state: nothing to do");
  });

  test("unknown messages and types change nothing", () => {
    const stream = newStream();
    for (const message of [null, 7, "x", {}, { type: "hello", seq: 9 }, { type: "snapshot" }]) {
      assert.equal(receive(stream, message), null);
    }
    assert.equal(stream.lastSeq, null);
  });

  test("a snapshot after a long gap: the alerts it lacks are forgotten, the others follow the server", () => {
    const stream = newStream();
    const kept = alert();
    const gone = alert();
    receive(stream, { type: "snapshot", seq: 1, alerts: [kept, gone] });
    const entry = stream.all.entries.get(kept.alert_id);
    const now = { ...kept, status: "appealed", updated_seq: 50 };
    const fresh = alert();
    receive(stream, { type: "snapshot", seq: 60, alerts: [now, fresh] });
    assert.deepEqual(new Set(stream.all.entries.keys()), new Set([kept.alert_id, fresh.alert_id]));
    assert.equal(stream.all.entries.get(kept.alert_id), entry);
    assert.equal(entry.alert.status, "appealed");
    assert.equal(stream.lastSeq, 60);
  });

  test("refused: nothing is left, nothing to resume from", () => {
    const stream = newStream();
    receive(stream, { type: "snapshot", seq: 8, alerts: [alert()] });
    resetStream(stream);
    assert.deepEqual([stream.all.entries.size, stream.known.size, stream.lastSeq], [0, 0, null]);
  });
});

describe("the open counts between two polls", () => {
  test("a new open alert adds one, a change that closes one takes one off", () => {
    const known = new Known();
    const a = alert({ severity: "red" });
    assert.equal(known.track({ type: "alert", alert: a }), 1);
    assert.equal(known.track({ type: "change", alert: { ...a, status: "acknowledged" } }), 0);
    assert.equal(known.track({ type: "change", alert: { ...a, status: "resolved" } }), -1);
    assert.equal(known.track({ type: "change", alert: { ...a, status: "resolved" } }), 0);
  });

  test("a change to an alert never heard of: closed from open when only an open one could change so", () => {
    const known = new Known();
    const resolved = alert({ status: "resolved", last_change: { action: "resolve" } });
    assert.equal(known.track({ type: "change", alert: resolved }), -1);
    const withdrawn = alert({ status: "withdrawn", last_change: { action: "system_withdraw" } });
    assert.equal(known.track({ type: "change", alert: withdrawn }), 0, "cannot tell: no move");
    const reopened = alert({ status: "open", last_change: { action: "reject_appeal" } });
    assert.equal(known.track({ type: "change", alert: reopened }), 0);
  });

  test("what the page remembers is bounded, the oldest forgotten first", () => {
    const known = new Known(3);
    const alerts = [alert(), alert(), alert(), alert()];
    for (const a of alerts) known.remember(a);
    assert.equal(known.size, 3);
    assert.equal(known.has(alerts[0].alert_id), false);
    known.remember(alerts[1]); // heard of again: the newest
    known.remember(alert());
    assert.equal(known.has(alerts[1].alert_id), true);
    assert.equal(known.has(alerts[2].alert_id), false);
  });

  test("open counts by colour, and a center's colour is its worst open alert", () => {
    const alerts = [
      alert({ severity: "red" }), alert({ severity: "red", status: "acknowledged" }),
      alert({ severity: "red", status: "resolved" }), alert(), alert({ status: "appealed" }),
      alert({ status: "superseded" }), alert({ status: "closed" }), { alert_id: "broken" },
    ];
    assert.deepEqual(openCounts(alerts), { red: 2, yellow: 2 });
    const feed = newFeed();
    replaceAll(feed, alerts);
    assert.deepEqual(openCounts(feed.entries.values()), { red: 2, yellow: 2 });
    assert.equal(worstOf({ red: 1, yellow: 5 }), "red");
    assert.equal(worstOf({ red: 0, yellow: 5 }), "yellow");
    assert.equal(worstOf({ red: 0, yellow: 0 }), "none");
  });
});

describe("the rows shown", () => {
  test("newest raised first; the same time: alert_id descending, as the server orders", () => {
    const feed = newFeed();
    const old = alert({ minute: 1 });
    const a = alert({ minute: 5, alert_id: "a" });
    const b = alert({ minute: 5, alert_id: "b" });
    const newest = alert({ minute: 9 });
    for (const x of [old, a, newest, b]) upsert(feed, x);
    assert.deepEqual(ids(feed), [newest.alert_id, "b", "a", old.alert_id]);
    const [first, second] = trim(feed);
    assert.ok(newer(first, second) < 0);
  });

  test("a list keeps its newest MAX_ROWS", () => {
    const feed = newFeed();
    for (let minute = 0; minute < MAX_ROWS + 25; minute += 1) upsert(feed, alert({ minute }));
    const kept = trim(feed);
    assert.equal(kept.length, MAX_ROWS);
    assert.equal(feed.entries.size, MAX_ROWS);
    assert.equal(Date.parse(kept.at(-1).alert.raised_at), Date.parse("2026-12-05T08:25:00+08:00"));
    assert.equal(trim(feed, 10).length, 10);
  });

  test("a case shows once, with its worst alert: open red, then open yellow, then the newest closed", () => {
    const feed = newFeed();
    const caseA = "451221-2026-A";
    const caseB = "451221-2026-B";
    const caseC = "451221-2026-C";
    const yellowA = alert({ case_id: caseA, minute: 30 }); // newest of case A, but yellow
    const redA = alert({ case_id: caseA, severity: "red", minute: 20 });
    const closedRedA = alert({ case_id: caseA, severity: "red", status: "superseded", minute: 25 });
    const yellowB = alert({ case_id: caseB, minute: 10 });
    const closedB = alert({ case_id: caseB, severity: "red", status: "resolved", minute: 15 });
    const oldC = alert({ case_id: caseC, status: "closed", minute: 2 });
    const newC = alert({ case_id: caseC, status: "resolved", minute: 3 });
    const centerWide = alert({ case_id: undefined, rule_id: "center.silent", minute: 12 });
    for (const a of [yellowA, redA, closedRedA, yellowB, closedB, oldC, newC, centerWide]) upsert(feed, a);
    const shown = oneRowPerCase(trim(feed));
    assert.deepEqual(
      shown.map(({ entry, more }) => [entry.alert.alert_id, more]),
      [[redA.alert_id, 2], [centerWide.alert_id, 0], [yellowB.alert_id, 1], [newC.alert_id, 1]],
    );
    assert.deepEqual(
      [caseRank(redA), caseRank(yellowA), caseRank(closedRedA), caseRank(closedB), caseRank(newC)],
      [0, 1, 2, 2, 3],
    );
  });

  test("the footer counts the rows shown that are not plainly open, in its order", () => {
    const feed = newFeed();
    for (const status of ["open", "resolved", "acknowledged", "resolved", "superseded", "withdrawn"]) {
      upsert(feed, alert({ status }));
    }
    upsert(feed, alert({ status: undefined, resolution: { reason: "late event" } }));
    assert.deepEqual(countByStatus(oneRowPerCase(trim(feed))), [
      // the system's withdrawal apart from a withdrawal on appeal (已摘牌)
      ["acknowledged", 1], ["resolved", 2], ["withdrawn", 1], ["delisted", 1], ["superseded", 1],
    ]);
    assert.deepEqual(countByStatus([]), []);
  });
});

describe("a county's list", () => {
  test("messages wait while it is fetched, then only those newer than the fetch apply", () => {
    const feed = newFeed("451221");
    assert.equal(feed.ready, false);
    const fetched = alert();
    const before = alert({ severity: "red" });
    const after = alert({ severity: "red" });
    const changed = { ...fetched, status: "acknowledged", updated_seq: 31 };
    offer(feed, { type: "alert", seq: 29, alert: before }); // already in the fetch's answer, or not in scope
    offer(feed, { type: "alert", seq: 30, alert: after });
    offer(feed, { type: "change", seq: 31, alert: changed });
    assert.equal(feed.entries.size, 0);
    fill(feed, { items: [fetched], seq: 29 });
    assert.equal(feed.ready, true);
    assert.equal(feed.seq, 29);
    assert.deepEqual(new Set(feed.entries.keys()), new Set([fetched.alert_id, after.alert_id]));
    assert.equal(feed.entries.get(fetched.alert_id).alert.status, "acknowledged");
    assert.equal(feed.entries.get(after.alert_id).flash, true);
    assert.deepEqual(feed.buffer, []);
    // Ready: applied at once.
    const later = alert();
    offer(feed, { type: "alert", seq: 40, alert: later });
    assert.ok(feed.entries.has(later.alert_id));
  });

  test("an answer without a position: everything that waited applies; the wait is bounded", () => {
    const feed = newFeed("451221");
    for (let i = 0; i < BUFFER_MAX + 5; i += 1) offer(feed, { type: "alert", seq: i, alert: alert() });
    assert.equal(feed.buffer.length, BUFFER_MAX);
    assert.equal(feed.buffer[0].seq, 5);
    fill(feed, { items: "not a list" });
    assert.equal(feed.seq, null);
    assert.equal(feed.entries.size, BUFFER_MAX);
  });
});
