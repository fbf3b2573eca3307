"""Clean stage: strip scraper boilerplate from plain-text article bodies.

Scraped article bodies arrive with the site's chrome flattened into them: language
switchers, share/comment widgets, breadcrumbs, bylines, tag lists, photo captions,
"read also" teasers and copyright footers.  Left in, these lines make unrelated
articles of one site look alike to the near-duplicate and clustering stages.

Everything here is a pure function of (record fields, learned boilerplate, config),
so it runs unchanged in a joblib worker or a Dask partition.  The guiding rule is that
content must survive: removing a real sentence is worse than leaving a footer.  Hence
cruft is matched only as *whole* lines (exact phrase sets on a normalised key, or
anchored regexes), never because a line merely contains a cruft word, and every rule
has a length ceiling so long paragraphs are never touched.
"""

from __future__ import annotations

import itertools
import re
import string
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

from dedup.algorithms.boilerplate import is_sentence, site_of
from dedup.algorithms.lexicon import DATE_WORDS
from dedup.records import Record
from dedup.settings import Range, setting


@dataclass(frozen=True, slots=True)
class CleanConfig:
    """Boilerplate removal: generic line rules, and boilerplate learned from the dump itself."""

    boilerplate_min_stories: int = setting(3, Range(2, None), doc="""
        Learned boilerplate (dedup/algorithms/boilerplate.py): a line, its shape, label or frame
        must be in at least this many unrelated stories (articles that are not copies of each
        other). Lower learns the furniture of small dumps and small sites sooner, but lets a
        sentence that a few reports happen to share be taken for furniture (and a small
        section's subheading or data line that two of its stories share: measured, 2 lost
        "Hintergrund", "Scorers: NAME 63" and "Attendance: 4,312" lines on sites' small
        sections in another language).""")
    boilerplate_min_share: float = setting(0.2, Range(0.0, 1.0, above=True), doc="""
        ... and in at least this share of the articles of a site (in one language) to be removed
        from that site's pages. Lower catches furniture shown on only some pages (a section's
        footer, a caption credit); higher protects lines a site repeats in a few of its stories
        ("He was 75.").""")
    boilerplate_site_min_share: float = setting(0.05, Range(0.0, 1.0, above=True), doc="""
        ... or this share, for a line that names its own site and is not a sentence: a call
        to follow it, a byline with its name, a teaser of its pages ("Also on SITE: A
        Headline"), each varying with the author or the headline, so that each form is on
        fewer pages. Lower catches rarer such lines; higher protects a data line naming
        the site. A sentence naming it ("X did not respond to a SITE request for
        comment.") needs the share of any line.""")
    boilerplate_loose_min_share: float = setting(0.3, Range(0.0, 1.0, above=True), doc="""
        ... or this share, for a key that joins lines of different words: a label before
        a sentence that names someone or something its page does not ("MORE: <a headline
        of another story>.", a teaser of the site's other pages), and a line whose
        capitalised words, one group of them, are made one name ("Written by <Name>"). A
        format of a site's own text names something new on some of its pages too
        ("Background: ...", "Editor's note: ..."), and title-case headings of one form
        look alike once their words are one name ("What the <Ruling Means>"), so that
        this is above the share of any line. Lower catches such teasers and bylines on
        fewer of a site's pages; higher protects such formats and headings on more.""")
    boilerplate_min_sites: int = setting(3, Range(1, None), doc="""
        ... or in fewer (down to one) of a site's pages when this many sites show it on,
        together or most of them, that share of their pages and it is not a sentence (a
        quote that reports of one event share): furniture that small sites (or a site's
        small sections in other languages) show on their few pages. Lower catches it on
        fewer sites, but lets a line that a few sites' tiny sections share by chance go
        too (measured, 3 against 5, on sets of sites with one- or two-page sections in
        other languages: furniture removed 0.886 -> 0.895, and a source's own "Kaynak:
        AA" line went too).""")
    boilerplate_max_line_chars: int = setting(200, Range(1, 10_000), doc="""
        Lines longer than this are never learned: real paragraphs are long, furniture short.
        Higher lets long repeated disclaimers be learned too, and costs time.""")
    max_cruft_line_chars: int = setting(300, Range(1, None), doc="""
        Lines longer than this are never matched by the phrase/regex rules. Higher catches long
        "Read also:" teasers and captions; lower is faster and safer.""")
    max_caption_chars: int = setting(160, Range(1, None), doc="""
        Photo captions ("Photo: ...") longer than this are kept: scrapers sometimes glue the
        credit to the first paragraph ("Photo: Jane DoeIn light of ..."). Higher catches long
        agency captions.""")
    max_breadcrumb_segment_words: int = setting(4, Range(1, None), doc="""
        Each breadcrumb segment ("World" in "Home » World » Europe") has at most this many
        words. Higher catches long section names, but also short phrases that happen to be
        separated by a "»" or ">".""")
    strip_site_from_title: bool = setting(True, doc="""
        Drop a title's first or last segment, set off by a dash, bar or similar ("Title -
        Site", "Site | Title", as feeds and page titles have), when it names the article's
        site: its source, or its URL's host ("BBC News" on bbc.co.uk). Every headline of a
        site would otherwise share those words, which joins the site's unrelated headlines
        into events and stories (a feed of "Title - Source" headlines lost 0.03 to 0.045
        story B-cubed F1 to them). Off keeps titles as given.""")
    max_byline_chars: int = setting(60, Range(1, None), doc="""
        A byline (prefixed or glued "OutletName Person Name") is at most this long. Higher
        catches long multi-author bylines, but also short all-capitalised subheadings.""")
    title_repeat_scan_lines: int = setting(3, Range(0, None), doc="""
        How many leading text lines are compared with the title to drop its repeat. Higher also
        catches a title repeated below a kicker; lower never touches a paragraph that
        coincidentally equals the title further down.""")
    teaser_max_headline_chars: int = setting(160, Range(1, None), doc="""
        A teaser of another article (headline line + summary ending in an ellipsis) is
        recognised only if the headline is at most this long ...""")
    teaser_min_summary_chars: int = setting(60, Range(0, None), doc="""
        ... and the summary at least this long. Lower catches short teasers, but also a real
        closing quote that trails off ("...").""")
    min_sentence_words: int = setting(8, Range(1, None), doc="""
        When the rules would leave nothing of a record, it is still kept (uncleaned, flagged
        "cleaning_skipped") if a line has at least this many words: a long line that looks like
        cruft is more likely a real article. Lower keeps more such records, higher rejects more
        of them as "only_boilerplate".""")


@dataclass(slots=True)
class Cleaned:
    """Result of :func:`clean_article`."""

    title: str
    text: str
    removed_lines: int
    # "title_from_text": the title was missing or cruft and was taken from the text.
    flags: list[str]
    # The lines learned boilerplate removed, with the pattern that did: (kind, key, line).
    by_pattern: list[tuple[str, int, str]] = field(default_factory=list)


# ---------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------

# Line separators other than "\n" that scrapers leave behind.
_NEWLINE_CHARS = "\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
# Invisible characters that only break exact matching.  ZWJ/ZWNJ (U+200C/D) are kept:
# they change spelling in Persian and Indic scripts and form emoji sequences.
_INVISIBLE_CHARS = "\u00ad\u200b\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff"
# Non-breaking and typographic spaces, tabs: all become a plain space.
_SPACE_CHARS = (
    "\t\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u202f\u205f\u3000"
)
_REPLACEMENTS = {**dict.fromkeys(_NEWLINE_CHARS, "\n"), **dict.fromkeys(_SPACE_CHARS, " "),
                 **dict.fromkeys(_INVISIBLE_CHARS, "")}
_NEEDS_REPLACING = re.compile(f"[{_NEWLINE_CHARS}{_SPACE_CHARS}{_INVISIBLE_CHARS}]")


def normalise_lines(text: str) -> list[str]:
    """NFC, unified newlines, no invisible characters, single spaces, no empty lines.

    Every rule and the learned boilerplate work on this form, so the same line scraped with
    a NBSP on one page and a plain space on another is recognised as the same line.
    """
    if not text:
        return []
    text = unicodedata.normalize("NFC", text)
    # One C-level replace per kind of character found: str.translate looked each
    # character of the text up in a dict, 90 us for a 1.5 KB article.
    for char in set(_NEEDS_REPLACING.findall(text)):
        text = text.replace(char, _REPLACEMENTS[char])
    while "  " in text:  # each pass halves a run of spaces: faster than a regex
        text = text.replace("  ", " ")
    return [stripped for line in text.split("\n") if (stripped := line.strip())]


# Punctuation, digits and symbols trimmed from both ends of a line before phrase lookup.
_EDGE_CHARS = string.punctuation + string.digits + string.whitespace + "…«»„“”‘’‚–—•·©®™¡¿|"


def phrase_key(line: str) -> str:
    """Case-folded line without leading/trailing punctuation or digits.

    ``Share.``, ``Comments (3)`` and ``- Menu -`` all become the key of their phrase, so
    the phrase sets stay small and still match whole lines only.
    """
    key = line.casefold().strip(_EDGE_CHARS)
    # casefold() turns Turkish "İ" into "i" + combining dot; the phrase sets spell "i".
    return key.replace("\u0307", "") if "\u0307" in key else key


# ---------------------------------------------------------------------------------
# Phrase sets (matched against ``phrase_key`` of a whole line)
# ---------------------------------------------------------------------------------

# Each phrase set below lists one language per line: en, de, ru, uk, es, fr, it, pt,
# pl, tr.  Phrases are compared with ``phrase_key`` of the whole line.

# Share / social widgets.  "Jetzt teilen:" is deliberately absent: it heads real
# share-count boxes in some German articles.
SHARE_PHRASES: frozenset[str] = frozenset({
    "share", "share this", "share this article", "share this story", "share on facebook",
    "share on twitter", "tweet", "print", "email", "e-mail",
    "teilen", "artikel teilen", "diesen artikel teilen", "drucken",
    "поделиться", "поделиться в facebook", "печать",
    "поділитися", "поширити", "друк",
    "compartir", "compartir en facebook", "compartir en twitter", "imprimir",
    "partager", "partager sur facebook", "partager sur twitter", "imprimer",
    "condividi", "condividi su facebook", "stampa",
    "compartilhar", "partilhar", "compartilhe",
    "udostępnij", "podziel się", "drukuj",
    "paylaş", "yazdır",
})

# Comment / reply widgets (WordPress "Leave a Reply" / "Cancel reply" in each language).
COMMENT_PHRASES: frozenset[str] = frozenset({
    "comments", "comment", "no comments", "leave a reply", "leave a comment",
    "cancel reply", "post a comment", "add a comment", "view comments", "show comments",
    "kommentare", "kommentar", "kommentar schreiben", "kommentieren",
    "hinterlasse eine antwort", "antworten abbrechen", "antwort abbrechen",
    "комментарии", "комментарий", "оставить комментарий", "добавить комментарий",
    "оставить ответ", "отменить ответ",
    "коментарі", "коментар", "залишити коментар", "додати коментар",
    "залишити відповідь", "скасувати відповідь",
    "comentarios", "comentario", "deja un comentario", "dejar un comentario",
    "deja una respuesta", "cancelar respuesta", "cancelar la respuesta",
    "commentaires", "commentaire", "laisser un commentaire", "laisser une réponse",
    "annuler la réponse",
    "commenti", "commento", "lascia un commento", "lascia una risposta",
    "annulla risposta",
    "comentários", "comentário", "deixe um comentário", "deixe uma resposta",
    "cancelar resposta",
    "komentarze", "komentarz", "zostaw komentarz", "dodaj komentarz", "zostaw odpowiedź",
    "anuluj odpowiedź", "anuluj pisanie odpowiedzi",
    "yorumlar", "yorum", "yorum yap", "bir yanıt yazın", "cevap bırakın",
    "yanıtı iptal et", "cevabı iptal et",
})

# Headings of lists of other articles.  Bare "Read also" labels are not here: see
# ``_READ_ALSO_LABELS``.
RELATED_PHRASES: frozenset[str] = frozenset({
    "related posts", "related articles", "related stories", "related news", "related",
    "you may also like", "you might also like", "recommended", "more stories",
    "most read", "most popular", "trending", "latest news",
    "mehr zum thema", "das könnte sie auch interessieren", "auch interessant",
    "ähnliche beiträge", "verwandte artikel", "weitere artikel", "meistgelesen",
    "похожие новости", "похожие статьи", "похожие записи", "материалы по теме", "по теме",
    "вам может быть интересно", "популярное", "новости партнеров",
    "схожі новини", "схожі статті", "схожі записи", "по темі", "вас може зацікавити",
    "вам може бути цікаво", "популярне", "новини партнерів",
    "te puede interesar", "también te puede interesar", "noticias relacionadas",
    "artículos relacionados", "entradas relacionadas", "lo más leído", "más noticias",
    "articles similaires", "articles connexes", "sur le même sujet",
    "vous aimerez aussi", "vous pourriez aimer", "les plus lus",
    "articoli correlati", "post correlati", "potrebbe interessarti",
    "ti potrebbe interessare", "i più letti",
    "posts relacionados", "artigos relacionados", "notícias relacionadas",
    "você pode gostar", "mais lidas",
    "powiązane artykuły", "podobne artykuły", "podobne wpisy", "powiązane wpisy",
    "polecane", "polecamy", "najczęściej czytane",
    "ilgili haberler", "ilgili yazılar", "benzer haberler", "benzer yazılar",
    "bunlar da ilginizi çekebilir", "ilginizi çekebilir", "en çok okunanlar",
})

# Site navigation, search and account chrome (incl. WordPress "Exit mobile version").
NAVIGATION_PHRASES: frozenset[str] = frozenset({
    "menu", "main menu", "search", "sign in", "log in", "login", "log out", "sign up",
    "register", "subscribe", "subscribe now", "newsletter", "skip to content",
    "skip to main content", "toggle navigation", "back to top", "exit mobile version",
    "home",
    "menü", "suche", "anmelden", "abonnieren", "registrieren", "startseite",
    "zum inhalt springen", "nach oben", "mobile version verlassen",
    "меню", "поиск", "войти", "вход", "подписаться", "главная", "регистрация",
    "выйти из мобильной версии",
    "пошук", "увійти", "вхід", "підписатися", "головна", "реєстрація",
    "вийти з мобільної версії",
    "menú", "buscar", "búsqueda", "iniciar sesión", "acceder", "suscríbete",
    "suscribirse", "inicio", "salir de la versión móvil",
    "rechercher", "recherche", "se connecter", "connexion", "s'abonner", "abonnez-vous",
    "accueil", "quitter la version mobile",
    "cerca", "ricerca", "accedi", "iscriviti", "abbonati", "esci dalla versione mobile",
    "pesquisar", "pesquisa", "entrar", "iniciar sessão", "assine", "assinar",
    "inscreva-se", "início", "sair da versão móvel", "sair da versão mobile",
    "szukaj", "wyszukaj", "zaloguj się", "zaloguj", "subskrybuj", "zapisz się",
    "strona główna", "wyjdź z wersji mobilnej",
    "ara", "arama", "giriş yap", "oturum aç", "abone ol", "ana sayfa",
    "mobil sürümden çık",
})

# Advertisement placeholders.
AD_PHRASES: frozenset[str] = frozenset({
    "advertisement", "advertising", "sponsored", "sponsored content", "ad",
    "anzeige", "werbung",
    "реклама",
    "publicidad", "anuncio",
    "publicité",
    "pubblicità",
    "publicidade",
    "reklama",
    "reklam",
})

# All whole-line phrase sets; a line whose key is in here is cruft.
CRUFT_PHRASES: frozenset[str] = (
    SHARE_PHRASES | COMMENT_PHRASES | RELATED_PHRASES | NAVIGATION_PHRASES | AD_PHRASES
)

# No phrase above is longer than this, so longer lines skip the lookup.
_MAX_PHRASE_LINE_CHARS = 64

# Codes a language switcher shows ("ua en ru", "es | en").  A curated list rather
# than all of ISO 639-1, so that short word pairs ("to be", "no no") never match.
LANGUAGE_CODES: frozenset[str] = frozenset({
    "en", "ru", "ua", "uk", "de", "fr", "es", "it", "pl", "pt", "tr", "nl", "ar", "zh",
    "ja", "ko", "cs", "cz", "sk", "hu", "ro", "bg", "sr", "hr", "el", "gr", "he", "fa",
    "kk", "kz", "be", "by", "lt", "lv", "et", "fi", "sv", "se", "da", "ka", "az", "hy",
    "eng", "rus", "ukr", "deu", "укр", "рус", "ру", "уа",
})

# Lower-case name particles allowed inside a person's name in a byline.
NAME_PARTICLES: frozenset[str] = frozenset({
    "de", "da", "di", "del", "della", "dos", "das", "do", "du", "van", "von", "der",
    "den", "ten", "ter", "le", "la", "bin", "ibn", "al", "el", "y", "e",
})

# Words joining several authors in one byline.
NAME_CONJUNCTIONS: frozenset[str] = frozenset({
    "and", "&", "und", "и", "і", "та", "y", "et", "e", "i", "ve",
})

# ---------------------------------------------------------------------------------
# Anchored line regexes, grouped by rule class
# ---------------------------------------------------------------------------------

_CODES = "|".join(sorted(LANGUAGE_CODES, key=len, reverse=True))
# Language switcher: only language codes, at least two, separated by space/pipe/slash.
_LANGUAGE_SWITCHER = re.compile(
    rf"^(?:{_CODES})(?:\s*[|/·•,]\s*|\s+)(?:(?:{_CODES})(?:\s*[|/·•,]\s*|\s+))*(?:{_CODES})$",
    re.IGNORECASE,
)

# Breadcrumb separators; "|" and "/" are left out: dates and credits use them.
_BREADCRUMB_SEPARATOR = re.compile(r"\s+[»›>→]\s+")

# Labels of tag lists: "Tags: Trump, Ukraine".
_TAG_LABELS = (
    r"tags?|теги|тэги|мітки|метки|ключевые слова|ключові слова|schlagwörter|schlagworte"
    r"|stichwörter|themen|etiquetas|tagi|słowa kluczowe|étiquettes|mots[- ]clés|etichette"
    r"|parole chiave|marcadores|palavras-chave|etiketler|anahtar kelimeler"
)
# Labels of "Read also: <headline>" teasers.  Only matched with a headline after the
# colon: a bare "Read also:" is left alone, like the headline line that follows it.
_READ_ALSO_LABELS = (
    r"read also|read more|also read|see also|related|lesen sie auch|lies auch|mehr dazu"
    r"|auch lesenswert|lea también|lee también|ver también|leer más|читайте также"
    r"|читайте тоже|смотрите также|читать также|читайте також|дивіться також"
    r"|czytaj także|czytaj też|czytaj również|zobacz także|zobacz też|lire aussi"
    r"|à lire aussi|a lire aussi|voir aussi|leggi anche|vedi anche|leia também|leia mais"
    r"|veja também|ayrıca okuyun|ayrıca bakınız|bunu da okuyun|ilginizi çekebilir"
)
# Labels starting a photo caption: "Photo: ...", "Фото: ...", "Foto: ... (dpa)".
_CAPTION_LABELS = (
    r"photos?|foto|fotos|фото|світлина|zdjęcie|zdj\.|fot\.|bild|image|imagen|immagine"
    r"|imagem|fotoğraf|görsel|picture|pic|illustration|иллюстрация|ілюстрація"
)
# Calls to follow/subscribe ("Follow us on Twitter and Facebook",
# "Подписывайтесь на наш Telegram-канал"); the rest of the line is short.
_FOLLOW_US_STARTS = (
    r"follow us|subscribe to|sign up for|join us on|folgen sie uns|folge uns"
    r"|abonnieren sie|síguenos|suscríbete a|suscríbete al|suivez-nous|abonnez-vous à"
    r"|seguici|iscriviti a|iscriviti al|siga-nos|inscreva-se|obserwuj nas|subskrybuj nas"
    r"|abone olun|подписывайтесь|подпишитесь|следите за нами"
    r"|підписуйтесь|підпишіться|стежте за нами|слідкуйте за нами|bizi .{0,60}takip edin"
)
# Copyright footers starting with the sign ("© 2025 X", "Copyright © 2025 X").
_COPYRIGHT_STARTS = r"©|\(c\)\s|&copy;|copyright\s*(?:©|\(c\)|\d)"
# One anchored regex for the label-and-colon classes above (one C-level match per line
# instead of three), tried only on lines with a colon: their long case-blind
# alternation was the costliest check of a typical line.
_LABELLED_CRUFT = re.compile(
    rf"^(?:(?:{_TAG_LABELS})\s*:\s*(?P<tags>\S.*)"
    rf"|(?:{_READ_ALSO_LABELS})\s*[:：]\s*(?P<teaser>\S)"
    rf"|(?P<caption>(?:{_CAPTION_LABELS})(?:\s+credit)?\s*:\s*\S))",
    re.IGNORECASE,
)
# The label-started classes without a colon: follow-us calls and copyright signs.
_CALL_OR_COPYRIGHT = re.compile(
    rf"^(?:(?:{_FOLLOW_US_STARTS})\b.{{0,80}}$|{_COPYRIGHT_STARTS})", re.IGNORECASE
)

# A caption glued after other text on the same line, recognised only with its credit
# in parentheses at the very end ("... Photo: Leaders in Paris (Getty Images)").
_GLUED_CAPTION = re.compile(
    r"\s+(?:Photo|PHOTO|Foto|FOTO|Фото|ФОТО|Bild|Zdjęcie|Fotoğraf)\s*:\s[^()]{1,250}"
    r"\([^()]{2,60}\)$"
)

# Copyright footers ending in "all rights reserved", optionally with "." or "!".
_RIGHTS_RESERVED = (
    "all rights reserved", "alle rechte vorbehalten", "todos los derechos reservados",
    "все права защищены", "усі права захищені", "всі права захищені", "tous droits réservés",
    "tutti i diritti riservati", "todos os direitos reservados", "wszelkie prawa zastrzeżone",
    "усі права захищено", "всі права захищено", "tüm hakları saklıdır", "riproduzione riservata",
)
# Matched on the line's reversed tail: an anchored match fails at the first character
# for nearly every line, where searching the tail tried every position.
_RIGHTS_RESERVED_REVERSED = re.compile(
    r"[.!]?(?:" + "|".join(re.escape(phrase[::-1]) for phrase in _RIGHTS_RESERVED) + ")",
    re.IGNORECASE,
)
_RIGHTS_RESERVED_TAIL = 40

# Bylines with a label and a colon: "Author: X", "Автор: X", "Yazar: X".
_LABELLED_BYLINE = re.compile(
    r"^(?:authors?|written by|autor|autorin|autorzy|autora|autore|auteur|autores|text|texto"
    r"|автор|авторка|автори|авторы|текст|yazar|yazan|muhabir)\s*:\s*(?P<name>.+)$",
    re.IGNORECASE,
)
# Bylines with a preposition: "By X", "Von X", "Por X", "Par X", "Di X" -- capitalised
# as a byline is, so "by" inside running text never starts one.
_PREPOSITION_BYLINE = re.compile(r"^(?:By|BY|Von|VON|Por|POR|Par|PAR|Di|DI|Przez)\s+(?P<name>.+)$")

# Structural limits of the line shapes below (not tuning knobs: a language switcher
# of more than ~10 codes or a date stamp of more than ~80 characters does not occur).
_MAX_SWITCHER_CHARS = 40
_MAX_BREADCRUMB_CHARS = 150
_MAX_BREADCRUMB_SEGMENT_CHARS = 40
_MAX_DATE_LINE_CHARS = 80
# A glued byline line: outlet words plus the glued first name, particles and surnames.
_MAX_GLUED_BYLINE_WORDS = 7
# A teaser headline has a headline's word count; a teaser block leaves this many
# lines of article before it.
_MIN_HEADLINE_WORDS = 3
_MAX_HEADLINE_WORDS = 25
_MIN_LINES_BEFORE_TEASER = 2

# Pieces for the remaining checks.
_LETTER_WORD = re.compile(r"[^\W\d_]+")
_DIGIT = re.compile(r"\d")
_HEADLINE_END = re.compile(r"[.!?:;,…]$")
_TRUNCATED_END = re.compile(r"(?:[^\W_]|[\"”’»)])(?:…|\.\.\.)$")
_TRUNCATED_END_CHARS = 4  # a letter or closing mark, then "..."


# ---------------------------------------------------------------------------------
# Line rules
# ---------------------------------------------------------------------------------


def is_language_switcher(line: str) -> bool:
    """A line made only of language codes (``ua en ru``)."""
    return len(line) <= _MAX_SWITCHER_CHARS and _LANGUAGE_SWITCHER.match(line) is not None


def is_breadcrumb(line: str, cfg: CleanConfig) -> bool:
    """``Home » World » Europe``: two or more short, label-like segments.

    Segments must be non-empty, so German quotes (``»Wir schaffen das«``) never match,
    and must not end like a sentence.
    """
    if len(line) > _MAX_BREADCRUMB_CHARS or _BREADCRUMB_SEPARATOR.search(line) is None:
        return False
    return all(
        segment and len(segment) <= _MAX_BREADCRUMB_SEGMENT_CHARS
        and len(segment.split()) <= cfg.max_breadcrumb_segment_words
        and not _HEADLINE_END.search(segment)
        for segment in _BREADCRUMB_SEPARATOR.split(line)
    )


def ends_rights_reserved(line: str) -> bool:
    """``Metro Post. All rights reserved.`` / ``... Alle Rechte vorbehalten``."""
    return _RIGHTS_RESERVED_REVERSED.match(line[: -_RIGHTS_RESERVED_TAIL - 1 : -1]) is not None


def is_date_line(line: str) -> bool:
    """A date/time stamp such as ``Updated: November 11, 2011 20: 09 IST``."""
    if len(line) > _MAX_DATE_LINE_CHARS or not _DIGIT.search(line):
        return False
    return all(word in DATE_WORDS for word in _LETTER_WORD.findall(line.casefold()))


def _is_name_token(token: str) -> bool:
    """A capitalised word of a person's name (``María``, ``O'Neil``, ``J.``)."""
    head = token[0]
    return head.isupper() and all(ch.isalpha() or ch in ".-'’" for ch in token)


def looks_like_person_name(name: str, min_tokens: int = 1) -> bool:
    """``Chris York``, ``María López``, ``Anna Schmidt und Ivan Sokolov``.

    Every word is capitalised (or a name particle / author conjunction), so a sentence
    (``Von Ingrid Zeilinger schließen``) or a lower-case initial (``Autor: j``) is not a
    name.  Commas are refused: ``By X, Agency`` lines are too varied to call.  Callers
    bound the length (``max_byline_chars``).
    """
    name_tokens = 0
    for token in name.split():
        if _is_name_token(token):
            name_tokens += 1
        elif token not in NAME_PARTICLES and token not in NAME_CONJUNCTIONS:
            return False
    return name_tokens >= min_tokens


def _glued_join(token: str) -> int:
    """Index where a lower-case run of >= 3 letters meets an upper-case letter inside
    ``token`` (``IndependentChris`` -> 11), or -1."""
    for i in range(3, len(token)):
        if token[i].isupper() and token[i - 3:i].isalpha() and token[i - 3:i].islower():
            return i
    return -1


def is_glued_byline(line: str, source: str | None, cfg: CleanConfig) -> bool:
    """Outlet name glued to the author's name: ``The Kyiv IndependentChris York``.

    With a known ``source`` the line must be that outlet's name followed by a person's
    name.  Otherwise it must be a short line of capitalised words with exactly one
    lower->Upper join, the part after the join being a name of 2-3 capitalised words
    (particles such as ``van der`` aside).  Acronyms end
    company names (``BellWether Advisors LLP``), never person names.
    """
    if len(line) > cfg.max_byline_chars:
        return False
    if source and _is_source_then_name(line, source):
        return True
    tokens = line.split()
    if not 2 <= len(tokens) <= _MAX_GLUED_BYLINE_WORDS or not all(
        _is_name_token(token) or token in NAME_PARTICLES for token in tokens
    ):
        return False
    joins = [(i, at) for i, token in enumerate(tokens) if (at := _glued_join(token)) >= 0]
    if len(joins) != 1:
        return False
    index, at = joins[0]
    name = [t for t in [tokens[index][at:], *tokens[index + 1:]] if t not in NAME_PARTICLES]
    return 2 <= len(name) <= 3 and not any(t.isupper() for t in name)


def _is_source_then_name(line: str, source: str) -> bool:
    """``Kyiv HeraldJohn Carter`` for source ``Kyiv Herald`` (an optional leading
    ``The`` and separator allowed)."""
    if line[:4].casefold() == "the " and source[:4].casefold() != "the ":
        line = line[4:]
    if line[: len(source)].casefold() != source.casefold():
        return False
    rest = line[len(source):].lstrip(" |-–—·:")
    return looks_like_person_name(rest, min_tokens=2)


def is_byline(line: str, source: str | None, cfg: CleanConfig) -> bool:
    """``Author: X`` / ``Автор: X`` / ``By X`` / ``Von X`` / glued outlet+author."""
    if len(line) > cfg.max_byline_chars:
        return False
    labelled = _LABELLED_BYLINE.match(line)
    if labelled is not None:
        return looks_like_person_name(labelled["name"])
    with_preposition = _PREPOSITION_BYLINE.match(line)
    if with_preposition is not None:
        return looks_like_person_name(with_preposition["name"], min_tokens=2)
    return is_glued_byline(line, source, cfg)


def has_colon(line: str) -> bool:
    """Whether a line holds a colon (ASCII or full-width), as every labelled cruft line does."""
    return ":" in line or "：" in line


def is_cruft_line(line: str, source: str | None, cfg: CleanConfig) -> bool:
    """Whole-line cruft by phrase set or anchored regex; long lines are never cruft.

    Checks are ordered and gated by length so that a typical paragraph costs two regex
    calls: this runs on every line of millions of articles.  A short line's answer is
    remembered: a site's furniture comes back on page after page.
    """
    if len(line) > cfg.max_cruft_line_chars:
        return False
    answers = _ShortLineMemo.of(cfg).answers
    found = answers.get((line, source))
    return _remembered(answers, line, source, cfg) if found is None else found


def _remembered(answers: dict[tuple[str, str | None], bool], line: str,
                source: str | None, cfg: CleanConfig) -> bool:
    """The rules' answer for a short line not in ``answers`` yet, now remembered."""
    if len(answers) >= _MEMO_LINES:
        answers.clear()
    found = answers[line, source] = _is_short_cruft_line(line, source, cfg)
    return found


# Short lines whose answer is remembered per process (furniture comes back page after
# page; a dict keyed by the line, not functools.lru_cache, whose key would hash the
# whole config at every call).
_MEMO_LINES = 1 << 16


@dataclass(slots=True)
class _ShortLineMemo:
    """:func:`is_cruft_line`'s answers for one configuration."""

    cfg: CleanConfig
    answers: dict[tuple[str, str | None], bool]

    @classmethod
    def of(cls, cfg: CleanConfig) -> _ShortLineMemo:
        """The memo of ``cfg``, a new one when the configuration changed."""
        global _MEMO
        if _MEMO.cfg is not cfg:
            _MEMO = cls(cfg, {})
        return _MEMO


_MEMO = _ShortLineMemo(CleanConfig(), {})


def _is_short_cruft_line(line: str, source: str | None, cfg: CleanConfig) -> bool:
    """:func:`is_cruft_line` of a line no longer than ``max_cruft_line_chars``."""
    length = len(line)
    if length <= _MAX_PHRASE_LINE_CHARS:
        key = phrase_key(line)
        if key in CRUFT_PHRASES or (source and key == phrase_key(source)):
            return True
    labelled = _LABELLED_CRUFT.match(line) if has_colon(line) else None
    if labelled is not None:
        if labelled["tags"] is not None:  # a list of tags is never a sentence ("Tag: Der
            return not is_sentence(labelled["tags"])  # erste Tag verlief ruhig.")
        if labelled["teaser"] is not None:  # a headline starts with a capital: "Related:
            return not labelled["teaser"].islower()  # police said two were arrested."
        return labelled["caption"] is None or length <= cfg.max_caption_chars
    if (_CALL_OR_COPYRIGHT.match(line) is not None and not _is_third_item(line)) or \
            ends_rights_reserved(line):
        return True
    if length <= cfg.max_byline_chars and (
        is_language_switcher(line) or is_byline(line, source, cfg)
    ):
        return True
    return is_breadcrumb(line, cfg)


def _is_third_item(line: str) -> bool:
    """"(c) a ban on imports;": a list's third item, where a copyright sign is followed by
    a year or a name."""
    return line[:3].casefold() == "(c)" and line[3:].lstrip()[:1].islower()


def is_cruft_title(title: str, cfg: CleanConfig) -> bool:
    """A title that says nothing about the article: a date stamp, a language switcher,
    a breadcrumb or a widget label.  Bylines and captions are not checked here, since
    a real headline may start with "By" or "Photo"."""
    return (
        phrase_key(title) in CRUFT_PHRASES
        or is_date_line(title)
        or is_language_switcher(title)
        or is_breadcrumb(title, cfg)
        or ends_rights_reserved(title)
    )


def strip_glued_caption(line: str) -> str:
    """Drop a photo caption glued to the end of a line (as scrapers do to the title)."""
    if not line.endswith(")"):
        return line
    match = _GLUED_CAPTION.search(line)
    return line[: match.start()] if match else line


# ---------------------------------------------------------------------------------
# Title and teasers
# ---------------------------------------------------------------------------------


def take_title_from_text(lines: list[str], cfg: CleanConfig) -> tuple[str, list[str], bool]:
    """The first line that is not a date stamp becomes the title, and whether it left
    the text: it moves, unless it is a paragraph and the text's only line -- a record of
    one paragraph and no title kept it as its title and had no text left."""
    for i, line in enumerate(lines):
        if not is_date_line(line):
            if _is_headline(line, cfg) or len(lines) > 1:
                return line, lines[:i] + lines[i + 1:], True
            return line, lines, False
    return "", lines, False


def drop_title_repeat(title: str, lines: list[str], cfg: CleanConfig) -> list[str]:
    """Remove copies of the title among the first lines of the text."""
    if not title:
        return lines
    head = lines[: cfg.title_repeat_scan_lines]
    # Equal once case and edge punctuation are ignored ("Title." repeats "title").
    title_key = phrase_key(title)
    kept_head = [line for line in head if phrase_key(line) != title_key]
    return kept_head + lines[cfg.title_repeat_scan_lines:]


def _is_headline(line: str, cfg: CleanConfig) -> bool:
    """Short, a few words, and not ending like a sentence."""
    return (
        len(line) <= cfg.teaser_max_headline_chars
        and _MIN_HEADLINE_WORDS <= len(line.split()) <= _MAX_HEADLINE_WORDS
        and not _HEADLINE_END.search(line)
    )


def _is_truncated_summary(line: str, cfg: CleanConfig) -> bool:
    """A paragraph cut off mid-sentence with an ellipsis glued to its last word."""
    # The ending is at most four characters long: searching only those spares a scan of
    # the whole paragraph, tried at every position.
    return (len(line) >= cfg.teaser_min_summary_chars
            and _TRUNCATED_END.search(line[-_TRUNCATED_END_CHARS:]) is not None)


def drop_trailing_teasers(lines: list[str], cfg: CleanConfig) -> list[str]:
    """Remove teasers of other articles at the end of the text.

    A teaser is a headline-like line followed by a summary cut off with an ellipsis.
    Only trailing pairs are taken (related-article blocks sit after the article), and
    some lines must remain, so a truncated article body is never emptied.
    """
    end = len(lines)
    while (
        end - 2 >= _MIN_LINES_BEFORE_TEASER
        and _is_truncated_summary(lines[end - 1], cfg)
        and _is_headline(lines[end - 2], cfg)
    ):
        end -= 2
    return lines[:end]


# ---------------------------------------------------------------------------------
# The stage
# ---------------------------------------------------------------------------------


def drop_cruft_lines(lines: list[str], source: str | None,
                     learned: Mapping[int, tuple[str, int]] | None,
                     cfg: CleanConfig) -> tuple[list[str], list[tuple[str, int, str]]]:
    """Lines that are neither rule cruft nor learned boilerplate, with glued captions cut
    off; and the learned patterns that removed lines, as (kind, key, line).

    ``learned`` maps the numbers of the lines that are learned boilerplate to the
    pattern, (kind, key), that they match (see ``dedup.algorithms.boilerplate``).
    """
    kept: list[str] = []
    by_pattern: list[tuple[str, int, str]] = []
    answers, longest = _ShortLineMemo.of(cfg).answers, cfg.max_cruft_line_chars
    for number, line in enumerate(lines):  # is_cruft_line, inlined: it runs on every line
        if len(line) <= longest:
            cruft = answers.get((line, source))
            if cruft or (cruft is None and _remembered(answers, line, source, cfg)):
                continue
        if learned and (match := learned.get(number)) is not None:
            by_pattern.append((*match, line))
            continue
        kept.append(strip_glued_caption(line))
    return kept, by_pattern


def clean_article(title: str, text: str, source: str | None, cfg: CleanConfig,
                  learned: Mapping[int, tuple[str, int]] | None = None,
                  normalised: bool = False, url: str | None = None) -> Cleaned:
    """Clean one article: drop cruft lines, fix the title, drop its repeat and teasers.

    ``learned``: the numbers of the text's normalised lines that are learned boilerplate
    (none when not given).  ``normalised``: the text is already its normalised lines
    joined by newlines (as the job's first pass stores it), so they are not made again.
    ``source`` and ``url`` name the article's site, which its title may carry.
    A record made only of cruft comes back with empty title and text; the caller rejects
    it with a reason rather than this stage guessing what to keep.
    """
    raw_lines = (text.split("\n") if text else []) if normalised else normalise_lines(text)
    lines, by_pattern = drop_cruft_lines(raw_lines, source, learned, cfg)
    flags: list[str] = []
    clean_title = strip_glued_caption(" ".join(normalise_lines(title)))
    if cfg.strip_site_from_title:
        without_site = strip_site_name(clean_title, source, url)
        if without_site != clean_title:
            clean_title = without_site
            flags.append("site_name_removed")
    moved = False
    if not clean_title or is_cruft_title(clean_title, cfg):
        clean_title, lines, moved = take_title_from_text(lines, cfg)
        if clean_title:
            flags.append("title_from_text")
    if moved or "title_from_text" not in flags:  # a copied paragraph stays in the text
        lines = drop_title_repeat(clean_title, lines, cfg)
    lines = drop_trailing_teasers(lines, cfg)
    removed = len(raw_lines) - len(lines) - moved
    return Cleaned(clean_title, "\n".join(lines), removed, flags, by_pattern)


def strip_site_name(title: str, source: str | None, url: str | None) -> str:
    """``title`` without a trailing (else leading) part that names its site, if what is
    left still has a word.  A part is set off by a dash, bar, middle dot, guillemet or
    double colon with spaces around; it names the site when its letters and digits are
    the source's (parenthesised notes left out: "MarketWatch (blog)"; the source's name
    may hold a separator itself), or, in a part of at most ``_SITE_NAME_WORDS`` words,
    begin with the site's label in the URL's host ("BBC News" on www.bbc.co.uk)."""
    cuts = list(_TITLE_SEPARATOR.finditer(title))
    if not cuts:  # most titles: nothing to look up
        return title
    name, host = _letters(_PARENTHESISED.sub(" ", source or "")), _host_label(url)
    tails = ((title[: cut.start()], title[cut.end():]) for cut in reversed(cuts))
    heads = ((title[cut.end():], title[: cut.start()]) for cut in cuts)
    for kept, part in itertools.chain(tails, heads):
        key = _letters(_PARENTHESISED.sub(" ", part))
        names_host = (len(host) >= 3 and key.startswith(host)
                      and len(part.split()) <= _SITE_NAME_WORDS)
        if key and (key == name or names_host) and _letters(kept):
            return kept.strip()
    return title


def _host_label(url: str | None) -> str:
    """The letters of the longest label of the URL's host but its last: the site's name
    in "www.bbc.co.uk", "feeds.reuters.com", "edition.cnn.com" ("" if none)."""
    labels = site_of(None, url).split(".")
    return _letters(max((label for label in labels[:-1] if label not in _HOST_PREFIXES),
                        key=len, default=""))


def _letters(text: str) -> str:
    """Case-folded letters and digits of ``text``."""
    return _NOT_LETTERS.sub("", text.casefold())


_TITLE_SEPARATOR = re.compile(r"\s+(?:[-–—|·»]|::)\s+")
_NOT_LETTERS = re.compile(r"[\W_]+")
_PARENTHESISED = re.compile(r"\\?\([^()]*\)")  # innermost: linear on "((((..."
# Host labels that name no site: subdomains of any site, and second-level domains of
# country codes (news.com.au, bbc.co.uk).
_HOST_PREFIXES = frozenset({"www", "m", "amp", "mobile", "edition", "news", "rss", "feeds",
                            "feed", "com", "co", "org", "net", "gov", "edu", "ac"})
_SITE_NAME_WORDS = 5


def has_sentence(record: Record, min_words: int) -> bool:
    """Whether a record the cleaner would empty still holds a sentence-length line.

    Such a record is kept uncleaned (flagged) rather than rejected: the cruft rules are
    tuned to short widget lines, so a long line they match is more likely a real article
    written like a caption or teaser, and losing an article is worse than keeping cruft.
    """
    lines = [record.title, *record.text.split("\n")]
    return any(len(line.split()) >= min_words for line in lines)
