"""Decoding Streams responses from their bytes: read and subscription items, subscription
confirmations, append and delete results, and whether the server offers BatchAppend.

What does not decode raises :class:`~esdb_wire.exceptions.UndecodableResponse`.
"""

from __future__ import annotations

from esdb_wire import exceptions as exc
from esdb_wire.codec.decoding import DECODE_ERRORS, decode, undecodable
from esdb_wire.codec.events import read_event, recorded_event
from esdb_wire.events import CaughtUp, Checkpoint, RecordedEvent
from esdb_wire.protos import serverfeatures_pb2, shared_pb2, status_pb2, streams_pb2
from esdb_wire.protos.wire_names import unpack_any
from esdb_wire.streams import StreamState
from esdb_wire.transport.status import StatusCode

ReadResp = streams_pb2.ReadResp
READ = "Streams.Read"
_parse_read = ReadResp.FromString
FEATURES_REQUEST = b""
"""An encoded ``google.protobuf.Empty``: the request of ServerFeatures.GetSupportedMethods."""


def _read_response(data: bytes) -> streams_pb2.ReadResp:
    """A ``ReadResp`` (:func:`read_response_item` inlines this: reads are the hot path)."""
    try:
        return _parse_read(data)
    except DECODE_ERRORS as error:
        raise undecodable(ReadResp, READ, error) from error


def read_response_item(data: bytes, stream_name: str | None) -> RecordedEvent | None:
    """The event an encoded read response carries, or None for a message to skip (a link
    whose event is gone, or a control message). Raises
    :class:`~esdb_wire.exceptions.StreamNotFound` for ``stream_not_found``.

    The hot path of reads: one function call, one parse."""
    try:
        response = _parse_read(data)
    except DECODE_ERRORS as error:
        raise undecodable(ReadResp, READ, error) from error
    read = response.event  # an empty ReadEvent unless the response carries one
    if read.HasField("event"):  # the usual case, tested first (one call fewer)
        return recorded_event(
            read.event, recorded_event(read.link) if read.HasField("link") else None
        )
    if response.HasField("stream_not_found"):
        raise exc.StreamNotFound(f"Stream {stream_name!r} not found")
    return None  # a link whose event is gone, or a control message


def subscription_item(
    data: bytes, *, include_caught_up: bool
) -> tuple[RecordedEvent | None, int | None]:
    """The item an encoded subscription response carries (an event, a ``Checkpoint``, a
    ``CaughtUp`` if asked for; None for a message to skip), and the ``$all`` commit
    position the server gave the delivery (of the link, for a resolved link; None if it
    gave none). The hot path of catch-up subscriptions."""
    response = _read_response(data)
    if response.HasField("event"):  # the usual case: cheaper than WhichOneof
        read = response.event
        position = read.commit_position if read.HasField("commit_position") else None
        return read_event(read), position
    kind = response.WhichOneof("content")
    if kind == "checkpoint":
        point = response.checkpoint
        return Checkpoint(int(point.commit_position), int(point.prepare_position)), None
    if kind == "caught_up" and include_caught_up:
        return CaughtUp(), None
    if kind == "stream_not_found":
        raise exc.StreamNotFound("the subscribed stream was not found")
    return None, None


def confirmed_subscription_id(data: bytes) -> str:
    """The subscription id of an encoded first message of a subscription (else
    :class:`~esdb_wire.exceptions.SubscriptionConfirmationError`)."""
    response = _read_response(data)
    kind = response.WhichOneof("content")
    if kind != "confirmation":
        raise exc.SubscriptionConfirmationError(
            f"expected a subscription confirmation, got {kind!r}"
        )
    return str(response.confirmation.subscription_id)


def _wrong_version(
    stream_name: str, expected: int | StreamState | None, actual: int | None, text: str
) -> exc.WrongCurrentVersion:
    return exc.WrongCurrentVersion(
        f"Wrong expected version for stream {stream_name!r}: {text}"
        f"current {'no stream' if actual is None else actual}",
        stream_name=stream_name,
        expected_version=expected if isinstance(expected, int) else None,
        actual_version=actual,
    )


def _success_position(
    success: streams_pb2.AppendResp.Success | streams_pb2.BatchAppendResp.Success,
) -> int:
    """The commit position of an ``Append`` or ``BatchAppend`` success (0 if none)."""
    if success.WhichOneof("position_option") == "position":
        return int(success.position.commit_position)
    return 0


def append_position(data: bytes, stream_name: str, expected: int | StreamState | None) -> int:
    """The commit position of the last event an ``Append`` wrote; raises
    ``WrongCurrentVersion`` on a wrong expected version."""
    response = decode(streams_pb2.AppendResp, data, "Streams.Append")
    if response.WhichOneof("result") == "success":
        return _success_position(response.success)
    wev = response.wrong_expected_version
    actual = (
        int(wev.current_revision)
        if wev.WhichOneof("current_revision_option") == "current_revision"
        else None
    )
    expected_text = expected.value if isinstance(expected, StreamState) else expected
    raise _wrong_version(stream_name, expected, actual, f"expected {expected_text!r}, ")


_BATCH_APPEND = "Streams.BatchAppend"


def batch_append_position(data: bytes, stream_name: str, expected: int | StreamState | None) -> int:
    """The commit position of a ``BatchAppend`` write, or the typed error its Status
    carries."""
    response = decode(streams_pb2.BatchAppendResp, data, _BATCH_APPEND)
    if response.WhichOneof("result") == "success":
        return _success_position(response.success)
    try:
        raise _batch_error(response.error, stream_name, expected)
    except DECODE_ERRORS as error:  # a detail that is not the type its URL names
        raise undecodable(streams_pb2.BatchAppendResp, _BATCH_APPEND, error) from error


def _batch_error(
    status: status_pb2.Status,
    stream_name: str,
    expected: int | StreamState | None,
) -> exc.EventStoreDBClientException:
    detail = status.details
    text = f"{status.message} (stream {stream_name!r})"
    wev = unpack_any(detail, shared_pb2.WrongExpectedVersion)
    if wev is not None:
        actual = (
            int(wev.current_stream_revision)
            if wev.WhichOneof("current_stream_revision_option") == "current_stream_revision"
            else None
        )
        return _wrong_version(stream_name, expected, actual, "")
    if unpack_any(detail, shared_pb2.StreamDeleted) is not None:
        return exc.StreamIsDeleted(text)
    if unpack_any(detail, shared_pb2.AccessDenied) is not None:
        return exc.AccessDeniedError(text)
    if unpack_any(detail, shared_pb2.Timeout) is not None:
        return exc.AppendDeadlineExceeded(text)
    size = unpack_any(detail, shared_pb2.MaximumAppendSizeExceeded)
    if size is not None:
        return exc.MaximumAppendSizeExceededError(f"Max size is {size.maxAppendSize}")
    bad = unpack_any(detail, shared_pb2.BadRequest)
    if bad is not None:
        return exc.BadRequestError(bad.message)
    return exc.UnknownError(text)


def delete_position(data: bytes, *, tombstone: bool) -> int:
    """The commit position of a ``Delete``'s (or ``Tombstone``'s) record (0 if the
    server gave none)."""
    if tombstone:
        response: streams_pb2.DeleteResp | streams_pb2.TombstoneResp = decode(
            streams_pb2.TombstoneResp, data, "Streams.Tombstone"
        )
    else:
        response = decode(streams_pb2.DeleteResp, data, "Streams.Delete")
    if response.WhichOneof("position_option") == "position":
        return int(response.position.commit_position)
    return 0


def supported_methods(data: bytes) -> set[tuple[str, str]]:
    """The (service, method) pairs, lower case, an encoded ``SupportedMethods`` lists."""
    supported = decode(
        serverfeatures_pb2.SupportedMethods, data, "ServerFeatures.GetSupportedMethods"
    )
    return {(method.service_name, method.method_name) for method in supported.methods}


def batch_append_supported(data: bytes) -> bool:
    """Whether an encoded ``SupportedMethods`` lists Streams.BatchAppend."""
    return ("event_store.client.streams.streams", "batchappend") in supported_methods(data)


def is_unimplemented(error: Exception) -> bool:
    """Whether a mapped error came from an UNIMPLEMENTED status."""
    rpc = getattr(error, "rpc", None)
    return rpc is not None and rpc.code is StatusCode.UNIMPLEMENTED
