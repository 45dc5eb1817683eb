// The wall's connection (dashboards/wall/js/socket.js and net.js): frames split into
// messages, the address resuming from the last position, reconnection with a growing
// pause, a refused token final; the API's refusals and the polls' "exact" answers.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { basePath, createApi, poller } from "../../dashboards/wall/js/net.js";
import {
  BACKOFF_MAX_MS, BACKOFF_MIN_MS, CLOSE_FORBIDDEN, CLOSE_UNAUTHORIZED, createSocket, nextDelay, parseFrame, socketUrl,
} from "../../dashboards/wall/js/socket.js";
import { cancelAll } from "../../dashboards/wall/js/timers.js";

/** A WebSocket stand-in: remembers every one made, opened and closed by the test. */
function fakeSockets() {
  const made = [];
  class FakeSocket {
    constructor(url) {
      this.url = url;
      this.closed = false;
      made.push(this);
    }

    close() {
      this.closed = true;
    }
  }
  return { made, FakeSocket };
}

describe("frames", () => {
  test("a frame is one message, or a batch of them; anything else none", (t) => {
    const warn = t.mock.method(console, "warn", () => {});
    assert.deepEqual(parseFrame('{"type":"alert","seq":3}'), [{ type: "alert", seq: 3 }]);
    assert.deepEqual(
      parseFrame(JSON.stringify({ type: "batch", messages: [{ type: "alert", seq: 4 }, { type: "change", seq: 5 }] })),
      [{ type: "alert", seq: 4 }, { type: "change", seq: 5 }],
    );
    assert.deepEqual(parseFrame("not json"), []);
    assert.equal(warn.mock.callCount(), 1);
    assert.deepEqual(parseFrame("null"), []);
    assert.deepEqual(parseFrame("42"), []);
    assert.deepEqual(parseFrame('{"type":"batch"}'), [{ type: "batch" }]); // no messages: not a batch
  });

  test("the address: same host, under the page's prefix, batched, resuming after a position", () => {
    const here = { protocol: "http:", host: "wall.example:8000" };
    assert.equal(socketUrl(here, "/", "svt_a.b", null), "ws://wall.example:8000/ws/alerts?token=svt_a.b&batch=1");
    assert.equal(
      socketUrl({ protocol: "https:", host: "gov.example" }, "/supervisor/", "svt_a.b", 41),
      "wss://gov.example/supervisor/ws/alerts?token=svt_a.b&batch=1&after=41",
    );
    assert.equal(socketUrl(here, "/", "svt_a.b", 0), "ws://wall.example:8000/ws/alerts?token=svt_a.b&batch=1&after=0");
    assert.equal(basePath("/wall/"), "/");
    assert.equal(basePath("/supervisor/wall/"), "/supervisor/");
    assert.equal(basePath("/supervisor/wall/index.html"), "/supervisor/");
    assert.equal(basePath("/elsewhere"), "/");
  });
});

describe("reconnecting", () => {
  test("the pause doubles up to its cap, jittered between half and all of it", () => {
    assert.deepEqual(nextDelay(BACKOFF_MIN_MS, () => 0), { delay: 500, backoff: 2000 });
    assert.deepEqual(nextDelay(BACKOFF_MIN_MS, () => 1), { delay: 1000, backoff: 2000 });
    assert.deepEqual(nextDelay(16000, () => 0.5), { delay: 12000, backoff: BACKOFF_MAX_MS });
    assert.deepEqual(nextDelay(BACKOFF_MAX_MS, () => 1), { delay: BACKOFF_MAX_MS, backoff: BACKOFF_MAX_MS });
  });

  test("a drop reconnects from the position then applied; an open connection resets the pause", () => {
    const { made, FakeSocket } = fakeSockets();
    const timers = [];
    const states = [];
    const messages = [];
    let lastSeq = null;
    const socket = createSocket({
      url: () => `ws://h/ws/alerts?after=${lastSeq}`,
      onMessage: (message) => {
        messages.push(message);
        if (Number.isInteger(message.seq)) lastSeq = message.seq;
      },
      onState: (state) => states.push(state),
      onRefused: () => assert.fail("not refused"),
      WebSocket: FakeSocket,
      random: () => 1,
      schedule: (fn, ms) => timers.push({ fn, ms }),
      unschedule: () => {},
    });
    socket.connect();
    assert.equal(made[0].url, "ws://h/ws/alerts?after=null");
    made[0].onopen();
    made[0].onmessage({ data: JSON.stringify({ type: "snapshot", seq: 7, alerts: [] }) });
    made[0].onmessage({ data: JSON.stringify({ type: "batch", messages: [{ type: "alert", seq: 8 }, { type: "change", seq: 9 }] }) });
    assert.deepEqual(messages.map((m) => m.seq), [7, 8, 9]);
    for (const expected of [1000, 2000, 4000]) {
      made.at(-1).onclose({ code: 1006 });
      assert.equal(states.at(-1), "reconnecting");
      assert.equal(timers.at(-1).ms, expected);
      timers.at(-1).fn();
    }
    assert.equal(made.length, 4);
    assert.equal(made.at(-1).url, "ws://h/ws/alerts?after=9");
    made.at(-1).onopen();
    assert.equal(states.at(-1), "connected");
    made.at(-1).onclose({ code: 1012 });
    assert.equal(timers.at(-1).ms, BACKOFF_MIN_MS, "back to the shortest pause");
  });

  test("a close of a socket already replaced changes nothing", () => {
    const { made, FakeSocket } = fakeSockets();
    const timers = [];
    const socket = createSocket({
      url: () => "ws://h/", onMessage() {}, onState() {}, onRefused() {},
      WebSocket: FakeSocket, schedule: (fn, ms) => timers.push(ms), unschedule() {},
    });
    socket.connect();
    socket.connect();
    made[0].onclose({ code: 1006 });
    assert.equal(timers.length, 0);
  });

  for (const [code, kind] of [[CLOSE_UNAUTHORIZED, "token"], [CLOSE_FORBIDDEN, "forbidden"]]) {
    test(`closed with ${code}: refused (${kind}), no retry`, () => {
      const { made, FakeSocket } = fakeSockets();
      const refused = [];
      const timers = [];
      const socket = createSocket({
        url: () => "ws://h/", onMessage() {}, onState() {}, onRefused: (why) => refused.push(why),
        WebSocket: FakeSocket, schedule: (fn, ms) => timers.push(ms), unschedule() {},
      });
      socket.connect();
      made[0].onclose({ code });
      assert.deepEqual(refused, [kind]);
      assert.deepEqual(timers, []);
    });
  }

  test("stopped: the pending retry cancelled and never run; an open socket closed without a word", () => {
    const { made, FakeSocket } = fakeSockets();
    const pending = [];
    const cancelled = [];
    const socket = createSocket({
      url: () => "ws://h/", onMessage() {}, onState() {}, onRefused() {},
      WebSocket: FakeSocket,
      schedule: (fn) => {
        pending.push(fn);
        return `timer-${pending.length}`;
      },
      unschedule: (id) => cancelled.push(id),
    });
    socket.connect();
    made[0].onclose({ code: 1006 });
    socket.stop();
    assert.deepEqual(cancelled, ["timer-1"]);
    pending[0](); // had it fired all the same
    assert.equal(made.length, 1);

    const open = createSocket({
      url: () => "ws://h/", onMessage() {}, onState() {}, onRefused() {},
      WebSocket: FakeSocket, schedule: () => assert.fail("no retry"), unschedule() {},
    });
    open.connect();
    const ws = made.at(-1);
    open.stop();
    assert.equal(ws.closed, true);
    assert.equal(ws.onclose, null);
    assert.equal(ws.onmessage, null);
    open.connect();
    assert.equal(made.at(-1), ws, "never again");
  });
});

describe("the API and the polls", () => {
  function answer(status, body) {
    return { status, ok: status >= 200 && status < 300, json: async () => body };
  }

  test("the token goes as a bearer; 401 and 403 refuse the page; another error throws", async () => {
    const asked = [];
    const refused = [];
    const statuses = [200, 401, 403, 503];
    const api = createApi({
      base: "/p/",
      token: "svt_a.b",
      onRefused: (kind) => refused.push(kind),
      fetch: async (url, init) => {
        asked.push([url, init.headers.Authorization, init.cache]);
        return answer(statuses.shift(), { ok: true });
      },
    });
    assert.deepEqual(await api("api/me"), { ok: true });
    assert.deepEqual(asked[0], ["/p/api/me", "Bearer svt_a.b", "no-store"]);
    assert.equal(await api("api/me"), null);
    assert.equal(await api("api/me"), null);
    assert.deepEqual(refused, ["token", "forbidden"]);
    await assert.rejects(api("api/me"), /HTTP 503/);
  });

  test("an answer is exact only when no socket message came while it was under way", async () => {
    let generation = 0;
    const applied = [];
    const bodies = [
      async () => ({ n: 1 }),
      async () => {
        generation += 1; // a message arrives during this fetch
        return { n: 2 };
      },
    ];
    const poll = poller("api/stats/headline", 60_000, (body, exact) => applied.push([body.n, exact]), {
      api: async () => bodies.shift()(),
      refused: () => false,
      generation: () => generation,
    });
    try {
      await poll.run();
      await poll.run();
    } finally {
      cancelAll(); // the next periodic poll
    }
    assert.deepEqual(applied, [[1, true], [2, false]]);
  });

  test("a poll asked for while one is under way runs again after it; none once refused", async () => {
    let calls = 0;
    let release;
    const poll = poller("api/board", 60_000, () => {}, {
      api: () => {
        calls += 1;
        return calls === 1 ? new Promise((resolve) => { release = resolve; }) : Promise.resolve([]);
      },
      refused: () => false,
      generation: () => 0,
    });
    try {
      const first = poll.run();
      await poll.run(); // under way: remembered, not run now
      assert.equal(calls, 1);
      release([]);
      await first;
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(calls, 2);
    } finally {
      cancelAll();
    }
    const stopped = poller("api/board", 60_000, () => assert.fail("refused"), {
      api: () => assert.fail("not asked"), refused: () => true, generation: () => 0,
    });
    await stopped.run();
  });

  test("a failing poll warns once, keeps what it had, and tries again", async (t) => {
    const warn = t.mock.method(console, "warn", () => {});
    const poll = poller("api/stats/headline", 60_000, () => assert.fail("nothing to apply"), {
      api: async () => { throw new Error("HTTP 502"); }, refused: () => false, generation: () => 0,
    });
    try {
      await poll.run();
      await poll.run();
    } finally {
      cancelAll();
    }
    assert.equal(warn.mock.callCount(), 1);
  });
});
