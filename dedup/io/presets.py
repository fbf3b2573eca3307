"""Field mappings for the dump shapes people have, and the check, before any work, that
the mapping in use fits the records: a wrong mapping otherwise gives empty or
headline-only articles and exit 0.

A preset is only ever applied when asked (``--preset NAME``); a record shape that one
fits is named in the error message, never applied silently.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from dedup.io.discover import PARQUET_SUFFIXES, STDIN, InputError, InputFile
from dedup.io.read import DEFAULT_FIELDS, ReadConfig, sample_fields

# Record field -> input field, for the JSON that common scrapers write.  Fields a preset
# leaves out keep the default mapping.
PRESETS: dict[str, dict[str, str]] = {
    # news-please: one JSON object per article (its .json files).
    "news-please": {"title": "title", "text": "maintext", "url": "url",
                    "published": "date_publish", "source": "source_domain",
                    "lang": "language"},
    # trafilatura --json / extract(output_format="json"): "source" holds the URL.
    "trafilatura-json": {"id": "fingerprint", "title": "title", "text": "text",
                         "url": "source", "published": "date", "source": "hostname",
                         "lang": "language"},
    # The cc_news dataset (Hugging Face) and CCNet-like exports.
    "cc-news": {"title": "title", "text": "text", "url": "url", "published": "date",
                "source": "domain"},
}


# Records whose field names are checked against the mapping before the run starts.
SAMPLE_RECORDS = 100


def check_mapping(files: Sequence[InputFile], cfg: ReadConfig) -> None:
    """Refuse (InputError) a field mapping the first records show to be wrong: a field
    mapped away from its default that none of them has, or records with neither the
    text nor the html field that a preset would read.  Skipped with ``read.strict =
    false``, and when no record could be sampled (the run then says why it read none)."""
    if not cfg.strict:
        return
    seen, records, sampled = sample_fields(files, SAMPLE_RECORDS, cfg)
    if not records:
        return
    where = sample_place(records, sampled)
    missing = [(name, key) for name, key in cfg.fields.items()
               if key != DEFAULT_FIELDS.get(name) and key not in seen]
    if missing:
        name, key = missing[0]
        raise InputError(f"read.fields.{name} = {key!r}: no record has this field in "
                         f"{where} (fields seen: {fields_seen(seen)}){preset_hint(seen)}"
                         "; set read.strict = false to read anyway")
    if cfg.fields["text"] not in seen and cfg.fields["html"] not in seen and \
            (preset := fitting_preset(seen)):
        raise InputError(f"no record has a {cfg.fields['text']!r} or {cfg.fields['html']!r} "
                         f"field in {where} (fields seen: {fields_seen(seen)}), so every "
                         f"article would be its headline only; they look like {preset} "
                         f"records: add --preset {preset}, or set read.strict = false to "
                         "read them as they are")


def sample_place(records: int, sampled: Sequence[str]) -> str:
    """Where the fields were sampled, for a message: "the first 40 records of a.jsonl
    and 2 more files", or "the columns of a.parquet" (its columns are one record)."""
    first = "stdin" if sampled[0] == STDIN else sampled[0]
    more = f" and {len(sampled) - 1} more files" if len(sampled) > 1 else ""
    if all(InputFile(location).read_as.endswith(PARQUET_SUFFIXES) for location in sampled):
        return f"the columns of {first}{more}"
    return f"the first {records} record{'s' if records > 1 else ''} of {first}{more}"


def fitting_preset(seen: Counter[str]) -> str | None:
    """The preset that maps most of the fields seen, among those whose text field is
    there and that map more of them than the default mapping does; None if none is."""
    def score(fields: dict[str, str]) -> int:
        return sum(key in seen for key in set({**DEFAULT_FIELDS, **fields}.values()))

    baseline = score({})
    scores = {name: score(fields) for name, fields in PRESETS.items()
              if fields["text"] in seen and score(fields) > baseline}
    return max(scores, key=lambda name: scores[name], default=None)


def preset_hint(seen: Counter[str]) -> str:
    """"; they look like news-please records: add --preset news-please", or ""."""
    preset = fitting_preset(seen)
    return f"; they look like {preset} records: add --preset {preset}" if preset else ""


# Field names shown in a message at most.
SHOWN_FIELDS = 12


def fields_seen(seen: Counter[str]) -> str:
    """The most common field names of the sample, for a message."""
    names = [name for name, _ in seen.most_common(SHOWN_FIELDS)]
    more = len(seen) - len(names)
    return ", ".join(names) + (f" and {more} more" if more > 0 else "")
