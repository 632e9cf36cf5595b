"""Answering "is this directory unchanged?" without opening the store: the CLI's fast path.

``modelyard data add DIR --name X`` on files that have not changed since the last add does no work
but must still say so quickly. This module lists the files, takes every digest from the stat cache,
computes the version digest and compares it with the newest version's, read from an embedded SQLite
store without SQLAlchemy or pydantic. Whenever it cannot be sure (a file the cache does not know, a
server or PostgreSQL store, an unreadable database) it answers ``None`` and the caller takes the
ordinary path, which gives the same answer the slow way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.data._digests import digest_of_entries, gc_paused
from modelyard.data._sources import is_dataframe, open_source
from modelyard.data._statcache import STAT_CACHE_FILE, StatCache
from modelyard.errors import InvalidInputError

if TYPE_CHECKING:
    from modelyard.settings import Settings

__all__ = ["unchanged_version"]


def unchanged_version(
    source: Any, name: str, *, settings: Settings, uri: str | None, project: str | None
) -> tuple[str, str, int] | None:
    """``(ref, digest, number of files)`` of the newest version of ``name`` when ``source`` equals it.

    ``None`` when the source differs, or when the answer needs the store opened the ordinary way.
    """
    from modelyard.store._datasets_probe import newest_dataset_version

    if is_dataframe(source) or not isinstance(source, str | os.PathLike):
        return None
    uri = uri or settings.uri
    if uri and uri.startswith(("http://", "https://")):
        return None
    try:
        location = settings.location(uri)
    except InvalidInputError:
        return None
    if not location.is_sqlite:
        return None
    db_path = location.db_url.removeprefix("sqlite:///")
    if not os.path.isfile(db_path):
        return None
    try:
        with open_source(source) as (files, _), StatCache(Path(settings.home).expanduser() / STAT_CACHE_FILE) as cache:
            with gc_paused():
                found = cache.lookup([(f.path, f.stat) for f in files])
                if cache.misses:
                    return None
                entries = sorted((f.rel, found[f.path], f.stat[0]) for f in files)
    except InvalidInputError:
        return None  # the ordinary path reports it
    newest = newest_dataset_version(db_path, project or settings.project, name)
    if newest is None or newest[1] != digest_of_entries(entries, ordered=True):
        return None
    return f"{name}@{newest[0]}", newest[1], len(entries)
