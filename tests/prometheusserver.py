"""A real Prometheus on 127.0.0.1 for tests: it scrapes the targets given, loads rule files, and
answers PromQL through its HTTP API.

::

    with PrometheusServer(tmp_path, {"newswatch-worker": [f"127.0.0.1:{port}"]},
                          rule_files=[Path("deploy/prometheus/rules/newswatch.yml")]) as prom:
        prom.wait_for("newswatch_worker_ready == 1")
        prom.query('sum(rate(newswatch_tagger_articles_total[5m]))')   # the API's "result"

It scrapes and evaluates rules every second, so a test sees rates within seconds. The binary is
Debian's ``prometheus``, which ``tools/install`` unpacks (:func:`tests.deploy.tools.tool`).
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from tests.metricsread import free_port

SCRAPE_INTERVAL = "1s"


class PrometheusError(RuntimeError):
    """Prometheus answered a query with an error (its message says why)."""


class PrometheusServer:
    """See the module docstring."""

    def __init__(self, workdir: Path, jobs: Mapping[str, Sequence[str]], *,
                 rule_files: Sequence[Path] = (), binary: Path | None = None) -> None:
        from tests.deploy.tools import tool

        self.workdir = workdir
        self.jobs = jobs
        self.rule_files = [p.resolve() for p in rule_files]
        self.binary = binary or tool("prometheus")
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "prometheus.log"

    def __enter__(self) -> PrometheusServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = {
            "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL,
                       "scrape_timeout": SCRAPE_INTERVAL},
            "rule_files": [str(p) for p in self.rule_files],
            "scrape_configs": [{"job_name": job, "static_configs": [{"targets": list(targets)}]}
                               for job, targets in self.jobs.items()],
        }
        (self.workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.port = free_port()
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [str(self.binary), f"--config.file={self.workdir / 'prometheus.yml'}",
                 f"--storage.tsdb.path={self.workdir / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not self._ready():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"Prometheus did not start:\n{self.log_tail()}")
            time.sleep(0.2)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return int(response.status) == 200
        except OSError:
            return False

    # -- the HTTP API ----------------------------------------------------------------------
    def api(self, path: str, **params: str) -> Any:
        """GET ``/api/v1/<path>``; return its ``data``, or raise PrometheusError."""
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:
            body = json.load(exc)
        if body.get("status") != "success":
            raise PrometheusError(f"{body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Evaluate ``promql`` now; return the result's series (a scalar is one series)."""
        data = self.api("query", query=promql)
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        return list(data["result"])

    def metric_names(self) -> set[str]:
        return set(self.api("label/__name__/values"))

    def rules(self) -> list[dict[str, Any]]:
        """Every loaded rule, with its ``health`` and ``lastError``."""
        return [rule for group in self.api("rules")["groups"] for rule in group["rules"]]

    def wait_for(self, promql: str, *, timeout: float = 60.0) -> list[dict[str, Any]]:
        """Wait until ``promql`` returns a series; return them."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(promql)
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"no data for {promql} within {timeout:.0f} s")
            time.sleep(0.5)
