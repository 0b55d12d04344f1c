"""The Streams service's ``BatchAppend`` (spec §3.11): writes keyed by correlation id,
each collecting events until ``is_final``; failures are replies (a ``google.rpc.Status``
per write), not call errors.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from google.protobuf import empty_pb2
from google.protobuf.message import Message

from esdb_wire.protos import shared_pb2, status_pb2, streams_pb2
from esdb_wire.protos.uuids import read_uuid
from esdb_wire.protos.wire_names import pack_any
from esdb_wire.server import errors
from esdb_wire.server.auth import WRITE, StreamAccess, User
from esdb_wire.server.records import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    ProposedEvent,
    StreamDeletedError,
    WrongExpectedVersion,
    event_size,
)
from esdb_wire.server.store import EventStore
from esdb_wire.server.streams_wire import APPLICATION_JSON, expected_revision, stream_name_of
from esdb_wire.transport.status import StatusCode, StatusError

BatchAppendReq = streams_pb2.BatchAppendReq
BatchAppendResp = streams_pb2.BatchAppendResp

_G_EMPTY = empty_pb2.Empty()


@dataclass
class _PendingWrite:
    """A BatchAppend write collecting events until ``is_final``."""

    stream_name: str
    expected: int
    events: list[ProposedEvent] = field(default_factory=list)
    size: int = 0


class BatchAppendSession:
    """One ``BatchAppend`` call: its pending writes and who makes them.

    With ``access`` (secure mode), each write's stream is checked for ``user`` when its
    options arrive, before anything else about them.
    """

    def __init__(self, store: EventStore, access: StreamAccess | None, user: User | None) -> None:
        self._store = store
        self._access = access
        self._user = user
        self._pending: dict[uuid.UUID, _PendingWrite] = {}

    def reply_to(self, request: BatchAppendReq) -> BatchAppendResp | None:
        """Handle one request; returns the reply it causes, if any. A malformed request
        is a ``BadRequest`` reply (for its write's stream when it names one)."""
        try:
            response = self._step(request)
        except (ValueError, KeyError, StatusError) as error:
            response = _batch_error(request, _bad_request(_error_text(error)))
            if request.HasField("options"):
                response.stream_identifier.CopyFrom(request.options.stream_identifier)
        return response

    def _step(self, request: BatchAppendReq) -> BatchAppendResp | None:
        """Handle one request; returns the reply it causes, if any."""
        key = read_uuid(request.correlation_id)
        pending = self._pending
        if request.HasField("options"):
            options = request.options
            access = self._access
            if access is not None:
                # Checked first, as the server does: no stream identifier is denied too.
                has_stream = options.HasField("stream_identifier")
                stream = stream_name_of(options.stream_identifier) if has_stream else None
                if not access.allowed(self._user, WRITE, stream):
                    response = _batch_error(request, _ACCESS_DENIED_STATUS)
                    if has_stream:
                        response.stream_identifier.CopyFrom(options.stream_identifier)
                    return response
            if not options.HasField("stream_identifier"):
                return _batch_error(
                    request, _bad_request("Required field StreamIdentifier not set.")
                )
            if _requested_timeout(options) <= 0:
                response = _batch_error(request, _TIMEOUT_STATUS)
                response.stream_identifier.CopyFrom(options.stream_identifier)
                return response
            if key not in pending:
                name = stream_name_of(options.stream_identifier)
                expected = expected_revision(
                    options, "expected_stream_position", errors.BATCH_EXPECTED_CASE_TYPE
                )
                pending[key] = _PendingWrite(name, expected)
        write = pending.get(key)
        if write is None:
            return None
        for message in request.proposed_messages:
            event = _batch_event(message)
            write.events.append(event)
            write.size += event_size(event.event_type, event.data, event.custom_metadata)
        max_size = self._store.max_append_size
        if write.size > max_size:
            del pending[key]
            return _batch_reply(request, write.stream_name, _max_size_status(max_size))
        if not request.is_final:
            return None
        del pending[key]
        return self._write(request, write)

    def _write(self, request: BatchAppendReq, write: _PendingWrite) -> BatchAppendResp:
        name = write.stream_name
        if name in ("", "$$"):
            raise ValueError("Value cannot be null. (Parameter 'eventStreamId')")
        try:
            result = self._store.append(name, write.expected, write.events)
        except StreamDeletedError:
            identifier = shared_pb2.StreamIdentifier(stream_name=name.encode())
            status = _status(
                StatusCode.NOT_FOUND,
                "StreamDeleted",
                shared_pb2.StreamDeleted(stream_identifier=identifier),
            )
            return _batch_reply(request, name, status)
        if isinstance(result, WrongExpectedVersion):
            return _batch_reply(request, name, _batch_wev_status(result))
        success = BatchAppendResp.Success(
            position=shared_pb2.AllStreamPosition(
                commit_position=result.position, prepare_position=result.position
            )
        )
        if result.current_revision >= 0:
            success.current_revision = result.current_revision
        else:
            success.no_stream.CopyFrom(_G_EMPTY)
        response = BatchAppendResp(correlation_id=request.correlation_id, success=success)
        response.stream_identifier.stream_name = name.encode()
        return response


def _requested_timeout(options: BatchAppendReq.Options) -> float:
    """Seconds left for the write: the duration deadline, else the timestamp one."""
    if options.WhichOneof("deadline_option") == "deadline":
        return options.deadline.ToNanoseconds() / 1e9
    if options.HasField("deadline_21_10_0"):
        return (options.deadline_21_10_0.ToNanoseconds() - time.time_ns()) / 1e9
    return float("inf")


def _batch_event(message: BatchAppendReq.ProposedMessage) -> ProposedEvent:
    """A proposed message as the server converts it (a missing key raises)."""
    metadata = message.metadata
    for key in ("type", "content-type"):
        if key not in metadata:
            raise KeyError("The given key was not present in the dictionary.")
    is_json = metadata["content-type"] == APPLICATION_JSON
    return ProposedEvent(
        read_uuid(message.id),
        metadata["type"],
        is_json,
        message.data,
        message.custom_metadata,
    )


def _error_text(error: Exception) -> str:
    if isinstance(error, StatusError):
        return error.message
    if isinstance(error, KeyError):
        return str(error.args[0])
    return str(error)


def _status(code: StatusCode, message: str, detail: Message) -> status_pb2.Status:
    return status_pb2.Status(code=code.name, message=message, details=pack_any(detail))


def _bad_request(message: str) -> status_pb2.Status:
    return _status(
        StatusCode.INVALID_ARGUMENT, "BadRequest", shared_pb2.BadRequest(message=message)
    )


def _max_size_status(max_size: int) -> status_pb2.Status:
    detail = shared_pb2.MaximumAppendSizeExceeded(maxAppendSize=max_size)
    return _status(StatusCode.INVALID_ARGUMENT, "MaximumAppendSizeExceeded", detail)


_TIMEOUT_STATUS = _status(StatusCode.DEADLINE_EXCEEDED, "Timeout", shared_pb2.Timeout())
_ACCESS_DENIED_STATUS = _status(
    StatusCode.PERMISSION_DENIED, "AccessDenied", shared_pb2.AccessDenied()
)


def _batch_wev_status(result: WrongExpectedVersion) -> status_pb2.Status:
    detail = shared_pb2.WrongExpectedVersion()
    if result.current == NO_STREAM:
        detail.current_no_stream.CopyFrom(_G_EMPTY)
    else:
        detail.current_stream_revision = result.current
    if result.expected == ANY:
        detail.expected_any.CopyFrom(_G_EMPTY)
    elif result.expected == NO_STREAM:
        detail.expected_no_stream.CopyFrom(_G_EMPTY)
    elif result.expected == STREAM_EXISTS:
        detail.expected_stream_exists.CopyFrom(_G_EMPTY)
    else:
        detail.expected_stream_position = result.expected
    return _status(StatusCode.ALREADY_EXISTS, "WrongExpectedVersion", detail)


def _batch_error(request: BatchAppendReq, status: status_pb2.Status) -> BatchAppendResp:
    return BatchAppendResp(correlation_id=request.correlation_id, error=status)


def _batch_reply(
    request: BatchAppendReq, stream_name: str, status: status_pb2.Status
) -> BatchAppendResp:
    response = _batch_error(request, status)
    response.stream_identifier.stream_name = stream_name.encode()
    return response
