"""Breached-password sources behind one interface (S2, ASVS 6.2.12). Both off by default.

- :class:`Sha1FileSource`: a local file of upper-case SHA-1 hashes, sorted, one per line,
  optionally followed by ``:count`` (the form Pwned Passwords downloads and Login.gov's
  list take). Looked up by binary search over the file, so a file of hundreds of
  megabytes costs a few reads, not memory.
- :class:`PwnedRangeSource`: the Pwned Passwords range API (k-anonymity: only the first
  five hex characters of the hash leave this machine, and responses are padded).

A source that cannot answer (file missing, network down) says "not breached" and logs a
warning: an outage of a third party must not stop people registering.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.request
from collections.abc import Sequence
from typing import BinaryIO, Protocol

log = logging.getLogger(__name__)


class BreachedPasswordSource(Protocol):
    def is_breached(self, password: str) -> bool:
        """True when the password is known to have appeared in a breach."""


def sha1_hex(password: str) -> str:
    # SHA-1 here is the corpus's lookup key, not a password store.
    return hashlib.sha1(password.encode("utf-8"), usedforsecurity=False).hexdigest().upper()


class Sha1FileSource:
    def __init__(self, path: str) -> None:
        self._path = path

    def is_breached(self, password: str) -> bool:
        try:
            with open(self._path, "rb") as handle:
                return _sorted_file_contains(handle, sha1_hex(password).encode("ascii"))
        except OSError:
            log.warning("breached-password file %s cannot be read", self._path)
            return False


def _hash_of_line(line: bytes) -> bytes:
    return line.split(b":", 1)[0].strip().upper()


def _line_after(handle: BinaryIO, offset: int) -> bytes:
    """The first whole line starting after ``offset`` (the first line for offset 0)."""
    handle.seek(offset)
    if offset:
        handle.readline()
    return handle.readline()


def _sorted_file_contains(handle: BinaryIO, wanted: bytes) -> bool:
    """Binary search a sorted file by byte offset; ``_line_after`` is monotone in the
    offset, so the smallest offset whose line is >= ``wanted`` holds it if any does."""
    handle.seek(0, os.SEEK_END)
    low, high = 0, handle.tell()
    while low < high:
        middle = (low + high) // 2
        line = _line_after(handle, middle)
        if not line or _hash_of_line(line) >= wanted:
            high = middle
        else:
            low = middle + 1
    return _hash_of_line(_line_after(handle, low)) == wanted


class PwnedRangeSource:
    def __init__(self, url: str, timeout: float) -> None:
        self._url = url
        self._timeout = timeout

    def is_breached(self, password: str) -> bool:
        digest = sha1_hex(password)
        prefix, suffix = digest[:5], digest[5:]
        request = urllib.request.Request(  # noqa: S310 - the URL is configuration, https by default
            self._url + prefix,
            headers={"Add-Padding": "true", "User-Agent": "Clef password check"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
                body = response.read().decode("ascii", "replace")
        except OSError:
            log.warning("Pwned Passwords range API did not answer; password not checked")
            return False
        for line in body.splitlines():
            candidate, _, count = line.partition(":")
            if candidate.strip().upper() == suffix and count.strip() not in ("", "0"):
                return True
        return False


class AnyOf:
    """Breached when any of the configured sources says so."""

    def __init__(self, sources: Sequence[BreachedPasswordSource]) -> None:
        self._sources = tuple(sources)

    def is_breached(self, password: str) -> bool:
        return any(source.is_breached(password) for source in self._sources)
