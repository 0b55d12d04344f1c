"""Projection management on the asyncio client (esdbclient 1.1.7 / kurrentdbclient 1.3.5
names, arguments and defaults), a mixin of
:class:`~esdb_wire.client.aio_client.AsyncEventStoreDBClient`.

Additions, named after the .NET client's ``CreateOneTimeAsync``/``CreateTransientAsync``
and the gRPC ``Result`` call: :meth:`~AsyncProjectionsMixin.create_one_time_projection`,
:meth:`~AsyncProjectionsMixin.create_transient_projection` and
:meth:`~AsyncProjectionsMixin.get_projection_result`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from esdb_wire.client import paths
from esdb_wire.client.aio_admin import AsyncManagementBase
from esdb_wire.client.credentials import CallCredentials
from esdb_wire.exceptions import NotFound
from esdb_wire.lazy_import import lazy_module

if TYPE_CHECKING:
    from esdb_wire.codec import projections as codec
    from esdb_wire.projections import (
        EngineVersion,
        ProjectionResult,
        ProjectionState,
        ProjectionStatistics,
    )
else:
    codec = lazy_module("esdb_wire.codec.projections")


class AsyncProjectionsMixin(AsyncManagementBase):
    """Create, inspect and control projections (the Projections service). A missing
    projection raises ``NotFound``; a name already taken ``AlreadyExists``; a call the
    user may not make ``AccessDeniedError``."""

    async def create_projection(
        self,
        *,
        name: str,
        query: str,
        engine_version: EngineVersion = "v1",
        emit_enabled: bool = False,
        track_emitted_streams: bool = False,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> None:
        """Create and start a continuous projection running the JavaScript ``query``
        (``emit_enabled`` lets it ``emit``/``linkTo``; ``track_emitted_streams``, which
        needs ``emit_enabled``, records the streams it writes so that
        :meth:`delete_projection` can delete them). ``engine_version`` "v2" (KurrentDB
        26.1+) cannot track emitted streams: ``ValueError``."""
        payload = codec.create_continuous_request(
            name,
            query,
            emit_enabled=emit_enabled,
            track_emitted_streams=track_emitted_streams,
            engine_version=engine_version,
        )
        await self._unary_call(paths.PROJ_CREATE, payload, timeout, credentials)

    async def create_one_time_projection(
        self,
        *,
        query: str,
        engine_version: EngineVersion = "v1",
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> None:
        """Create a one-time projection: it runs ``query`` over the events there are now,
        then stops with its result. The server names it (find it with
        :meth:`list_all_projection_statistics`: ``mode == "OneTime"``)."""
        payload = codec.create_one_time_request(query, engine_version=engine_version)
        await self._unary_call(paths.PROJ_CREATE, payload, timeout, credentials)

    async def create_transient_projection(
        self,
        *,
        name: str,
        query: str,
        engine_version: EngineVersion = "v1",
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> None:
        """Create a transient projection: it runs like a continuous one, but is not
        registered in ``$projections-$all``, writes no checkpoints and cannot emit (any
        user may create one)."""
        payload = codec.create_transient_request(name, query, engine_version=engine_version)
        await self._unary_call(paths.PROJ_CREATE, payload, timeout, credentials)

    async def update_projection(
        self,
        name: str,
        *,
        query: str,
        emit_enabled: bool | None = False,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> None:
        """Replace a projection's query (and ``emit_enabled``; None keeps the current
        setting, an esdb_wire addition)."""
        payload = codec.update_request(name, query, emit_enabled)
        await self._unary_call(paths.PROJ_UPDATE, payload, timeout, credentials)

    async def delete_projection(
        self,
        name: str,
        *,
        delete_emitted_streams: bool = False,
        delete_state_stream: bool = False,
        delete_checkpoint_stream: bool = False,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> None:
        """Delete a (disabled) projection, and with it the streams asked for: those it
        emitted to (if it tracked them), its state/result streams, its checkpoints."""
        payload = codec.delete_request(
            name,
            delete_emitted_streams=delete_emitted_streams,
            delete_state_stream=delete_state_stream,
            delete_checkpoint_stream=delete_checkpoint_stream,
        )
        await self._unary_call(paths.PROJ_DELETE, payload, timeout, credentials)

    async def get_projection_statistics(
        self,
        name: str,
        *,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> ProjectionStatistics:
        """A projection's statistics (status, progress, position, counts)."""
        found = await self._statistics(codec.statistics_request(name), timeout, credentials)
        if not found:
            raise NotFound(f"Projection '{name}' not found")
        return found[0]

    async def list_continuous_projection_statistics(
        self, *, timeout: float | None = None, credentials: CallCredentials | None = None
    ) -> list[ProjectionStatistics]:
        """The statistics of every continuous projection (the standard ones included)."""
        payload = codec.statistics_request(scope="continuous")
        return await self._statistics(payload, timeout, credentials)

    async def list_all_projection_statistics(
        self, *, timeout: float | None = None, credentials: CallCredentials | None = None
    ) -> list[ProjectionStatistics]:
        """The statistics of every projection: continuous, one-time and transient."""
        payload = codec.statistics_request(scope="all")
        return await self._statistics(payload, timeout, credentials)

    async def _statistics(
        self, payload: bytes, timeout: float | None, credentials: CallCredentials | None
    ) -> list[ProjectionStatistics]:
        found = await self._management_collect(paths.PROJ_STATISTICS, payload, timeout, credentials)
        return [codec.projection_statistics(data) for data in found]

    async def disable_projection(
        self,
        name: str,
        *,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> None:
        """Stop a projection after writing a checkpoint: enabled again, it resumes from
        there."""
        payload = codec.disable_request(name, write_checkpoint=True)
        await self._unary_call(paths.PROJ_DISABLE, payload, timeout, credentials)

    async def abort_projection(
        self,
        name: str,
        *,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> None:
        """Stop a projection at once, without a checkpoint: enabled again, it resumes
        from its last checkpoint."""
        payload = codec.disable_request(name, write_checkpoint=False)
        await self._unary_call(paths.PROJ_DISABLE, payload, timeout, credentials)

    async def enable_projection(
        self,
        name: str,
        *,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> None:
        """Start a disabled (or aborted) projection again."""
        payload = codec.enable_request(name)
        await self._unary_call(paths.PROJ_ENABLE, payload, timeout, credentials)

    async def reset_projection(
        self,
        name: str,
        *,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> None:
        """Start a projection over from the beginning (a new epoch: its state and
        emitted events are rebuilt)."""
        payload = codec.reset_request(name, write_checkpoint=True)
        await self._unary_call(paths.PROJ_RESET, payload, timeout, credentials)

    async def get_projection_state(
        self,
        name: str,
        partition: str = "",
        *,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> ProjectionState:
        """A projection's state (of ``partition``, for a partitioned projection), as
        plain JSON values (numbers are floats)."""
        payload = codec.state_request(name, partition)
        data = await self._unary_call(paths.PROJ_STATE, payload, timeout, credentials)
        return codec.projection_state(data)

    async def get_projection_result(
        self,
        name: str,
        partition: str = "",
        *,
        timeout: float | None = None,
        credentials: CallCredentials | None = None,
    ) -> ProjectionResult:
        """A projection's result (its state through ``transformBy``/``filterBy``; of
        ``partition``, for a partitioned projection), as plain JSON values."""
        payload = codec.result_request(name, partition)
        data = await self._unary_call(paths.PROJ_RESULT, payload, timeout, credentials)
        return codec.projection_result(data)

    async def restart_projections_subsystem(
        self, *, timeout: float | None = None, credentials: CallCredentials | None = None
    ) -> None:
        """Restart the projections subsystem: every projection stops, then the enabled
        ones start again from their checkpoints. ``FailedPrecondition`` while the
        subsystem is not started (e.g. still restarting)."""
        await self._unary_call(paths.PROJ_RESTART_SUBSYSTEM, codec.EMPTY, timeout, credentials)
