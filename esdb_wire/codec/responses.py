"""Interpreting Streams responses: append results, read items, subscription starts."""

from __future__ import annotations

from esdb_wire import exceptions as exc
from esdb_wire.codec.events import read_event
from esdb_wire.codec.requests import StreamState
from esdb_wire.events import CaughtUp, Checkpoint, RecordedEvent
from esdb_wire.protos import serverfeatures_pb2, shared_pb2, streams_pb2
from esdb_wire.protos.wire_names import unpack_any
from esdb_wire.transport.status import StatusCode

ReadResp = streams_pb2.ReadResp


def append_position(
    response: streams_pb2.AppendResp, stream_name: str, expected: int | StreamState | None
) -> int:
    """The commit position of the last appended event; raises on a wrong expected version."""
    if response.WhichOneof("result") == "success":
        success = response.success
        if success.WhichOneof("position_option") == "position":
            return int(success.position.commit_position)
        return 0
    wev = response.wrong_expected_version
    actual = (
        int(wev.current_revision)
        if wev.WhichOneof("current_revision_option") == "current_revision"
        else None
    )
    expected_text = expected.value if isinstance(expected, StreamState) else expected
    raise exc.WrongCurrentVersion(
        f"Wrong expected version for stream {stream_name!r}: expected {expected_text!r}, "
        f"current {'no stream' if actual is None else actual}",
        stream_name=stream_name,
        expected_version=expected if isinstance(expected, int) else None,
        actual_version=actual,
    )


def read_item(
    response: streams_pb2.ReadResp,
    stream_name: str | None = None,
    *,
    include_checkpoints: bool = False,
    include_caught_up: bool = False,
) -> RecordedEvent | None:
    """The item a read response carries, or None for control messages to skip.

    Raises :class:`~esdb_wire.exceptions.StreamNotFound` for ``stream_not_found``.
    """
    kind = response.WhichOneof("content")
    if kind == "event":
        return read_event(response.event)
    if kind == "stream_not_found":
        raise exc.StreamNotFound(f"Stream {stream_name!r} not found")
    if kind == "checkpoint" and include_checkpoints:
        point = response.checkpoint
        return Checkpoint(int(point.commit_position), int(point.prepare_position))
    if kind == "caught_up" and include_caught_up:
        return CaughtUp()
    return None


def confirmation_id(response: streams_pb2.ReadResp) -> str:
    """The subscription id of the first message of a subscription."""
    if response.WhichOneof("content") != "confirmation":
        raise exc.SubscriptionConfirmationError(
            f"expected a subscription confirmation, got {response.WhichOneof('content')!r}"
        )
    return str(response.confirmation.subscription_id)


def batch_append_position(
    response: streams_pb2.BatchAppendResp,
    stream_name: str,
    expected: int | StreamState | None,
) -> int:
    """The commit position of a batch write, or the typed error its Status carries."""
    if response.WhichOneof("result") == "success":
        success = response.success
        if success.WhichOneof("position_option") == "position":
            return int(success.position.commit_position)
        return 0
    status = response.error
    detail = status.details
    text = f"{status.message} (stream {stream_name!r})"
    wev = unpack_any(detail, shared_pb2.WrongExpectedVersion)
    if wev is not None:
        actual = (
            int(wev.current_stream_revision)
            if wev.WhichOneof("current_stream_revision_option") == "current_stream_revision"
            else None
        )
        raise exc.WrongCurrentVersion(
            f"Wrong expected version for stream {stream_name!r}: current "
            f"{'no stream' if actual is None else actual}",
            stream_name=stream_name,
            expected_version=expected if isinstance(expected, int) else None,
            actual_version=actual,
        )
    if unpack_any(detail, shared_pb2.StreamDeleted) is not None:
        raise exc.StreamIsDeleted(text)
    if unpack_any(detail, shared_pb2.AccessDenied) is not None:
        raise exc.AccessDeniedError(text)
    if unpack_any(detail, shared_pb2.Timeout) is not None:
        raise exc.AppendDeadlineExceeded(text)
    size = unpack_any(detail, shared_pb2.MaximumAppendSizeExceeded)
    if size is not None:
        raise exc.MaximumAppendSizeExceededError(f"Max size is {size.maxAppendSize}")
    bad = unpack_any(detail, shared_pb2.BadRequest)
    if bad is not None:
        raise exc.BadRequestError(bad.message)
    raise exc.UnknownError(text)


def delete_position(response: streams_pb2.DeleteResp | streams_pb2.TombstoneResp) -> int:
    """The commit position of the delete's record (0 if the server gave none)."""
    if response.WhichOneof("position_option") == "position":
        return int(response.position.commit_position)
    return 0


def batch_append_supported(data: bytes) -> bool:
    """Whether an encoded ``SupportedMethods`` lists Streams.BatchAppend."""
    supported = serverfeatures_pb2.SupportedMethods.FromString(data)
    return any(
        method.method_name == "batchappend"
        and method.service_name == "event_store.client.streams.streams"
        for method in supported.methods
    )


def is_unimplemented(error: Exception) -> bool:
    """Whether a mapped error came from an UNIMPLEMENTED status."""
    rpc = getattr(error, "rpc", None)
    return rpc is not None and rpc.code is StatusCode.UNIMPLEMENTED
