"""Random secrets (API tokens, session cookies, sign-in links) and how they are stored.

Each secret is 32 random bytes, URL-safe base64. Only its SHA-256 hex digest is stored: a slow
password hash is pointless for a secret with 256 bits of entropy, and a fast one keeps token
checks cheap on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = [
    "MAX_SECRET_LENGTH",
    "TOKEN_PREFIX",
    "TOKEN_PREFIX_LENGTH",
    "digests_equal",
    "hash_secret",
    "new_secret",
    "new_token_secret",
]

TOKEN_PREFIX = "myd_"
"""Every API token starts with this, so leaked tokens are easy to recognise (and to scan for)."""
TOKEN_PREFIX_LENGTH = 8
"""Characters of a token's secret kept for display (``myd_`` and four random characters)."""
MAX_SECRET_LENGTH = 256
"""Longer strings are rejected before hashing: no secret modelyard issues is this long."""


def new_secret() -> str:
    """A fresh random secret: 32 bytes, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


def new_token_secret() -> str:
    """A fresh API token secret: ``myd_`` followed by 32 random bytes."""
    return TOKEN_PREFIX + new_secret()


def hash_secret(secret: str) -> str:
    """The stored form of a secret: its SHA-256 hex digest."""
    return hashlib.sha256(secret.encode()).hexdigest()


def digests_equal(a: str, b: str) -> bool:
    """Compare two digests in constant time."""
    return hmac.compare_digest(a.encode(), b.encode())
