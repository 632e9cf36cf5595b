"""API tokens, web sessions, one-time sign-in links, the first admin, and what the audit log records."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from modelyard.accounts import TOKEN_TOUCH_INTERVAL_SECONDS, AccountService
from modelyard.backend.local import LocalBackend
from modelyard.entities import Role
from modelyard.errors import AuthenticationError, ConflictError, InvalidInputError, TokenNotFoundError

SQL = Callable[..., Any]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


# API tokens -------------------------------------------------------------------------------
def test_token_create_authenticate_revoke(accounts: AccountService, sql: SQL) -> None:
    accounts.create_user("alice", "long enough")
    token, secret = accounts.create_token("alice", "laptop")
    assert secret.startswith("myd_") and len(secret) >= 40
    assert token.prefix == secret[:8] and token.user == "alice" and token.name == "laptop"
    assert token.expires_at is None and token.revoked_at is None and token.is_active()
    assert accounts.authenticate_token(secret).name == "alice"
    # Only the SHA-256 of the secret is stored.
    rows = sql("SELECT * FROM api_tokens")
    assert [r.token_hash for r in rows] == [hashlib.sha256(secret.encode()).hexdigest()]
    assert secret not in repr(rows)
    assert secret not in json.dumps([t.model_dump(mode="json") for t in accounts.list_tokens()])
    revoked = accounts.revoke_token(token.id)
    assert revoked.revoked_at is not None and not revoked.is_active()
    with pytest.raises(AuthenticationError, match="revoked"):
        accounts.authenticate_token(secret)
    assert accounts.revoke_token(token.id).revoked_at == revoked.revoked_at  # idempotent


@pytest.mark.parametrize("secret", ["", "nope", "myd_" + "x" * 43, "Bearer myd_abc", "myd_" + "a" * 500])
def test_unknown_tokens_are_refused(accounts: AccountService, secret: str) -> None:
    with pytest.raises(AuthenticationError, match="invalid API token"):
        accounts.authenticate_token(secret)


def test_expired_tokens_are_refused(accounts: AccountService, sql: SQL) -> None:
    accounts.create_user("alice", "long enough")
    token, secret = accounts.create_token("alice", "now", expires_in_days=0)
    assert token.expires_at is not None and not token.is_active()
    with pytest.raises(AuthenticationError, match="expired"):
        accounts.authenticate_token(secret)
    token, secret = accounts.create_token("alice", "month", expires_in_days=30)
    assert accounts.authenticate_token(secret).name == "alice"
    sql("UPDATE api_tokens SET expires_at = :t WHERE id = :id", t=_now_ms() - 1, id=token.id)
    with pytest.raises(AuthenticationError, match="expired"):
        accounts.authenticate_token(secret)


def test_tokens_of_a_disabled_user_stop_working_until_enabled(accounts: AccountService) -> None:
    accounts.create_user("root", "long enough", admin=True)
    accounts.create_user("alice", "long enough")
    _, secret = accounts.create_token("alice", "laptop")
    accounts.set_disabled("alice", True)
    with pytest.raises(AuthenticationError, match="disabled"):
        accounts.authenticate_token(secret)
    with pytest.raises(ConflictError, match="disabled"):
        accounts.create_token("alice", "another")
    accounts.set_disabled("alice", False)
    assert accounts.authenticate_token(secret).name == "alice"


def test_last_used_is_written_at_most_once_a_minute(accounts: AccountService, sql: SQL) -> None:
    accounts.create_user("alice", "long enough")
    token, secret = accounts.create_token("alice", "laptop")
    accounts.authenticate_token(secret)
    first = accounts.list_tokens("alice")[0].last_used_at
    assert first is not None
    time.sleep(0.01)
    accounts.authenticate_token(secret)
    assert accounts.list_tokens("alice")[0].last_used_at == first
    earlier = _now_ms() - (TOKEN_TOUCH_INTERVAL_SECONDS + 1) * 1000
    sql("UPDATE api_tokens SET last_used_at = :t WHERE id = :id", t=earlier, id=token.id)
    accounts.authenticate_token(secret)
    later = accounts.list_tokens("alice")[0].last_used_at
    assert later is not None and later > first


def test_token_names_and_arguments(accounts: AccountService) -> None:
    accounts.create_user("alice", "long enough")
    accounts.create_user("bob", "long enough")
    token, _ = accounts.create_token("alice", "ci")
    with pytest.raises(ConflictError, match="already has an active token named 'ci'"):
        accounts.create_token("alice", "ci")
    accounts.create_token("bob", "ci")  # names are per user
    accounts.revoke_token(token.id)
    accounts.create_token("alice", "ci")  # a revoked token's name is free again
    for days in (-1, 100_000, True, 1.5):
        with pytest.raises(InvalidInputError, match="expires_in_days"):
            accounts.create_token("alice", "other", expires_in_days=days)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="token name"):
        accounts.create_token("alice", "no spaces please")
    with pytest.raises(TokenNotFoundError, match="modelyard tokens list"):
        accounts.revoke_token(999)
    with pytest.raises(InvalidInputError, match="token id"):
        accounts.revoke_token(0)
    assert [t.user for t in accounts.list_tokens()] == ["alice", "bob", "alice"]
    assert [t.user for t in accounts.list_tokens("bob")] == ["bob"]


# web sessions -----------------------------------------------------------------------------
def test_sessions(accounts: AccountService, sql: SQL) -> None:
    alice = accounts.authenticate_password(accounts.create_user("alice", "long enough").name, "long enough")
    cookie, csrf = accounts.create_session(alice)
    assert cookie != csrf and len(cookie) >= 40 and len(csrf) >= 40
    user, same_csrf = accounts.session_user(cookie)
    assert user.name == "alice" and same_csrf == csrf
    assert [r.id_hash for r in sql("SELECT id_hash FROM sessions")] == [hashlib.sha256(cookie.encode()).hexdigest()]
    accounts.revoke_session(cookie)
    with pytest.raises(AuthenticationError, match="sign in again"):
        accounts.session_user(cookie)
    accounts.revoke_session(cookie)  # signing out twice is fine
    accounts.revoke_session("never-issued")
    for bad in ("", "never-issued", "x" * 1000):
        with pytest.raises(AuthenticationError):
            accounts.session_user(bad)


def test_sessions_expire(accounts: AccountService, sql: SQL) -> None:
    alice = accounts.create_user("alice", "long enough")
    cookie, _ = accounts.create_session(alice, ttl_seconds=3600)
    sql("UPDATE sessions SET expires_at = :t", t=_now_ms() - 1)
    with pytest.raises(AuthenticationError):
        accounts.session_user(cookie)
    with pytest.raises(InvalidInputError, match="ttl_seconds"):
        accounts.create_session(alice, ttl_seconds=0)


def test_disabling_a_user_revokes_its_sessions(accounts: AccountService) -> None:
    alice = accounts.create_user("alice", "long enough")
    cookies = [accounts.create_session(alice)[0] for _ in range(2)]
    accounts.set_disabled("alice", True)
    with pytest.raises(AuthenticationError):
        accounts.create_session(alice)
    accounts.set_disabled("alice", False)
    for cookie in cookies:
        with pytest.raises(AuthenticationError):  # still signed out after enabling
            accounts.session_user(cookie)
    assert accounts.session_user(accounts.create_session(alice)[0])[0].name == "alice"


# one-time sign-in links -------------------------------------------------------------------
def test_signin_links_are_one_time(accounts: AccountService, sql: SQL) -> None:
    accounts.create_user("alice", "long enough")
    secret = accounts.create_signin_link("alice")
    assert secret not in repr(sql("SELECT * FROM signin_links"))
    user = accounts.redeem_signin_link(secret)
    assert user.name == "alice" and user.last_login_at is not None
    with pytest.raises(AuthenticationError, match="already used"):
        accounts.redeem_signin_link(secret)
    expired = accounts.create_signin_link("alice", ttl_seconds=60)
    sql("UPDATE signin_links SET expires_at = :t WHERE used_at IS NULL", t=_now_ms() - 1)
    with pytest.raises(AuthenticationError):
        accounts.redeem_signin_link(expired)
    with pytest.raises(AuthenticationError):
        accounts.redeem_signin_link("made-up")


def test_a_signin_link_redeemed_twice_at_once_works_once(
    accounts: AccountService, open_backend: Callable[[], LocalBackend]
) -> None:
    accounts.create_user("alice", "long enough")
    secret = accounts.create_signin_link("alice")
    services = [open_backend().accounts for _ in range(4)]
    barrier = threading.Barrier(len(services))
    results: list[str] = []

    def redeem(service: AccountService) -> None:
        barrier.wait()
        try:
            results.append(service.redeem_signin_link(secret).name)
        except AuthenticationError:
            results.append("refused")

    threads = [threading.Thread(target=redeem, args=(s,)) for s in services]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["alice", "refused", "refused", "refused"]


def test_a_disabled_users_link_fails_and_stays_unused(accounts: AccountService) -> None:
    accounts.create_user("alice", "long enough")
    secret = accounts.create_signin_link("alice")
    accounts.set_disabled("alice", True)
    with pytest.raises(AuthenticationError, match="disabled"):
        accounts.redeem_signin_link(secret)
    with pytest.raises(ConflictError, match="disabled"):
        accounts.create_signin_link("alice")
    accounts.set_disabled("alice", False)
    assert accounts.redeem_signin_link(secret).name == "alice"


# first start ------------------------------------------------------------------------------
def test_bootstrap_admin_only_once(accounts: AccountService) -> None:
    assert not accounts.has_users()
    created = accounts.bootstrap_admin()
    assert created is not None
    user, password, secret = created
    assert user.name == "admin" and user.is_admin and len(password) >= 16
    assert accounts.has_users()
    assert accounts.authenticate_password("admin", password).is_admin
    assert accounts.authenticate_token(secret).name == "admin"
    assert [t.name for t in accounts.list_tokens("admin")] == ["bootstrap"]
    assert accounts.bootstrap_admin() is None


def test_bootstrap_admin_not_when_users_exist(accounts: AccountService) -> None:
    accounts.create_user("alice", "long enough")
    assert accounts.bootstrap_admin() is None
    assert [u.name for u in accounts.list_users()] == ["alice"]


def test_two_servers_starting_at_once_create_one_admin(open_backend: Callable[[], LocalBackend]) -> None:
    services = [open_backend().accounts for _ in range(2)]
    barrier = threading.Barrier(len(services))
    results: list[object] = []
    errors: list[BaseException] = []

    def start(service: AccountService) -> None:
        barrier.wait()
        try:
            results.append(service.bootstrap_admin())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(s,)) for s in services]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(r is not None for r in results) == 1
    assert [u.name for u in services[0].list_users()] == ["admin"]
    assert len(services[0].list_tokens()) == 1


# audit ------------------------------------------------------------------------------------
def test_every_change_is_audited_without_secrets(accounts: AccountService, backend: LocalBackend) -> None:
    secrets: list[str] = []
    bootstrap = accounts.bootstrap_admin()
    assert bootstrap is not None
    secrets += [bootstrap[1], bootstrap[2]]
    backend.create_project("churn")
    secrets.append("alice's password")
    alice = accounts.create_user("alice", "alice's password")
    accounts.create_user("ci", service_account=True)
    accounts.set_role("alice", "churn", Role.EDITOR)
    token, secret = accounts.create_token("ci", "ci", expires_in_days=7)
    secrets.append(secret)
    accounts.revoke_token(token.id)
    cookie, csrf = accounts.create_session(alice)
    secrets += [cookie, csrf]
    accounts.revoke_session(cookie)
    link = accounts.create_signin_link("alice")
    secrets.append(link)
    accounts.redeem_signin_link(link)
    accounts.set_admin("alice", True)
    accounts.set_disabled("alice", True)
    accounts.set_disabled("alice", False)
    secrets.append("a new password")
    accounts.set_password("alice", "a new password")
    with backend.store.read() as tx:
        events = list(reversed(tx.list_audit(limit=1000)))
        hashes = [tx.password_hash(u.id) for u in tx.list_users()]
    actions = [e.action for e in events if e.object_type != "project"]
    assert actions == [
        "user.create",
        "token.create",
        "user.create",
        "user.create",
        "user.set_role",
        "token.create",
        "token.revoke",
        "session.create",
        "session.revoke",
        "signin_link.create",
        "signin_link.redeem",
        "user.set_admin",
        "user.disable",
        "user.enable",
        "user.set_password",
    ]
    by_action = {e.action: e for e in events}
    assert by_action["user.set_role"].project == "churn"
    assert by_action["user.set_role"].summary == {"role": "editor", "previous": None}
    assert by_action["session.create"].actor == "alice"  # the user who signed in
    assert by_action["user.create"].actor == "tester"
    assert all(e.request_id == "req-1" and e.client_addr == "127.0.0.1" for e in events)
    dumped = json.dumps([e.model_dump(mode="json") for e in events])
    for value in [*secrets, *(h for h in hashes if h)]:
        assert value not in dumped
        assert hashlib.sha256(value.encode()).hexdigest() not in dumped
