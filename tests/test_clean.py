"""Behaviour of the clean stage: cruft rules per class and language, content that must
survive, learned lines, title repair, and the project's seed articles."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup.stages.clean import CleanConfig, Cleaned, clean_article, normalise_lines

SEEDS = Path(__file__).parent.parent / "seeds"
CFG = CleanConfig()
BODY = (
    "The council approved the budget on Tuesday after a long debate about school funding "
    "and the cost of repairing the old bridge."
)


def clean(text: str, title: str = "A headline about the council",
          source: str | None = None) -> Cleaned:
    """clean_article with the default config and nothing learned."""
    return clean_article(title, text, source, CFG)


def kept_lines(text: str, source: str | None = None) -> list[str]:
    """Lines of the cleaned text of ``text`` placed between two real paragraphs."""
    return clean(f"{BODY}\n{text}\n{BODY}", source=source).text.split("\n")


def read_seed(prefix: str) -> tuple[str, str]:
    """(title, text) of a seed: first non-empty line is the title, the rest the text."""
    path = next(SEEDS.glob(f"{prefix}_*.txt"))
    lines = path.read_text(encoding="utf-8").split("\n")
    first = next(i for i, line in enumerate(lines) if line.strip())
    return lines[first], "\n".join(lines[first + 1:])


def seed_lines(prefix: str) -> tuple[Cleaned, set[str]]:
    """The cleaned seed and the set of its output lines (title included)."""
    title, text = read_seed(prefix)
    cleaned = clean_article(title, text, None, CFG)
    return cleaned, {cleaned.title, *cleaned.text.split("\n")}


# --------------------------------------------------------------------------- normalise


def test_normalise_unifies_unicode_whitespace_and_newlines() -> None:
    raw = "Cafe\u0301 \u00a0 opens\u200b today\r\n\r\n\t  second\u2028third\n\n"
    assert normalise_lines(raw) == ["Café opens today", "second", "third"]


# --------------------------------------------------------------------------- rule classes

CRUFT_BY_CLASS = {
    "language switcher": ["ua en ru", "es en", "de en", "UA | EN", "pl / en"],
    "widgets en": ["Share.", "Leave A Reply", "Cancel reply", "Comments", "Related Posts",
                   "Sign in", "Menu", "Search", "Subscribe", "Advertisement",
                   "Follow us on Twitter and Facebook", "Exit mobile version", "Comments (12)"],
    "widgets de": ["Teilen", "Kommentare", "Suche", "Anzeige", "Mehr zum Thema",
                   "Folgen Sie uns auf Twitter und Facebook"],
    "widgets ru": ["Комментарии", "Поиск", "Поделиться", "Реклама",
                   "Подписывайтесь на наш Telegram-канал"],
    "widgets uk": ["Коментарі", "Пошук", "Поділитися", "Підписуйтесь на наш Telegram-канал"],
    "widgets es": ["Comentarios", "Compartir", "Te puede interesar", "Publicidad"],
    "widgets fr": ["Commentaires", "Partager", "Publicité", "Rechercher"],
    "widgets it": ["Commenti", "Condividi", "Pubblicità", "Cerca"],
    "widgets pt": ["Comentários", "Compartilhar", "Publicidade", "Pesquisar"],
    "widgets pl": ["Komentarze", "Udostępnij", "Szukaj", "Zaloguj się"],
    "widgets tr": ["Yorumlar", "Paylaş", "Reklam", "İlgili Haberler"],
    "breadcrumbs": ["Home » World » Europe", "Startseite » Politik", "Главная » Новости",
                    "Inicio › Internacional", "Головна > Новини"],
    "bylines": ["Author: Jane Roe", "Автор: Анна Коваленко", "Von Karl Meier", "Por Ana Gómez",
                "By Mary Smith", "Par Jean Dupont", "Yazar: Ayşe Yılmaz",
                "Di Marco Rossi", "Autor: Jan Kowalski", "Por João Silva",
                "Автор: Олена Петренко", "Yazan: Mehmet Demir", "The Daily ChronicleJane Roe",
                "Morning WireMarta Kowalska",
                "Baltic ObserverLars van der Berg", "Odesa TribuneОлександр Шевченко"],
    "tags": ["Tags: Trump, Ukraine", "Теги: выборы, Украина", "Schlagwörter: Bahn, Streik",
             "Mots-clés : budget, Sénat", "Tag: governo, Senato", "Tagi: Sejm, budżet",
             "Теги: бюджет, Рада", "Etiketler: Meclis, bütçe", "Etiquetas: gobierno, presupuesto"],
    "captions": ["Photo: Leaders at the summit in Paris (Getty Images)",
                 "Foto: Polizei am Tatort (dpa)", "Фото: Заседание правительства",
                 "Photo : Le président à Paris (AFP)", "Foto: Il premier a Roma (Ansa)",
                 "Фото: Засідання уряду", "Foto: O presidente em Lisboa (Lusa)",
                 "Fotoğraf: Meclis Genel Kurulu (AA)", "Foto: El presidente en Madrid (EFE)"],
    "read also": ["Read also: Markets rally after rate cut",
                  "Lesen Sie auch: Bahn streikt erneut",
                  "Lea también: El Gobierno aprueba el presupuesto",
                  "Читайте также: В Москве прошел дождь",
                  "Читайте також: У Києві відкрили міст",
                  "Czytaj także: Sejm przyjął ustawę", "Lire aussi : Le gouvernement recule",
                  "Leggi anche: Il governo cade", "Leia também: O governo caiu",
                  "Ayrıca okuyun: Meclis bütçeyi kabul etti", "Veja também: Governo anuncia",
                  "À lire aussi : Le Sénat vote le budget", "Zobacz też: Rząd przyjął projekt",
                  "Дивіться також: Рада ухвалила бюджет"],
    "follow us": ["Suivez-nous sur Facebook et Twitter", "Seguici su Facebook e Twitter",
                  "Siga-nos no Facebook e no Twitter", "Obserwuj nas na Facebooku",
                  "Bizi Twitter'da takip edin", "Підписуйтесь на нас у Facebook",
                  "Síguenos en Facebook y Twitter", "Подписывайтесь на нас в Facebook"],
    "copyright": ["© 2025 Some Outlet. All rights reserved.",
                  "© 2024 Nachrichten AG. Alle Rechte vorbehalten.",
                  "Periódico S.A. Todos los derechos reservados.",
                  "© 2025 Газета. Все права защищены.", "Copyright © 2023 Wire Co",
                  "© 2025 Le Journal. Tous droits réservés.",
                  "© 2025 Il Giornale. Tutti i diritti riservati.",
                  "© 2025 Gazeta. Wszelkie prawa zastrzeżone.",
                  "© 2025 Газета. Усі права захищені.",
                  "© 2025 Jornal. Todos os direitos reservados.",
                  "© 2025 Gazete. Tüm hakları saklıdır."],
}


@pytest.mark.parametrize(
    "line", [line for lines in CRUFT_BY_CLASS.values() for line in lines]
)
def test_cruft_line_is_removed(line: str) -> None:
    assert kept_lines(line) == [BODY, BODY]


@pytest.mark.parametrize("line", [
    "Jetzt teilen:",
    "Article content",
    "MÁS HISTORIAS PRINCIPALES",
    "Share prices fell sharply after the comments were published.",
    "Search teams found the hikers on Sunday.",
    "Comments from the minister angered the opposition.",
    "Coalition of the willing",
    "Five Pillars of Post-Conflict Security",
    "- Establishing effective mechanisms to monitor a ceasefire.",
    "Von Ingrid Zeilinger schließen",  # a sentence fragment, not a byline
    "Autor: j",
    "By Afedzi Abdullah, GNA",
    "Gabe Prough",
    "Lufthansa Group",
    "BellWether Advisors LLP",
    "»Wir schaffen das«, sagte sie » und ging.",
    "July 28, 2004",
    "Czytaj także:",
    ("Photo: Jane DoeIn light of the outbreak, the paper has decided to postpone its annual "
     "awards event, which was scheduled for Wednesday, March 25, at the city hall downtown."),
    "The firm, which holds all rights reserved for the film, said it would appeal.",
    "(c) a ban on imports of steel;",  # a list's item, not a copyright sign
    "Tag: Der erste Tag der Konferenz verlief ruhig.",  # a sentence, not a list of tags
    "Related: police said two suspects were arrested on Monday.",  # not a headline
    "Смотрите также: по данным полиции, задержаны двое.",
    "#1 seed Gauff advanced to the final.",
    "#SaveTheLibrary #BooksNotCuts",  # a campaign's tags, in a story about it
])
def test_cruft_looking_content_survives(line: str) -> None:
    assert line in kept_lines(line)


def test_glued_byline_uses_known_source_name() -> None:
    lines = kept_lines("Kyiv HeraldJohn Carter\nThe Kyiv HeraldJohn Carter", source="Kyiv Herald")
    assert lines == [BODY, BODY]
    # The outlet's own name on a line (logo alt text) goes too, other outlets stay.
    assert kept_lines("Kyiv Herald", source="Kyiv Herald") == [BODY, BODY]
    assert "Kyiv Herald" in kept_lines("Kyiv Herald", source="Other Paper")


def test_glued_caption_after_title_is_dropped_with_the_title_repeat() -> None:
    title = "Leaders meet in Paris"
    cleaned = clean(f"{title} Photo: Leaders at the summit (Getty Images)\n{BODY}", title=title)
    assert cleaned == Cleaned(title, BODY, 1, [])


def test_trailing_teaser_of_another_article_is_removed() -> None:
    teaser = ("‘There will still be war’ — soldiers on the ceasefire proposal\n"
              "The “ball is in their court,” the minister said after talks in Riyadh ended "
              "with an agreement over a ceasefire proposal…")
    assert clean(f"{BODY}\nSecond paragraph.\n{teaser}\nComments").text == (
        f"{BODY}\nSecond paragraph.")


def test_truncated_paragraph_after_a_sentence_is_kept() -> None:
    ending = ("She said the council would revisit the plan next year, and that the bridge "
              "would stay open until...")
    text = f"{BODY}\nSecond paragraph.\nThe plan was approved.\n{ending}"
    assert clean(text).text == text


# --------------------------------------------------------------------------- learned


def test_learned_lines_are_removed_by_number_and_named_with_their_pattern() -> None:
    text = f"{BODY}\nVorn Kelda | Daily Zorvak\n{BODY}\nShare."
    cleaned = clean_article("A headline about the council", text, "Daily Zorvak", CFG,
                            {1: ("shape", 42)})
    assert cleaned.text == f"{BODY}\n{BODY}"
    assert cleaned.removed_lines == 2  # one learned, one by the rules
    assert cleaned.by_pattern == [("shape", 42, "Vorn Kelda | Daily Zorvak")]
    assert clean(text).text == f"{BODY}\nVorn Kelda | Daily Zorvak\n{BODY}"


# --------------------------------------------------------------------------- titles


def test_title_repeated_at_top_of_text_is_removed() -> None:
    cleaned = clean(f"Council Approves Budget.\n{BODY}", title="Council approves budget")
    assert cleaned.text == BODY and cleaned.removed_lines == 1


@pytest.mark.parametrize("cruft_title", [
    "", "Updated: November 11, 2011 20: 09 IST", "12 January 2010 @ 09: 29 pm", "ua en ru",
    "Home » World » Europe", "Menu",
])
def test_cruft_title_is_replaced_by_first_content_line(cruft_title: str) -> None:
    text = f"Sign in\n15 March 2024\nCouncil approves budget\n{BODY}"
    cleaned = clean(text, title=cruft_title)
    assert cleaned.title == "Council approves budget"
    assert cleaned.text == f"15 March 2024\n{BODY}"  # a date inside the text is content
    assert cleaned.flags == ["title_from_text"]


def test_a_lone_paragraph_taken_as_the_missing_title_stays_in_the_text() -> None:
    """Without a title, the first line moves to the title; a paragraph that is the
    only line is copied there, or the record would have no text left."""
    assert clean(BODY, title="") == Cleaned(BODY, BODY, 0, ["title_from_text"])
    second = "The vote was 31 to 12, with two abstentions from the opposition benches."
    cleaned = clean(f"{BODY}\n{second}", title="")
    assert (cleaned.title, cleaned.text) == (BODY, second)
    assert clean("Council approves budget", title="") == Cleaned(
        "Council approves budget", "", 0, ["title_from_text"])


def test_headline_only_record_keeps_its_title() -> None:
    assert clean("", title="Council approves budget") == Cleaned(
        "Council approves budget", "", 0, [])


def test_record_made_only_of_cruft_comes_back_empty() -> None:
    # The pipeline rejects it with a reason; a cruft title is not kept for lack of better.
    assert clean("Share.\nLeave A Reply", title="ua en ru") == Cleaned("", "", 2, [])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(
    [BODY, "Share.", "Comments", "ua en ru", "Author: Jane Roe", "Council approves budget",
     "15 March 2024", "Teilen", "Jetzt teilen:", "Über die Brücke »", "\u00a0", ""]),
    max_size=8), st.sampled_from(["", "Council approves budget", "Menu"]))
def test_output_lines_come_from_input_lines(lines: list[str], title: str) -> None:
    cleaned = clean("\n".join(lines), title=title)
    source_lines = set(normalise_lines("\n".join([title, *lines])))
    assert {cleaned.title, *cleaned.text.split("\n")} - {""} <= source_lines
    if BODY in lines:
        assert BODY in f"{cleaned.title}\n{cleaned.text}"


# --------------------------------------------------------------------------- seeds


def test_seed_000_drops_switcher_title_caption_and_byline() -> None:
    cleaned, lines = seed_lines("000")
    assert cleaned.title == (
        "European and Canadian leaders to meet next week to discuss Ukraine – Bloomberg")
    assert cleaned.flags == ["title_from_text"]
    assert "ua en ru" not in lines
    assert not any("Photo:" in line or "Author:" in line for line in lines)
    assert "Coalition of the willing" in lines


def test_seed_001_drops_teaser_byline_and_comments() -> None:
    cleaned, lines = seed_lines("001")
    assert "The Kyiv IndependentChris York" not in lines and "Comments" not in lines
    assert not any("There will still be war" in line or "ball is in" in line for line in lines)
    assert cleaned.text.endswith("seeing the Ukrainian Armed Forces as the best possible "
                                 "security guarantee.")


def test_seed_004_drops_wordpress_footer() -> None:
    _, lines = seed_lines("004")
    assert not {"Share.", "Leave A Reply", "Exit mobile version"} & lines


@pytest.mark.parametrize("seed", sorted(path.name[:3] for path in SEEDS.glob("*.txt")))
def test_seed_article_sentences_survive(seed: str) -> None:
    title, text = read_seed(seed)
    cleaned, _ = seed_lines(seed)
    output = f"{cleaned.title}\n{cleaned.text}"
    cruft_markers = ("ua en ru", "Photo:", "Author:", "IndependentChris", "There will still be",
                     "ball is in", "Comments", "Share.", "Leave A Reply", "Exit mobile")
    content = [line.strip() for line in f"{title}\n{text}".split("\n")
               if line.strip() and not any(m in line for m in cruft_markers)]
    assert content and all(line in output for line in content)


@pytest.mark.parametrize(("title", "source", "url", "kept"), [
    ("Zorv council opens the bridge - Daily Kelvo", "Daily Kelvo", None,
     "Zorv council opens the bridge"),
    ("Daily Kelvo | Zorv council opens the bridge", "Daily Kelvo", None,
     "Zorv council opens the bridge"),
    # the source's name holds a separator, and a note in parentheses
    ("Zorv council opens - the bridge - Kelvo News - kelvo.example", "Kelvo News - kelvo.example",
     None, "Zorv council opens - the bridge"),
    ("Zorv council opens the bridge - Kelvo Post (blog)", "Kelvo Post \\(blog\\)", None,
     "Zorv council opens the bridge"),
    # no source: the site's label in the URL's host begins a short part
    ("Zorv council opens the bridge — KELVO Sport", None, "https://www.kelvo.co.uk/sport/1",
     "Zorv council opens the bridge"),
    ("Zorv council opens the bridge - Kelvo News", None, "https://news.kelvo.co.uk/x",
     "Zorv council opens the bridge"),  # "news" names no site
    ("Zorv council opens - Community plans", None, "https://news.com.au/x", None),
    ("Zorv council opens the bridge - kelvo rivals say the toll is too high for anyone", None,
     "https://kelvo.example/a", None),  # a long part is the headline's own
    ("Zorv council opens the bridge - Borlak Times", "Daily Kelvo", None, None),
    ("Daily Kelvo", "Daily Kelvo", None, None),  # nothing would be left
    ("X-ray of the Kelvo bridge", "Kelvo", None, None),  # a hyphen is no separator
    ("Zorv council opens the bridge - Kelvo", None, "http://[kelvo.example", None),
])
def test_a_title_loses_the_part_that_names_its_site(title: str, source: str | None,
                                                    url: str | None, kept: str | None) -> None:
    cleaned = clean_article(title, BODY, source, CFG, url=url)
    assert cleaned.title == (kept or title)
    assert ("site_name_removed" in cleaned.flags) == (kept is not None)
    assert clean_article(title, BODY, source, CleanConfig(strip_site_from_title=False),
                         url=url).title == title
