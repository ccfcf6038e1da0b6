"""The feeds file: every mistake reported at start, with file, line and field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from monitor.feeds.feedlist import load_feeds
from monitor.yamlfile import ConfigError, ConfigErrors

BAD = """\
feeds:
  - id: yonhap-en
    url: https://en.yna.co.kr/RSS/news.xml
    outlet: Yonhap News Agency
  - id: yonhap-en
    url: https://en.yna.co.kr/RSS/northkorea.xml
    outlet: Yonhap News Agency
  - id: un press
    url: ftp://press.un.org/en/rss.xml
    outlet: UN
    interval: soon
  - id: tass-en
    outlet: TASS
    langauge: en
"""


def test_every_mistake_is_listed_in_line_order(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(BAD)
    with pytest.raises(ConfigErrors) as caught:
        load_feeds(path)
    assert str(caught.value).splitlines() == [
        f"{path}:5: feeds[1].id: duplicate feed id 'yonhap-en' (first at feeds[0])",
        f"{path}:8: feeds[2].id: 'un press': use letters, digits, '.', '_', '-'",
        f"{path}:9: feeds[2].url: 'ftp://press.un.org/en/rss.xml' is not an http(s) URL",
        f"{path}:11: feeds[2].interval: 'soon' is not a duration such as 300, 30s, 5m or 1h",
        f"{path}:12: feeds[3]: 'url' is required and must be text",
        f"{path}:14: feeds[3].langauge: unknown field (expected one of ['fulltext', 'id', "
        "'interval', 'language', 'outlet', 'url'])",
    ]


def test_the_poller_refuses_a_bad_feeds_file_before_it_talks_to_kafka(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(BAD)
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "poll", "--once", "--feeds", str(path)],
        env={"PATH": "/usr/bin:/bin", "NEWSWATCH_KAFKA_BOOTSTRAP": "127.0.0.1:9"},
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"{path}:9: feeds[2].url:" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_file_that_is_not_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:\n  - id: a\n    url: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        load_feeds(path)
    assert str(caught.value).startswith(f"{path}:4: invalid YAML")
