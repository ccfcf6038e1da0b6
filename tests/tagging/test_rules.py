from __future__ import annotations

import os
from pathlib import Path

import pytest

from monitor.tagging.load import load_rules
from monitor.yamlfile import ConfigErrors

TESTDATA = Path(__file__).parent / "testdata"
SHIPPED = Path(__file__).parents[2] / "topics"

ENTITY = """\
id: russia
names:
  en: [Russia, Moscow]
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(directory: Path) -> list[str]:
    with pytest.raises(ConfigErrors) as caught:
        load_rules(directory)
    return [str(e) for e in caught.value.errors]


def test_shipped_watch_topics_are_valid() -> None:
    rules = load_rules(SHIPPED)
    assert {t.id for t in rules.watch_topics} >= {
        "nk-russia-arms", "unsc-sanctions", "korea-extended-deterrence", "nk-missile-launches",
        "iran-russia-drones"}


def test_every_mistake_is_reported_at_once_with_file_line_and_field() -> None:
    root = TESTDATA / "topics_invalid"
    found = errors_of(root)
    expected = [
        f"{root}/entities/north_korea.yaml:3: names.en[1]: 'Korea' can never match",
        f"{root}/entities/russia.yaml:3: colour: unknown field",
        f"{root}/bad-fields.yaml:3: severity: expected one of low, medium, high, critical",
        f"{root}/bad-fields.yaml:4: threshold: must be greater than 0",
        f"{root}/bad-fields.yaml:7: match.all[0].entity: unknown entity 'rusia'",
        f"{root}/bad-fields.yaml:8: match.all[1].any: empty group",
        f"{root}/bad-fields.yaml:9: match.all[2].any[0]: a term of only '*'",
        f"{root}/bad-fields.yaml:9: match.all[2].any[1]: '!!!' has no letters or digits",
        f"{root}/bad-fields.yaml:9: match.all[2].any[2]: 'a*': write at least 3 letters",
        f"{root}/bad-fields.yaml:9: match.all[2].any[3]: 'missile' can never count: the veto",
        f"{root}/bad-fields.yaml:11: match.within: expected sentence, paragraph",
        f"{root}/bad-fields.yaml:12: match.colour: unknown field",
        f"{root}/broken.yaml:5: invalid YAML",
        f"{root}/dup.yml:1: id: duplicate watch topic id 'dup'",
        f"{root}/wrong-name.yaml:1: id: id 'another-name' must equal the file name",
    ]
    for line in expected:
        assert any(f.startswith(line) for f in found), (line, found)


def test_unknown_entity_suggests_the_closest_name(tmp_path: Path) -> None:
    write(tmp_path, "entities/russia.yaml", ENTITY)
    write(tmp_path, "t.yaml", "id: t\ntitle: T\nmatch:\n  all:\n    - entity: rusia\n")
    assert errors_of(tmp_path) == [
        f"{tmp_path}/t.yaml:5: match.all[0].entity: unknown entity 'rusia' "
        "(did you mean 'russia'?)"]


def test_vetoes_covering_every_name_of_a_required_entity_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "entities/russia.yaml", ENTITY)
    write(tmp_path, "t.yaml", "id: t\ntitle: T\nmatch:\n  all: [{entity: russia}, war]\n"
                              "  none: [moscow*, russia]\n")
    assert errors_of(tmp_path) == [
        f"{tmp_path}/t.yaml:4: match.all[0].entity: entity 'russia' can never count: the "
        "vetoes in none cover every one of its names"]


def test_a_veto_on_one_name_of_an_entity_is_allowed(tmp_path: Path) -> None:
    write(tmp_path, "entities/russia.yaml", ENTITY)
    write(tmp_path, "t.yaml", "id: t\ntitle: T\nmatch:\n  all: [{entity: russia}, war]\n"
                              "  none: [moscow*]\n")
    assert len(load_rules(tmp_path).watch_topics) == 1


def test_at_least_more_than_members_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "t.yaml", "id: t\ntitle: T\nmatch:\n  all:\n    - any: [a1, b2]\n"
                              "      at_least: 3\n")
    (error,) = errors_of(tmp_path)
    assert error.startswith(f"{tmp_path}/t.yaml:6: match.all[0].at_least: at_least 3 can never")


def test_groups_windows_and_defaults_are_compiled(tmp_path: Path) -> None:
    write(tmp_path, "entities/russia.yaml", ENTITY)
    write(tmp_path, "t.yaml", """\
id: t
title: T
match:
  all:
    - entity: russia
    - any: {en: [drone*], ru: [дрон*]}
      within: 12 words
  any: [alpha, beta]
""")
    (topic,) = load_rules(tmp_path).watch_topics
    assert topic.severity == "medium"
    assert topic.threshold == 1.0
    assert str(topic.within) == "sentence"
    entity, drones, alternatives = topic.rule.children
    assert entity.label == "entity:russia"
    assert [t.written for t in drones.terms] == ["drone*", "дрон*"]
    assert str(drones.within) == "12 words"
    assert alternatives.kind == "any"


def test_unchanged_files_are_not_parsed_again(tmp_path: Path) -> None:
    path = write(tmp_path, "t.yaml", "id: t\ntitle: First\nmatch:\n  any: [alpha]\n")
    assert load_rules(tmp_path).watch_topics[0].title == "First"
    stat = path.stat()
    path.write_text("id: t\ntitle: Other\nmatch:\n  any: [alpha]\n", encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert load_rules(tmp_path).watch_topics[0].title == "First"  # same size and time
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert load_rules(tmp_path).watch_topics[0].title == "Other"


def test_a_title_only_topic_whose_threshold_exceeds_the_title_weight_is_refused(
        tmp_path: Path) -> None:
    write(tmp_path, "t.yaml", "id: t\ntitle: T\nmatch:\n  any: [alpha]\n  within: title\n"
                              "title_weight: 1\nthreshold: 2\n")
    (error,) = errors_of(tmp_path)
    assert error.startswith(f"{tmp_path}/t.yaml:7: threshold: can never be reached")


def test_a_changed_entity_reaches_the_unchanged_topics_that_use_it(tmp_path: Path) -> None:
    entity = write(tmp_path, "entities/russia.yaml", ENTITY)
    write(tmp_path, "t.yaml", "id: t\ntitle: T\nmatch:\n  all: [{entity: russia}]\n")
    (topic,) = load_rules(tmp_path).watch_topics
    assert topic.rule.children[0].entity is not None
    entity.write_text(ENTITY.replace("Moscow", "Kremlin"), encoding="utf-8")
    os.utime(entity, ns=(0, entity.stat().st_mtime_ns + 1_000_000))
    (topic,) = load_rules(tmp_path).watch_topics
    entity_now = topic.rule.children[0].entity
    assert entity_now is not None
    assert [n.written for n in entity_now.names] == ["Russia", "Kremlin"]


def test_a_watch_topic_may_ask_for_corroboration(tmp_path: Path) -> None:
    write(tmp_path, "entities/russia.yaml", ENTITY)
    body = "title: T\nmatch:\n  all: [{entity: russia}]\n"
    write(tmp_path, "ok.yaml", "id: ok\n" + body + "corroboration:\n  sources: 2\n"
          "  trusted_outlets: [Yonhap News Agency]\n")
    write(tmp_path, "plain.yaml", "id: plain\n" + body)
    topics = {t.id: t for t in load_rules(tmp_path).watch_topics}
    assert topics["ok"].corroboration == (2, ("Yonhap News Agency",))
    assert topics["plain"].corroboration is None
    write(tmp_path, "bad.yaml", "id: bad\n" + body + "corroboration: {sources: 0, wait: 1h}\n")
    found = errors_of(tmp_path)
    assert any(f.startswith(f"{tmp_path}/bad.yaml:5: corroboration.wait: unknown field")
               for f in found), found
    assert any(f.startswith(f"{tmp_path}/bad.yaml:5: corroboration.sources: expected a whole")
               for f in found), found
