"""The compiled-index cache: same results as a build, and never an index of other files."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.tagging.match import Matcher
from monitor.yamlfile import ConfigErrors

TOPICS = Path(__file__).parent / "testdata" / "golden" / "topics"
ARTICLE = ("Kim Jong Un meets Putin", "North Korea sent artillery shells to Russia, Seoul said.")


def copy_topics(target: Path) -> Path:
    for path in TOPICS.rglob("*.yaml"):
        out = target / path.relative_to(TOPICS)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(path.read_bytes())
    return target


def test_a_start_from_the_cache_matches_like_a_build(tmp_path: Path) -> None:
    topics, cache = copy_topics(tmp_path / "topics"), tmp_path / "cache"
    built = Matcher.from_dir(topics, cache_dir=cache)
    cached = Matcher.from_dir(topics, cache_dir=cache)
    assert len(list((cache / "tagging").glob("index-*.pickle"))) == 1
    assert cached.index is not built.index
    assert cached.match(*ARTICLE) == built.match(*ARTICLE) == Matcher.from_dir(topics).match(
        *ARTICLE)
    assert cached.explain("nk-russia-arms", *ARTICLE) == built.explain("nk-russia-arms",
                                                                        *ARTICLE)


def test_an_edited_file_is_compiled_again_and_replaces_the_entry(tmp_path: Path) -> None:
    topics, cache = copy_topics(tmp_path / "topics"), tmp_path / "cache"
    Matcher.from_dir(topics, cache_dir=cache)
    path = topics / "nk-russia-arms.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "title: ", "title: Edited ", 1), encoding="utf-8")
    matcher = Matcher.from_dir(topics, cache_dir=cache)
    titles = {m.topic_id: m.title for m in matcher.match(*ARTICLE)}
    assert titles["nk-russia-arms"].startswith("Edited ")
    assert len(list((cache / "tagging").glob("index-*.pickle"))) == 1


def test_invalid_files_raise_and_write_nothing(tmp_path: Path) -> None:
    topics, cache = copy_topics(tmp_path / "topics"), tmp_path / "cache"
    (topics / "broken.yaml").write_text("id: broken\ntitle: Broken\n", encoding="utf-8")
    with pytest.raises(ConfigErrors):
        Matcher.from_dir(topics, cache_dir=cache)
    assert not list(cache.rglob("index-*.pickle"))


def test_a_damaged_entry_is_rebuilt(tmp_path: Path) -> None:
    topics, cache = copy_topics(tmp_path / "topics"), tmp_path / "cache"
    Matcher.from_dir(topics, cache_dir=cache)
    entry = next((cache / "tagging").glob("index-*.pickle"))
    entry.write_bytes(b"not a pickle")
    assert [m.topic_id for m in Matcher.from_dir(topics, cache_dir=cache).match(*ARTICLE)]
    assert entry.read_bytes() != b"not a pickle"
