"""Where a subscriber is alerted: the ``channels:`` of a subscribers file, secrets resolved.

In: one parsed subscribers file (:class:`~monitor.yamlfile.YamlDoc`) and the environment for
its ``${VAR}`` secrets. Out: :class:`~monitor.alerting.notice.ChannelConfig` values, each with
its ``id`` set, and every mistake as a :class:`~monitor.yamlfile.ConfigError`. It never shows a
secret: no error carries an expanded ``${VAR}``, and a secret written literally is refused
without being repeated. The rules are in :mod:`monitor.alerting.subscribers`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from monitor.alerting.notice import (
    ChannelConfig,
    Console,
    Email,
    Secret,
    SlackBot,
    SlackWebhook,
    Webhook,
    default_channel_id,
)
from monitor.yamlfile import ID_PATTERN, ConfigError, FieldPath, YamlDoc

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}\Z")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_EMAIL = re.compile(rf"[^@\s<>,;\"]+@{_LABEL}(?:\.{_LABEL})*\Z")
_SLACK_CHANNEL = re.compile(r"[CGD][A-Z0-9]{6,}\Z|#[a-z0-9][a-z0-9._-]{0,79}\Z")
_CHANNEL_KINDS = ("slack", "email", "webhook", "console")


class ChannelReader:
    """Reads channels of one parsed file; every method appends its mistakes to ``errors``.

    A method returns None (or an empty value) for what it could not read; since any error
    fails the whole file, such placeholders never leave
    :func:`~monitor.alerting.subscribers.load_subscribers`. ``fail``, ``required`` and
    ``unknown`` are the checks every part of the file shares.
    """

    def __init__(self, doc: YamlDoc, environ: Mapping[str, str], allow_unset: bool) -> None:
        self.doc = doc
        self.environ = environ
        self.allow_unset = allow_unset
        self.errors: list[ConfigError] = []

    def fail(self, at: FieldPath, message: str) -> None:
        self.errors.append(self.doc.error(at, message))

    def channels(self, at: FieldPath, value: Any) -> tuple[ChannelConfig, ...]:
        if not isinstance(value, list) or not value:
            self.fail(at, "expected a non-empty list of channels, such as "
                          "- email: {to: [desk@example.org]}")
            return ()
        out: list[ChannelConfig] = []
        seen: dict[str, int] = {}
        for i, item in enumerate(value):
            channel = self.channel((*at, i), item)
            if channel is None:
                continue
            if channel.id in seen:
                self.fail((*at, i), f"duplicate channel id {channel.id!r} (also "
                                    f"channels[{seen[channel.id]}]): give one of them its own id:")
            else:
                seen[channel.id] = i
                out.append(channel)
        return tuple(out)

    def channel(self, at: FieldPath, item: Any) -> ChannelConfig | None:
        if not isinstance(item, dict) or len(item) != 1:
            hint = "; put id: inside it" if isinstance(item, dict) and "id" in item else ""
            self.fail(at, "a channel is one mapping: slack: {...}, email: {...}, webhook: {...} "
                          f"or console: {{}}{hint}")
            return None
        [(kind, spec)] = item.items()
        if kind == "console":
            return self.console((*at, kind), spec)
        if kind not in _CHANNEL_KINDS:
            self.unknown(at, item, _CHANNEL_KINDS)
            return None
        if not isinstance(spec, dict):
            self.fail((*at, kind), f"expected a mapping such as {_CHANNEL_EXAMPLES[kind]}")
            return None
        read = {"slack": self.slack, "email": self.email, "webhook": self.webhook}[kind]
        return read((*at, kind), spec)

    def slack(self, at: FieldPath, spec: dict[str, Any]) -> ChannelConfig | None:
        if "webhook_url" in spec and "token" in spec:
            self.fail(at, "give webhook_url (an incoming webhook) or token with channel (a bot), "
                          "not both")
            return None
        if "token" not in spec:
            self.unknown(at, spec, ("webhook_url", "id"))
            url = self.secret(at, spec, "webhook_url")
            channel_id = self.channel_id(at, spec, "slack", url[1] if url else "")
            return SlackWebhook(url[0], channel_id) if url and channel_id else None
        self.unknown(at, spec, ("token", "channel", "id"))
        token = self.secret(at, spec, "token")
        name = spec.get("channel")
        if self.required(at, spec, "channel") and (
                not isinstance(name, str) or not _SLACK_CHANNEL.match(name)):
            self.fail((*at, "channel"), f"expected a Slack channel id such as C0123ABC or a "
                                        f"#name, got {name!r}")
        channel_id = self.channel_id(at, spec, "slack", token[1] if token else "", str(name))
        if token is None or not isinstance(name, str) or channel_id is None:
            return None
        return SlackBot(token[0], name, channel_id)

    def email(self, at: FieldPath, spec: dict[str, Any]) -> Email | None:
        self.unknown(at, spec, ("to", "id"))
        if not self.required(at, spec, "to"):
            return None
        to = spec["to"]
        if not isinstance(to, list) or not to:
            self.fail((*at, "to"), 'expected a non-empty list of addresses, such as '
                                   '["desk@example.org"]')
            return None
        for i, address in enumerate(to):
            if not isinstance(address, str) or not _EMAIL.match(address):
                self.fail((*at, "to", i), f"expected an email address local@domain, "
                                          f"got {address!r}")
        addresses = tuple(str(a) for a in to)
        channel_id = self.channel_id(at, spec, "email", *addresses)
        return Email(addresses, channel_id) if channel_id else None

    def webhook(self, at: FieldPath, spec: dict[str, Any]) -> Webhook | None:
        self.unknown(at, spec, ("url", "secret", "id"))
        written = spec.get("url")
        url = self.url((*at, "url"), written) if self.required(at, spec, "url") else None
        secret = self.secret(at, spec, "secret") if "secret" in spec else None
        channel_id = self.channel_id(at, spec, "webhook", str(written),
                                     secret[1] if secret else "")
        if url is None or channel_id is None or ("secret" in spec and secret is None):
            return None
        return Webhook(url, secret[0] if secret else None, channel_id)

    def url(self, at: FieldPath, written: Any) -> Secret | None:
        """A webhook's URL: literal, or ``${VAR}`` (the value is never repeated in errors)."""
        if isinstance(written, str) and _VAR.match(written):
            return self.expand(at, written, url=True)
        if not isinstance(written, str) or "${" in written:
            self.fail(at, "expected an http(s) URL, or ${VAR} alone")
        elif not _http_url(written):
            self.fail(at, "expected an http:// or https:// URL")
        else:
            return Secret(written)
        return None

    def console(self, at: FieldPath, spec: Any) -> Console | None:
        if spec is None or spec is True:
            spec = {}
        if not isinstance(spec, dict):
            self.fail(at, "expected {} or true (or {id: name})")
            return None
        self.unknown(at, spec, ("id",))
        channel_id = self.channel_id(at, spec, "console")
        return Console(channel_id) if channel_id else None

    def channel_id(self, at: FieldPath, spec: dict[str, Any], kind: str,
                   *written: str) -> str | None:
        if "id" not in spec:
            return default_channel_id(kind, *written)
        value = spec["id"]
        if isinstance(value, str) and ID_PATTERN.match(value):
            return value
        self.fail((*at, "id"), f"expected a short name of lower-case letters, digits, '-' and "
                               f"'_', got {value!r}")
        return None

    # -- secrets -----------------------------------------------------------------------------

    def secret(self, at: FieldPath, spec: dict[str, Any], key: str) -> tuple[Secret, str] | None:
        """The secret ``spec[key]`` names and the ``${VAR}`` it is written as."""
        if not self.required(at, spec, key):
            return None
        written = spec[key]
        if not isinstance(written, str) or not _VAR.match(written):
            # The value is not repeated: it may be the very secret that must not be written.
            self.fail((*at, key), "secrets come only from the environment: write ${VAR}")
            return None
        secret = self.expand((*at, key), written)
        return (secret, written) if secret else None

    def expand(self, at: FieldPath, written: str, *, url: bool = False) -> Secret | None:
        match = _VAR.match(written)
        assert match is not None
        name = match.group(1)
        value = self.environ.get(name)
        if not value:
            if name not in self.environ and self.allow_unset:
                return Secret(written, name=name)
            state = "is not set" if value is None else "is not set (it is empty)"
            self.fail(at, f"environment variable {name} {state}")
            return None
        if url and not _http_url(value):
            self.fail(at, f"environment variable {name}: expected an http:// or https:// URL")
            return None
        return Secret(value, name=name)

    # -- checks ------------------------------------------------------------------------------

    def required(self, at: FieldPath, data: dict[str, Any], key: str) -> bool:
        if key in data:
            return True
        self.fail(at, f"missing {key!r}")
        return False

    def unknown(self, at: FieldPath, data: dict[str, Any], known: tuple[str, ...]) -> None:
        for key in data:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                self.fail((*at, key), f"unknown field {key!r}; expected one of "
                                      f"{', '.join(known)}{hint}")


_CHANNEL_EXAMPLES = {
    "slack": '{webhook_url: "${VAR}"} or {token: "${VAR}", channel: C0123ABC}',
    "email": '{to: ["desk@example.org"]}',
    "webhook": '{url: "https://...", secret: "${VAR}"}',
}


def _http_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        return False
