// The console's addresses (dashboards/console/js/route.js): every screen and its filters
// in the hash, read back as written, and nothing the API would refuse passed on.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  alertFilters, alertQuery, hashFor, orderQuery, parseHash, periodProblem,
} from "../../dashboards/console/js/route.js";
import { TEXTS } from "../../dashboards/console/js/texts.js";

test("an alert id with ':' and '/' survives the hash", () => {
  const id = "deadline.overdue:451224103-2026/0000042";
  const hash = hashFor("alert", { id });
  assert.equal(hash, "#/alert/deadline.overdue%3A451224103-2026%2F0000042");
  assert.deepEqual(parseHash(hash), { view: "alert", id, params: {} });
});

test("orders: the list with its filters, and one order", () => {
  assert.deepEqual(parseHash("#/orders?status=replied&overdue=1"), {
    view: "orders", params: { status: "replied", overdue: "1" },
  });
  assert.deepEqual(parseHash("#/orders/DB20261127-A1B2C3"), {
    view: "order", id: "DB20261127-A1B2C3", params: {},
  });
  assert.equal(
    orderQuery({ status: "issued", overdue: "1" }).toString(),
    "status=issued&overdue=true&limit=50&offset=0",
  );
});

test("orders: a group of statuses is asked as the status repeated, a page at a time", () => {
  assert.deepEqual(parseHash("#/orders?status=awaiting&page=3"), {
    view: "orders", params: { status: "awaiting", page: "3" },
  });
  assert.equal(
    orderQuery({ status: "awaiting", page: "3" }).toString(),
    "status=issued&status=returned&limit=50&offset=100",
  );
  assert.equal(orderQuery({ status: "open" }).getAll("status").join(), "issued,replied,returned");
  assert.equal(orderQuery({}).toString(), "limit=50&offset=0");
  // what the API would refuse never reaches it
  assert.deepEqual(parseHash("#/orders?status=lost&page=0").params, {});
  assert.deepEqual(parseHash("#/orders?page=2002").params, {});
  assert.deepEqual(parseHash("#/orders?page=2001").params, { page: "2001" });
});

test("anything else is the queue", () => {
  for (const hash of ["", "#", "#/", "#/nowhere", "#/alert/", "#/queue"]) {
    assert.equal(parseHash(hash).view, "queue", hash);
  }
});

test("the list's filters round-trip through the hash", () => {
  const params = { q: "三石镇 超期", severity: "red", status: "open", center_id: "451224", below: "0", since: "2026-11-01", until: "2026-11-30", page: "3" };
  const hash = hashFor("alerts", { params });
  assert.deepEqual(parseHash(hash), { view: "alerts", params });
});

test("filters the API would refuse are dropped", () => {
  assert.deepEqual(
    alertFilters({ severity: "purple", status: "lost", center_id: "12", since: "2026-02-30", page: "0", q: "  " }),
    {},
  );
  assert.deepEqual(alertFilters({ below: "0" }), {}); // below only with a center
  assert.deepEqual(alertFilters({ disposition: "fired" }), {});
  assert.equal(alertFilters({ page: "999" }).page, undefined); // past the API's offset limit
});

test("the API query: the centers below, the whole last day, the page", () => {
  const query = alertQuery({ center_id: "451224", since: "2026-11-01", until: "2026-11-30" }, { page: 2 });
  assert.deepEqual(Object.fromEntries(query), {
    center_id: "451224",
    below: "true",
    since: "2026-11-01T00:00:00+08:00",
    until: "2026-12-01T00:00:00+08:00",
    limit: "50",
    offset: "50",
  });
  const download = alertQuery({ q: "超期", center_id: "451224", below: "0" }, { paged: false });
  assert.deepEqual(Object.fromEntries(download), { q: "超期", center_id: "451224" });
  // 问责 found afterwards: the alerts resolved as held to account
  const held = alertFilters({ status: "resolved", disposition: "held_accountable" });
  assert.deepEqual(Object.fromEntries(alertQuery(held, { paged: false })), {
    status: "resolved", disposition: "held_accountable",
  });
});

test("the search form refuses the dates the API refuses, naming the field", () => {
  const zh = TEXTS["zh-CN"];
  const en = TEXTS.en;
  // the API takes times in the years 2000-2100 (supervisor/web/bounds.py); the end date
  // is sent as the midnight after it, so 2100-12-31 would go as 2101-01-01
  assert.equal(alertQuery({ until: "2100-12-30" }, { paged: false }).get("until"), "2100-12-31T00:00:00+08:00");
  assert.equal(periodProblem({ since: "2000-01-01", until: "2100-12-30" }, zh), null);
  assert.equal(periodProblem({ since: "2100-12-31" }, zh), null);
  assert.equal(periodProblem({}, zh), null);
  assert.deepEqual(periodProblem({ until: "2100-12-31" }, zh), {
    field: "until", text: "截止日期须在 2000-01-01 至 2100-12-30 之间",
  });
  assert.deepEqual(periodProblem({ since: "1999-12-31" }, zh), {
    field: "since", text: "起始日期须在 2000-01-01 至 2100-12-31 之间",
  });
  assert.deepEqual(periodProblem({ since: "2101-01-01" }, en), {
    field: "since", text: "From: choose a date from 2000-01-01 to 2100-12-31",
  });
  assert.equal(periodProblem({ until: "0201-05-01" }, en).text, "To: choose a date from 2000-01-01 to 2100-12-30");
  assert.equal(periodProblem({ until: "?" }, zh).field, "until"); // typed in part
  assert.deepEqual(periodProblem({ since: "2026-12-02", until: "2026-12-01" }, zh), {
    field: "until", text: "截止日期不能早于起始日期",
  });
  // an address with such a date (typed, or bookmarked) does not send it either
  assert.deepEqual(alertFilters({ since: "1999-12-31", until: "2100-12-31" }), {});
  assert.deepEqual(alertFilters({ since: "2000-01-01", until: "2100-12-30" }), { since: "2000-01-01", until: "2100-12-30" });
});
