"""MinHash signatures, LSH grouping and canonical choice."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from datasketch import MinHash, MinHashLSH

from dedup.algorithms.arrays import unique_pairs
from dedup.algorithms.duplicates import (
    DedupConfig,
    SignatureArray,
    band_range_buckets,
    buckets_of,
    chunk_pair_equal_values,
    equal_values,
    find_duplicates,
    fingerprint,
    key_ranges,
    lsh_params,
    rank_of,
    save_sorted_band_keys,
    shingle_hash,
    shingles,
    to_lean_minhash,
)
from dedup.algorithms.tokens import documents, words

CFG = DedupConfig()
BASE = ("Officials said the new bridge over the river will open in the spring after two years "
        "of delays caused by flooding, rising costs and a dispute between the contractors.")


def test_signatures_are_bit_identical_to_datasketch() -> None:
    texts = [BASE, "Киев заявил о новых переговорах в Париже", "北京今天发布了新的经济数据", "one"]
    prints = fingerprint(documents([""] * len(texts), texts), CFG)
    for text, signature in zip(texts, prints.signatures, strict=True):
        reference = MinHash(num_perm=CFG.num_perm, seed=CFG.seed, hashfunc=shingle_hash,
                            scheme="affine32")
        for gram in shingles(words(text), CFG.shingle_size):
            reference.update(gram)
        assert np.array_equal(reference.hashvalues, signature)


def test_signatures_work_in_a_datasketch_lsh_index() -> None:
    edited = BASE.replace("new bridge", "new steel bridge")
    texts = [BASE, edited, "Something else entirely happened."]
    prints = fingerprint(documents(["", "", ""], texts), CFG)
    bands, rows = lsh_params(CFG)
    index = MinHashLSH(num_perm=CFG.num_perm, params=(bands, rows))
    for key, signature in zip("abc", prints.signatures, strict=True):
        index.insert(key, to_lean_minhash(signature, CFG))
    assert sorted(index.query(to_lean_minhash(prints.signatures[0], CFG))) == ["a", "b"]


def group(texts: list[str], ids: list[str], days: list[float] | None = None,
          cfg: DedupConfig = CFG) -> list[str]:
    """The canonical id of every text."""
    prints = fingerprint(documents([""] * len(texts), texts), cfg)
    found = find_duplicates(prints.exact, SignatureArray(prints.signatures, cfg),
                            prints.shingles, rank_of(ids),
                            np.array(days or [np.nan] * len(texts)),
                            np.array([len(t) for t in texts]), cfg)
    return [ids[i] for i in found.canonical]


def test_exact_near_and_distinct_articles() -> None:
    texts = [BASE, BASE.upper(), BASE.replace("two years", "almost two years"),
             "A completely different story about elections in a small mountain town last week."]
    assert group(texts, ["d", "c", "b", "a"]) == ["b", "b", "b", "a"]


def test_canonical_is_earliest_then_longest_then_smallest_id() -> None:
    texts = [BASE, BASE + " More text.", BASE]
    assert group(texts, ["x", "y", "z"], [20.0, 10.0, np.nan]) == ["y", "y", "y"]
    assert group(texts, ["x", "y", "z"]) == ["y", "y", "y"]
    assert group([BASE, BASE], ["q", "p"]) == ["p", "p"]


def test_grouping_does_not_depend_on_order() -> None:
    texts = [BASE, BASE.replace("spring", "summer"), "Other news entirely, nothing shared here."]
    ids = ["a", "b", "c"]
    forward = dict(zip(ids, group(texts, ids), strict=True))
    backward = dict(zip(ids[::-1], group(texts[::-1], ids[::-1]), strict=True))
    assert forward == backward


def invented_sentences(seed: int, count: int) -> list[str]:
    """Sentences of invented words (no two share a word 3-gram)."""
    rng = np.random.default_rng(seed)
    return [" ".join("".join(rng.choice(list("abdefgiklmnoprstuvz"), 6)) for _ in range(12))
            + "." for _ in range(count)]


def test_a_copy_cut_short_is_a_copy_of_the_article_it_is_most_like_only() -> None:
    """A wire story's lead (7 sentences), two outlets' versions that go on differently
    (6 more sentences each), and a copy cut to the lead: Jaccard about 0.54 with either
    version, contained in both.  It joins one of them; the versions stay apart."""
    lead = invented_sentences(1, 7)
    first = " ".join(lead + invented_sentences(2, 6))
    second = " ".join(lead + invented_sentences(3, 6))
    found = group([first, second, " ".join(lead)], ["a", "b", "c"])
    assert found[:2] == ["a", "b"] and found[2] in ("a", "b")
    without = DedupConfig(containment_min_jaccard=CFG.threshold)  # the rule adds nothing
    assert group([first, second, " ".join(lead)], ["a", "b", "c"], cfg=without) == \
        ["a", "b", "c"]


def test_a_page_of_two_wire_items_makes_neither_a_copy_of_the_other() -> None:
    """A digest holding two unrelated wire items whole (or a page that ran on into the
    next article) contains both; it must not join them into one group, while an original
    holding two cut versions of itself stays their original."""
    # each item is half the digest; cut versions below the threshold are only contained
    cfg = DedupConfig(threshold=0.8, containment_min_jaccard=0.3)
    item_a, item_c = " ".join(invented_sentences(4, 9)), " ".join(invented_sentences(5, 9))
    assert group([item_a, item_c, item_a + " " + item_c], ["a", "c", "digest"], cfg=cfg) == \
        ["a", "c", "digest"]
    story = invented_sentences(6, 16)  # cut to its head and to its end: both contained,
    cut = [" ".join(story), " ".join(story[:12]), " ".join(story[4:])]  # not alike
    assert group(cut, ["story", "head", "middle"], cfg=cfg) == ["story"] * 3


def invented_line(rng: np.random.Generator, words: int) -> str:
    """A line of invented words, capitalised like a headline or a name."""
    return " ".join("".join(rng.choice(list("abdefgiklmnoprstuvz"), 7)).capitalize()
                    for _ in range(words))


def test_copies_on_sites_with_other_furniture_are_found_by_their_paragraph() -> None:
    """A one-paragraph lead syndicated to four sites, each copy among short lines the
    cleaner left (a teaser with another headline, a byline, a caption: 3 to 10 words,
    different on each site): the copies share only the paragraph, so a signature of
    every line sees them about half alike.  An unrelated lead on the first site, with
    the same furniture as its copy, stays apart."""
    rng = np.random.default_rng(7)
    lead = " ".join(invented_sentences(8, 3))  # 36 words
    furniture = [[invented_line(rng, n) for n in (10, 3, 8)] for _ in range(4)]
    copies = ["\n".join([f[0], lead, *f[1:]]) for f in furniture]
    other = "\n".join([furniture[0][0], " ".join(invented_sentences(9, 3)), *furniture[0][1:]])
    ids = ["a", "b", "c", "d", "e"]
    assert group([*copies, other], ids) == ["a", "a", "a", "a", "e"]
    assert group([*copies, other], ids, cfg=DedupConfig(min_line_words=0)) == ids


def test_releases_sharing_only_a_long_disclaimer_are_not_copies() -> None:
    """Press releases of one sender: a few short lines of news each, then the same
    disclaimer of 36 words.  The disclaimer is the only paragraph but not most of a
    release: each is compared whole, and they stay apart."""
    rng = np.random.default_rng(13)
    disclaimer = " ".join(invented_sentences(21, 3))
    releases = ["\n".join([*(invented_line(rng, 9) for _ in range(3)), disclaimer])
                for _ in range(4)]
    assert group(releases, ["a", "b", "c", "d"]) == ["a", "b", "c", "d"]
    assert group(releases, ["a", "b", "c", "d"],
                 cfg=DedupConfig(min_paragraph_share=0)) == ["a", "a", "a", "a"]


def test_a_text_without_a_paragraph_is_compared_whole() -> None:
    """Short lines only (a list, a brief): every line goes into the signature."""
    rng = np.random.default_rng(11)
    brief = "\n".join(invented_line(rng, 6) for _ in range(6))
    prints = fingerprint(documents(["", ""], [brief, brief.replace("\n", " ")]), CFG)
    assert np.array_equal(prints.signatures[0], prints.signatures[1])
    assert prints.shingles[0] == 36 - CFG.shingle_size + 1


def test_headline_only_records_compare_titles() -> None:
    prints = fingerprint(documents(["Storm hits the coast", "Storm hits the coast",
                                    "Markets fall"], ["", "", ""]), CFG)
    assert prints.exact[0] == prints.exact[1] != prints.exact[2]


def test_empty_text_has_no_signature_and_no_group() -> None:
    prints = fingerprint(documents(["", ""], ["", ""]), CFG)
    assert (prints.exact == 0).all()
    found = find_duplicates(prints.exact, SignatureArray(prints.signatures, CFG),
                            prints.shingles, rank_of(["a", "b"]), np.array([np.nan, np.nan]),
                            np.array([0, 0]), CFG)
    assert list(found.canonical) == [0, 1]


CHUNKED = [BASE, BASE.replace("two years", "almost two years"), "", "short one",
           BASE.replace("bridge", "tunnel"), "Something else entirely happened today.",
           BASE.upper(), BASE + " Officials declined to comment."] * 3
CHUNK_BOUNDS = np.array([0, 7, 15, len(CHUNKED)])


def saved_per_chunk(folder: Path, name: str, per_chunk: Callable[[int, int], np.ndarray],
                    ) -> list[Path]:
    """One ``.npy`` file per chunk of CHUNKED, as the workers save them."""
    files = []
    for number, (start, stop) in enumerate(itertools.pairwise(CHUNK_BOUNDS.tolist())):
        files.append(folder / f"chunk-{number}-{name}.npy")
        np.save(files[-1], per_chunk(start, stop))
    return files


@pytest.mark.parametrize("ranges", [1, 3])
def test_band_shuffle_over_chunk_files_finds_the_in_memory_candidates(
        tmp_path: Path, ranges: int) -> None:
    """The job's LSH: tasks per band and key range, reading every chunk's sorted keys."""
    ids = [f"id-{i}" for i in range(len(CHUNKED))][::-1]
    prints = fingerprint(documents([""] * len(CHUNKED), CHUNKED), CFG)
    files = []
    for number, (start, stop) in enumerate(itertools.pairwise(CHUNK_BOUNDS.tolist())):
        files.append(tmp_path / f"chunk-{number}-bands.npy")
        save_sorted_band_keys(files[-1], prints.signatures[start:stop], CFG)
    id_rank = rank_of(ids)
    bands, _ = lsh_params(CFG)
    shuffled = distinct_pairs(np.concatenate([
        band_range_buckets(files, CHUNK_BOUNDS[:-1], band, key_range, 2).edges(id_rank)
        for band in range(bands) for key_range in key_ranges(ranges)]))
    in_memory = distinct_pairs(np.concatenate(list(
        SignatureArray(prints.signatures, DedupConfig(max_bucket_pairs=2)).band_pairs(id_rank))))
    assert len(in_memory) > 0 and np.array_equal(shuffled, in_memory)
    assert not np.isin(np.flatnonzero(prints.exact == 0), in_memory).any()


def distinct_pairs(pairs: np.ndarray) -> np.ndarray:
    """Each pair once, as (smaller, larger) rows in order."""
    return np.stack(unique_pairs(pairs[:, 0], pairs[:, 1], int(pairs.max()) + 1), axis=1)


def test_crowded_buckets_become_stars_around_the_smallest_id() -> None:
    keys = np.array([5, 9, 5, 5, 9, 7], dtype=np.uint64)
    buckets = buckets_of(keys, np.arange(6), max_pairs_size=2)
    assert buckets.pairs.tolist() == [[1, 4]] or buckets.pairs.tolist() == [[4, 1]]
    id_rank = np.array([3, 0, 2, 1, 4, 5])  # row 3 has the smallest id of bucket 5
    stars = sorted(map(sorted, buckets.edges(id_rank)[1:].tolist()))
    assert stars == [[0, 3], [2, 3]]


def test_key_ranges_cover_the_key_space_once() -> None:
    ranges = key_ranges(7)
    assert ranges[0][0] == 0 and ranges[-1][1] == (1 << 64) - 1
    assert all(last + 1 == first for (_, last), (first, _) in itertools.pairwise(ranges))


def test_pairs_compared_from_chunk_files_agree_with_the_signatures(tmp_path: Path) -> None:
    """The job's verification: tasks read only their pairs' rows from the chunk files."""
    signatures = fingerprint(documents([""] * len(CHUNKED), CHUNKED), CFG).signatures
    files = saved_per_chunk(tmp_path, "signatures", lambda start, stop: signatures[start:stop])
    rows = np.arange(len(CHUNKED))
    pairs = np.stack([np.repeat(rows, len(rows)), np.tile(rows, len(rows))], axis=1)[::-3]
    from_files = chunk_pair_equal_values(files, CHUNK_BOUNDS, pairs)
    expected = [(signatures[a] == signatures[b]).sum() for a, b in pairs.tolist()]
    assert from_files.tolist() == expected == equal_values(signatures, pairs, batch=7).tolist()
    assert {0, CFG.num_perm} < set(expected) and len(set(expected)) > 3


def test_empty_signature_rows_are_the_articles_without_content() -> None:
    """find_duplicates takes ``exact != 0`` for "has shingles"; both come from one length."""
    texts = ["", "one", "two words", BASE, "   ", "!!!"]
    prints = fingerprint(documents([""] * len(texts), texts), CFG)
    no_shingles = (prints.signatures == np.iinfo(np.uint32).max).all(axis=1)
    assert (no_shingles == (prints.exact == 0)).all() and no_shingles.sum() == 3
