"""The rule editor: its backtest gives the matcher's answers, and its previews, saves and
suggestions say what an edit does.

The backtest is held to :class:`~monitor.tagging.match.Matcher` on every watch topic (the
shipped ones and the frozen copies with the other rule shapes) over the labelled sets, the
generated news text and the articles below, as it stands and after edits that take the
shortcuts (a veto added, a term added or removed) and edits that do not (the window, the
threshold). A watch topic of our own, ``harbour-closures``, shows the editor's behaviour.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from monitor.console.backtest import Backtester, Change, Rule, changed_terms
from monitor.console.editor import Editor, reason
from monitor.console.model import ArticleView, StoryDetail, StoryRow, WindowArticle
from monitor.console.store import Store
from monitor.console.suggest import add_veto, set_within, tighter_within
from monitor.console.window import Segment, Window, piece_of
from monitor.tagging.load import load_rules
from monitor.tagging.match import Matcher
from monitor.tagging.parse import parse_watch_topic
from monitor.tagging.rules import Entity, WatchTopic
from monitor.yamlfile import ConfigError, load_yaml
from tests.console.factory import Feed, report, vote
from tests.newstext import articles as news_articles

ROOT = Path(__file__).parents[2]
SHIPPED = ROOT / "topics"
TAGGING = ROOT / "tests" / "tagging" / "testdata"
FROZEN = TAGGING / "golden" / "topics"
NOW = datetime(2025, 3, 10, 12, tzinfo=UTC)
TOPIC = "harbour-closures"

ENTITY = """\
id: avalon
description: The port city of Avalon.
names:
  en: [Port Avalon, Avalon Harbour, Avalon port]
"""

HARBOUR = """\
id: harbour-closures
title: Closures of Port Avalon
severity: high
match:
  all:
    - entity: avalon
    - any: [closed, "closure*", shut, "blockade*"]
  none: [rehearsal]
  within: sentence
title_weight: 2
threshold: 1
examples:
  match:
    - |
      Port Avalon closed to shipping
      Port Avalon was closed to all shipping on Monday after the storm.
  no_match:
    - |
      Avalon rehearses for storms
      Port Avalon staged a closure rehearsal for the storm season.
"""

# id: (title, text, hours before NOW it was received)
HARBOUR_NEWS = {
    "h1": ("Port Avalon closed as storm arrives",
           "Port Avalon was closed to all shipping on Monday as the storm arrived.\n\n"
           "Ferry operators said crossings would resume on Wednesday.", 30),
    "h2": ("Dock strike spreads",
           "Cranes stood idle at Avalon Harbour on Tuesday.\n\n"
           "Union leaders said the docks would be shut until talks resume.", 20),
    "h3": ("Stadium repairs",
           "The stadium of Avalon Harbour FC was closed for repairs, the football club said."
           "\n\nHome matches move to the coast.", 10),
    "h4": ("Supporters locked out",
           "Avalon Harbour FC supporters were shut out of the football ground after crowd "
           "trouble.", 9),
    "h5": ("Storm season drill",
           "Port Avalon staged a closure rehearsal on Thursday.", 8),
    "h6": ("Boats come home",
           "Fishing boats returned to Avalon port after the blockade ended.", 5),
    "h7": ("Weekend weather", "Rain is expected across the region this weekend.", 4),
    "h8": ("Berth four",
           "The Avalon port authority announced the closure of berth four for dredging.", 3),
    "h9": ("Tanker aground",
           "Port Avalon shut its northern channel after a tanker ran aground.", 2),
    "h10": ("Old news", "Port Avalon was closed for a day in the winter storm.", 24 * 9),
}


def window_article(ident: str, title: str, text: str, *, at: datetime = NOW,
                   language: str | None = "en") -> WindowArticle:
    return WindowArticle(article_id=ident, title=title, text=text, language=language,
                         outlet="Avalon Gazette", url=f"https://gazette.example/{ident}",
                         published_at=at - timedelta(minutes=3), fetched_at=at)


def harbour_articles() -> list[WindowArticle]:
    return [window_article(ident, title, text, at=NOW - timedelta(hours=hours))
            for ident, (title, text, hours) in HARBOUR_NEWS.items()]


class FakeStore:
    """The store's editor side: window rows by insertion number, labels, stories."""

    def __init__(self, rows: Sequence[WindowArticle], *, batch: int | None = None,
                 labels: dict[str, dict[str, bool]] | None = None,
                 stories: dict[str, StoryDetail] | None = None) -> None:
        self.rows = list(rows)
        self.batch = batch
        self.given_labels = labels or {}
        self.stories = stories or {}

    def window_since(self, after_seq: int) -> tuple[list[WindowArticle], int]:
        end = len(self.rows) if self.batch is None else min(len(self.rows),
                                                            after_seq + self.batch)
        return self.rows[after_seq:end], end

    def labels(self) -> dict[str, dict[str, bool]]:
        return self.given_labels

    def story(self, story_id: str, *, analyst: str | None = None) -> StoryDetail | None:
        return self.stories.get(story_id)

    def article(self, article_id: str) -> ArticleView | None:
        return None


@pytest.fixture
def topics(tmp_path: Path) -> Path:
    directory = tmp_path / "topics"
    (directory / "entities").mkdir(parents=True)
    (directory / "entities" / "avalon.yaml").write_text(ENTITY, encoding="utf-8")
    (directory / f"{TOPIC}.yaml").write_text(HARBOUR, encoding="utf-8")
    return directory


def make_editor(topics: Path, store: FakeStore | Store, tmp_path: Path) -> Iterator[Editor]:
    editor = Editor(topics, store, days=7, cache_dir=tmp_path / "cache", now=lambda: NOW)
    yield editor
    editor.close()


@pytest.fixture
def editor(topics: Path, tmp_path: Path) -> Iterator[Editor]:
    store = FakeStore(harbour_articles(), labels={
        "h3": {TOPIC: False}, "h4": {TOPIC: False}, "h9": {TOPIC: True}})
    yield from make_editor(topics, store, tmp_path)


# --- the backtest gives the matcher's answers ---------------------------------------------------


# Edges the word index must get right: possessives, quotes and marks at paragraph edges,
# scripts without spaces, line breaks as the only separators, a name across a line break.
EDGES = [
    ("edge-1", "Korea's test", "Officials in North Korea's capital spoke.\n\n'Tis the season, "
     "Russia's envoy said of the shells.\n\n\n\n«North Korea» and Russia: troops."),
    ("edge-2", "북한 ICBM", "북한이 ICBM을 발사했다.\n러시아는 포탄을 받았다.\n\u0301North Korea"),
    ("edge-3", "朝鲜", "朝鲜向俄罗斯提供炮弹。\n\n俄罗斯表示感谢。 North Korea-Russia troops"),
    ("edge-4", "", "  \n\n  North Korea\n\nand Russia\n\n— troops — North\nKorea Russia"),
    ("edge-5", "Line breaks", "North Korea\nRussia\nsent troops\nNorth Korea sent troops "
     "to Russia"),
    # A name broken over two lines: it starts, and counts, in the first one.
    ("edge-6", "", "Russia sent troops to help Kim\nJong Un.\nNothing else."),
]


def corpus() -> list[WindowArticle]:
    """About 1,400 articles in many languages and styles, received over five days."""
    out = list(EDGES)
    for name in ("labelled.jsonl", "labelled_styles.jsonl", "multilingual.jsonl"):
        for line in (TAGGING / name).read_bytes().splitlines():
            data = orjson.loads(line)
            out.append((f"{name}:{data['id']}", data.get("title") or "",
                        data.get("text") or ""))
    out += [(a.article_id, a.title, a.text) for a in news_articles(600, size=2500)]
    out += [(ident, title, text) for ident, (title, text, _) in HARBOUR_NEWS.items()]
    return [window_article(ident, title, text, at=NOW - timedelta(minutes=5 * n))
            for n, (ident, title, text) in enumerate(out)]


@pytest.fixture(scope="module")
def articles() -> list[WindowArticle]:
    return corpus()


@pytest.fixture(scope="module")
def window(articles: list[WindowArticle]) -> Window:
    # Arriving in batches: segments are built, merged and searched as in a running console.
    store = FakeStore([], batch=170)
    found = Window(store, now=lambda: NOW)
    for start in range(0, len(articles), 300):
        store.rows += articles[start:start + 300]
        found.refresh()
    assert len(found.segments) > 1
    return found


def truth(matcher: Matcher, articles: Sequence[WindowArticle]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {t.id: set() for t in matcher.watch_topics}
    for a in articles:
        for m in matcher.match(a.title, a.text, a.language):
            out[m.topic_id].add(a.article_id)
    return out


def rule_of(topic: WatchTopic, matcher: Matcher, key: str = "") -> Rule:
    return Rule(topic, Matcher([topic], matcher.entities).index, key or topic.id)


def backtested(backtester: Backtester, rule: Rule, bases: Sequence[Rule] = ()) -> set[str]:
    found = backtester.run(rule, NOW - timedelta(days=30), bases)
    return {s.articles[p].article_id for s, positions in found.positions for p in positions}


def with_harbour(directory: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "all-topics"
    shutil.copytree(directory, copy)
    (copy / "entities" / "avalon.yaml").write_text(ENTITY, encoding="utf-8")
    (copy / f"{TOPIC}.yaml").write_text(HARBOUR, encoding="utf-8")
    return copy


@pytest.mark.parametrize("directory", [SHIPPED, FROZEN], ids=["shipped", "frozen"])
def test_backtest_finds_exactly_what_the_matcher_finds(
        directory: Path, tmp_path: Path, articles: list[WindowArticle],
        window: Window) -> None:
    matcher = Matcher.from_dir(with_harbour(directory, tmp_path))
    expected = truth(matcher, articles)
    backtester = Backtester(window)
    pruned = 0
    for topic in matcher.watch_topics:
        rule = rule_of(topic, matcher)
        assert backtested(backtester, rule) == expected[topic.id], topic.id
        candidates = sum(len(p) for _, p in window.candidates(topic, NOW - timedelta(days=30)))
        pruned += len(articles) - candidates
    # The word index is what makes it fast: most articles are never evaluated.
    assert pruned > len(articles) * len(matcher.watch_topics) // 2


def _replace(old: str, new: str) -> Callable[[str], str | None]:
    def edit(text: str) -> str | None:
        return text.replace(old, new, 1) if old in text else None
    return edit


def _drop_vetoes(text: str) -> str | None:
    head, found, rest = text.partition("  none:\n")
    return head + rest[rest.index("  within:"):] if found else None


# (topic, what the edit does, the edit); on the frozen copies, so that they stay valid.
EDITS: list[tuple[str, str, Callable[[str], str | None]]] = [
    ("nk-russia-arms", "a veto", lambda text: add_veto(text, "sanctions")),
    ("nk-russia-arms", "a term", _replace('"munition*", ammunition,',
                                          '"munition*", ammunition, cargo,')),
    ("nk-russia-arms", "a term less", _replace('"munition*", ammunition,', '"munition*",')),
    ("nk-russia-arms", "a wider window", lambda text: set_within(text, "paragraph")),
    ("nk-missile-launches", "a threshold", _replace("threshold: 1", "threshold: 2")),
    ("unsc-sanctions", "the vetoes removed", _drop_vetoes),
    ("shape-any-atleast", "a term in a counted group", _replace("Putin]", "Putin, Kremlin]")),
    ("shape-words-launch", "a veto on runs of words",
     lambda text: add_veto(text, "state media")),
    ("shape-coarse-groups", "an article veto", _replace("[football, olympic*]",
                                                        "[football, olympic*, Reuters]")),
]


@pytest.mark.parametrize(("topic_id", "what", "edit"), EDITS,
                         ids=[f"{e[0]}: {e[1]}" for e in EDITS])
def test_backtest_of_an_edit_finds_exactly_what_the_matcher_finds(
        topic_id: str, what: str, edit: Callable[[str], str | None], tmp_path: Path,
        articles: list[WindowArticle], window: Window) -> None:
    before = Matcher.from_dir(FROZEN)
    old_topic = next(t for t in before.watch_topics if t.id == topic_id)
    text = edit((FROZEN / f"{topic_id}.yaml").read_text(encoding="utf-8"))
    assert text is not None, f"the frozen {topic_id} no longer takes the edit: {what}"
    new_topic = compile_topic(text, topic_id, before.entities)
    backtester = Backtester(window)
    base = rule_of(old_topic, before, "before")
    assert backtested(backtester, base) == truth(before, articles)[topic_id]
    # The truth: the matcher of every watch topic, the edited one swapped in.
    expected = truth(Matcher([new_topic if t.id == topic_id else t
                              for t in before.watch_topics], before.entities),
                     articles)[topic_id]
    assert backtested(backtester, rule_of(new_topic, before, "after"), [base]) == expected


def compile_topic(text: str, topic_id: str, entities: Mapping[str, Entity]) -> WatchTopic:
    errors: list[ConfigError] = []
    topic = parse_watch_topic(load_yaml(f"{topic_id}.yaml", text), entities, errors)
    assert topic is not None and not errors, errors
    return topic


def test_an_edit_of_terms_or_vetoes_evaluates_only_the_articles_holding_them(
        window: Window) -> None:
    matcher = Matcher.from_dir(FROZEN)
    old = next(t for t in matcher.watch_topics if t.id == "nk-russia-arms")
    backtester = Backtester(window)
    base = rule_of(old, matcher, "before")
    since = NOW - timedelta(days=30)
    full = backtester.run(base, since)
    assert full.evaluated == full.candidates > 0
    text = add_veto((FROZEN / "nk-russia-arms.yaml").read_text(encoding="utf-8"), "Seoul")
    assert text is not None
    topic = compile_topic(text, "nk-russia-arms", matcher.entities)
    found = backtester.run(rule_of(topic, matcher, "after"), since, [base])
    # Only the articles matched before and holding the veto are matched again.
    assert 0 < found.evaluated < full.evaluated / 4
    again = backtester.run(rule_of(topic, matcher, "after"), since, [base])
    assert again.evaluated == 0


def test_what_an_edit_changed() -> None:
    rules = load_rules(FROZEN)
    old = next(t for t in rules.watch_topics if t.id == "shape-words-launch")
    text = (FROZEN / "shape-words-launch.yaml").read_text(encoding="utf-8")

    def changed(old_text: str, new_text: str) -> Change | None:
        return changed_terms(old, compile_topic(text.replace(old_text, new_text),
                                                "shape-words-launch", rules.entities))

    added = changed("none: [test flight]", "none: [test flight, drill]")
    assert added is not None and added.narrowing
    assert [t.written for t in added.terms] == ["drill"]
    swapped = changed("none: [test flight]", "none: [drill]")
    assert swapped is not None and not swapped.narrowing
    assert sorted(t.written for t in swapped.terms) == ["drill", "test flight"]
    term = changed('"fired",', '"fired", salvo,')
    assert term is not None and not term.narrowing
    assert [t.written for t in term.terms] == ["salvo"]
    assert changed("within: 6 words", "within: 5 words") is None
    assert changed("- entity: north_korea", "- entity: russia") is None


# --- the word index -----------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "piece"), [
    (" missile ", ("word", "missile")),
    (" artillery shell", ("word", "artillery")),
    (" munition", ("prefix", "munition")),
    ("rakete ", ("suffix", "rakete")),
    ("弹药", ("inside", "弹药")),
    (" kn 23 ", ("word", "kn")),
    (" ", None),
])
def test_a_pattern_is_looked_up_by_its_most_telling_piece(key: str, piece: object) -> None:
    assert piece_of(key) == piece


def test_merged_segments_find_what_one_built_at_once_finds(
        articles: list[WindowArticle], window: Window) -> None:
    whole = Segment.build(articles)
    matcher = Matcher.from_dir(FROZEN)
    offsets = []
    for segment in window.segments:
        offsets += [a.article_id for a in segment.articles]
    assert offsets == [a.article_id for a in articles]
    for topic in matcher.watch_topics:
        at_once = {whole.articles[i].article_id for i, ok in enumerate(whole.possible(topic))
                   if ok}
        in_parts = {s.articles[i].article_id for s in window.segments
                    for i, ok in enumerate(s.possible(topic)) if ok}
        assert at_once == in_parts, topic.id


def test_an_article_received_again_counts_once_as_its_latest_version() -> None:
    first = window_article("x1", "Port Avalon closed", "Port Avalon was closed on Monday.",
                           at=NOW - timedelta(hours=3))
    again = window_article("x1", "Weather", "Rain all week.", at=NOW - timedelta(hours=1))
    store = FakeStore([first, window_article("x2", "Other", "Nothing here."), again], batch=2)
    window = Window(store, now=lambda: NOW)
    window.refresh()
    assert window.find("x1") == again
    assert window.count(NOW - timedelta(days=1)) == 2


def test_articles_that_left_the_window_are_not_backtested_then_dropped() -> None:
    clock = [NOW]
    store = FakeStore([window_article("old", "Port Avalon shut", "Port Avalon shut.",
                                      at=NOW - timedelta(days=6))])
    window = Window(store, span=timedelta(days=7), now=lambda: clock[0])
    window.refresh()
    clock[0] = NOW + timedelta(days=2)
    store.rows.append(window_article("new", "Port Avalon shut", "Port Avalon shut again.",
                                     at=clock[0]))
    window.refresh()
    assert window.count(clock[0] - timedelta(days=7)) == 1
    clock[0] = NOW + timedelta(days=10)
    window.refresh()
    assert window.segments == [] and window.find("new") is None


# --- previews -----------------------------------------------------------------------------------


def test_an_unchanged_topic_gains_and_loses_nothing(editor: Editor) -> None:
    opened = editor.open(TOPIC)
    preview = editor.preview(TOPIC, opened.text)
    assert preview.ok and preview.compiled
    assert preview.before == preview.after == 6  # h1, h3, h4, h6, h8, h9 (h10 is too old)
    assert (preview.gained, preview.lost) == ((), ())
    assert preview.scanned == 9 and 0 < preview.candidates < 9
    assert preview.days == 7


def test_a_veto_shows_the_matches_it_loses_and_why(editor: Editor) -> None:
    opened = editor.open(TOPIC)
    edited = opened.text.replace("none: [rehearsal]", "none: [rehearsal, football]")
    preview = editor.preview(TOPIC, edited)
    assert (preview.before, preview.after) == (6, 4)
    assert [c.article_id for c in preview.lost] == ["h4", "h3"]  # newest first
    assert preview.lost_count == 2 and preview.gained == ()
    lost = preview.lost[0]
    assert lost.title == "Supporters locked out" and lost.outlet == "Avalon Gazette"
    assert lost.day == (NOW - timedelta(hours=9)).date()
    assert "entity:avalon 'Avalon Harbour'" in lost.why
    assert "veto none[1] 'football'" in lost.why and lost.why.endswith("score 0 < 1")
    # Labels: h3 and h4 are 👎, h9 is 👍.
    assert preview.scores_before is not None and preview.scores_after is not None
    assert preview.scores_before.precision == pytest.approx(1 / 3)
    assert preview.scores_after.precision == 1.0
    assert preview.scores_before.recall == preview.scores_after.recall == 1.0
    assert preview.scores_after.judged == 3
    by_day = {day: (b, a) for day, b, a in preview.per_day}
    assert len(preview.per_day) == 8
    assert by_day[(NOW - timedelta(hours=9)).date()] == (5, 3)


def test_a_term_added_shows_the_matches_it_gains(editor: Editor) -> None:
    text = editor.open(TOPIC).text.replace('shut, "blockade*"', 'shut, "blockade*", idle')
    preview = editor.preview(TOPIC, text)
    assert [c.article_id for c in preview.gained] == ["h2"]
    assert "'idle'" in preview.gained[0].why and "score 1 >= 1" in preview.gained[0].why


def test_a_shorter_span_backtests_fewer_days(editor: Editor) -> None:
    preview = editor.preview(TOPIC, editor.open(TOPIC).text, days=1)
    assert preview.days == 1 and preview.scanned == 8 and preview.after == 5
    assert len(preview.per_day) == 2


def test_a_broken_edit_shows_problems_with_their_lines_and_no_backtest(
        editor: Editor) -> None:
    text = editor.open(TOPIC).text.replace("within: sentence", "within: sentense")
    preview = editor.preview(TOPIC, text)
    assert not preview.compiled and not preview.ok
    assert [(p.file, p.line, p.field) for p in preview.problems] == [
        (f"{TOPIC}.yaml", 9, "match.within")]
    assert "sentense" in preview.problems[0].message
    assert preview.after is None and preview.gained == ()
    syntax = editor.preview(TOPIC, "id: harbour-closures\nmatch: [\n")
    assert syntax.problems and syntax.problems[0].line is not None
    assert "invalid YAML" in syntax.problems[0].message


def test_a_failing_example_is_a_problem_but_the_backtest_runs(editor: Editor) -> None:
    text = editor.open(TOPIC).text.replace("none: [rehearsal]", "none: [shipping]")
    preview = editor.preview(TOPIC, text)
    assert preview.compiled and not preview.ok
    assert [p.field for p in preview.problems] == ["examples.match[0]", "examples.no_match[0]"]
    assert preview.after is not None


def test_a_chosen_article_is_explained_under_the_edit(editor: Editor) -> None:
    preview = editor.preview(TOPIC, editor.open(TOPIC).text, article_id="h5")
    assert preview.explanation is not None and preview.explained is not None
    assert "vetoed windows:" in preview.explanation
    assert preview.explanation.rstrip().endswith("no match")
    missing = editor.preview(TOPIC, editor.open(TOPIC).text, article_id="nope")
    assert missing.explanation is not None and "not in the window" in missing.explanation


def test_a_comment_or_threshold_edit_reuses_every_outcome(editor: Editor) -> None:
    text = editor.open(TOPIC).text
    editor.preview(TOPIC, text)
    commented = editor.preview(TOPIC, "# harbour watch\n" + text)
    assert commented.evaluated == 0
    stricter = editor.preview(TOPIC, text.replace("threshold: 1", "threshold: 2"))
    assert stricter.evaluated == 0
    assert [c.article_id for c in stricter.lost] == ["h9", "h8", "h6", "h4", "h3"]


def test_the_reason_line_names_each_group(topics: Path) -> None:
    matcher = Matcher.from_dir(topics)
    title, text, _ = HARBOUR_NEWS["h2"]
    assert reason(matcher.explain(TOPIC, title, text)) == (
        "entity:avalon 'Avalon Harbour'; all[1] 'shut'; match: never in one sentence; "
        "score 0 < 1")
    title, text, _ = HARBOUR_NEWS["h5"]
    assert reason(matcher.explain(TOPIC, title, text)) == (
        "entity:avalon 'Port Avalon'; all[1] 'closure'; veto none[0] 'rehearsal'; "
        "score 0 < 1")


# --- saving -------------------------------------------------------------------------------------


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_valid_edit_of_the_opened_version_is_saved_whole(editor: Editor,
                                                            topics: Path) -> None:
    opened = editor.open(TOPIC)
    assert opened.version == _sha(topics / f"{TOPIC}.yaml")
    edited = opened.text.replace("none: [rehearsal]", "none: [rehearsal, football]")
    saved = editor.save(TOPIC, edited.replace("\n", "\r\n"), opened.version)
    assert saved.status == "ok" and saved.problems == ()
    assert (topics / f"{TOPIC}.yaml").read_text(encoding="utf-8") == edited
    assert saved.version == _sha(topics / f"{TOPIC}.yaml") == editor.open(TOPIC).version
    assert sorted(p.name for p in topics.iterdir()) == ["entities", f"{TOPIC}.yaml"]
    # The next preview compares with what was saved.
    assert editor.preview(TOPIC, edited).before == 4


def test_a_save_over_a_version_someone_else_saved_is_refused(editor: Editor,
                                                              topics: Path) -> None:
    opened = editor.open(TOPIC)
    (topics / f"{TOPIC}.yaml").write_text(HARBOUR.replace("high", "critical"),
                                          encoding="utf-8")
    saved = editor.save(TOPIC, opened.text.replace("rehearsal]", "rehearsal, drill]"),
                        opened.version)
    assert saved.status == "conflict"
    assert saved.version == _sha(topics / f"{TOPIC}.yaml")
    assert "critical" in (topics / f"{TOPIC}.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize(("old", "new", "field"), [
    ("severity: high", "severity: urgent", "severity"),
    ("id: harbour-closures", "id: harbour", "id"),
    ("none: [rehearsal]", "none: [shipping]", "examples.match[0]"),
    ("none: [rehearsal]", "none: [Avalon]", "match.all[0].entity"),
])
def test_an_invalid_edit_is_not_saved(editor: Editor, topics: Path, old: str, new: str,
                                      field: str) -> None:
    opened = editor.open(TOPIC)
    saved = editor.save(TOPIC, opened.text.replace(old, new), opened.version)
    assert saved.status == "invalid" and field in [p.field for p in saved.problems]
    assert (topics / f"{TOPIC}.yaml").read_text(encoding="utf-8") == HARBOUR


def test_a_new_watch_topic_is_saved_only_where_none_was(editor: Editor,
                                                        topics: Path) -> None:
    text = HARBOUR.replace("id: harbour-closures", "id: harbour-two")
    assert editor.save("harbour-two", text, "").status == "ok"
    assert editor.save("harbour-two", text, "").status == "conflict"
    assert editor.topic_ids() == [TOPIC, "harbour-two"]


@pytest.mark.parametrize("topic_id", ["../harbour-closures", "Harbour", "", "a/b"])
def test_names_that_are_not_watch_topic_ids_are_unknown(editor: Editor,
                                                        topic_id: str) -> None:
    with pytest.raises(KeyError):
        editor.open(topic_id)
    with pytest.raises(KeyError):
        editor.save(topic_id, HARBOUR, "")
    with pytest.raises(KeyError):
        editor.preview(topic_id, HARBOUR)


# --- suggestions --------------------------------------------------------------------------------


def story_detail(story_id: str, ids: Sequence[str]) -> StoryDetail:
    views = tuple(ArticleView(article_id=i, title=HARBOUR_NEWS[i][0], url=None,
                              outlet="Avalon Gazette", language="en", published_at=None,
                              fetched_at=None, summary="", text=HARBOUR_NEWS[i][1],
                              source=i) for i in ids)
    row = StoryRow(story_id=story_id, topic_id=TOPIC, topic_title="Closures",
                   headline=views[0].title, severity="high", first_seen=NOW,
                   last_updated=NOW, articles=len(views), outlets=1, sources=1,
                   languages=("en",), outlet_names=("Avalon Gazette",), alert_state="sent",
                   alerts_sent=1, alerts_dead=0, acknowledged_by=None, snoozed_until=None,
                   votes_up=0, votes_down=1)
    return StoryDetail(story=row, articles=views, alerts=())


def test_a_story_voted_down_suggests_a_veto_that_only_drops_its_reports(
        topics: Path, tmp_path: Path) -> None:
    store = FakeStore(harbour_articles(),
                      labels={"h3": {TOPIC: False}, "h4": {TOPIC: False}, "h9": {TOPIC: True}},
                      stories={"s1": story_detail("s1", ["h3", "h4"])})
    for editor in make_editor(topics, store, tmp_path):
        suggestions = editor.suggest("s1")
        assert suggestions, "no suggestion"
        best = suggestions[0]
        assert (best.kind, best.change) == ("none", "football")
        assert best.fixes == ("h3", "h4")
        assert best.preview.ok and [c.article_id for c in best.preview.lost] == ["h4", "h3"]
        assert "none: [rehearsal, football]" in best.text
        assert all(s.kind == "none" for s in suggestions)  # sentence is as tight as it gets
        assert all("avalon" not in s.change and "shut" not in s.change for s in suggestions)
        # Words most other matches hold would cost more than they save: never proposed.
        assert not {"the", "after"} & {s.change for s in suggestions}
        with pytest.raises(KeyError):
            editor.suggest("nope")


def test_a_story_without_a_down_vote_suggests_nothing(topics: Path, tmp_path: Path) -> None:
    store = FakeStore(harbour_articles(), stories={"s1": story_detail("s1", ["h3"])})
    for editor in make_editor(topics, store, tmp_path):
        assert editor.suggest("s1") == []


def test_yaml_edits_keep_comments_and_read_back() -> None:
    text = HARBOUR.replace("  within: sentence", "  within: paragraph  # wide on purpose")
    assert "  none: [rehearsal, \"Avalon FC\"]" in (add_veto(text, "Avalon FC") or "")
    assert "  within: sentence  # wide on purpose" in (set_within(text, "sentence") or "")
    block = HARBOUR.replace("  none: [rehearsal]", "  none:\n    # drills\n    - rehearsal")
    assert "  none:\n    - football\n    # drills\n    - rehearsal" in (
        add_veto(block, "football") or "")
    bare = HARBOUR.replace("  none: [rehearsal]\n", "").replace("  within: sentence\n", "")
    assert "match:\n  none: [football]\n  all:" in (add_veto(bare, "football") or "")
    assert "match:\n  within: sentence\n  all:" in (set_within(bare, "sentence") or "")
    assert add_veto("match: {all: [a], none: x}\n", "b") is None
    assert [tighter_within(k, w) for k, w in (("paragraph", 0), ("article", 0),
                                               ("words", 12), ("sentence", 0))] == [
        "sentence", "paragraph", "6 words", None]


# --- with the console's real store --------------------------------------------------------------


def test_the_editor_reads_the_window_and_labels_from_the_store(topics: Path,
                                                               tmp_path: Path) -> None:
    feed = Feed()
    news = {ident: report(ident, title, text, outlet="Avalon Gazette",
                          fetched_at=NOW - timedelta(hours=hours))
            for ident, (title, text, hours) in HARBOUR_NEWS.items() if hours < 24 * 7}
    for ident in ("h1", "h2", "h5", "h6", "h7", "h8", "h9"):
        feed.article(news[ident])
    story = feed.story(TOPIC, [news["h3"], news["h4"]], terms=["closed", "shut"])
    feed.feedback(vote(story, "kim", "down", at=NOW - timedelta(hours=1)))
    store = Store(tmp_path / "console.db")
    store.apply(feed.records)
    for editor in make_editor(topics, store, tmp_path):
        editor.warm()
        preview = editor.preview(TOPIC, editor.open(TOPIC).text.replace(
            "none: [rehearsal]", "none: [rehearsal, football]"))
        assert (preview.before, preview.after, preview.scanned) == (6, 4, 9)
        assert preview.scores_before is not None and preview.scores_after is not None
        assert (preview.scores_before.false_positives, preview.scores_after.false_positives) \
            == (2, 0)
        suggestions = editor.suggest(story.story_id)
        assert suggestions and suggestions[0].change == "football"
    store.close()
