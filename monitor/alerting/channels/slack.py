"""Slack: a notice in, one Slack message out, by incoming webhook or by bot token.

In: a notice rendered by :func:`monitor.alerting.render.slack` (fallback ``text`` and Block Kit
``blocks``). Out: for a bot, the ``ts`` of the story's first message, which later updates
reply to in its thread; for an incoming webhook, None (a webhook cannot thread). Link and
media previews are off: an alert shows what newswatch says, not the outlet's card. This is the
only module that imports slack_sdk and aiohttp (slack_sdk's transport).

It never retries (slack_sdk's retry handlers are switched off: the delivery loop retries,
honouring ``retry_after``, without holding the event loop) and never shows the bot token or
the webhook URL (which is itself a credential): both are replaced by ``***`` in every error.

Incoming webhook (``SlackWebhookChannel``)::

    2xx                                   accepted
    408, 429, 5xx                         RetryableError (retry_after from Retry-After)
    other 4xx (400 invalid_payload,       PermanentError "slack webhook: HTTP <status> <body>"
      403 action_prohibited, 404 no_team
      or channel_not_found, 410 channel_is_archived), 3xx
    connection refused or lost, timeout   RetryableError

Bot, ``chat.postMessage`` (``SlackBotChannel``)::

    ok: true                              accepted; returns ``ts`` (an update: ``thread``)
    HTTP 429 or error "ratelimited"       RetryableError (retry_after from Retry-After)
    error in PERMANENT_ERRORS             PermanentError "slack chat.postMessage: <error>"
    any other error, 5xx, no JSON         RetryableError
    connection refused or lost, timeout   RetryableError
"""

from __future__ import annotations

import math
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from monitor.alerting import render
from monitor.alerting.channels import (
    describe,
    is_retryable_status,
    redact,
    short,
)
from monitor.alerting.notice import (
    DeliveryError,
    Notice,
    PermanentError,
    RetryableError,
    SlackBot,
    SlackWebhook,
)
from monitor.retryafter import parse_retry_after

#: ``chat.postMessage`` errors that sending the same message again cannot fix: the token, the
#: channel or the message itself is wrong. Every other error is retried.
PERMANENT_ERRORS = frozenset({
    # the token
    "invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
    "missing_scope", "not_allowed_token_type", "no_permission", "team_access_not_granted",
    # the channel
    "channel_not_found", "not_in_channel", "is_archived", "restricted_action",
    "restricted_action_read_only_channel", "restricted_action_thread_only_channel",
    "restricted_action_non_threadable_channel",
    # the message
    "msg_too_long", "invalid_blocks", "invalid_blocks_format", "invalid_arguments", "no_text",
    "too_many_attachments",
})

#: Errors of the transport: the connection was refused, lost or timed out.
_NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)


class _Session:
    """One aiohttp session per channel, opened on the first send (it needs a running loop)."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def get(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout))
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class SlackWebhookChannel:
    """Posts to one Slack incoming webhook; no threads, so every send returns None."""

    kind = "slack"

    def __init__(self, config: SlackWebhook, *, timeout: float = 10.0) -> None:
        self.id = config.id
        self._url = config.webhook_url
        self._timeout = timeout
        self._session = _Session(timeout)
        self._client: AsyncWebhookClient | None = None

    async def send(self, notice: Notice, *, key: str, thread: str | None) -> str | None:
        """Post ``notice``; raise RetryableError or PermanentError when Slack does not take it."""
        content = render.slack(notice)
        try:
            response = await self._webhook().send(
                text=content.text, blocks=content.blocks, unfurl_links=False, unfurl_media=False)
        except _NETWORK_ERRORS as exc:
            raise RetryableError(self._redact(describe(exc))) from None
        status = response.status_code
        if 200 <= status < 300:
            return None
        reason = self._redact(f"HTTP {status} {short(response.body or '')}".rstrip())
        if is_retryable_status(status):
            raise RetryableError(reason, parse_retry_after(response.headers.get("Retry-After")))
        raise PermanentError(reason)

    async def aclose(self) -> None:
        await self._session.aclose()

    def _webhook(self) -> AsyncWebhookClient:
        session = self._session.get()
        if self._client is None or self._client.session is not session:
            self._client = AsyncWebhookClient(
                self._url.reveal(), timeout=math.ceil(self._timeout), session=session,
                retry_handlers=[])
        return self._client

    def _redact(self, reason: str) -> str:
        return redact(f"slack webhook: {reason}", [self._url.reveal()])


class SlackBotChannel:
    """Posts with a bot token to one channel; an update replies in the first message's thread."""

    kind = "slack"

    def __init__(self, config: SlackBot, *, api_url: str | None = None,
                 timeout: float = 10.0) -> None:
        self.id = config.id
        self._token = config.token
        self._channel = config.channel
        self._api_url = api_url or AsyncWebClient.BASE_URL
        self._timeout = timeout
        self._session = _Session(timeout)
        self._client: AsyncWebClient | None = None

    async def send(self, notice: Notice, *, key: str, thread: str | None) -> str | None:
        """Post ``notice`` (in ``thread`` when given); return the thread's first ``ts``."""
        content = render.slack(notice)
        try:
            response = await self._web().chat_postMessage(
                channel=self._channel, text=content.text, blocks=content.blocks,
                thread_ts=thread, unfurl_links=False, unfurl_media=False,
                # The delivery id, as for email and webhooks (a message sent again after a
                # crash can be told from a new one), and what the message announces.
                metadata={"event_type": "newswatch_alert", "event_payload": {
                    "delivery": key, "kind": notice.kind,
                    "stories": [i.event.story.story_id for i in notice.items][:50],
                    "articles": [a.article_id for i in notice.items
                                 for a in i.new_articles][:50]}})
        except SlackApiError as exc:
            raise self._api_error(exc) from None
        except _NETWORK_ERRORS as exc:
            raise RetryableError(self._redact(describe(exc))) from None
        if thread is not None:
            return thread
        ts = response.get("ts")
        return ts if isinstance(ts, str) and ts else None

    async def aclose(self) -> None:
        await self._session.aclose()

    def _web(self) -> AsyncWebClient:
        session = self._session.get()
        if self._client is None or self._client.session is not session:
            self._client = AsyncWebClient(
                token=self._token.reveal(), base_url=self._api_url,
                timeout=math.ceil(self._timeout), session=session, retry_handlers=[])
        return self._client

    def _api_error(self, exc: SlackApiError) -> DeliveryError:
        response: Any = exc.response
        # An AsyncSlackResponse has status_code and data; a body that was not JSON leaves
        # slack_sdk holding aiohttp's response, which has status and no data.
        status = getattr(response, "status_code", None) or getattr(response, "status", 0)
        data = getattr(response, "data", None)
        error = str(data.get("error") or "") if isinstance(data, dict) else ""
        headers = getattr(response, "headers", None) or {}
        reason = self._redact(f"HTTP {status} {error or 'no Slack error code'}")
        if status == 429 or error == "ratelimited":
            return RetryableError(reason, parse_retry_after(headers.get("Retry-After")))
        if error in PERMANENT_ERRORS:
            return PermanentError(reason)
        return RetryableError(reason)

    def _redact(self, reason: str) -> str:
        return redact(f"slack chat.postMessage: {reason}", [self._token.reveal()])
