"""A real SMTP server on 127.0.0.1 for tests (aiosmtpd): send mail to it, assert on what arrived.

::

    cert = make_certificate(tmp_path)                 # self-signed, for IP 127.0.0.1
    with SMTPServer(tls=cert, starttls=True, users={"ana": "pw"}) as server:
        server.refuse["nobody@example.org"] = "550 5.1.1 no such user"
        ...  # send to 127.0.0.1:server.port, trusting cert.cert_file
        mail = server.messages[0]
        assert mail.tls and mail.login == "ana"

- ``tls`` with ``starttls=True``: plain connection, STARTTLS required before anything else;
  with ``implicit_tls=True``: TLS from the first byte (smtps).
- ``users``: AUTH is required and checked against them (aiosmtpd allows AUTH only over TLS,
  unless ``auth_in_clear``);
  ``auth_reply`` replaces the reply to a failed login.
- ``refuse``: the reply to ``RCPT TO`` per address; ``reply_to_data(...)``: the reply to
  ``DATA`` instead of accepting the mail.
"""

from __future__ import annotations

import email
import email.policy
import ssl
import subprocess
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.metricsread import free_port


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate for ``IP:127.0.0.1`` and its key, as PEM files."""

    cert_file: str
    key_file: str


def make_certificate(directory: Path) -> Certificate:
    """Write a self-signed certificate for 127.0.0.1 into ``directory`` with the openssl CLI."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
         "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)
    return Certificate(str(cert), str(key))


@dataclass(frozen=True)
class Received:
    """One mail as the server accepted it."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: bool
    login: str | None

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class _Handler:
    users: dict[str, str]
    auth_reply: str | None
    refuse: dict[str, str] = field(default_factory=dict)
    data_reply: str | None = None
    messages: list[Received] = field(default_factory=list)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_reply is not None:
            return self.data_reply
        transport = server.transport
        tls = transport is not None and transport.get_extra_info("ssl_object") is not None
        auth = session.auth_data
        login = auth.login.decode() if isinstance(auth, LoginPassword) else None
        content = envelope.original_content or b""
        self.messages.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos),
                                      content, tls, login))
        return "250 Message accepted"

    def authenticate(self, server: SMTP, session: Session, envelope: Envelope,
                     mechanism: str, auth_data: Any) -> AuthResult:
        if (isinstance(auth_data, LoginPassword)
                and self.users.get(auth_data.login.decode()) == auth_data.password.decode()):
            return AuthResult(success=True, auth_data=auth_data)
        if self.auth_reply is not None:
            return AuthResult(success=False, handled=False, message=self.auth_reply)
        return AuthResult(success=False, handled=False)


class SMTPServer:
    """An aiosmtpd server on a free port of 127.0.0.1, in its own thread; a context manager."""

    host = "127.0.0.1"

    def __init__(self, *, tls: Certificate | None = None, starttls: bool = False,
                 implicit_tls: bool = False, users: dict[str, str] | None = None,
                 auth_reply: str | None = None, auth_in_clear: bool = False) -> None:
        self._handler = _Handler(users=dict(users or {}), auth_reply=auth_reply)
        self.port = free_port()
        context = None
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(tls.cert_file, tls.key_file)
        kwargs: dict[str, Any] = {"server_hostname": "mail.test", "ready_timeout": 5.0}
        if context is not None and implicit_tls:
            kwargs["ssl_context"] = context
        elif context is not None and starttls:
            kwargs.update(tls_context=context, require_starttls=True)
        if users:
            kwargs.update(authenticator=self._handler.authenticate, auth_required=True,
                          auth_require_tls=not auth_in_clear)
        self._controller = Controller(self._handler, hostname=self.host, port=self.port,
                                      **kwargs)
        self.running = False

    @property
    def messages(self) -> list[Received]:
        return self._handler.messages

    @property
    def refuse(self) -> dict[str, str]:
        return self._handler.refuse

    def reply_to_data(self, reply: str | None) -> None:
        """Answer ``DATA`` with ``reply`` (None: accept and record the mail)."""
        self._handler.data_reply = reply

    def start(self) -> None:
        self._controller.start()
        self.running = True

    def stop(self) -> None:
        if self.running:
            self._controller.stop()
            self.running = False

    def __enter__(self) -> SMTPServer:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
