"""A read-only look at an embedded SQLite store's newest dataset version, without SQLAlchemy.

``modelyard data add DIR`` on a directory that has not changed must answer faster than opening the
store would take (importing SQLAlchemy alone costs a few hundred milliseconds). This module reads one
row with the standard library's ``sqlite3``, read-only, and answers ``None`` whenever it cannot be
sure (no such file, a schema it does not know, a locked or damaged database): the caller then opens
the store the ordinary way. It never writes, so it can never leave the store half-changed.
"""

from __future__ import annotations

import os
import sqlite3
from urllib.parse import quote

__all__ = ["newest_dataset_version"]

_QUERY = """
SELECT v.version, v.digest
FROM dataset_versions AS v
JOIN datasets AS d ON d.id = v.dataset_id
JOIN projects AS p ON p.id = d.project_id
WHERE p.name = ? AND d.name = ? AND v.deleted_at IS NULL
ORDER BY v.version DESC
LIMIT 1
"""


def newest_dataset_version(db_path: str, project: str, name: str) -> tuple[int, str] | None:
    """``(version, digest)`` of the newest live version of dataset ``name`` in ``project``, or ``None``.

    ``None`` also when the database cannot be read for any reason: ask the store itself then.
    """
    if not os.path.isfile(db_path):
        return None
    try:
        conn = sqlite3.connect(f"file:{quote(db_path)}?mode=ro", uri=True, timeout=1.0)
    except (sqlite3.Error, OSError):
        return None
    try:
        row = conn.execute(_QUERY, (project, name)).fetchone()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    if row is None or not isinstance(row[0], int) or not isinstance(row[1], str):
        return None
    return int(row[0]), str(row[1])
