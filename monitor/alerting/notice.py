"""What the alert stages hand each other: a notice to render, a channel to send it to, errors.

In: nothing (definitions only). Out: :class:`Notice`, one message for one subscriber on one
channel (a story's first alert, an update of it, or a digest of several); the channel
configurations a subscriber's file names (:data:`ChannelConfig`); :class:`Secret`, a value
from the environment that never shows in logs, metrics, records or errors; and the two errors
a channel raises, :class:`RetryableError` and :class:`PermanentError`. A channel only
classifies its failures; one loop (:mod:`monitor.alerting.deliver`) retries them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from monitor.article import StoryArticle, StoryEvent

NoticeKind = Literal["alert", "update", "digest"]


class Secret:
    """A value taken from the environment: ``str()`` and ``repr()`` never show it.

    ``reveal()`` is for the one place that must hand it to a client library.
    """

    __slots__ = ("_value", "name")

    def __init__(self, value: str, name: str = "") -> None:
        self._value = value
        self.name = name

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.name or '…'})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


# -- channels a subscriber can name ----------------------------------------------------------
@dataclass(frozen=True)
class SlackWebhook:
    """An incoming webhook: one channel, no threads (updates are short follow-ups)."""

    webhook_url: Secret
    id: str = ""


@dataclass(frozen=True)
class SlackBot:
    """A bot token and a channel: ``chat.postMessage``, updates as thread replies."""

    token: Secret
    channel: str
    id: str = ""


@dataclass(frozen=True)
class Email:
    """Mail to ``to`` through ``NEWSWATCH_SMTP_URL``; updates thread by ``In-Reply-To``."""

    to: tuple[str, ...]
    id: str = ""


@dataclass(frozen=True)
class Webhook:
    """A JSON POST to ``url``, its body signed with HMAC-SHA256 when ``secret`` is set."""

    url: Secret
    secret: Secret | None = None
    id: str = ""


@dataclass(frozen=True)
class Console:
    """One line per alert on the worker's standard output (``make run``'s default)."""

    id: str = ""


ChannelConfig = SlackWebhook | SlackBot | Email | Webhook | Console


def channel_kind(channel: ChannelConfig) -> str:
    """The metric label and record field of a channel: slack, email, webhook or console."""
    if isinstance(channel, SlackWebhook | SlackBot):
        return "slack"
    if isinstance(channel, Email):
        return "email"
    if isinstance(channel, Webhook):
        return "webhook"
    return "console"


def default_channel_id(kind: str, *parts: str) -> str:
    """A stable channel id from what the file says (``${VAR}`` unexpanded, never a secret)."""
    digest = hashlib.sha256("\0".join((kind, *parts)).encode("utf-8")).hexdigest()[:8]
    return f"{kind}-{digest}"


# -- what to send ----------------------------------------------------------------------------
@dataclass(frozen=True)
class NoticeItem:
    """One story in a notice: the story as it stands, what is new since the last message.

    ``event`` is the latest story event (its ``story`` lists every article, its evidence says
    why the watch topic matched); ``new_articles`` are the articles this message announces
    (all of them for a first alert); ``note`` says why the story is in a digest rather than
    sent at once ("digest", "rate limit", "quiet hours", "waiting for corroboration"), empty
    otherwise.
    """

    event: StoryEvent
    new_articles: tuple[StoryArticle, ...]
    note: str = ""


@dataclass(frozen=True)
class Notice:
    """One message for one subscriber on one channel.

    - ``alert``: one item, a story's first message;
    - ``update``: one item, later reports of a story already alerted; ``thread`` (below) is
      how the channel threads it;
    - ``digest``: one or more items, the stories held for the subscriber's next digest.
    ``created`` is when the notice was decided (digests: the digest's time).
    """

    kind: NoticeKind
    subscriber_id: str
    items: tuple[NoticeItem, ...]
    created: datetime


# -- what a channel raises -------------------------------------------------------------------
class DeliveryError(Exception):
    """A channel did not accept a message. ``str()`` is safe to log: it carries no secret."""


class RetryableError(DeliveryError):
    """Try again later: after ``retry_after`` seconds if the receiver said so."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class PermanentError(DeliveryError):
    """Sending the same message again can never succeed (Slack 400/404, SMTP 5xx)."""
