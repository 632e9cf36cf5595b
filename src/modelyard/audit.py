"""Append-only audit events, written by the services in every mode.

Every state change made through a service appends one :class:`~modelyard.entities.AuditEvent`
in the same transaction as the change itself, so the log can never disagree with the data: who
(the OS user in embedded mode, the authenticated user through the server), when, which object,
which action, and a short summary. No API updates or deletes an event.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass

__all__ = ["Caller", "local_caller"]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling a service, recorded on every audit event the call appends."""

    user: str
    request_id: str | None = None
    client_addr: str | None = None


def local_caller(user: str | None = None) -> Caller:
    """The caller of embedded mode: ``user`` if given, else the OS user."""
    if user:
        return Caller(user=user)
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        name = "unknown"
    return Caller(user=name)
