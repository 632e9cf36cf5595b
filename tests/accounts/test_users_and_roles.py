"""Users, passwords, global admins and project roles."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from argon2 import PasswordHasher

from modelyard.accounts import AccountService
from modelyard.audit import Caller
from modelyard.backend.local import LocalBackend
from modelyard.entities import Role
from modelyard.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    ProjectNotFoundError,
    UserNotFoundError,
)

SQL = Callable[..., Any]


def test_role_order() -> None:
    assert Role.ADMIN.allows(Role.EDITOR) and Role.ADMIN.allows(Role.VIEWER) and Role.ADMIN.allows(Role.ADMIN)
    assert Role.EDITOR.allows(Role.VIEWER) and Role.EDITOR.allows("editor")
    assert not Role.EDITOR.allows(Role.ADMIN)
    assert not Role.VIEWER.allows(Role.EDITOR)
    assert Role("viewer") == "viewer"


def test_password_sign_in(accounts: AccountService) -> None:
    created = accounts.create_user("alice", "correct horse")
    assert created.has_password and not created.is_admin and created.last_login_at is None
    user = accounts.authenticate_password("alice", "correct horse")
    assert user.name == "alice" and user.last_login_at is not None
    for name, password in (("alice", "wrong password"), ("nobody", "correct horse"), ("alice", ""), ("", "x" * 9)):
        with pytest.raises(AuthenticationError) as info:
            accounts.authenticate_password(name, password)
        assert str(info.value) == "invalid user name or password"
        assert info.value.code == "unauthenticated"


def test_disabled_user_cannot_sign_in_until_enabled(accounts: AccountService) -> None:
    accounts.create_user("alice", "correct horse")
    assert accounts.set_disabled("alice", True).disabled
    with pytest.raises(AuthenticationError, match="disabled"):
        accounts.authenticate_password("alice", "correct horse")
    with pytest.raises(AuthenticationError, match="invalid user name or password"):
        accounts.authenticate_password("alice", "wrong password")  # nothing revealed without the password
    assert not accounts.set_disabled("alice", False).disabled
    assert accounts.authenticate_password("alice", "correct horse").name == "alice"


def test_password_is_rehashed_when_parameters_change(backend: LocalBackend) -> None:
    backend.accounts.create_user("alice", "correct horse")
    stronger = AccountService(
        backend.store, Caller(user="tester"), hasher=PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    )
    user = stronger.authenticate_password("alice", "correct horse")
    with backend.store.read() as tx:
        stored = tx.password_hash(user.id)
    assert stored is not None and stored.startswith("$argon2id$") and "m=16,t=2,p=1" in stored
    assert backend.accounts.authenticate_password("alice", "correct horse").name == "alice"


def test_default_hasher_is_argon2id(backend: LocalBackend) -> None:
    service = AccountService(backend.store, Caller(user="tester"))
    user = service.create_user("alice", "correct horse")
    with backend.store.read() as tx:
        stored = tx.password_hash(user.id)
    assert stored is not None and stored.startswith("$argon2id$")
    assert service.authenticate_password("alice", "correct horse").id == user.id


def test_set_password_signs_out_sessions(accounts: AccountService) -> None:
    user = accounts.create_user("alice", "correct horse")
    cookie, _ = accounts.create_session(user)
    accounts.set_password("alice", "battery staple")
    with pytest.raises(AuthenticationError):
        accounts.session_user(cookie)
    with pytest.raises(AuthenticationError):
        accounts.authenticate_password("alice", "correct horse")
    assert accounts.authenticate_password("alice", "battery staple").name == "alice"


def test_service_accounts_use_tokens_only(accounts: AccountService) -> None:
    bot = accounts.create_user("ci-bot", service_account=True)
    assert bot.is_service_account and not bot.has_password
    with pytest.raises(AuthenticationError, match="invalid user name or password"):
        accounts.authenticate_password("ci-bot", "anything at all")
    with pytest.raises(InvalidInputError, match="API tokens only"):
        accounts.create_user("ci-2", "a password", service_account=True)
    with pytest.raises(InvalidInputError, match="API tokens only"):
        accounts.create_session(bot)
    with pytest.raises(InvalidInputError, match="API tokens only"):
        accounts.create_signin_link("ci-bot")
    with pytest.raises(InvalidInputError, match="API tokens only"):
        accounts.set_password("ci-bot", "a password")
    _, secret = accounts.create_token("ci-bot", "ci")
    assert accounts.authenticate_token(secret).name == "ci-bot"


def test_bad_input_names_the_field(accounts: AccountService, backend: LocalBackend) -> None:
    with pytest.raises(InvalidInputError, match="too short"):
        accounts.create_user("alice", "short")
    with pytest.raises(InvalidInputError, match="password for user 'alice' is required"):
        accounts.create_user("alice")
    for bad in ("", "with space", "../etc", "a/b", "x" * 200):
        with pytest.raises(InvalidInputError, match="user name"):
            accounts.create_user(bad, "long enough")
    accounts.create_user("alice", "long enough")
    with pytest.raises(ConflictError, match="already exists"):
        accounts.create_user("alice", "long enough")
    with pytest.raises(UserNotFoundError, match="modelyard users list"):
        accounts.get_user("bob")
    with pytest.raises(UserNotFoundError):
        accounts.set_disabled("bob", True)
    with pytest.raises(UserNotFoundError):
        accounts.create_token("bob", "ci")
    with pytest.raises(ProjectNotFoundError, match="nope"):
        accounts.set_role("alice", "nope", Role.VIEWER)
    with pytest.raises(ProjectNotFoundError):
        accounts.list_members("nope")
    backend.create_project("p")
    with pytest.raises(InvalidInputError, match="role 'owner' is invalid"):
        accounts.set_role("alice", "p", "owner")
    with pytest.raises(InvalidInputError, match="project name"):
        accounts.set_role("alice", "bad project", Role.VIEWER)
    assert accounts.list_users()[0].name == "alice"


def test_roles_per_project(accounts: AccountService, backend: LocalBackend) -> None:
    backend.create_project("churn")
    backend.create_project("fraud")
    alice = accounts.create_user("alice", "long enough")
    assert accounts.role_for(alice, "churn") is None
    membership = accounts.set_role("alice", "churn", Role.VIEWER)
    assert membership is not None and membership.role == Role.VIEWER
    assert accounts.role_for(alice, "churn") == Role.VIEWER
    assert accounts.role_for(alice, "fraud") is None
    assert accounts.role_for(alice, "no-such-project") is None
    accounts.set_role("alice", "churn", "editor")
    assert accounts.role_for(alice, "churn") == Role.EDITOR
    accounts.set_role("alice", "fraud", Role.ADMIN)
    assert [(m.project, m.role) for m in accounts.list_memberships("alice")] == [
        ("churn", Role.EDITOR),
        ("fraud", Role.ADMIN),
    ]
    assert [(m.user, m.role) for m in accounts.list_members("churn")] == [("alice", Role.EDITOR)]
    assert accounts.set_role("alice", "churn", None) is None
    assert accounts.set_role("alice", "churn", "none") is None  # removing again changes nothing
    assert accounts.list_members("churn") == []
    assert accounts.role_for(alice, "churn") is None


def test_global_admin_is_admin_everywhere_and_disabled_users_have_no_role(
    accounts: AccountService, backend: LocalBackend
) -> None:
    backend.create_project("churn")
    root = accounts.create_user("root", "long enough", admin=True)
    assert root.is_admin
    assert accounts.role_for(root, "churn") == Role.ADMIN
    assert accounts.role_for(root, "not-created-yet") == Role.ADMIN
    assert accounts.list_members("churn") == []  # global admins need no membership
    accounts.create_user("alice", "long enough")
    accounts.set_role("alice", "churn", Role.EDITOR)
    alice = accounts.set_disabled("alice", True)
    assert accounts.role_for(alice, "churn") is None
    promoted = accounts.set_admin("alice", True)
    assert accounts.role_for(promoted, "churn") is None  # still disabled


def test_the_last_enabled_admin_cannot_be_removed(accounts: AccountService) -> None:
    accounts.create_user("root", "long enough", admin=True)
    with pytest.raises(ConflictError, match="last enabled global admin"):
        accounts.set_disabled("root", True)
    with pytest.raises(ConflictError, match="last enabled global admin"):
        accounts.set_admin("root", False)
    accounts.create_user("second", "long enough", admin=True)
    assert accounts.set_admin("root", False).is_admin is False
    with pytest.raises(ConflictError):
        accounts.set_disabled("second", True)


def test_backend_account_operations(backend: LocalBackend) -> None:
    backend.create_project("p")
    assert backend.create_user("alice", "long enough").name == "alice"
    backend.create_user("ci", service_account=True)
    assert [u.name for u in backend.list_users()] == ["alice", "ci"]
    assert backend.set_user_admin("alice", True).is_admin
    assert backend.set_user_disabled("ci", True).disabled
    membership = backend.set_role("ci", "p", Role.EDITOR)
    assert membership is not None and backend.list_members("p") == [membership]
    backend.set_user_disabled("ci", False)
    token, secret = backend.create_token("ci", "ci", expires_in_days=30)
    assert backend.list_tokens("ci") == [token]
    assert backend.revoke_token(token.id).revoked_at is not None
    assert secret.startswith("myd_")
