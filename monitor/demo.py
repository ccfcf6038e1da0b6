"""Demo feeds for ``newswatch up --demo``: reports of a few events served from this machine.

In: a YAML file of outlets and their items (``deploy/demo/articles.yaml``). Out: a small HTTP
server on 127.0.0.1 that serves one RSS 2.0 document per outlet, each item dated its
``minutes`` before the server started (so that it is fresh enough to be alerted), and the
feeds file that polls them, beside the feeds the user gave. A first ``make run`` shows stories
without the internet; the items' links are stable, so a restart republishes nothing.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import yaml

log = logging.getLogger(__name__)

DEMO_ARTICLES = Path("deploy/demo/articles.yaml")
DEMO_INTERVAL = "1m"


def rss(outlet: dict[str, Any], now: datetime) -> bytes:
    """One outlet's items as an RSS 2.0 document, newest first."""
    items = sorted(outlet["items"], key=lambda item: item["minutes"])
    body = "".join(
        f"<item><title>{escape(item['title'])}</title>"
        f"<link>https://{outlet['id']}.demo.invalid/{item['slug']}</link>"
        f"<guid>https://{outlet['id']}.demo.invalid/{item['slug']}</guid>"
        f"<description>{escape(item['text'].strip())}</description>"
        f"<pubDate>{format_datetime(now - timedelta(minutes=item['minutes']))}</pubDate></item>"
        for item in items)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{escape(outlet['outlet'])}</title>"
            f"<link>https://{outlet['id']}.demo.invalid/</link>"
            f"<language>{escape(outlet['language'])}</language>{body}</channel></rss>").encode()


class DemoFeeds:
    """Serve the demo outlets' feeds on 127.0.0.1 while in use (``with DemoFeeds(path):``)."""

    def __init__(self, path: Path = DEMO_ARTICLES) -> None:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        self.outlets: list[dict[str, Any]] = data["outlets"]
        now = datetime.now(UTC).replace(microsecond=0)
        documents = {f"/{o['id']}.xml": rss(o, now) for o in self.outlets}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                document = documents.get(self.path)
                self.send_response(200 if document else 404)
                self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
                self.send_header("Content-Length", str(len(document or b"")))
                self.end_headers()
                self.wfile.write(document or b"")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="demo-feeds",
                                        daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def feeds(self) -> list[dict[str, str]]:
        """The feeds file entries that poll the demo outlets."""
        return [{"id": o["id"], "url": f"http://127.0.0.1:{self.port}/{o['id']}.xml",
                 "outlet": o["outlet"], "language": o["language"], "interval": DEMO_INTERVAL}
                for o in self.outlets]

    def feeds_file(self, given: Path, into: Path) -> Path:
        """Write ``given``'s feeds and the demo's to ``into``; return it.

        A ``given`` file that does not parse is returned as it is, for the poller to report
        its mistakes with their lines.
        """
        try:
            data = yaml.safe_load(given.read_text(encoding="utf-8"))
            feeds = data["feeds"]
        except (OSError, yaml.YAMLError, TypeError, KeyError):
            return given
        if not isinstance(feeds, list):
            return given
        taken = {f.get("id") for f in feeds if isinstance(f, dict)}
        data["feeds"] = feeds + [f for f in self.feeds() if f["id"] not in taken]
        into.write_text(f"# {given} and the demo feeds of {DEMO_ARTICLES}\n"
                        + yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
                        encoding="utf-8")
        return into

    def __enter__(self) -> DemoFeeds:
        self._thread.start()
        log.info("demo feeds of %d outlets on http://127.0.0.1:%d/", len(self.outlets),
                 self.port)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
