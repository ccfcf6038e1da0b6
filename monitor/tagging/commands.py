"""The analysts' commands: ``newswatch topics check|explain``, ``tag`` and ``backtest``.

In: command-line arguments, watch-topic files, articles from a file or standard input. Out:
reports on standard output, errors on standard error, an exit code (0 fine, 1 something to
fix, 2 the watch topics themselves are invalid). The only module of the tagging package that
reads files other than YAML or prints.

    newswatch topics check [DIR]                 # validate; run each topic's examples
    newswatch topics explain TOPIC FILE|-        # why an article does (not) match
    newswatch tag --input F.jsonl [--output F|-] [--topics DIR]
    newswatch backtest [--topics DIR] [--against DIR] (--input F.jsonl | --from-kafka
                       --since 7d) [--feedback] [--json] [--html FILE] [--topic ID ...]
                       [--limit N]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import orjson

from monitor.jsonlines import open_input, output, read_object
from monitor.tagging.match import Explanation, Matcher
from monitor.yamlfile import ConfigError, ConfigErrors

DEFAULT_TOPICS = Path("topics")


def add_commands(subparsers: Any) -> None:
    """Register ``topics`` (``check``, ``explain``) and ``tag`` on an argparse sub-parser set.

    Each sets ``func``, called as ``func(args)`` (a second argument is accepted and ignored)
    and returning the exit code.
    """
    topics = subparsers.add_parser("topics", help="check watch topics, explain a match")
    topics.set_defaults(func=_usage(topics))
    commands = topics.add_subparsers(title="topics commands", metavar="COMMAND")

    check = commands.add_parser(
        "check", help="validate every watch topic and entity, and run their examples")
    check.add_argument("directory", nargs="?", type=Path, default=DEFAULT_TOPICS,
                       help="watch-topic directory (default: topics)")
    check.set_defaults(func=run_check)

    explain = commands.add_parser(
        "explain", help="show, group by group, why an article does or does not match")
    explain.add_argument("topic", help="watch topic id, e.g. nk-russia-arms")
    explain.add_argument("file", help="article as JSON {title, text} or plain text (first "
                                      "line = title); - reads standard input")
    explain.add_argument("--topics", type=Path, default=DEFAULT_TOPICS,
                         help="watch-topic directory (default: topics)")
    explain.set_defaults(func=run_explain)

    tag = subparsers.add_parser("tag", help="tag a JSON-lines file of articles offline")
    tag.add_argument("--input", required=True, type=Path,
                     help="one JSON article per line: id, title, text (url, published, "
                          "language optional); - for standard input")
    tag.add_argument("--output", default="-", help="where to write results (default: -)")
    tag.add_argument("--topics", type=Path, default=DEFAULT_TOPICS,
                     help="watch-topic directory (default: topics)")
    tag.set_defaults(func=run_tag)

    backtest = subparsers.add_parser(
        "backtest", help="run watch topics over past articles: matches, stories, precision "
                         "and recall with labels, what an edit gains and loses")
    backtest.add_argument("--topics", type=Path, default=DEFAULT_TOPICS,
                          help="watch topics to test (default: topics)")
    backtest.add_argument("--against", type=Path, default=None, metavar="DIR",
                          help="another version to compare with: articles gained and lost")
    source = backtest.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", type=Path, metavar="F.jsonl",
                        help="one JSON article per line, as for tag, with optional labels; "
                             "- for standard input")
    source.add_argument("--from-kafka", action="store_true",
                        help="read the articles Kafka holds since --since (no consumer group)")
    backtest.add_argument("--since", help="with --from-kafka: 30m, 12h, 7d or an ISO date")
    backtest.add_argument("--feedback", action="store_true",
                          help="also label articles with the analysts' votes on news.feedback "
                               "(read whole); labels in --input win over them")
    backtest.add_argument("--json", action="store_true", help="print JSON, not a table")
    backtest.add_argument("--html", type=Path, metavar="FILE",
                          help="also write a self-contained HTML report to FILE")
    backtest.add_argument("--topic", action="append", default=[], metavar="ID",
                          help="report this watch topic only (repeatable)")
    backtest.add_argument("--limit", type=int, default=None, metavar="N",
                          help="read only the first N articles")
    backtest.add_argument("--no-stories", action="store_true",
                          help="skip folding matches into stories (the slow part)")
    backtest.set_defaults(func=run_backtest)


def _usage(parser: argparse.ArgumentParser) -> Any:
    def show(args: argparse.Namespace, settings: object = None) -> int:
        parser.print_help(sys.stderr)
        return 2
    return show


def _load_for_use(directory: Path) -> Matcher | None:
    """The compiled watch topics, or None after saying on stderr that they are invalid."""
    try:
        return Matcher.from_dir(directory)
    except (ConfigError, ConfigErrors) as exc:
        print(f"newswatch: watch topics are invalid (run: newswatch topics check):\n{exc}",
              file=sys.stderr)
        return None


# --- topics check ---------------------------------------------------------------------------


def run_check(args: argparse.Namespace, settings: object = None, *,
              out: TextIO | None = None) -> int:
    """Validate a watch-topic directory and run every example; print every problem."""
    out = out or sys.stdout
    try:
        matcher = Matcher.from_dir(args.directory)
    except ConfigError as exc:
        print(exc, file=out)
        return 1
    except ConfigErrors as exc:
        for error in exc.errors:
            print(error, file=out)
        print(f"{len(exc.errors)} error{'s' if len(exc.errors) != 1 else ''}", file=out)
        return 1
    failures = check_examples(matcher)
    for failure in failures:
        print(failure, file=out)
    if failures:
        print(f"{len(failures)} example{'s' if len(failures) != 1 else ''} failed", file=out)
        return 1
    examples = sum(len(t.examples) for t in matcher.watch_topics)
    print(f"ok: {len(matcher.watch_topics)} watch topics, {len(matcher.entities)} entities"
          + (f", {examples} examples" if examples else ""), file=out)
    return 0


def check_examples(matcher: Matcher) -> list[ConfigError]:
    """Run each watch topic's ``examples``; return one error per example that fails."""
    errors = []
    for topic in matcher.watch_topics:
        counters = {True: 0, False: 0}
        for example in topic.examples:
            index = counters[example.should_match]
            counters[example.should_match] += 1
            title, text = split_plain_text(example.text)
            explanation = matcher.explain(topic.id, title, text)
            if explanation.matched == example.should_match:
                continue
            where = f"examples.{'match' if example.should_match else 'no_match'}[{index}]"
            if example.should_match:
                why = (f"does not match (score {explanation.score:g} < threshold "
                       f"{explanation.threshold:g}); try: newswatch topics explain {topic.id}")
            else:
                why = "matches but should not: " + "; ".join(explanation.counted[:2])
            errors.append(ConfigError(topic.path, example.line, where, why))
    return errors


# --- topics explain -------------------------------------------------------------------------


def run_explain(args: argparse.Namespace, settings: object = None, *,
                out: TextIO | None = None) -> int:
    """Print why one article does or does not match one watch topic."""
    out = out or sys.stdout
    matcher = _load_for_use(args.topics)
    if matcher is None:
        return 2
    if args.topic not in {t.id for t in matcher.watch_topics}:
        print(f"newswatch: no watch topic {args.topic!r} in {args.topics}", file=sys.stderr)
        return 1
    try:
        raw = sys.stdin.read() if args.file == "-" else Path(args.file).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"newswatch: cannot read {args.file}: {exc}", file=sys.stderr)
        return 1
    title, text = read_article(raw)
    explanation = matcher.explain(args.topic, title, text)
    out.write(render_explanation(explanation, title))
    return 0


def read_article(raw: str) -> tuple[str, str]:
    """Return (title, text) of an article given as a JSON object or as plain text."""
    stripped = raw.lstrip()
    if stripped.startswith("{"):
        try:
            data = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, dict):
            text = data.get("text") or data.get("summary") or ""
            return str(data.get("title") or ""), str(text)
    return split_plain_text(raw)


def split_plain_text(raw: str) -> tuple[str, str]:
    """Plain text: the first non-empty line is the title, the rest the text."""
    lines = raw.strip().split("\n", 1)
    if len(lines) == 1:
        return "", lines[0]
    return lines[0].strip(), lines[1].strip("\n")


def render_explanation(e: Explanation, title: str) -> str:
    """Format an :class:`Explanation` for a terminal."""
    out = [f"watch topic {e.topic_id}: windows of {e.within}, threshold {e.threshold:g}, "
           f"title weight {e.title_weight:g}",
           f"article title: {title!r}", ""]
    if not e.candidate:
        out += ["The cheap check already fails: some required group has no hit anywhere.", ""]
    for group in e.groups:
        indent = "  " * group.depth
        kind = "veto " if group.veto else ""
        what = {"terms": "terms", "entity": "entity", "any": "any of", "all": "all of"}[group.kind]
        state = (f"fires in {len(group.fired_in)} window{'s' if len(group.fired_in) != 1 else ''}"
                 if group.fired_in else "does not fire")
        out.append(f"{indent}{kind}{group.label} ({what}, within {group.within}): {state}"
                   + (f" - {group.note}" if group.note else ""))
        for hit in group.hits:
            out.append(f"{indent}    {hit.term!r} found as {hit.matched!r} "
                       f"({hit.field} {hit.start}-{hit.end})")
        for window in group.fired_in[:8]:
            out.append(f"{indent}    in {window}")
        if len(group.fired_in) > 8:
            out.append(f"{indent}    ... and {len(group.fired_in) - 8} more windows")
    out.append("")
    if e.vetoed:
        out.append("vetoed windows:")
        out += [f"  {w}" for w in e.vetoed]
    out.append("windows that count:" if e.counted else "no window satisfies the rule")
    out += [f"  {w}" for w in e.counted]
    verdict = "MATCH" if e.matched else "no match"
    out.append(f"score {e.score:g} {'>=' if e.score >= e.threshold else '<'} threshold "
               f"{e.threshold:g}: {verdict}")
    return "\n".join(out) + "\n"


# --- tag ------------------------------------------------------------------------------------


def run_tag(args: argparse.Namespace, settings: object = None) -> int:
    """Tag a JSON-lines file; bad lines are reported on standard error and skipped."""
    matcher = _load_for_use(args.topics)
    if matcher is None:
        return 2
    try:
        source = open_input(args.input)
    except OSError as exc:
        print(f"newswatch: cannot read {args.input}: {exc.strerror}", file=sys.stderr)
        return 1
    bad = 0
    with source, output(args.output) as sink:
        for number, line in enumerate(source, 1):
            if not line.strip():
                continue
            try:
                record = tag_line(matcher, line)
            except ValueError as exc:
                bad += 1
                print(f"{args.input}:{number}: {exc}", file=sys.stderr)
                continue
            sink.write(record + b"\n")
    if bad:
        print(f"newswatch: {bad} bad line{'s' if bad != 1 else ''} skipped", file=sys.stderr)
    return 1 if bad else 0


def tag_line(matcher: Matcher, line: bytes) -> bytes:
    """Tag one JSON article line; raise :class:`ValueError` saying what is wrong with it."""
    data = read_object(line)
    ident = data["id"]
    title, text = data.get("title", ""), data.get("text", "")
    for name, value in (("title", title), ("text", text)):
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name!r} must be a string")
    language = data.get("language")
    matches = matcher.match(title or "", text or "",
                            language if isinstance(language, str) else None)
    return orjson.dumps({"id": ident, "matches": [
        {"topic": m.topic_id, "severity": m.severity, "score": m.score,
         "evidence": [e.to_dict() for e in m.evidence],
         "sentences": m.to_dict()["sentences"]} for m in matches]})


# --- backtest -------------------------------------------------------------------------------


def run_backtest(args: argparse.Namespace, settings: object = None) -> int:
    """Backtest watch topics over a file or Kafka; print the report (logic in ``backtest``)."""
    from monitor.config import Settings
    from monitor.tagging import backtest, backtest_report, backtest_source

    current = _load_for_use(args.topics)
    against = _load_for_use(args.against) if args.against is not None else None
    if current is None or (args.against is not None and against is None):
        return 2
    known = {t.id for m in (current, against) if m is not None for t in m.watch_topics}
    missing = [tid for tid in args.topic if tid not in known]
    if missing:
        print(f"newswatch: no watch topic {', '.join(map(repr, missing))} in {args.topics}"
              + (f" or {args.against}" if args.against else ""), file=sys.stderr)
        return 1
    if args.limit is not None and args.limit < 1:
        print("newswatch: --limit must be a positive number of articles", file=sys.stderr)
        return 1
    config = settings if isinstance(settings, Settings) else Settings.from_env()
    kafka_errors: tuple[type[Exception], ...] = ()
    if args.from_kafka or args.feedback:
        from monitor.bus import KafkaError  # kafka-python is slow to import: only when used
        kafka_errors = (KafkaError,)
    try:
        if args.from_kafka:
            if not args.since:
                print("newswatch: --from-kafka needs --since (30m, 12h, 7d or an ISO date)",
                      file=sys.stderr)
                return 1
            since = backtest_source.parse_since(args.since, datetime.now(UTC))
            source = backtest_source.read_kafka(config.kafka_bootstrap,
                                                config.topic("articles"), since)
        else:
            source = backtest_source.read_file(args.input)
        if args.feedback:
            votes = backtest_source.read_feedback(
                config.kafka_bootstrap, config.topic("feedback"), topic_ids=known,
                on_bad=lambda where, why: print(f"{where}: {why}", file=sys.stderr))
            print(f"backtest: analysts' votes label {len(votes):,} article"
                  f"{'s' if len(votes) != 1 else ''}", file=sys.stderr)
            source = backtest_source.with_feedback(source, votes)
    except ValueError as exc:
        print(f"newswatch: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"newswatch: cannot read {args.input}: {exc.strerror}", file=sys.stderr)
        return 1
    except kafka_errors as exc:
        print(f"newswatch: cannot read Kafka at {config.kafka_bootstrap}: {exc}",
              file=sys.stderr)
        return 1

    started = time.monotonic()

    def progress(count: int) -> None:
        elapsed = time.monotonic() - started
        done = source.done()
        eta = (f", about {elapsed * (1 - done) / done:.0f} s to go"
               if done and 0 < done < 1 else "")
        print(f"backtest: {count:,} articles, {count / elapsed:,.0f}/s{eta}", file=sys.stderr)

    def bad(item: backtest.Bad) -> None:
        print(f"{item.where}: {item.reason}", file=sys.stderr)

    try:
        result = backtest.backtest(
            source.items, backtest.Version(str(args.topics), current),
            backtest.Version(str(args.against), against) if against is not None else None,
            topics=args.topic, limit=args.limit,
            cap=backtest_report.REPORT_CAP if args.json or args.html
            else backtest_report.TABLE_CAP,
            stories=not args.no_stories, window=timedelta(hours=config.story_window_hours),
            processes=backtest.usable_processes(), on_bad=bad, on_progress=progress)
    except kafka_errors as exc:
        print(f"newswatch: reading Kafka at {config.kafka_bootstrap} failed: {exc}",
              file=sys.stderr)
        return 1
    if result.bad:
        print(f"newswatch: {result.bad} unreadable article{'s' if result.bad != 1 else ''} "
              "skipped", file=sys.stderr)
    if result.unknown_labels:
        print(f"newswatch: labels name unknown watch topics: "
              f"{', '.join(result.unknown_labels)}", file=sys.stderr)
    if not result.articles:
        print("newswatch: no article to backtest", file=sys.stderr)
        return 1
    if args.html:
        args.html.write_text(backtest_report.render_html(result), encoding="utf-8")
    if args.json:
        sys.stdout.buffer.write(backtest_report.to_json(result) + b"\n")
        sys.stdout.buffer.flush()
    else:
        sys.stdout.write(backtest_report.render_table(result))
    return 0
