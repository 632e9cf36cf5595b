"""The stat cache: digests of local files, so files unchanged since the last add are not hashed again.

As git's index does, an entry is keyed by the file's absolute path and trusted only while the file's
size, modification time (ns) and inode are unchanged. A file modified within the same clock tick as
it was hashed could keep all three ("racily clean" in git's words), so an entry whose mtime is not
safely older than the moment it was hashed is not trusted: such files are hashed again next time,
and cached for good once they are old enough.

The cache is one SQLite file (``statcache.db`` in the client's home, ``MODELYARD_HOME``) written with
the standard library's ``sqlite3``; it is a cache, so any problem with it (unwritable, corrupt)
degrades to hashing, never to an error.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = ["FileStat", "RACY_MARGIN_NS", "STAT_CACHE_FILE", "StatCache", "file_stat", "now_ns"]

STAT_CACHE_FILE = "statcache.db"
"""The stat cache's file name in the client's home (``MODELYARD_HOME``)."""

RACY_MARGIN_NS = 2_000_000_000
"""An entry is trusted only if the file's mtime is this much older than when it was hashed
(filesystems with coarse timestamps round to up to 2 s)."""

_COLUMNS = "path, size, mtime_ns, inode, digest, hashed_ns"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS stat_cache (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    digest TEXT NOT NULL,
    hashed_ns INTEGER NOT NULL
) WITHOUT ROWID
"""

FileStat = tuple[int, int, int]
"""``(size, mtime_ns, inode)`` of a file."""


def file_stat(st: os.stat_result) -> FileStat:
    """The part of a stat result the cache keys on."""
    return (st.st_size, st.st_mtime_ns, st.st_ino)


class StatCache:
    """Digests of files by ``(path, size, mtime_ns, inode)``; counts its hits and misses.

    Attributes:
        hits: Lookups answered from the cache since it was opened.
        misses: Lookups that need hashing.
    """

    def __init__(self, path: Path | None) -> None:
        """Open (creating) the cache file at ``path``; ``None`` or an unusable file gives an empty cache."""
        self.path = path
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(path, timeout=5, check_same_thread=False, isolation_level=None)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")  # a cache: losing the last writes costs a re-hash only
                db.execute(_SCHEMA)
                self._db = db
            except (OSError, sqlite3.Error):
                self._db = None

    def lookup(self, files: Sequence[tuple[str, FileStat]]) -> dict[str, str]:
        """The cached digests of those ``(absolute path, stat)`` pairs whose entry is still valid."""
        found: dict[str, str] = {}
        if self._db is not None and files:
            wanted = dict(files)
            try:
                with self._lock:
                    rows = self._rows(list(wanted))
            except sqlite3.Error:
                rows = []
            for path, size, mtime_ns, inode, digest, hashed_ns in rows:
                stat = wanted.get(path)
                if stat == (size, mtime_ns, inode) and mtime_ns < hashed_ns - RACY_MARGIN_NS:
                    found[path] = digest
        self.hits += len(found)
        self.misses += len(files) - len(found)
        return found

    def _rows(self, paths: list[str]) -> list[tuple[str, int, int, int, str, int]]:
        assert self._db is not None
        if len(paths) > 200:
            # Many files share a directory: one range scan over the common prefix beats many lookups
            # (the smallest and the largest path share the prefix of them all).
            prefix = os.path.commonprefix([min(paths), max(paths)])
            if len(prefix) > 1:
                upper = prefix + "\U0010ffff"
                rows = self._db.execute(
                    f"SELECT {_COLUMNS} FROM stat_cache WHERE path >= ? AND path < ?",
                    (prefix, upper),
                ).fetchall()
                return list(rows)
        out: list[tuple[str, int, int, int, str, int]] = []
        for start in range(0, len(paths), 500):
            chunk = paths[start : start + 500]
            marks = ",".join("?" * len(chunk))
            out.extend(
                self._db.execute(
                    f"SELECT {_COLUMNS} FROM stat_cache WHERE path IN ({marks})",
                    chunk,
                ).fetchall()
            )
        return out

    def store(self, entries: Iterable[tuple[str, FileStat, str, int]]) -> None:
        """Remember ``(absolute path, stat, digest, hashed_ns)`` entries (``hashed_ns``: when hashing began)."""
        if self._db is None:
            return
        rows = [(path, size, mtime, inode, digest, hashed) for path, (size, mtime, inode), digest, hashed in entries]
        if not rows:
            return
        with contextlib.suppress(sqlite3.Error), self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany("INSERT OR REPLACE INTO stat_cache VALUES (?, ?, ?, ?, ?, ?)", rows)
                self._db.execute("COMMIT")
            except sqlite3.Error:
                self._db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        """Close the cache file."""
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None

    def __enter__(self) -> StatCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def now_ns() -> int:
    """The wall-clock time in nanoseconds, comparable with file mtimes."""
    return time.time_ns()
