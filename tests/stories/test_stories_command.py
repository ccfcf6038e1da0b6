"""``newswatch stories``: a JSON-lines file of articles in, one story id per line out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

LINES = [
    {"id": 1, "outlet": "Yonhap", "language": "en", "published": "2024-05-06T01:00:00Z",
     "title": "North Korea fires ballistic missile that flies 600 km",
     "text": "North Korea fired a short-range ballistic missile on Monday that flew 600 km, the "
             "Joint Chiefs of Staff in Seoul said."},
    {"id": "vote", "outlet": "UN News", "language": "en", "published": "2024-05-06T02:00:00Z",
     "title": "Security Council renews Mali sanctions panel",
     "text": "The Security Council voted 13-0 to extend the Mali sanctions panel."},
    # Published before the first line: folded first, reported in file order.
    {"id": 3, "outlet": "DW", "language": "de", "published": "2024-05-06T00:30:00Z",
     "title": "Nordkorea feuert ballistische Rakete ab",
     "text": "Nordkorea hat am Montag eine ballistische Rakete abgefeuert, die 600 Kilometer "
             "weit flog, teilte der Generalstab in Seoul mit."},
]


def run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "monitor", "stories", *args], input=stdin,
                          capture_output=True, timeout=120, check=False)


def test_each_line_gets_its_story_in_file_order(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\n".join(orjson.dumps(line) for line in LINES) + b"\n")
    done = run("--input", str(source), "--explain")
    assert done.returncode == 0, done.stderr
    out = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert [o["id"] for o in out] == [1, "vote", 3]
    assert out[0]["story_id"] == out[2]["story_id"] != out[1]["story_id"]
    # The German report was published first, so it opened the story.
    assert (out[2]["event"], out[0]["event"]) == ("opened", "updated")


def test_bad_lines_are_named_and_skipped_and_the_rest_folded(tmp_path: Path) -> None:
    good = orjson.dumps(LINES[0])
    stdin = b"\n".join([good, b"{not json", b'{"title": "no id"}',
                        b'{"id": 9, "published": "yesterday", "title": "x"}',
                        b'{"id": 10, "title": 5}', good])
    done = run("--input", "-", "--output", str(tmp_path / "out.jsonl"), stdin=stdin)
    assert done.returncode == 1
    errors = done.stderr.decode()
    assert "-:2: not JSON" in errors
    assert "-:3: missing 'id'" in errors
    assert "-:4: 'published': not an ISO 8601 date" in errors
    assert "-:5: 'title' must be a string" in errors
    assert "4 bad lines skipped" in errors
    out = [orjson.loads(line) for line in (tmp_path / "out.jsonl").read_bytes().splitlines()]
    # The same article twice: both lines name the one story.
    assert [o["id"] for o in out] == [1, 1]
    assert out[0]["story_id"] == out[1]["story_id"]
    assert set(out[0]) == {"id", "story_id"}


def test_a_missing_input_file_is_an_error_naming_it(tmp_path: Path) -> None:
    done = run("--input", str(tmp_path / "nope.jsonl"))
    assert done.returncode == 1
    assert "cannot read" in done.stderr.decode() and "nope.jsonl" in done.stderr.decode()
