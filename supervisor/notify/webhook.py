"""The webhook channel: a signed JSON POST .

This is how an office connects its own messaging or SMS gateway. One call of
`send_webhook` is one attempt; it never raises for a network or HTTP failure, it
returns a `Delivery` saying what happened (retry.py decides what comes next).

The request (README.md, "Notifications", documents it for the offices):

- body: the payload as compact UTF-8 JSON (`{"a":1,"b":"红"}`: no spaces, non-ASCII
  as is), `Content-Type: application/json`;
- `Idempotency-Key`: the notification id. A retry sends the same key (and the same
  body), so a receiver that keeps the keys it has processed acts on each notification
  once, even when its answer to the first attempt was lost;
- `X-Supervisor-Timestamp`: the attempt's time, Unix seconds;
- `X-Supervisor-Signature`: `sha256=<hex>`, the HMAC-SHA256 with the shared secret of
  the ASCII timestamp, a dot, and the body bytes exactly as sent
  (`b"1767225600." + body`). The timestamp is signed so that a captured request cannot
  be replayed later: the receiver refuses a timestamp more than five minutes from its own
  clock (`verify_signature`'s `tolerance`), and within those minutes the idempotency key
  makes a replay harmless. Each retry is signed anew with its own timestamp.

Outcomes: 2xx delivered; 408, 429 and 5xx retry (a `Retry-After` in seconds or as an
HTTP date is passed on in `Delivery.retry_after`); timeouts and connection errors retry;
any other status (4xx, and 3xx: redirects are not followed, so a signed request never
goes where it was not configured to) fails for good, as does a URL that cannot be used.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final
from urllib.parse import urlsplit

import httpx

from supervisor.masking import mask_text
from supervisor.notify.retry import Delivery, Outcome

HEADER_IDEMPOTENCY_KEY: Final = "Idempotency-Key"
HEADER_TIMESTAMP: Final = "X-Supervisor-Timestamp"
HEADER_SIGNATURE: Final = "X-Supervisor-Signature"
SIGNATURE_PREFIX: Final = "sha256="
#: Seconds a receiver accepts between a request's timestamp and its own clock.
DEFAULT_TOLERANCE: Final = 300.0
USER_AGENT: Final = "supervisor-notify/1"

#: Statuses that may pass by themselves: request timeout, too many requests.
_RETRY_STATUSES: Final = frozenset({408, 429})
#: How much of an error response is kept in the error text.
_ERROR_BODY_BYTES: Final = 512
_ERROR_TEXT_CHARS: Final = 200
_HEADER_VALUE: Final = re.compile(r"^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$")


def encode_body(payload: Mapping[str, Any]) -> bytes:
    """The payload as sent: compact UTF-8 JSON, non-ASCII characters as they are."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode(
        "utf-8"
    )


def sign(secret: bytes, timestamp: int | str, body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 with `secret` over `b"<timestamp>." + body`."""
    if not secret:
        raise ValueError("a webhook secret must not be empty")
    message = str(timestamp).encode("ascii") + b"." + body
    return SIGNATURE_PREFIX + hmac.new(secret, message, hashlib.sha256).hexdigest()


def verify_signature(
    secret: bytes,
    timestamp: str | int,
    body: bytes,
    signature: str,
    *,
    now: datetime | float,
    tolerance: float = DEFAULT_TOLERANCE,
) -> bool:
    """The receiver's check: True when `signature` (the `X-Supervisor-Signature` header)
    is the HMAC of `timestamp` (the `X-Supervisor-Timestamp` header) and `body` (the
    raw request body, as received) with `secret`, and the timestamp is within
    `tolerance` seconds of `now` (a datetime or Unix seconds), before or after.

    The comparison takes the same time wherever the signatures differ. Anything
    malformed (a missing prefix, a timestamp that is not an integer) is simply False."""
    if not secret:
        return False
    stamp = str(timestamp).strip()
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 15:
        return False
    current = now.timestamp() if isinstance(now, datetime) else float(now)
    if abs(current - int(stamp)) > tolerance:
        return False
    given = signature.strip()
    if not given.isascii():
        return False
    expected = sign(secret, stamp, body)
    return hmac.compare_digest(expected.encode("ascii"), given.lower().encode("ascii"))


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """`Retry-After` in seconds from `now`: delta-seconds or an HTTP date (RFC 9110);
    None when absent or unreadable; a date in the past is 0."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def redact_url(url: str) -> str:
    """The URL as it may be shown: no user info, no query (gateways such as a group
    robot's put their key there), no fragment."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        port = ""
    query = "?…" if parts.query else ""
    return f"{parts.scheme}://{host}{port}{parts.path}{query}"


async def send_webhook(
    url: str,
    payload: Mapping[str, Any],
    *,
    secret: bytes,
    idempotency_key: str,
    timeout: float,
    now: datetime | None = None,
    client: httpx.AsyncClient | None = None,
) -> Delivery:
    """One attempt to POST `payload` to `url`, signed with `secret`.

    `timeout` bounds the whole attempt (connecting, sending, the answer), in seconds.
    `now` is the attempt's time (the signed timestamp and `Delivery.at`; default the
    clock). `client` lets a caller reuse connections, or go through a proxy; by default
    one is made for the attempt, which reads nothing from the environment (no proxy
    variables: settings.py is the one place that reads it). Raises ValueError only for
    a caller's mistake (an empty secret, a key that cannot be a header value, a payload
    that is not JSON)."""
    if not _HEADER_VALUE.fullmatch(idempotency_key):
        raise ValueError(f"idempotency key {idempotency_key!r} cannot be sent as a header")
    if not secret:
        raise ValueError("a webhook secret must not be empty")
    body = encode_body(payload)
    at = now if now is not None else datetime.now(UTC)
    timestamp = int(at.timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        HEADER_IDEMPOTENCY_KEY: idempotency_key,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_SIGNATURE: sign(secret, timestamp, body),
    }
    started = time.perf_counter()

    def result(
        outcome: Outcome,
        error: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> Delivery:
        return Delivery(
            channel="webhook",
            outcome=outcome,
            at=at,
            status=status,
            error=_clean(error, url) if error is not None else None,
            retry_after=retry_after,
            elapsed=time.perf_counter() - started,
        )

    try:
        async with asyncio.timeout(timeout):
            if client is None:
                async with httpx.AsyncClient(
                    timeout=timeout, follow_redirects=False, trust_env=False
                ) as own:
                    status, reason, answer, retry_header = await _post(
                        own, url, body, headers, timeout
                    )
            else:
                status, reason, answer, retry_header = await _post(
                    client, url, body, headers, timeout
                )
    except (httpx.UnsupportedProtocol, httpx.InvalidURL, httpx.LocalProtocolError) as exc:
        return result(Outcome.FAILED, f"unusable URL or request: {exc}")
    except (TimeoutError, httpx.TimeoutException):
        return result(Outcome.RETRY, f"no answer within {timeout:g} s")
    except (httpx.TransportError, OSError) as exc:
        return result(Outcome.RETRY, _describe(exc))

    if 200 <= status < 300:
        return result(Outcome.DELIVERED, status=status)
    error = f"HTTP {status} {reason}".rstrip() + (f": {answer}" if answer else "")
    if status in _RETRY_STATUSES or status >= 500:
        retry_after = parse_retry_after(retry_header, at)
        return result(Outcome.RETRY, error, status, retry_after)
    if 300 <= status < 400:
        error = f"HTTP {status} {reason}: redirects are not followed; configure the final URL"
    return result(Outcome.FAILED, error, status)


async def _post(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
) -> tuple[int, str, str, str | None]:
    """POST and read at most the head of the answer: status, reason, text, Retry-After."""
    request = client.build_request("POST", url, content=body, headers=headers, timeout=timeout)
    response = await client.send(request, stream=True, follow_redirects=False)
    try:
        head = b""
        async for chunk in response.aiter_bytes():
            head += chunk
            if len(head) >= _ERROR_BODY_BYTES:
                break  # the rest is not needed (a short answer leaves the connection reusable)
        text = head[:_ERROR_BODY_BYTES].decode("utf-8", errors="replace")
        return (
            response.status_code,
            response.reason_phrase,
            text,
            response.headers.get("Retry-After"),
        )
    finally:
        await response.aclose()


def _describe(exc: BaseException) -> str:
    """`ConnectError: All connection attempts failed`, or the type alone when it says nothing."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _clean(error: str, url: str) -> str:
    """An error text fit for history and logs: one line, short, the URL redacted,
    personal data masked."""
    text = " ".join(error.split())
    if url:
        text = text.replace(url, redact_url(url))
    text = mask_text(text)  # before cutting: a cut ID number would no longer be found
    if len(text) > _ERROR_TEXT_CHARS:
        text = text[: _ERROR_TEXT_CHARS - 1] + "…"
    return text
