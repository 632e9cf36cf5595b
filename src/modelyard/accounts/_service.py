"""The account service: users, roles, API tokens, web sessions and one-time sign-in links.

The one place where account rules live: name and password validation, argon2id password
hashes, hashed random secrets (never stored, never logged), expiry and revocation, the roles a
user has in a project, and the first admin of a fresh server. Every change appends an audit
event in the same transaction. The service decides who a caller *is*; which calls a caller *may*
make (a global admin manages users, a project admin its members) is decided by the front door
that knows the authenticated user, with :meth:`AccountService.role_for`.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from modelyard.accounts._passwords import (
    MAX_PASSWORD_LENGTH,
    default_hasher,
    validate_password,
    verify_password,
)
from modelyard.accounts._secrets import (
    MAX_SECRET_LENGTH,
    TOKEN_PREFIX,
    TOKEN_PREFIX_LENGTH,
    digests_equal,
    hash_secret,
    new_secret,
    new_token_secret,
)
from modelyard.audit import Caller
from modelyard.entities import ApiToken, Membership, Role, User, ms_to_datetime
from modelyard.errors import AuthenticationError, ConflictError, InvalidInputError
from modelyard.names import validate_name

if TYPE_CHECKING:
    from argon2 import PasswordHasher

    from modelyard.store.sql import SqlStore, StoreTx

__all__ = [
    "AccountService",
    "BOOTSTRAP_ADMIN",
    "MAX_TOKEN_DAYS",
    "SESSION_TTL_SECONDS",
    "SIGNIN_LINK_TTL_SECONDS",
    "TOKEN_TOUCH_INTERVAL_SECONDS",
    "parse_role",
]

SESSION_TTL_SECONDS = 12 * 3600
"""Lifetime of a web session (fixed, not sliding)."""
SIGNIN_LINK_TTL_SECONDS = 900
"""Lifetime of a one-time sign-in link."""
TOKEN_TOUCH_INTERVAL_SECONDS = 60
"""A token's last-used time is written at most this often, not on every request."""
MAX_TOKEN_DAYS = 3650
BOOTSTRAP_ADMIN = "admin"
"""Name of the global admin created on a server's first start."""

_BAD_LOGIN = "invalid user name or password"
_BAD_TOKEN = "invalid API token: check MODELYARD_TOKEN, or create one with `modelyard tokens create`"
_BAD_SESSION = "your session has expired or you signed out; sign in again"
_BAD_LINK = "this sign-in link is invalid, expired or already used; ask an administrator for a new one"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _iso(ms: int | None) -> str | None:
    value = ms_to_datetime(ms)
    return None if value is None else value.isoformat()


def _disabled(name: str) -> AuthenticationError:
    return AuthenticationError(
        f"user {name!r} is disabled; ask an administrator to enable it (`modelyard users enable {name}`)."
    )


@lru_cache(maxsize=4)
def _dummy_hash(hasher: PasswordHasher) -> str:
    # A hash of nothing anyone knows, verified against when the user does not exist.
    return hasher.hash(new_secret())


def _positive_int(value: object, field: str, *, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise InvalidInputError(f"{field} must be a whole number from {minimum} to {maximum}, got {value!r}.")
    return value


def parse_role(role: Role | str | None) -> Role | None:
    """A role from its name (``None`` and ``"none"`` mean no role).

    Raises:
        InvalidInputError: naming the valid roles.
    """
    if role is None or (isinstance(role, str) and role.lower() == "none"):
        return None
    try:
        return Role(role.lower() if isinstance(role, str) else role)
    except ValueError:
        raise InvalidInputError(
            f"role {role!r} is invalid; use one of {', '.join(r.value for r in Role)} (or none to remove)."
        ) from None


class AccountService:
    """Account operations over the metadata store, on behalf of one caller (recorded in the audit log)."""

    def __init__(self, store: SqlStore, caller: Caller, *, hasher: PasswordHasher | None = None) -> None:
        """Bind the service to its store and caller; ``hasher`` overrides the argon2id parameters."""
        self.store = store
        self.caller = caller
        self.hasher = hasher or default_hasher()

    def _audit(
        self,
        tx: StoreTx,
        action: str,
        object_type: str,
        object_id: str,
        summary: Mapping[str, Any] | None = None,
        *,
        project: str | None = None,
        actor: str | None = None,
    ) -> None:
        tx.append_audit(
            actor or self.caller.user,
            action,
            object_type,
            object_id,
            project,
            summary,
            self.caller.request_id,
            self.caller.client_addr,
        )

    # users --------------------------------------------------------------------------------
    def create_user(
        self, name: str, password: str | None = None, *, admin: bool = False, service_account: bool = False
    ) -> User:
        """Create a user (a person with a password, or a service account that uses tokens only).

        Raises:
            InvalidInputError: a bad name, a missing or short password, or a password for a service account.
            ConflictError: the name is taken.
        """
        validate_name(name, "user name")
        if service_account:
            if password is not None:
                raise InvalidInputError(
                    f"password: service account {name!r} signs in with API tokens only; omit the password "
                    "and create a token with `modelyard tokens create`."
                )
            password_hash = None
        else:
            password_hash = self.hasher.hash(validate_password(password, name))
        with self.store.write() as tx:
            user = tx.insert_user(
                name=name,
                password_hash=password_hash,
                is_admin=bool(admin),
                is_service_account=bool(service_account),
                created_at=_now_ms(),
            )
            if user is None:
                raise ConflictError(f"A user named {name!r} already exists; choose another name.")
            self._audit(
                tx, "user.create", "user", name, {"admin": user.is_admin, "service_account": user.is_service_account}
            )
        return user

    def list_users(self) -> list[User]:
        """Every user, by name."""
        with self.store.read() as tx:
            return tx.list_users()

    def get_user(self, name: str) -> User:
        """The user named ``name`` (:class:`~modelyard.errors.UserNotFoundError` if none)."""
        validate_name(name, "user name")
        with self.store.read() as tx:
            return tx.get_user(name)

    def has_users(self) -> bool:
        """Whether any user exists (a fresh server has none until :meth:`bootstrap_admin`)."""
        with self.store.read() as tx:
            return tx.has_users()

    def set_disabled(self, name: str, disabled: bool) -> User:
        """Disable or enable a user. Disabling signs it out everywhere; its tokens fail until it is enabled.

        Raises:
            ConflictError: disabling the last enabled global admin.
        """
        validate_name(name, "user name")
        disabled = bool(disabled)
        with self.store.write() as tx:
            user = tx.get_user(name)
            if user.disabled == disabled:
                return user
            if disabled and user.is_admin:
                self._keep_an_admin(tx, name, "disable")
            tx.update_user(user.id, disabled=disabled)
            summary: dict[str, Any] = {}
            if disabled:
                summary["sessions_revoked"] = tx.revoke_user_sessions(user.id, _now_ms())
            self._audit(tx, "user.disable" if disabled else "user.enable", "user", name, summary)
            return tx.get_user_by_id(user.id)

    def set_admin(self, name: str, admin: bool) -> User:
        """Make a user a global admin (``admin`` in every project, manages users) or take that away.

        Raises:
            ConflictError: demoting the last enabled global admin.
        """
        validate_name(name, "user name")
        admin = bool(admin)
        with self.store.write() as tx:
            user = tx.get_user(name)
            if user.is_admin == admin:
                return user
            if not admin and not user.disabled:
                self._keep_an_admin(tx, name, "demote")
            tx.update_user(user.id, is_admin=admin)
            self._audit(tx, "user.set_admin", "user", name, {"admin": admin})
            return tx.get_user_by_id(user.id)

    def _keep_an_admin(self, tx: StoreTx, name: str, verb: str) -> None:
        if tx.count_enabled_admins() <= 1:
            raise ConflictError(
                f"Cannot {verb} {name!r}: it is the last enabled global admin. "
                "Make another user admin first (`modelyard users create NAME --admin`)."
            )

    def set_password(self, name: str, password: str) -> User:
        """Replace a user's password; every web session of the user is signed out."""
        validate_name(name, "user name")
        with self.store.read() as tx:
            user = tx.get_user(name)
        if user.is_service_account:
            raise InvalidInputError(
                f"password: service account {name!r} signs in with API tokens only; it cannot have a password."
            )
        password_hash = self.hasher.hash(validate_password(password, name))
        with self.store.write() as tx:
            user = tx.get_user(name)
            tx.update_user(user.id, password_hash=password_hash)
            revoked = tx.revoke_user_sessions(user.id, _now_ms())
            self._audit(tx, "user.set_password", "user", name, {"sessions_revoked": revoked})
            return tx.get_user_by_id(user.id)

    # roles --------------------------------------------------------------------------------
    def set_role(self, name: str, project: str, role: Role | str | None) -> Membership | None:
        """Give a user a role in a project; ``None`` removes the user from the project.

        Raises:
            UserNotFoundError, ProjectNotFoundError: the user or project does not exist.
            InvalidInputError: an unknown role.
        """
        validate_name(name, "user name")
        validate_name(project, "project name")
        new_role = parse_role(role)
        with self.store.write() as tx:
            user = tx.get_user(name)
            project_id = tx.project_id(project)
            old_role = tx.membership_role(user.id, project)
            if new_role == old_role:
                return None if new_role is None else Membership(project=project, user=name, role=new_role)
            if new_role is None:
                tx.delete_membership(project_id, user.id)
            else:
                tx.set_membership(project_id, user.id, new_role)
            self._audit(
                tx,
                "user.set_role",
                "user",
                name,
                {"role": new_role and new_role.value, "previous": old_role and old_role.value},
                project=project,
            )
        return None if new_role is None else Membership(project=project, user=name, role=new_role)

    def list_members(self, project: str) -> list[Membership]:
        """The users given a role in ``project`` (global admins are admins everywhere without one)."""
        validate_name(project, "project name")
        with self.store.read() as tx:
            return tx.list_memberships(project_id=tx.project_id(project))

    def list_all_memberships(self) -> list[Membership]:
        """Every membership of every project, in one query (the web UI's project list)."""
        with self.store.read() as tx:
            return tx.list_memberships()

    def list_memberships(self, name: str) -> list[Membership]:
        """The projects a user has a role in, with that role."""
        validate_name(name, "user name")
        with self.store.read() as tx:
            return tx.list_memberships(user_id=tx.get_user(name).id)

    def role_for(self, user: User, project: str) -> Role | None:
        """The user's role in ``project``: admin for a global admin, ``None`` for a disabled user or a non-member."""
        if user.disabled:
            return None
        if user.is_admin:
            return Role.ADMIN
        with self.store.read() as tx:
            return tx.membership_role(user.id, project)

    # passwords ----------------------------------------------------------------------------
    def authenticate_password(self, name: str, password: str) -> User:
        """The user whose name and password these are; records the sign-in time.

        Raises:
            AuthenticationError: "invalid user name or password" whether the name or the password is wrong.
        """
        user: User | None = None
        password_hash: str | None = None
        valid_input = (
            isinstance(name, str)
            and 0 < len(name) <= 256
            and isinstance(password, str)
            and 0 < len(password) <= MAX_PASSWORD_LENGTH
        )
        if valid_input:
            with self.store.read() as tx:
                user = tx.find_user(name)
                if user is not None and not user.is_service_account:
                    password_hash = tx.password_hash(user.id)
        if user is None or password_hash is None:
            # Spend the same time as a real check, so timing does not tell whether the name exists.
            verify_password(self.hasher, _dummy_hash(self.hasher), password if valid_input else "")
            raise AuthenticationError(_BAD_LOGIN)
        if not verify_password(self.hasher, password_hash, password):
            raise AuthenticationError(_BAD_LOGIN)
        if user.disabled:
            raise _disabled(user.name)
        values: dict[str, Any] = {"last_login_at": _now_ms()}
        if self.hasher.check_needs_rehash(password_hash):
            values["password_hash"] = self.hasher.hash(password)
        with self.store.write() as tx:
            tx.update_user(user.id, **values)
            return tx.get_user_by_id(user.id)

    # API tokens ---------------------------------------------------------------------------
    def create_token(self, user_name: str, name: str, expires_in_days: int | None = None) -> tuple[ApiToken, str]:
        """Create an API token; return it and its secret (shown once: only a hash is stored).

        Args:
            user_name: whose token it is.
            name: what it is for (``ci``, ``laptop``); unique among the user's active tokens.
            expires_in_days: lifetime in days (0 expires at once); ``None`` never expires.
        """
        validate_name(user_name, "user name")
        validate_name(name, "token name")
        if expires_in_days is not None:
            _positive_int(expires_in_days, "expires_in_days", minimum=0, maximum=MAX_TOKEN_DAYS)
        secret = new_token_secret()
        with self.store.write() as tx:
            token = self._insert_token(tx, tx.get_user(user_name), name, secret, expires_in_days)
        return token, secret

    def _insert_token(self, tx: StoreTx, user: User, name: str, secret: str, expires_in_days: int | None) -> ApiToken:
        if user.disabled:
            raise ConflictError(
                f"user {user.name!r} is disabled; enable it (`modelyard users enable {user.name}`) "
                "before creating tokens."
            )
        now = _now_ms()
        if tx.active_token_named(user.id, name, now) is not None:
            raise ConflictError(
                f"user {user.name!r} already has an active token named {name!r}; revoke it "
                "(`modelyard tokens revoke ID`) or choose another name."
            )
        expires_at = None if expires_in_days is None else now + expires_in_days * 86_400_000
        token = tx.insert_token(
            user_id=user.id,
            name=name,
            token_hash=hash_secret(secret),
            prefix=secret[:TOKEN_PREFIX_LENGTH],
            created_at=now,
            expires_at=expires_at,
        )
        self._audit(
            tx,
            "token.create",
            "token",
            str(token.id),
            {"user": user.name, "name": name, "expires_at": _iso(expires_at)},
        )
        return token

    def list_tokens(self, user_name: str | None = None) -> list[ApiToken]:
        """API tokens (never their secrets) of one user, or of every user; oldest first."""
        if user_name is not None:
            validate_name(user_name, "user name")
        with self.store.read() as tx:
            return tx.list_tokens(None if user_name is None else tx.get_user(user_name).id)

    def get_token(self, token_id: int) -> ApiToken:
        """One API token's metadata (:class:`~modelyard.errors.TokenNotFoundError` if none)."""
        _positive_int(token_id, "token id", minimum=1, maximum=2**63 - 1)
        with self.store.read() as tx:
            return tx.get_token(token_id)

    def revoke_token(self, token_id: int) -> ApiToken:
        """Revoke an API token at once (revoking it again changes nothing)."""
        _positive_int(token_id, "token id", minimum=1, maximum=2**63 - 1)
        with self.store.write() as tx:
            token = tx.get_token(token_id)
            if tx.revoke_token(token_id, _now_ms()):
                self._audit(tx, "token.revoke", "token", str(token_id), {"user": token.user, "name": token.name})
            return tx.get_token(token_id)

    def authenticate_token(self, secret: str, *, defer: Callable[[Callable[[], None]], object] | None = None) -> User:
        """The user an API token secret belongs to.

        The token's last-used time is written at most once a minute, so authenticating is a
        single indexed read on almost every request. ``defer`` (for example an executor's
        ``submit``) runs that write elsewhere, so a server's request never waits for the commit.

        Raises:
            AuthenticationError: the token is unknown, revoked or expired, or its user is disabled.
        """
        if not isinstance(secret, str) or not secret.startswith(TOKEN_PREFIX) or len(secret) > MAX_SECRET_LENGTH:
            raise AuthenticationError(_BAD_TOKEN)
        digest = hash_secret(secret)
        with self.store.read() as tx:
            found = tx.token_by_hash(digest)
        if found is None or not digests_equal(found[0].token_hash, digest):
            raise AuthenticationError(_BAD_TOKEN)
        row, user = found
        now = _now_ms()
        if row.revoked_at is not None:
            raise AuthenticationError(
                f"API token {row.name!r} was revoked; create a new one with `modelyard tokens create`."
            )
        if row.expires_at is not None and row.expires_at <= now:
            raise AuthenticationError(
                f"API token {row.name!r} expired on {_iso(row.expires_at)}; create a new one with "
                "`modelyard tokens create`."
            )
        if user.disabled:
            raise _disabled(user.name)
        interval = TOKEN_TOUCH_INTERVAL_SECONDS * 1000
        if row.last_used_at is None or now - row.last_used_at >= interval:

            def touch() -> None:
                with self.store.write() as tx:
                    tx.touch_token(row.id, now, interval)

            if defer is None:
                touch()
            else:
                defer(touch)
        return user

    # web sessions -------------------------------------------------------------------------
    def create_session(self, user: User, ttl_seconds: int = SESSION_TTL_SECONDS) -> tuple[str, str]:
        """Start a web session for a signed-in user; return the cookie secret and the CSRF token.

        Only the hash of the cookie secret is stored. The audit event's actor is the user.

        Raises:
            AuthenticationError: the user is disabled.
            InvalidInputError: a service account (tokens only) or a bad ``ttl_seconds``.
        """
        _positive_int(ttl_seconds, "ttl_seconds", minimum=1, maximum=30 * 86_400)
        secret, csrf = new_secret(), new_secret()
        id_hash = hash_secret(secret)
        now = _now_ms()
        with self.store.write() as tx:
            current = tx.get_user_by_id(user.id)
            if current.disabled:
                raise _disabled(current.name)
            if current.is_service_account:
                raise InvalidInputError(
                    f"service account {current.name!r} signs in with API tokens only; it cannot start a web session."
                )
            tx.delete_dead_sessions(current.id, now)
            expires_at = now + ttl_seconds * 1000
            tx.insert_session(
                id_hash=id_hash, user_id=current.id, csrf_token=csrf, created_at=now, expires_at=expires_at
            )
            self._audit(
                tx,
                "session.create",
                "session",
                id_hash[:16],
                {"user": current.name, "expires_at": _iso(expires_at)},
                actor=current.name,
            )
        return secret, csrf

    def session_user(self, secret: str) -> tuple[User, str]:
        """The user of a live session and the session's CSRF token.

        Raises:
            AuthenticationError: the session is unknown, expired or revoked, or its user is disabled.
        """
        if not isinstance(secret, str) or not secret or len(secret) > MAX_SECRET_LENGTH:
            raise AuthenticationError(_BAD_SESSION)
        digest = hash_secret(secret)
        with self.store.read() as tx:
            row = tx.session_by_hash(digest)
            if row is None or not digests_equal(row.id_hash, digest):
                raise AuthenticationError(_BAD_SESSION)
            if row.revoked_at is not None or row.expires_at <= _now_ms():
                raise AuthenticationError(_BAD_SESSION)
            user = tx.get_user_by_id(row.user_id)
        if user.disabled:
            raise _disabled(user.name)
        return user, str(row.csrf_token)

    def revoke_session(self, secret: str) -> None:
        """End a session server-side (sign out); an unknown or ended session is left as it is."""
        if not isinstance(secret, str) or not secret or len(secret) > MAX_SECRET_LENGTH:
            return
        digest = hash_secret(secret)
        with self.store.write() as tx:
            row = tx.session_by_hash(digest)
            if row is None or not tx.revoke_session(digest, _now_ms()):
                return
            user = tx.get_user_by_id(row.user_id)
            self._audit(tx, "session.revoke", "session", digest[:16], {"user": user.name}, actor=user.name)

    # one-time sign-in links ---------------------------------------------------------------
    def create_signin_link(self, user_name: str, ttl_seconds: int = SIGNIN_LINK_TTL_SECONDS) -> str:
        """Create a one-time sign-in link for a user; return its secret (the front door builds the URL)."""
        validate_name(user_name, "user name")
        _positive_int(ttl_seconds, "ttl_seconds", minimum=1, maximum=7 * 86_400)
        secret = new_secret()
        now = _now_ms()
        with self.store.write() as tx:
            user = tx.get_user(user_name)
            if user.disabled:
                raise ConflictError(f"user {user_name!r} is disabled; enable it before creating a sign-in link.")
            if user.is_service_account:
                raise InvalidInputError(
                    f"service account {user_name!r} signs in with API tokens only; it cannot use a sign-in link."
                )
            tx.delete_dead_signin_links(user.id, now)
            expires_at = now + ttl_seconds * 1000
            tx.insert_signin_link(
                token_hash=hash_secret(secret), user_id=user.id, created_at=now, expires_at=expires_at
            )
            self._audit(tx, "signin_link.create", "user", user_name, {"expires_at": _iso(expires_at)})
        return secret

    def redeem_signin_link(self, secret: str) -> User:
        """The user of a sign-in link, which is used up (a second use fails); records the sign-in time.

        Raises:
            AuthenticationError: the link is unknown, expired or used, or its user is disabled.
        """
        if not isinstance(secret, str) or not secret or len(secret) > MAX_SECRET_LENGTH:
            raise AuthenticationError(_BAD_LINK)
        now = _now_ms()
        with self.store.write() as tx:
            user_id = tx.use_signin_link(hash_secret(secret), now)
            if user_id is None:
                raise AuthenticationError(_BAD_LINK)
            user = tx.get_user_by_id(user_id)
            if user.disabled:
                raise _disabled(user.name)  # rolls back: the link stays unused
            tx.update_user(user.id, last_login_at=now)
            self._audit(tx, "signin_link.redeem", "user", user.name, actor=user.name)
            return tx.get_user_by_id(user.id)

    # first start --------------------------------------------------------------------------
    def bootstrap_admin(self) -> tuple[User, str, str] | None:
        """On a server with no users, create the global admin ``admin`` with a random password and token.

        Returns ``(user, password, token secret)`` (shown once), or ``None`` when users exist.
        Safe when several servers start at once: the unique user name lets exactly one create it.
        """
        if self.has_users():
            return None
        password = secrets.token_urlsafe(18)
        password_hash = self.hasher.hash(password)
        secret = new_token_secret()
        with self.store.write() as tx:
            if tx.has_users():
                return None
            user = tx.insert_user(
                name=BOOTSTRAP_ADMIN,
                password_hash=password_hash,
                is_admin=True,
                is_service_account=False,
                created_at=_now_ms(),
            )
            if user is None:  # another server created it a moment ago
                return None
            self._audit(
                tx, "user.create", "user", user.name, {"admin": True, "service_account": False, "bootstrap": True}
            )
            self._insert_token(tx, user, "bootstrap", secret, None)
        return user, password, secret
