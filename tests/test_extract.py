"""Tests for dedup.stages.extract: main text and metadata from raw HTML via trafilatura.

The pages are written here, small but shaped like real news pages (navigation, header,
related links, comments, footer), so the tests need no network and no evaluation data.
"""

from __future__ import annotations

import random
import re
import socket
import unicodedata
from html import unescape

import pytest

from dedup.records import Record
from dedup.stages.extract import (
    FLAG_ERROR,
    FLAG_NO_MAIN_TEXT,
    FLAG_TRUNCATED,
    ExtractConfig,
    Extracted,
    apply_extraction,
    extract_html,
)

CFG = ExtractConfig()

EN_BODY = [
    "The city council voted on Tuesday to expand the tram network by twelve kilometres, "
    "ending a debate that had divided the coalition for almost two years.",
    "Supporters argued that the new line would cut commuting times from the northern "
    "suburbs by half and take thousands of cars off the ring road every morning.",
    "Opponents warned that the construction budget of 480 million euros was unrealistic "
    "and that similar projects elsewhere had run far over their original estimates.",
    "Work on the first section is due to start next spring, with the complete line "
    "expected to open to passengers at the end of the decade.",
]
EN_CHROME = {
    "banner": "Subscribe to our newsletter",
    "nav": "Sports Weather Opinion Podcasts",
    "related_a": "Five things to do this weekend in the old town",
    "related_b": "Celebrity chef opens third restaurant on the waterfront",
    "comment": "Great article, I totally disagree with the mayor",
    "copyright": "Copyright 2024 Riverside Daily Media Group. All rights reserved.",
    "footer_link": "Privacy policy",
}

UK_BODY = [
    "Міська рада у вівторок ухвалила рішення розширити мережу трамвайних ліній на "
    "дванадцять кілометрів після двох років суперечок у коаліції.",
    "Прихильники проєкту стверджують, що нова лінія вдвічі скоротить час поїздок із "
    "північних районів і зменшить кількість автомобілів на кільцевій дорозі.",
    "Противники попереджають, що кошторис у чотириста вісімдесят мільйонів гривень є "
    "нереалістичним, а подібні проєкти в інших містах суттєво перевищували бюджет.",
]
UK_CHROME = {
    "banner": "Підписуйтесь на нашу розсилку",
    "nav": "Спорт Погода Думки Подкасти",
    "related_a": "П'ять ідей для вихідних у старому місті",
    "related_b": "Відомий кухар відкрив третій ресторан на набережній",
    "comment": "Чудова стаття, але я не згоден з мером",
    "copyright": "Усі права захищено. Міські новини, 2023.",
    "footer_link": "Політика конфіденційності",
}


def news_page(
    *, lang: str, title: str, site: str, published: str, body: list[str], chrome: dict[str, str]
) -> str:
    """A news article page with the usual boilerplate ("chrome") around the story."""
    paragraphs = "\n".join(f"<p>{p}</p>" for p in body)
    nav = "".join(f'<li><a href="/{w}">{w}</a></li>' for w in chrome["nav"].split())
    return f"""<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<title>{title} | {site}</title>
<meta property="og:title" content="{title}">
<meta property="og:site_name" content="{site}">
<meta property="article:published_time" content="{published}">
</head>
<body>
<header class="site-header"><div class="banner"><a href="/newsletter">{chrome["banner"]}</a></div>
<nav class="main-nav"><ul>{nav}</ul></nav>
</header>
<main>
<article class="story">
<h1>{title}</h1>
<div class="story-body">
{paragraphs}
</div>
</article>
<aside class="related"><h2>Related</h2><ul>
<li><a href="/related/1">{chrome["related_a"]}</a></li>
<li><a href="/related/2">{chrome["related_b"]}</a></li>
</ul></aside>
<section id="comments" class="comments"><h3>Comments</h3>
<div class="comment"><p class="comment-body">{chrome["comment"]}</p></div></section>
</main>
<footer class="site-footer"><p>{chrome["copyright"]}</p>
<a href="/privacy">{chrome["footer_link"]}</a></footer>
</body>
</html>"""


EN_PAGE = news_page(
    lang="en",
    title="Council approves tram extension after two-year dispute",
    site="Riverside Daily",
    published="2024-03-05T08:30:00+00:00",
    body=EN_BODY,
    chrome=EN_CHROME,
)
UK_PAGE = news_page(
    lang="uk",
    title="Рада схвалила розширення трамвайної мережі",
    site="Міські новини",
    published="2023-11-20T17:05:00+02:00",
    body=UK_BODY,
    chrome=UK_CHROME,
)


def assert_well_formed(result: Extracted) -> None:
    """Invariants of every result, good page or bad."""
    assert isinstance(result, Extracted)
    assert isinstance(result.text, str) and isinstance(result.title, str)
    assert FLAG_ERROR not in result.flags
    assert (FLAG_NO_MAIN_TEXT in result.flags) == (result.text == "")


# --- good pages -----------------------------------------------------------------------


def test_english_article_keeps_story_and_drops_boilerplate() -> None:
    result = extract_html(EN_PAGE, "https://riverside.example/city/tram", CFG)
    assert_well_formed(result)
    for paragraph in EN_BODY:
        assert paragraph in result.text
    for snippet in EN_CHROME.values():
        assert snippet not in result.text
    assert result.flags == []


def test_english_article_metadata() -> None:
    result = extract_html(EN_PAGE, "https://riverside.example/city/tram", CFG)
    assert result.title == "Council approves tram extension after two-year dispute"
    assert result.published == "2024-03-05T08:30:00Z"  # the page's time, in UTC
    assert result.source == "Riverside Daily"
    assert result.lang == "en"


def test_text_is_one_paragraph_per_line() -> None:
    lines = extract_html(EN_PAGE, None, CFG).text.split("\n")
    assert all(line == line.strip() and line for line in lines)
    assert set(EN_BODY) <= set(lines)


def test_ukrainian_article() -> None:
    result = extract_html(UK_PAGE, "https://misto.example/news/tram", CFG)
    assert_well_formed(result)
    for paragraph in UK_BODY:
        assert paragraph in result.text
    for snippet in UK_CHROME.values():
        assert snippet not in result.text
    assert result.title == "Рада схвалила розширення трамвайної мережі"
    assert result.published == "2023-11-20T15:05:00Z"  # 17:05 at +02:00
    assert result.source == "Міські новини"
    assert result.lang == "uk"


def test_declared_lang_is_returned_as_given() -> None:
    page = EN_PAGE.replace('<html lang="en">', '<html lang="en-GB">')
    assert extract_html(page, None, CFG).lang == "en-GB"


def test_no_declared_lang_or_site_name_gives_none() -> None:
    page = EN_PAGE.replace('<html lang="en">', "<html>").replace("og:site_name", "og:x")
    page = page.replace(" | Riverside Daily</title>", "</title>")
    result = extract_html(page, "https://www.riverside.example/city/tram", CFG)
    assert result.lang is None
    assert result.source is None  # not the URL's host passed off as a site name
    assert EN_BODY[0] in result.text


def test_text_is_nfc_normalised() -> None:
    decomposed = unicodedata.normalize("NFD", "Café owners say the été season was good. ")
    page = EN_PAGE.replace(EN_BODY[0], decomposed + EN_BODY[0])
    text = extract_html(page, None, CFG).text
    assert "Café owners say the été season was good." in text
    assert unicodedata.is_normalized("NFC", text)


def test_deterministic() -> None:
    first = extract_html(EN_PAGE, "https://riverside.example/city/tram", CFG)
    second = extract_html(EN_PAGE, "https://riverside.example/city/tram", CFG)
    assert first == second


LEAD = "The vote ends the longest transport dispute in the city's recent history."


def with_description(page: str, description: str) -> str:
    return page.replace("</head>", f'<meta name="description" content="{description}"></head>')


def test_lead_outside_article_is_put_back_first() -> None:
    """A standfirst in the page header is what trafilatura drops; the description has it."""
    header = f'<div class="story-header"><div class="teaser-intro">{LEAD}</div></div>'
    page = with_description(EN_PAGE.replace("<main>", f"<main>{header}"), LEAD)
    assert LEAD not in extract_html(page, None, ExtractConfig(keep_lead=False)).text
    result = extract_html(page, None, CFG)
    assert result.text.split("\n")[0] == LEAD
    assert result.text.count(LEAD) == 1


def test_a_short_chinese_lead_is_put_back_and_a_short_latin_label_is_not() -> None:
    """The floor is in columns: 25 Chinese characters say as much as a sentence, 25
    Latin letters are a label."""
    lead = "市议会周二投票决定将有轨电车网络延长十二公里结束了持续两年的争论。"
    label = "Local news you can trust!"
    for shown, wanted in ((lead, True), (label, False)):
        header = f'<div class="story-header"><div class="teaser-intro">{shown}</div></div>'
        page = with_description(EN_PAGE.replace("<main>", f"<main>{header}"), shown)
        assert (extract_html(page, None, CFG).text.split("\n")[0] == shown) is wanted


def test_lead_already_in_text_is_not_repeated() -> None:
    page = with_description(EN_PAGE, EN_BODY[0])
    assert extract_html(page, None, CFG).text.count(EN_BODY[0]) == 1


def test_invisible_description_is_not_added() -> None:
    """An SEO blurb that the page never shows is not article text."""
    blurb = "Riverside Daily brings you the latest local news, sport and weather every day."
    page = with_description(EN_PAGE, blurb)
    assert blurb not in extract_html(page, None, CFG).text


# --- dates: no clock, no network ------------------------------------------------------


def test_published_date_respects_fixed_latest_date() -> None:
    """A date after ``latest_date`` is implausible; the ceiling is config, not today."""
    cfg = ExtractConfig(latest_date="2024-01-01")
    assert not (extract_html(EN_PAGE, None, cfg).published or "").startswith("2024-03-05")


def test_no_network_access(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("extraction tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    page = EN_PAGE.replace("article:published_time", "x:removed")
    result = extract_html(page, "https://riverside.example/2024/02/29/tram-vote", CFG)
    assert_well_formed(result)
    assert result.published == "2024-02-29"  # from the URL, offline


# --- bad input: never raise, flag instead ---------------------------------------------


@pytest.mark.parametrize("html", ["", "   \n\t  "], ids=["empty", "whitespace"])
def test_empty_input(html: str) -> None:
    result = extract_html(html, None, CFG)
    assert_well_formed(result)
    assert result.text == "" and result.title == ""
    assert FLAG_NO_MAIN_TEXT in result.flags


def test_a_page_of_a_title_alone_keeps_its_title() -> None:
    # as a record of a title alone is an article (it was rejected: "without title or text")
    page = ("<html><head><title>\n  Parliament approves the budget  </title></head>"
            "<body></body></html>")
    result = extract_html(page, None, CFG)
    assert_well_formed(result)
    assert (result.title, result.text) == ("Parliament approves the budget", "")
    assert FLAG_NO_MAIN_TEXT in result.flags


def test_binary_junk() -> None:
    junk = random.Random(0).randbytes(100_000).decode("latin-1")
    result = extract_html(junk, None, CFG)
    assert_well_formed(result)
    assert result.text == ""
    assert FLAG_NO_MAIN_TEXT in result.flags


def test_deep_nesting_does_not_hide_the_article() -> None:
    deep = "<div>" * 1000 + "<p>nested junk</p>" + "</div>" * 1000
    page = EN_PAGE.replace("</article>", "</article>" + deep)
    result = extract_html(page, None, CFG)
    assert_well_formed(result)
    assert EN_BODY[0] in result.text


def test_many_short_blocks_have_bounded_cost() -> None:
    """Tens of thousands of short blocks (quadratic in jusText: 443 s for 60,000) are cut
    to max_html_elements and skip the fallback; the article before them is kept."""
    page = EN_PAGE.replace("</body>", "<div><p>filler</p></div>" * 60_000 + "</body>")
    result = extract_html(page, None, CFG)
    assert {"html_truncated", "html_no_fallback"} <= set(result.flags)
    assert EN_BODY[0] in result.text


def test_fallback_is_kept_below_the_element_limit() -> None:
    page = EN_PAGE.replace("</body>", "<div><p>filler</p></div>" * 100 + "</body>")
    assert "html_no_fallback" not in extract_html(page, None, CFG).flags
    assert "html_no_fallback" in extract_html(
        page, None, ExtractConfig(fallback_max_elements=100)).flags


def test_deep_nesting_alone() -> None:
    """libxml2 drops content nested deeper than 256 levels: no text, flagged, no crash."""
    nested = "<div><span>" * 1000 + "deep down" + "</span></div>" * 1000
    result = extract_html(f"<html><body>{nested}</body></html>", None, CFG)
    assert_well_formed(result)
    assert result.text == ""
    assert FLAG_NO_MAIN_TEXT in result.flags


def test_truncated_tag_soup() -> None:
    cut = EN_PAGE[: EN_PAGE.index(EN_BODY[2])]
    soup = cut + '<p>Unclosed <b>bold <i>italic</p></div><table><tr><td>cell<p>more <a href="/x'
    result = extract_html(soup, None, CFG)
    assert_well_formed(result)
    assert EN_BODY[0] in result.text
    assert EN_BODY[3] not in result.text


def test_lone_surrogate_and_nul() -> None:
    page = EN_PAGE.replace(EN_BODY[1], EN_BODY[1] + " \ud800 \x00")
    result = extract_html(page, None, CFG)
    assert_well_formed(result)
    assert EN_BODY[0] in result.text


def test_oversize_page_is_cut_and_flagged() -> None:
    filler = "".join(f'<li><a href="/a/{i}">Archive entry {i}</a></li>' for i in range(4000))
    page = EN_PAGE.replace("</footer>", f"<ul>{filler}</ul></footer>")
    cfg = ExtractConfig(max_html_bytes=20_000)
    assert len(page.encode()) > 5 * cfg.max_html_bytes
    result = extract_html(page, None, cfg)
    assert_well_formed(result)
    assert FLAG_TRUNCATED in result.flags
    assert EN_BODY[-1] in result.text  # the article comes before the cut


def test_oversize_scripts_are_dropped_before_cutting() -> None:
    """Inline scripts are most of many pages' bytes; they go first, JSON-LD stays."""
    script = "<script>var state = " + "[1,2,3]," * 10_000 + "0;</script>"
    json_ld = (
        '<script type="application/ld+json">{"@type": "NewsArticle", '
        '"datePublished": "2024-02-01T10:00:00Z"}</script>'
    )
    page = EN_PAGE.replace("article:published_time", "x:removed")
    page = page.replace("</head>", f"{script}{json_ld}<style>{'p{}' * 5000}</style></head>")
    cfg = ExtractConfig(max_html_bytes=20_000)
    assert len(page.encode()) > 4 * cfg.max_html_bytes
    result = extract_html(page, None, cfg)
    assert_well_formed(result)
    assert FLAG_TRUNCATED not in result.flags
    assert all(paragraph in result.text for paragraph in EN_BODY)
    assert result.published == "2024-02-01T10:00:00Z"


def test_unclosed_script_in_oversize_page() -> None:
    page = EN_PAGE + "<script>" * 5000 + "x" * 30_000
    result = extract_html(page, None, ExtractConfig(max_html_bytes=20_000))
    assert_well_formed(result)
    assert EN_BODY[0] in result.text


# --- configuration --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"favor": "fast"}, "favor must be one of precision, recall, balanced, got 'fast'"),
     ({"max_html_bytes": 0}, "max_html_bytes must be >= 1, got 0"),
     ({"latest_date": "today"}, "Invalid isoformat string")],
    ids=["favor", "max_html_bytes", "latest_date"],
)
def test_bad_config_fails_at_construction(kwargs: dict[str, object], message: str) -> None:
    """A config built in Python is checked against the declared ranges when it is made."""
    with pytest.raises(ValueError, match=re.escape(message)):
        ExtractConfig(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("favor", ["precision", "recall", "balanced"])
def test_every_favor_setting_extracts_the_story(favor: str) -> None:
    result = extract_html(EN_PAGE, None, ExtractConfig(favor=favor))
    assert_well_formed(result)
    assert EN_BODY[0] in result.text


@pytest.mark.parametrize("favor", ["balanced", "recall"])
def test_noscript_and_template_text_is_never_article_text(favor: str) -> None:
    notice = ("<noscript>Please enable JavaScript in your browser to watch the video and "
              "read the comments below.</noscript>")
    page = (f"<html><head>{notice}</head><body>{notice}<article><p>{EN_BODY[0]} {notice} "
            f"{EN_BODY[1]}</p><template><p>Hidden template text</p></template></article>"
            "</body></html>")
    text = extract_html(page, None, ExtractConfig(favor=favor)).text
    assert EN_BODY[0] in text and EN_BODY[1] in text
    assert "JavaScript" not in text and "Hidden" not in text


@pytest.mark.parametrize("html", [EN_PAGE, "", "   "])
def test_a_given_text_wins_over_a_page_beside_it(html: str) -> None:
    """An export carrying both fields (or an empty html) keeps the text its maker chose."""
    given = Record(id="a", title="Given title", text="The text as given.\nIts second line.",
                   html=html)
    kept = apply_extraction(given, ExtractConfig(), 10_000, 2_000)
    assert isinstance(kept, Record)
    assert (kept.title, kept.text, kept.html, kept.flags) == (
        "Given title", "The text as given.\nIts second line.", None, [])
    from_page = apply_extraction(Record(id="b", html=EN_PAGE), ExtractConfig(), 10_000, 2_000)
    assert isinstance(from_page, Record) and EN_BODY[0] in from_page.text


@pytest.mark.parametrize("invisible", ["\u200b", "\ufeff", "\u2060", "\xad", " \u200b\n"])
def test_a_given_text_of_invisible_characters_is_no_text(invisible: str) -> None:
    """A zero-width space or a BOM beside the page is not a text its maker chose."""
    kept = apply_extraction(Record(id="a", text=invisible, html=EN_PAGE), ExtractConfig(),
                            10_000, 2_000)
    assert isinstance(kept, Record) and EN_BODY[0] in kept.text and EN_BODY[3] in kept.text


@pytest.mark.parametrize("favor", ["precision", "balanced", "recall"])
def test_references_a_page_shows_as_text_stay_as_the_reader_sees_them(favor: str) -> None:
    """The parser decodes a page's references once; what it shows literally (an
    article about markup) must not be decoded a second time."""
    shown = ["To make text bold, write &lt;b&gt; before it and &lt;/b&gt; after it, as "
             "every guide to the old markup language explains at length.",
             "The sign &copy; is written &amp;copy; or &amp;#169; and a hard space "
             "&amp;nbsp; in the source of a page that the browser then renders.",
             "Researchers at AT&amp;T and R&amp;D labs said the results of Q&amp;A sessions "
             "were published as &quot;preliminary&quot; in the spring report."]
    page = news_page(lang="en", title="Markup &amp; entities, explained", site="Riverside Daily",
                     published="2024-03-05T08:30:00+00:00", body=[*EN_BODY[:2], *shown],
                     chrome=EN_CHROME)
    result = extract_html(page, None, ExtractConfig(favor=favor))
    reader_sees = [unescape(paragraph) for paragraph in shown]
    assert reader_sees[0].startswith("To make text bold, write <b> before")
    assert all(paragraph in result.text for paragraph in reader_sees)
    assert result.title == "Markup & entities, explained"


@pytest.mark.parametrize("pattern", ["pdpdpd", "ppdppp"])
def test_paragraphs_written_as_divs_among_paragraphs_are_kept(pattern: str) -> None:
    """CMS bodies mix <p> and <div> paragraphs; trafilatura kept the <p>s of such an
    article and dropped most <div>s (these two patterns lost 3 of 3 and 1 of 1)."""
    paragraphs = [f"{EN_BODY[i % 4]} {EN_BODY[(i + 1) % 4]}" for i in range(6)]
    body = "".join(f"<p>{text}</p>" if kind == "p" else f"<div>{text}</div>"
                   for kind, text in zip(pattern, paragraphs, strict=True))
    page = ('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Council '
            'approves tram extension | Sitename</title></head><body><header><div '
            'class="logo">Sitename</div><nav class="menu"><ul><li><a href="/w">World</a></li>'
            '</ul></nav></header><main><article><h1>Council approves tram extension</h1>'
            f'{body}</article></main><footer><p>Sitename 2024</p></footer></body></html>')
    lines = extract_html(page, None, CFG).text.split("\n")
    assert all(paragraph in lines for paragraph in paragraphs)


def test_an_inline_image_before_the_article_does_not_push_it_out() -> None:
    image = "<img alt='' src='data:image/jpeg;base64," + "/9j/4AAQSkZJRgABAQ" * 5000 + "'>"
    page = EN_PAGE.replace("<main>", f"<main>{image}")
    cfg = ExtractConfig(max_html_bytes=20_000)
    assert len(page.encode()) > 4 * cfg.max_html_bytes
    result = extract_html(page, None, cfg)
    assert FLAG_TRUNCATED not in result.flags
    assert all(paragraph in result.text for paragraph in EN_BODY)


def test_a_menu_too_big_to_read_goes_before_the_article_is_cut() -> None:
    """A page over the element limit lost its end, which was the article when a
    mega-menu came first; the menu (a link list) goes instead."""
    menu = "".join(f"<ul><li><a href='/c{i}'><span>Section {i}</span></a></li></ul>"
                   for i in range(2000))
    page = EN_PAGE.replace("<main>", f"<div class='mega-menu'>{menu}</div><main>")
    result = extract_html(page, None, ExtractConfig(max_html_elements=3000))
    assert FLAG_TRUNCATED in result.flags
    assert all(paragraph in result.text for paragraph in EN_BODY)
    assert "Section" not in result.text


@pytest.mark.parametrize("wrapped", [False, True])
def test_the_next_story_stacked_below_the_article_is_not_its_text(wrapped: bool) -> None:
    """Infinite scroll: each story an <article> with its own <h1>, maybe all inside one
    wrapping <article>; the page's text is the first story's."""
    next_story = ("<div class='next-story'><article><h1>Ferry service resumes after storm</h1>"
                  + "".join(f"<p>{paragraph}</p>" for paragraph in UK_BODY) + "</article></div>")
    page = EN_PAGE.replace("</article>", f"</article>{next_story}", 1)
    if wrapped:
        page = page.replace("<main>", "<main><article class='scroll'>").replace(
            "</main>", "</article></main>")
    text = extract_html(page, None, CFG).text
    assert all(paragraph in text for paragraph in EN_BODY)
    assert not any(paragraph in text for paragraph in UK_BODY)


@pytest.mark.parametrize("fragment", [
    "<p>{0}</p>", "{0}\n\n{1}", "{0}<br><br>{1}", "<div><p>{0}</p></div>"])
def test_a_fragment_with_no_main_text_for_trafilatura_is_read_as_text(fragment: str) -> None:
    html = fragment.format(*EN_BODY)
    read = apply_extraction(Record(id="f", html=html), CFG, 10_000, 2_000)
    assert isinstance(read, Record)
    assert EN_BODY[0] in read.text.split("\n")
    assert "{1}" not in fragment or EN_BODY[1] in read.text.split("\n")


def test_a_pages_date_without_a_time_stays_a_date() -> None:
    page = EN_PAGE.replace("2024-03-05T08:30:00+00:00", "2024-03-05")
    assert extract_html(page, None, CFG).published == "2024-03-05"
