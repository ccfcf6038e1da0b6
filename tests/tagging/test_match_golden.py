"""The matcher's whole output on a few thousand articles, frozen: any change shows up here.

``testdata/golden/matches.jsonl.gz`` holds one JSON line per article and watch-topic set: the
matches as :meth:`TopicMatch.to_dict` gives them (ids, score, severity, evidence, sentences),
and for a few thousand (article, watch topic) pairs the whole :class:`Explanation`. The
articles and watch topics:

- ``frozen``: ``testdata/golden/topics/``, a copy of the shipped watch topics and entities
  (the shipped ones change as analysts tune them) plus ``shape-*`` watch topics for the rule
  shapes they do not use; run over ``labelled.jsonl``, ``multilingual.jsonl`` and 2,000
  articles of ``tests/newstext.py``;
- ``generated``: 200 watch topics and 1,000 articles from the benchmark's generator
  (``bench/bench_tagging.py``, fixed seed); a fingerprint of what it generated is checked
  first, so a change of the generator is not mistaken for one of the matcher.

A refactoring or a speed-up must leave this file unchanged. A change of behaviour that is
meant, and reviewed, is recorded with::

    NEWSWATCH_WRITE_GOLDEN=1 .venv/bin/python -m pytest tests/tagging/test_match_golden.py
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import importlib.util
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest

from monitor.tagging.match import Matcher
from tests.newstext import articles as news_articles

TESTDATA = Path(__file__).parent / "testdata"
GOLDEN = TESTDATA / "golden" / "matches.jsonl.gz"
FROZEN_TOPICS = TESTDATA / "golden" / "topics"
BENCH = Path(__file__).parents[2] / "bench" / "bench_tagging.py"
GENERATED_TOPICS = 200
GENERATED_ARTICLES = 1000
# Of the generated news articles, every EXPLAIN_EVERY-th has explanations recorded.
EXPLAIN_EVERY = 8

Record = dict[str, Any]


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_tagging", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def _news() -> list[dict[str, Any]]:
    at = datetime(2024, 1, 1, tzinfo=UTC)
    batches = (news_articles(1000, id_prefix="news", fetched_at=at),
               news_articles(1000, seed=7, size=2000, plain_odds=0.9, id_prefix="dense",
                             fetched_at=at))
    return [{"id": a.article_id, "title": a.title, "text": a.text, "language": a.language}
            for batch in batches for a in batch]


def _records(matcher: Matcher, set_name: str, source: str, items: list[dict[str, Any]], *,
             explain_every: int) -> Iterator[Record]:
    """One record per article; then one per explained (article, watch topic) pair.

    Explained: for every ``explain_every``-th article, the watch topics it matches or is
    labelled with, and one more taken in turn from all of them (mostly a miss).
    """
    topic_ids = [t.id for t in matcher.watch_topics]
    for n, item in enumerate(items):
        title, text = str(item.get("title") or ""), str(item.get("text") or "")
        language = item.get("language") or None
        found = matcher.match(title, text, language)
        yield {"set": set_name, "source": source, "id": item["id"],
               "matches": [m.to_dict() for m in found]}
        if n % explain_every:
            continue
        wanted = [m.topic_id for m in found]
        wanted += [t for t in item.get("labels") or () if t in topic_ids]
        wanted.append(topic_ids[n % len(topic_ids)])
        for topic_id in dict.fromkeys(wanted):
            explanation = matcher.explain(topic_id, title, text, language)
            yield {"set": set_name, "source": source, "id": item["id"], "explain": topic_id,
                   "explanation": dataclasses.asdict(explanation)}


def _generated(directory: Path) -> tuple[str, list[dict[str, Any]]]:
    """Write the generated watch topics into ``directory``; return a fingerprint and articles."""
    raw = _bench().generate(directory, GENERATED_TOPICS, GENERATED_ARTICLES)
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*.yaml")):
        digest.update(path.relative_to(directory).as_posix().encode())
        digest.update(path.read_bytes())
    for line in raw:
        digest.update(line)
    return digest.hexdigest(), [orjson.loads(line) for line in raw]


def compute(tmp: Path) -> list[bytes]:
    """Every golden line, from the matcher as it is now."""
    out: list[Record] = []
    frozen = Matcher.from_dir(FROZEN_TOPICS)
    out += _records(frozen, "frozen", "labelled", _read_jsonl(TESTDATA / "labelled.jsonl"),
                    explain_every=1)
    out += _records(frozen, "frozen", "multilingual",
                    _read_jsonl(TESTDATA / "multilingual.jsonl"), explain_every=1)
    out += _records(frozen, "frozen", "newstext", _news(), explain_every=EXPLAIN_EVERY)
    fingerprint, generated_articles = _generated(tmp)
    out.append({"set": "generated", "fingerprint": fingerprint})
    generated = Matcher.from_dir(tmp)
    out += _records(generated, "generated", "bench", generated_articles, explain_every=2)
    return [orjson.dumps(r, option=orjson.OPT_SORT_KEYS) for r in out]


def _label(line: bytes) -> str:
    record = orjson.loads(line)
    where = f"{record.get('set')}/{record.get('source', '')}/{record.get('id', '')}"
    return where + (f" explain {record['explain']}" if "explain" in record else "")


def test_matcher_output_equals_the_golden_file(tmp_path: Path) -> None:
    lines = compute(tmp_path)
    if os.environ.get("NEWSWATCH_WRITE_GOLDEN") == "1":
        GOLDEN.write_bytes(gzip.compress(b"\n".join(lines) + b"\n", mtime=0))
        pytest.skip(f"wrote {len(lines)} lines to {GOLDEN}")
    golden = gzip.decompress(GOLDEN.read_bytes()).splitlines()
    fingerprints = [line for line in golden if b'"fingerprint"' in line]
    expected = next(line for line in lines if b'"fingerprint"' in line)
    assert fingerprints == [expected], (
        "bench/bench_tagging.py generates other watch topics or articles than when the golden "
        "file was written: restore its generator, or rewrite the golden file from a commit "
        "whose matcher is known good")
    differing = [(i, a, b) for i, (a, b) in enumerate(zip(lines, golden, strict=False))
                 if a != b]
    details = "\n".join(f"line {i + 1} ({_label(b)}):\n  got      {a[:600]!r}\n  "
                        f"expected {b[:600]!r}" for i, a, b in differing[:3])
    assert not differing and len(lines) == len(golden), (
        f"{len(differing)} of {len(golden)} golden lines differ, {len(lines)} computed; "
        f"first ones:\n{details}")
