"""Parquet copies of the outputs (``write.parquet = true``; needs the extra 'parquet').

The JSONL files stay the primary output; their Parquet copies are made from them after
they are complete, in batches, with a fixed schema, so they hold exactly the same rows
and fields (a field absent from a JSONL row is null) and the same input and config give
the same bytes.  Each copy is written to a temporary name and renamed, like every output.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from dedup.io.outdir import CLUSTERS_FILE, KEPT_FILE, STORIES_FILE
from dedup.io.spool import atomic_file

# Rows per Parquet row group: bounds memory (texts are the bulk) and keeps groups useful
# for readers that skip by statistics.
BATCH_ROWS = 10_000

ARTICLES = pa.schema([
    ("id", pa.string()), ("title", pa.string()), ("text", pa.string()),
    ("lang", pa.string()), ("lang_confidence", pa.float64()),
    ("cluster_id", pa.string()), ("story_id", pa.string()), ("dup_group", pa.string()),
    ("duplicate_of", pa.string()),
    ("is_representative", pa.bool_()), ("url", pa.string()), ("source", pa.string()),
    ("published", pa.string()), ("flags", pa.list_(pa.string())),
])
REPRESENTATIVE = pa.struct([("id", pa.string()), ("title", pa.string()),
                            ("url", pa.string()), ("lead", pa.string())])
CLUSTERS = pa.schema([
    ("cluster_id", pa.string()), ("story_id", pa.string()), ("size", pa.int64()),
    ("unique", pa.int64()), ("languages", pa.map_(pa.string(), pa.int64())),
    ("first", pa.string()), ("last", pa.string()), ("representative", REPRESENTATIVE),
    ("top_terms", pa.list_(pa.string())),
    ("members", pa.list_(pa.struct([("id", pa.string()), ("title", pa.string()),
                                    ("source", pa.string()), ("published", pa.string()),
                                    ("similarity", pa.float64()),
                                    ("duplicate_of", pa.string())]))),
])
STORIES = pa.schema([
    ("story_id", pa.string()), ("size", pa.int64()), ("unique", pa.int64()),
    ("languages", pa.map_(pa.string(), pa.int64())), ("first", pa.string()),
    ("last", pa.string()), ("representative", REPRESENTATIVE),
    ("top_terms", pa.list_(pa.string())),
    ("events", pa.list_(pa.struct([("cluster_id", pa.string()), ("size", pa.int64()),
                                   ("first", pa.string()), ("last", pa.string()),
                                   ("title", pa.string()), ("source", pa.string()),
                                   ("published", pa.string())]))),
])
# What events and stories of a run with an index say besides (dedup.job.incremental):
# whether one continues an earlier one, and the earlier events an event joined.
CONTINUES = pa.field("continues", pa.bool_())
MERGED = pa.field("merged", pa.list_(pa.string()))


def parquet_copies(out_dir: Path, article_files: Sequence[Path], kept: bool = False,
                   continued: bool = False) -> None:
    """articles.parquet, clusters.parquet and stories.parquet from the finished JSONL
    outputs (the articles in one file or in parts), and kept.parquet with ``kept``;
    ``continued`` (a run with an index) adds the continuation fields."""
    clusters = CLUSTERS.append(CONTINUES).append(MERGED) if continued else CLUSTERS
    stories = STORIES.append(CONTINUES) if continued else STORIES
    jsonl_to_parquet(article_files, out_dir / "articles.parquet", ARTICLES)
    if kept:
        jsonl_to_parquet([out_dir / KEPT_FILE], out_dir / "kept.parquet", ARTICLES)
    jsonl_to_parquet([out_dir / CLUSTERS_FILE], out_dir / "clusters.parquet", clusters)
    jsonl_to_parquet([out_dir / STORIES_FILE], out_dir / "stories.parquet", stories)


def jsonl_to_parquet(sources: Sequence[Path], target: Path, schema: pa.Schema) -> None:
    """Copy JSONL files, in order, into a Parquet file of ``schema``, one row group per
    batch."""
    with atomic_file(target) as handle, pq.ParquetWriter(handle, schema) as writer:
        for rows in batches(sources):
            writer.write_table(pa.Table.from_pylist(rows, schema=schema))


def batches(sources: Sequence[Path]) -> Iterator[list[dict[str, Any]]]:
    """The rows of JSONL files, in order, ``BATCH_ROWS`` at a time."""
    rows: list[dict[str, Any]] = []
    for source in sources:
        with source.open("rb") as handle:
            for line in handle:
                rows.append(orjson.loads(line))
                if len(rows) == BATCH_ROWS:
                    yield rows
                    rows = []
    if rows:
        yield rows
