"""HTML markup left inside text fields: tags dropped, character references decoded.

Dumps often store a body or a headline as an HTML fragment (a CMS export's ``<p>``
paragraphs, a feed's ``<i>Mean Girls</i>`` headline, ``Beyonc&#233;``).  Read as plain text,
``&#233;`` splits a name into ``beyonc`` and ``233``, tags become terms, and a copy stored
with markup no longer looks like its plain twin.  Whole pages go to the ``html`` field and
through extraction (:mod:`dedup.stages.extract`); this handles what arrives as text.

Only what is unmistakably markup is touched: tags of HTML's own elements (``<p>``,
``</em>``, ``<br/>``, ``<a href=...>``), comments, and character references closed by
``;`` (named ones only if HTML defines the name).  ``a < b``, ``I <3 NY``, ``<Name>``,
``AT&T`` and ``R&D`` stay as they are.
"""

from __future__ import annotations

import html
import re
from html.entities import html5

# Elements whose tags end a line: a paragraph, a list item, a heading...
_BLOCK = ("address article aside blockquote body br caption center col colgroup dd details "
          "div dl dt fieldset figcaption figure footer form h1 h2 h3 h4 h5 h6 head header hr "
          "html legend li main menu nav ol p pre section summary table tbody td tfoot th "
          "thead tr ul")
# Elements whose tags sit inside a line: removed with nothing in their place, so
# ``Beyonc<b>é</b>`` stays one word (empty ones, such as <input> or <meta>, too).
INLINE_ELEMENTS = ("a abbr area b bdi bdo big cite code data del dfn em embed font i img "
                   "input ins kbd label link map mark meta meter nobr optgroup option output "
                   "param picture progress q rp rt ruby s samp small source span strike "
                   "strong sub sup time track tt u var wbr")
# Elements whose content is not text a reader sees: code, styles, and what a page shows
# in their place (a player, a frame, a drawing, a form's controls and their labels).
_HIDDEN = ("script style noscript template iframe object canvas svg audio video select "
           "textarea button title dialog")
# A namespaced tag (``<fb:like ...>``, ``<o:p>``): a CMS's or a plug-in's, never HTML's.
_NAMESPACED_TAG = re.compile(r"</?[A-Za-z][\w-]*:[\w.-]+(?:\s[^<>]*)?/?>")


def _tag(names: str) -> str:
    return rf"</?(?:{'|'.join(names.split())})(?:\s[^<>]*)?/?>"


_BLOCK_TAG = re.compile(_tag(_BLOCK), re.IGNORECASE)
_INLINE_TAG = re.compile(_tag(INLINE_ELEMENTS), re.IGNORECASE)
# The start of a comment or of a hidden element; its end is searched for from there (_END).
_HIDDEN_START = re.compile(rf"<!--|<({'|'.join(_HIDDEN.split())})(?:\s[^<>]*)?>", re.IGNORECASE)
_REFERENCE = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


def without_markup(text: str, line_break: str = "\n") -> str:
    """``text`` with HTML tags, comments and hidden elements removed (a block element's
    tag becomes ``line_break``) and character references decoded (``&amp;`` -> ``&``,
    ``&#8217;`` -> ``'``, ``&nbsp;`` -> a no-break space, which cleaning makes a space).

    Tags go before references are decoded, so ``&lt;p&gt;`` (a text about a tag) keeps
    its ``<p>``.  The quick substring tests spare text without markup the regex scans.
    """
    if "<" in text:
        text = _without_hidden(text)
        text = _BLOCK_TAG.sub(line_break, text)
        text = _INLINE_TAG.sub("", text)
        text = _NAMESPACED_TAG.sub("", text)
    if "&" in text:
        text = _REFERENCE.sub(_decoded, text)
    return text


def _decoded(found: re.Match[str]) -> str:
    """A numeric reference or a named one HTML defines, decoded; any other ``&word;``
    as it is (``html.unescape`` would decode a name's legacy prefix: ``&amplifier;`` ->
    ``&lifier;``)."""
    reference = found.group(0)
    if reference[1] != "#" and reference[1:] not in html5:
        return reference
    return html.unescape(reference)


def _without_hidden(text: str) -> str:
    """``text`` without comments and hidden elements (from their start to their end).

    A start without an end stays as it is: ``<script>`` in a text about code must not
    take the rest of the article along.  An end missing once is missing for every later
    start, so it is remembered: no input makes this quadratic (a lazy regex rescanned
    the text after every unclosed ``<!--``)."""
    parts: list[str] = []
    start = position = 0
    unclosed: set[str] = set()
    while found := _HIDDEN_START.search(text, position):
        name = (found.group(1) or "").lower()
        ended = None if name in unclosed else _END[name].search(text, found.end())
        if ended is None:
            unclosed.add(name)
            position = found.end()
            continue
        parts.append(text[start : found.start()])
        start = position = ended.end()
    parts.append(text[start:])
    return "".join(parts)


# What ends a comment ("") and each hidden element: its end tag, to its ">" if it has one.
_END = {"": re.compile("-->"), **{name: re.compile(rf"</{name}(?:[^<>]*>)?", re.IGNORECASE)
                                  for name in _HIDDEN.split()}}
