"""Users, API tokens, project memberships, web sessions and sign-in links in SQL.

Only hashes of secrets reach these tables (see :mod:`modelyard.store.sql.schema`); the rules
(validation, expiry, throttling, audit) live in :class:`modelyard.accounts.AccountService`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import sqlalchemy as sa

from modelyard.entities import ApiToken, Membership, Role, User, ms_to_datetime
from modelyard.errors import TokenNotFoundError, UserNotFoundError
from modelyard.store.sql import schema as t
from modelyard.store.sql._rows import upsert

__all__ = ["AccountRows"]

_USER_COLUMNS = (
    t.users.c.id,
    t.users.c.name,
    t.users.c.password_hash,
    t.users.c.is_admin,
    t.users.c.is_service_account,
    t.users.c.disabled,
    t.users.c.created_at,
    t.users.c.last_login_at,
)


_TOKEN_WITH_USER = (
    sa.select(
        *_USER_COLUMNS,
        t.api_tokens.c.id.label("t_id"),
        t.api_tokens.c.name.label("t_name"),
        t.api_tokens.c.token_hash.label("t_token_hash"),
        t.api_tokens.c.revoked_at.label("t_revoked_at"),
        t.api_tokens.c.expires_at.label("t_expires_at"),
        t.api_tokens.c.last_used_at.label("t_last_used_at"),
    )
    .join(t.users, t.users.c.id == t.api_tokens.c.user_id)
    .where(t.api_tokens.c.token_hash == sa.bindparam("token_hash"))
)


class _TokenRow(NamedTuple):
    """The columns of a token that authentication needs."""

    id: int
    name: str
    token_hash: str
    revoked_at: int | None
    expires_at: int | None
    last_used_at: int | None


def _user(row: Any) -> User:
    created = ms_to_datetime(row.created_at)
    assert created is not None
    return User(
        id=row.id,
        name=row.name,
        is_admin=bool(row.is_admin),
        is_service_account=bool(row.is_service_account),
        disabled=bool(row.disabled),
        has_password=row.password_hash is not None,
        created_at=created,
        last_login_at=ms_to_datetime(row.last_login_at),
    )


def _token(row: Any) -> ApiToken:
    created = ms_to_datetime(row.created_at)
    assert created is not None
    return ApiToken(
        id=row.id,
        user=row.user_name,
        name=row.name,
        prefix=row.prefix,
        created_at=created,
        expires_at=ms_to_datetime(row.expires_at),
        last_used_at=ms_to_datetime(row.last_used_at),
        revoked_at=ms_to_datetime(row.revoked_at),
    )


def _unknown_user(name: str) -> UserNotFoundError:
    return UserNotFoundError(f"No user named {name!r}; list users with `modelyard users list`.")


class AccountRows:
    """Operations on accounts within one transaction."""

    conn: sa.Connection

    # users --------------------------------------------------------------------------------
    def insert_user(
        self,
        *,
        name: str,
        password_hash: str | None,
        is_admin: bool,
        is_service_account: bool,
        created_at: int,
    ) -> User | None:
        """Insert a user; return ``None`` when the name is taken.

        ``ON CONFLICT DO NOTHING`` on the unique name: a concurrent insert of the same name waits
        for the first transaction and then inserts nothing, so exactly one of them creates it.
        """
        stmt = (
            upsert(self.conn, t.users)
            .values(
                name=name,
                password_hash=password_hash,
                is_admin=is_admin,
                is_service_account=is_service_account,
                disabled=False,
                created_at=created_at,
            )
            .on_conflict_do_nothing(index_elements=["name"])
            .returning(*_USER_COLUMNS)
        )
        row = self.conn.execute(stmt).first()
        return None if row is None else _user(row)

    def find_user(self, name: str) -> User | None:
        """The user named ``name``, or ``None``."""
        row = self.conn.execute(sa.select(*_USER_COLUMNS).where(t.users.c.name == name)).first()
        return None if row is None else _user(row)

    def get_user(self, name: str) -> User:
        """The user named ``name``; raise :class:`UserNotFoundError` if there is none."""
        user = self.find_user(name)
        if user is None:
            raise _unknown_user(name)
        return user

    def get_user_by_id(self, user_id: int) -> User:
        """The user with id ``user_id``."""
        row = self.conn.execute(sa.select(*_USER_COLUMNS).where(t.users.c.id == user_id)).first()
        if row is None:
            raise UserNotFoundError(f"No user with id {user_id}.")
        return _user(row)

    def password_hash(self, user_id: int) -> str | None:
        """The stored argon2 hash of a user's password (``None`` when it has none)."""
        value = self.conn.execute(sa.select(t.users.c.password_hash).where(t.users.c.id == user_id)).scalar()
        return None if value is None else str(value)

    def list_users(self) -> list[User]:
        """Every user, by name."""
        return [_user(r) for r in self.conn.execute(sa.select(*_USER_COLUMNS).order_by(t.users.c.name))]

    def update_user(self, user_id: int, **values: Any) -> None:
        """Update columns of a user."""
        self.conn.execute(sa.update(t.users).where(t.users.c.id == user_id).values(**values))

    def has_users(self) -> bool:
        """Whether any user exists."""
        return self.conn.execute(sa.select(t.users.c.id).limit(1)).first() is not None

    def count_enabled_admins(self) -> int:
        """Number of global admins that are not disabled."""
        u = t.users
        query = sa.select(sa.func.count()).select_from(u).where(u.c.is_admin.is_(True), u.c.disabled.is_(False))
        return int(self.conn.execute(query).scalar_one())

    # memberships --------------------------------------------------------------------------
    def membership_role(self, user_id: int, project: str) -> Role | None:
        """The user's role in ``project`` (by name), or ``None``."""
        m, p = t.memberships, t.projects
        value = self.conn.execute(
            sa.select(m.c.role).join(p, p.c.id == m.c.project_id).where(m.c.user_id == user_id, p.c.name == project)
        ).scalar()
        return None if value is None else Role(value)

    def set_membership(self, project_id: int, user_id: int, role: Role) -> None:
        """Give the user ``role`` in the project (replacing any other role)."""
        stmt = upsert(self.conn, t.memberships).values(project_id=project_id, user_id=user_id, role=role.value)
        stmt = stmt.on_conflict_do_update(index_elements=["project_id", "user_id"], set_={"role": stmt.excluded.role})
        self.conn.execute(stmt)

    def delete_membership(self, project_id: int, user_id: int) -> bool:
        """Remove the user from the project; return whether it was a member."""
        m = t.memberships
        result = self.conn.execute(sa.delete(m).where(m.c.project_id == project_id, m.c.user_id == user_id))
        return bool(result.rowcount)

    def list_memberships(self, *, project_id: int | None = None, user_id: int | None = None) -> list[Membership]:
        """Memberships of a project or of a user, by project then user name."""
        m, p, u = t.memberships, t.projects, t.users
        query = (
            sa.select(p.c.name.label("project"), u.c.name.label("user"), m.c.role)
            .join(p, p.c.id == m.c.project_id)
            .join(u, u.c.id == m.c.user_id)
            .order_by(p.c.name, u.c.name)
        )
        if project_id is not None:
            query = query.where(m.c.project_id == project_id)
        if user_id is not None:
            query = query.where(m.c.user_id == user_id)
        return [Membership(project=r.project, user=r.user, role=Role(r.role)) for r in self.conn.execute(query)]

    # API tokens ---------------------------------------------------------------------------
    def _token_query(self) -> sa.Select[Any]:
        k, u = t.api_tokens, t.users
        return sa.select(k, u.c.name.label("user_name")).join(u, u.c.id == k.c.user_id)

    def insert_token(
        self,
        *,
        user_id: int,
        name: str,
        token_hash: str,
        prefix: str,
        created_at: int,
        expires_at: int | None,
    ) -> ApiToken:
        """Store a new token (its hash and display prefix only)."""
        token_id = self.conn.execute(
            sa.insert(t.api_tokens)
            .values(
                user_id=user_id,
                name=name,
                token_hash=token_hash,
                prefix=prefix,
                created_at=created_at,
                expires_at=expires_at,
            )
            .returning(t.api_tokens.c.id)
        ).scalar_one()
        return self.get_token(int(token_id))

    def get_token(self, token_id: int) -> ApiToken:
        """The token with id ``token_id``; raise :class:`TokenNotFoundError` if there is none."""
        row = self.conn.execute(self._token_query().where(t.api_tokens.c.id == token_id)).first()
        if row is None:
            raise TokenNotFoundError(f"No API token with id {token_id}; list tokens with `modelyard tokens list`.")
        return _token(row)

    def token_by_hash(self, token_hash: str) -> tuple[Any, User] | None:
        """The token row whose secret hashes to ``token_hash``, with its user; ``None`` if unknown."""
        # One prebuilt query per authenticated request: the token and its user together.
        row = self.conn.execute(_TOKEN_WITH_USER, {"token_hash": token_hash}).first()
        if row is None:
            return None
        token = _TokenRow(
            row.t_id, row.t_name, row.t_token_hash, row.t_revoked_at, row.t_expires_at, row.t_last_used_at
        )
        return token, _user(row)

    def active_token_named(self, user_id: int, name: str, now: int) -> ApiToken | None:
        """The user's token called ``name`` that is neither revoked nor expired, if any."""
        k = t.api_tokens
        row = self.conn.execute(
            self._token_query()
            .where(k.c.user_id == user_id, k.c.name == name, k.c.revoked_at.is_(None))
            .where(sa.or_(k.c.expires_at.is_(None), k.c.expires_at > now))
            .limit(1)
        ).first()
        return None if row is None else _token(row)

    def list_tokens(self, user_id: int | None = None) -> list[ApiToken]:
        """Tokens (of one user, or of everyone), oldest first."""
        query = self._token_query().order_by(t.api_tokens.c.id)
        if user_id is not None:
            query = query.where(t.api_tokens.c.user_id == user_id)
        return [_token(r) for r in self.conn.execute(query)]

    def revoke_token(self, token_id: int, now: int) -> bool:
        """Mark a token revoked; return whether it was not revoked before."""
        k = t.api_tokens
        result = self.conn.execute(
            sa.update(k).where(k.c.id == token_id, k.c.revoked_at.is_(None)).values(revoked_at=now)
        )
        return bool(result.rowcount)

    def touch_token(self, token_id: int, now: int, min_interval_ms: int) -> bool:
        """Set a token's last-used time unless it was set less than ``min_interval_ms`` ago."""
        k = t.api_tokens
        result = self.conn.execute(
            sa.update(k)
            .where(k.c.id == token_id)
            .where(sa.or_(k.c.last_used_at.is_(None), k.c.last_used_at <= now - min_interval_ms))
            .values(last_used_at=now)
        )
        return bool(result.rowcount)

    # web sessions -------------------------------------------------------------------------
    def insert_session(self, *, id_hash: str, user_id: int, csrf_token: str, created_at: int, expires_at: int) -> None:
        """Store a new session (the hash of its cookie secret)."""
        self.conn.execute(
            sa.insert(t.sessions).values(
                id_hash=id_hash, user_id=user_id, csrf_token=csrf_token, created_at=created_at, expires_at=expires_at
            )
        )

    def session_by_hash(self, id_hash: str) -> Any:
        """The session row whose cookie secret hashes to ``id_hash``, or ``None``."""
        return self.conn.execute(sa.select(t.sessions).where(t.sessions.c.id_hash == id_hash)).first()

    def revoke_session(self, id_hash: str, now: int) -> bool:
        """Mark a session revoked; return whether it was not revoked before."""
        s = t.sessions
        result = self.conn.execute(
            sa.update(s).where(s.c.id_hash == id_hash, s.c.revoked_at.is_(None)).values(revoked_at=now)
        )
        return bool(result.rowcount)

    def revoke_user_sessions(self, user_id: int, now: int) -> int:
        """Revoke every live session of a user; return how many were live."""
        s = t.sessions
        result = self.conn.execute(
            sa.update(s)
            .where(s.c.user_id == user_id, s.c.revoked_at.is_(None), s.c.expires_at > now)
            .values(revoked_at=now)
        )
        return int(result.rowcount)

    def delete_dead_sessions(self, user_id: int, now: int) -> None:
        """Forget a user's expired and revoked sessions (keeps the table small)."""
        s = t.sessions
        self.conn.execute(
            sa.delete(s).where(s.c.user_id == user_id, sa.or_(s.c.expires_at <= now, s.c.revoked_at.is_not(None)))
        )

    # one-time sign-in links ---------------------------------------------------------------
    def insert_signin_link(self, *, token_hash: str, user_id: int, created_at: int, expires_at: int) -> None:
        """Store a new sign-in link (the hash of its secret)."""
        self.conn.execute(
            sa.insert(t.signin_links).values(
                token_hash=token_hash, user_id=user_id, created_at=created_at, expires_at=expires_at
            )
        )

    def use_signin_link(self, token_hash: str, now: int) -> int | None:
        """Mark an unused, unexpired link used and return its user id; ``None`` if it cannot be used.

        One conditional ``UPDATE``: of two concurrent redemptions exactly one succeeds.
        """
        link = t.signin_links
        user_id = self.conn.execute(
            sa.update(link)
            .where(link.c.token_hash == token_hash, link.c.used_at.is_(None), link.c.expires_at > now)
            .values(used_at=now)
            .returning(link.c.user_id)
        ).scalar()
        return None if user_id is None else int(user_id)

    def delete_dead_signin_links(self, user_id: int, now: int) -> None:
        """Forget a user's used and expired sign-in links."""
        link = t.signin_links
        self.conn.execute(
            sa.delete(link).where(
                link.c.user_id == user_id, sa.or_(link.c.expires_at <= now, link.c.used_at.is_not(None))
            )
        )
