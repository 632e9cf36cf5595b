"""Manifest digests and path checks that need only the standard library and BLAKE3.

The fast paths (re-adding an unchanged directory from the CLI) import this module, never pydantic.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import blake3

__all__ = ["digest_of_entries", "gc_paused", "is_plain_path"]

_SEGMENT = r"[A-Za-z0-9_\-=+,@ .]*[A-Za-z0-9_\-=+,@][A-Za-z0-9_\-=+,@ .]*"
_PLAIN = re.compile(f"{_SEGMENT}(?:/{_SEGMENT})*")
"""Paths of ordinary names (each segment holds more than dots and spaces): no traversal, no encoding."""
_PLAIN_MAX = 255


def digest_of_entries(entries: Iterable[tuple[str, str, int]], *, ordered: bool = False) -> str:
    """The version digest of ``(path, digest, size)`` tuples (``ordered``: already sorted by path).

    One ``path<TAB>digest<TAB>size<LF>`` line per file, sorted by path, hashed with BLAKE3.
    """
    lines = "".join(f"{path}\t{digest}\t{size}\n" for path, digest, size in (entries if ordered else sorted(entries)))
    return blake3.blake3(lines.encode()).hexdigest()


def is_plain_path(path: str) -> bool:
    """Whether ``path`` is a short relative path of ordinary names, valid as it is (no deeper check needed)."""
    return len(path) <= _PLAIN_MAX and _PLAIN.fullmatch(path) is not None


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a block allocates many objects that hold no cycles.

    Building a manifest of 10,000 files otherwise triggers collections that walk every live object
    (several times the cost of the building itself).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
