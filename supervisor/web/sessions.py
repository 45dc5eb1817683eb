"""Sign-in for people at a desk: an access token exchanged once for a session cookie.

The wall is a kiosk and keeps its token in its URL. A person at a desk (the console)
must not: a URL is copied, bookmarked, logged and shown over a shoulder. So the console
signs in once, `POST /api/session` with the token in the body, and gets a cookie:

- **HttpOnly** (no script reads it), **SameSite=Strict** (no other site's page sends
  it), `Secure` when the service is reached over HTTPS, `Path=/`, for a working day
  (`MAX_AGE`); signing out deletes it.
- **Signed, not stored**: it holds the token's id, when it was issued and a random CSRF
  value, signed with the service's secret (itsdangerous). Nothing is kept on the server,
  so every web service sharing the secret accepts it. Each request looks the token up
  again: revoking or expiring the token ends its sessions at once.
- **Cross-site request forgery**: a request authenticated by the cookie that changes
  something (POST, PUT, PATCH, DELETE) must carry the session's CSRF value in the
  `X-CSRF-Token` header, which only a page of this origin can know (it comes in the
  sign-in answer and in `/api/me`), and, when the browser says where it comes from,
  an `Origin` of the service itself or of `SUPERVISOR_WEB_ORIGINS`. A form posted from
  another site has neither. A request with a Bearer token is not affected: no browser
  sends that by itself.

The secret is `SUPERVISOR_SESSION_SECRET` or, unset, a random one made once in the data
directory (`session.key`, readable by its owner only). Several web services behind one
address must share it (the setting, or the same data directory).
"""

from __future__ import annotations

import hmac
import os
import secrets
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from itsdangerous import BadData, TimestampSigner, URLSafeTimedSerializer

#: The session cookie's name, and the header that carries the CSRF value.
COOKIE: Final = "supervisor_session"
CSRF_HEADER: Final = "x-csrf-token"
#: How long a session lasts: a working day and its overtime.
MAX_AGE: Final = 12 * 3600
#: Methods that change something: they need the CSRF value when a cookie authenticates.
UNSAFE_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
KEY_FILE: Final = "session.key"
_SALT: Final = "supervisor.session"
_MIN_SECRET: Final = 32


@dataclass(frozen=True)
class Session:
    """What a valid cookie says: whose token, its CSRF value, when it was signed."""

    token_id: str
    csrf: str
    issued: int


class Sessions:
    """Signs session cookies and reads them back; `clock` (Unix seconds) for tests."""

    def __init__(
        self, secret: bytes, *, max_age: int = MAX_AGE, clock: Callable[[], float] = time.time
    ) -> None:
        if len(secret) < _MIN_SECRET:
            raise ValueError(f"a session secret needs at least {_MIN_SECRET} bytes")
        self.max_age = max_age

        class _Signer(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(clock())

        self._serializer = URLSafeTimedSerializer(secret, salt=_SALT, signer=_Signer)

    @classmethod
    def for_service(cls, secret: str, data_dir: Path) -> Sessions:
        """With the configured secret, else the data directory's key (made once)."""
        return cls(secret.encode() if secret else load_or_make_key(data_dir / KEY_FILE))

    def open(self, token_id: str) -> tuple[str, Session]:
        """A new session of the token `token_id`: the cookie's value and the session."""
        csrf = secrets.token_urlsafe(32)
        value = self._serializer.dumps({"t": token_id, "c": csrf})
        session = self.read(value)
        assert session is not None  # just signed with our own key
        return value, session

    def read(self, value: str) -> Session | None:
        """The session of a cookie's value; None if forged, altered, malformed or older
        than `max_age`."""
        try:
            data, issued = self._serializer.loads(
                value, max_age=self.max_age, return_timestamp=True
            )
        except BadData:
            return None
        if not _well_formed(data):
            return None
        return Session(data["t"], data["c"], int(issued.timestamp()))

    @staticmethod
    def csrf_matches(session: Session, sent: str | None) -> bool:
        """Whether a request's CSRF header carries this session's value."""
        return sent is not None and hmac.compare_digest(sent.encode(), session.csrf.encode())


def _well_formed(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and isinstance(data.get("t"), str)
        and isinstance(data.get("c"), str)
        and bool(data["t"])
        and bool(data["c"])
    )


def load_or_make_key(path: Path) -> bytes:
    """The key in `path`, made (64 random bytes, mode 0600) when it does not exist yet.
    Made under another name and linked into place, so that two services starting at
    once agree on one key."""
    try:
        return _checked(path.read_bytes(), path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    made = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(made, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as out:
            out.write(secrets.token_bytes(64))
        with suppress(FileExistsError):  # another process made it first: theirs wins
            os.link(made, path)
    finally:
        made.unlink(missing_ok=True)
    return _checked(path.read_bytes(), path)


def _checked(key: bytes, path: Path) -> bytes:
    if len(key) < _MIN_SECRET:
        raise ValueError(f"{path}: a session key needs at least {_MIN_SECRET} bytes")
    return key
