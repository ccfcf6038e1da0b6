"""The Kafka topic catalogue and ``newswatch create-topics`` against the real broker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from kafka.admin import ConfigResource, KafkaAdminClient, NewTopic

from monitor.app import OUTPUT_TOPICS, create_app
from monitor.catalogue import kafka_topics
from monitor.config import Settings


def test_catalogue_holds_every_topic_the_stages_use(tmp_path: Path) -> None:
    settings = Settings(topic_namespace="cat")
    names = {spec.name for spec in kafka_topics(settings)}
    worker = create_app(settings, topics_dir=Path("topics"), datadir=tmp_path, console=None)
    used = {settings.topic(t) for t in ("articles", "poller.state", *OUTPUT_TOPICS)}
    assert used | set(worker.changelog_topics) <= names


def create_topics(settings: Settings) -> subprocess.CompletedProcess[str]:
    env = {"NEWSWATCH_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
           "NEWSWATCH_TOPIC_NAMESPACE": settings.topic_namespace, "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "monitor", "create-topics", "--timeout", "30"],
                          env=env, capture_output=True, text=True, timeout=120)


def topic_config(admin: KafkaAdminClient, topic: str) -> dict[str, str]:
    described = admin.describe_configs([ConfigResource("TOPIC", topic, configs=None)],
                                       config_filter="all")
    entries = next(iter(described.values()))[topic]
    return {key: str(entry["value"] if isinstance(entry, dict) else entry)
            for key, entry in entries.items()}


@pytest.mark.kafka
def test_create_topics_creates_the_catalogue_then_repairs_drift(kafka_settings: Settings) -> None:
    settings = kafka_settings
    first = create_topics(settings)
    assert first.returncode == 0, first.stderr
    specs = {spec.name: spec for spec in kafka_topics(settings)}
    assert first.stdout.count("created ") == len(specs)

    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        described = {t["name"]: len(t["partitions"]) for t in admin.describe_topics(list(specs))}
        assert described == {name: spec.partitions for name, spec in specs.items()}
        assert topic_config(admin, settings.topic("poller.state"))["cleanup.policy"] == "compact"
        assert topic_config(admin, settings.topic("alerts"))["retention.ms"] == str(90 * 86400000)

        again = create_topics(settings)
        assert again.returncode == 0 and "created" not in again.stdout, again.stdout
        assert "updated" not in again.stdout

        # Someone shortened the audit's retention by hand: the next run puts it back, and says so.
        admin.alter_configs([ConfigResource("TOPIC", settings.topic("alerts"),
                                            configs={"retention.ms": "60000"})])
        repaired = create_topics(settings)
        assert repaired.returncode == 0, repaired.stderr
        assert f"updated {settings.topic('alerts')}: retention.ms=7776000000 (was 60000)" \
            in repaired.stdout
        assert topic_config(admin, settings.topic("alerts"))["retention.ms"] == "7776000000"
    finally:
        admin.close()


@pytest.mark.kafka
def test_create_topics_refuses_to_repartition_a_topic(kafka_settings: Settings) -> None:
    settings = kafka_settings
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        admin.create_topics([NewTopic(settings.topic("matches"), 2, 1)])
    finally:
        admin.close()
    result = create_topics(settings)
    assert result.returncode == 1
    assert f"{settings.topic('matches')} has 2 partitions where 6 are expected" in result.stderr
    # Everything else was still created.
    assert result.stdout.count("created ") == len(kafka_topics(settings)) - 1
