"""The email channel against a real local SMTP server, aiosmtpd (issue 5 items 1 and 5).

The server keeps what it receives, and can be told to refuse recipients or the message
with a temporary (4xx) or permanent (5xx) reply, to require a login, to offer STARTTLS
or to speak TLS from the start (with a certificate made here by `openssl`)."""

from __future__ import annotations

import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from supervisor.notify.email import FALLBACK_DOMAIN, build_message, message_id_for, send_email
from supervisor.notify.retry import Delivery, Outcome, RetryPolicy

SENDER = "河池市电子监察 <alerts@supervision.example.gov.cn>"
SENDER_IDN = "河池市电子监察 <alerts@jianchá.example.gov.cn>"
DIRECTOR = "李主任 <li@center.example.gov.cn>"
SUBJECT = "【红色预警】宜州区政务服务中心：办件超期未办结（deadline.overdue）"
TEXT = "李主任：\n宜州区政务服务中心的办件 C-1 已超期。\n请登录监察平台签收。\n"
HTML = "<p>李主任：</p><p>宜州区政务服务中心的办件 <b>C-1</b> 已超期。</p>"
NOTIFICATION = "deadline.overdue:C-1:director:451224"
NOW = datetime(2026, 11, 2, 10, 30, tzinfo=timezone(timedelta(hours=8)))


@dataclass
class Inbox:
    """The aiosmtpd handler: keeps messages, refuses what it is told to."""

    refuse: dict[str, str] = field(default_factory=dict)  # address -> reply to RCPT
    data_reply: str | None = None  # a reply to DATA instead of accepting
    received: list[tuple[str, list[str], bytes, bool]] = field(default_factory=list)

    async def handle_RCPT(  # aiosmtpd calls its hooks by these names
        self, server: Any, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        if self.data_reply is not None:
            return self.data_reply
        content = envelope.content
        assert isinstance(content, bytes) and isinstance(envelope.mail_from, str)
        self.received.append(
            (envelope.mail_from, list(envelope.rcpt_tos), content, _over_tls(server))
        )
        return "250 Message accepted for delivery"

    def parsed(self, index: int = -1) -> EmailMessage:
        message = message_from_bytes(self.received[index][2], policy=policy.default)
        assert isinstance(message, EmailMessage)
        return message


def _over_tls(server: Any) -> bool:
    """Whether the SMTP session is encrypted (STARTTLS or TLS from the start)."""
    return server.transport.get_extra_info("ssl_object") is not None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    inbox: Inbox
    controller: Controller

    @property
    def port(self) -> int:
        return int(self.controller.port)


def start_server(**kwargs: Any) -> Server:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    return Server(inbox, controller)


@pytest.fixture
def smtp() -> Iterator[Server]:
    server = start_server()
    yield server
    server.controller.stop()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (cert, key), made with openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("openssl is needed to make the TLS tests' certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def client_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


async def send(server: Server, **kwargs: Any) -> Delivery:
    arguments: dict[str, Any] = {
        "message_id": NOTIFICATION,
        "timeout": 5.0,
        "local_hostname": "localhost",
        "now": NOW,
    }
    arguments.update(kwargs)
    to = arguments.pop("to", DIRECTOR)
    sender = arguments.pop("sender", SENDER)
    return await send_email("127.0.0.1", server.port, sender, to, SUBJECT, TEXT, HTML, **arguments)


# -- the message -------------------------------------------------------------------------


async def test_delivered_with_zh_cn_subject_both_parts_and_message_id(smtp: Server) -> None:
    delivery = await send(smtp)
    assert delivery.outcome is Outcome.DELIVERED and delivery.error is None
    assert delivery.channel == "email" and delivery.at == NOW
    [(mail_from, rcpt_tos, raw, _)] = smtp.inbox.received
    assert mail_from == "alerts@supervision.example.gov.cn"
    assert rcpt_tos == ["li@center.example.gov.cn"]
    # on the wire the headers are ASCII: the Chinese subject travels as RFC 2047 words
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    assert re.search(rb"^Subject: =\?utf-8\?[bq]\?", head, re.MULTILINE | re.IGNORECASE)
    message = smtp.inbox.parsed()
    assert message["Subject"] == SUBJECT
    assert message["From"].addresses[0].display_name == "河池市电子监察"
    assert message["To"].addresses[0].display_name == "李主任"
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    assert all(part.get_content_charset() == "utf-8" for part in parts)
    assert isinstance(parts[0], EmailMessage) and isinstance(parts[1], EmailMessage)
    # MIME text travels with CRLF line ends
    assert parts[0].get_content().replace("\r\n", "\n") == TEXT
    assert parts[1].get_content().strip() == HTML
    # (long enough to be folded onto its own line: parsed back with the folding space)
    assert message["Message-ID"].strip() == message_id_for(NOTIFICATION, SENDER)
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["X-Supervisor-Notification"] == NOTIFICATION
    assert message["Date"].datetime == NOW


async def test_a_retry_carries_the_same_message_id(smtp: Server) -> None:
    await send(smtp)
    await send(smtp, now=NOW + timedelta(minutes=5))
    await send(smtp, message_id="deadline.overdue:C-2:director:451224")
    ids = [smtp.inbox.parsed(i)["Message-ID"].strip() for i in range(3)]
    assert ids[0] == ids[1] != ids[2]


def test_message_id_is_derived_one_to_one_from_the_notification_id() -> None:
    ids = ["a:b", "a.b", "a%3Ab", "a_b", "a-b", "办件:1", "a b", "a/b", "a%b"]
    made = [message_id_for(i, "x@example.org") for i in ids]
    assert len(set(made)) == len(ids)
    pattern = re.compile(r"^<[A-Za-z0-9%_-]+@[a-z0-9.-]+>$")
    assert all(pattern.fullmatch(m) for m in made), made
    assert message_id_for("deadline.overdue:C-1", SENDER) == (
        "<deadline%2Eoverdue%3AC-1@supervision.example.gov.cn>"
    )
    # the domain: the sender's, in ASCII; a fallback when there is none
    idna = "jianchá".encode("idna").decode("ascii")
    assert idna.startswith("xn--")
    assert message_id_for("n", SENDER_IDN) == f"<n@{idna}.example.gov.cn>"
    assert message_id_for("n", "no address") == f"<n@{FALLBACK_DOMAIN}>"
    assert message_id_for("n", "x@bad_domain!") == f"<n@{FALLBACK_DOMAIN}>"
    with pytest.raises(ValueError):
        message_id_for("", SENDER)


def test_build_message_keeps_the_subject_on_one_line_and_needs_a_recipient() -> None:
    message = build_message(
        SENDER, ["a@example.org", "b@example.org"], "一\n二\r\n三", "t", "<p>h</p>",
        message_id="n", now=NOW,
    )  # fmt: skip
    assert message["Subject"] == "一 二 三"
    assert [a.addr_spec for a in message["To"].addresses] == ["a@example.org", "b@example.org"]
    for nobody in ([], "", ["  "]):
        with pytest.raises(ValueError):
            build_message(SENDER, nobody, "s", "t", "h", message_id="n")


async def test_several_recipients_one_message(smtp: Server) -> None:
    delivery = await send(smtp, to=["a@example.org", "张三 <b@example.org>"])
    assert delivery.delivered
    [(_, rcpt_tos, _, _)] = smtp.inbox.received
    assert rcpt_tos == ["a@example.org", "b@example.org"]


# -- the server's answers -----------------------------------------------------------------


async def test_a_temporary_refusal_is_retried(smtp: Server) -> None:
    smtp.inbox.data_reply = "451 4.3.0 Mail server temporarily rejected message"
    delivery = await send(smtp)
    assert (delivery.outcome, delivery.status) == (Outcome.RETRY, 451)
    assert "temporarily rejected" in (delivery.error or "")
    assert RetryPolicy().record(1, delivery, _Half()).next_at is not None


async def test_a_permanent_refusal_fails_for_good(smtp: Server) -> None:
    smtp.inbox.data_reply = "554 5.7.1 Message rejected as spam"
    delivery = await send(smtp)
    assert (delivery.outcome, delivery.status) == (Outcome.FAILED, 554)
    assert RetryPolicy().record(1, delivery, _Half()).dead


async def test_recipients_refused(smtp: Server) -> None:
    smtp.inbox.refuse = {
        "gone@example.org": "550 5.1.1 No such user",
        "full@example.org": "452 4.2.2 Mailbox full",
    }
    gone = await send(smtp, to="gone@example.org")
    assert (gone.outcome, gone.status) == (Outcome.FAILED, 550)
    assert "gone@example.org: 550 5.1.1 No such user" in (gone.error or "")
    full = await send(smtp, to="full@example.org")
    assert (full.outcome, full.status) == (Outcome.RETRY, 452)
    # one refused, the other accepted: delivered, the refusal kept in the error
    partly = await send(smtp, to=["gone@example.org", "ok@example.org"])
    assert partly.outcome is Outcome.DELIVERED
    assert "some recipients refused: gone@example.org: 550" in (partly.error or "")
    assert [r[1] for r in smtp.inbox.received] == [["ok@example.org"]]


async def test_nobody_listening_is_retried() -> None:
    delivery = await send_email(
        "127.0.0.1", free_port(), SENDER, DIRECTOR, SUBJECT, TEXT, HTML,
        message_id=NOTIFICATION, timeout=2, local_hostname="localhost",
    )  # fmt: skip
    assert delivery.outcome is Outcome.RETRY
    assert "ConnectionRefusedError" in (delivery.error or "")


async def test_a_server_that_never_answers_times_out_and_is_retried() -> None:
    with socket.socket() as silent:  # accepts connections (the kernel does), says nothing
        silent.bind(("127.0.0.1", 0))
        silent.listen(5)
        started = time.perf_counter()
        delivery = await send_email(
            "127.0.0.1", silent.getsockname()[1], SENDER, DIRECTOR, SUBJECT, TEXT, HTML,
            message_id=NOTIFICATION, timeout=0.5, local_hostname="localhost",
        )  # fmt: skip
    assert time.perf_counter() - started < 3
    assert (delivery.outcome, delivery.error) == (Outcome.RETRY, "no answer within 0.5 s")


# -- login and TLS ---------------------------------------------------------------------------


class _Half:
    def random(self) -> float:
        return 0.5


def _authenticator(
    server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        b"alerts",
        b"p@ss-word",
    )
    return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd replies 535


async def test_login(certificate: tuple[Path, Path]) -> None:
    server = start_server(
        authenticator=_authenticator,
        auth_require_tls=True,
        tls_context=server_context(certificate),
    )
    try:
        context = client_context(certificate)
        ok = await send(
            server, starttls=True, tls_context=context, username="alerts", password="p@ss-word"
        )
        assert ok.delivered
        assert server.inbox.received[-1][3]  # the message travelled over TLS
        refused = await send(
            server, starttls=True, tls_context=context, username="alerts", password="wrong-pw"
        )
        assert (refused.outcome, refused.status) == (Outcome.FAILED, 535), refused
        assert "wrong-pw" not in (refused.error or "")
        # no STARTTLS: this server will not take a password in the clear
        clear = await send(server, username="alerts", password="p@ss-word")
        assert clear.outcome is Outcome.FAILED
        # smtplib sends only ASCII credentials: a clear failure, the password not shown
        unicode = await send(
            server, starttls=True, tls_context=context, username="alerts", password="p@ss-密码"
        )
        assert unicode.outcome is Outcome.FAILED
        assert "密" not in (unicode.error or "") and "not ASCII" in (unicode.error or "")
    finally:
        server.controller.stop()


async def test_starttls_verifies_the_certificate(certificate: tuple[Path, Path]) -> None:
    server = start_server(tls_context=server_context(certificate))
    try:
        ok = await send(server, starttls=True, tls_context=client_context(certificate))
        assert ok.delivered and server.inbox.received[-1][3]
        # the system's authorities do not know this self-signed certificate
        untrusted = await send(server, starttls=True)
        assert untrusted.outcome is Outcome.FAILED
        assert "certificate" in (untrusted.error or "")
        assert len(server.inbox.received) == 1
    finally:
        server.controller.stop()


async def test_starttls_asked_of_a_server_without_it_fails(smtp: Server) -> None:
    delivery = await send(smtp, starttls=True)
    assert delivery.outcome is Outcome.FAILED
    assert "STARTTLS" in (delivery.error or "")
    assert not smtp.inbox.received


async def test_implicit_tls(certificate: tuple[Path, Path]) -> None:
    server = start_server(ssl_context=server_context(certificate), server_hostname="127.0.0.1")
    try:
        delivery = await send(server, implicit_tls=True, tls_context=client_context(certificate))
        assert delivery.delivered and server.inbox.received[-1][3]
    finally:
        server.controller.stop()
    with pytest.raises(ValueError):
        await send(server, implicit_tls=True, starttls=True)


async def test_error_text_masks_personal_data(smtp: Server) -> None:
    smtp.inbox.data_reply = "550 5.7.1 content refused: 452701199001011234"
    delivery = await send(smtp)
    assert delivery.outcome is Outcome.FAILED
    assert "452701199001011234" not in (delivery.error or "")
    assert "4527**********1234" in (delivery.error or "")


def test_now_defaults_to_the_clock() -> None:
    message = build_message(SENDER, DIRECTOR, "s", "t", "h", message_id="n")
    assert abs(message["Date"].datetime - datetime.now(UTC)) < timedelta(minutes=1)
