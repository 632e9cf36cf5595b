"""Where a run comes from: the entry point and, inside a git checkout, the commit.

Git metadata is read from ``.git`` files directly (no subprocess), so starting a run stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["detect_source"]


def detect_source() -> tuple[str | None, str | None]:
    """Return ``(entry point, git commit)`` for the running program (either may be ``None``)."""
    entry = sys.argv[0] if sys.argv and sys.argv[0] else None
    if entry in ("-c", "-m", ""):
        entry = None
    start = Path(entry).resolve().parent if entry and Path(entry).exists() else Path.cwd()
    return entry, _git_commit(start)


def _git_commit(start: Path) -> str | None:
    for directory in (start, *start.parents):
        git = directory / ".git"
        if git.is_file():  # a worktree or submodule: "gitdir: <path>"
            text = git.read_text(errors="replace").strip()
            if text.startswith("gitdir:"):
                git = (directory / text.removeprefix("gitdir:").strip()).resolve()
        if git.is_dir():
            return _resolve_head(git)
    return None


def _resolve_head(git: Path) -> str | None:
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head or None
        ref = head.removeprefix("ref:").strip()
        common = git
        if (git / "commondir").is_file():
            common = (git / (git / "commondir").read_text().strip()).resolve()
        for base in (git, common):
            loose = base / ref
            if loose.is_file():
                return loose.read_text().strip() or None
        packed = common / "packed-refs"
        if packed.is_file():
            for line in packed.read_text().splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[1] == ref:
                    return parts[0]
    except OSError:
        return None
    return None  # a branch with no commits yet
