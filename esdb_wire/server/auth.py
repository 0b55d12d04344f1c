"""Secure mode: who is calling (authentication) and what they may do (authorization).

Follows the real server (spec §7, §3.10), read from its source:

* **Authentication** (``AuthenticationMiddleware``, ``BasicHttpAuthenticationProvider``)
  runs before any handler, for every rpc. The providers are tried in order:

  1. ``authorization: Basic base64(user:password)`` (scheme spelled exactly ``Basic``):
     a known user with that password is that user; anything else, a wrong password, an
     unknown user or text that is not base64, ends the call with UNAUTHENTICATED
     "Unauthenticated" and no ``exception`` trailer. A decoded value without ``:`` is not
     handled by this provider (the server moves on to the next one).
  2. ``authorization: Bearer <token>``, only when a token table is configured (on a real
     node only with an OAuth plugin): a known token is its user, others UNAUTHENTICATED.
     Without a table the header is ignored, as a node without the plugin does.
  3. A TLS client certificate (when the server trusts a CA): a verified certificate whose
     common name is a known user and that is not a node certificate (it has no DNS or IP
     subject alternative name) authenticates as that user, as the user-certificates
     feature of 24.2+ does. Node certificates (the server's ``system`` account) are not
     emulated.
  4. Otherwise the caller is anonymous (``None``).

* **Authorization** (``LegacyPolicySelectorFactory``, ``LegacyStreamPermissionAssertion``,
  ``SystemSettings``): stream operations are checked against the stream's ACL by
  :class:`StreamAccess` inside the Streams service; other services get a coarse per-rpc
  policy here (gossip and server features anonymous, operations for ``$ops``/``$admins``,
  ...). Denials are PERMISSION_DENIED "Access Denied" with ``exception: access-denied``.

:func:`secure_methods` wraps mounted :class:`~esdb_wire.server.rpc.Method` handlers, so the
same checks run on our transport and on any other host of those methods (grpcio).
Handlers read the caller with :func:`user_of`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable, Final, Protocol

from esdb_wire.server import errors
from esdb_wire.server.records import SETTINGS, ReadCheck, StreamDeletedError
from esdb_wire.server.rpc import CallContext, Method
from esdb_wire.server.store import EventStore
from esdb_wire.transport.status import MetadataValue

# Roles (``SystemRoles``) and the default users (``SystemUsers``).
ADMINS: Final = "$admins"
OPS: Final = "$ops"
ALL: Final = "$all"
ADMIN_USER: Final = "admin"
OPS_USER: Final = "ops"
DEFAULT_PASSWORD: Final = "changeit"

# ACL keys of stream metadata (``$acl``) and of ``$settings``.
READ: Final = "$r"
WRITE: Final = "$w"
DELETE: Final = "$d"
METADATA_READ: Final = "$mr"
METADATA_WRITE: Final = "$mw"
ACL_KEYS: Final = (READ, WRITE, DELETE, METADATA_READ, METADATA_WRITE)

ALL_STREAM: Final = "$all"
_METASTREAM_PREFIX = "$$"
_AUTHORIZATION = "authorization"
_CACHE_SIZE = 256

# name → (password, groups)
UserEntry = tuple[str, tuple[str, ...]]
UserTable = Mapping[str, tuple[str, Sequence[str]]]
Acl = Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class User:
    """An authenticated caller: a login name and the groups (roles) it belongs to."""

    name: str
    groups: tuple[str, ...] = ()

    def has_role(self, role: str) -> bool:
        """An ACL role matches the user's name or one of its groups (name and role claims)."""
        return role == self.name or role in self.groups

    @property
    def is_admin(self) -> bool:
        """Members of ``$admins`` pass every stream ACL."""
        return ADMINS in self.groups

    @property
    def is_ops_or_admin(self) -> bool:
        """The server's ``OperationsOrAdmins`` claims: the roles or the default user names."""
        return ADMINS in self.groups or OPS in self.groups or self.name in (ADMIN_USER, OPS_USER)


# ---- users ---------------------------------------------------------------------------


def default_users(
    admin_password: str = DEFAULT_PASSWORD, ops_password: str = DEFAULT_PASSWORD
) -> dict[str, UserEntry]:
    """The users a fresh node creates: ``admin`` (``$admins``) and ``ops`` (``$ops``)."""
    return {ADMIN_USER: (admin_password, (ADMINS,)), OPS_USER: (ops_password, (OPS,))}


def parse_user(spec: str) -> tuple[str, UserEntry]:
    """``NAME:PASSWORD[:GROUP,GROUP...]`` (the ``--user`` option) → (name, entry)."""
    name, sep, rest = spec.partition(":")
    if not name or not sep:
        raise ValueError(f"expected NAME:PASSWORD[:GROUP,...], not {spec!r}")
    password, _, groups = rest.partition(":")
    return name, (password, tuple(group for group in groups.split(",") if group))


def _normalise(users: UserTable) -> dict[str, UserEntry]:
    return {name: (password, tuple(groups)) for name, (password, groups) in users.items()}


# ---- authentication ------------------------------------------------------------------


class UserLookup(Protocol):
    """Where users live when they can change at run time (:mod:`esdb_wire.server.users`):
    checked instead of the static table; ``generation`` moves on with every change."""

    generation: int

    def verify(self, name: str, password: str) -> User | None: ...

    def principal(self, name: str) -> User | None: ...


class Authenticator:
    """Turns a call's credentials into a :class:`User`, ``None`` (anonymous), or raises
    UNAUTHENTICATED (see the module docstring for the order)."""

    def __init__(
        self,
        users: UserTable,
        *,
        bearer_tokens: Mapping[str, str] | None = None,
        certificate_users: bool = True,
        directory: UserLookup | None = None,
    ) -> None:
        """``users`` maps names to (password, groups); ``bearer_tokens`` maps tokens to user
        names (None: Bearer headers are ignored); ``certificate_users`` lets a client
        certificate whose CN is a user name authenticate as that user. With ``directory``
        the users are looked up there instead of in ``users``."""
        self._directory = directory
        self._generation = -1 if directory is None else directory.generation
        self._users = _normalise(users)
        self._principals = {name: User(name, groups) for name, (_, groups) in self._users.items()}
        self._tokens = None if bearer_tokens is None else dict(bearer_tokens)
        self._certificate_users = certificate_users
        self._accepted: dict[str, User] = {}  # authorization header → user, for repeats

    def user(self, name: str) -> User | None:
        """The configured user called ``name``."""
        if self._directory is not None:
            return self._directory.principal(name)
        return self._principals.get(name)

    def authenticate(self, context: CallContext) -> User | None:
        header = context.metadata.get(_AUTHORIZATION)
        directory = self._directory
        if directory is not None and directory.generation != self._generation:
            self._accepted.clear()  # users changed: check every credential again
            self._generation = directory.generation
        if header is not None:
            known = self._accepted.get(header)
            if known is not None:
                return known
            user = self._from_header(header)
            if user is not None:
                if len(self._accepted) >= _CACHE_SIZE:
                    self._accepted.clear()
                self._accepted[header] = user
                return user
        if self._certificate_users:
            return self._from_certificate(context)
        return None

    def _from_header(self, header: str) -> User | None:
        """The user of an ``authorization`` value; None when no provider handles it."""
        scheme, _, parameter = header.strip().partition(" ")
        parameter = parameter.strip()
        if scheme == "Basic":
            return self._basic(parameter)
        if scheme == "Bearer" and self._tokens is not None:
            name = self._tokens.get(parameter)
            user = None if name is None else self.user(name)
            if user is None:
                raise errors.unauthenticated()
            return user
        return None

    def _basic(self, parameter: str) -> User | None:
        # The server's base64 decoding throws on these (no status of its own is known):
        # they are rejected like wrong credentials.
        if not parameter:
            raise errors.unauthenticated()
        try:
            decoded = base64.b64decode(parameter, validate=True)
        except (binascii.Error, ValueError):
            raise errors.unauthenticated() from None
        name, sep, password = decoded.decode("utf-8", errors="replace").partition(":")
        if not sep:
            return None  # not handled by the Basic provider: the caller stays anonymous
        if self._directory is not None:
            found = self._directory.verify(name, password)
            if found is None:
                raise errors.unauthenticated()
            return found
        entry = self._users.get(name)
        if entry is None or not hmac.compare_digest(
            entry[0].encode("utf-8"), password.encode("utf-8")
        ):
            raise errors.unauthenticated()
        return self._principals[name]

    def _from_certificate(self, context: CallContext) -> User | None:
        certificate = getattr(context, "peer_certificate", None)
        if not isinstance(certificate, dict):
            return None
        if any(kind in ("DNS", "IP Address") for kind, _ in certificate.get("subjectAltName", ())):
            return None  # a node certificate, not a user's
        for rdn in certificate.get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    return self.user(value)
        return None


# ---- stream ACLs ---------------------------------------------------------------------

_DEFAULT_USER_ACL: Acl = {key: (ALL,) for key in ACL_KEYS}
_DEFAULT_SYSTEM_ACL: Acl = {key: (ADMINS,) for key in ACL_KEYS}


def _roles(value: object) -> tuple[str, ...] | None:
    """The roles of one ACL entry: a string or an array of strings; None if absent."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(item for item in value if isinstance(item, str))
    return None


def parse_acl(value: object) -> dict[str, tuple[str, ...]]:
    """The entries an ``$acl`` object sets (missing keys fall back to the defaults)."""
    if not isinstance(value, dict):
        return {}
    acl = {}
    for key in ACL_KEYS:
        roles = _roles(value.get(key))
        if roles is not None:
            acl[key] = roles
    return acl


class StreamAccess:
    """The ACL check of stream operations (``LegacyStreamPermissionAssertion``).

    The roles for an operation come from the stream's ``$acl`` metadata, else from
    ``$settings`` (``$userStreamAcl`` / ``$systemStreamAcl``), else the defaults: ``$all``
    for user streams, ``$admins`` for system (``$``) streams, ``$all`` itself included.
    Reading or writing ``$$X`` needs X's ``$mr`` / ``$mw``. ``$admins`` pass every check;
    anonymous callers pass none unless ``allow_anonymous`` (AllowAnonymousStreamAccess,
    false since 23.10). Writing or deleting ``$all``, and deleting a metastream, is denied
    to everyone.
    """

    def __init__(self, store: EventStore, *, allow_anonymous: bool = False) -> None:
        self._store = store
        self.allow_anonymous = allow_anonymous
        self._settings_revision = -2
        self._settings: tuple[Acl, Acl] = (_DEFAULT_USER_ACL, _DEFAULT_SYSTEM_ACL)

    def check(self, user: User | None, operation: str, stream_name: str | None) -> None:
        """Raise PERMISSION_DENIED ``access-denied`` unless :meth:`allowed`."""
        if not self.allowed(user, operation, stream_name):
            raise errors.access_denied()

    def allowed(self, user: User | None, operation: str, stream_name: str | None) -> bool:
        """Whether ``user`` (None: anonymous) may do ``operation`` (:data:`READ`,
        :data:`WRITE` or :data:`DELETE`) on ``stream_name`` (None: no stream given)."""
        if stream_name is None:
            return False
        if stream_name == "":
            stream_name = ALL_STREAM
        if stream_name == ALL_STREAM and operation in (WRITE, DELETE):
            return False
        if user is None and not self.allow_anonymous:
            return False
        if stream_name.startswith(_METASTREAM_PREFIX):
            if operation == READ:
                operation = METADATA_READ
            elif operation == WRITE:
                operation = METADATA_WRITE
            else:
                return False  # no such metadata operation
            stream_name = stream_name[len(_METASTREAM_PREFIX) :]
        if user is not None and user.is_admin:
            return True
        roles = self.roles(operation, stream_name)
        if ALL in roles:
            return True
        return user is not None and any(user.has_role(role) for role in roles)

    def read_check(self, user: User | None) -> ReadCheck | None:
        """What a link's target must pass to be resolved for ``user``: :data:`READ` on
        the target's stream, so ``$mr`` for a metastream ``$$X`` and ``$admins`` for
        system streams such as ``$settings`` by default, checked when the link is read
        (see :func:`~esdb_wire.server.records.readable_target`). None for admins, whom
        nothing is refused."""
        if user is not None and user.is_admin:
            return None

        def may_read(stream_name: str) -> bool:
            return self.allowed(user, READ, stream_name)

        return may_read

    def roles(self, operation: str, stream_name: str) -> tuple[str, ...]:
        """The roles allowed to do ``operation`` (an ACL key) on ``stream_name``."""
        raw = self._store.metadata(stream_name).raw
        acl = None if raw is None else raw.get("$acl")
        if isinstance(acl, dict):
            roles = _roles(acl.get(operation))
            if roles is not None:
                return roles
        user_acl, system_acl = self._system_settings()
        system = stream_name.startswith("$")
        roles = (system_acl if system else user_acl).get(operation)
        if roles is None:
            roles = (_DEFAULT_SYSTEM_ACL if system else _DEFAULT_USER_ACL)[operation]
        return roles

    def _system_settings(self) -> tuple[Acl, Acl]:
        """The ACLs of the last ``$settings`` event (re-read when it changes)."""
        store = self._store
        revision = store.last_revision(SETTINGS)
        if revision != self._settings_revision:
            self._settings_revision = revision
            self._settings = (_DEFAULT_USER_ACL, _DEFAULT_SYSTEM_ACL)
            try:
                found = store.read_stream(SETTINGS, None, 1, backwards=True)
            except StreamDeletedError:
                found = None
            if found is not None and found.records and found.records[0].is_json:
                try:
                    settings = json.loads(found.records[0].data)
                except ValueError:
                    settings = None
                if isinstance(settings, dict):
                    self._settings = (
                        parse_acl(settings.get("$userStreamAcl")),
                        parse_acl(settings.get("$systemStreamAcl")),
                    )
        return self._settings


# ---- per-rpc policy ------------------------------------------------------------------

ANONYMOUS: Final = "anonymous"  # anyone, credentials or not
AUTHENTICATED: Final = "authenticated"  # any user
OPS_OR_ADMINS: Final = "ops-or-admins"
ADMINS_ONLY: Final = "admins"
SERVICE: Final = "service"  # the service checks each request itself (stream ACLs)

_STREAMS = "event_store.client.streams.Streams"
_PERSISTENT = "event_store.client.persistent_subscriptions.PersistentSubscriptions"
_USERS = "event_store.client.users.Users"
_PROJECTIONS = "event_store.client.projections.Projections"

SERVICE_POLICIES: Final[Mapping[str, str]] = {
    _STREAMS: SERVICE,
    "kurrentdb.protocol.v2.streams.StreamsService": SERVICE,
    "event_store.client.gossip.Gossip": ANONYMOUS,  # OverrideAnonymousEndpointAccessForGossip
    "event_store.client.server_features.ServerFeatures": ANONYMOUS,
    "event_store.client.operations.Operations": OPS_OR_ADMINS,
    "event_store.client.monitoring.Monitoring": AUTHENTICATED,
    _USERS: ADMINS_ONLY,
    _PERSISTENT: OPS_OR_ADMINS,
    _PROJECTIONS: AUTHENTICATED,
}
METHOD_POLICIES: Final[Mapping[tuple[str, str], str]] = {
    # The service must still match the user name (``Users.Read`` / ``ChangePassword``).
    (_USERS, "Details"): AUTHENTICATED,
    (_USERS, "ChangePassword"): AUTHENTICATED,
    # ``Subscriptions.ProcessMessages``: the service must still check the stream's $r.
    (_PERSISTENT, "Read"): AUTHENTICATED,
    (_PERSISTENT, "GetInfo"): AUTHENTICATED,  # Subscriptions.Statistics
    (_PERSISTENT, "List"): AUTHENTICATED,
    (_PROJECTIONS, "Delete"): OPS_OR_ADMINS,
    (_PROJECTIONS, "RestartSubsystem"): OPS_OR_ADMINS,
}


def policy_of(path: str) -> str:
    """The per-rpc policy of a gRPC path; unknown services need an authenticated user."""
    service, _, method = path[1:].rpartition("/")
    policy = METHOD_POLICIES.get((service, method))
    if policy is None:
        policy = SERVICE_POLICIES.get(service, AUTHENTICATED)
    return policy


def _permits(policy: str, user: User | None) -> bool:
    if policy in (ANONYMOUS, SERVICE):
        return True
    if user is None:
        return False
    if policy == OPS_OR_ADMINS:
        return user.is_ops_or_admin
    if policy == ADMINS_ONLY:
        return user.is_admin or user.name == ADMIN_USER
    return True


# ---- wiring --------------------------------------------------------------------------


class AuthenticatedContext:
    """A :class:`~esdb_wire.server.rpc.CallContext` that also knows the caller."""

    __slots__ = ("_context", "user")

    def __init__(self, context: CallContext, user: User | None) -> None:
        self._context = context
        self.user = user

    @property
    def metadata(self) -> Mapping[str, str]:
        return self._context.metadata

    @property
    def peer(self) -> str:
        return self._context.peer

    def time_remaining(self) -> float | None:
        return self._context.time_remaining()

    def set_trailers(self, trailers: Sequence[tuple[str, MetadataValue]]) -> None:
        self._context.set_trailers(trailers)


def user_of(context: CallContext) -> User | None:
    """The caller of a call served through :func:`secure_methods`; None if anonymous (or
    if the call did not go through it)."""
    return context.user if isinstance(context, AuthenticatedContext) else None


Handler = Callable[[Any, CallContext], Any]


def _guarded(handler: Handler, authenticator: Authenticator, policy: str) -> Handler:
    """``handler`` behind authentication and the rpc's policy.

    A plain function, not ``async``: it raises before the handler's coroutine or async
    generator exists, so a rejected call ends before any response (Trailers-Only) and
    served calls pay no extra await or generator hop.
    """

    def guarded(argument: Any, context: CallContext) -> Any:
        user = authenticator.authenticate(context)
        if not _permits(policy, user):
            raise errors.access_denied()
        return handler(argument, AuthenticatedContext(context, user))

    return guarded


def secure_methods(
    methods: Mapping[str, Method], authenticator: Authenticator
) -> dict[str, Method]:
    """``methods`` with every handler behind :class:`Authenticator` and the rpc policy."""
    return {
        path: dataclasses.replace(
            method, handler=_guarded(method.handler, authenticator, policy_of(path))
        )
        for path, method in methods.items()
    }


@dataclass(frozen=True)
class Security:
    """Secure mode settings for :func:`~esdb_wire.server.embedded.build_methods`."""

    users: Mapping[str, UserEntry] = dataclasses.field(default_factory=default_users)
    allow_anonymous_stream_access: bool = False
    bearer_tokens: Mapping[str, str] | None = None
    certificate_users: bool = True

    @classmethod
    def with_users(
        cls,
        users: UserTable | None = None,
        *,
        admin_password: str = DEFAULT_PASSWORD,
        ops_password: str = DEFAULT_PASSWORD,
        **options: Any,
    ) -> Security:
        """The default users (with these passwords) plus or overridden by ``users``."""
        table = default_users(admin_password, ops_password)
        table.update(_normalise(users or {}))
        return cls(users=table, **options)

    def authenticator(self, directory: UserLookup | None = None) -> Authenticator:
        """The authenticator of these settings (users from ``directory`` if given)."""
        return Authenticator(
            self.users,
            bearer_tokens=self.bearer_tokens,
            certificate_users=self.certificate_users,
            directory=directory,
        )
