"""Channels: a rendered notice goes out to Slack, email, a JSON webhook or the console.

In: a :class:`~monitor.alerting.notice.Notice`, the delivery's ``key`` and the story's
``thread`` reference. Out: the reference later messages of the story thread on, or an error
that says only whether sending again can help. A channel never retries, never sleeps and never
puts a token, webhook URL, webhook secret or SMTP password into an error or a log line::

    channel = open_channel(config, smtp=SmtpSettings.from_env(environ), console=None)
    try:
        thread = await channel.send(notice, key=delivery_key, thread=first_message_ref)
    finally:
        await channel.aclose()

``key`` is a stable hex id of this delivery (the same after a crash and a retry); ``thread``
is what ``send`` returned for the story's first message on this channel (None for a first
message or a digest). ``send`` returns that first reference again for an update, so every
reply threads on the first message.

What each channel raises (``str()`` of each is safe to log)::

    DeliveryError
     ├─ RetryableError   the receiver or the network may recover: a 408, 429 or 5xx answer,
     │                   Slack ``ratelimited``/``internal_error``, SMTP 4xx, a refused or lost
     │                   connection, a timeout, a failed TLS handshake; ``retry_after`` holds
     │                   the receiver's Retry-After in seconds, when it gave one
     └─ PermanentError   the same message can never be accepted: another 4xx, Slack
                         ``channel_not_found``/``invalid_auth``..., SMTP 5xx, a bad address,
                         no SMTP server configured for an email channel (raised by
                         :func:`open_channel`, so a worker finds out before its first alert)

Anything else a channel raises is a bug, and keeps its type and stack trace.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Literal, Protocol, TextIO
from urllib.parse import quote, quote_plus, unquote, urlsplit

from monitor.alerting.notice import (
    ChannelConfig,
    Console,
    Email,
    Notice,
    PermanentError,
    Secret,
    SlackBot,
    SlackWebhook,
    Webhook,
)

#: A longer Retry-After is taken as this: one bad header must not silence a channel for a year.
#: What stands in for a secret in an error or log line.
REDACTED = "***"

SmtpMode = Literal["starttls", "tls"]



class Channel(Protocol):
    """One open channel of one subscriber: sends notices, classifies its failures."""

    id: str
    kind: str

    async def send(self, notice: Notice, *, key: str, thread: str | None) -> str | None:
        """Deliver ``notice``; return the reference later messages of its story thread on."""
        ...

    async def aclose(self) -> None:
        """Close the connections the channel holds."""
        ...


@dataclass(frozen=True)
class SmtpSettings:
    """Where email channels send mail, from ``NEWSWATCH_SMTP_*`` (see :meth:`from_env`).

    ``mode`` is ``"starttls"`` (plain connection, upgraded with STARTTLS when the server offers
    it) or ``"tls"`` (TLS from the first byte, usually port 465). ``ca_file`` is a CA bundle
    trusted besides the system's.
    """

    host: str
    port: int
    mode: SmtpMode
    username: str | None
    password: Secret | None
    sender: str
    ca_file: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> SmtpSettings | None:
        """Read the SMTP settings from ``environ``; None when ``NEWSWATCH_SMTP_URL`` is unset.

        - ``NEWSWATCH_SMTP_URL``: ``smtp://[user[:password]@]host[:port]`` (port 25) or
          ``smtps://...`` (implicit TLS, port 465); user and password percent-encoded
          (``p%40ss`` for ``p@ss``);
        - ``NEWSWATCH_EMAIL_FROM``: the From address, ``alerts@example.org`` or
          ``Newswatch <alerts@example.org>``; required with the URL;
        - ``NEWSWATCH_SMTP_CA_FILE``: optional PEM bundle of extra CAs to trust.

        Raise ValueError naming the variable at fault; the message never holds the password.
        """
        url = environ.get("NEWSWATCH_SMTP_URL", "").strip()
        if not url:
            return None
        name = "NEWSWATCH_SMTP_URL"
        try:
            parts = urlsplit(url)
        except ValueError:  # an unclosed "[" of an IPv6 address
            raise ValueError(f"{name}: not a URL (smtp://[user[:password]@]host[:port])") from None
        scheme = parts.scheme.lower()
        if scheme not in ("smtp", "smtps"):
            raise ValueError(f"{name}: the scheme must be smtp:// (STARTTLS when the server "
                             "offers it) or smtps:// (implicit TLS)")
        if not parts.hostname:
            raise ValueError(f"{name}: no host (smtp://[user[:password]@]host[:port])")
        try:
            port = parts.port
        except ValueError:
            port = 0
        if port is None:
            port = 465 if scheme == "smtps" else 25
        if not 0 < port < 65536:
            raise ValueError(f"{name}: the port must be a number from 1 to 65535")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError(f"{name}: nothing may follow host:port (percent-encode '/', '?' "
                             "and '#' in the user name or password)")
        username = unquote(parts.username) if parts.username else None
        password = None
        if parts.password is not None:
            if username is None:
                raise ValueError(f"{name}: a password needs a user name")
            password = Secret(unquote(parts.password), "NEWSWATCH_SMTP_URL password")

        sender = environ.get("NEWSWATCH_EMAIL_FROM", "").strip()
        if not sender:
            raise ValueError("NEWSWATCH_EMAIL_FROM: required when NEWSWATCH_SMTP_URL is set "
                             "(alerts@example.org or 'Newswatch <alerts@example.org>')")
        local, _, domain = parseaddr(sender)[1].rpartition("@")
        if not local or not domain:
            raise ValueError(f"NEWSWATCH_EMAIL_FROM: {sender!r} is not an email address")

        ca_file = environ.get("NEWSWATCH_SMTP_CA_FILE", "").strip() or None
        if ca_file is not None and not os.path.isfile(ca_file):
            raise ValueError(f"NEWSWATCH_SMTP_CA_FILE: no such file: {ca_file}")
        return cls(host=parts.hostname, port=port, mode="tls" if scheme == "smtps" else "starttls",
                   username=username, password=password, sender=sender, ca_file=ca_file)


def open_channel(config: ChannelConfig, *, smtp: SmtpSettings | None, console: TextIO | None,
                 slack_api_url: str | None = None, timeout: float = 10.0) -> Channel:
    """Open the channel ``config`` names; nothing connects before the first ``send``.

    - ``smtp``: the server for :class:`Email` channels; without it an email channel raises
      PermanentError here;
    - ``console``: the stream of :class:`Console` channels (``sys.stdout`` when None);
    - ``slack_api_url``: the Web API base URL for :class:`SlackBot` (``https://slack.com/api/``
      when None; tests point it at a local server);
    - ``timeout``: seconds each network step (connect, each read and write) may take.
    """
    # Imported here: each channel module imports this one, and a worker that only prints to
    # the console never loads the Slack, SMTP or HTTP client libraries.
    if isinstance(config, SlackWebhook):
        from monitor.alerting.channels.slack import SlackWebhookChannel

        return SlackWebhookChannel(config, timeout=timeout)
    if isinstance(config, SlackBot):
        from monitor.alerting.channels.slack import SlackBotChannel

        return SlackBotChannel(config, api_url=slack_api_url, timeout=timeout)
    if isinstance(config, Email):
        if smtp is None:
            raise PermanentError("email channel needs NEWSWATCH_SMTP_URL and "
                                 "NEWSWATCH_EMAIL_FROM: no SMTP server is configured")
        from monitor.alerting.channels.mail import EmailChannel

        return EmailChannel(config, smtp, timeout=timeout)
    if isinstance(config, Webhook):
        from monitor.alerting.channels.webhook import WebhookChannel

        return WebhookChannel(config, timeout=timeout)
    if isinstance(config, Console):
        from monitor.alerting.channels.console import ConsoleChannel

        return ConsoleChannel(config, console)
    raise TypeError(f"not a channel configuration: {type(config).__name__}")


# -- shared by the channel modules -----------------------------------------------------------
def secret_forms(value: str) -> list[str]:
    """Return ``value`` and the forms it takes inside URLs and error messages.

    - the value itself; for a URL also its address without the scheme, its path with the
      query, and its query;
    - each of those percent-encoded (``quote`` with and without ``/`` safe, ``quote_plus``)
      and percent-decoded;
    - forms shorter than 8 characters are left out (``/`` must not become ``***`` everywhere);
    - longest first, so a longer form is replaced before a part of it.
    """
    bases = {value}
    parts = urlsplit(value)
    if parts.scheme and parts.netloc:
        bases.add(value.split("://", 1)[1])
        bases.add(parts.path + (f"?{parts.query}" if parts.query else ""))
        bases.add(parts.query)
    forms = set()
    for base in bases:
        forms.update({base, quote(base, safe=""), quote(base), quote_plus(base), unquote(base)})
    return sorted((f for f in forms if len(f) >= 8), key=len, reverse=True)


def redact(text: str, secrets: Iterable[str]) -> str:
    """Return ``text`` with every form of every secret (see :func:`secret_forms`) as ``***``."""
    for form in sorted({f for s in secrets if s for f in secret_forms(s)}, key=len, reverse=True):
        text = text.replace(form, REDACTED)
    return text


def describe(exc: BaseException) -> str:
    """Return ``Type: message`` for an exception (just the type when it has no message)."""
    message = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def short(body: str, limit: int = 200) -> str:
    """Return a response body on one line, cut at ``limit`` characters."""
    text = " ".join(body.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_retryable_status(status: int) -> bool:
    """Say whether an HTTP status other than 2xx may succeed later: 408, 429 and 5xx."""
    return status in (408, 429) or status >= 500

