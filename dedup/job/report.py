"""report.json and what report.html shows beyond it: counts that prove every input
record is accounted for, timings, the configuration and versions, the cleaning report,
warnings about a run that looks like a mistake, and bounded samples (largest stories and
copy groups, size histograms, sources); also the one line that says which mode ran.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from dedup import __version__
from dedup.algorithms.boilerplate import Learned, Removals
from dedup.config import Config
from dedup.display import mode_kind, most_first
from dedup.engines.base import Engine
from dedup.io.discover import InputFile
from dedup.io.outdir import STORIES_FILE
from dedup.io.read import UNREADABLE
from dedup.job.checkpoint import versions
from dedup.job.corpus import Corpus
from dedup.job.events import Grouping
from dedup.job.htmlreport import HTML_LIMITS
from dedup.job.manifests import EventFacts, MemberEntries, MemberHeads
from dedup.job.tasks import AnalysedChunk, EmbeddedChunk, PreparedChunk


def build_report(files: Sequence[InputFile], notes: Sequence[str], corpus: Corpus,
                 grouping: Grouping, prepared: Sequence[PreparedChunk],
                 analysed: Sequence[AnalysedChunk], embedded: Sequence[EmbeddedChunk],
                 learned: Sequence[Learned],
                 wall: dict[str, float], total: float, engine: Engine,
                 cfg: Config, resumed: bool) -> dict[str, Any]:
    """Counts, timings, config and versions; checks that every input record is accounted for."""
    out = len(corpus.ids)
    reasons: Counter[str] = Counter()
    for counts in itertools.chain((p.rejected for p in prepared),
                                  (a.rejected for a in analysed)):
        reasons.update(counts)
    rejected = sum(reasons.values())
    flagged: Counter[str] = Counter()
    for chunk in analysed:
        flagged.update(chunk.flagged)
    records_in = sum(len(p.seqs) + sum(p.rejected.values()) for p in prepared)
    if records_in != out + rejected:
        raise RuntimeError(f"accounting error: {records_in} in, {out} out, {rejected} rejected")
    originals = grouping.dups.original_of_copies()
    sizes = Counter(grouping.label.tolist())
    cpu: Counter[str] = Counter()
    for seconds in [*(p.seconds for p in prepared), *(a.seconds for a in analysed),
                    *(e.seconds for e in embedded)]:
        cpu.update(seconds)
    return {
        "dedup_version": __version__,
        "inputs": [f.shown for f in files],
        "notes": list(notes),
        "counts": {
            "in": records_in,
            "out": out,
            "rejected": rejected,
            "rejected_by_reason": dict(sorted(reasons.items())),
            "flagged": dict(sorted(flagged.items())),
            "duplicates": originals.size,
            "exact_duplicate_pairs": grouping.dups.exact_pairs,
            "near_duplicate_pairs": grouping.dups.near_pairs,
            "dup_groups_with_copies": np.unique(originals).size,
            "clusters": len(sizes),
            "clusters_with_several_articles": sum(1 for s in sizes.values() if s > 1),
            "stories": len(grouping.story_ids),
            "stories_with_several_events": int(np.count_nonzero(
                np.bincount(grouping.story_of, minlength=len(grouping.story_ids)) > 1)),
            "languages": dict(sorted(Counter(corpus.langs).items())),
        },
        "cleaning": cleaning_report(analysed, learned),
        "seconds": {
            "total": round(total, 3),
            "wall_by_step": {k: round(v, 3) for k, v in wall.items()},
            "cpu_by_stage": {k: round(v, 3) for k, v in sorted(cpu.items())},
        },
        "articles_per_second": round(records_in / total, 1) if total else None,
        "resumed": resumed,
        "chunks_reused": {"read": sum(p.reused for p in prepared),
                          "analyse": sum(a.reused for a in analysed),
                          "embed": sum(e.reused for e in embedded)},
        "mode": mode_kind(cfg.embed.model),
        "engine": engine_facts(engine),
        "config": cfg.to_dict(),
        "versions": versions(),
    }


def run_warnings(counts: dict[str, Any],
                 examples: dict[str, list[dict[str, Any]]]) -> list[str]:
    """What the user must hear about a run that looks like a mistake rather than a dump
    with some bad records: no article at all, more than half of the records rejected
    for one reason (a wrong field mapping or format reads as ``empty`` or
    ``malformed_json`` everywhere), with the first such reject's ``file:line``, or more
    than half of the articles with a date in a form not read (``bad_published``)
    (``examples``: the first rejects of each reason, from
    :func:`~dedup.job.htmlreport.reject_examples`)."""
    records_in = counts["in"]
    if not records_in:
        return ["no article: the inputs hold no record"]
    warnings = [unread_files_warning(count, examples[reason]) if reason == UNREADABLE else
                f"{count} of {records_in} records ({count / records_in:.0%}) were rejected "
                f"as {reason} (e.g. {examples[reason][0]['origin']})"
                for reason, count in warned_reasons(counts).items()]
    if not counts["out"]:
        warnings.insert(0, f"no article: all {records_in} records were rejected "
                           "(see rejects.jsonl)")
    if unmapped := counts["flagged"].get("default_field_unread", 0):
        warnings.append(f"{unmapped} of {counts['out']} articles have no field where "
                        "read.fields says to look, but one under its default name, which was "
                        "not read (flag default_field_unread): is the mapping right for "
                        "every file?")
    unread = counts["flagged"].get("bad_published", 0)
    if unread * 2 > counts["out"]:
        warnings.append(f"{unread} of {counts['out']} articles ({unread / counts['out']:.0%}) "
                        "have a published date that could not be read (flag bad_published): "
                        "they are clustered without a time window; the README's Input "
                        "section lists the forms read")
    return warnings


def warned_reasons(counts: dict[str, Any]) -> dict[str, int]:
    """The reject reasons a run warns about: each more than half of the records, and
    files not read to their end (a reject each, however few)."""
    return {reason: count for reason, count in counts["rejected_by_reason"].items()
            if count * 2 > counts["in"] or reason == UNREADABLE}


# How a compressed stream says its checksum failed (gzip: "CRC check failed"; zstd, xz).
_CHECKSUM_FAILED = re.compile(r"crc|checksum", re.IGNORECASE)


def unread_files_warning(count: int, examples: Sequence[dict[str, Any]]) -> str:
    """Files whose reading broke off: their records before the break were read.  A
    compressed file checks its checksum only at its end, so when that failed its
    records may be garbled: that is said too."""
    first = examples[0]
    said = (f"{count} input file{'s' if count > 1 else ''} could not be read to the end "
            f"(e.g. {first['origin']}: {first['detail']}); the records before the break "
            "were read")
    if any(_CHECKSUM_FAILED.search(example["detail"]) for example in examples):
        said += (": a compressed file's checksum is checked at its end only, so a file "
                 "whose checksum failed may have given garbled records")
    return said


# Learned patterns the report lists (overall and per source), and sources it shows.
REPORT_TOP_PATTERNS = 20


REPORT_MAX_SOURCES = 1000


def cleaning_report(analysed: Sequence[AnalysedChunk],
                    learned: Sequence[Learned]) -> dict[str, object]:
    """What the cleaner removed: lines by the rules and by learned patterns, the
    patterns that removed most, and the same per source."""
    removals = Removals.empty()
    for chunk in analysed:
        removals.merge(chunk.removals)
    return removals.summary(sum(len(part.keys) for part in learned), REPORT_TOP_PATTERNS,
                            REPORT_MAX_SOURCES)


def engine_facts(engine: Engine) -> dict[str, Any]:
    """The engine as the report names it: its class and number of workers."""
    return {"name": type(engine).__name__, "workers": getattr(engine, "workers", None)}


def report_samples(out_dir: Path, corpus: Corpus, grouping: Grouping, events: EventFacts,
                   members: MemberEntries, sources: dict[str, list[int]]) -> dict[str, Any]:
    """What the HTML report shows beyond report.json, bounded whatever the run's size:
    the largest stories (their first lines in stories.jsonl) with their events and those
    events' best members, the largest copy groups, the distribution of event and story
    sizes, and the sources with most articles with their copies."""
    limits = HTML_LIMITS
    canonical = grouping.dups.canonical
    with (out_dir / STORIES_FILE).open("rb") as lines:
        stories = [orjson.loads(line) for line in itertools.islice(lines, limits.stories)]
    for story in stories:
        story["events_total"] = len(story["events"])
        story["events"] = story["events"][:limits.events]
    shown = {event["cluster_id"] for story in stories for event in story["events"]}
    label_of = {cluster_id: lab for lab, cluster_id in enumerate(grouping.cluster_ids)
                if cluster_id in shown}
    rows, bounds = events.members, events.starts
    for story in stories:
        for event in story["events"]:
            lab = label_of[event["cluster_id"]]
            best = rows[bounds[lab]:min(bounds[lab + 1], bounds[lab] + limits.members)]
            event["members"] = [orjson.loads(members[row]) for row in best.tolist()]
    story_sizes = np.bincount(grouping.story_of, minlength=len(grouping.story_ids))
    copy_groups = largest_copy_groups(corpus, canonical, members.heads)
    return {"stories": stories, "copy_groups": copy_groups,
            "event_sizes": size_histogram(np.asarray(events.size, dtype=np.int64)),
            "story_events": size_histogram(story_sizes),
            "sources": [[name, *sources[name]] for name in sorted(
                sources, key=lambda name: (-sources[name][0], name))[:limits.sources]],
            "sources_total": len(sources)}


def largest_copy_groups(corpus: Corpus, canonical: np.ndarray,
                        heads: MemberHeads) -> list[dict[str, Any]]:
    """The duplicate groups with most copies: the canonical's head, the group's size and
    the sources of its copies (from at most ``HTML_LIMITS.copies`` of them)."""
    sizes = np.bincount(canonical, minlength=canonical.size)
    shown = HTML_LIMITS.copy_groups
    smallest = np.partition(sizes, -shown)[-shown] if sizes.size > shown else 0
    candidates = np.flatnonzero(sizes >= max(2, smallest))
    order = sorted(candidates.tolist(), key=lambda row: (-sizes[row], corpus.ids[row]))
    groups = []
    for row in order[:shown]:
        copies = np.flatnonzero(canonical == row)
        copies = copies[copies != row][:HTML_LIMITS.copies]
        copy_sources = Counter(heads.fields(c)["source"] or "" for c in copies.tolist())
        groups.append({**heads.fields(row), "size": int(sizes[row]),
                       "copy_sources": dict(most_first(copy_sources))})
    return groups


def size_histogram(sizes: np.ndarray) -> list[list[Any]]:
    """``[label, count]`` of sizes in bins 1, 2, 3-4, 5-8... (powers of two), up to the
    largest size."""
    if not sizes.size:
        return []
    edges = [1, 2, 3]
    while edges[-1] <= sizes.max():
        edges.append(2 * edges[-1] - 1)
    counts = np.histogram(sizes, bins=edges)[0].tolist()
    return [[str(lo) if hi - 1 == lo else f"{lo}-{hi - 1}", count]
            for lo, hi, count in zip(edges, edges[1:], counts, strict=False)]
