"""Channels against real local receivers: Slack and webhooks over HTTP, aiosmtpd for mail."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest

from monitor.alerting import render
from monitor.alerting.channels import (
    Channel,
    SmtpSettings,
    open_channel,
    redact,
)
from monitor.alerting.notice import (
    Console,
    Email,
    Notice,
    NoticeItem,
    NoticeKind,
    PermanentError,
    RetryableError,
    Secret,
    SlackBot,
    SlackWebhook,
    Webhook,
)
from monitor.article import Story, StoryArticle, StoryEvent
from tests.alerting.smtpserver import Certificate, SMTPServer, make_certificate
from tests.httpserver import HTTPServer, Reply, Request
from tests.metricsread import free_port

T0 = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
KEY = "5f2b0c9d41e8a7b3"
UPDATE_KEY = "9e1d77aa03c4b2f6"
HOOK_PATH = "/services/T0NEWS/B0WATCH/xq7Z9secretPart"
TOKEN = "xoxb-1111-2222-tokenvalue"
PASSWORD = "s3cret p@ss/word"  # needs percent-encoding in the URL: ' ', '@' and '/'
SENDER = "Newswatch <alerts@newswatch.test>"
TO = ("ana@example.org", "ben@example.org")


def make_notice(kind: NoticeKind = "alert", headline: str = "Dam breach floods valley") -> Notice:
    article = StoryArticle(article_id="a1", outlet="example.org", url="https://example.org/a1",
                           title=headline, source="a1")
    story = Story(story_id="s1", topic_id="floods", headline=headline, first_seen=T0,
                  last_updated=T0, articles=(article,), outlets=1, sources=1)
    event = StoryEvent(event="opened" if kind == "alert" else "updated", story=story,
                       article=article, why="first report")
    return Notice(kind=kind, subscriber_id="ana", items=(NoticeItem(event, (article,)),),
                  created=T0)


@pytest.fixture
def http() -> Iterator[HTTPServer]:
    with HTTPServer() as server:
        yield server


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return make_certificate(tmp_path_factory.mktemp("tls"))


def json_reply(status: int, body: object, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status=status, headers={"Content-Type": "application/json", **(headers or {})},
                 body=json.dumps(body).encode())


def smtp_settings(server: SMTPServer, *, scheme: str = "smtp", user: str | None = None,
                  password: str = PASSWORD, ca_file: str | None = None) -> SmtpSettings:
    login = f"{quote(user, safe='')}:{quote(password, safe='')}@" if user else ""
    environ = {"NEWSWATCH_SMTP_URL": f"{scheme}://{login}{server.host}:{server.port}",
               "NEWSWATCH_EMAIL_FROM": SENDER}
    if ca_file:
        environ["NEWSWATCH_SMTP_CA_FILE"] = ca_file
    settings = SmtpSettings.from_env(environ)
    assert settings is not None
    return settings


@pytest.fixture
async def slack_webhook(http: HTTPServer) -> AsyncIterator[Channel]:
    channel = open_channel(SlackWebhook(Secret(http.url(HOOK_PATH)), id="sw"), smtp=None,
                           console=None, timeout=5)
    async with aclosing(channel):
        yield channel


@pytest.fixture
async def slack_bot(http: HTTPServer) -> AsyncIterator[Channel]:
    channel = open_channel(SlackBot(Secret(TOKEN), channel="C0ALERTS", id="sb"), smtp=None,
                           console=None, slack_api_url=http.url("/api/"), timeout=5)
    async with aclosing(channel):
        yield channel


# -- Slack incoming webhook ------------------------------------------------------------------
async def test_slack_webhook_posts_text_and_blocks_without_previews(
        http: HTTPServer, slack_webhook: Channel) -> None:
    http.route(HOOK_PATH, body=b"ok")
    notice = make_notice()
    assert await slack_webhook.send(notice, key=KEY, thread=None) is None
    [request] = http.requests_to(HOOK_PATH)
    body = json.loads(request.body)
    content = render.slack(notice)
    assert (body["text"], body["blocks"]) == (content.text, content.blocks)
    assert (body["unfurl_links"], body["unfurl_media"]) == (False, False)
    assert (slack_webhook.kind, slack_webhook.id) == ("slack", "sw")


async def test_slack_webhook_429_is_retryable_after_its_retry_after(
        http: HTTPServer, slack_webhook: Channel) -> None:
    http.route(HOOK_PATH, status=429, headers={"Retry-After": "7"}, body=b"rate_limited")
    with pytest.raises(RetryableError) as caught:
        await slack_webhook.send(make_notice(), key=KEY, thread=None)
    assert caught.value.retry_after == 7
    assert len(http.requests_to(HOOK_PATH)) == 1  # the delivery loop retries, not the client


@pytest.mark.parametrize(("status", "body", "error"), [
    (400, b"invalid_payload", PermanentError),
    (403, b"action_prohibited", PermanentError),
    (404, b"channel_not_found", PermanentError),
    (410, b"channel_is_archived", PermanentError),
    (500, b"internal error", RetryableError),
    (503, b"unavailable", RetryableError),
])
async def test_slack_webhook_errors_are_classified_and_never_show_the_url(
        http: HTTPServer, slack_webhook: Channel, status: int, body: bytes,
        error: type[Exception]) -> None:
    # The answer echoes the URL: a receiver may, and the reason must still not show it.
    http.route(HOOK_PATH, status=status, body=body + b" at " + http.url(HOOK_PATH).encode())
    with pytest.raises(error) as caught:
        await slack_webhook.send(make_notice(), key=KEY, thread=None)
    reason = str(caught.value)
    assert str(status) in reason and body.decode() in reason
    assert HOOK_PATH not in reason and "xq7Z9secretPart" not in reason


async def test_slack_webhook_that_cannot_be_reached_is_retryable() -> None:
    url = f"http://127.0.0.1:{free_port()}{HOOK_PATH}"
    channel = open_channel(SlackWebhook(Secret(url)), smtp=None, console=None, timeout=5)
    async with aclosing(channel):
        with pytest.raises(RetryableError) as caught:
            await channel.send(make_notice(), key=KEY, thread=None)
    assert "xq7Z9secretPart" not in str(caught.value)


# -- Slack bot -------------------------------------------------------------------------------
async def test_slack_bot_first_message_returns_its_ts_and_an_update_replies_in_its_thread(
        http: HTTPServer, slack_bot: Channel) -> None:
    stamps = iter(["1700000000.000100", "1700000050.000200"])

    def post(request: Request) -> Reply:
        return json_reply(200, {"ok": True, "channel": "C0ALERTS", "ts": next(stamps)})

    http.route("/api/chat.postMessage", post)
    first = await slack_bot.send(make_notice(), key=KEY, thread=None)
    update = await slack_bot.send(make_notice("update"), key=UPDATE_KEY, thread=first)
    assert first == update == "1700000000.000100"
    alert, reply = (json.loads(r.body) for r in http.requests_to("/api/chat.postMessage"))
    assert "thread_ts" not in alert and reply["thread_ts"] == first
    content = render.slack(make_notice())
    assert (alert["channel"], alert["text"], alert["blocks"]) == (
        "C0ALERTS", content.text, content.blocks)
    assert (alert["unfurl_links"], alert["unfurl_media"]) == (False, False)
    assert http.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize(("reply", "error", "retry_after"), [
    (json_reply(200, {"ok": False, "error": "channel_not_found"}), PermanentError, None),
    (json_reply(200, {"ok": False, "error": "invalid_auth"}), PermanentError, None),
    (json_reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "30"}),
     RetryableError, 30),
    (json_reply(200, {"ok": False, "error": "internal_error"}), RetryableError, None),
    (Reply(status=502, headers={"Content-Type": "text/html"}, body=b"<h1>Bad gateway</h1>"),
     RetryableError, None),
], ids=["channel_not_found", "invalid_auth", "ratelimited", "internal_error", "502-html"])
async def test_slack_bot_errors_are_classified_and_never_show_the_token(
        http: HTTPServer, slack_bot: Channel, reply: Reply, error: type[Exception],
        retry_after: float | None) -> None:
    http.route("/api/chat.postMessage", reply)
    with pytest.raises(error) as caught:
        await slack_bot.send(make_notice(), key=KEY, thread=None)
    assert getattr(caught.value, "retry_after", None) == retry_after
    assert TOKEN not in str(caught.value)
    assert len(http.requests) == 1


# -- email -----------------------------------------------------------------------------------
async def test_email_through_starttls_with_login_arrives_as_text_and_html_and_threads_updates(
        certificate: Certificate) -> None:
    with SMTPServer(tls=certificate, starttls=True, users={"news watch": PASSWORD}) as server:
        settings = smtp_settings(server, user="news watch", ca_file=certificate.cert_file)
        channel = open_channel(Email(TO, id="em"), smtp=settings, console=None, timeout=5)
        async with aclosing(channel):
            first = await channel.send(make_notice(), key=KEY, thread=None)
            update = await channel.send(make_notice("update"), key=UPDATE_KEY, thread=first)
    assert first == update == f"<{KEY}@newswatch.test>"
    alert, reply = server.messages
    assert (alert.tls, alert.login, alert.rcpt_tos) == (True, "news watch", list(TO))
    message = alert.message
    content = render.email(make_notice())
    assert (message["Message-ID"], message["Subject"], message["From"]) == (
        first, content.subject, SENDER)
    assert message.get_content_type() == "multipart/alternative"
    # Mail travels with CRLF line ends; the parts are compared as rendered.
    parts = {part.get_content_type(): part.get_content().replace("\r\n", "\n").strip()
             for part in message.iter_parts()}
    assert parts == {"text/plain": content.text.strip(), "text/html": content.html.strip()}
    assert message["Date"] is not None and message["In-Reply-To"] is None
    threaded = reply.message
    assert threaded["Message-ID"] == f"<{UPDATE_KEY}@newswatch.test>"
    assert threaded["In-Reply-To"] == threaded["References"] == first


async def test_email_over_implicit_tls(certificate: Certificate) -> None:
    with SMTPServer(tls=certificate, implicit_tls=True) as server:
        settings = smtp_settings(server, scheme="smtps", ca_file=certificate.cert_file)
        assert settings.mode == "tls"
        channel = open_channel(Email(TO), smtp=settings, console=None, timeout=5)
        async with aclosing(channel):
            await channel.send(make_notice(), key=KEY, thread=None)
    [mail] = server.messages
    assert mail.tls and mail.message["Message-ID"] == f"<{KEY}@newswatch.test>"


@pytest.mark.parametrize(("reply", "error"), [
    ("550 5.1.1 no such user", PermanentError),
    ("451 4.3.0 try again later", RetryableError),
])
async def test_email_refused_by_every_recipient_is_classified_by_the_reply_code(
        reply: str, error: type[Exception]) -> None:
    with SMTPServer() as server:
        for address in TO:
            server.refuse[address] = reply
        channel = open_channel(Email(TO), smtp=smtp_settings(server), console=None, timeout=5)
        async with aclosing(channel):
            with pytest.raises(error) as caught:
                await channel.send(make_notice(), key=KEY, thread=None)
    assert reply.split()[0] in str(caught.value)
    assert server.messages == []


async def test_email_refused_at_data_with_5xx_is_permanent() -> None:
    with SMTPServer() as server:
        server.reply_to_data("554 5.6.0 message rejected")
        channel = open_channel(Email(TO), smtp=smtp_settings(server), console=None, timeout=5)
        async with aclosing(channel):
            with pytest.raises(PermanentError, match="554"):
                await channel.send(make_notice(), key=KEY, thread=None)


async def test_a_login_is_never_sent_to_a_server_without_starttls() -> None:
    # No STARTTLS offered (as when someone on the path strips the offer), and a server that
    # would take the password in the clear.
    with SMTPServer(users={"newswatch": PASSWORD}, auth_in_clear=True) as server:
        channel = open_channel(Email(TO), smtp=smtp_settings(server, user="newswatch"),
                               console=None, timeout=5)
        async with aclosing(channel):
            with pytest.raises(PermanentError) as caught:
                await channel.send(make_notice(), key=KEY, thread=None)
        assert server.messages == []
    assert PASSWORD not in str(caught.value)


async def test_email_to_a_stopped_server_is_retryable() -> None:
    server = SMTPServer()
    server.start()
    settings = smtp_settings(server, user="newswatch")
    server.stop()
    channel = open_channel(Email(TO), smtp=settings, console=None, timeout=5)
    async with aclosing(channel):
        with pytest.raises(RetryableError) as caught:
            await channel.send(make_notice(), key=KEY, thread=None)
    assert PASSWORD not in str(caught.value)


async def test_email_to_a_server_whose_certificate_is_not_trusted_is_retryable(
        certificate: Certificate) -> None:
    with SMTPServer(tls=certificate, starttls=True) as server:
        channel = open_channel(Email(TO), smtp=smtp_settings(server), console=None, timeout=5)
        async with aclosing(channel):
            with pytest.raises(RetryableError, match=r"(?i)certificate"):
                await channel.send(make_notice(), key=KEY, thread=None)
    assert server.messages == []


async def test_email_login_refused_is_permanent_and_never_shows_the_password(
        certificate: Certificate) -> None:
    # The server echoes the password in its reply: the reason must still not show it.
    echo = f"535 5.7.8 no user with password {PASSWORD} or {quote(PASSWORD, safe='')}"
    with SMTPServer(tls=certificate, starttls=True, users={"newswatch": "another"},
                    auth_reply=echo) as server:
        settings = smtp_settings(server, user="newswatch", ca_file=certificate.cert_file)
        channel = open_channel(Email(TO), smtp=settings, console=None, timeout=5)
        async with aclosing(channel):
            with pytest.raises(PermanentError) as caught:
                await channel.send(make_notice(), key=KEY, thread=None)
    reason = str(caught.value)
    assert "535" in reason and "***" in reason
    assert PASSWORD not in reason and quote(PASSWORD, safe="") not in reason


def test_email_channel_without_smtp_settings_is_refused_when_opened() -> None:
    with pytest.raises(PermanentError, match="NEWSWATCH_SMTP_URL"):
        open_channel(Email(TO), smtp=None, console=None)


# -- SMTP settings ---------------------------------------------------------------------------
def test_smtp_settings_read_the_url_with_percent_decoded_credentials(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("")
    settings = SmtpSettings.from_env({
        "NEWSWATCH_SMTP_URL": f"smtp://news%20watch:{quote(PASSWORD, safe='')}@mail.example.org",
        "NEWSWATCH_EMAIL_FROM": SENDER, "NEWSWATCH_SMTP_CA_FILE": str(ca)})
    assert settings is not None
    assert (settings.host, settings.port, settings.mode, settings.username) == (
        "mail.example.org", 25, "starttls", "news watch")
    assert settings.password is not None and settings.password.reveal() == PASSWORD
    assert (settings.sender, settings.ca_file) == (SENDER, str(ca))
    assert PASSWORD not in repr(settings)
    smtps = SmtpSettings.from_env({"NEWSWATCH_SMTP_URL": "smtps://mail.example.org",
                                   "NEWSWATCH_EMAIL_FROM": SENDER})
    assert smtps is not None and (smtps.port, smtps.mode, smtps.username) == (465, "tls", None)
    assert SmtpSettings.from_env({"NEWSWATCH_EMAIL_FROM": SENDER}) is None


@pytest.mark.parametrize(("environ", "variable"), [
    ({"NEWSWATCH_SMTP_URL": f"http://u:{PASSWORD}@host"}, "NEWSWATCH_SMTP_URL"),
    ({"NEWSWATCH_SMTP_URL": f"smtp://u:{quote(PASSWORD, safe='')}@host:99999"},
     "NEWSWATCH_SMTP_URL"),
    ({"NEWSWATCH_SMTP_URL": f"smtp://u:{quote(PASSWORD, safe='')}@host/path"},
     "NEWSWATCH_SMTP_URL"),
    ({"NEWSWATCH_SMTP_URL": f"smtp://u:{quote(PASSWORD, safe='')}@host"},
     "NEWSWATCH_EMAIL_FROM"),
    ({"NEWSWATCH_SMTP_URL": "smtp://host", "NEWSWATCH_EMAIL_FROM": "newswatch"},
     "NEWSWATCH_EMAIL_FROM"),
    ({"NEWSWATCH_SMTP_URL": "smtp://host", "NEWSWATCH_EMAIL_FROM": SENDER,
      "NEWSWATCH_SMTP_CA_FILE": "/nonexistent/ca.pem"}, "NEWSWATCH_SMTP_CA_FILE"),
], ids=["scheme", "port", "path", "no-sender", "bad-sender", "ca-file"])
def test_smtp_settings_errors_name_the_variable_and_never_the_password(
        environ: dict[str, str], variable: str) -> None:
    with pytest.raises(ValueError, match=variable) as caught:
        SmtpSettings.from_env(environ)
    assert PASSWORD not in str(caught.value)
    assert quote(PASSWORD, safe="") not in str(caught.value)


# -- generic webhook -------------------------------------------------------------------------
async def test_webhook_posts_json_signed_over_timestamp_and_body(http: HTTPServer) -> None:
    http.route("/hook", status=204)
    secret = "whsec-42-shared"
    channel = open_channel(Webhook(Secret(http.url("/hook")), Secret(secret), id="wh"),
                           smtp=None, console=None, timeout=5)
    async with aclosing(channel):
        first = await channel.send(make_notice(), key=KEY, thread=None)
        update = await channel.send(make_notice("update"), key=UPDATE_KEY, thread=first)
    assert first == update == KEY
    alert, reply = http.requests_to("/hook")
    for request, key in ((alert, KEY), (reply, UPDATE_KEY)):
        signed = request.headers["X-Newswatch-Timestamp"].encode() + b"." + request.body
        expected = "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(request.headers["X-Newswatch-Signature"], expected)
        assert request.headers["X-Newswatch-Delivery"] == key
        assert request.headers["Content-Type"] == "application/json"
    assert json.loads(alert.body) == {**render.webhook(make_notice()), "delivery": KEY,
                                      "thread": None}
    assert json.loads(reply.body)["thread"] == KEY


async def test_webhook_without_a_secret_sends_no_signature(http: HTTPServer) -> None:
    http.route("/hook", status=200)
    channel = open_channel(Webhook(Secret(http.url("/hook"))), smtp=None, console=None)
    async with aclosing(channel):
        await channel.send(make_notice(), key=KEY, thread=None)
    [request] = http.requests
    assert "X-Newswatch-Signature" not in request.headers
    assert request.headers["X-Newswatch-Delivery"] == KEY


@pytest.mark.parametrize(("reply", "error", "retry_after"), [
    (Reply(status=503, headers={"Retry-After": "12"}, body=b"busy"), RetryableError, 12),
    (Reply(status=500, body=b"oops"), RetryableError, None),
    (Reply(status=429, headers={"Retry-After": "Wed, 04 Mar 2099 05:06:07 GMT"}),
     RetryableError, 86400.0),
    (Reply(status=422, body=b"unknown field"), PermanentError, None),
    (Reply(status=410, body=b"gone"), PermanentError, None),
], ids=["503", "500", "429-date", "422", "410"])
async def test_webhook_errors_are_classified_and_show_only_scheme_and_host(
        http: HTTPServer, reply: Reply, error: type[Exception],
        retry_after: float | None) -> None:
    path = "/hook?token=tok-secret-value"
    assert isinstance(reply.body, bytes)
    echo = reply.body + b" " + http.url(path).encode()  # the answer echoes the URL
    http.route(path, Reply(reply.status, reply.headers, echo))
    channel = open_channel(Webhook(Secret(http.url(path)), Secret("whsec-42-shared")),
                           smtp=None, console=None, timeout=5)
    async with aclosing(channel):
        with pytest.raises(error) as caught:
            await channel.send(make_notice(), key=KEY, thread=None)
    assert getattr(caught.value, "retry_after", None) == retry_after
    reason = str(caught.value)
    assert reason.startswith(f"webhook http://127.0.0.1:{http.port}: HTTP {reply.status}")
    assert "tok-secret-value" not in reason and "whsec-42-shared" not in reason


async def test_webhook_that_cannot_be_reached_is_retryable() -> None:
    url = f"http://127.0.0.1:{free_port()}/hook?token=tok-secret-value"
    channel = open_channel(Webhook(Secret(url)), smtp=None, console=None, timeout=5)
    async with aclosing(channel):
        with pytest.raises(RetryableError) as caught:
            await channel.send(make_notice(), key=KEY, thread=None)
    assert "tok-secret-value" not in str(caught.value)


# -- console, helpers ------------------------------------------------------------------------
async def test_console_prints_one_line_per_notice() -> None:
    stream = io.StringIO()
    channel = open_channel(Console(id="con"), smtp=None, console=stream)
    assert await channel.send(make_notice(), key=KEY, thread=None) is None
    assert stream.getvalue() == render.console(make_notice()) + "\n"
    assert channel.kind == "console"


def test_redact_replaces_a_secret_and_its_encoded_forms() -> None:
    url = "https://hooks.slack.com/services/T0/B0/abc def"
    text = f"failed {url} / {quote(url, safe='')} / /services/T0/B0/abc%20def"
    assert redact(text, [url]) == "failed *** / *** / ***"
