# ruff: noqa: RUF001 - test strings in many scripts are the point
from __future__ import annotations

import re

import pytest

from monitor.tagging.segments import paragraphs, sentences
from monitor.tagging.terms import Pattern, TermError, _compile_term, compile_term
from monitor.tagging.text import _SPACES, _edits_from_matches, _SpaceRuns, fold, normalize


def keys(term: str) -> set[str]:
    return {p.key for p in compile_term(term)}


@pytest.mark.parametrize(("written", "folded"), [
    ("Kim Jong-un’s ÉLITE troops", "kim jong un elite troops"),
    ("ＤＰＲＫ", "dprk"),
    ("Corée du Nord", "coree du nord"),
    ("«North Korea's» army—Pyongyang", "north korea army pyongyang"),
    ("Straße", "strasse"),
    ("Ёлка", "елка"),
    ("كوريا الشمالية", "كوريا الشماليه"),
    ("أَسْلِحَة", "اسلحه"),
    ("北朝鮮のICBM을 발사", "北朝鮮の icbm 을 발사"),
    ("١٧١٨", "1718"),
])
def test_variants_of_case_script_and_punctuation_fold_together(written: str, folded: str) -> None:
    assert fold(written) == folded


def test_normalized_text_is_padded_and_has_single_spaces() -> None:
    text = normalize("  Hello,   world!\n\nBye ").text
    assert text == " hello world bye "


@pytest.mark.parametrize("original", [
    "Kim Jong-un’s visit, to the U.S. — Pyongyang's reply",
    "Straße ﬁnal e\u0301te İstanbul",
    "北朝鮮のICBM발사 and ＤＰＲＫ…",
    "وروسيا والصواريخ الكورية",
])
def test_every_normalized_word_maps_back_to_the_original_text(original: str) -> None:
    norm = normalize(original)
    for m in re.finditer(r"\S+", norm.text):
        start = norm.to_original(m.start())
        end = norm.to_original(m.end(), end=True)
        assert fold(original[start:end]) == m.group()


def test_original_offsets_map_forward_to_normalized_offsets() -> None:
    original = "Mr. Kim’s trip. Then Moscow."
    norm = normalize(original)
    start = original.index("Moscow")
    assert norm.text[norm.to_normalized(start):norm.to_normalized(start + 6, end=True)] == \
        "moscow"


def test_many_starts_map_like_one_at_a_time() -> None:
    original = "Kim Jong-un’s  visit, to the U.S. — Pyongyang's 北朝鮮のICBM発射 Straße. End"
    norm = normalize(original)
    starts = list(range(len(original)))
    assert norm.starts_to_normalized(starts) == [norm.to_normalized(s) for s in starts]


@pytest.mark.parametrize("padded", [
    " a ", "  a  b   c ", " ab, cd.  ef ", "   ", " é  北朝鮮   x ", " x" + " " * 9 + "y ",
])
def test_space_runs_map_offsets_like_the_spans_of_each_run(padded: str) -> None:
    # The offset map of collapsed spaces is made with numpy; it must answer exactly as the
    # edits made from the regular expression's runs do, for every offset, start or end.
    spans = _edits_from_matches([m.span() for m in _SPACES.finditer(padded)], 1)
    runs = _SpaceRuns(padded)
    for pos in range(len(padded) + 2):
        for end in (False, True):
            assert runs.forward(pos, end=end) == spans.forward(pos, end=end)
            assert runs.back(pos, end=end) == spans.back(pos, end=end)
    every = list(range(len(padded) + 1))
    assert runs.forward_starts(every) == spans.forward_starts(every)


@pytest.mark.parametrize("term", ["missile", "boxes", "city", "ballistic missile",
                                  "kim jong un", "munition*", "ab", "abc*", "x  y", "ab*"])
def test_shortcuts_compile_plain_terms_like_the_general_rules(term: str) -> None:
    try:
        general: object = _compile_term(term.strip())
    except TermError as exc:
        general = str(exc)
    try:
        found: object = compile_term(term)
    except TermError as exc:
        found = str(exc)
    assert found == general


def test_sentences_respect_abbreviations_initials_and_cjk_stops() -> None:
    text = ("Mr. Kim met U.S. officials on Sept. 15. They agreed. \"Stop!\" he said. "
            "北朝鮮は発射した。日本は抗議。\n\nA new paragraph. Done")
    found = [text[s:e] for s, e in sentences(text)]
    assert found == ["Mr. Kim met U.S. officials on Sept. 15.", "They agreed.",
                     "\"Stop!\" he said.", "北朝鮮は発射した。", "日本は抗議。",
                     "A new paragraph.", "Done"]


def test_paragraphs_split_on_blank_lines_else_on_line_breaks() -> None:
    blank = "One\ntwo.\n\nThree."
    assert [blank[s:e] for s, e in paragraphs(blank)] == ["One\ntwo.", "Three."]
    lines = "One.\nTwo.\n"
    assert [lines[s:e] for s, e in paragraphs(lines)] == ["One.", "Two."]


def test_lower_case_words_get_plurals_and_names_do_not() -> None:
    assert keys("missile") == {" missile ", " missiles "}
    assert keys("country") == {" country ", " countries "}
    assert keys("misil") == {" misil ", " misils ", " misiles "}
    assert keys("Scud") == {" scud "}


def test_romanized_names_get_joined_syllables() -> None:
    assert keys("Kim Jong Un") == {" kim jong un ", " kim jongun "}
    assert keys("Jang Ho-jin") == {" jang ho jin ", " jang hojin "}
    assert keys("Park Jin") == {" park jin "}


def test_acronyms_must_be_capitals() -> None:
    patterns = compile_term("UN")
    assert {p.key for p in patterns} == {" un ", " uns "}
    assert all(p.caps == 2 for p in patterns)
    assert all(p.caps == 0 for p in compile_term("Kim"))


def test_wildcards_at_word_ends_and_inside() -> None:
    assert compile_term("munition*") == (Pattern(" munition"),)
    assert compile_term("*rakete") == (Pattern("rakete "),)
    (inner,) = compile_term("Северн* Коре*")
    assert inner.key == " северн"
    assert inner.rest is not None
    assert inner.rest.match(" северной кореи ")


def test_scripts_decide_word_boundaries() -> None:
    assert keys("북한") == {" 북한"}  # Korean particles may follow
    assert keys("朝鲜") == {"朝鲜"}  # no spaces in Chinese
    assert " وروسيا " in keys("روسيا")  # Arabic "and" prefix
    assert " للصواريخ " in keys("الصواريخ")  # li- + al- is written with one alef


@pytest.mark.parametrize(("term", "message"), [
    ("", "empty"),
    ("*", "only '*'"),
    ("!!!", "no letters"),
    ("a*", "at least 3 letters"),
    ("kim *", "attached to a word"),
])
def test_terms_that_can_never_match_are_refused(term: str, message: str) -> None:
    with pytest.raises(TermError, match=re.escape(message)):
        compile_term(term)
