"""What every request to the console passes first: origin, identity, security headers.

In: an HTTP request (ASGI scope) and the console's :class:`~monitor.console.auth.Auth`. Out:
either a refusal (403 for a cross-origin write, 401/403 for no acceptable identity) or the
request, with the analyst's name in ``scope["state"]["analyst"]``; on every response, refusals
included, the Content-Security-Policy (no inline script or style, no framing), ``nosniff`` and
a same-origin referrer policy. It must never let a state-changing request from another site
through, and never let a page of the console answer without an analyst (except the probes).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitor.console.auth import REALM, Auth, AuthRefused

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
SECURITY_HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
)
#: Paths answered without an analyst: probes and Prometheus have no credentials.
OPEN_PATHS = ("/healthz", "/readyz", "/metrics")


class Guard:
    """Every request passes here: cross-origin writes refused, analyst identified, headers set.

    A state-changing request (any method but GET, HEAD, OPTIONS) is refused with 403, as Go's
    ``http.CrossOriginProtection`` does, when
    - its ``Sec-Fetch-Site`` is there and is not ``same-origin`` or ``none`` (a browser tells
      where the request comes from; when it does, that decides), or
    - without ``Sec-Fetch-Site``, its ``Origin`` is there and is not this server's origin;
    a request with neither header is not from a browser, and passes.
    """

    def __init__(self, app: ASGIApp, auth: Auth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", ())}
                extra = [(n, v) for n, v in SECURITY_HEADERS if n not in names]
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        headers = Headers(scope=scope)
        refusal = cross_origin_refusal(scope["method"], headers, scope.get("scheme", "http"))
        if refusal is not None:
            await PlainTextResponse(refusal, status_code=403)(scope, receive, send_secured)
            return
        if scope["path"] not in OPEN_PATHS:
            client = scope.get("client")
            try:
                analyst = self.auth.identify(headers, client[0] if client else None,
                                             headers.get("host"))
            except AuthRefused as refused:
                challenge = ({"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'}
                             if refused.challenge else None)
                response = PlainTextResponse(refused.message, status_code=refused.status,
                                             headers=challenge)
                await response(scope, receive, send_secured)
                return
            scope.setdefault("state", {})["analyst"] = analyst
        await self.app(scope, receive, send_secured)


def cross_origin_refusal(method: str, headers: Mapping[str, str], scheme: str) -> str | None:
    """Why a request must be refused as cross-origin (see :class:`Guard`), or ``None``."""
    if method in ("GET", "HEAD", "OPTIONS"):
        return None
    site = headers.get("sec-fetch-site")
    if site is not None:
        if site.strip().lower() in ("same-origin", "none"):
            return None
        return (f"Refused: this {method} came from another site (Sec-Fetch-Site: {site[:40]}). "
                "Use the console's own pages to change anything.")
    origin = headers.get("origin")
    if origin is None:
        return None
    if _same_origin(origin, scheme, headers.get("host")):
        return None
    return (f"Refused: this {method} came from another origin ({origin[:100]}). "
            "Use the console's own pages to change anything.")


def _same_origin(origin: str, scheme: str, host: str | None) -> bool:
    if not host or origin == "null":
        return False
    try:
        parts = urlsplit(origin)
        theirs = (parts.scheme.lower(), parts.hostname, parts.port)
        ours_parts = urlsplit(f"{scheme}://{host}")
        ours = (scheme.lower(), ours_parts.hostname, ours_parts.port)
    except ValueError:
        return False
    defaults = {"http": 80, "https": 443}
    return (theirs[0], theirs[1], theirs[2] or defaults.get(theirs[0])) == (
        ours[0], ours[1], ours[2] or defaults.get(ours[0]))
