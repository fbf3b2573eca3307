"""The word tokeniser shared by the dedup and cluster stages."""

from __future__ import annotations

from dedup.tokens import Document, documents, words


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


def test_documents_tokenise_once_and_only_when_asked() -> None:
    doc = Document("Storm hits", "The storm hit the coast.")
    assert doc._title_words is None and doc._text_words is None
    first = doc.text_words
    assert first == ["the", "storm", "hit", "the", "coast"]
    assert doc.text_words is first
    assert [d.title_words for d in documents(["A b", ""], ["", "c"])] == [["a", "b"], []]


def test_texts_with_and_without_no_space_scripts_tokenise_alike() -> None:
    latin = "Kyiv's mayor, naïve_2024 — भारत"
    assert words(latin) == words(latin + " 東京")[:-2]
