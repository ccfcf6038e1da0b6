"""Logging for every ``newswatch`` process: readable lines, or one JSON object a line.

``NEWSWATCH_LOG_FORMAT=json`` turns each record into one JSON object on one line, for a log
shipper (Loki, Elasticsearch, Cloud Logging) to index without parsing::

    {"time": "2026-12-04T08:41:16.012Z", "level": "ERROR", "process": "worker",
     "stage": "story", "logger": "monitor.app", "message": "...", "topic_id": "nk-russia-arms"}

- ``stage`` is the ``stage`` a call site passes in ``extra``, else the stage its module belongs
  to (``poller``, ``tag``, ``story``, ``alert``), else absent;
- the identifiers a call site passes in ``extra`` (:data:`FIELDS`: feed id, watch topic id,
  article id, story id, subscriber id, outcome) become fields of their own; nothing else of
  ``extra`` does, so a careless ``extra`` cannot carry an article body or a secret into the log;
- an exception becomes ``exc_type`` and ``exc`` (the whole traceback as one string).

Messages themselves never carry bodies or secrets: call sites log identifiers, and secrets are
:class:`~monitor.alerting.notice.Secret`, which prints masked.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

#: ``extra`` keys that become JSON fields: identifiers from closed sets, never free text.
FIELDS = ("stage", "feed_id", "topic_id", "article_id", "story_id", "subscriber_id",
          "channel", "outcome", "partition", "offset")

#: Module prefix → the stage its records belong to (the longest prefix wins).
_STAGE_OF_MODULE = {
    "monitor.feeds": "poller",
    "monitor.tagging": "tag",
    "monitor.stories": "story",
    "monitor.alerting": "alert",
    "monitor.app.alerts": "alert",
}

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record; see the module docstring for its fields."""

    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "process": self.process,
        }
        stage = getattr(record, "stage", None) or _stage_of(record.name)
        if stage:
            out["stage"] = stage
        out["logger"] = record.name
        out["message"] = record.getMessage()
        for name in FIELDS[1:]:
            value = getattr(record, name, None)
            if value is not None:
                out[name] = value if isinstance(value, int | float) else str(value)
        if record.exc_info and record.exc_info[0] is not None:
            out["exc_type"] = record.exc_info[0].__name__
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def _stage_of(logger: str) -> str | None:
    best = None
    for prefix, stage in _STAGE_OF_MODULE.items():
        if (logger == prefix or logger.startswith(prefix + ".")) and (
                best is None or len(prefix) > len(best[0])):
            best = (prefix, stage)
    return best[1] if best else None


def configure_logging(level: str, *, log_format: str = "text", process: str = "newswatch") -> None:
    """Send every record at ``level`` or above to stderr, as text lines or JSON objects."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter(process))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
