"""Output formats: the articles.jsonl rows, the manifests' lines and members
(clusters.jsonl, stories.jsonl), and the indented JSON of report.json.

Rows are serialised with a fixed key order so that the same input and config always give
the same bytes, and pieced together from parts made where their data is (a row's text in
its chunk's worker, its placement once the clusters are known) without decoding them
again.  Every file is written to a temporary name and renamed into place
(:func:`~dedup.io.spool.atomic_file`), so a killed run never leaves a half-written
manifest that looks complete; ``report.json`` is renamed last and marks a finished run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from dedup.algorithms.hashing import hash64
from dedup.io.spool import atomic_file, json_bytes
from dedup.records import Record
from dedup.settings import setting

LEAD_CHARS = 300


@dataclass(frozen=True, slots=True)
class WriteConfig:
    """Outputs."""

    parquet: bool = setting(False, doc="""
        Also write articles.parquet, clusters.parquet and stories.parquet (needs the extra
        'parquet'): the same rows as the JSONL files, for tools that read Parquet; costs a
        second pass over the outputs and their size again on disk.""")
    article_parts: bool = setting(False, doc="""
        Write the articles as DIR/articles/part-NNNNNN.jsonl, one file per chunk written by the
        worker that finished it, instead of one DIR/articles.jsonl written by the main process:
        on a cluster every article's line otherwise travels back to the main process and through
        its disk (at 100M articles, about 20 minutes of the run). The parts, concatenated in
        name order, are articles.jsonl byte for byte; how many there are follows run.chunk_size.""")
    kept_only: bool = setting(False, doc="""
        Also write kept.jsonl: the articles.jsonl rows of the canonical articles only (one per
        duplicate group, copies left out), the deduplicated corpus for the next tool, and
        kept.parquet with write.parquet; costs their size again on disk.""")
    html: bool = setting(True, doc="""
        Also write report.html: one self-contained page (no network, no script) with the counts,
        rejects, languages, duplicates, the largest stories with their events and members, what
        the cleaner removed and the settings; a few MB at most, a second or two at a million
        articles.""")


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write one indented JSON document atomically."""
    with atomic_file(path) as handle:
        handle.write(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")


def group_id_for(canonical_ids: Iterable[str], prefix: str) -> str:
    """A cluster's ("c-") or story's ("s-") id from its canonical members' ids:
    independent of order and chunking."""
    joined = "\n".join(sorted(canonical_ids)).encode("utf-8")
    return f"{prefix}{hash64(joined, byteorder='big'):016x}"


@dataclass(slots=True)
class Placement:
    """Where one article ended up: its duplicate group and its cluster."""

    cluster_id: str
    story_id: str
    dup_group: str
    duplicate_of: str | None
    is_representative: bool


def article_row_parts(record: Record) -> tuple[bytes, bytes]:
    """A record's articles.jsonl row as the JSON before and after its placement fields.

    Written once the record is final and completed by :func:`placed_row` when its
    cluster is known, so the write pass never decodes and re-encodes the texts: that was
    most of its time.  Optional input fields appear only when they were given.
    """
    head = json_bytes({
        "id": record.id,
        "title": record.title,
        "text": record.text,
        "lang": record.lang,
        "lang_confidence": record.lang_confidence,
    })
    tail: dict[str, Any] = {name: value for name in ("url", "source", "published")
                            if (value := getattr(record, name))}
    if record.flags:
        tail["flags"] = record.flags
    return head[:-1], json_bytes(tail)[1:]


def placed_row(head: bytes, tail: bytes, placed: Placement) -> bytes:
    """The articles.jsonl line from :func:`article_row_parts` and the placement.

    Compact JSON objects join byte for byte: the line equals ``json_bytes`` of the
    whole row, keys in this order: id, title, text, lang, lang_confidence, cluster_id,
    story_id, dup_group, duplicate_of, is_representative, then url, source, published,
    flags.
    """
    middle = json_bytes({
        "cluster_id": placed.cluster_id,
        "story_id": placed.story_id,
        "dup_group": placed.dup_group,
        "duplicate_of": placed.duplicate_of,
        "is_representative": placed.is_representative,
    })[1:-1]
    return b"".join([head, b",", middle, b"}\n" if tail == b"}" else b"," + tail + b"\n"])


def row_fields(head: bytes, tail: bytes) -> dict[str, Any]:
    """The fields of a row kept as :func:`article_row_parts` (placement not included)."""
    return {**orjson.loads(head + b"}"), **orjson.loads(b"{" + tail)}


def cluster_description(row: dict[str, Any], top_terms: list[str]) -> bytes:
    """A cluster's (or story's) representative (from its articles.jsonl fields) and top
    terms, as the JSON members ``"representative":{...},"top_terms":[...]`` of its
    clusters.jsonl (stories.jsonl) line.

    Made in the write pass and spliced in by :func:`cluster_line`, so the manifest never
    decodes and re-encodes a lead.
    """
    representative = {"id": row["id"], "title": row["title"], "url": row.get("url"),
                      "lead": row["text"][:LEAD_CHARS]}
    return json_bytes({"representative": representative, "top_terms": top_terms})[1:-1]


def member_head(head: bytes, tail: bytes) -> bytes:
    """A row's member entry in the manifests, without its closing brace: id, title,
    source and published from :func:`article_row_parts`, so a cluster's members can be
    read without joining them back to articles.jsonl.

    Only the head's id and title are decoded, never the text: ``"text":`` cannot occur
    unescaped inside a JSON string, so its first occurrence is the key.
    """
    named = orjson.loads(head[:head.index(b',"text":')] + b"}")
    given = orjson.loads(b"{" + tail)
    return json_bytes({"id": named["id"], "title": named["title"],
                         "source": given.get("source"), "published": given.get("published")
                         })[:-1]


def member_entry(member: bytes, similarity: float, duplicate_of: str | None) -> bytes:
    """One clusters.jsonl member from its :func:`member_head`: the JSON object with
    ``similarity`` and ``duplicate_of`` after the head's fields."""
    return b"".join([member, b',"similarity":', orjson.dumps(similarity),
                     b',"duplicate_of":', json_bytes(duplicate_of), b"}"])


def cluster_line(head: dict[str, Any], description: bytes, members: bytes,
                 members_key: bytes = b"members") -> bytes:
    """One clusters.jsonl line: ``head`` (cluster_id, story_id, size, unique, languages,
    first, last), the :func:`cluster_description`, then the members, a JSON array (or
    one stories.jsonl line: its head, description, then its events under
    ``members_key``).

    Compact JSON objects join byte for byte: the line equals ``json_bytes`` of the
    whole row with its keys in that order.
    """
    return b"".join([json_bytes(head)[:-1], b",", description, b',"', members_key, b'":',
                     members, b"}\n"])
