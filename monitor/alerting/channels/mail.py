"""Email: a notice in, one multipart mail out through the configured SMTP server.

In: a notice rendered by :func:`monitor.alerting.render.email` (subject, plain text, HTML) and
the :class:`~monitor.alerting.channels.SmtpSettings` from ``NEWSWATCH_SMTP_URL``. Out: one
``multipart/alternative`` message to the channel's addresses, and its ``Message-ID``
(``<key@sender-domain>``, the same for every retry of one delivery), which updates of the story
name in ``In-Reply-To`` and ``References`` so mail clients show one thread. This is the only
module that imports aiosmtplib. It never retries, and never puts the SMTP password into an
error (the server's reply text is redacted too).

``smtp://`` upgrades with STARTTLS when the server offers it (and insists on it when the URL
has a user: a password is never sent in the clear); ``smtps://`` speaks TLS from the
first byte. Certificates are checked against the system's CAs plus ``NEWSWATCH_SMTP_CA_FILE``.
One connection per message: alerts are few, and a held connection would time out between them.

What goes wrong, and what it raises::

    a 5xx reply (MAIL, RCPT, DATA, AUTH 535 ...)  PermanentError "smtp: <Error>: <code> <text>"
    every recipient refused, all with 5xx        PermanentError
    every recipient refused, one or more 4xx     RetryableError
    a 4xx reply (451, 421, AUTH 454 ...)         RetryableError
    connection refused, reset or lost, timeout   RetryableError
    TLS handshake or certificate failure         RetryableError
    the server lacks AUTH or STARTTLS support,   PermanentError
      an address that cannot be sent

Some recipients refused and others accepted counts as sent (sending again would repeat it to
the others); the refused addresses are logged as a warning.
"""

from __future__ import annotations

import logging
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

import aiosmtplib

from monitor.alerting import render
from monitor.alerting.channels import SmtpSettings, describe, redact
from monitor.alerting.notice import (
    DeliveryError,
    Email,
    Notice,
    PermanentError,
    RetryableError,
)

log = logging.getLogger(__name__)


def compose(notice: Notice, *, sender: str, to: tuple[str, ...], key: str,
            thread: str | None) -> EmailMessage:
    """Build the mail for ``notice``.

    - ``Message-ID``: ``<key@domain of sender>``, so a retried delivery is the same message;
    - ``In-Reply-To`` and ``References``: ``thread`` (the first message's ``Message-ID``), when
      given;
    - ``Date``: when the notice was decided, so a retry does not change the message either;
    - the body: the rendered plain text, and the HTML as its alternative.
    """
    content = render.email(notice)
    domain = parseaddr(sender)[1].rpartition("@")[2]
    message = EmailMessage()
    message["Subject"] = content.subject
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Date"] = format_datetime(notice.created)
    message["Message-ID"] = f"<{key}@{domain}>"
    if thread is not None:
        message["In-Reply-To"] = thread
        message["References"] = thread
    message.set_content(content.text)
    message.add_alternative(content.html, subtype="html")
    return message


class EmailChannel:
    """Sends each notice as one mail to the configured addresses."""

    kind = "email"

    def __init__(self, config: Email, settings: SmtpSettings, *, timeout: float = 10.0) -> None:
        """Check the addresses and load the CA bundle; raise PermanentError or ValueError."""
        if not config.to:
            raise PermanentError("email channel has no addresses to send to")
        self.id = config.id
        self._to = config.to
        self._settings = settings
        self._timeout = timeout
        self._tls = _tls_context(settings.ca_file)
        self._secrets = [settings.password.reveal()] if settings.password is not None else []

    async def send(self, notice: Notice, *, key: str, thread: str | None) -> str | None:
        """Send ``notice``; return the Message-ID of the story's first mail."""
        settings = self._settings
        message = compose(notice, sender=settings.sender, to=self._to, key=key, thread=thread)
        try:
            refused, _ = await aiosmtplib.send(
                message,
                sender=parseaddr(settings.sender)[1],
                recipients=list(self._to),
                hostname=settings.host,
                port=settings.port,
                username=settings.username,
                password=settings.password.reveal() if settings.password is not None else None,
                use_tls=settings.mode == "tls",
                # None: STARTTLS exactly when the server offers it (aiosmtplib's own rule);
                # with a login, always: a password never crosses the network in the clear,
                # even if someone on the path strips the server's offer.
                start_tls=(None if settings.username is None else True)
                if settings.mode == "starttls" else False,
                tls_context=self._tls,
                timeout=self._timeout,
            )
        except Exception as exc:
            error = self._classify(exc)
            if error is None:
                raise
            raise error from None
        if refused:
            log.warning("email %s: %d of %d recipients refused: %s", self.id, len(refused),
                        len(self._to), redact("; ".join(
                            f"{address} {reply.code}" for address, reply in refused.items()),
                            self._secrets))
        return thread if thread is not None else str(message["Message-ID"])

    async def aclose(self) -> None:
        """Nothing to close: each message has its own connection."""

    def _classify(self, exc: Exception) -> DeliveryError | None:
        """Return the delivery error ``exc`` means, or None for an exception that is a bug."""
        reason = redact(f"smtp: {describe(exc)}", self._secrets)
        if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
            codes = sorted({refused.code for refused in exc.recipients})
            replies = "; ".join(f"{r.code} {r.message}" for r in exc.recipients[:3])
            reason = redact(f"smtp: every recipient refused: {replies}", self._secrets)
            if codes and all(code >= 500 for code in codes):
                return PermanentError(reason)
            return RetryableError(reason)
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            reason = redact(f"smtp: {type(exc).__name__}: {exc.code} {exc.message}",
                            self._secrets)
            return PermanentError(reason) if exc.code >= 500 else RetryableError(reason)
        if isinstance(exc, aiosmtplib.SMTPTimeoutError | aiosmtplib.SMTPServerDisconnected
                      | aiosmtplib.SMTPConnectError):
            return RetryableError(reason)
        if isinstance(exc, aiosmtplib.SMTPException):
            # The server lacks what the settings ask for (AUTH, STARTTLS, SMTPUTF8).
            return PermanentError(reason)
        if isinstance(exc, ssl.SSLError | OSError | TimeoutError):
            return RetryableError(reason)
        if isinstance(exc, ValueError):
            # aiosmtplib refuses an address it cannot put on the wire.
            return PermanentError(reason)
        return None


def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"NEWSWATCH_SMTP_CA_FILE: cannot load {ca_file}: "
                             f"{describe(exc)}") from None
    return context
