"""The Prometheus configuration, its alert rules and their unit tests hold together.

promtool checks the configuration and the rules and runs the rules' unit tests
(``deploy/prometheus/tests/*.yml``). Beyond what promtool knows: every alert carries a severity,
a summary, a description and a runbook link whose section exists in ``deploy/RUNBOOK.md``;
every alert has a unit test where it fires and one where it stays quiet; every metric a rule
reads is one newswatch exports; and a changed threshold makes the unit tests fail.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.tools import tool

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULE_FILES = sorted((PROMETHEUS / "rules").glob("*.yml"))
TEST_FILES = sorted((PROMETHEUS / "tests").glob("*.yml"))
RUNBOOK = ROOT / "deploy" / "RUNBOOK.md"
RUNBOOK_URL = "https://github.com/newswatch/newswatch/blob/main/deploy/RUNBOOK.md#"
SEVERITIES = {"page", "ticket"}

#: Series the rules may read that monitor/metrics.py does not register.
PROMETHEUS_METRICS = {"up"}

_REGISTERED = re.compile(r"\b(?:Counter|Gauge|Histogram|Summary)\(\s*\"([a-z_:]+)\"")
_METRIC = re.compile(r"\bnewswatch_[a-z_]+\b|\bup\b(?=\{)")


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("promtool"), *map(str, args)], capture_output=True, text=True,
                          timeout=120, check=False)


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def rules(kind: str) -> list[dict[str, Any]]:
    """Return every rule of the rules files that has the key ``kind`` (alert or record)."""
    return [rule for path in RULE_FILES for group in load(path)["groups"]
            for rule in group["rules"] if kind in rule]


def alert_names() -> set[str]:
    return {rule["alert"] for rule in rules("alert")}


def github_anchor(heading: str) -> str:
    """Return the anchor GitHub gives a Markdown heading: ``## Feed stale`` → ``feed-stale``."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_there_are_rules_and_unit_tests() -> None:
    assert RULE_FILES, "no rules in deploy/prometheus/rules"
    assert TEST_FILES, "no unit tests in deploy/prometheus/tests"
    assert alert_names()


def test_promtool_accepts_the_configuration() -> None:
    result = promtool("check", "config", PROMETHEUS / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_promtool_accepts_the_rules(path: Path) -> None:
    result = promtool("check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda p: p.name)
def test_rule_unit_tests_pass(path: Path) -> None:
    result = promtool("test", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_severity_summary_description_and_runbook() -> None:
    problems = []
    for rule in rules("alert"):
        name = rule["alert"]
        severity = rule.get("labels", {}).get("severity")
        if severity not in SEVERITIES:
            problems.append(f"{name}: severity {severity!r}, not one of {sorted(SEVERITIES)}")
        annotations = rule.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            if not str(annotations.get(key, "")).strip():
                problems.append(f"{name}: no {key} annotation")
        if not str(annotations.get("runbook_url", "")).startswith(RUNBOOK_URL):
            problems.append(f"{name}: runbook_url does not start with {RUNBOOK_URL}")
    assert not problems, "\n".join(problems)


def test_every_runbook_link_leads_to_a_section_about_its_alert() -> None:
    sections: dict[str, str] = {}
    anchor = None
    for line in RUNBOOK.read_text(encoding="utf-8").splitlines():
        if match := re.match(r"#{1,6} (.+)", line):
            anchor = github_anchor(match.group(1))
            sections[anchor] = ""
        elif anchor is not None:
            sections[anchor] += line + "\n"
    problems = []
    for rule in rules("alert"):
        target = rule["annotations"]["runbook_url"].removeprefix(RUNBOOK_URL)
        if target not in sections:
            problems.append(f"{rule['alert']}: no heading with anchor #{target} in {RUNBOOK.name}")
        elif rule["alert"] not in sections[target]:
            problems.append(f"{rule['alert']}: section #{target} does not name the alert")
    assert not problems, "\n".join(problems)


def test_every_alert_is_tested_firing_and_quiet() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in TEST_FILES:
        for case in load(path)["tests"]:
            for check in case.get("alert_rule_test", []):
                expected = check.get("exp_alerts") or []
                if expected:
                    firing.add(check["alertname"])
                    for alert in expected:
                        assert alert.get("exp_annotations", {}).get("summary"), (
                            f"{path.name}: {case.get('name')}: a firing {check['alertname']} "
                            "without its summary")
                else:
                    quiet.add(check["alertname"])
    names = alert_names()
    assert names - firing == set(), "alerts never tested firing"
    assert names - quiet == set(), "alerts never tested staying quiet"
    assert (firing | quiet) - names == set(), "unit tests of alerts that do not exist"


def test_rules_read_only_metrics_newswatch_exports() -> None:
    source = (ROOT / "monitor" / "metrics.py").read_text(encoding="utf-8")
    registered = set(_REGISTERED.findall(source)) | PROMETHEUS_METRICS
    used = {metric for kind in ("alert", "record") for rule in rules(kind)
            for metric in _METRIC.findall(rule["expr"])}
    assert used, "no metric found in the rules' expressions"
    assert used - registered == set(), "rules read metrics monitor/metrics.py does not export"


def test_rules_read_only_recorded_series_that_are_recorded() -> None:
    recorded = {rule["record"] for rule in rules("record")}
    used = {name for kind in ("alert", "record") for rule in rules(kind)
            for name in re.findall(r"\bnewswatch:[a-z0-9_:]+", rule["expr"])}
    assert used - recorded == set()


def test_a_changed_threshold_fails_the_unit_tests(tmp_path: Path) -> None:
    # Proof that the unit tests look at what they claim to: a copy of the rules with one alert's
    # threshold changed must fail them.
    copy = tmp_path / "prometheus"
    shutil.copytree(PROMETHEUS / "rules", copy / "rules")
    shutil.copytree(PROMETHEUS / "tests", copy / "tests")
    rules_file = copy / "rules" / "newswatch.yml"
    text = rules_file.read_text(encoding="utf-8")
    assert "newswatch:feeds_failing:ratio15m > 0.2" in text
    rules_file.write_text(text.replace("newswatch:feeds_failing:ratio15m > 0.2",
                                       "newswatch:feeds_failing:ratio15m > 0.5"), encoding="utf-8")
    result = promtool("test", "rules", copy / "tests" / "poller_test.yml")
    assert result.returncode != 0
    assert "NewswatchManyFeedsFailing" in result.stdout + result.stderr
