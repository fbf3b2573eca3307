"""Compressed inputs, by suffix: gzip, bzip2 and xz from the standard library, Zstandard
through ``zstandard``.  Every text format may be compressed (``dump.json.zst``,
``page.html.gz``); the reader streams the decompressed bytes in blocks, so a small
file that inflates to gigabytes is never held whole.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zlib
from typing import IO, Any, cast

import zstandard

COMPRESSION_SUFFIXES = (".gz", ".bz2", ".xz", ".zst")


# What reading a damaged or truncated compressed file raises: the reader turns each
# into an ``unreadable_file`` reject after the records read before it.
READ_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError, zstandard.ZstdError)


def without_compression(name: str) -> str:
    """A file name without its compression suffix: ``a.json.zst`` -> ``a.json``."""
    for suffix in COMPRESSION_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


# The first bytes of each compressed format, for streams, whose name says nothing.
MAGIC_NUMBERS = ((b"\x1f\x8b", ".gz"), (b"BZh", ".bz2"), (b"\xfd7zXZ\x00", ".xz"),
                 (b"\x28\xb5\x2f\xfd", ".zst"))


def decompressed(raw: IO[bytes], name: str, sniff: bool = False) -> IO[bytes]:
    """The decompressed bytes of ``raw``, by the compression suffix of ``name`` (none:
    ``raw`` itself), or with ``sniff`` (stdin, a pipe: ``cat dump.jsonl.gz | dedup run
    -``) by its first bytes.  Closing the result leaves ``raw`` open."""
    name = name.lower()
    if sniff and without_compression(name) == name:
        name += sniffed_suffix(raw)
    if name.endswith(".gz"):
        return cast(IO[bytes], gzip.open(raw))
    if name.endswith(".bz2"):
        return bz2.open(raw)
    if name.endswith(".xz"):
        return lzma.open(raw)
    if name.endswith(".zst"):
        return io.BufferedReader(ZstdFrames(raw))
    return raw


def sniffed_suffix(raw: IO[bytes]) -> str:
    """The compression suffix ``raw``'s first bytes show ("" for none), read without
    consuming them (``raw`` must be buffered: it is peeked at)."""
    peek = getattr(raw, "peek", None)
    head = peek(8)[:8] if peek is not None else b""
    return next((suffix for magic, suffix in MAGIC_NUMBERS if head.startswith(magic)), "")


# Compressed bytes given to the Zstandard decoder at a time.  Its output per call is
# not bounded, only its ratio (at most about 32,768 to 1 for run-length blocks): 2 KiB
# in is at most 64 MiB out, from a crafted file; real text inflates 3 to 10 times.
ZSTD_FEED_BYTES = 2048


class ZstdFrames(io.RawIOBase):
    """A stream of Zstandard frames, decoded by ``zstandard``.

    Its own ``stream_reader`` ends quietly when the input stops inside a frame, which
    would drop a truncated download's last records without a word; this says so with
    an EOFError, as gzip, bzip2 and xz do.
    """

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__()
        self.raw = raw
        self.decoder = zstandard.ZstdDecompressor()
        self.frame: Any = None  # the frame being decoded
        self.pending = b""  # decoded bytes, read up to ``offset``
        self.offset = 0

    def readable(self) -> bool:
        """It is."""
        return True

    def readinto(self, buffer: Any) -> int:
        """The next decoded bytes; 0 at the end of the last whole frame."""
        while self.offset == len(self.pending):
            compressed = self.raw.read(ZSTD_FEED_BYTES)
            if not compressed:
                if self.frame is not None and not self.frame.eof:
                    raise EOFError("the Zstandard stream ends inside a frame (truncated)")
                return 0
            self.pending, self.offset = self.decoded(compressed), 0
        size = min(len(buffer), len(self.pending) - self.offset)
        buffer[:size] = self.pending[self.offset: self.offset + size]
        self.offset += size
        return size

    def decoded(self, compressed: bytes) -> bytes:
        """What ``compressed`` decodes to, across frame boundaries."""
        parts = []
        while compressed:
            if self.frame is None or self.frame.eof:
                self.frame = self.decoder.decompressobj()
            parts.append(self.frame.decompress(compressed))
            compressed = self.frame.unused_data if self.frame.eof else b""
        return b"".join(parts)
