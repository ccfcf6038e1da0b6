"""docker-compose.yml as the ops engineer relies on it, checked without a Docker engine.

The file is validated against the Compose specification, then read for what ``docker compose
up`` must do: start in order, recover by itself, report health, take secrets only from
``.env``, and build an image that holds what the commands read.
"""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.tools import tool

ROOT = Path(__file__).parents[2]
COMPOSE = ROOT / "docker-compose.yml"
NEWSWATCH_SERVICES = ("poller", "worker", "console")
LONG_RUNNING = ("kafka", "poller", "worker", "console", "prometheus", "grafana", "mailpit")


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())  # type: ignore[no-any-return]


def test_the_compose_file_follows_the_compose_specification() -> None:
    result = subprocess.run([str(tool("check-jsonschema")), "--builtin-schema",
                             "vendor.compose-spec", str(COMPOSE)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_stages_start_after_kafka_is_healthy_and_every_topic_exists() -> None:
    services = compose()["services"]
    assert services["kafka-topics"]["command"] == ["create-topics"]
    for name in NEWSWATCH_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["kafka"]["condition"] == "service_healthy", name
        assert depends["kafka-topics"]["condition"] == "service_completed_successfully", name
    assert services["grafana"]["depends_on"]["prometheus"]["condition"] == "service_healthy"
    assert services["worker"]["deploy"]["replicas"] == 2


def test_every_long_running_service_restarts_and_reports_its_health() -> None:
    services = compose()["services"]
    for name in LONG_RUNNING:
        assert services[name].get("restart") == "unless-stopped", name
        assert services[name].get("healthcheck", {}).get("test"), name
    for name in NEWSWATCH_SERVICES:
        probe = " ".join(services[name]["healthcheck"]["test"])
        assert "/readyz" in probe, name
        # Long enough for a clean stop: the default 10 s cuts a worker's last commit short.
        assert int(services[name]["stop_grace_period"].rstrip("s")) >= 30


def test_the_web_pages_are_on_the_documented_ports() -> None:
    services = compose()["services"]
    ports = {name: services[name].get("ports", []) for name in services}
    assert "3000:3000" in ports["grafana"] and "9090:9090" in ports["prometheus"]
    assert "8025:8025" in ports["mailpit"]
    # The console is published on the host's loopback only: it may run without login.
    assert ports["console"] == ["127.0.0.1:8080:8080"]
    worker_env = services["worker"]["environment"]
    assert "mailpit:1025" in worker_env["NEWSWATCH_SMTP_URL"]


def test_mounted_files_exist_and_provision_prometheus_and_grafana() -> None:
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which is missing"
    assert list((ROOT / "deploy/prometheus/rules").glob("*.yml"))
    assert list((ROOT / "deploy/grafana/dashboards").glob("*.json"))


def referenced_variables(text: str) -> set[str]:
    """The ``${VAR}`` a YAML file reads, outside its comments."""
    lines = (line for line in text.splitlines() if not line.lstrip().startswith("#"))
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", "\n".join(lines)))


def test_every_variable_and_secret_is_documented_in_env_example() -> None:
    example = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", example, re.MULTILINE))
    needed = referenced_variables(COMPOSE.read_text())
    needed |= referenced_variables((ROOT / "deploy/subscribers.yaml").read_text())
    assert needed <= documented, f"missing from .env.example: {sorted(needed - documented)}"
    assert ".env" in (ROOT / ".gitignore").read_text().split()


def test_the_default_subscribers_file_needs_no_secret() -> None:
    command = compose()["services"]["worker"]["command"]
    default = re.search(r"\$\{NEWSWATCH_SUBSCRIBERS:-([^}]+)\}", " ".join(command))
    assert default, command
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "subscribers", "check", default.group(1)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves ``path`` out of the build context (last matching pattern wins)."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        if fnmatch.fnmatch(path, pattern.lstrip("!")) or path.startswith(
                pattern.lstrip("!").rstrip("/") + "/"):
            ignored = not negate
    return ignored


def test_the_image_build_context_holds_everything_the_dockerfile_copies() -> None:
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    text = (ROOT / "deploy/Dockerfile").read_text().replace("\\\n", " ")
    copies = [line.split()[1:-1] for line in text.splitlines()
              if line.startswith("COPY ") and "--from" not in line]
    sources = [source for sources in copies for source in sources]
    assert "deploy/subscribers.compose.yaml" in sources
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not dockerignored(source, patterns), f"{source} is left out by .dockerignore"
