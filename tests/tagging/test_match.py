# ruff: noqa: RUF001 - test strings in many scripts are the point
from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from monitor.tagging.match import Matcher, TopicMatch

ENTITIES = {
    "north_korea": """\
id: north_korea
names:
  en: [North Korea*, DPRK, Pyongyang, Kim Jong Un, Korea]
  ko: [북한, 김정은]
  ru: [КНДР, "Северн* Коре*"]
  zh: [朝鲜]
  ar: [كوريا الشمالية]
not:
  en: [South Korea*, Korean War]
  zh: [朝鲜半岛]
""",
    "russia": """\
id: russia
names:
  en: [Russia, Russian*, Moscow, Putin]
  ko: [러시아]
  ru: ["Росси*"]
  zh: [俄]
  ar: [روسيا]
""",
    "un": """\
id: un
names: [UN, United Nations]
""",
}

ARMS = """\
id: arms
title: Arms
severity: high
match:
  all:
    - entity: north_korea
    - entity: russia
    - any: [arms, munition*, "artillery shell*", 무기, 武器, "оруж*", أسلحة]
  none: [football]
  within: sentence
"""


def matcher_for(tmp_path: Path, **topics: str) -> Matcher:
    for name, text in ENTITIES.items():
        path = tmp_path / "entities" / f"{name}.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for name, text in topics.items():
        (tmp_path / f"{name.replace('_', '-')}.yaml").write_text(text, encoding="utf-8")
    return Matcher.from_dir(tmp_path)


def ids(matches: list[TopicMatch]) -> list[str]:
    return [m.topic_id for m in matches]


@pytest.fixture
def arms(tmp_path: Path) -> Matcher:
    return matcher_for(tmp_path, arms=ARMS)


@pytest.mark.parametrize("text", [
    "Kim Jong-un’s envoy discussed arms with Russia.",
    "Kim Jongun and Putin talked about artillery shells.",
    "NORTH KOREA'S MUNITIONS ARE FOR RUSSIA.",
    "북한은 러시아에 무기를 보냈다.",
    "КНДР передала России оружие.",
    "Власти Северной Кореи передали Росси оружие.",
    "朝鲜向俄罗斯提供武器。",
    "قالت إن كوريا الشمالية أرسلت أسلحة وروسيا تسلمتها",
])
def test_names_and_terms_match_in_every_script_and_spelling(arms: Matcher, text: str) -> None:
    assert ids(arms.match("", text)) == ["arms"]


@pytest.mark.parametrize("text", [
    "South Korea sent arms to Russia.",  # "Korea" inside "South Korea" is not North Korea
    "Veterans of the Korean War met Russian arms dealers.",
    "朝鲜半岛局势紧张，俄方出售武器。",
    "North Korea tested a missile. Russia sold arms to someone else.",  # two sentences
    "North Korea and Russia played football; arms were not discussed.",  # veto
])
def test_look_alikes_other_sentences_and_vetoes_do_not_match(arms: Matcher, text: str) -> None:
    assert arms.match("", text) == []


def test_evidence_quotes_the_article_as_written_with_offsets(arms: Matcher) -> None:
    title = "Pyongyang’s shells for Moscow"
    text = "Intro.\n\nOfficials said Kim Jong-un’s MUNITIONS went to Russia, the DPRK said."
    (found,) = arms.match(title, text)
    quoted = {(e.group, e.term, e.matched) for e in found.evidence}
    assert quoted == {("entity:north_korea", "Kim Jong Un", "Kim Jong-un"),
                      ("all[2]", "munition*", "MUNITIONS"),
                      ("entity:russia", "Russia", "Russia"),
                      ("entity:north_korea", "DPRK", "DPRK")}
    for e in found.evidence:
        assert (title if e.field == "title" else text)[e.start:e.end] == e.matched
    (sentence,) = found.sentences
    assert sentence[0] == "text"
    assert sentence[3] == text[sentence[1]:sentence[2]]
    assert sentence[3].startswith("Officials said")


def test_a_title_that_satisfies_the_rule_adds_the_title_weight(arms: Matcher) -> None:
    (found,) = arms.match("North Korea sends munitions to Russia",
                          "North Korea and Russia discussed arms. Nothing else.")
    assert found.score == 3.0
    assert found.sentences[0][0] == "title"


def test_to_dict_is_plain_json(arms: Matcher) -> None:
    (found,) = arms.match("", "North Korea sold arms to Russia.")
    data = orjson.loads(orjson.dumps(found.to_dict()))
    assert data["topic_id"] == "arms"
    assert data["evidence"][0]["matched"] == "North Korea"
    assert data["sentences"][0]["text"] == "North Korea sold arms to Russia."


def test_acronyms_match_only_in_capitals(tmp_path: Path) -> None:
    matcher = matcher_for(tmp_path, un_sanctions="""\
id: un-sanctions
title: UN sanctions
match:
  all: [{entity: un}, sanction*]
""")
    assert ids(matcher.match("", "The UN extended sanctions.")) == ["un-sanctions"]
    assert matcher.match("", "Un pays a imposé des sanctions.") == []


def test_paragraph_and_word_windows(tmp_path: Path) -> None:
    matcher = matcher_for(
        tmp_path,
        para=ARMS.replace("id: arms", "id: para").replace("within: sentence",
                                                          "within: paragraph"),
        near=ARMS.replace("id: arms", "id: near").replace("within: sentence",
                                                          "within: 6 words"))
    text = "North Korea spoke at length. Russia listened to it all. Arms came up.\n\nNo."
    assert ids(matcher.match("", text)) == ["para"]
    close = "Yesterday North Korea gave Russia arms, and so on and on and on."
    far = "North Korea and then one two three four five Russia got the arms."
    assert ids(matcher.match("", close)) == ["near", "para"]
    assert ids(matcher.match("", far)) == ["para"]


def test_a_group_with_its_own_window(tmp_path: Path) -> None:
    matcher = matcher_for(tmp_path, titled="""\
id: titled
title: Russia in the title, North Korean arms anywhere in the text
match:
  all:
    - entity: russia
      within: title
    - entity: north_korea
    - any: [arms]
""")
    assert ids(matcher.match("Moscow talks", "Talks ended. North Korea sold arms.")) == [
        "titled"]
    assert matcher.match("Talks", "Moscow talks ended. North Korea sold arms.") == []


def test_at_least_counts_distinct_terms_in_one_window(tmp_path: Path) -> None:
    matcher = matcher_for(tmp_path, two="""\
id: two
title: Two of them
match:
  all:
    - any: [alpha, beta, gamma]
      at_least: 2
""")
    assert ids(matcher.match("", "Alpha and beta.")) == ["two"]
    assert matcher.match("", "Alpha and alpha. Beta.") == []


def test_article_wide_veto_rejects_every_window(tmp_path: Path) -> None:
    matcher = matcher_for(tmp_path, strict=ARMS.replace("id: arms", "id: strict").replace(
        "none: [football]", "none:\n    - any: [satire]\n      within: article"))
    text = "North Korea sold arms to Russia."
    assert ids(matcher.match("", text)) == ["strict"]
    assert matcher.match("Satire", text) == []


def test_threshold_needs_several_windows(tmp_path: Path) -> None:
    matcher = matcher_for(tmp_path, often=ARMS.replace("id: arms", "id: often") +
                          "threshold: 2\n")
    once = "North Korea sold arms to Russia. Then nothing."
    twice = once + " Russia paid North Korea for arms."
    assert matcher.match("", once) == []
    (found,) = matcher.match("", twice)
    assert found.score == 2.0


def test_a_paragraph_that_satisfies_a_paragraph_group_counts_once(tmp_path: Path) -> None:
    matcher = matcher_for(tmp_path, near="""\
id: near
title: Alpha and beta in one paragraph, twice
match:
  all:
    - all: [alpha, beta]
      within: paragraph
threshold: 2
""")
    # One paragraph holds the pair: a second sentence with "alpha" adds nothing.
    assert matcher.match("", "Alpha and beta met. Alpha left early.") == []
    (found,) = matcher.match("", "Alpha and beta met. Alpha left.\n\nBeta met alpha again.")
    assert found.score == 2.0
    # Where the rule holds within each sentence by itself, each sentence counts.
    (found,) = matcher.match("", "Alpha and beta met. Beta and alpha left.")
    assert found.score == 2.0


def test_results_are_ordered_by_score_then_id(tmp_path: Path) -> None:
    matcher = matcher_for(tmp_path, b_arms=ARMS.replace("id: arms", "id: b-arms"),
                          a_arms=ARMS.replace("id: arms", "id: a-arms"),
                          c_arms=ARMS.replace("id: arms", "id: c-arms").replace(
                              "title: Arms", "title: Arms\ntitle_weight: 5"))
    found = matcher.match("North Korea arms Russia", "North Korea sold arms to Russia.")
    assert ids(found) == ["c-arms", "a-arms", "b-arms"]
    assert [m.score for m in found] == [6.0, 3.0, 3.0]


def test_no_watch_topics_and_empty_articles(tmp_path: Path) -> None:
    assert Matcher([]).match("title", "text") == []
    assert matcher_for(tmp_path, arms=ARMS).match("", "") == []


def test_an_item_with_a_title_and_no_body_is_tagged_on_its_title(arms: Matcher) -> None:
    # Many RSS items carry no description at all.
    for body in ("", "   ", "\n\n"):
        assert ids(arms.match("North Korea sends munitions to Russia", body)) == ["arms"]


def test_explain_reports_the_group_that_failed(arms: Matcher) -> None:
    explanation = arms.explain("arms", "", "North Korea talked to Russia about football.")
    assert not explanation.matched
    failed = [g for g in explanation.groups if not g.fired_in and not g.veto]
    assert [g.label for g in failed] == ["match", "all[2]"]
    veto = [g for g in explanation.groups if g.veto]
    assert veto[0].hits[0].matched == "football"


def test_a_topic_of_three_groups_of_which_only_the_last_fired_is_no_candidate(
        tmp_path: Path) -> None:
    matcher = matcher_for(tmp_path, harbour_strike="""\
id: harbour-strike
title: Harbour strikes
match:
  all: [harbour, strike, dockers]
""")
    assert matcher.match("", "The dockers went home.") == []
    assert ids(matcher.match("", "Dockers strike at the harbour.")) == ["harbour-strike"]
