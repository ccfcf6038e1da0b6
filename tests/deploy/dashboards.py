"""The Grafana dashboards of ``deploy/grafana/dashboards``, their queries as Prometheus sees them.

::

    for stem, dashboard in dashboards().items():          # "newswatch-overview": {...}
        for title, promql in panel_queries(dashboard):
            ...  # promql has no Grafana variable left: send it to Prometheus as it is

Grafana replaces its variables before a query leaves the browser; :func:`panel_queries` does
the same with fixed values, so a test can parse or evaluate each query. Read-only: nothing here
writes a dashboard.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD_DIR = ROOT / "deploy" / "grafana" / "dashboards"

#: Grafana's built-in variables, as a test substitutes them. ``$__range`` is one hour
#: throughout, so ``$__range`` and ``$__range_s`` agree.
BUILTIN_VALUES = {
    "__rate_interval": "5m",
    "__interval": "1m",
    "__interval_ms": "60000",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
}

#: What a dashboard's own template variable becomes: its "All" value.
ALL_VALUE = ".*"

# $name, ${name}, ${name:format} and the older [[name]].
_VARIABLE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]|\$(\w+)")

Dashboard = dict[str, Any]
Panel = dict[str, Any]


def dashboards() -> dict[str, Dashboard]:
    """Return every dashboard JSON file, parsed, by file stem (``newswatch-overview``)."""
    return {path.stem: json.loads(path.read_text(encoding="utf-8"))
            for path in sorted(DASHBOARD_DIR.glob("*.json"))}


def panels(dashboard: Dashboard) -> Iterator[Panel]:
    """Yield every panel that shows data, including those nested in (collapsed) rows.

    Rows themselves are headings, not panels: they are not yielded.
    """
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def template_variables(dashboard: Dashboard) -> set[str]:
    """Return the names of the dashboard's template variables (``feed``, ``channel``)."""
    return {v["name"] for v in dashboard.get("templating", {}).get("list", [])}


def substitute(query: str, variables: set[str]) -> str:
    """Replace Grafana's variables in one query as Grafana would for "All".

    - Built-ins (``$__rate_interval``, ``$__interval``, ``$__range``, ...) become
      :data:`BUILTIN_VALUES`.
    - The dashboard's own variables (``$feed``, ``${feed}``, ``${feed:regex}``, ``[[feed]]``)
      become :data:`ALL_VALUE`.
    - Anything else is left as written, so a test finds the stray ``$``.
    """
    def replace(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group is not None)
        if name in BUILTIN_VALUES:
            return BUILTIN_VALUES[name]
        if name in variables:
            return ALL_VALUE
        return match.group(0)

    return _VARIABLE.sub(replace, query)


def panel_queries(dashboard: Dashboard) -> list[tuple[str, str]]:
    """Return (panel title, PromQL) for every target of every panel, variables substituted.

    Range and instant targets alike; targets without an ``expr`` are skipped (a test checks
    every panel has at least one query).
    """
    variables = template_variables(dashboard)
    return [(panel.get("title", ""), substitute(target["expr"], variables))
            for panel in panels(dashboard)
            for target in panel.get("targets", [])
            if target.get("expr")]
