"""`supervisor token issue|list|revoke`, run as the console script on a token file in tmp."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from supervisor.auth import TOKEN_PATTERN, Role, TokenStore
from supervisor.cli import TokenRole

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(sys.executable).with_name("supervisor")


def supervisor(tokens: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "supervisor.cli"]
    env = {**os.environ, "SUPERVISOR_TOKENS_FILE": str(tokens)}
    return subprocess.run(
        [*command, "token", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.fixture
def tokens(tmp_path: Path) -> Path:
    return tmp_path / "secret" / "tokens.json"


def issue(tokens: Path, *args: str) -> str:
    result = supervisor(tokens, "issue", *args)
    assert result.returncode == 0, result.stderr
    token = result.stdout.removesuffix("\n")
    assert result.stdout == token + "\n", "the token alone on stdout"
    assert TOKEN_PATTERN.match(token), token
    (notice,) = result.stderr.splitlines()
    secret = token.split(".", 1)[1]
    assert token.split(".")[0] in notice and secret not in notice
    assert "只显示这一次" in notice and "shown only once" in notice
    return token


def test_the_cli_roles_are_the_roles() -> None:
    assert [r.value for r in TokenRole] == [r.value for r in Role]


def test_issue_prints_a_token_that_verifies(tokens: Path) -> None:
    token = issue(tokens, "--role", "inspector", "--name", "张三")
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
    assert token.split(".", 1)[1] not in tokens.read_text(encoding="utf-8")
    principal = TokenStore(tokens).verify(token)
    assert principal is not None
    assert (principal.role, principal.name, principal.center) == (Role.inspector, "张三", None)


def test_a_director_gets_a_center_and_an_expiry(tokens: Path) -> None:
    token = issue(
        tokens, "--role", "director", "--name", "李四", "--center", "451224", "--days", "7"
    )
    store = TokenStore(tokens)
    principal = store.verify(token)
    assert principal is not None and principal.center == "451224"
    assert principal.may_see("451224103") and not principal.may_see("451221")
    (info,) = store.list()
    assert info.expires is not None
    expected = datetime.now(UTC) + timedelta(days=7)
    assert abs((info.expires - expected).total_seconds()) < 60


def test_an_unregistered_center_is_issued_with_a_warning(tokens: Path) -> None:
    result = supervisor(tokens, "issue", "--role", "director", "--name", "x", "--center", "451299")
    assert result.returncode == 0
    assert "451299 未登记 / not in the registry" in result.stderr


@pytest.mark.parametrize(
    "args,message",
    [
        (["--role", "director", "--name", "李四"], "a director token needs --center"),
        (["--role", "director", "--name", "李四", "--center", "4512"], "6- or 9-digit"),
        (["--role", "ops", "--name", "p", "--center", "451200"], "only a director token"),
        (["--role", "admin", "--name", "x"], "admin"),
        (["--role", "inspector", "--name", "x", "--days", "0"], "--days"),
    ],
)
def test_issue_refuses_what_the_role_does_not_allow(
    tokens: Path, args: list[str], message: str
) -> None:
    result = supervisor(tokens, "issue", *args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert message in result.stderr
    assert not tokens.exists()


def test_list_and_revoke(tokens: Path) -> None:
    empty = supervisor(tokens, "list")
    assert empty.returncode == 0 and empty.stdout == "" and "no tokens" in empty.stderr
    inspector = issue(tokens, "--role", "inspector", "--name", "张三")
    director = issue(tokens, "--role", "director", "--name", "李四", "--center", "451224")
    ticks = [0.0]
    web = TokenStore(tokens, monotonic=lambda: ticks[0])  # a running web service
    assert web.verify(inspector) is not None

    revoked = supervisor(tokens, "revoke", inspector.split(".")[0])
    assert revoked.returncode == 0, revoked.stderr
    assert "revoked" in revoked.stderr
    again = supervisor(tokens, "revoke", inspector.split(".")[0][4:])  # the bare id too
    assert again.returncode == 0 and "already revoked" in again.stderr
    unknown = supervisor(tokens, "revoke", "svt_ffffffffffff")
    assert unknown.returncode == 1 and "no token svt_ffffffffffff" in unknown.stderr

    listed = supervisor(tokens, "list")
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["id", "role", "center", "created", "expires", "status", "name"]
    by_id = {row.split()[0]: row.split() for row in rows}
    assert by_id[inspector.split(".")[0]][1:3] == ["inspector", "-"]
    assert by_id[inspector.split(".")[0]][-2:] == ["revoked", "张三"]
    assert by_id[director.split(".")[0]][1:3] == ["director", "451224"]
    assert by_id[director.split(".")[0]][-2:] == ["active", "李四"]
    for token in (inspector, director):
        assert token.split(".", 1)[1] not in listed.stdout + listed.stderr

    # The running service refuses the revoked token at its next look at the file.
    ticks[0] += 1.0  # a second later
    assert web.verify(inspector) is None
    assert web.verify(director) is not None


def test_a_broken_token_file_is_reported_not_overwritten(tokens: Path) -> None:
    tokens.parent.mkdir(parents=True)
    tokens.write_text("{broken", encoding="utf-8")
    for args in (["issue", "--role", "inspector", "--name", "x"], ["list"], ["revoke", "x"]):
        result = supervisor(tokens, *args)
        assert result.returncode == 2, args
        assert "not JSON" in result.stderr and result.stdout == ""
    assert tokens.read_text(encoding="utf-8") == "{broken"
