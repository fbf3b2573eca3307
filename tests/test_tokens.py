"""The word tokeniser shared by the dedup and cluster stages."""

from __future__ import annotations

import numpy as np

from dedup.algorithms.tokens import (
    Documents,
    Vocabulary,
    char_classes,
    code_points,
    documents,
    token_hashes,
    words,
)


def test_words_are_case_folded_runs_of_letters_and_digits() -> None:
    assert words("Kerry's 2 ÉLAN, élan_2024!") == ["kerry", "s", "2", "élan", "élan_2024"]
    assert words("Straße") == ["strasse"]


def test_combining_marks_stay_inside_words() -> None:
    # Devanagari vowel signs are combining marks: \w alone would cut the words apart.
    assert words("भारत सरकार ने कहा") == ["भारत", "सरकार", "ने", "कहा"]
    assert words("Ελλάδα и Україна") == ["ελλάδα", "и", "україна"]


def test_no_space_scripts_give_one_token_per_character() -> None:
    assert words("東京都の地震") == ["東", "京", "都", "の", "地", "震"]
    assert words("iPhone东京") == ["iphone", "东", "京"]
    assert words("ภาษาไทย") == list("ภาษาไทย")
    # Korean separates words with spaces, so it keeps words.
    assert words("서울 시장") == ["서울", "시장"]


def field_words(docs: Documents, field: int) -> list[str]:
    """The tokens of one field as strings (what :func:`words` gives for it)."""
    return [docs.token(i) for i in range(docs.bounds[field], docs.bounds[field + 1])]


def test_documents_hold_every_fields_words_flat() -> None:
    docs = documents(["Storm hits", ""], ["The storm hit the coast.", "c"])
    assert len(docs) == 2
    assert [field_words(docs, f) for f in range(4)] == [
        ["storm", "hits"], ["the", "storm", "hit", "the", "coast"], [], ["c"]]
    assert docs.ids[0] == docs.ids[3] != docs.ids[1]  # one id per distinct word
    index, field_of = docs.positions(np.array([3, 0]))
    assert [docs.token(i) for i in index] == ["c", "storm", "hits"]
    assert field_of.tolist() == [3, 0, 0]


def test_vocabulary_numbers_words_and_computes_facts_once_per_word() -> None:
    vocabulary = Vocabulary()
    ids = vocabulary.ids(["b", "a", "b"])
    assert ids[0] == ids[2] != ids[1]
    seen: list[list[str]] = []

    def lengths(words: list[str]) -> list[int]:
        seen.append(sorted(words))
        return [len(word) for word in words]

    assert vocabulary.facts("len", ids, lengths, np.int32).tolist() == [1, 1, 1]
    more = vocabulary.ids(["ccc", "a"])
    assert vocabulary.facts("len", more, lengths, np.int32).tolist() == [3, 1]
    assert seen == [["a", "b"], ["ccc"]]


def test_vocabulary_forgets_when_full_without_changing_facts() -> None:
    vocabulary = Vocabulary(capacity=2)

    def lengths(words: list[str]) -> list[int]:
        return [len(word) for word in words]

    first = vocabulary.facts("len", vocabulary.ids(["x", "yy", "zzz"]), lengths, np.int32)
    vocabulary.make_room()
    assert vocabulary.ids(["zzz"]).tolist() == [0]
    again = vocabulary.facts("len", vocabulary.ids(["x", "yy", "zzz"]), lengths, np.int32)
    assert first.tolist() == again.tolist() == [1, 2, 3]


def test_texts_with_and_without_no_space_scripts_tokenise_alike() -> None:
    latin = "Kyiv's mayor, naïve_2024 — भारत"
    assert words(latin) == words(latin + " 東京")[:-2]


MIXED = [
    "Kerry's 2 ÉLAN, élan_2024! Straße", "भारत सरकार ने कहा", "東京都の地震 iPhone东京",
    "ภาษาไทย ກາວ", "서울 시장", "Ελλάδα и Україна — naïve", "emoji 🙂 and 𠀋 (astral ideograph)",
    "", "   ", "a\u0301b \ud800 lone surrogate", "tab\tnew\nline_under_score",
]


def test_documents_find_the_same_tokens_as_words() -> None:
    docs = documents(MIXED, list(reversed(MIXED)))
    for field, raw in enumerate(docs.raw):
        assert field_words(docs, field) == words(raw), raw


def test_the_character_table_is_the_word_pattern() -> None:
    table = char_classes()
    for char in "aZ9_éß\u0915\u093e\u0301":
        assert table[ord(char)] == 1, repr(char)
    for char in "東のภ\u0e31":
        assert table[ord(char)] == 2, repr(char)
    for char in " -'\n🙂\u00a0":
        assert table[ord(char)] == 0, repr(char)


def test_token_hashes_depend_on_the_token_only() -> None:
    text = "storm, storm stormy torm"
    codes = code_points(text)
    hashes = token_hashes(codes, np.array([0, 7, 13, 20]), np.array([5, 12, 19, 24]))
    assert hashes[0] == hashes[1]
    assert len(set(hashes.tolist())) == 3
    assert token_hashes(code_points("xx" + text), np.array([2]), np.array([7]))[0] == hashes[0]
