"""Autologging for scikit-learn (placeholder until implemented)."""

from __future__ import annotations

__all__ = ["autolog"]


def autolog() -> None:
    """Enable autologging."""
    raise NotImplementedError
