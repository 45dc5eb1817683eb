// The console's addresses (dashboards/console/js/route.js): every screen and its filters
// in the hash, read back as written, and nothing the API would refuse passed on.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  alertFilters, alertQuery, hashFor, orderQuery, parseHash,
} from "../../dashboards/console/js/route.js";

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
});
