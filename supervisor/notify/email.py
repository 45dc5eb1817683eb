"""The email channel: one SMTP message, plain text and HTML.

`build_message` makes the message (pure, for tests and previews); `send_email` makes one
attempt to hand it to an SMTP server and returns a `Delivery` (retry.py decides what
comes next). The standard library does the work (`email` to build, `smtplib` to send, in
a thread), so the channel adds no dependency.

- `multipart/alternative`: a `text/plain` part, then a `text/html` part (mail readers
  show the last one they can), both UTF-8; the zh-CN subject and display names are
  encoded as RFC 2047 words (`=?utf-8?b?…?=`), which every reader decodes.
- `Message-ID` is derived from the notification id alone (`message_id_for`), so each
  retry of one notification carries the same id: mail servers and readers that
  de-duplicate by Message-ID show it once, and anyone can match a message to the
  notification's history. `Auto-Submitted: auto-generated` (RFC 3834) keeps
  out-of-office replies away.
- Outcomes: accepted delivered (some recipients refused, the others accepted:
  delivered, with the refusals in `error`); an SMTP 4xx reply, a dropped connection, a
  timeout or a network error retry; an SMTP 5xx reply (a bad address, a refused login),
  a server without STARTTLS when asked for it, or a certificate that does not verify
  fail for good.

SMTP itself has no idempotency: a connection lost after the server took the message but
before it said so is retried, and the message can arrive twice, with the same
Message-ID. `timeout` bounds each network operation (connecting, each command), as
smtplib does; a cancelled caller does not stop an attempt already in its thread.
"""

from __future__ import annotations

import asyncio
import re
import smtplib
import ssl
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Final

from supervisor.masking import mask_text
from supervisor.notify.retry import Delivery, Outcome

#: Characters of a notification id kept as they are in the Message-ID's left part;
#: every other byte of its UTF-8 is written %XX (so the mapping is one to one).
_ID_SAFE: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_DOT_ATOM: Final = re.compile(r"^[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*$")
#: The Message-ID's right part when the sender's domain cannot be used.
FALLBACK_DOMAIN: Final = "supervisor.invalid"
_ERROR_TEXT_CHARS: Final = 300


def message_id_for(notification_id: str, sender: str) -> str:
    """`<id@domain>` for a notification: the id with every character other than
    letters, digits, - and _ written as %XX of its UTF-8 bytes, at the sender's domain.
    The same notification id always gives the same Message-ID."""
    if not notification_id:
        raise ValueError("a notification id must not be empty")
    left = "".join(
        char if char in _ID_SAFE else "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))
        for char in notification_id
    )
    return f"<{left}@{_domain(sender)}>"


def _domain(sender: str) -> str:
    local, at, domain = parseaddr(sender)[1].rpartition("@")
    if not (local and at):
        return FALLBACK_DOMAIN
    domain = domain.strip().rstrip(".")
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return FALLBACK_DOMAIN
    return domain.lower() if _DOT_ATOM.fullmatch(domain) else FALLBACK_DOMAIN


def build_message(
    sender: str,
    to: str | Sequence[str],
    subject: str,
    text: str,
    html: str,
    *,
    message_id: str,
    now: datetime | None = None,
) -> EmailMessage:
    """The message: `sender` and `to` as addresses, optionally with a display name
    (`河池市电子监察 <alerts@example.gov.cn>`); `subject` on one line (line breaks in it
    become spaces); `message_id` the notification id (see `message_id_for`); `now` the
    Date header (default the clock)."""
    recipients = [to] if isinstance(to, str) else list(to)
    if not recipients or not all(address.strip() for address in recipients):
        raise ValueError("an email needs at least one recipient")
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = sender
    message["To"] = ", ".join(address.strip() for address in recipients)
    message["Subject"] = " ".join(subject.split())
    message["Date"] = format_datetime(now if now is not None else datetime.now(UTC))
    message["Message-ID"] = message_id_for(message_id, sender)
    message["Auto-Submitted"] = "auto-generated"
    message["X-Supervisor-Notification"] = message_id
    message.set_content(text, subtype="plain", charset="utf-8")
    message.add_alternative(html, subtype="html", charset="utf-8")
    return message


async def send_email(
    smtp_host: str,
    smtp_port: int,
    sender: str,
    to: str | Sequence[str],
    subject: str,
    text: str,
    html: str,
    *,
    message_id: str,
    starttls: bool = False,
    username: str | None = None,
    password: str | None = None,
    timeout: float,
    implicit_tls: bool = False,
    tls_context: ssl.SSLContext | None = None,
    local_hostname: str | None = None,
    now: datetime | None = None,
) -> Delivery:
    """One attempt to send the message (`build_message`) through `smtp_host:smtp_port`.

    `starttls` upgrades a plain connection (port 587); `implicit_tls` speaks TLS from
    the start (port 465); `tls_context` verifies the server (default: the system's
    certificate authorities and the host name). `username` and `password` log in, after
    STARTTLS when asked for. `local_hostname` is the name given in EHLO (default this
    machine's). Raises ValueError only for a caller's mistake (no recipient, both TLS
    modes)."""
    if starttls and implicit_tls:
        raise ValueError("starttls and implicit_tls exclude each other")
    at = now if now is not None else datetime.now(UTC)
    message = build_message(sender, to, subject, text, html, message_id=message_id, now=at)
    started = time.perf_counter()
    outcome, status, error = await asyncio.to_thread(
        _send,
        message,
        smtp_host,
        smtp_port,
        starttls=starttls,
        implicit_tls=implicit_tls,
        tls_context=tls_context,
        username=username,
        password=password,
        timeout=timeout,
        local_hostname=local_hostname,
    )
    return Delivery(
        channel="email",
        outcome=outcome,
        at=at,
        status=status,
        error=_clean(error, password) if error is not None else None,
        elapsed=time.perf_counter() - started,
    )


def _send(
    message: EmailMessage,
    host: str,
    port: int,
    *,
    starttls: bool,
    implicit_tls: bool,
    tls_context: ssl.SSLContext | None,
    username: str | None,
    password: str | None,
    timeout: float,
    local_hostname: str | None,
) -> tuple[Outcome, int | None, str | None]:
    """Send in this thread; never raises for what the server or the network does."""
    context = tls_context if tls_context is not None else ssl.create_default_context()
    smtp: smtplib.SMTP | None = None
    try:
        if implicit_tls:
            smtp = smtplib.SMTP_SSL(
                host, port, local_hostname=local_hostname, timeout=timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(host, port, local_hostname=local_hostname, timeout=timeout)
        if starttls:
            smtp.starttls(context=context)
        if username is not None:
            smtp.login(username, password or "")
        refused = smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        outcome = Outcome.RETRY if any(400 <= code < 500 for code in codes) else Outcome.FAILED
        status = next((code for code in codes if 400 <= code < 500), codes[0] if codes else None)
        return outcome, status, "every recipient refused: " + _refusals(exc.recipients)
    except smtplib.SMTPResponseException as exc:
        code = exc.smtp_code
        reply = _reply(exc.smtp_error)
        outcome = Outcome.FAILED if 500 <= code < 600 else Outcome.RETRY
        return outcome, code, f"SMTP {code} {reply}".rstrip()
    except smtplib.SMTPServerDisconnected as exc:
        if isinstance(exc.__context__, TimeoutError):  # smtplib turns a timeout into this
            return Outcome.RETRY, None, f"no answer within {timeout:g} s"
        return Outcome.RETRY, None, f"connection closed by the server: {exc}"
    except smtplib.SMTPNotSupportedError as exc:
        return Outcome.FAILED, None, f"not offered by the server: {exc}"
    except smtplib.SMTPException as exc:
        return Outcome.FAILED, None, f"{type(exc).__name__}: {exc}"
    except ssl.SSLCertVerificationError as exc:
        return Outcome.FAILED, None, f"the server's certificate does not verify: {exc}"
    except UnicodeError:
        # smtplib encodes credentials (and, without SMTPUTF8, addresses) as ASCII; the
        # exception's text would show the character, so it is not repeated
        return Outcome.FAILED, None, "a user name, password or address is not ASCII"
    except TimeoutError:
        return Outcome.RETRY, None, f"no answer within {timeout:g} s"
    except OSError as exc:
        return Outcome.RETRY, None, f"{type(exc).__name__}: {exc}"
    finally:
        if smtp is not None:
            _quit(smtp)
    if refused:
        return Outcome.DELIVERED, None, "some recipients refused: " + _refusals(refused)
    return Outcome.DELIVERED, None, None


def _quit(smtp: smtplib.SMTP) -> None:
    """End the session politely; the message's fate is already known, so any failure
    here changes nothing."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _reply(text: bytes | str) -> str:
    return text.decode("utf-8", errors="replace") if isinstance(text, bytes) else str(text)


def _refusals(recipients: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(
        f"{address}: {code} {_reply(reply)}" for address, (code, reply) in recipients.items()
    )


def _clean(error: str, password: str | None) -> str:
    """An error text fit for history and logs: one line, short, no password, personal
    data masked."""
    text = " ".join(error.split())
    if password:
        text = text.replace(password, "***")
    text = mask_text(text)
    if len(text) > _ERROR_TEXT_CHARS:
        text = text[: _ERROR_TEXT_CHARS - 1] + "…"
    return text
