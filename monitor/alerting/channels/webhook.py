"""Webhook: a notice in, one signed JSON POST out to the subscriber's own receiver.

In: a notice rendered by :func:`monitor.alerting.render.webhook`. Out: a POST of that object
with two more fields, ``"delivery"`` (the delivery key, the same for every retry of one
delivery: receivers deduplicate on it) and ``"thread"`` (the ``delivery`` of the story's first
message, null for a first message or a digest); ``send`` returns that first ``delivery``. This
is the only module of the alerting stage that imports httpx. It never follows redirects, never
retries, and never shows more of the URL than ``scheme://host[:port]`` or anything of the
secret.

Headers of every POST::

    Content-Type: application/json
    X-Newswatch-Delivery: <key>
    X-Newswatch-Timestamp: <unix seconds>                       (with a secret)
    X-Newswatch-Signature: sha256=<hex>                         (with a secret)

The signature is HMAC-SHA256, keyed with the UTF-8 bytes of the secret, over the ASCII
timestamp, a dot, and the body exactly as received. To verify, in Python::

    signed = request.headers["X-Newswatch-Timestamp"].encode() + b"." + request.body
    expected = "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    ok = hmac.compare_digest(expected, request.headers["X-Newswatch-Signature"])
    fresh = abs(time.time() - int(request.headers["X-Newswatch-Timestamp"])) < 300

(reject stale timestamps so a captured request cannot be replayed later). Answers::

    2xx                                   accepted
    408, 429, 5xx                         RetryableError (retry_after from Retry-After:
                                          seconds or an HTTP date)
    other 4xx, 3xx                        PermanentError "webhook <scheme://host>: HTTP ..."
    connection refused or lost, timeout   RetryableError
    a URL httpx cannot send to            PermanentError
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from monitor import __version__
from monitor.alerting import render
from monitor.alerting.channels import (
    describe,
    is_retryable_status,
    redact,
    short,
)
from monitor.alerting.notice import Notice, PermanentError, RetryableError, Webhook
from monitor.retryafter import parse_retry_after

USER_AGENT = f"newswatch/{__version__}"
#: How much of an error answer is read, for the reason of the error.
ERROR_BODY_BYTES = 1024


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Return the ``X-Newswatch-Signature`` value of ``body`` sent at ``timestamp``."""
    signed = timestamp.encode("ascii") + b"." + body
    return "sha256=" + hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def display_url(url: str) -> str:
    """Return the part of a webhook URL that may be shown: ``scheme://host[:port]``."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme or '?'}://{host}{port}"


class WebhookChannel:
    """POSTs each notice as JSON to one URL, signed when the channel has a secret."""

    kind = "webhook"

    def __init__(self, config: Webhook, *, timeout: float = 10.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.id = config.id
        self._url = config.url
        self._secret = config.secret
        self._clock = clock
        self._shown = display_url(config.url.reveal())
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            # No proxies or ~/.netrc credentials from the environment: Settings is its reader.
            trust_env=False,
            headers={"User-Agent": USER_AGENT},
        )

    async def send(self, notice: Notice, *, key: str, thread: str | None) -> str | None:
        """POST ``notice``; return the ``delivery`` of the story's first message."""
        payload = {**render.webhook(notice), "delivery": key, "thread": thread}
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {"Content-Type": "application/json", "X-Newswatch-Delivery": key}
        if self._secret is not None:
            timestamp = str(int(self._clock()))
            headers["X-Newswatch-Timestamp"] = timestamp
            headers["X-Newswatch-Signature"] = sign(self._secret.reveal(), timestamp, body)
        try:
            async with self._client.stream("POST", self._url.reveal(), content=body,
                                           headers=headers) as response:
                status = response.status_code
                if 200 <= status < 300:
                    return thread if thread is not None else key
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                answer = await _read_head(response, ERROR_BODY_BYTES)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise PermanentError(self._reason(describe(exc))) from None
        except (httpx.HTTPError, OSError) as exc:
            raise RetryableError(self._reason(describe(exc))) from None
        reason = self._reason(f"HTTP {status} {short(answer.decode('utf-8', 'replace'))}")
        if is_retryable_status(status):
            raise RetryableError(reason, retry_after)
        raise PermanentError(reason)

    async def aclose(self) -> None:
        await self._client.aclose()

    def _reason(self, text: str) -> str:
        secrets = [self._url.reveal()]
        if self._secret is not None:
            secrets.append(self._secret.reveal())
        return f"webhook {self._shown}: {redact(text, secrets)}".rstrip()


async def _read_head(response: httpx.Response, limit: int) -> bytes:
    """Read at most ``limit`` bytes of a body: an error page is for the log, not for memory."""
    head = b""
    async for chunk in response.aiter_bytes():
        head += chunk
        if len(head) >= limit:
            break
    return head[:limit]
