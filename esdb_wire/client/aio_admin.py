"""User management, node operations and monitoring on the asyncio client, as mixins of
:class:`~esdb_wire.client.aio_client.AsyncEventStoreDBClient`.

Neither esdbclient 1.1.7 nor kurrentdbclient 1.3.5 has these calls; the names are the
.NET client's (``EventStoreUserManagementClient``, ``EventStoreOperationsClient``) in
snake_case. Monitoring (no .NET method) is :meth:`AsyncMonitoringMixin.read_stats`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from esdb_wire.client import paths
from esdb_wire.client.aio_base import AsyncClientBase
from esdb_wire.client.aio_response_stream import AsyncResponseStream
from esdb_wire.client.credentials import CallCredentials
from esdb_wire.exceptions import NotFound, UndecodableResponse
from esdb_wire.lazy_import import lazy_module
from esdb_wire.transport.aio import AsyncChannel
from esdb_wire.transport.deadline import Deadline
from esdb_wire.transport.status import StatusError

if TYPE_CHECKING:
    from esdb_wire.codec import admin, errors
    from esdb_wire.operations import DatabaseScavengeResult
    from esdb_wire.users import UserDetails
else:
    admin = lazy_module("esdb_wire.codec.admin")
    errors = lazy_module("esdb_wire.codec.errors")

# The refresh period of a stats stream unless told otherwise (as other clients: 10 s).
DEFAULT_STATS_REFRESH_PERIOD = 10.0


class AsyncManagementBase(AsyncClientBase):
    """The call shape of the management services besides one request and one response
    (:meth:`~AsyncClientBase._unary_call`): one request and a finite stream of responses
    collected into a list."""

    async def _management_collect(
        self,
        path: str,
        payload: bytes,
        timeout: float | None,
        credentials: CallCredentials | None,
        *,
        requires_leader: bool = True,
    ) -> list[bytes]:
        metadata = self._metadata(credentials, requires_leader=requires_leader)
        deadline = self._deadline(timeout)

        async def collect(channel: AsyncChannel) -> list[bytes]:
            call = await channel.unary_stream(
                path, payload, metadata=metadata, timeout=deadline.remaining()
            )
            responses: list[bytes] = []
            try:
                while True:
                    batch = await call.receive_many()
                    if not batch:
                        return responses
                    responses.extend(batch)
            finally:
                call.cancel()  # a no-op once the call has ended

        return await self._run(collect, deadline)


class AsyncUsersMixin(AsyncManagementBase):
    """User accounts (the Users service; ``$admins`` only on a secure node, except that
    users may read their own details and change their own password)."""

    async def create_user(
        self,
        login_name: str,
        full_name: str,
        groups: Sequence[str],
        password: str,
        *,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> None:
        """Create a user who can authenticate at once; ``AlreadyExists`` if the login is
        taken."""
        payload = admin.create_user_request(login_name, full_name, groups, password)
        await self._unary_call(paths.USERS_CREATE, payload, timeout, credentials)

    async def update_user(
        self,
        login_name: str,
        full_name: str,
        groups: Sequence[str],
        *,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> None:
        """Replace a user's full name and groups (the password is kept: see
        :meth:`reset_password`); ``NotFound`` for an unknown user."""
        payload = admin.update_user_request(login_name, full_name, groups)
        await self._unary_call(paths.USERS_UPDATE, payload, timeout, credentials)

    async def delete_user(
        self,
        login_name: str,
        *,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> None:
        """Delete a user (they can no longer authenticate); ``NotFound`` for an unknown
        user."""
        payload = admin.delete_user_request(login_name)
        await self._unary_call(paths.USERS_DELETE, payload, timeout, credentials)

    async def enable_user(
        self,
        login_name: str,
        *,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> None:
        """Let a disabled user authenticate again."""
        payload = admin.enable_user_request(login_name)
        await self._unary_call(paths.USERS_ENABLE, payload, timeout, credentials)

    async def disable_user(
        self,
        login_name: str,
        *,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> None:
        """Refuse a user's credentials until :meth:`enable_user` (the account stays)."""
        payload = admin.disable_user_request(login_name)
        await self._unary_call(paths.USERS_DISABLE, payload, timeout, credentials)

    async def get_user(
        self,
        login_name: str,
        *,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> UserDetails:
        """One user's details; ``NotFound`` for an unknown user."""
        payload = admin.user_details_request(login_name)
        found = await self._management_collect(
            paths.USERS_DETAILS, payload, timeout, credentials, requires_leader=False
        )
        if not found:
            raise NotFound(f"User '{login_name}' is not found.")
        return admin.user_details(found[0])

    async def list_all_users(
        self, *, timeout: float | None = None, credentials: CallCredentials | None = None
    ) -> list[UserDetails]:
        """Every user's details (the .NET client's ``ListAllAsync``)."""
        payload = admin.user_details_request(None)
        found = await self._management_collect(
            paths.USERS_DETAILS, payload, timeout, credentials, requires_leader=False
        )
        return [admin.user_details(data) for data in found]

    async def change_password(
        self,
        login_name: str,
        current_password: str,
        new_password: str,
        *,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> None:
        """Change a user's password, given the current one (a user changes their own:
        call with that user's credentials on a secure node)."""
        payload = admin.change_password_request(login_name, current_password, new_password)
        await self._unary_call(paths.USERS_CHANGE_PASSWORD, payload, timeout, credentials)

    async def reset_password(
        self,
        login_name: str,
        new_password: str,
        *,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> None:
        """Set a user's password without the current one (an administrator's call)."""
        payload = admin.reset_password_request(login_name, new_password)
        await self._unary_call(paths.USERS_RESET_PASSWORD, payload, timeout, credentials)


class AsyncOperationsMixin(AsyncManagementBase):
    """Node operations (the Operations service; ``$ops`` or ``$admins`` on a secure
    node). They act on the node the client is connected to."""

    async def start_scavenge(
        self,
        *,
        thread_count: int = 1,
        start_from_chunk: int = 0,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> DatabaseScavengeResult:
        """Start a scavenge (dropping deleted, truncated and expired events from the
        log); if one is already running, its id with ``ScavengeResult.IN_PROGRESS``.
        ``ValueError`` unless ``thread_count`` > 0 and ``start_from_chunk`` >= 0."""
        payload = admin.start_scavenge_request(thread_count, start_from_chunk)
        data = await self._unary_call(
            paths.OPS_START_SCAVENGE, payload, timeout, credentials, requires_leader=False
        )
        return admin.scavenge_result(data)

    async def stop_scavenge(
        self,
        scavenge_id: str,
        *,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> DatabaseScavengeResult:
        """Stop the running scavenge ``scavenge_id``; ``NotFound`` if it is not the one
        running (finished, or never started)."""
        payload = admin.stop_scavenge_request(scavenge_id)
        data = await self._unary_call(
            paths.OPS_STOP_SCAVENGE, payload, timeout, credentials, requires_leader=False
        )
        return admin.scavenge_result(data, stop=True)

    async def shutdown(
        self, *, timeout: float | None = None, credentials: CallCredentials | None = None
    ) -> None:
        """Shut the server node down (gracefully); this is not :meth:`close`, which ends
        only the client's connection."""
        await self._unary_call(
            paths.OPS_SHUTDOWN, admin.EMPTY, timeout, credentials, requires_leader=False
        )

    async def merge_indexes(
        self, *, timeout: float | None = None, credentials: CallCredentials | None = None
    ) -> None:
        """Ask the node to merge its index tables."""
        await self._unary_call(
            paths.OPS_MERGE_INDEXES, admin.EMPTY, timeout, credentials, requires_leader=False
        )

    async def resign_node(
        self, *, timeout: float | None = None, credentials: CallCredentials | None = None
    ) -> None:
        """Ask the node to resign leadership (in a cluster, a new election follows)."""
        await self._unary_call(
            paths.OPS_RESIGN_NODE, admin.EMPTY, timeout, credentials, requires_leader=False
        )

    async def set_node_priority(
        self,
        node_priority: int,
        *,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> None:
        """Set the node's priority in leader elections."""
        payload = admin.set_node_priority_request(node_priority)
        await self._unary_call(
            paths.OPS_SET_NODE_PRIORITY, payload, timeout, credentials, requires_leader=False
        )

    async def restart_persistent_subscriptions(
        self, *, timeout: float | None = None, credentials: CallCredentials | None = None
    ) -> None:
        """Restart the persistent subscriptions subsystem (consumers are dropped and may
        reconnect)."""
        await self._unary_call(
            paths.OPS_RESTART_PERSISTENT_SUBSCRIPTIONS,
            admin.EMPTY,
            timeout,
            credentials,
            requires_leader=False,
        )


class AsyncMonitoringMixin(AsyncClientBase):
    """Node statistics (the Monitoring service)."""

    async def read_stats(
        self,
        *,
        refresh_period: float = DEFAULT_STATS_REFRESH_PERIOD,
        use_metadata: bool = False,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> AsyncStatsStream:
        """The connected node's statistics (``{"proc-cpu": "3.5", ...}``, the server's
        key names, string values), a fresh set every ``refresh_period`` seconds, as an
        async iterator that runs until stopped (``stop()``, ``async with``, closing the
        client) or for ``timeout`` seconds (None: no deadline). ``use_metadata`` is the
        protocol's flag of that name."""
        payload = admin.stats_request(refresh_period, use_metadata)
        metadata = self._metadata(credentials, requires_leader=False)
        deadline = Deadline.after(timeout)  # never, without a timeout
        call = await self._run(
            lambda channel: channel.unary_stream(
                paths.MONITORING_STATS, payload, metadata=metadata, timeout=deadline.remaining()
            ),
            deadline,
        )
        return AsyncStatsStream(call, closed=lambda: self.is_closed)


class AsyncStatsStream(AsyncResponseStream[dict[str, str]]):
    """Sets of node statistics as they arrive, as an async iterator of ``dict[str, str]``;
    ``stop()`` (or leaving its ``async with`` block), or closing the client, ends it.
    Should the server end it (a node shutting down), iterating raises
    ``ServiceUnavailable``. ``closed`` tells whether the client was closed."""

    async def __anext__(self) -> dict[str, str]:
        if self._ended_locally():
            self._stopped = True
            raise StopAsyncIteration
        try:
            data = await self._call.receive()
        except StatusError as error:
            if self._ended_locally():  # ended by its user while waiting
                self._stopped = True
                raise StopAsyncIteration from None
            raise errors.ended_remotely(error) from error
        if data is None:  # the server ended the stream (it never does on its own)
            raise errors.ended_remotely(None)
        try:
            return admin.stats(data)
        except UndecodableResponse:
            self._abandon()  # its call sends what cannot be read
            raise
