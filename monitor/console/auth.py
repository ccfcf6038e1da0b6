"""Who is asking? The console's analyst identity, from one of three configured sources.

In: the console's configuration (``NEWSWATCH_CONSOLE_*`` variables, or the same as options), and
per request its headers and the peer address. Out: the analyst's name, which every piece of
feedback carries, or an :class:`AuthRefused` with the status and a message for the page. It
must never accept an identity header from a peer outside the configured networks, never log a
password, and never let ``none`` serve anything but a loopback address.

Modes (``NEWSWATCH_CONSOLE_AUTH``):

- ``proxy``: a reverse proxy that already authenticated the user sends the name in a header
  (``NEWSWATCH_CONSOLE_PROXY_HEADER``, default ``X-Forwarded-User``). The header is believed
  only from a peer inside ``NEWSWATCH_CONSOLE_PROXY_NETWORKS`` (CIDRs, comma or space
  separated), as Miniflux and Grafana do; any other peer gets 403.
- ``basic``: HTTP basic auth against ``NEWSWATCH_CONSOLE_USERS_FILE``, lines of
  ``name:bcrypt-hash`` as ``htpasswd -B`` writes them (``$2y$``, ``$2b$``, ``$2a$``); blank
  lines and ``#`` comments are skipped. Realm ``newswatch``.
- ``none``: everyone is the analyst ``local``, and only requests whose ``Host`` names a
  loopback address are served, so a web page that re-points its own DNS name at 127.0.0.1
  (DNS rebinding) cannot use the console. By default only on a loopback bind; a
  ``NEWSWATCH_CONSOLE_AUTH=none`` set by name also allows another bind, for a container whose
  port is published on the host's loopback only (``docker-compose.yml``).

Without ``NEWSWATCH_CONSOLE_AUTH`` the mode follows what is configured: a users file means
``basic``, proxy networks mean ``proxy``, nothing means ``none``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import bcrypt

from monitor.feedback import MAX_ANALYST_CHARS

Mode = Literal["proxy", "basic", "none"]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

MODES: tuple[Mode, ...] = ("proxy", "basic", "none")
DEFAULT_PROXY_HEADER = "X-Forwarded-User"
REALM = "newswatch"
LOCAL_ANALYST = "local"
#: Verified (name, password) pairs kept so that a browser re-sending basic credentials on every
#: request does not pay a bcrypt check (a quarter of a second) each time.
_VERIFIED_CACHE = 256
#: Checked when the name is unknown, so that a wrong name takes as long as a wrong password.
_DUMMY_HASH = bcrypt.hashpw(b"not a password", bcrypt.gensalt(rounds=10))


class AuthError(ValueError):
    """The console's authentication is misconfigured; the text names the setting or file:line."""


class AuthRefused(Exception):
    """A request without an acceptable identity: answer ``status`` with ``message``."""

    def __init__(self, status: int, message: str, *, challenge: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        #: Answer with ``WWW-Authenticate`` so that a browser asks for a name and password.
        self.challenge = challenge


class _VerifiedCache:
    """Recently verified credentials, kept as keyed digests: never the passwords themselves."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()

    def _digest(self, name: str, secret: bytes, stored: bytes) -> bytes:
        message = name.encode("utf-8") + b"\0" + stored + b"\0" + secret
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def seen(self, name: str, secret: bytes, stored: bytes) -> bool:
        digest = self._digest(name, secret, stored)
        with self._lock:
            if digest in self._seen:
                self._seen.move_to_end(digest)
                return True
        return False

    def add(self, name: str, secret: bytes, stored: bytes) -> None:
        digest = self._digest(name, secret, stored)
        with self._lock:
            self._seen[digest] = None
            while len(self._seen) > _VERIFIED_CACHE:
                self._seen.popitem(last=False)


@dataclass(frozen=True)
class Auth:
    """How the console learns the analyst's name; build with :meth:`from_env` or :meth:`of`."""

    mode: Mode
    proxy_header: str = DEFAULT_PROXY_HEADER
    proxy_networks: tuple[Network, ...] = ()
    users_file: Path | None = None
    users: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    _verified: _VerifiedCache = field(init=False, default_factory=_VerifiedCache, repr=False,
                                      compare=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str], *, bind: str) -> Auth:
        """Read the ``NEWSWATCH_CONSOLE_*`` variables; raise :class:`AuthError` when wrong."""
        return cls.of(mode=environ.get("NEWSWATCH_CONSOLE_AUTH") or None,
                      proxy_header=environ.get("NEWSWATCH_CONSOLE_PROXY_HEADER") or None,
                      proxy_networks=environ.get("NEWSWATCH_CONSOLE_PROXY_NETWORKS") or None,
                      users_file=environ.get("NEWSWATCH_CONSOLE_USERS_FILE") or None,
                      bind=bind)

    @classmethod
    def of(cls, *, mode: str | None, bind: str, proxy_header: str | None = None,
           proxy_networks: str | Iterable[str] | None = None,
           users_file: str | Path | None = None) -> Auth:
        """Check one configuration (options or variables alike) and build it."""
        explicit = mode is not None
        if mode is None:
            mode = "basic" if users_file else "proxy" if proxy_networks else "none"
        if mode not in MODES:
            raise AuthError(f"NEWSWATCH_CONSOLE_AUTH: {mode!r} is not one of "
                            f"{', '.join(MODES)}")
        if mode == "none":
            # Asked for by name, it may listen further (a container publishing its port on the
            # host's loopback only): requests must still name a loopback host.
            if not explicit and not is_loopback(bind):
                raise AuthError(f"authentication 'none' serves only a loopback address, not "
                                f"{bind!r}: bind 127.0.0.1, or set NEWSWATCH_CONSOLE_AUTH to "
                                "proxy or basic")
            return cls("none")
        if mode == "basic":
            if not users_file:
                raise AuthError("authentication 'basic' needs NEWSWATCH_CONSOLE_USERS_FILE, a "
                                "file of name:bcrypt-hash lines (htpasswd -B)")
            path = Path(users_file)
            return cls("basic", users_file=path, users=read_users(path))
        header = (proxy_header or DEFAULT_PROXY_HEADER).strip()
        if not header or not all(c.isalnum() or c == "-" for c in header):
            raise AuthError(f"NEWSWATCH_CONSOLE_PROXY_HEADER: {header!r} is not a header name")
        if not proxy_networks:
            raise AuthError("authentication 'proxy' needs NEWSWATCH_CONSOLE_PROXY_NETWORKS, the "
                            "addresses of the reverse proxy (CIDRs, e.g. 10.0.0.0/8)")
        return cls("proxy", proxy_header=header, proxy_networks=parse_networks(proxy_networks))

    def identify(self, headers: Mapping[str, str], peer: str | None, host: str | None) -> str:
        """Return the analyst's name for one request, or raise :class:`AuthRefused`.

        ``headers`` are looked up case-insensitively by the caller's mapping (Starlette's
        ``Headers``); ``peer`` is the connecting address; ``host`` the ``Host`` header.
        """
        if self.mode == "none":
            if not is_loopback_host(host):
                raise AuthRefused(403, "This console answers only to a loopback address "
                                       "(http://127.0.0.1:PORT/ or http://localhost:PORT/).")
            return LOCAL_ANALYST
        if self.mode == "proxy":
            if not in_networks(peer, self.proxy_networks):
                raise AuthRefused(403, "Requests must come through the console's reverse "
                                       "proxy.")
            name = headers.get(self.proxy_header, "").strip()
            if not valid_name(name):
                raise AuthRefused(401, f"The reverse proxy sent no usable {self.proxy_header}.")
            return name
        return self._basic(headers.get("authorization", ""))

    def _basic(self, header: str) -> str:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or not encoded.strip():
            raise AuthRefused(401, "Sign in with your console name and password.",
                              challenge=True)
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise AuthRefused(401, "Malformed credentials.", challenge=True) from None
        name, sep, password = decoded.partition(":")
        if not sep or not self.check_password(name, password):
            raise AuthRefused(401, "Wrong name or password.", challenge=True)
        return name

    def check_password(self, name: str, password: str) -> bool:
        """Check one name and password against the users file (constant work for any name)."""
        stored = self.users.get(name)
        secret = password.encode("utf-8")
        if stored is None:
            bcrypt.checkpw(secret, _DUMMY_HASH)
            return False
        if self._verified.seen(name, secret, stored):
            return True
        try:
            ok = bcrypt.checkpw(secret, stored)
        except ValueError:
            return False
        if ok:
            self._verified.add(name, secret, stored)
        return ok


def read_users(path: Path) -> dict[str, bytes]:
    """Read a ``name:bcrypt-hash`` file; raise :class:`AuthError` naming ``file:line``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AuthError(f"{path}: cannot read the users file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise AuthError(f"{path}: the users file is not UTF-8 text") from None
    users: dict[str, bytes] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, hashed = line.partition(":")
        where = f"{path}:{number}"
        if not sep or not valid_name(name):
            raise AuthError(f"{where}: expected name:bcrypt-hash (as htpasswd -B writes)")
        if not hashed.startswith(("$2y$", "$2b$", "$2a$")) or len(hashed) != 60:
            raise AuthError(f"{where}: the hash of {name!r} is not bcrypt ($2y$, $2b$ or $2a$, "
                            "60 characters): create it with htpasswd -B")
        if name in users:
            raise AuthError(f"{where}: {name!r} is listed twice")
        users[name] = hashed.encode("ascii")
    if not users:
        raise AuthError(f"{path}: the users file lists nobody")
    return users


def parse_networks(value: str | Iterable[str]) -> tuple[Network, ...]:
    """Parse CIDRs (``10.0.0.0/8, 127.0.0.1``); raise :class:`AuthError` naming the bad one."""
    items = value.replace(",", " ").split() if isinstance(value, str) else list(value)
    networks = []
    for item in items:
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise AuthError(f"NEWSWATCH_CONSOLE_PROXY_NETWORKS: {item!r} is not an address or "
                            "CIDR network") from None
    if not networks:
        raise AuthError("NEWSWATCH_CONSOLE_PROXY_NETWORKS: no network given")
    return tuple(networks)


def in_networks(peer: str | None, networks: Iterable[Network]) -> bool:
    """Is ``peer`` (an address; anything else is not) inside one of ``networks``?"""
    if not peer:
        return False
    try:
        address = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


def valid_name(name: str) -> bool:
    """Is ``name`` usable as an analyst's name (1-200 printable characters)?"""
    return 0 < len(name) <= MAX_ANALYST_CHARS and name.isprintable()


def is_loopback(address: str) -> bool:
    """Is a bind address a loopback one (``127.0.0.1``, ``::1``, ``localhost``)?"""
    if address.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def is_loopback_host(host: str | None) -> bool:
    """Does a ``Host`` header (name and optional port) name a loopback address?"""
    if not host:
        return False
    host = host.strip().lower()
    if host.startswith("["):
        name = host[1:].partition("]")[0]
    else:
        name = host.rpartition(":")[0] if host.count(":") == 1 else host
    return is_loopback(name) or name.endswith(".localhost")
