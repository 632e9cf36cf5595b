"""Accounts: users, roles per project, API tokens, web sessions and one-time sign-in links.

:class:`AccountService` is the one place where account rules live; the server authenticates
every request with it, and the CLI manages users and tokens through the backend.
"""

from __future__ import annotations

from modelyard.accounts._passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from modelyard.accounts._secrets import TOKEN_PREFIX, hash_secret
from modelyard.accounts._service import (
    BOOTSTRAP_ADMIN,
    MAX_TOKEN_DAYS,
    SESSION_TTL_SECONDS,
    SIGNIN_LINK_TTL_SECONDS,
    TOKEN_TOUCH_INTERVAL_SECONDS,
    AccountService,
    parse_role,
)

__all__ = [
    "AccountService",
    "BOOTSTRAP_ADMIN",
    "MAX_PASSWORD_LENGTH",
    "MAX_TOKEN_DAYS",
    "MIN_PASSWORD_LENGTH",
    "SESSION_TTL_SECONDS",
    "SIGNIN_LINK_TTL_SECONDS",
    "TOKEN_PREFIX",
    "TOKEN_TOUCH_INTERVAL_SECONDS",
    "hash_secret",
    "parse_role",
]
