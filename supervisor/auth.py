"""Who may see what: access tokens, roles and the centers each role may see.

Roles:

- `inspector` (纪检监察): every center;
- `director` (中心负责人): their own center and every center below it, by division code
  (a county's director sees the county and its townships), registered or not;
- `ops` (运维): only `/metrics` and `/healthz`; no alert, no center.

A token is `svt_<id>.<secret>`: the 12-hex-digit id names it in logs, lists and audit
trails; the secret (`secrets.token_urlsafe(32)`) is shown once, when it is issued, and
only its SHA-256 is stored. The store is a JSON file (`SUPERVISOR_TOKENS_FILE`, default
`<SUPERVISOR_DATA_DIR>/tokens.json`, mode 0600, never in the repository), replaced
atomically on every change; a running web service reads it again when it changed on disk
(looked at no more than once a second), so `supervisor token revoke` takes effect
without a restart. A token file that cannot be read refuses every token (fail closed).

No web framework here: `supervisor.web.security` turns this into FastAPI dependencies.
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any, Final, Literal

from supervisor.centers import CenterRegistry, is_valid_code

log = logging.getLogger(__name__)

PREFIX: Final = "svt_"
#: `svt_<12 hex digits>.<43 URL-safe characters>`.
TOKEN_PATTERN: Final = re.compile(r"^svt_([0-9a-f]{12})\.([A-Za-z0-9_-]{43})$")
ID_PATTERN: Final = re.compile(r"^[0-9a-f]{12}$")
FILE_VERSION: Final = 1
#: Seconds between two looks at the token file's modification time.
RELOAD_INTERVAL: Final = 1.0
NAME_MAX: Final = 100

Status = Literal["active", "revoked", "expired"]


class Role(StrEnum):
    inspector = "inspector"
    director = "director"
    ops = "ops"


class TokenError(ValueError):
    """A token that cannot be issued as asked, or a token file that cannot be used."""


@cache
def default_registry() -> CenterRegistry:
    """The packaged Hechi registry, loaded once per process."""
    return CenterRegistry.load()


@dataclass(frozen=True)
class Principal:
    """The holder of a verified token. Carries no secret: safe to log and to repr."""

    id: str  # the token's id: `svt_<id>` in logs and in the audit trail
    role: Role
    center: str | None  # a director's center; None for inspector and ops
    name: str
    registry: CenterRegistry = field(
        default_factory=default_registry, repr=False, compare=False, hash=False
    )

    def may_see(self, center_id: str) -> bool:
        """True when this holder may see alerts, cases and figures of `center_id`."""
        if self.role is Role.inspector:
            return True
        if self.role is Role.director and self.center is not None:
            return self.registry.is_within(center_id, self.center)
        return False

    def may_act(self, center_id: str) -> bool:
        """True when this holder may acknowledge, resolve or appeal alerts of `center_id`.

        Inspectors and directors act where they see (a director: their own centers);
        which lifecycle step each role may take (an inspector decides an appeal, a
        director files it) is the route's business.
        """
        return self.role in (Role.inspector, Role.director) and self.may_see(center_id)

    @property
    def label(self) -> str:
        """For logs and the audit trail: `director 451224 张三 (svt_0123456789ab)`."""
        place = f" {self.center}" if self.center else ""
        return f"{self.role.value}{place} {self.name} ({PREFIX}{self.id})"


@dataclass(frozen=True)
class TokenInfo:
    """One token as `list()` shows it: everything but the secret (and its hash)."""

    id: str
    role: Role
    name: str
    center: str | None
    created: datetime
    expires: datetime | None
    revoked: datetime | None

    def status(self, now: datetime) -> Status:
        if self.revoked is not None:
            return "revoked"
        if self.expires is not None and self.expires <= now:
            return "expired"
        return "active"


@dataclass(frozen=True)
class _Record:
    info: TokenInfo
    digest: str  # hex SHA-256 of the secret


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


#: Compared against when the id is unknown, so that a miss costs what a hit costs.
_DUMMY_DIGEST: Final = _digest("x" * 43)

_REDACT_TOKEN = re.compile(r"(svt_[0-9A-Za-z]{1,32})\.[A-Za-z0-9_\-%~.]+")
_REDACT_QUERY = re.compile(r"([?&]token=)(?!svt_[0-9A-Za-z]{1,32}\.\*\*\*)[^&\s\"']+")


def token_id_of(token: str) -> str | None:
    """The id part of a well-formed token (for logs), else None."""
    match = TOKEN_PATTERN.match(token)
    return match[1] if match else None


def redact(text: str) -> str:
    """Replace the secret of every token in `text` by `***`, keeping the id.

    `GET /wall/?token=svt_0123456789ab.Zx…` -> `GET /wall/?token=svt_0123456789ab.***`;
    any other `token=` query value is replaced whole.
    """
    return _REDACT_QUERY.sub(r"\1***", _REDACT_TOKEN.sub(r"\1.***", text))


class RedactTokens(logging.Filter):
    """A logging filter that redacts token secrets from a record's message.

    uvicorn logs request paths with their query string (`uvicorn.access` for HTTP,
    `uvicorn.error` for WebSocket handshakes), and the wall passes `?token=`.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        # The arguments keep their shape: uvicorn's AccessFormatter unpacks them.
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {
                k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()
            }
        return True


def install_log_redaction(loggers: tuple[str, ...] = ("uvicorn.access", "uvicorn.error")) -> None:
    """Attach `RedactTokens` to the loggers that print request paths (idempotent)."""
    for name in loggers:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactTokens) for existing in logger.filters):
            logger.addFilter(RedactTokens())


def _now() -> datetime:
    return datetime.now(UTC)


class TokenStore:
    """The token file: issue, list, revoke (the CLI) and verify (the web service).

    Thread-safe; writers in several processes serialise on `<file>.lock` (flock).
    `clock` (aware datetimes) and `monotonic` are injectable for tests.
    """

    def __init__(
        self,
        path: Path,
        *,
        registry: CenterRegistry | None = None,
        clock: Callable[[], datetime] = _now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._registry = registry
        self._clock = clock
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._records: dict[str, _Record] = {}
        self._signature: tuple[int, int, int] | None = None
        self._broken = False
        with self._lock:
            self._load(raise_errors=True)
            self._checked_at = monotonic()

    # -- the web service ---------------------------------------------------------------

    def verify(self, token: str) -> Principal | None:
        """The principal of a valid token; None for a malformed, unknown, wrong, revoked or
        expired one. The secret's hash is compared in constant time."""
        match = TOKEN_PATTERN.match(token)
        if match is None:
            return None
        token_id, secret = match[1], match[2]
        with self._lock:
            self._refresh()
            if token_id not in self._records and not self._broken:
                # issued a moment ago? look at the file now rather than in up to a second
                self._checked_at = float("-inf")
                self._refresh()
            record = None if self._broken else self._records.get(token_id)
        expected = record.digest if record is not None else _DUMMY_DIGEST
        matches = hmac.compare_digest(_digest(secret), expected)
        if record is None or not matches:
            log.info("token %s%s refused: unknown or wrong secret", PREFIX, token_id)
            return None
        return self._active(record)

    def principal(self, token_id: str) -> Principal | None:
        """The principal of the token `token_id` if it is still active (not revoked, not
        expired): a signed session names its token by id and is as good as it."""
        with self._lock:
            self._refresh()
            record = None if self._broken else self._records.get(token_id)
        if record is None:
            log.info("session of token %s%s refused: unknown token", PREFIX, token_id)
            return None
        return self._active(record)

    def _active(self, record: _Record) -> Principal | None:
        info = record.info
        status = info.status(self._clock())
        if status != "active":
            log.info("token %s%s refused: %s", PREFIX, info.id, status)
            return None
        registry = default_registry() if self._registry is None else self._registry
        return Principal(info.id, info.role, info.center, info.name, registry)

    # -- the CLI -----------------------------------------------------------------------

    def issue(
        self,
        role: Role | str,
        name: str,
        center: str | None = None,
        expires: datetime | None = None,
    ) -> str:
        """Create a token and return it; it is shown this once and never stored."""
        try:
            role = Role(role)
        except ValueError:
            raise TokenError(f"unknown role {role!r} (one of {', '.join(Role)})") from None
        name = " ".join(name.split())
        if not name or len(name) > NAME_MAX:
            raise TokenError(f"a name of 1 to {NAME_MAX} characters is required")
        if role is Role.director:
            if center is None or not is_valid_code(center):
                raise TokenError("a director token needs --center, a 6- or 9-digit code")
        elif center is not None:
            raise TokenError(f"only a director token has a center, not an {role.value} token")
        now = self._clock()
        if expires is not None:
            if expires.tzinfo is None:
                raise TokenError("the expiry needs a time zone")
            if expires <= now:
                raise TokenError("the expiry is not in the future")
            expires = expires.astimezone(UTC)
        secret = secrets.token_urlsafe(32)
        with self._writing() as records:
            token_id = secrets.token_hex(6)
            while token_id in records:
                token_id = secrets.token_hex(6)
            info = TokenInfo(token_id, role, name, center, now, expires, None)
            records[token_id] = _Record(info, _digest(secret))
        return f"{PREFIX}{token_id}.{secret}"

    def list(self) -> builtins.list[TokenInfo]:
        """Every token ever issued (revoked and expired included), oldest first."""
        with self._lock:
            self._load(raise_errors=True)
            return sorted((r.info for r in self._records.values()), key=lambda i: i.created)

    def revoke(self, token_id: str) -> bool:
        """Revoke a token by id (`0123456789ab`, `svt_0123456789ab`, or the whole token).

        True when it was in force until now, False when it was already revoked;
        KeyError when no such token was ever issued.
        """
        token_id = _bare_id(token_id)
        with self._writing() as records:
            record = records.get(token_id)
            if record is None:
                raise KeyError(token_id)
            if record.info.revoked is not None:
                return False
            revoked = replace(record.info, revoked=self._clock())
            records[token_id] = _Record(revoked, record.digest)
            return True

    # -- the file ----------------------------------------------------------------------

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _refresh(self) -> None:
        """Read the file again if it changed on disk; look at most once a second."""
        now = self._monotonic()
        if now - self._checked_at < RELOAD_INTERVAL:
            return
        self._checked_at = now
        try:
            changed = self._broken or self._stat() != self._signature
        except OSError as exc:
            self._fail(exc)
            return
        if changed:
            self._load(raise_errors=False)
            if not self._broken:
                log.info("token file %s read again: %d tokens", self.path, len(self._records))

    def _load(self, *, raise_errors: bool) -> None:
        """Replace the records by the file's (lock held); no file is no token. A file that
        cannot be read raises TokenError, or, in a running service, refuses every token
        until it can be read again: fail closed."""
        try:
            signature = self._stat()
            records = {} if signature is None else self._parse(self.path.read_bytes())
        except (OSError, TokenError) as exc:
            if raise_errors:
                raise TokenError(f"token file {self.path}: {exc}") from None
            self._fail(exc)
            return
        self._records = records
        self._signature = signature
        self._broken = False
        if signature is not None:
            self._warn_if_readable()

    def _fail(self, error: Exception) -> None:
        if not self._broken:
            log.error("token file %s: %s; refusing every token", self.path, error)
        self._broken = True
        self._records = {}

    def _warn_if_readable(self) -> None:
        with contextlib.suppress(OSError):
            mode = self.path.stat().st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                log.warning(
                    "token file %s is open to other users (mode %o); chmod 600 it",
                    self.path,
                    stat.S_IMODE(mode),
                )

    @staticmethod
    def _parse(data: bytes) -> dict[str, _Record]:
        try:
            document = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise TokenError(f"not JSON: {exc}") from None
        if not isinstance(document, Mapping) or document.get("version") != FILE_VERSION:
            raise TokenError(f'expected {{"version": {FILE_VERSION}, "tokens": [...]}}')
        entries = document.get("tokens")
        if not isinstance(entries, list):
            raise TokenError('"tokens" is not a list')
        records: dict[str, _Record] = {}
        for position, entry in enumerate(entries):
            try:
                record = _record_from(entry)
            except (KeyError, TypeError, ValueError) as exc:
                raise TokenError(f"tokens[{position}]: {exc!r}") from None
            records[record.info.id] = record
        return records

    @contextlib.contextmanager
    def _writing(self) -> Iterator[dict[str, _Record]]:
        """Read-modify-write under the process lock and `<file>.lock`, then replace the
        file atomically (a temporary file of mode 0600 in the same directory, renamed)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        with self._lock:
            descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX)
                self._load(raise_errors=True)
                records = dict(self._records)
                yield records
                if records != self._records:
                    self._write(records)
                    self._records = records
                    self._signature = self._stat()
            finally:
                os.close(descriptor)  # releases the flock

    def _write(self, records: Mapping[str, _Record]) -> None:
        document = {
            "version": FILE_VERSION,
            "tokens": [_record_to(record) for record in records.values()],
        }
        text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
        handle, temporary = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                os.fchmod(out.fileno(), 0o600)
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        with contextlib.suppress(OSError):  # make the rename itself durable
            directory = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)


def _bare_id(text: str) -> str:
    text = text.strip()
    if text.startswith(PREFIX):
        text = text[len(PREFIX) :]
    return text.split(".", 1)[0]


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return parsed


def _record_from(entry: Any) -> _Record:
    if not isinstance(entry, Mapping):
        raise TypeError("not an object")
    token_id = entry["id"]
    if not isinstance(token_id, str) or not ID_PATTERN.match(token_id):
        raise ValueError(f"bad id {token_id!r}")
    digest = entry["sha256"]
    if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise ValueError("bad sha256")
    role = Role(entry["role"])
    center = entry.get("center")
    if role is Role.director and not (isinstance(center, str) and is_valid_code(center)):
        raise ValueError(f"director without a valid center ({center!r})")
    if role is not Role.director and center is not None:
        raise ValueError(f"{role.value} with a center")
    created = _time(entry["created"])
    if created is None:
        raise ValueError("no creation time")
    info = TokenInfo(
        id=token_id,
        role=role,
        name=str(entry["name"]),
        center=center,
        created=created,
        expires=_time(entry.get("expires")),
        revoked=_time(entry.get("revoked")),
    )
    return _Record(info, digest)


def _record_to(record: _Record) -> dict[str, Any]:
    info = record.info

    def text(value: datetime | None) -> str | None:
        return None if value is None else value.isoformat(timespec="seconds")

    return {
        "id": info.id,
        "role": info.role.value,
        "name": info.name,
        "center": info.center,
        "created": text(info.created),
        "expires": text(info.expires),
        "revoked": text(info.revoked),
        "sha256": record.digest,
    }
