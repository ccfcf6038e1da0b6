"""What ops watch, proven on a real run: Prometheus scrapes a real poller and worker through a
short pipeline run (feeds served locally → articles → matches → stories → an alert delivered to
a webhook), then every dashboard panel's query and every alert rule goes through Prometheus's
HTTP API.

- every panel query parses and returns data (a panel that would show "No data" on a healthy
  stack is a broken panel);
- every rule of ``deploy/prometheus/rules/`` loads and evaluates without error;
- every metric ``deploy/`` names is one the processes export: a renamed metric silently
  empties a panel and silences an alert, which is worse than a failing test.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from monitor.article import Article
from monitor.config import Settings
from tests.chaos.harness import Stage, poller_stage, tails, wait_until, worker_stage
from tests.deploy.dashboards import dashboards, panel_queries
from tests.httpserver import HTTPServer
from tests.prometheusserver import PrometheusError, PrometheusServer
from tests.test_app_stories import PLANT, RIVER, WIRE

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]

ROOT = Path(__file__).parents[2]
RULES = sorted((ROOT / "deploy/prometheus/rules").glob("*.yml"))
#: Names in deploy/ that no newswatch process exports, and why.
NOT_EXPORTED = {
    "newswatch_worker_faust_": "Faust's own sensor metrics, exported under this prefix",
}


def rss(title: str, articles: list[Article]) -> bytes:
    """An RSS 2.0 feed of ``articles``, published minutes ago (so that they are alerted)."""
    now = datetime.now(UTC)
    items = "".join(
        f"<item><title>{escape(a.title)}</title><link>{escape(a.url)}</link>"
        f"<guid>{escape(a.url)}</guid><description>{escape(a.text)}</description>"
        f"<pubDate>{format_datetime(now - timedelta(minutes=10 - i))}</pubDate></item>"
        for i, a in enumerate(articles))
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{escape(title)}</title><link>https://example.org/</link>{items}"
            f"</channel></rss>").encode()


def names_in_deploy() -> set[str]:
    """Every newswatch metric name that a dashboard, a rule or a scrape config reads."""
    names: set[str] = set()
    for path in (ROOT / "deploy").rglob("*"):
        if path.suffix in (".json", ".yml", ".yaml") and "k8s" not in path.parts:
            names |= set(re.findall(r"\bnewswatch_[a-z0-9_]*[a-z0-9]", path.read_text()))
    return names


def exported_as(name: str, exported: set[str]) -> bool:
    if any(name.startswith(prefix) for prefix in NOT_EXPORTED):
        return True
    # A histogram is named by its family in help texts and by its series in queries.
    return name in exported or any(f"{name}{suffix}" in exported
                                   for suffix in ("_bucket", "_count", "_sum"))


def test_every_panel_and_rule_works_on_what_a_real_run_exports(
        kafka_settings: Settings, tmp_path: Path) -> None:
    settings = kafka_settings
    with HTTPServer() as feeds_host, HTTPServer() as hook:
        feeds_host.route("/wire.xml", body=rss("Example Wire", [WIRE, PLANT]))
        feeds_host.route("/river.xml", body=rss("Han River Times", [RIVER]))
        feeds_host.route("/gone.xml", status=503)
        hook.route("/alerts", body=b"ok")
        feeds = tmp_path / "feeds.yaml"
        feeds.write_text("feeds:\n" + "".join(
            f"  - id: {feed_id}\n    url: {feeds_host.url(path)}\n    outlet: {outlet}\n"
            f"    language: en\n    interval: 1m\n"
            for feed_id, path, outlet in (("example-wire", "/wire.xml", "Example Wire"),
                                          ("han-river", "/river.xml", "Han River Times"),
                                          ("gone", "/gone.xml", "Gone Daily"))))
        subscribers = tmp_path / "subscribers.yaml"
        subscribers.write_text(f"""\
subscribers:
  - id: desk
    watch: [nk-russia-arms, korea-extended-deterrence]
    channels:
      - console: {{}}
      - webhook: {{url: "{hook.url('/alerts')}"}}
""")
        worker = worker_stage(settings, ROOT / "topics", tmp_path / "worker")
        worker.command += ["--subscribers", str(subscribers)]
        poller = poller_stage(settings, feeds, tmp_path / "poller")
        with worker, poller:
            worker.start().wait_serving()
            poller.start().wait_serving()
            jobs = {"newswatch-worker": [f"127.0.0.1:{worker.port}"],
                    "newswatch-poller": [f"127.0.0.1:{poller.port}"]}
            with PrometheusServer(tmp_path / "prometheus", jobs, rule_files=RULES) as prom:
                run(prom, hook, [poller, worker])


def run(prom: PrometheusServer, hook: HTTPServer, stages: list[Stage]) -> None:
    wait_until(lambda: len(hook.requests_to("/alerts")) >= 1, timeout=180,
               what="an alert delivered to the webhook", stages=stages)
    prom.wait_for('newswatch_alerts_deliveries_total{outcome="sent"} > 0', timeout=60)
    # Two scrapes after the delivery, so that rates over it have two samples.
    time.sleep(3)

    rules = prom.rules()
    assert len(rules) >= 8, f"only {len(rules)} rules loaded from {RULES}"
    broken_rules = [f"{r['name']}: {r.get('lastError')}" for r in rules
                    if r.get("health") != "ok"]
    assert not broken_rules, "\n".join(broken_rules)

    problems = []
    for name, dashboard in sorted(dashboards().items()):
        for title, query in panel_queries(dashboard):
            try:
                if not prom.query(query):
                    problems.append(f"{name} / {title}: no data for {query}")
            except PrometheusError as exc:  # every panel is reported, not just the first
                problems.append(f"{name} / {title}: {exc} in {query}")
    assert not problems, "\n".join(problems) + "\n" + tails(stages)

    exported = prom.metric_names()
    missing = sorted(n for n in names_in_deploy() if not exported_as(n, exported))
    assert not missing, f"named in deploy/ but exported by no process: {missing}"
