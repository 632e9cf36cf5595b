"""Type aliases of model packages."""

from __future__ import annotations

from typing import TypeAlias

__all__ = ["FileManifest"]

FileManifest: TypeAlias = dict[str, tuple[str, int]]
"""A package's files: relative POSIX path -> ``(BLAKE3 hex digest, size in bytes)``."""
