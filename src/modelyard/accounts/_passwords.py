"""Password rules and argon2id hashing (argon2-cffi's ``PasswordHasher``, RFC 9106 defaults)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from modelyard.errors import InvalidInputError

if TYPE_CHECKING:
    from argon2 import PasswordHasher

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "default_hasher",
    "validate_password",
    "verify_password",
]

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
"""Bounds the work a sign-in attempt can cause."""


@lru_cache(maxsize=1)
def default_hasher() -> PasswordHasher:
    """The shared argon2id hasher (thread-safe; its parameters are argon2-cffi's defaults)."""
    from argon2 import PasswordHasher

    return PasswordHasher()


def validate_password(password: object, user: str) -> str:
    """Check a new password: a string of 8 to 1024 characters without NUL.

    Raises:
        InvalidInputError: naming the password field and the rule.
    """
    if not isinstance(password, str) or not password:
        raise InvalidInputError(
            f"password for user {user!r} is required (at least {MIN_PASSWORD_LENGTH} characters); "
            "or create a service account, which signs in with API tokens only."
        )
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInputError(
            f"password for user {user!r} is too short: use at least {MIN_PASSWORD_LENGTH} characters."
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInputError(
            f"password for user {user!r} is longer than {MAX_PASSWORD_LENGTH} characters; use a shorter one."
        )
    if "\x00" in password:
        raise InvalidInputError(f"password for user {user!r} contains a NUL character; remove it.")
    return password


def verify_password(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash`` (any malformed hash is a mismatch)."""
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
