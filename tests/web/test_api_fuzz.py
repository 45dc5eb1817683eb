"""Fuzzing the whole HTTP API: no request, however hostile, gets a 5xx.

Routes are enumerated from `app.routes` (an app with every optional route on, the API
documentation included), so a route added later is fuzzed without anyone touching this
file; a kind of route the fuzzer does not know fails `test_every_route_is_fuzzed`.

Each request draws a caller (each role, none, an unknown but well-formed token, a token
in the query string), values for the path parameters (ids that exist, with `/`, `%`,
spaces, `..` and Chinese; text of every Unicode plane, huge strings), values for every
query parameter the route declares and some it does not (dates far past and future,
negative and huge numbers, junk), and a body (none, any JSON, the route's own fields
with hostile values, bytes that are not JSON, JSON nested thousands deep, wrong content
types, bodies over the size limit with and without Content-Length). The app is built as
tests/web/test_app.py builds it and seeded with alerts and a silence, so handlers get
past "no such alert" too. The TestClient re-raises any exception a handler lets out, and
the status must be below 500.
"""

from __future__ import annotations

import json
import re
import string
import warnings
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any, Literal, get_args, get_origin
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIWebSocketRoute
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocketDisconnect

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # see tests/web/test_app.py
    from fastapi.testclient import TestClient

from supervisor.auth import TokenStore
from supervisor.web.security import MAX_BODY_BYTES
from tests.web.test_hardening import HOSTILE_CASE_IDS, NOW, alert_for, build_app

#: Examples per HTTP route, and for the WebSocket: ~25 routes, about 20 s in all.
EXAMPLES: int = 100
WS_EXAMPLES: int = 20
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
#: Alerts the seeded app holds: both counties (a director sees one), hostile case ids.
SEEDED = [alert_for(case_id) for case_id in HOSTILE_CASE_IDS] + [
    alert_for("HC-2026-000001", center_id="451221"),
    alert_for("HC-2026-000002", center_id="451224"),
]
UNKNOWN_TOKEN = "svt_0123456789ab." + "A" * 43  # well-formed, never issued
_PARAMETER = re.compile(r"\{(\w+)(?::\w+)?\}")


def _fuzz_app(directory: Path) -> tuple[FastAPI, TokenStore]:
    store = TokenStore(directory / "tokens.json")
    return build_app(store, api_docs=True), store


#: What a query parameter holds, for values that get past its parsing: a day, an
#: instant, a number, a flag, one of some words (a tuple of them), or text.
Kind = str | tuple[str, ...]


def _kind(annotation: Any) -> Kind:
    """The kind of a parameter's annotation (`date | None` is a day, and so on)."""
    leaves: list[Any] = []
    pending = [annotation]
    while pending:
        item = pending.pop()
        if get_origin(item) is Literal:
            return tuple(str(value) for value in get_args(item))
        arguments = get_args(item)
        if arguments:
            pending.extend(arguments)
        else:
            leaves.append(item)
    for kind, name in ((datetime, "instant"), (date, "day"), (bool, "flag"), (int, "number")):
        if kind in leaves:
            return name
    return "text"


def _query_parameters(dependant: Dependant) -> list[tuple[str, Kind]]:
    """The query parameters a route reads, its dependencies' included, with their kind."""
    found = [(field.alias, _kind(field.field_info.annotation)) for field in dependant.query_params]
    for sub in dependant.dependencies:
        found += _query_parameters(sub)
    return found


def _flat(routes: Iterable[Any]) -> list[Any]:
    """The app's routes, those of its included routers among them (FastAPI lists an
    included router as one entry that holds its routes)."""
    found: list[Any] = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        found += _flat(inner.routes) if inner is not None else [route]
    return found


def _routes() -> list[tuple[str, str, tuple[tuple[str, Kind], ...], bool]]:
    """(method, path template, query parameters, has a body) of every HTTP route of a
    fully configured app; a Mount's files as `<mount>/{path:path}`."""
    with TemporaryDirectory() as directory:
        app, _ = _fuzz_app(Path(directory))
    found = []
    for route in _flat(app.routes):
        if isinstance(route, APIRoute):
            for method in sorted((route.methods or set()) - {"HEAD"}):
                parameters = tuple(_query_parameters(route.dependant))
                found.append((method, route.path_format, parameters, route.body_field is not None))
        elif isinstance(route, Mount):
            found.append(("GET", f"{route.path}/{{path:path}}", (), False))
    return found


ROUTES = _routes()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    app, store = _fuzz_app(tmp_path_factory.mktemp("fuzz"))
    tokens = {
        "inspector": store.issue("inspector", "王监察"),
        "director": store.issue("director", "李主任", center="451224"),
        "ops": store.issue("ops", "运维"),
    }
    with TestClient(app) as client:

        async def seed() -> None:
            for alert in SEEDED:
                await app.state.writer.write(alert)

        assert client.portal is not None
        client.portal.call(seed)
        made = client.post(
            "/api/silences",
            json={
                "center_id": "451221",
                "until": (NOW + timedelta(days=1)).isoformat(),
                "reason": "迁移",
            },
            headers={"Authorization": f"Bearer {tokens['inspector']}"},
        )
        assert made.status_code == 201, made.text
        tokens["silence"] = made.json()["id"]
        yield client, tokens


# -- hostile values -----------------------------------------------------------------------

#: Any Unicode scalar value, every plane, but no surrogates (not encodable in a URL).
ANY_CHAR = st.characters(exclude_categories=["Cs"])
#: Long values, each under 8 KB once percent-encoded: a URL of several stays under what
#: the client sends at all (64 KiB); a real server refuses a request line over 16 KiB.
HUGE = ("x" * 8_000, "中" * 800, "%" * 2_500, "/" * 2_500, "\U0001f600" * 600)
odd_text = st.one_of(
    st.text(ANY_CHAR, max_size=40),
    st.text(string.printable, max_size=40),
    st.sampled_from(HUGE),
    st.sampled_from(["", " ", "\x00", "..", "../..", "%2F", "%00", "%ff", "%", "?", "#", "\\"]),
)
offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
#: Days and instants at and beyond the ends of the calendar and of the accepted years.
EDGE_DAYS = ("0001-01-01", "9999-12-31", "1999-12-31", "2000-01-01", "2100-12-31", "2101-01-01")
EDGE_INSTANTS = (
    "9999-12-31T23:59:59.999999-23:59",
    "9999-12-31T23:59:59+14:00",
    "0001-01-01T00:00:00+23:59",
    "0001-01-01T00:00:00-12:00",
    "2100-12-31T23:59:59-12:00",
)
NOT_DATES = ("2026-02-30", "2026-13-01", "99999-01-01", "2026-12-01T25:00:00+08:00", "today")
days = st.one_of(st.sampled_from(EDGE_DAYS), st.dates().map(str), st.sampled_from(NOT_DATES))
instants = st.one_of(
    st.sampled_from(EDGE_INSTANTS),
    st.datetimes(timezones=offsets).map(lambda moment: moment.isoformat()),
    st.datetimes().map(lambda moment: moment.isoformat()),  # naive
    st.sampled_from(NOT_DATES),
)
dates = st.one_of(days, instants)
numbers = st.one_of(
    st.integers().map(str),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(["-1", "0", "1e999", "nan", "inf", "-inf", "0x10", " 5 ", "9" * 5_000]),
    st.floats().map(str),
)
query_value = st.one_of(
    odd_text, dates, numbers, st.sampled_from(["true", "false", "yes", "2", "red", "open"])
)
CENTER_CODES = st.sampled_from(["451224", "451221", "451200", "451224103", "000000", "45122"])


def values_of(kind: Kind) -> st.SearchStrategy[str]:
    """Hostile values for a parameter of `kind`: mostly of its type (so they get past
    parsing to the handler), at the edges; sometimes anything at all."""
    typed: st.SearchStrategy[str]
    if isinstance(kind, tuple):
        typed = st.sampled_from(kind)
    else:
        typed = {
            "day": days,
            "instant": instants,
            "number": numbers,
            "flag": st.sampled_from(["true", "false", "1", "0", "on", "yes", "2", ""]),
            "text": st.one_of(CENTER_CODES, odd_text),
        }[kind]
    return st.one_of(typed, typed, typed, query_value)


known_ids = st.sampled_from([a["alert_id"] for a in SEEDED] + ["sil-000000000000"])


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**80), max_value=2**80),
        st.floats(allow_nan=False, allow_infinity=False),
        odd_text,
        dates,
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(odd_text, children, max_size=4)
    ),
    max_leaves=12,
)
BODY_FIELDS = (
    "note",
    "disposition",
    "reason",
    "center_id",
    "below",
    "rule",
    "case_id",
    "until",
    "starts_at",
)
field_values = st.one_of(
    json_values,
    st.sampled_from(["verified", "rectified", "false_alarm", "451224", "451221", "deadline.*"]),
    st.just((NOW + timedelta(hours=2)).isoformat()),
)
form_bodies = st.dictionaries(
    st.one_of(st.sampled_from(BODY_FIELDS), odd_text), field_values, max_size=6
)
CONTENT_TYPES = (
    "application/json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "application/json; charset=utf-16",
    "application/octet-stream",
    "",
)


@st.composite
def bodies(draw: st.DrawFn) -> tuple[bytes | None, dict[str, str], bool]:
    """(content, headers, chunked): any body a client could send."""
    kind = draw(
        st.sampled_from(["none", "json", "fields", "bytes", "deep", "huge", "huge-chunked"])
    )
    chunked = False
    if kind == "none":
        content = None
    elif kind == "json":
        content = json.dumps(draw(json_values), ensure_ascii=draw(st.booleans())).encode()
    elif kind == "fields":
        content = json.dumps(draw(form_bodies), ensure_ascii=False).encode()
    elif kind == "bytes":
        content = draw(st.binary(max_size=300))
    elif kind == "deep":
        depth = draw(st.sampled_from([200, 990, 1_100, 5_000, 30_000]))
        deep = nested(depth)
        text = draw(st.sampled_from([deep, f'{{"note": {deep}}}', f'{{"{"k" * 50}": {deep}}}']))
        content = text.encode()
    else:
        content = b'{"note": "' + b"x" * (MAX_BODY_BYTES + draw(st.integers(0, 5_000))) + b'"}'
        chunked = kind == "huge-chunked"
    headers = {}
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    if content is not None and content_type:
        headers["content-type"] = content_type
    return content, headers, chunked


@st.composite
def callers(draw: st.DrawFn, tokens: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(headers, query) of one caller: a role's token, none, or a token nobody issued."""
    who = draw(st.sampled_from(["inspector", "director", "ops", "none", "unknown", "query"]))
    if who == "none":
        return {}, {}
    if who == "unknown":
        return {"Authorization": f"Bearer {UNKNOWN_TOKEN}"}, {}
    if who == "query":
        return {}, {"token": tokens[draw(st.sampled_from(["inspector", "director", "ops"]))]}
    return {"Authorization": f"Bearer {tokens[who]}"}, {}


def _path(template: str, draw: Callable[[st.SearchStrategy[Any]], Any], silence_id: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "silence_id":
            raw = draw(st.one_of(st.just(silence_id), odd_text))
        else:
            raw = draw(st.one_of(known_ids, odd_text))
        safe = draw(st.sampled_from(["", "/", "/:%"]))  # encoded, or partly as it is
        return quote(raw, safe=safe)

    return _PARAMETER.sub(value, template)


def _chunks(content: bytes) -> Iterator[bytes]:
    for start in range(0, len(content), 4096):
        yield content[start : start + 4096]


# -- the tests ------------------------------------------------------------------------------


def test_every_route_is_fuzzed() -> None:
    """Each route is of a kind the fuzzer drives: an API route, a mount, the WebSocket."""
    with TemporaryDirectory() as directory:
        app, _ = _fuzz_app(Path(directory))
    known = (APIRoute, Mount, APIWebSocketRoute, WebSocketRoute)
    strangers = [route for route in _flat(app.routes) if not isinstance(route, known)]
    assert not strangers, f"teach tests/web/test_api_fuzz.py about {strangers}"
    assert not [r for r in _flat(app.routes) if type(r) is Route], "a plain Route: fuzz it"
    assert len(ROUTES) >= 20 and ("GET", "/api/alerts/{alert_id}", (), False) in ROUTES


@pytest.mark.parametrize(
    ("method", "template", "parameters", "has_body"),
    ROUTES,
    ids=[f"{m} {t}" for m, t, *_ in ROUTES],
)
@FUZZ
@given(data=st.data())
def test_no_request_gets_a_5xx(
    seeded: tuple[TestClient, dict[str, str]],
    method: str,
    template: str,
    parameters: tuple[tuple[str, Kind], ...],
    has_body: bool,
    data: st.DataObject,
) -> None:
    client, tokens = seeded
    headers, query = data.draw(callers(tokens))
    path = _path(template, data.draw, tokens["silence"])
    for name, kind in (*parameters, ("token", "text"), ("after", "number"), ("x" * 50, "text")):
        if data.draw(st.integers(0, 3)):  # each given 3 times in 4
            query.setdefault(name, data.draw(values_of(kind)))
    content: bytes | None = None
    chunked = False
    if has_body or method != "GET" or data.draw(st.integers(0, 9)) == 0:  # GET: rarely
        content, more, chunked = data.draw(bodies())
        headers.update(more)
    response = client.request(
        method,
        path,
        params=query,
        headers=headers,
        content=_chunks(content) if chunked and content is not None else content,
        follow_redirects=False,
    )
    assert response.status_code < 500, (method, path, query, response.text[:500])
    if content is not None and len(content) > MAX_BODY_BYTES:
        assert response.status_code in (401, 413), response.status_code  # refused unread


@settings(max_examples=WS_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_websocket_takes_any_parameters(
    seeded: tuple[TestClient, dict[str, str]], data: st.DataObject
) -> None:
    client, tokens = seeded
    role = data.draw(st.sampled_from(["inspector", "director", "ops", "unknown", "none"]))
    query = {"token": tokens.get(role, UNKNOWN_TOKEN)} if role != "none" else {}
    for name in ("after", "batch"):
        if data.draw(st.booleans()):
            query[name] = data.draw(query_value)
    url = "/ws/alerts?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
    with client.websocket_connect(url) as socket:
        try:
            first = socket.receive_json()
        except WebSocketDisconnect as closed:
            assert role in ("ops", "unknown", "none") and closed.code in (4401, 4403)
            return
    assert role in ("inspector", "director")
    assert first["type"] in ("snapshot", "alert", "change", "batch")


def test_the_seeded_alerts_are_all_there(seeded: tuple[TestClient, dict[str, str]]) -> None:
    """The fuzzing above reached real alerts: the seeds are in place, dated as expected."""
    client, tokens = seeded
    page = client.get("/api/alerts", headers={"Authorization": f"Bearer {tokens['inspector']}"})
    assert page.status_code == 200 and page.json()["total"] >= len(SEEDED)
    assert datetime.fromisoformat(page.json()["items"][0]["raised_at"]).tzinfo is not None
    assert NOW.astimezone(UTC).year == 2026
