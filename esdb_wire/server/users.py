"""Users of a secure node: kept in streams as the server keeps them, and the Users service.

Storage (``UserManagementService``): a user ``X`` is the stream ``$user-X``, whose
events (``$UserCreated``, then ``$UserUpdated``) hold the user's data as JSON
``{"loginName","fullName","groups","hash","salt","disabled"}``; the ``$users`` stream
lists every user created (``$User`` events whose data is the login name, not JSON).
Deleting a user soft-deletes ``$user-X``; password changes, resets, updates, disables
and deletes announce themselves with ``$PasswordChanged`` (``{"loginName": X}``) in
``$users-password-notifications``.

Passwords are never stored: ``hash`` and ``salt`` are PBKDF2-HMAC-SHA256 (``hashlib``)
with a random 16-byte salt and :data:`ITERATIONS` rounds, base64. (The server uses
PBKDF2-HMAC-SHA1 with 1,000 rounds.) Nothing here logs a password or a hash.

The :class:`UserDirectory` is what authentication asks: a user created through the API
can authenticate at once; a disabled or deleted one cannot (its cached credentials are
dropped: :attr:`UserDirectory.generation` moves on).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import os
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final

from esdb_wire.protos import users_pb2
from esdb_wire.server import errors
from esdb_wire.server.auth import ADMIN_USER, User, user_of
from esdb_wire.server.records import ANY, ProposedEvent, StreamDeletedError
from esdb_wire.server.rpc import CallContext
from esdb_wire.server.store import EventStore
from esdb_wire.transport.status import StatusCode, StatusError

log = logging.getLogger("esdb_wire.server.users")

USERS_STREAM: Final = "$users"
USER_STREAM_PREFIX: Final = "$user-"
PASSWORD_NOTIFICATIONS: Final = "$users-password-notifications"
USER_CREATED: Final = "$UserCreated"
USER_UPDATED: Final = "$UserUpdated"
USER_LISTED: Final = "$User"
PASSWORD_CHANGED: Final = "$PasswordChanged"
ITERATIONS: Final = 100_000
_SALT_SIZE = 16


def hash_password(password: str, salt: bytes | None = None) -> tuple[str, str]:
    """(hash, salt), both base64, of ``password`` (PBKDF2-HMAC-SHA256)."""
    salt = os.urandom(_SALT_SIZE) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, ITERATIONS)
    return base64.b64encode(digest).decode(), base64.b64encode(salt).decode()


def verify_password(password: str, hashed: str, salt: str) -> bool:
    """Whether ``password`` matches a stored (hash, salt), in constant time."""
    try:
        salt_bytes = base64.b64decode(salt)
    except ValueError:
        return False
    candidate, _ = hash_password(password, salt_bytes)
    return hmac.compare_digest(candidate.encode(), hashed.encode())


@dataclass(frozen=True)
class UserData:
    """One user as stored (``UserData``); ``updated`` is .NET ticks since the epoch."""

    login_name: str
    full_name: str
    groups: tuple[str, ...]
    hash: str
    salt: str
    disabled: bool = False
    updated: int = 0

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "loginName": self.login_name,
                "fullName": self.full_name,
                "groups": list(self.groups),
                "hash": self.hash,
                "salt": self.salt,
                "disabled": self.disabled,
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_json(cls, data: bytes, *, updated: int = 0) -> UserData | None:
        """A user as :meth:`to_json` wrote it; None if ``data`` is not one."""
        try:
            value = json.loads(data)
        except ValueError:
            return None
        if not isinstance(value, dict):
            return None
        texts = [value.get(key) for key in ("loginName", "fullName", "hash", "salt")]
        groups = value.get("groups") or []
        if not all(isinstance(text, str) for text in texts) or not isinstance(groups, list):
            return None
        login_name, full_name, hashed, salt = (str(text) for text in texts)
        disabled = bool(value.get("disabled", False))
        names = tuple(str(group) for group in groups)
        return cls(login_name, full_name, names, hashed, salt, disabled, updated)

    def __repr__(self) -> str:  # never show the hash or the salt
        return f"UserData({self.login_name!r}, groups={self.groups!r}, disabled={self.disabled})"


class UserError(Exception):
    """A refused user operation: ``kind`` is NotFound, Conflict or Unauthorized."""

    def __init__(self, kind: str, login_name: str) -> None:
        super().__init__(kind)
        self.kind = kind
        self.login_name = login_name


class UserDirectory:
    """The users of one store, cached in memory, written through to their streams."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.generation = 0
        self._users: dict[str, UserData] = {}
        self._seeded: list[UserData] = []

    def load(self) -> None:
        """Take the users already in the store (a server restarted on its journal): every
        user listed in ``$users`` whose ``$user-X`` stream is not deleted, as last saved."""
        try:
            listed = self.store.read_stream(USERS_STREAM, 0, 2**31)
        except StreamDeletedError:
            return
        names = [] if listed is None else [r.data.decode(errors="replace") for r in listed.records]
        for name in dict.fromkeys(names):
            try:
                found = self.store.read_stream(USER_STREAM_PREFIX + name, None, 1, backwards=True)
            except StreamDeletedError:
                continue
            if found is None or not found.records:
                continue
            record = found.records[0]
            data = UserData.from_json(record.data, updated=record.created)
            if data is not None and data.login_name == name:
                self._users[name] = data
        self.generation += 1

    def seed(self, users: Mapping[str, tuple[str, Sequence[str]]]) -> None:
        """Create the configured users (``admin``, ``ops``, ...) at startup, unless they
        exist already (loaded from the journal: as on a node, a stored user keeps its
        password; :meth:`reset` brings back the configured one)."""
        for name, (password, groups) in users.items():
            full_name = name if name in (ADMIN_USER, "ops") else ""
            if name in self._users:
                hashed, salt = hash_password(password)
                self._seeded.append(UserData(name, full_name, tuple(groups), hashed, salt))
                continue
            self._seeded.append(self._create(name, full_name, groups, password))

    def reset(self) -> None:
        """Back to the seeded users, written again to the (emptied) store: every other
        user and every change is forgotten. The stored hashes are reused, so this costs
        no password hashing; cached credentials are dropped."""
        self._users = {}
        for data in self._seeded:
            self._save(replace(data, updated=0), USER_CREATED)
            self._write(USERS_STREAM, USER_LISTED, data.login_name.encode(), is_json=False)
        self.generation += 1

    # ---- authentication ----------------------------------------------------------

    def principal(self, name: str) -> User | None:
        """The enabled user called ``name``."""
        data = self._users.get(name)
        if data is None or data.disabled:
            return None
        return User(name, data.groups)

    def verify(self, name: str, password: str) -> User | None:
        """The user, if ``password`` is theirs and they are enabled."""
        data = self._users.get(name)
        if data is None or data.disabled:
            return None
        if not verify_password(password, data.hash, data.salt):
            return None
        return User(name, data.groups)

    # ---- management ----------------------------------------------------------------

    def create(self, name: str, full_name: str, groups: Sequence[str], password: str) -> None:
        existing = self._users.get(name)
        if existing is not None:
            if verify_password(password, existing.hash, existing.salt):
                return  # the same request again: "Updated"
            raise UserError("Conflict", name)
        if self.store.last_revision(USER_STREAM_PREFIX + name) >= 0:
            raise UserError("Conflict", name)
        self._create(name, full_name, groups, password)

    def _create(self, name: str, full_name: str, groups: Sequence[str], password: str) -> UserData:
        hashed, salt = hash_password(password)
        data = UserData(name, full_name, tuple(groups), hashed, salt)
        self._save(data, USER_CREATED)
        self._write(USERS_STREAM, USER_LISTED, name.encode(), is_json=False)
        return data

    def update(self, name: str, full_name: str, groups: Sequence[str]) -> None:
        data = self._get(name)
        self._save(replace(data, full_name=full_name, groups=tuple(groups)), USER_UPDATED)
        self._password_changed(name)

    def set_disabled(self, name: str, disabled: bool) -> None:
        data = self._get(name)
        self._save(replace(data, disabled=disabled), USER_UPDATED)
        if disabled:
            self._password_changed(name)

    def reset_password(self, name: str, password: str) -> None:
        data = self._get(name)
        hashed, salt = hash_password(password)
        self._save(replace(data, hash=hashed, salt=salt), USER_UPDATED)
        self._password_changed(name)

    def change_password(self, name: str, current: str, new: str) -> None:
        data = self._get(name)
        if not verify_password(current, data.hash, data.salt):
            raise UserError("Unauthorized", name)
        self.reset_password(name, new)

    def delete(self, name: str) -> None:
        self._get(name)
        with contextlib.suppress(StreamDeletedError):
            self.store.delete(USER_STREAM_PREFIX + name, ANY)
        del self._users[name]
        self._password_changed(name)

    def details(self, name: str) -> UserData:
        return self._get(name)

    def all(self) -> list[UserData]:
        return sorted(self._users.values(), key=lambda data: data.login_name)

    # ---- internals -----------------------------------------------------------------

    def _get(self, name: str) -> UserData:
        data = self._users.get(name)
        if data is None:
            raise UserError("NotFound", name)
        return data

    def _save(self, data: UserData, event_type: str) -> None:
        self._write(USER_STREAM_PREFIX + data.login_name, event_type, data.to_json())
        stream = USER_STREAM_PREFIX + data.login_name
        found = self.store.read_stream(stream, None, 1, backwards=True)
        created = found.records[0].created if found is not None and found.records else 0
        self._users[data.login_name] = replace(data, updated=created)
        self.generation += 1

    def _password_changed(self, name: str) -> None:
        self._write(
            PASSWORD_NOTIFICATIONS, PASSWORD_CHANGED, json.dumps({"loginName": name}).encode()
        )
        self.generation += 1

    def _write(self, stream: str, event_type: str, data: bytes, *, is_json: bool = True) -> int:
        event = ProposedEvent(uuid.uuid4(), event_type, is_json, data, b"")
        result = self.store.append(stream, ANY, [event])
        return getattr(result, "position", -1)


def _user_error(error: UserError) -> StatusError:
    if error.kind == "NotFound":
        return StatusError(
            StatusCode.NOT_FOUND,
            f"User '{error.login_name}' is not found.",
            trailing_metadata=(
                (errors.EXCEPTION, "user-not-found"),
                ("login-name", error.login_name),
            ),
        )
    if error.kind == "Conflict":
        return StatusError(
            StatusCode.FAILED_PRECONDITION,
            "Conflict.",
            trailing_metadata=(
                (errors.EXCEPTION, "user-conflict"),
                ("login-name", error.login_name),
            ),
        )
    return errors.access_denied()


def _same_user_or_admin(context: CallContext, login_name: str, *, admin_ok: bool) -> None:
    """``Users.Read`` (admins or the user) and ``ChangePassword`` (the user only)."""
    user = user_of(context)
    if user is None:
        return  # insecure mode: everything runs as the system
    if user.name == login_name or (admin_ok and (user.is_admin or user.name == ADMIN_USER)):
        return
    raise errors.access_denied()


class UsersService:
    """``event_store.client.users.Users`` over a :class:`UserDirectory`."""

    def __init__(self, directory: UserDirectory) -> None:
        self.directory = directory

    async def Create(
        self, request: users_pb2.CreateReq, context: CallContext
    ) -> users_pb2.CreateResp:
        options = request.options
        try:
            self.directory.create(
                options.login_name, options.full_name, list(options.groups), options.password
            )
        except UserError as exc:
            raise _user_error(exc) from None
        return users_pb2.CreateResp()

    async def Update(
        self, request: users_pb2.UpdateReq, context: CallContext
    ) -> users_pb2.UpdateResp:
        options = request.options
        try:
            self.directory.update(options.login_name, options.full_name, list(options.groups))
            if options.password:
                self.directory.reset_password(options.login_name, options.password)
        except UserError as exc:
            raise _user_error(exc) from None
        return users_pb2.UpdateResp()

    async def Delete(
        self, request: users_pb2.DeleteReq, context: CallContext
    ) -> users_pb2.DeleteResp:
        try:
            self.directory.delete(request.options.login_name)
        except UserError as exc:
            raise _user_error(exc) from None
        return users_pb2.DeleteResp()

    async def Enable(
        self, request: users_pb2.EnableReq, context: CallContext
    ) -> users_pb2.EnableResp:
        try:
            self.directory.set_disabled(request.options.login_name, False)
        except UserError as exc:
            raise _user_error(exc) from None
        return users_pb2.EnableResp()

    async def Disable(
        self, request: users_pb2.DisableReq, context: CallContext
    ) -> users_pb2.DisableResp:
        try:
            self.directory.set_disabled(request.options.login_name, True)
        except UserError as exc:
            raise _user_error(exc) from None
        return users_pb2.DisableResp()

    async def Details(
        self, request: users_pb2.DetailsReq, context: CallContext
    ) -> AsyncIterator[users_pb2.DetailsResp]:
        login_name = request.options.login_name
        if login_name.strip():
            _same_user_or_admin(context, login_name, admin_ok=True)
            try:
                found = [self.directory.details(login_name)]
            except UserError as exc:
                raise _user_error(exc) from None
        else:
            _same_user_or_admin(context, "", admin_ok=True)
            found = self.directory.all()
        for data in found:
            details = users_pb2.DetailsResp.UserDetails(
                login_name=data.login_name,
                full_name=data.full_name,
                groups=list(data.groups),
                disabled=data.disabled,
            )
            details.last_updated.ticks_since_epoch = data.updated
            yield users_pb2.DetailsResp(user_details=details)

    async def ChangePassword(
        self, request: users_pb2.ChangePasswordReq, context: CallContext
    ) -> users_pb2.ChangePasswordResp:
        options = request.options
        _same_user_or_admin(context, options.login_name, admin_ok=False)
        try:
            self.directory.change_password(
                options.login_name, options.current_password, options.new_password
            )
        except UserError as exc:
            raise _user_error(exc) from None
        return users_pb2.ChangePasswordResp()

    async def ResetPassword(
        self, request: users_pb2.ResetPasswordReq, context: CallContext
    ) -> users_pb2.ResetPasswordResp:
        options = request.options
        try:
            self.directory.reset_password(options.login_name, options.new_password)
        except UserError as exc:
            raise _user_error(exc) from None
        return users_pb2.ResetPasswordResp()
