"""Benchmark ``newswatch backtest``: seconds for 10,000 and 100,000 articles, one and two versions.

    python bench/bench_backtest.py [--sizes 10000,100000] [--no-stories-only]

Prints one table. Each run is the real command (``python -m monitor backtest --input F
--json``, output discarded) in a child process, timed from start to exit, so the figures
include start-up, reading, matching in the process pool, explanations and the report.

What is read: ``tests/newstext.articles`` (4 KB English articles, about one in eleven matching
a shipped watch topic), 10,000 generated once and written over and over with new ids and
``published`` dates spread over 30 days, as JSON lines. Labels: none. The second version
(``--against``) is a copy of ``topics/`` without ``nk-missile-launches``, so every match of that
watch topic is a gained article to explain.

Columns: ``articles``; ``versions`` (2: with ``--against``); ``stories`` (``no``: with
``--no-stories``; folding embeds every match, about 100 a second a core); ``matches`` (of the
version under test); ``seconds``; ``art/s``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.newstext import articles  # noqa: E402

GENERATED = 10_000
START = datetime(2024, 6, 1, tzinfo=UTC)


def write_articles(path: Path, count: int) -> None:
    batch = articles(min(count, GENERATED))
    with path.open("wb") as sink:
        for n in range(count):
            article = batch[n % len(batch)]
            published = START + timedelta(minutes=n * 30 * 24 * 60 // count)
            sink.write(orjson.dumps({"id": f"bench-{n}", "title": article.title,
                                     "text": article.text, "language": "en",
                                     "outlet": f"Outlet {n % 7}",
                                     "published": published.isoformat()}) + b"\n")


def run(path: Path, against: Path | None, stories: bool) -> tuple[float, int]:
    argv = [sys.executable, "-m", "monitor", "backtest", "--topics", str(ROOT / "topics"),
            "--input", str(path), "--json"]
    argv += ["--against", str(against)] if against else []
    argv += [] if stories else ["--no-stories"]
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, check=True)
    seconds = time.perf_counter() - started
    report = orjson.loads(done.stdout)
    return seconds, sum(t["matches"] for t in report["topics"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--no-stories-only", action="store_true",
                        help="skip the runs that fold stories (they take minutes at 100,000)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        against = Path(tmp) / "against"
        shutil.copytree(ROOT / "topics", against)
        (against / "nk-missile-launches.yaml").unlink()
        print(f"{'articles':>9} {'versions':>8} {'stories':>7} {'matches':>8} {'seconds':>8} "
              f"{'art/s':>7}")
        for size in (int(s) for s in args.sizes.split(",")):
            path = Path(tmp) / f"articles-{size}.jsonl"
            write_articles(path, size)
            runs = [(None, False), (against, False)]
            if not args.no_stories_only:
                runs.append((None, True))
            for version, stories in runs:
                seconds, matches = run(path, version, stories)
                print(f"{size:>9,} {1 if version is None else 2:>8} "
                      f"{'yes' if stories else 'no':>7} {matches:>8,} {seconds:>8.1f} "
                      f"{size / seconds:>7,.0f}", flush=True)


if __name__ == "__main__":
    main()
