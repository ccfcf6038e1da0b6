"""Who the console believes an analyst is: proxy header, basic auth, or nobody but loopback.

Configuration is read from environment mappings as ``newswatch console`` reads
``os.environ``; requests go through the whole app (Starlette's TestClient, with the peer
address set per client), and the name that comes out is the one on the feedback sent.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest
from starlette.datastructures import Headers
from starlette.testclient import TestClient

from monitor.console.auth import Auth, AuthError, AuthRefused, read_users
from monitor.console.store import Store
from monitor.console.web import create_app
from monitor.feedback import Feedback
from tests.console.factory import NOW, Feed, report
from tests.console.test_web import RecordingSink, StubEditor


def hashed(password: str, prefix: str = "$2b$") -> str:
    """A bcrypt hash as ``htpasswd -B`` writes it (``$2y$``) or Python's bcrypt (``$2b$``)."""
    value = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    return prefix + value[4:]


def basic(name: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{name}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def users(tmp_path: Path) -> Path:
    path = tmp_path / "console-users"
    path.write_text(f"# analysts\nann:{hashed('correct horse', '$2y$')}\n\n"
                    f"björn:{hashed('pässword')}\n")
    return path


# -- configuration ----------------------------------------------------------------------------
def test_without_settings_only_loopback_is_served_as_local() -> None:
    auth = Auth.from_env({}, bind="127.0.0.1")
    assert auth.mode == "none"
    assert auth.identify(Headers(), "127.0.0.1", "127.0.0.1:8080") == "local"
    assert Auth.from_env({"NEWSWATCH_CONSOLE_AUTH": "none"}, bind="::1").mode == "none"
    for bind in ("0.0.0.0", "10.1.2.3", "::", "console.example"):
        with pytest.raises(AuthError, match="only a loopback address"):
            Auth.from_env({}, bind=bind)
    # Asked for by name (a container publishing its port on the host's loopback): it listens
    # on every interface, and still serves only requests that name a loopback host.
    published = Auth.from_env({"NEWSWATCH_CONSOLE_AUTH": "none"}, bind="0.0.0.0")
    assert published.identify(Headers(), "172.18.0.1", "localhost:8080") == "local"
    with pytest.raises(AuthRefused):
        published.identify(Headers(), "172.18.0.5", "console:8080")


def test_none_refuses_a_host_that_is_not_loopback() -> None:
    """A page that points its own name at 127.0.0.1 (DNS rebinding) gets nothing."""
    auth = Auth.from_env({}, bind="127.0.0.1")
    for host in ("localhost:8080", "127.0.0.1", "[::1]:8080", "app.localhost"):
        assert auth.identify(Headers(), "127.0.0.1", host) == "local"
    for host in ("evil.example", "evil.example:8080", "127.0.0.1.evil.example", None):
        with pytest.raises(AuthRefused) as refused:
            auth.identify(Headers(), "127.0.0.1", host)
        assert refused.value.status == 403


def test_settings_choose_the_mode_and_are_checked(users: Path) -> None:
    assert Auth.from_env({"NEWSWATCH_CONSOLE_USERS_FILE": str(users)}, bind="0.0.0.0").mode \
        == "basic"
    proxy = Auth.from_env({"NEWSWATCH_CONSOLE_PROXY_NETWORKS": "10.0.0.0/8, 192.168.1.7"},
                          bind="0.0.0.0")
    assert proxy.mode == "proxy" and proxy.proxy_header == "X-Forwarded-User"
    assert len(proxy.proxy_networks) == 2
    wrong = [
        ({"NEWSWATCH_CONSOLE_AUTH": "oauth"}, "not one of proxy, basic, none"),
        ({"NEWSWATCH_CONSOLE_AUTH": "basic"}, "needs NEWSWATCH_CONSOLE_USERS_FILE"),
        ({"NEWSWATCH_CONSOLE_AUTH": "proxy"}, "needs NEWSWATCH_CONSOLE_PROXY_NETWORKS"),
        ({"NEWSWATCH_CONSOLE_AUTH": "proxy", "NEWSWATCH_CONSOLE_PROXY_NETWORKS": "10.0.0/33"},
         "'10.0.0/33' is not an address or CIDR"),
        ({"NEWSWATCH_CONSOLE_AUTH": "proxy", "NEWSWATCH_CONSOLE_PROXY_NETWORKS": "10.0.0.0/8",
          "NEWSWATCH_CONSOLE_PROXY_HEADER": "X User"}, "not a header name"),
        ({"NEWSWATCH_CONSOLE_USERS_FILE": "/nonexistent/users"},
         "/nonexistent/users: cannot read the users file"),
    ]
    for environ, message in wrong:
        with pytest.raises(AuthError, match=message.replace("(", r"\(")):
            Auth.from_env(environ, bind="0.0.0.0")


def test_users_file_errors_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "users"
    good = hashed("x")
    cases = [
        (f"# ok\nann:{good}\nno colon here\n", ":3: expected name:bcrypt-hash"),
        (f"ann:{good}\nbob:$apr1$abc$defghijklmnop\n", ":2: the hash of 'bob' is not bcrypt"),
        (f"ann:{good}\nann:{good}\n", ":2: 'ann' is listed twice"),
        ("# nobody\n", "lists nobody"),
    ]
    for text, message in cases:
        path.write_text(text)
        with pytest.raises(AuthError, match=message) as error:
            read_users(path)
        assert str(path) in str(error.value)
    path.write_text(f"ann:{good}\nbob:{hashed('y', '$2y$')}\n")
    assert set(read_users(path)) == {"ann", "bob"}


def test_basic_checks_bcrypt_hashes_of_both_spellings(users: Path) -> None:
    auth = Auth.of(mode="basic", users_file=users, bind="0.0.0.0")
    assert auth.identify(Headers(basic("ann", "correct horse")), "10.0.0.1", "x") == "ann"
    assert auth.identify(Headers(basic("björn", "pässword")), "10.0.0.1", "x") == "björn"
    # verified once, the same credentials are not checked with bcrypt again
    assert auth.identify(Headers(basic("ann", "correct horse")), "10.0.0.1", "x") == "ann"
    for headers in (basic("ann", "wrong"), basic("nobody", "correct horse"), {},
                    {"Authorization": "Basic !!!"}, {"Authorization": "Bearer abc"},
                    basic("ann", "")):
        with pytest.raises(AuthRefused) as refused:
            auth.identify(Headers(headers), "10.0.0.1", "x")
        assert refused.value.status == 401 and refused.value.challenge


def test_proxy_header_is_believed_only_from_its_networks() -> None:
    auth = Auth.of(mode="proxy", proxy_networks="10.0.0.0/8 ::1", bind="0.0.0.0",
                   proxy_header="X-Remote-User")
    headers = Headers({"X-Remote-User": "  carol  "})
    assert auth.identify(headers, "10.9.8.7", "x") == "carol"
    assert auth.identify(headers, "::ffff:10.9.8.7", "x") == "carol"
    assert auth.identify(headers, "::1", "x") == "carol"
    for peer in ("192.168.1.1", "11.0.0.1", "testclient", None):
        with pytest.raises(AuthRefused) as refused:
            auth.identify(headers, peer, "x")
        assert refused.value.status == 403
    for bad in ({}, {"X-Remote-User": ""}, {"X-Remote-User": "a\x01b"},
                {"X-Remote-User": "x" * 201}):
        with pytest.raises(AuthRefused) as refused:
            auth.identify(Headers(bad), "10.0.0.1", "x")
        assert refused.value.status == 401


# -- through the app --------------------------------------------------------------------------
@pytest.fixture
def parts(tmp_path: Path) -> Iterator[tuple[Store, RecordingSink, StubEditor, str]]:
    store = Store(tmp_path / "console.sqlite3")
    feed = Feed()
    story = feed.story("nk-russia", [report("a1", "Shells for Russia", "Russia got shells.",
                                            fetched_at=NOW)], terms=["shells"])
    store.apply(feed.records)
    topics = tmp_path / "topics"
    topics.mkdir()
    yield store, RecordingSink(store), StubEditor(topics), story.story_id
    store.close()


def client_for(parts: tuple[Store, RecordingSink, StubEditor, str], auth: Auth,
               peer: str = "testclient") -> TestClient:
    store, sink, editor, _ = parts
    app = create_app(store=store, sink=sink, editor=editor, auth=auth,
                     topics_dir=editor.topics_dir, ready=lambda: True)
    return TestClient(app, base_url="http://console.example", client=(peer, 40000),
                      follow_redirects=False)


def test_basic_auth_asks_the_browser_and_signs_the_feedback(
        parts: tuple[Store, RecordingSink, StubEditor, str], users: Path) -> None:
    auth = Auth.from_env({"NEWSWATCH_CONSOLE_USERS_FILE": str(users)}, bind="0.0.0.0")
    with client_for(parts, auth) as client:
        refused = client.get("/")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith('Basic realm="newswatch"')
        assert "content-security-policy" in refused.headers
        assert client.get("/", headers=basic("ann", "nope")).status_code == 401
        page = client.get("/", headers=basic("ann", "correct horse"))
        assert page.status_code == 200 and "Signed in as <strong>ann</strong>" in page.text
        story_id = parts[3]
        sent = client.post(f"/stories/{story_id}/vote", data={"value": "down"},
                           headers=basic("björn", "pässword"))
        assert sent.status_code == 303
    [fb] = parts[1].sent
    assert isinstance(fb, Feedback) and fb.analyst == "björn"


def test_proxy_identity_comes_only_through_the_proxy(
        parts: tuple[Store, RecordingSink, StubEditor, str]) -> None:
    environ = {"NEWSWATCH_CONSOLE_AUTH": "proxy",
               "NEWSWATCH_CONSOLE_PROXY_NETWORKS": "10.0.0.0/8"}
    auth = Auth.from_env(environ, bind="0.0.0.0")
    story_id = parts[3]
    with client_for(parts, auth, peer="10.0.0.5") as client:
        page = client.get("/", headers={"X-Forwarded-User": "dana"})
        assert page.status_code == 200 and "Signed in as <strong>dana</strong>" in page.text
        assert client.get("/").status_code == 401
        client.post(f"/stories/{story_id}/ack", data={"value": "yes"},
                    headers={"X-Forwarded-User": "dana"})
    with client_for(parts, auth, peer="192.168.0.9") as client:
        forged = client.get("/", headers={"X-Forwarded-User": "dana"})
        assert forged.status_code == 403
        assert client.post(f"/stories/{story_id}/ack", data={"value": "no"},
                           headers={"X-Forwarded-User": "mallory"}).status_code == 403
        assert client.get("/healthz").status_code == 200
    assert [(fb.analyst, fb.kind, fb.value) for fb in parts[1].sent] == [("dana", "ack", "yes")]


def test_none_serves_loopback_names_only(
        parts: tuple[Store, RecordingSink, StubEditor, str]) -> None:
    auth = Auth.from_env({}, bind="127.0.0.1")
    with client_for(parts, auth, peer="127.0.0.1") as client:
        assert client.get("/").status_code == 403  # Host: console.example
        page = client.get("/", headers={"Host": "127.0.0.1:8080"})
        assert page.status_code == 200 and "Signed in as <strong>local</strong>" in page.text
