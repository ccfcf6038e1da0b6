"""Settings: the one place that reads ``os.environ``.

Every process builds one frozen :class:`Settings` at start-up (``Settings.from_env()``) and
passes it down; nothing else looks at the environment. Subscribers' secrets are
:class:`~monitor.alerting.notice.Secret`, so they print masked in logs, reprs and errors.

- ``NEWSWATCH_KAFKA_BOOTSTRAP``: Kafka bootstrap servers, ``host:port[,host:port]``
  (default ``localhost:9092``);
- ``NEWSWATCH_KAFKA_REPLICATION``: replicas of each Kafka topic newswatch creates (default 1;
  3 on a cluster of three brokers or more);
- ``NEWSWATCH_TOPIC_NAMESPACE``: first word of every Kafka topic name, ``news.articles``
  (default ``news``);
- ``NEWSWATCH_CACHE``: downloaded Kafka jars, local broker and worker data
  (default ``~/.cache/newswatch``);
- ``NEWSWATCH_LOG_LEVEL``: ``DEBUG``, ``INFO``, ``WARNING`` ... (default ``INFO``);
- ``NEWSWATCH_LOG_FORMAT``: ``text`` (default) or ``json``, one object a line
  (:mod:`monitor.logs`);
- ``NEWSWATCH_USER_AGENT``: sent to feed hosts (default ``newswatch/<version> (+URL)``);
- ``NEWSWATCH_STALL_AFTER``: seconds a stage may hold waiting input without processing any
  before it reports itself stalled and exits for its supervisor to restart it (default 300).
- ``NEWSWATCH_STORY_WINDOW_HOURS``: hours a story stays open after its latest article (72);
- ``NEWSWATCH_ALERT_DEAD_AFTER_HOURS``: hours an alert that keeps failing is retried before it
  goes to ``news.alerts.dead`` (default 48);
- ``NEWSWATCH_ALERT_TICK_SECONDS``: how often waiting alerts, digests and updates are looked at
  (default 10);
- ``NEWSWATCH_SLACK_API_URL``: Slack's Web API base URL (default ``https://slack.com/api/``).

Email takes ``NEWSWATCH_SMTP_URL``, ``NEWSWATCH_EMAIL_FROM`` and ``NEWSWATCH_SMTP_CA_FILE``
(:class:`monitor.alerting.channels.SmtpSettings`); subscribers' secrets come from the variables
their file names.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from monitor import __version__

DEFAULT_USER_AGENT = f"newswatch/{__version__} (+https://github.com/newswatch/newswatch)"


class SettingsError(ValueError):
    """A ``NEWSWATCH_*`` variable holds a value that cannot be used; the message names it."""


#: Settings field → the environment variable that sets it, for errors.
_ENV_NAMES = {
    "kafka_bootstrap": "NEWSWATCH_KAFKA_BOOTSTRAP",
    "kafka_replication": "NEWSWATCH_KAFKA_REPLICATION",
    "topic_namespace": "NEWSWATCH_TOPIC_NAMESPACE",
    "cache_dir": "NEWSWATCH_CACHE", "log_level": "NEWSWATCH_LOG_LEVEL",
    "log_format": "NEWSWATCH_LOG_FORMAT", "user_agent": "NEWSWATCH_USER_AGENT",
    "stall_after": "NEWSWATCH_STALL_AFTER", "story_window_hours": "NEWSWATCH_STORY_WINDOW_HOURS",
    "alert_dead_after_hours": "NEWSWATCH_ALERT_DEAD_AFTER_HOURS",
    "alert_tick_seconds": "NEWSWATCH_ALERT_TICK_SECONDS",
    "slack_api_url": "NEWSWATCH_SLACK_API_URL",
}


class Settings(BaseModel):
    """Process-wide configuration, immutable once built."""

    model_config = ConfigDict(frozen=True)

    kafka_bootstrap: str = "localhost:9092"
    #: Replicas of each Kafka topic newswatch creates (3 on a production cluster).
    kafka_replication: int = Field(default=1, ge=1)
    topic_namespace: str = Field(default="news", pattern=r"^[A-Za-z0-9._-]+$")
    cache_dir: Path = Path("~/.cache/newswatch").expanduser()
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    user_agent: str = DEFAULT_USER_AGENT
    stall_after: float = Field(default=300.0, gt=0)
    #: Hours a story stays open after its latest article.
    story_window_hours: float = Field(default=72.0, gt=0)
    alert_dead_after_hours: float = Field(default=48.0, gt=0)
    alert_tick_seconds: float = Field(default=10.0, gt=0)
    slack_api_url: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``NEWSWATCH_*`` variables (``os.environ`` by default)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, key in (
            ("kafka_bootstrap", "NEWSWATCH_KAFKA_BOOTSTRAP"),
            ("topic_namespace", "NEWSWATCH_TOPIC_NAMESPACE"),
            ("log_level", "NEWSWATCH_LOG_LEVEL"),
            ("log_format", "NEWSWATCH_LOG_FORMAT"),
            ("user_agent", "NEWSWATCH_USER_AGENT"),
        ):
            if env.get(key):
                values[name] = env[key]
        if env.get("NEWSWATCH_KAFKA_REPLICATION"):
            values["kafka_replication"] = env["NEWSWATCH_KAFKA_REPLICATION"]
        if env.get("NEWSWATCH_STALL_AFTER"):
            values["stall_after"] = env["NEWSWATCH_STALL_AFTER"]
        if env.get("NEWSWATCH_STORY_WINDOW_HOURS"):
            values["story_window_hours"] = env["NEWSWATCH_STORY_WINDOW_HOURS"]
        for name, key in (("alert_dead_after_hours", "NEWSWATCH_ALERT_DEAD_AFTER_HOURS"),
                          ("alert_tick_seconds", "NEWSWATCH_ALERT_TICK_SECONDS"),
                          ("slack_api_url", "NEWSWATCH_SLACK_API_URL")):
            if env.get(key):
                values[name] = env[key]
        if env.get("NEWSWATCH_CACHE"):
            values["cache_dir"] = Path(env["NEWSWATCH_CACHE"]).expanduser()
        try:
            return cls(**values)
        except ValidationError as exc:
            raise SettingsError("; ".join(
                f"{_ENV_NAMES.get(str(e['loc'][0]), e['loc'][0])}={e['input']!r}: {e['msg']}"
                for e in exc.errors())) from None

    def topic(self, thing: str) -> str:
        """Name a Kafka topic: ``topic("articles")`` is ``news.articles``."""
        return f"{self.topic_namespace}.{thing}"
