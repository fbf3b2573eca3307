"""Main text and metadata from one raw HTML page, via trafilatura.

Some input records carry the page itself (``html``) instead of ``text``.  This module
only wraps trafilatura: it bounds the input, pins every option that would make the
output depend on the clock, the network or earlier calls, and turns every failure
into an empty result plus a flag, because one broken page in a dump of millions must
not stop the batch.  :func:`apply_extraction` then decides for a record: its HTML
replaced by the main text, or a Reject when the page has none.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from html import unescape

import trafilatura
from lxml.etree import XPath
from lxml.html import HtmlElement
from trafilatura.deduplication import LRUCache
from trafilatura.settings import Document

from dedup.records import Record, Reject
from dedup.settings import Range, first_problem, setting
from dedup.stages.markup import INLINE_ELEMENTS, without_markup
from dedup.stages.parse import has_visible, normalise_published

FAVOR_CHOICES = ("precision", "recall", "balanced")

# Opening tags of blocks that carry no article text; the attribute run is capped so a
# "<script" without ">" cannot make every later search scan to the end of the page.
_BULKY_OPEN = re.compile(r"<(script|style|svg)\b([^>]{0,4096})>", re.IGNORECASE)
_BULKY_CLOSE = {
    tag: re.compile(rf"</{tag}\s*>", re.IGNORECASE) for tag in ("script", "style", "svg")
}

# Text nodes a reader sees; used to tell a displayed lead from an invisible SEO description.
_VISIBLE_TEXT = XPath(
    "//body//text()[not(ancestor::script or ancestor::style or ancestor::noscript"
    " or ancestor::template)]"
)
# An attribute value this long is an inline image or serialised state, never text.
_LONG_ATTRIBUTE = re.compile(r"""\s[\w:.-]+\s*=\s*(?:"[^"]{2048,}"|'[^']{2048,}')""")
# Meta descriptions narrower than this (in columns: a Chinese or Japanese character
# takes two, and says as much as a short word) are site slogans or labels, not leads.
_MIN_LEAD_COLUMNS = 40

# The host part trafilatura falls back to as "site name" when the page declares none.
_URL_HOST = re.compile(r"https?://(?:www\.|w[0-9]+\.)?([^/:?#]+)", re.IGNORECASE)

FLAG_TRUNCATED = "html_truncated"
FLAG_NO_MAIN_TEXT = "html_no_main_text"
FLAG_ERROR = "html_extract_error"
FLAG_NO_FALLBACK = "html_no_fallback"
FLAG_FRAGMENT = "html_fragment"
# A page, as opposed to a fragment of one: it opens its document, head or body.
_PAGE_TAG = re.compile(r"<(?:!doctype|html|head|body)\b", re.IGNORECASE)

# Loggers that report routine rejects ("empty HTML tree", "discarding data") at WARNING or
# ERROR level; on millions of pages that is pure noise, and the flags carry the outcome.
_NOISY_LOGGERS = ("trafilatura", "htmldate", "courlan")

# Declared-language sources after <html lang> / <html xml:lang>: the HTTP-equivalent header,
# then the Open Graph locale.
_META_LANG_XPATH = (
    "//meta[translate(@http-equiv, 'CONTENT-LANGUAGE', 'content-language')"
    " = 'content-language']/@content"
    " | //meta[@property = 'og:locale']/@content"
)


@dataclass(frozen=True, slots=True)
class ExtractConfig:
    """Main-text extraction from raw HTML (trafilatura)."""

    max_html_bytes: int = setting(1_000_000, Range(1, None), doc="""
        Pages above this many UTF-8 bytes lose their script/style/svg blocks and long
        attribute values (inline images) and, if still too big, are cut before parsing
        (flagged "html_truncated"): cost grows linearly with size (about 3 s per MB on
        link-heavy markup) and a broken 50 MB page must not stall a worker. Lower bounds cost
        harder but cuts more long pages; real article pages are well below.""")
    max_html_elements: int = setting(20_000, Range(1, None), doc="""
        Pages with more elements than this lose their largest link lists (menus, site maps,
        archives) and, if still over, are cut to about this many (flagged "html_truncated"):
        trafilatura's own pass grows faster than linearly with the element count (20,000
        short blocks: 3 s, 40,000: 14 s). Real article pages: 99% under 3,500.""")
    fallback_max_elements: int = setting(5_000, Range(1, None), doc="""
        Pages with more elements than this skip the readability/jusText comparison (flagged
        "html_no_fallback"): jusText revises each run of short paragraphs neighbour by
        neighbour, quadratic in their number (8,000 short blocks: 14 s, 40,000: 443 s). Higher
        keeps the comparison on bigger pages at that risk; lower is faster.""")
    favor: str = setting("balanced", choices=FAVOR_CHOICES, doc="""
        trafilatura's precision/recall trade-off: "precision" drops more boilerplate but also
        short paragraphs, "recall" keeps more text and more teasers and link lists; "balanced"
        retries in recall mode only when the first pass finds little.""")
    include_tables: bool = setting(True, doc="""
        Tables sometimes hold article content (results, figures); off drops them together with
        layout tables.""")
    include_comments: bool = setting(False, doc="""
        Reader comments are not the article. Off also makes trafilatura prune comment sections
        from the page before it looks for the main text.""")
    keep_lead: bool = setting(True, doc="""
        Prepend the page's meta description when it is shown on the page but trafilatura dropped
        it: that is nearly always the article's lead, which sits in the header. Off keeps
        strictly trafilatura's text; on adds one line to about 1 page in 6.""")
    fast: bool = setting(False, doc="""
        True skips the readability/jusText comparison: about 40% less time per page, but on
        layouts trafilatura's own rules misread it keeps teasers instead of the article.""")
    deduplicate: bool = setting(False, doc="""
        Drops paragraphs repeated within the page. A fresh cache per page keeps it deterministic
        (trafilatura's default cache is global, so one page's output would depend on the pages
        processed before it); costs a little time, rarely changes text.""")
    date_text_search: bool = setting(False, doc="""
        Search dates in the visible text too (htmldate "extensive_search"): finds more dates,
        but mostly guesses such as a copyright year read as 1 January; off keeps to markup (meta
        tags, JSON-LD, time elements, the URL).""")
    latest_date: str = setting("2100-12-31", doc="""
        Latest plausible publication date (ISO 8601). Fixed instead of "today" so reruns give
        the same output; set it to the crawl date of the dump when known.""")

    def __post_init__(self) -> None:
        """Fail at construction, not once per record, on a misspelt setting."""
        if (problem := first_problem(self)) is not None:
            raise ValueError(problem)
        # htmldate silently falls back to "today" on an unparsable date, breaking determinism
        date.fromisoformat(self.latest_date)


@dataclass(slots=True)
class Extracted:
    """What one page yields; empty strings and ``None`` when a part is not found."""

    title: str = ""
    text: str = ""
    published: str | None = None
    source: str | None = None
    lang: str | None = None
    flags: list[str] = field(default_factory=list)


def extract_html(html: str, url: str | None, cfg: ExtractConfig) -> Extracted:
    """Extract main text, title, date, site name and declared language from one page.

    Never raises on bad input: a page without extractable text (empty, binary junk,
    content nested deeper than libxml2's limit of 256) gives empty text and
    ``html_no_main_text``, plus ``html_extract_error`` if trafilatura itself failed, so
    the caller can reject it with a reason.  Short boilerplate-only pages may still yield
    a line or two ("Home"); judging length is the caller's job.
    """
    result = Extracted()
    try:
        _extract_into(result, html, url, cfg)
    except Exception:  # contract: a bad page is flagged, never fatal
        result.flags.append(FLAG_ERROR)
    if not result.text:
        result.flags.append(FLAG_NO_MAIN_TEXT)
    return result


def apply_extraction(record: Record, cfg: ExtractConfig, max_text_chars: int,
                     max_title_chars: int) -> Record | Reject:
    """Replace raw HTML by its main text, text and title cut like given ones
    (``read.max_text_chars``, ``read.max_title_chars``); fields given in the input win
    over page metadata.  A page
    without title or text is rejected ``no_main_text``.

    A text given beside the page wins, and the page is not read: exports that carry
    both (or an empty ``html``) hold the text their maker chose.  A fragment (no
    ``<html>``, ``<head>`` or ``<body>``: a CMS export's body) in which trafilatura
    finds no main text -- one paragraph, paragraphs without tags -- is read as text
    with markup (flagged ``html_fragment``): it has no page around it to tell apart.
    A text of nothing a reader sees (a zero-width space, a BOM) is no text."""
    if has_visible(record.text):
        record.html = None
        return record
    page = record.html or ""
    extracted = extract_html(page, record.url, cfg)
    if not extracted.text and _is_fragment(page):
        extracted.text = _as_lines(without_markup(page))
        extracted.flags = [FLAG_FRAGMENT if flag == FLAG_NO_MAIN_TEXT else flag
                           for flag in extracted.flags]
    record.html = None
    record.title = record.title or extracted.title
    record.text = extracted.text
    record.cut_to(max_text_chars, max_title_chars)  # a page is bounded in bytes, not text
    record.published = record.published or extracted.published
    record.source = record.source or extracted.source
    record.lang = record.lang or extracted.lang
    record.flags.extend(extracted.flags)
    if not (has_visible(record.title) or has_visible(record.text)):
        return Reject(origin=record.origin, reason="no_main_text",
                      detail="HTML without extractable title or text", id=record.id)
    return record


def _is_fragment(html: str) -> bool:
    """Whether ``html`` is a piece of markup rather than a page, and holds something."""
    return bool(html.strip()) and _PAGE_TAG.search(html) is None


def _extract_into(result: Extracted, html: str, url: str | None, cfg: ExtractConfig) -> None:
    """Bound the input, parse it once, and fill ``result`` from trafilatura's output."""
    html, truncated = _bounded(html, cfg.max_html_bytes)
    tree = trafilatura.load_html(html) if html.strip() else None
    elements = _element_count(tree)
    if tree is not None and elements > cfg.max_html_elements:
        truncated = True
        elements -= _drop_link_lists(tree, elements - cfg.max_html_elements)
    if elements > cfg.max_html_elements:
        html = html[: len(html) * cfg.max_html_elements // elements]
        tree = trafilatura.load_html(html)
        elements = _element_count(tree)
    if truncated:
        result.flags.append(FLAG_TRUNCATED)
    if tree is None:
        return
    _drop_invisible(tree)
    fast = cfg.fast or elements > cfg.fallback_max_elements
    if fast and not cfg.fast:
        result.flags.append(FLAG_NO_FALLBACK)
    result.lang = _declared_lang(tree)
    _divs_among_paragraphs_as_paragraphs(tree)
    _drop_stacked_stories(tree)
    _escape_ampersands(tree)
    doc = _run_trafilatura(tree, url, cfg, fast)
    _fill_from_document(result, doc)
    if doc is None:  # no main text, so trafilatura gave no metadata either
        result.title = _clean_line(unescape(tree.findtext(".//title") or ""))
    if cfg.keep_lead and doc is not None:
        result.text = _with_lead(result.text, doc.description, tree)


def _bounded(html: str, max_bytes: int) -> tuple[str, bool]:
    """Return the page as at most ``max_bytes`` UTF-8 bytes, and whether content was cut.

    An oversize page first loses its script/style/svg blocks and its long attribute
    values (inline ``data:`` images, serialised state), which trafilatura discards
    anyway and which make up most of the bytes of many modern pages, so the cut only
    reaches article markup on pages that are genuinely huge (a 1.2 MB inline image
    before the article left it with no text).  Lone surrogates (upstream
    mis-decoding) become "?" because lxml rejects them; a cut inside a multi-byte
    character drops that character.
    """
    data = html.encode("utf-8", errors="replace")
    if len(data) > max_bytes:
        lean = _LONG_ATTRIBUTE.sub("", _drop_bulky_blocks(data.decode("utf-8")))
        data = lean.encode("utf-8")
    if len(data) <= max_bytes:
        return data.decode("utf-8"), False
    return data[:max_bytes].decode("utf-8", errors="ignore"), True


def _drop_bulky_blocks(html: str) -> str:
    """Remove <script>, <style> and <svg> elements, keeping JSON-LD (dates, headline).

    Hand-rolled scan rather than one regex so that the cost stays linear on junk with
    thousands of unclosed tags; an unclosed block runs to the end, as it does in a browser.
    """
    kept: list[str] = []
    pos = 0
    while opening := _BULKY_OPEN.search(html, pos):
        if "ld+json" in opening[2].lower():
            kept.append(html[pos : opening.end()])
            pos = opening.end()
            continue
        kept.append(html[pos : opening.start()])
        closing = _BULKY_CLOSE[opening[1].lower()].search(html, opening.end())
        if closing is None:
            return "".join(kept)
        pos = closing.end()
    kept.append(html[pos:])
    return "".join(kept)


# A subtree is a link list (a mega-menu, a site map, an archive) when links hold at
# least this share of its text and at most this many characters are outside links
# (the page's body around a menu is mostly link text too, but holds the article) ...
_LINK_LIST_SHARE = 0.8
_LINK_LIST_MAX_PLAIN_CHARS = 500
# ... and it has at least this many elements: worth removing from a page too big to read.
_LINK_LIST_MIN_ELEMENTS = 200


def _drop_link_lists(tree: HtmlElement, excess: int) -> int:
    """Remove the page's largest link lists, first in document order, until ``excess``
    elements are gone or none is left; returns how many elements went.

    A page with more elements than trafilatura can afford used to be cut at its end,
    which kept a 26,000-element menu before the article and lost the article.  Menus,
    site maps and archives are what makes pages that big, and they are link lists:
    most of their text is link text.  One pass computes each subtree's size and link
    text from the leaves up, a second removes the outermost qualifying subtrees.
    """
    elements = [element for element in tree.iter() if isinstance(element.tag, str)]
    size: dict[HtmlElement, int] = {}
    chars: dict[HtmlElement, tuple[int, int]] = {}  # (text, link text) of the subtree
    for element in reversed(elements):
        own = len(element.text or "") + sum(len(child.tail or "") for child in element)
        text, linked = own, own if element.tag == "a" else 0
        count = 1
        for child in element:
            if isinstance(child.tag, str):
                count += size[child]
                child_text, child_linked = chars[child]
                text += child_text
                linked += child_text if element.tag == "a" else child_linked
        size[element], chars[element] = count, (text, linked)
    removed = 0
    for element in elements:
        if removed >= excess:
            break
        if size[element] < _LINK_LIST_MIN_ELEMENTS or element.getparent() is None or \
                not _in_tree(element, tree):
            continue
        text, linked = chars[element]
        if text and linked >= _LINK_LIST_SHARE * text and \
                text - linked <= _LINK_LIST_MAX_PLAIN_CHARS:
            removed += size[element]
            element.drop_tree()
    return removed


def _in_tree(element: HtmlElement, root: HtmlElement) -> bool:
    """Whether ``element`` is still attached under ``root`` (an ancestor may have gone)."""
    while (parent := element.getparent()) is not None:
        element = parent
    return element is root


def _drop_stacked_stories(tree: HtmlElement) -> None:
    """Keep only the first of several <article>s that each have their own <h1>.

    An <h1> is a page's own headline; an infinite-scroll page (or a "next story"
    block) stacks the following stories below it, each an <article> with its own, and
    trafilatura took the next one's paragraphs for the page's (6 of 6, on 5 of 20
    pages).  An <article> wrapping such stories is not one of them; a live blog's
    entries and teaser cards have no <h1> of their own and stay.
    """
    headed = [article for article in tree.iter("article")
              if next(article.iter("h1"), None) is not None]
    stories = [article for article in headed  # not a wrapper around the stories
               if not any(other is not article and article in other.iterancestors()
                          for other in headed)]
    for article in stories[1:]:
        article.drop_tree()


def _drop_invisible(tree: HtmlElement) -> None:
    """Remove <noscript> and <template> elements (their tails stay): a reader never sees
    them, yet trafilatura's recall passes keep a "please enable JavaScript" notice as
    article text."""
    for element in list(tree.iter("noscript", "template")):
        if element.getparent() is not None:
            element.drop_tree()


# Elements that sit inside a paragraph; a <div> holding only these (and text) is
# written as a paragraph.
_INLINE_TAGS = frozenset([*INLINE_ELEMENTS.split(), "br"])


# ... and only when its text is at least this long: a paragraph, not a widget's line.
_MIN_DIV_PARAGRAPH_CHARS = 80


def _divs_among_paragraphs_as_paragraphs(tree: HtmlElement) -> None:
    """Make a paragraph of each <div> of text and inline markup whose siblings are <p>s.

    CMS bodies mix the two (an editor's pasted paragraph, a paragraph with a class);
    trafilatura keeps the <p>s of such a container and drops the <div>s between them: 6
    of 30 such paragraphs survived, against 90 of 90 <p>s.  A <div> with block children
    (a box, a gallery, a teaser list) stays a <div>, and so does a short one: among
    paragraphs, a short line of inline markup is a widget ("Visited 215 times", "About
    the author", a date, a like count), which taken for text cost the development
    pages 0.001 of F1.

    Whether a parent holds a <p> is looked up once per parent: asked of every <div>, it
    was quadratic in a flat page's siblings (12 s for the 10,000 <div>s a page cut to
    max_html_elements may still have).  The answer cannot change during the loop: a <div>
    becomes a <p> only under a parent that already holds one.
    """
    holds_paragraph: dict[HtmlElement, bool] = {}
    for div in list(tree.iter("div")):
        parent = div.getparent()
        if parent is None:
            continue
        if parent not in holds_paragraph:
            holds_paragraph[parent] = any(sibling.tag == "p" for sibling in parent)
        if not holds_paragraph[parent]:
            continue
        if all(not isinstance(child.tag, str) or child.tag in _INLINE_TAGS for child in div) \
                and len(" ".join(div.text_content().split())) >= _MIN_DIV_PARAGRAPH_CHARS:
            div.tag = "p"


# Elements whose text is not markup text: left to trafilatura's own decoding.
_RAW_TEXT_TAGS = frozenset({"script", "style"})
# What trafilatura reads besides text: meta tags' values (title, description, site name).
_META_CONTENT = XPath("//meta[@content]")


def _escape_ampersands(tree: HtmlElement) -> None:
    """Write every "&" of the page's text and meta values as "&amp;".

    The parser has already decoded the page's character references, and trafilatura
    decodes its output text and metadata once more: a page that shows "&lt;b&gt;" (an
    article about markup, written ``&amp;lt;b&amp;gt;``) came out as "<b>", "&copy;" as
    "©", a literal "&nbsp;" as a space.  Escaped here, that second decoding gives back
    what the reader sees.  Script and style text stay as they are (JSON-LD is decoded
    by trafilatura on purpose); :func:`_with_lead` and the title fallback, which read
    the tree itself, decode it.
    """
    for element in tree.iter():
        # a comment's or processing instruction's own text is not the page's
        if element.text and "&" in element.text and element.tag not in _RAW_TEXT_TAGS \
                and isinstance(element.tag, str):
            element.text = element.text.replace("&", "&amp;")
        if element.tail and "&" in element.tail:
            element.tail = element.tail.replace("&", "&amp;")
    for meta in _META_CONTENT(tree):
        if "&" in (content := meta.get("content", "")):
            meta.set("content", content.replace("&", "&amp;"))


def _element_count(tree: HtmlElement | None) -> int:
    """Elements in the parsed page: what trafilatura's cost grows with."""
    return 0 if tree is None else sum(1 for _ in tree.iter())


def _declared_lang(tree: HtmlElement) -> str | None:
    """The language the page declares, verbatim (e.g. "de-DE"); never guessed from text.

    The author's own <html lang> comes first; meta tags are often site-wide templates.
    """
    candidates = [tree.get("lang"), tree.get("xml:lang"), *tree.xpath(_META_LANG_XPATH)]
    return next((str(v).strip() for v in candidates if v is not None and str(v).strip()), None)


def _run_trafilatura(tree: HtmlElement, url: str | None, cfg: ExtractConfig,
                     fast: bool) -> Document | None:
    """Call trafilatura with every clock-, network- and history-dependent option pinned.

    ``date_extraction_params`` replaces trafilatura's default, which sets ``max_date`` to
    today; ``original_date`` prefers the publication date over "last modified".  The tree
    is already parsed, so neither trafilatura nor htmldate ever treats input as a URL to
    fetch.  ``bare_extraction`` copies the tree, so ours stays intact.
    """
    doc = trafilatura.bare_extraction(
        tree,
        url=url,
        fast=fast,
        favor_precision=cfg.favor == "precision",
        favor_recall=cfg.favor == "recall",
        include_comments=cfg.include_comments,
        include_tables=cfg.include_tables,
        include_images=False,
        include_formatting=False,
        include_links=False,
        # a per-page cache, so deduplication never reaches across pages
        deduplicate=LRUCache(maxsize=4096) if cfg.deduplicate else False,
        with_metadata=True,
        date_extraction_params={
            "outputformat": _DATE_FORMAT,
            "extensive_search": cfg.date_text_search,
            "original_date": True,
            "max_date": cfg.latest_date,
        },
    )
    return doc if isinstance(doc, Document) else None


def _fill_from_document(result: Extracted, doc: Document | None) -> None:
    """Copy trafilatura's Document fields into ``result`` (``doc`` is None when nothing found)."""
    if doc is None:
        return
    result.title = _clean_line(doc.title)
    result.text = _as_lines(doc.text)
    found = _page_date(doc.date)
    result.published = None if found is None else normalise_published(found, result.flags)
    result.source = _declared_sitename(doc.sitename, doc.url)


def _with_lead(text: str, description: str | None, tree: HtmlElement) -> str:
    """Put back the article's lead (standfirst) when trafilatura dropped it.

    Leads often sit in the article header, outside the container trafilatura keeps.  The
    meta description is usually that lead; it is only trusted when the page also shows
    it as visible text (so SEO blurbs and site slogans, which are not displayed or are
    short, stay out) and only added to a page that has main text of its own.
    """
    lead = _clean_line(description)
    if not text or _columns(lead) < _MIN_LEAD_COLUMNS or lead in " ".join(text.split()):
        return text
    visible = _nfc(" ".join(unescape(" ".join(_VISIBLE_TEXT(tree))).split()))
    return f"{lead}\n{text}" if lead in visible else text


def _columns(text: str) -> int:
    """The width of ``text`` in columns: two for a wide (East Asian) character."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


# htmldate's output: the time and zone where the page gives them (a date alone comes
# out at midnight without a zone, see :func:`_page_date`).
_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


def _page_date(found: str | None) -> str | None:
    """The page's publication date as htmldate found it, a date alone when the page gave
    no time of day (midnight and no zone: htmldate's rendering of a bare date)."""
    if not found:
        return None
    return found[:10] if found.endswith("T00:00:00") else found


def _declared_sitename(sitename: str | None, page_url: str | None) -> str | None:
    """The site name the page states, or None when trafilatura only echoed the URL's host.

    The caller already has the URL; a host name dressed up as a site name would hide that
    the page named no publisher.
    """
    name = _clean_line(sitename)
    host = _URL_HOST.match(page_url or "")
    if not name or (host and name.lower() == host[1].lower()):
        return None
    return name


def _clean_line(value: str | None) -> str:
    """Collapse whitespace of a one-line field (titles often carry newlines and tabs)."""
    return _nfc(" ".join((value or "").split()))


def _as_lines(text: str | None) -> str:
    """One paragraph per line, without blank or whitespace-only lines."""
    lines = (" ".join(line.split()) for line in (text or "").splitlines())
    return _nfc("\n".join(line for line in lines if line))


def _nfc(value: str) -> str:
    """Canonical composition, so the same word typed two ways (e.g. Bengali U+09DF vs
    U+09AF U+09BC, "e" + combining accent vs "é") compares and hashes equal downstream."""
    return unicodedata.normalize("NFC", value)


def _silence_library_logs() -> None:
    """Keep routine reject messages of the extraction libraries out of the job log."""
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)


_silence_library_logs()
