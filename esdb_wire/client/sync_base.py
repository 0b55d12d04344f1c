# Generated from esdb_wire/client/aio_base.py by scripts/unasync.py; do not edit.
"""The connection side of the blocking clients: settings, discovery, the multiplexed
channel, call metadata, redirects and retries. The API lives in subclasses."""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

from esdb_wire.client import paths
from esdb_wire.client.credentials import CallCredentials, basic_credentials, bearer_credentials
from esdb_wire.client.settings import ClientSettings, settings_from_uri
from esdb_wire.client.sync_backend import Lock, sleep
from esdb_wire.cluster import ClusterMember, select_member
from esdb_wire.codec.gossip import GOSSIP_REQUEST, cluster_members
from esdb_wire.exceptions import (
    DiscoveryFailed,
    EventStoreDBClientException,
    NodeIsNotLeader,
    ServiceUnavailable,
)
from esdb_wire.lazy_import import lazy_module
from esdb_wire.transport.blocking import BlockingCall, Channel
from esdb_wire.transport.deadline import NO_DEADLINE, Deadline
from esdb_wire.transport.status import StatusCode, StatusError

if TYPE_CHECKING:
    from esdb_wire.codec import errors
else:
    errors = lazy_module("esdb_wire.codec.errors")  # when a call fails

# Connection events only (never a call's own path, never credentials or the URI): connect
# and discovery at DEBUG, the chosen node, redirects and reconnects at INFO, a failed
# discovery round at WARNING.
_log = logging.getLogger("esdb_wire.client")
# A node without a leader, or a follower asked for persistent subscription statistics,
# answers this (UNAVAILABLE) without doing anything: another node may answer.
_NOT_READY = "Server Is Not Ready"
Metadata = list[tuple[str, str]]
_T = TypeVar("_T")
_Client = TypeVar("_Client", bound="ClientBase")


class ClientBase:
    """An EventStoreDB / KurrentDB client's connection: the blocking client classes build
    on it.

    ``uri`` is a connection string (``esdb://``, ``esdb+discover://``, ``kurrentdb://``, ...)
    or ``host:port`` for a plaintext single node. PEM strings or bytes in
    ``root_certificates`` (trusted CAs), ``certificate_chain`` and ``private_key`` (a user
    certificate) complement the string's TLS options. Credentials go only over TLS unless
    ``allow_plaintext_credentials``. ``http2_engine`` chooses the HTTP/2 engine under gRPC:
    ``"h2"`` (the ``h2`` library, the default) or ``"native"`` (our own, faster); anything
    else raises ``ValueError``. Many callers (threads, or tasks of one event loop) can share
    one client: its calls share one connection.
    """

    def __init__(
        self,
        uri: str | None = None,
        *,
        root_certificates: str | bytes | None = None,
        private_key: str | bytes | None = None,
        certificate_chain: str | bytes | None = None,
        allow_plaintext_credentials: bool = False,
        http2_engine: str | None = None,
    ) -> None:
        self._allow_plaintext_credentials = allow_plaintext_credentials
        self.settings: ClientSettings = settings_from_uri(
            uri or "esdb://localhost:2113",
            root_certificates=root_certificates,
            private_key=private_key,
            certificate_chain=certificate_chain,
            http2_engine=http2_engine,
        )
        # Held while the channel is chosen, replaced or closed.
        self._lock = Lock()
        self._channel: Channel | None = None
        self._target: tuple[str, int] | None = None
        self._batch_append: bool | None = None
        self._closed = False

    # -- connection --------------------------------------------------------------------

    @property
    def connection_target(self) -> str:
        """``host:port`` of the node the client talks to (or will, before connecting)."""
        host, port = self._target or self.settings.targets[0]
        return f"{host}:{port}"

    @property
    def is_closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def construct_bearer_credentials(self, token: str) -> CallCredentials:
        """Per-call bearer-token credentials (servers with an OAuth plugin)."""
        return bearer_credentials(token)

    def construct_call_credentials(self, username: str, password: str) -> CallCredentials:
        """Per-call credentials (pass as ``credentials=`` to any method)."""
        return basic_credentials(username, password)

    def connect(self) -> None:
        """Discover (if asked) and pick the node now instead of on the first call."""
        self._current_channel()

    def _current_channel(self, deadline: Deadline = NO_DEADLINE) -> Channel:
        channel = self._channel
        if channel is not None and not self._closed:
            return channel  # the common case, without the lock
        with self._lock:
            if self._closed:
                raise ServiceUnavailable("the client is closed")
            channel = self._channel
            if channel is None:
                self._target = self._choose_target(deadline)
                _log.debug("connecting to %s:%d", *self._target)
                channel = self._channel = self._open(self._target)
            return channel

    def _open(self, target: tuple[str, int]) -> Channel:
        settings = self.settings
        return Channel(
            target[0], target[1], ssl_context=settings.ssl_context, config=settings.config
        )

    def _choose_target(self, deadline: Deadline = NO_DEADLINE) -> tuple[str, int]:
        settings = self.settings
        if not settings.discover:
            return settings.targets[0]
        last_error: Exception | None = None
        for attempt in range(settings.max_discover_attempts):
            if attempt:
                sleep(deadline.cap(settings.discovery_interval))
            for seed in settings.targets:
                deadline.check("discovering the cluster")
                _log.debug("discovery: asking %s:%d for gossip", *seed)
                try:
                    gossip = self._gossip(seed, deadline)
                    member = select_member(gossip, settings.node_preference)
                except (EventStoreDBClientException, StatusError) as error:
                    _log.debug("discovery: %s:%d failed: %s", seed[0], seed[1], error)
                    last_error = error
                    continue
                _log.info(
                    "discovery: chose %s:%d (%s, preference %s) from %d members via %s:%d",
                    member.address,
                    member.port,
                    member.state,
                    settings.node_preference,
                    len(gossip),
                    seed[0],
                    seed[1],
                )
                return member.address, member.port
            _log.warning(
                "discovery attempt %d of %d found no suitable node%s",
                attempt + 1,
                settings.max_discover_attempts,
                f": {last_error}" if last_error else "",
            )
        # The last round's reason (LeaderNotFound, FollowerNotFound...) if no seed failed.
        kind = type(last_error) if isinstance(last_error, DiscoveryFailed) else DiscoveryFailed
        raise kind(
            f"no suitable node after {settings.max_discover_attempts} discovery attempts"
            + (f": {last_error}" if last_error else "")
        )

    def _gossip(
        self, seed: tuple[str, int], deadline: Deadline = NO_DEADLINE
    ) -> list[ClusterMember]:
        with self._open(seed) as channel:
            data = channel.unary_unary(
                paths.GOSSIP_READ,
                GOSSIP_REQUEST,
                timeout=deadline.cap(self.settings.gossip_timeout),
            )
        return cluster_members(data)

    def reconnect(
        self, target: tuple[str, int] | None = None, *, replacing: Channel | None = None
    ) -> None:
        """Drop the connection; the next call connects (to ``target`` or by discovery).

        With ``replacing``, only if that channel is still the current one (another caller
        may already have reconnected)."""
        with self._lock:
            if replacing is not None and self._channel is not replacing:
                return
            if target is not None:
                _log.info("reconnecting to %s:%d", *target)
            else:
                _log.info("dropping the connection; the next call reconnects")
            channel, self._channel = self._channel, None
            self._batch_append = None
            if target is not None:
                self._target = target
                self._channel = self._open(target)
        if channel is not None:
            channel.close()

    def _metadata(self, credentials: CallCredentials | None, requires_leader: bool) -> Metadata:
        metadata = [
            ("connection-name", self.settings.connection_name),
            ("requires-leader", "true" if requires_leader else "false"),
        ]
        chosen = credentials or self.settings.credentials
        if chosen is not None and (self.settings.tls or self._allow_plaintext_credentials):
            metadata.extend(chosen.metadata)  # never over plaintext
        return metadata

    def _read_metadata(self, credentials: CallCredentials | None) -> Metadata:
        """Reads and subscriptions ask for the leader when the client prefers it."""
        return self._metadata(credentials, self.settings.node_preference == "leader")

    def _run(
        self,
        operation: Callable[[Channel], _T],
        deadline: Deadline = NO_DEADLINE,
        *,
        idempotent: bool = False,
    ) -> _T:
        """Run a call; follow a not-leader redirect or a fresh reconnect once (an
        ``idempotent`` one, a read, also after its node became unavailable in a cluster).
        Every step (discovery, connecting, the call, the retry) spends from one
        ``deadline``: the operation passes ``deadline.remaining()`` as its call's timeout,
        and nothing is sent once it has passed."""
        for attempt in (1, 2):
            channel: Channel | None = None
            try:
                deadline.check("the call was sent")
                channel = self._current_channel(deadline)
                return operation(channel)
            except StatusError as error:
                mapped = errors.map_error(error)
                if deadline.expired and error.code is StatusCode.UNAVAILABLE:
                    # The connection gave out (a write blocked past the deadline, say).
                    raise errors.map_error(
                        StatusError(StatusCode.DEADLINE_EXCEEDED, error.message)
                    ) from error
                moved = self._moved(error, mapped, channel, idempotent=idempotent)
                if moved and attempt == 1:
                    continue
                if attempt == 1 and error.code is StatusCode.UNAVAILABLE and error.retryable:
                    # Never reached the server; the channel opens a new connection.
                    _log.info(
                        "%s unavailable (%s); retrying on a new connection",
                        self.connection_target,
                        error.message,
                    )
                    continue
                raise mapped from error
        raise AssertionError("unreachable")

    def _moved(
        self,
        error: StatusError,
        mapped: Exception,
        channel: Channel | None,
        *,
        idempotent: bool = False,
    ) -> bool:
        """After a call on ``channel`` failed with ``error``: reconnect where it says to
        go, and tell whether the call may be sent again there (it did nothing, or it is
        ``idempotent``: a read). A NotLeader names the leader; in a cluster (discovery),
        an unavailable node may be gone or not ready, and discovery finds the node to use
        again."""
        if isinstance(mapped, NodeIsNotLeader) and mapped.host:
            leader = (mapped.host, mapped.port or self.settings.targets[0][1])
            _log.info("%s is not the leader: redirected to %s:%d", self.connection_target, *leader)
            self.reconnect(leader, replacing=channel)
            return True
        if error.code is StatusCode.UNAVAILABLE and self.settings.discover:
            _log.info(
                "%s unavailable (%s); discovering the cluster again",
                self.connection_target,
                error.message,
            )
            self.reconnect(None, replacing=channel)
            return idempotent or error.retryable or error.message == _NOT_READY
        return False

    def _open_server_stream(
        self, path: str, payload: bytes, metadata: Metadata, deadline: Deadline
    ) -> tuple[BlockingCall, Callable[[StatusError], BlockingCall | None]]:
        """A server-streaming call (a read), and how to open it again if it fails before
        its first answer: once, where a NotLeader sends it (or, in a cluster, wherever
        discovery finds after an unavailable node: a read may be sent twice)."""
        channels: list[Channel] = []

        def open_on(channel: Channel) -> BlockingCall:
            channels.append(channel)
            return channel.unary_stream(
                path, payload, metadata=metadata, timeout=deadline.remaining()
            )

        def reopen(error: StatusError) -> BlockingCall | None:
            if not self._moved(error, errors.map_error(error), channels[-1], idempotent=True):
                return None
            return self._run(open_on, deadline, idempotent=True)

        return self._run(open_on, deadline, idempotent=True), reopen

    def _deadline(self, timeout: float | None) -> Deadline:
        """The one deadline of an operation starting now: ``timeout`` seconds, or the
        connection string's ``DefaultDeadline`` (every call but subscriptions)."""
        return Deadline.after(timeout if timeout is not None else self.settings.default_deadline)

    def _unary_call(
        self,
        path: str,
        payload: bytes,
        timeout: float | None,
        credentials: CallCredentials | None,
        *,
        requires_leader: bool = True,
    ) -> bytes:
        """One encoded request to ``path``, its one encoded response: within ``timeout``
        (else the ``DefaultDeadline``), with ``credentials`` (else the client's)."""
        metadata = self._metadata(credentials, requires_leader=requires_leader)
        deadline = self._deadline(timeout)
        data = self._run(
            lambda channel: channel.unary_unary(
                path, payload, metadata=metadata, timeout=deadline.remaining()
            ),
            deadline,
        )
        return bytes(data)

    # -- cluster -----------------------------------------------------------------------

    def read_gossip(
        self, *, timeout: float | None = None, credentials: CallCredentials | None = None
    ) -> tuple[ClusterMember, ...]:
        """The cluster members as the connected node sees them."""
        metadata = self._read_metadata(credentials)
        deadline = Deadline.after(timeout if timeout is not None else self.settings.gossip_timeout)
        data = self._run(
            lambda channel: channel.unary_unary(
                paths.GOSSIP_READ, GOSSIP_REQUEST, metadata=metadata, timeout=deadline.remaining()
            ),
            deadline,
        )
        return tuple(cluster_members(data))

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Cancel open calls (subscriptions included) and close the connection; closing
        twice is harmless."""
        with self._lock:
            self._closed = True
            channel, self._channel = self._channel, None
        if channel is not None:
            channel.close()

    def __enter__(self: _Client) -> _Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
