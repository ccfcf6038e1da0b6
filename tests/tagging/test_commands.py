from __future__ import annotations

import argparse
import io
import shutil
from pathlib import Path

import orjson
import pytest

from monitor.tagging.commands import add_commands

TESTDATA = Path(__file__).parent / "testdata"
SHIPPED = Path(__file__).parents[2] / "topics"


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="newswatch")
    add_commands(parser.add_subparsers())
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def test_check_reports_the_counts(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["topics", "check", str(SHIPPED)]) == 0
    out = capsys.readouterr().out
    entities = len(list((SHIPPED / "entities").glob("*.yaml")))
    assert out.startswith(f"ok: 5 watch topics, {entities} entities")


def test_check_prints_every_error_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["topics", "check", str(TESTDATA / "topics_invalid")]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "16 errors"
    assert f"{TESTDATA}/topics_invalid/wrong-name.yaml:1: id: id 'another-name' must equal " \
           "the file name 'wrong-name'" in lines


def test_check_runs_the_examples(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "t.yaml").write_text("""\
id: t
title: T
match:
  all: [drone*, Russia]
examples:
  match: ["Russia launched drones."]
  no_match: ["Drones over Russia.", "Nothing."]
""", encoding="utf-8")
    assert run(["topics", "check", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"{tmp_path}/t.yaml:7: examples.no_match[0]: matches but should not" in out
    assert "1 example failed" in out


def test_explain_shows_groups_hits_and_score(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    article = tmp_path / "a.json"
    article.write_bytes(orjson.dumps({
        "title": "Seoul talks", "text": "North Korea and Russia discussed football."}))
    assert run(["topics", "explain", "--topics", str(SHIPPED), "nk-russia-arms",
                str(article)]) == 0
    out = capsys.readouterr().out
    assert "entity:north_korea (entity, within sentence): fires in 1 window" in out
    assert "'North Korea*' found as 'North Korea' (text 0-11)" in out
    assert "veto none[0]" in out
    assert "score 0 < threshold 1: no match" in out


def test_explain_reads_plain_text_from_stdin(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    text = (TESTDATA / "seed_paraphrase_ar_wire.txt").read_text(encoding="utf-8")
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    assert run(["topics", "explain", "--topics", str(SHIPPED), "korea-extended-deterrence",
                "-"]) == 0
    out = capsys.readouterr().out
    assert "found as 'Extended Deterrence Strategy Consultative Group'" in out
    assert out.rstrip().endswith(": MATCH")


def test_tag_writes_one_line_per_article_and_reports_bad_lines(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.jsonl"
    good = {"id": "a1", "title": "North Korea ships shells to Russia",
            "text": "Officials said the munitions left by rail.", "language": "en"}
    lines = [orjson.dumps(good), b"{not json", orjson.dumps({"title": "no id"}),
             b"", orjson.dumps({"id": 7, "title": "Weather", "text": "Sunny."})]
    source.write_bytes(b"\n".join(lines) + b"\n")
    target = tmp_path / "out.jsonl"
    assert run(["tag", "--input", str(source), "--output", str(target), "--topics",
                str(SHIPPED)]) == 1
    err = capsys.readouterr().err
    assert f"{source}:2: not JSON" in err
    assert f"{source}:3: missing 'id'" in err
    first, second = (orjson.loads(line) for line in target.read_bytes().splitlines())
    assert first["id"] == "a1"
    assert [m["topic"] for m in first["matches"]] == ["nk-russia-arms"]
    assert first["matches"][0]["evidence"][0]["field"] == "title"
    assert second == {"id": 7, "matches": []}


def test_tag_reads_standard_input_and_writes_standard_output(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    article = {"id": "s1", "title": "Kim Jong Un sends troops to Kursk", "text": ""}
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(orjson.dumps(article))))
    assert run(["tag", "--input", "-", "--topics", str(SHIPPED)]) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert [m["topic"] for m in orjson.loads(line)["matches"]] == ["nk-russia-arms"]


def test_commands_refuse_invalid_topics(tmp_path: Path) -> None:
    shutil.copytree(TESTDATA / "topics_invalid", tmp_path / "topics")
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": 1, "title": "x"}\n', encoding="utf-8")
    assert run(["tag", "--input", str(source), "--topics", str(tmp_path / "topics")]) == 2
