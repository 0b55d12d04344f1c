"""``event_store.client.projections.Projections`` over the :class:`ProjectionManager`.

Replies as a 25.0 node does (``ProjectionManagement.*.cs``): an unknown projection is
NOT_FOUND ``Projection '<name>' not found``; any other refusal of the manager is UNKNOWN
``Envelope callback expected Updated, received <Conflict|OperationFailed|
NotAuthorized> instead`` (the text esdbclient maps to AlreadyExists / OperationFailed);
``track_emitted_streams`` without ``emit_enabled`` throws in the handler (UNKNOWN
``Exception was thrown by handler.``). States and results are JSON turned into
``google.protobuf.Value`` (an empty one is an empty struct).

Creating a custom projection without the JavaScript engine installed is
FAILED_PRECONDITION with a message naming the extra (``pip install
esdb-wire[projections]``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from google.protobuf import struct_pb2

from esdb_wire.codec.json_values import value_of_json
from esdb_wire.protos import projections_pb2, shared_pb2
from esdb_wire.server import errors
from esdb_wire.server.auth import user_of
from esdb_wire.server.projections.jsruntime import EngineMissing
from esdb_wire.server.projections.managed import Mode
from esdb_wire.server.projections.manager import (
    NOT_FOUND,
    ProjectionError,
    ProjectionManager,
    RunAs,
    SubsystemBusy,
)
from esdb_wire.server.rpc import CallContext
from esdb_wire.transport.status import StatusCode, StatusError

P = projections_pb2
_STAT_MODES = {"transient": Mode.Transient, "one_time": Mode.OneTime, "continuous": Mode.Continuous}


def _run_as(context: CallContext) -> RunAs:
    user = user_of(context)
    return RunAs() if user is None else RunAs(user.name, user.groups)


def _refused(error: ProjectionError, name: str, expected: str = "Updated") -> StatusError:
    if error.kind == NOT_FOUND:
        return StatusError(StatusCode.NOT_FOUND, f"Projection '{name}' not found")
    return StatusError(
        StatusCode.UNKNOWN, f"Envelope callback expected {expected}, received {error.kind} instead"
    )


class ProjectionsService:
    """The Projections rpcs (see :mod:`esdb_wire.server.rpc` for the handler shapes)."""

    def __init__(self, manager: ProjectionManager) -> None:
        self.manager = manager

    async def Create(self, request: P.CreateReq, context: CallContext) -> P.CreateResp:
        options = request.options
        case = options.WhichOneof("mode")
        if case == "continuous":
            name, mode = options.continuous.name, Mode.Continuous
            emit = options.continuous.emit_enabled
            track = options.continuous.track_emitted_streams
            if track and not emit:
                raise errors.unhandled()  # "EmitEnabled must be set to true to track ..."
        elif case == "transient":
            name, mode, emit, track = options.transient.name, Mode.Transient, False, False
        elif case == "one_time":
            name, mode, emit, track = "", Mode.OneTime, False, False
        else:
            raise errors.unhandled()
        engine = options.engine_version if options.engine_version > 0 else 1
        try:
            await self.manager.create(
                name,
                options.query,
                mode,
                emit_enabled=emit,
                track_emitted_streams=track,
                engine_version=engine,
                run_as=_run_as(context),
            )
        except EngineMissing as exc:
            raise StatusError(StatusCode.FAILED_PRECONDITION, str(exc)) from None
        except ProjectionError as exc:
            raise _refused(exc, name) from None
        return P.CreateResp()

    async def Update(self, request: P.UpdateReq, context: CallContext) -> P.UpdateResp:
        options = request.options
        case = options.WhichOneof("emit_option")
        if case is None:
            raise errors.unhandled()
        emit = options.emit_enabled if case == "emit_enabled" else None
        try:
            await self.manager.update(options.name, options.query, emit, _run_as(context))
        except ProjectionError as exc:
            raise _refused(exc, options.name) from None
        return P.UpdateResp()

    async def Delete(self, request: P.DeleteReq, context: CallContext) -> P.DeleteResp:
        options = request.options
        try:
            await self.manager.delete(
                options.name,
                delete_emitted_streams=options.delete_emitted_streams,
                delete_state_stream=options.delete_state_stream,
                delete_checkpoint_stream=options.delete_checkpoint_stream,
                run_as=_run_as(context),
            )
        except ProjectionError as exc:
            raise _refused(exc, options.name) from None
        return P.DeleteResp()

    async def Statistics(
        self, request: P.StatisticsReq, context: CallContext
    ) -> AsyncIterator[P.StatisticsResp]:
        options = request.options
        case = options.WhichOneof("mode")
        name = options.name if case == "name" and options.name else None
        try:
            found = self.manager.statistics(name, _STAT_MODES.get(case or ""))
        except ProjectionError as exc:
            raise _refused(exc, options.name, "Statistics") from None
        for stats in found:
            yield P.StatisticsResp(details=P.StatisticsResp.Details(**stats))

    async def Disable(self, request: P.DisableReq, context: CallContext) -> P.DisableResp:
        options = request.options
        try:
            await self.manager.disable(
                options.name, write_checkpoint=options.write_checkpoint, run_as=_run_as(context)
            )
        except ProjectionError as exc:
            raise _refused(exc, options.name) from None
        return P.DisableResp()

    async def Enable(self, request: P.EnableReq, context: CallContext) -> P.EnableResp:
        options = request.options
        try:
            await self.manager.enable(options.name, _run_as(context))
        except ProjectionError as exc:
            raise _refused(exc, options.name) from None
        return P.EnableResp()

    async def Reset(self, request: P.ResetReq, context: CallContext) -> P.ResetResp:
        options = request.options
        try:
            await self.manager.reset(options.name, _run_as(context))
        except ProjectionError as exc:
            raise _refused(exc, options.name) from None
        return P.ResetResp()

    async def State(self, request: P.StateReq, context: CallContext) -> P.StateResp:
        options = request.options
        try:
            text = await self.manager.state(options.name, options.partition)
        except ProjectionError as exc:
            raise _refused(exc, options.name, "ProjectionState") from None
        return P.StateResp(state=_value(text))

    async def Result(self, request: P.ResultReq, context: CallContext) -> P.ResultResp:
        options = request.options
        try:
            text = await self.manager.state(options.name, options.partition, result=True)
        except ProjectionError as exc:
            raise _refused(exc, options.name, "ProjectionResult") from None
        return P.ResultResp(result=_value(text))

    async def RestartSubsystem(
        self, request: shared_pb2.Empty, context: CallContext
    ) -> shared_pb2.Empty:
        try:
            self.manager.restart_subsystem()
        except SubsystemBusy as exc:
            raise StatusError(
                StatusCode.FAILED_PRECONDITION,
                "Projection Subsystem cannot be restarted as it is in the wrong state: "
                f"{exc.state}",
            ) from None
        return shared_pb2.Empty()


def _value(text: str) -> struct_pb2.Value:
    try:
        return value_of_json(text)
    except ValueError:
        # A state that is a bare string (``return "text"``) is kept as such.
        return struct_pb2.Value(string_value=text)
