"""The Grafana dashboards load, read the right way round and query metrics that exist.

What Grafana would only show as an empty or broken panel is caught here: a query for a metric
nobody exports, a Grafana variable Prometheus cannot read, a panel on another data source, a
provider looking where compose does not mount the files, a query promtool cannot parse.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.dashboards import ROOT, dashboards, panel_queries, panels
from tests.deploy.tools import tool

GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARDS = dashboards()

#: Metrics the dashboards may use that monitor/metrics.py does not register, and why.
ALLOWED_PREFIXES = {
    "newswatch_worker_faust_": "Faust's own sensor metrics, registered by "
                              "faust.sensors.prometheus under the prefix monitor/app gives it",
}

#: Prometheus's own metrics a dashboard may query.
PROMETHEUS_METRICS = {"up"}

_METRIC = re.compile(r"newswatch_[a-z_]+")
_REGISTERED = re.compile(r"\b(Counter|Gauge|Histogram|Summary)\(\s*\"([a-z_:]+)\"")
_SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{")
_RATE = re.compile(r"\b(?:rate|irate)\(([^\[]*)\[([^\]]*)\]")


def registered_metrics() -> set[str]:
    """Return every series name monitor/metrics.py can export, suffixes included."""
    source = (ROOT / "monitor" / "metrics.py").read_text(encoding="utf-8")
    names = set()
    for kind, name in _REGISTERED.findall(source):
        names.add(name)
        if kind in ("Histogram", "Summary"):
            names.update(f"{name}{suffix}" for suffix in ("_bucket", "_count", "_sum"))
    return names


def provisioned_datasource_uid() -> str:
    config = yaml.safe_load((GRAFANA / "datasources" / "prometheus.yml").read_text())
    (datasource,) = [d for d in config["datasources"] if d["type"] == "prometheus"]
    return str(datasource["uid"])


def all_panels() -> list[tuple[str, dict]]:
    return [(f"{stem}: {panel.get('title', '?')}", panel)
            for stem, dashboard in DASHBOARDS.items() for panel in panels(dashboard)]


def all_queries() -> list[tuple[str, str]]:
    return [(f"{stem}: {title}", query)
            for stem, dashboard in DASHBOARDS.items()
            for title, query in panel_queries(dashboard)]


def raw_exprs() -> list[tuple[str, str]]:
    return [(f"{stem}: {panel.get('title')}", target["expr"])
            for stem, dashboard in DASHBOARDS.items() for panel in panels(dashboard)
            for target in panel.get("targets", []) if target.get("expr")]


def test_the_three_dashboards_are_there() -> None:
    assert set(DASHBOARDS) == {"newswatch-overview", "newswatch-feeds", "newswatch-alerts"}


def test_every_dashboard_has_a_unique_uid_and_title() -> None:
    uids = [d["uid"] for d in DASHBOARDS.values()]
    titles = [d["title"] for d in DASHBOARDS.values()]
    assert all(uids) and len(set(uids)) == len(uids)
    assert all(titles) and len(set(titles)) == len(titles)
    for stem, dashboard in DASHBOARDS.items():
        assert dashboard["uid"] == stem, "the file is named for its uid"


@pytest.mark.parametrize("stem", sorted(DASHBOARDS))
def test_dashboards_share_tags_refresh_time_range_and_links(stem: str) -> None:
    dashboard = DASHBOARDS[stem]
    assert dashboard["tags"] == ["newswatch"]
    assert dashboard["refresh"] == "30s"
    assert dashboard["time"] == {"from": "now-6h", "to": "now"}
    assert 39 <= dashboard["schemaVersion"] <= 41
    # A link to every dashboard tagged newswatch: the three link to one another.
    assert any(link.get("type") == "dashboards" and "newswatch" in link.get("tags", [])
               for link in dashboard["links"])


@pytest.mark.parametrize(("name", "panel"), all_panels(), ids=[n for n, _ in all_panels()])
def test_every_panel_has_a_title_description_unit_and_query(name: str, panel: dict) -> None:
    assert panel.get("title", "").strip()
    assert len(panel.get("description", "")) >= 40, "say how to read the panel"
    assert panel["fieldConfig"]["defaults"].get("unit")
    assert any(target.get("expr") for target in panel.get("targets", []))


def test_panel_ids_are_unique_within_a_dashboard() -> None:
    for stem, dashboard in DASHBOARDS.items():
        ids = [panel["id"] for panel in panels(dashboard)]
        assert len(set(ids)) == len(ids), stem


def test_stat_panels_show_the_last_value() -> None:
    for name, panel in all_panels():
        if panel["type"] == "stat":
            assert panel["options"]["reduceOptions"]["calcs"] == ["lastNotNull"], name


def test_every_panel_and_query_uses_the_provisioned_datasource() -> None:
    uid = provisioned_datasource_uid()
    for name, panel in all_panels():
        assert panel["datasource"] == {"type": "prometheus", "uid": uid}, name
        for target in panel["targets"]:
            assert target.get("datasource", panel["datasource"])["uid"] == uid, name
    for stem, dashboard in DASHBOARDS.items():
        for variable in dashboard.get("templating", {}).get("list", []):
            if variable["type"] == "query":
                assert variable["datasource"]["uid"] == uid, stem


def test_template_variables_are_multi_select_with_all_as_a_regex() -> None:
    for stem, dashboard in DASHBOARDS.items():
        for variable in dashboard.get("templating", {}).get("list", []):
            assert variable["name"] in ("feed", "channel"), stem
            assert variable["multi"] and variable["includeAll"], stem
            assert variable["allValue"] == ".*", stem
            exprs = [t["expr"] for p in panels(dashboard) for t in p["targets"]]
            uses = [e for e in exprs if f"${variable['name']}" in e]
            assert uses, f"{stem}: ${variable['name']} is never used"
            for expr in uses:
                assert re.search(rf'=~\s*"\$\{{?{variable["name"]}\}}?"', expr), expr


def test_table_panels_merge_one_instant_table_query_per_column() -> None:
    for name, panel in all_panels():
        if panel["type"] != "table":
            continue
        for target in panel["targets"]:
            assert target.get("instant") and target.get("format") == "table", name
        transformations = [t["id"] for t in panel.get("transformations", [])]
        assert transformations[:2] == ["merge", "organize"], name
        renamed = panel["transformations"][1]["options"]["renameByName"]
        for target in panel["targets"]:
            assert f"Value #{target['refId']}" in renamed, f"{name}: name every column"


def test_rates_use_grafanas_rate_interval() -> None:
    for name, expr in raw_exprs():
        for _, window in _RATE.findall(expr):
            assert window == "$__rate_interval", f"{name}: {expr}"


def test_substituted_queries_leave_no_grafana_variable() -> None:
    for name, query in all_queries():
        assert "$" not in query and "[[" not in query, f"{name}: {query}"


def test_every_metric_is_registered_or_an_allowed_exception() -> None:
    registered = registered_metrics()
    assert "newswatch_poller_polls_total" in registered
    assert "newswatch_alerts_send_duration_seconds_bucket" in registered
    for name, query in all_queries():
        for metric in _METRIC.findall(query):
            assert metric in registered or metric.startswith(tuple(ALLOWED_PREFIXES)), (
                f"{name}: {metric} is not in monitor/metrics.py")
        for selected in _SELECTOR.findall(query):
            assert selected.startswith("newswatch_") or selected in PROMETHEUS_METRICS, (
                f"{name}: {selected}")


def test_up_queries_name_scrape_jobs_prometheus_has() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    for name, query in all_queries():
        for job in re.findall(r'\bup\{job="([^"]+)"\}', query):
            assert job in jobs, f"{name}: no scrape job {job}"


def test_provider_reads_the_dashboards_where_compose_mounts_them() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = {}
    for volume in compose["services"]["grafana"]["volumes"]:
        source, target, *_ = volume.split(":")
        if source.startswith("."):
            mounts[(ROOT / source).resolve()] = Path(target)
    provisioning = mounts[GRAFANA.resolve()]
    assert provisioning == Path("/etc/grafana/provisioning"), "where Grafana provisions from"
    provider = yaml.safe_load((GRAFANA / "dashboards" / "provider.yml").read_text())
    (path,) = [p["options"]["path"] for p in provider["providers"]]
    assert Path(path) == provisioning / "dashboards"


def test_queries_are_valid_promql(tmp_path: Path) -> None:
    # promtool has no offline query parser; a recording rule's expr is parsed by check rules.
    rules = [{"record": f"dashboard:query_{i}:check", "expr": query}
             for i, (_, query) in enumerate(all_queries())]
    path = tmp_path / "dashboards.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run([tool("promtool"), "check", "rules", str(path)],
                            capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        names = "\n".join(f"query_{i}: {n}" for i, (n, _) in enumerate(all_queries()))
        pytest.fail(f"{result.stdout}{result.stderr}\n{names}")
