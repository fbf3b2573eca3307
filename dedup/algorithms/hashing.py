"""Stable 64-bit hashes: equal in every process and run, unlike ``hash()``."""

from __future__ import annotations

from hashlib import blake2b
from typing import Literal


def hash64(data: bytes, byteorder: Literal["little", "big"] = "little") -> int:
    """The 8-byte blake2b digest of ``data`` as an unsigned integer (the byte order only
    picks which integer: keys made before this helper keep their values)."""
    return int.from_bytes(blake2b(data, digest_size=8).digest(), byteorder)


def text_bytes(text: str) -> bytes:
    """UTF-8 of any Python string, lone surrogates included (they occur in scraped text)."""
    return text.encode("utf-8", "surrogatepass")
