"""Access tokens and roles (supervisor.auth): the store on disk and who may see what."""

from __future__ import annotations

import hashlib
import json
import logging
import stat
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from uvicorn.logging import AccessFormatter

from supervisor.auth import (
    TOKEN_PATTERN,
    Principal,
    RedactTokens,
    Role,
    TokenError,
    TokenStore,
    default_registry,
    redact,
)
from supervisor.centers import CenterRegistry
from supervisor.settings import Settings

START = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


@dataclass
class Clocks:
    """A wall clock and a monotonic clock that only move when the test says so."""

    now: datetime = START
    ticks: float = 1000.0
    stores: list[TokenStore] = field(default_factory=list)

    def store(self, path: Path, registry: CenterRegistry | None = None) -> TokenStore:
        store = TokenStore(
            path, registry=registry, clock=lambda: self.now, monotonic=lambda: self.ticks
        )
        self.stores.append(store)
        return store


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "tokens.json"


def secret_of(token: str) -> str:
    match = TOKEN_PATTERN.match(token)
    assert match, token
    return match[2]


# -- issue and verify ------------------------------------------------------------------


def test_an_issued_token_verifies_as_its_principal(clocks: Clocks, path: Path) -> None:
    store = clocks.store(path)
    token = store.issue("director", "李四", center="451224")
    match = TOKEN_PATTERN.match(token)
    assert match is not None and token.startswith("svt_")
    principal = store.verify(token)
    assert principal == Principal(match[1], Role.director, "451224", "李四")
    assert principal.label == f"director 451224 李四 (svt_{match[1]})"
    assert secret_of(token) not in repr(principal)


def test_tokens_are_unique_and_wrong_ones_are_refused(clocks: Clocks, path: Path) -> None:
    store = clocks.store(path)
    first = store.issue(Role.inspector, "张三")
    second = store.issue(Role.inspector, "张三")
    assert first != second and first.split(".")[0] != second.split(".")[0]
    token_id = first.split(".")[0]
    wrong_secret = f"{token_id}.{secret_of(second)}"
    assert store.verify(wrong_secret) is None
    assert store.verify("svt_0123456789ab." + secret_of(first)) is None  # unknown id
    assert store.verify(first[:-1]) is None  # malformed
    assert store.verify("") is None
    assert store.verify(first + " ") is None
    assert store.verify(first) is not None


def test_the_file_has_mode_0600_and_no_secret(clocks: Clocks, path: Path) -> None:
    store = clocks.store(path)
    tokens = [store.issue("inspector", "张三"), store.issue("ops", "prometheus")]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text(encoding="utf-8")
    document = json.loads(text)
    for token, entry in zip(tokens, document["tokens"], strict=True):
        secret = secret_of(token)
        assert secret not in text
        assert entry["sha256"] == hashlib.sha256(secret.encode()).hexdigest()
        assert entry["id"] == token[4:16]
    assert sorted(p.name for p in path.parent.iterdir()) == ["tokens.json", "tokens.json.lock"]


def test_the_default_file_is_in_the_data_directory_unless_set(tmp_path: Path) -> None:
    data = tmp_path / "d"
    settings = Settings.from_env({"SUPERVISOR_DATA_DIR": str(data)})
    assert settings.tokens_file == data / "tokens.json"
    chosen = Settings.from_env(
        {"SUPERVISOR_DATA_DIR": str(data), "SUPERVISOR_TOKENS_FILE": str(tmp_path / "t.json")}
    )
    assert chosen.tokens_file == tmp_path / "t.json"


def test_web_origins_are_parsed_and_checked() -> None:
    settings = Settings.from_env({"SUPERVISOR_WEB_ORIGINS": " https://Wall.example/ ,http://a:81"})
    assert settings.web_origins == ("https://wall.example", "http://a:81")
    assert Settings.from_env({}).web_origins == ()
    with pytest.raises(ValueError, match=r"SUPERVISOR_WEB_ORIGINS: 'wall\.example' is not an"):
        Settings.from_env({"SUPERVISOR_WEB_ORIGINS": "wall.example"})


@pytest.mark.parametrize(
    "role,center,message",
    [
        ("director", None, "director token needs --center"),
        ("director", "4512", "director token needs --center"),
        ("director", "45122410", "director token needs --center"),
        ("director", "45122a", "director token needs --center"),
        ("inspector", "451224", "only a director token has a center"),
        ("ops", "451200", "only a director token has a center"),
        ("admin", None, "unknown role 'admin'"),
    ],
)
def test_a_token_is_refused_that_its_role_does_not_allow(
    clocks: Clocks, path: Path, role: str, center: str | None, message: str
) -> None:
    store = clocks.store(path)
    with pytest.raises(TokenError, match=message):
        store.issue(role, "x", center=center)
    assert store.list() == []
    assert not path.exists()


def test_a_name_and_a_future_aware_expiry_are_required(clocks: Clocks, path: Path) -> None:
    store = clocks.store(path)
    with pytest.raises(TokenError, match="name"):
        store.issue("inspector", "  ")
    with pytest.raises(TokenError, match="not in the future"):
        store.issue("inspector", "x", expires=START)
    with pytest.raises(TokenError, match="time zone"):
        store.issue("inspector", "x", expires=datetime(2030, 1, 1))  # noqa: DTZ001
    assert store.list() == []


# -- revoke, expire, list --------------------------------------------------------------


def test_a_revoked_token_is_refused(clocks: Clocks, path: Path) -> None:
    store = clocks.store(path)
    token = store.issue("inspector", "张三")
    other = store.issue("inspector", "王五")
    token_id = token.split(".")[0]
    clocks.now = START + timedelta(hours=1)
    assert store.revoke(token_id) is True
    assert store.verify(token) is None
    assert store.verify(other) is not None, "revoking one token leaves the others"
    assert store.revoke(token) is False, "the whole token names it too; already revoked"
    with pytest.raises(KeyError):
        store.revoke("svt_ffffffffffff")
    (info, _) = store.list()
    assert info.revoked == START + timedelta(hours=1)
    assert info.status(clocks.now) == "revoked"


def test_an_expired_token_is_refused(clocks: Clocks, path: Path) -> None:
    store = clocks.store(path)
    token = store.issue("inspector", "张三", expires=START + timedelta(days=1))
    clocks.now = START + timedelta(days=1) - timedelta(seconds=1)
    assert store.verify(token) is not None
    clocks.now = START + timedelta(days=1)
    assert store.verify(token) is None
    assert store.list()[0].status(clocks.now) == "expired"


def test_list_shows_every_token_without_secrets(clocks: Clocks, path: Path) -> None:
    store = clocks.store(path)
    store.issue("inspector", "张三")
    clocks.now = START + timedelta(minutes=1)
    token = store.issue("director", "李四", center="451224101", expires=START + timedelta(days=9))
    listed = store.list()
    assert [(i.role, i.name, i.center) for i in listed] == [
        (Role.inspector, "张三", None),
        (Role.director, "李四", "451224101"),
    ]
    assert listed[1].id == token[4:16]
    assert listed[1].created == START + timedelta(minutes=1)
    assert listed[1].expires == START + timedelta(days=9)
    assert listed[1].revoked is None
    assert secret_of(token) not in repr(listed)
    assert not hasattr(listed[1], "sha256") and not hasattr(listed[1], "digest")


# -- the file changes under a running service ------------------------------------------


def test_a_running_store_sees_a_revoke_from_another_within_a_second(
    clocks: Clocks, path: Path
) -> None:
    web = clocks.store(path)  # the web service, started before the token exists
    cli = clocks.store(path)  # `supervisor token ...`
    token = cli.issue("inspector", "张三")
    # an id it does not know makes it look at the file at once: a fresh link works
    assert web.verify(token) is not None, "issued by another process, seen at once"
    cli.revoke(token)
    assert web.verify(token) is not None, "at most one look a second"
    clocks.ticks += 1.0
    assert web.verify(token) is None


def test_a_fresh_store_reads_what_another_wrote(clocks: Clocks, path: Path) -> None:
    token = clocks.store(path).issue("director", "李四", center="451224")
    principal = TokenStore(path).verify(token)  # real clocks
    assert principal is not None and principal.center == "451224"


def test_an_unreadable_file_refuses_every_token_until_fixed(
    clocks: Clocks, path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    web = clocks.store(path)
    token = web.issue("inspector", "张三")
    good = path.read_bytes()
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(TokenError, match="not JSON"):
        TokenStore(path)  # the CLI says so and stops
    clocks.ticks += 1.0
    with caplog.at_level(logging.ERROR, "supervisor.auth"):
        assert web.verify(token) is None, "fail closed"
    assert "refusing every token" in caplog.text
    assert path.read_text(encoding="utf-8") == "{not json", "nothing overwrote it"
    path.write_bytes(good)
    clocks.ticks += 1.0
    assert web.verify(token) is not None


def test_a_corrupt_file_is_not_overwritten_by_issue(clocks: Clocks, path: Path) -> None:
    store = clocks.store(path)
    store.issue("inspector", "张三")
    path.write_text('{"version": 1, "tokens": [{"id": "x"}]}', encoding="utf-8")
    with pytest.raises(TokenError, match=r"tokens\[0\]"):
        store.issue("inspector", "王五")
    with pytest.raises(TokenError):
        store.revoke("abcdefabcdef")
    assert json.loads(path.read_text(encoding="utf-8")) == {"version": 1, "tokens": [{"id": "x"}]}


def test_concurrent_writers_lose_no_token(clocks: Clocks, path: Path) -> None:
    stores = [TokenStore(path), TokenStore(path)]  # each locks the file on its own
    issued: list[str] = []
    lock = threading.Lock()

    def issue(store: TokenStore) -> None:
        for _ in range(10):
            token = store.issue("inspector", "wall")
            with lock:
                issued.append(token)

    threads = [threading.Thread(target=issue, args=(s,)) for s in stores for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    fresh = TokenStore(path)
    assert len(fresh.list()) == len(issued) == 40
    assert all(fresh.verify(token) is not None for token in issued)


# -- scope: who sees which center ------------------------------------------------------


def principal(role: Role, center: str | None = None) -> Principal:
    return Principal("0123456789ab", role, center, "x")


def test_an_inspector_sees_and_acts_everywhere() -> None:
    inspector = principal(Role.inspector)
    for code in ("451200", "451224", "451224101", "451299", "451299123", "110000"):
        assert inspector.may_see(code) and inspector.may_act(code)


def test_ops_sees_no_center() -> None:
    ops = principal(Role.ops)
    for code in ("451200", "451224", "451224101"):
        assert not ops.may_see(code) and not ops.may_act(code)


def test_a_county_director_sees_the_county_and_its_townships_only() -> None:
    director = principal(Role.director, "451224")  # 东兰县
    registry = default_registry()
    assert "451224101" in registry and "451299" not in registry
    inside = ["451224", "451224101", "451224104", "451224999"]  # 999: unregistered township
    outside = ["451200", "451221", "451221100", "451225100", "451299", "451299123", "", "4512"]
    for code in inside:
        assert director.may_see(code) and director.may_act(code), code
    for code in outside:
        assert not director.may_see(code) and not director.may_act(code), code


def test_a_township_director_sees_only_the_township() -> None:
    director = principal(Role.director, "451224101")
    assert director.may_see("451224101")
    for code in ("451224", "451224102", "451200"):
        assert not director.may_see(code), code


def test_the_city_director_sees_everything_below_even_unregistered() -> None:
    director = principal(Role.director, "451200")
    for code in ("451200", "451224", "451224101", "451299", "451299123"):
        assert director.may_see(code), code
    assert not director.may_see("450100") and not director.may_see("450102001")


def test_a_director_of_an_unregistered_county_sees_it_and_below() -> None:
    director = principal(Role.director, "451299")
    assert director.may_see("451299") and director.may_see("451299123")
    assert not director.may_see("451200") and not director.may_see("451224")


def test_the_store_gives_principals_its_registry(clocks: Clocks, path: Path) -> None:
    """A registry whose recorded parents differ from the code rule wins over it."""
    from supervisor.centers import Center

    class Custom(CenterRegistry):
        def ancestors(self, code: str) -> list[str]:
            return ["451224"] if code == "451221100" else super().ancestors(code)

    registry = Custom([Center("451200", "市", "city", None)])
    token = clocks.store(path, registry).issue("director", "李四", center="451224")
    found = clocks.stores[0].verify(token)
    assert found is not None and found.may_see("451221100")
    assert not principal(Role.director, "451224").may_see("451221100")


# -- logs never show a secret ----------------------------------------------------------


def test_redact_keeps_the_id_and_drops_the_secret() -> None:
    token = "svt_0123456789ab.QvAwuh5esYrmftYF5nAnpLBf6uizR-jJYUJvPFesgWo"
    assert redact(f"GET /wall/?token={token}&lang=en") == (
        "GET /wall/?token=svt_0123456789ab.***&lang=en"
    )
    assert redact(f"Bearer {token}") == "Bearer svt_0123456789ab.***"
    assert redact("GET /ws/alerts?after=3&token=not-a-token") == "GET /ws/alerts?after=3&token=***"
    assert redact("GET /api/alerts?limit=5") == "GET /api/alerts?limit=5"


def test_uvicorn_access_lines_are_redacted() -> None:
    """The record as uvicorn's access logger makes it, through its own formatter."""
    token = "svt_0123456789ab.QvAwuh5esYrmftYF5nAnpLBf6uizR-jJYUJvPFesgWo"
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/wall/?token={token}", "1.1", 200),
        None,
    )
    assert RedactTokens().filter(record)
    line = AccessFormatter("%(client_addr)s %(request_line)s %(status_code)s").format(record)
    assert line == "127.0.0.1:5000 GET /wall/?token=svt_0123456789ab.*** HTTP/1.1 200 OK"
