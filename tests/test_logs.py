"""JSON logs and bad settings, as an ops engineer meets them: on stderr of a real process."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

from monitor.alerting.notice import Secret
from monitor.logs import JsonFormatter


def record(name: str, message: str, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord(name, logging.WARNING, __file__, 1, message, (), None)
    rec.__dict__.update(extra)
    return rec


def test_a_json_line_carries_stage_and_identifiers_and_nothing_else_of_extra() -> None:
    line = JsonFormatter("poller").format(record(
        "monitor.feeds.poller", "feed slow", feed_id="yonhap-en", article_id="a1",
        body="the whole article text", password="hunter2"))
    obj = json.loads(line)
    assert obj["process"] == "poller" and obj["stage"] == "poller"
    assert obj["feed_id"] == "yonhap-en" and obj["article_id"] == "a1"
    assert obj["message"] == "feed slow" and obj["level"] == "WARNING"
    assert "body" not in obj and "hunter2" not in line
    assert obj["time"].endswith("Z")


def test_the_stage_a_call_site_names_wins_over_the_module() -> None:
    obj = json.loads(JsonFormatter("worker").format(record("monitor.app", "dead", stage="story")))
    assert obj["stage"] == "story"
    assert "stage" not in json.loads(JsonFormatter("worker").format(record("faust", "x")))


def test_an_exception_is_one_json_line_with_its_traceback() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        rec = logging.LogRecord("monitor.alerting.stage", logging.ERROR, __file__, 1, "failed",
                                (), sys.exc_info())
    line = JsonFormatter("worker").format(rec)
    assert "\n" not in line
    obj = json.loads(line)
    assert obj["exc_type"] == "RuntimeError" and "boom" in obj["exc"]
    assert obj["stage"] == "alert"


def test_a_secret_in_a_message_is_masked() -> None:
    line = JsonFormatter("worker").format(logging.LogRecord(
        "monitor.alerting.stage", logging.INFO, __file__, 1, "token %s", (Secret("xoxb-1"),), None))
    assert "xoxb" not in line


def run_newswatch(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monitor", *args], capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin", **env})


def test_newswatch_logs_json_when_asked(tmp_path: Path) -> None:
    result = run_newswatch("worker", "--subscribers", str(tmp_path / "missing.yaml"),
                           NEWSWATCH_LOG_FORMAT="json")
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    logged = [json.loads(line) for line in lines if line.startswith("{")]
    assert logged, result.stderr
    assert logged[-1]["process"] == "worker" and logged[-1]["level"] == "ERROR"
    assert "missing.yaml" in logged[-1]["message"]


def test_a_bad_setting_is_named_with_its_value_and_nothing_runs() -> None:
    result = run_newswatch("topics", "check", NEWSWATCH_LOG_FORMAT="xml",
                           NEWSWATCH_STALL_AFTER="soon")
    assert result.returncode == 2
    assert "NEWSWATCH_LOG_FORMAT='xml'" in result.stderr
    assert "NEWSWATCH_STALL_AFTER='soon'" in result.stderr
    assert "Traceback" not in result.stderr
