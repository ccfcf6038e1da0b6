"""The poller's HTTP port, in-process: /metrics, /healthz and /readyz from a real server."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge

from monitor.feeds.serve import StatusServer
from tests.metricsread import scrape


class Readiness:
    def __init__(self) -> None:
        self.answer: tuple[bool, str] = (False, "waiting for Kafka to assign state partitions")
        self.fail = False

    def __call__(self) -> tuple[bool, str]:
        if self.fail:
            raise RuntimeError("a bug in the readiness check")
        return self.answer


def get(url: str) -> tuple[int, str, str]:
    """Return (status, content type, body) of a GET, whatever the status."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


@pytest.fixture
def readiness() -> Readiness:
    return Readiness()


@pytest.fixture
def base(readiness: Readiness) -> Iterator[str]:
    registry = CollectorRegistry()
    Gauge("newswatch_poller_stalled", "1 when stalled.", registry=registry).set(0)
    server = StatusServer(0, registry, status=readiness, host="127.0.0.1")
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.close()


def test_readyz_is_503_with_the_reason_until_ready_then_200(
        base: str, readiness: Readiness) -> None:
    assert get(f"{base}/readyz") == (
        503, "text/plain; charset=utf-8", "waiting for Kafka to assign state partitions\n")
    readiness.answer = (True, "polling the feeds of 12 of 12 state partitions")
    assert get(f"{base}/readyz")[::2] == (
        200, "polling the feeds of 12 of 12 state partitions\n")
    readiness.answer = (False, "stalled: input waiting and nothing processed for 300 s")
    assert get(f"{base}/readyz")[::2] == (
        503, "stalled: input waiting and nothing processed for 300 s\n")


def test_healthz_is_200_whatever_readyz_says(base: str) -> None:
    assert get(f"{base}/healthz") == (200, "text/plain; charset=utf-8", "ok\n")


def test_metrics_are_the_registry_in_prometheus_text_format(base: str) -> None:
    status, content_type, _ = get(f"{base}/metrics")
    assert (status, content_type) == (200, CONTENT_TYPE_LATEST)
    assert scrape(f"{base}/metrics") == {"newswatch_poller_stalled": 0.0}


def test_a_failing_readiness_check_is_a_500_never_a_200(
        base: str, readiness: Readiness, caplog: pytest.LogCaptureFixture) -> None:
    readiness.fail = True
    assert get(f"{base}/readyz")[::2] == (500, "readiness check failed: see the log\n")
    assert "a bug in the readiness check" in caplog.text


def test_other_paths_are_404(base: str) -> None:
    assert get(f"{base}/")[0] == 404
    assert get(f"{base}/metricsz")[0] == 404


def test_a_port_in_use_fails_at_construction(base: str) -> None:
    port = int(base.rpartition(":")[2])
    with pytest.raises(OSError):
        StatusServer(port, CollectorRegistry(), status=Readiness(), host="127.0.0.1")
