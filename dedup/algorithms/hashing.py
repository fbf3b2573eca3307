"""Stable 64-bit hashes: equal in every process and run, unlike ``hash()``."""

from __future__ import annotations

from hashlib import blake2b
from typing import Literal


def hash64(*parts: bytes, byteorder: Literal["little", "big"] = "little") -> int:
    """The 8-byte blake2b digest of the ``parts`` one after the other as an unsigned
    integer; given in parts, a large record is never copied whole (the byte order only
    picks which integer: keys made before this helper keep their values)."""
    digest = blake2b(digest_size=8)
    for part in parts:
        digest.update(part)
    return int.from_bytes(digest.digest(), byteorder)


def text_bytes(text: str) -> bytes:
    """UTF-8 of any Python string, lone surrogates included (they occur in scraped text)."""
    return text.encode("utf-8", "surrogatepass")
