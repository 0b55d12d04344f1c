"""RecordedEvent as the read path builds it from response bytes: every field against an
independent decoding of the same bytes, the id and time that are converted only when
asked for (equality, hash, repr, pickling and copies before and after), and the UUID
factory behind the id."""

from __future__ import annotations

import copy
import datetime
import gc
import pickle
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from esdb_wire import uuid_ints
from esdb_wire.codec.responses import read_response_item, subscription_item
from esdb_wire.events import ZERO_UUID, NewEvent, RecordedEvent
from esdb_wire.exceptions import StreamNotFound, UndecodableResponse
from esdb_wire.protos import streams_pb2
from esdb_wire.protos.uuids import read_uuid, write_uuid

ReadResp = streams_pb2.ReadResp
RecordedProto = streams_pb2.ReadResp.ReadEvent.RecordedEvent
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
INT64 = st.integers(-(2**63), 2**63 - 1)
UINT64 = st.integers(0, 2**64 - 1)


def fill(
    target: Any,
    *,
    event_id: uuid.UUID,
    structured: bool = True,
    stream: bytes = b"orders-1",
    revision: int = 7,
    commit: int = 1234,
    prepare: int = 1200,
    metadata: dict[str, str] | None = None,
    custom: bytes = b'{"m": 1}',
    data: bytes = b'{"d": 2}',
) -> None:
    write_uuid(target.id, event_id, structured=structured)
    target.stream_identifier.stream_name = stream
    target.stream_revision = revision
    target.commit_position = commit
    target.prepare_position = prepare
    if metadata is None:
        metadata = {
            "type": "OrderPlaced",
            "content-type": "application/json",
            "created": "17000000000000000",
        }
    for key, value in metadata.items():
        target.metadata[key] = value
    target.custom_metadata = custom
    target.data = data


def response(**fields: Any) -> bytes:
    message = ReadResp()
    fill(message.event.event, **fields)
    message.event.commit_position = fields.get("commit", 1234)
    return message.SerializeToString()


def reference(proto: Any) -> dict[str, Any]:
    """What a RecordedEvent message says, decoded field by field with the plain
    protobuf API (no shortcut the codec takes)."""
    metadata = dict(proto.metadata)
    created = metadata.get("created", "")
    return {
        "type": metadata.get("type", ""),
        "content_type": metadata.get("content-type", ""),
        "data": proto.data,
        "metadata": proto.custom_metadata,
        "stream_name": proto.stream_identifier.stream_name.decode("utf-8", "replace"),
        "stream_position": proto.stream_revision,
        "commit_position": proto.commit_position,
        "prepare_position": proto.prepare_position,
        "id": read_uuid(proto.id, ZERO_UUID),
        "recorded_at": (
            EPOCH + datetime.timedelta(microseconds=int(created) // 10)
            if created.isdecimal()
            else None
        ),
    }


def fields_of(event: RecordedEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in REFERENCE_NAMES}


REFERENCE_NAMES = (
    "type",
    "content_type",
    "data",
    "metadata",
    "stream_name",
    "stream_position",
    "commit_position",
    "prepare_position",
    "id",
    "recorded_at",
)


def decoded(data: bytes) -> RecordedEvent:
    event = read_response_item(data, "orders-1")
    assert event is not None
    return event


# -- every field, against the reference ----------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    high=INT64,
    low=INT64,
    structured=st.booleans(),
    stream=st.binary(max_size=40),
    revision=UINT64,
    commit=UINT64,
    prepare=UINT64,
    metadata=st.dictionaries(
        st.sampled_from(["type", "content-type", "created", "other"]),
        st.one_of(st.text(max_size=12), st.integers(0, 2**60).map(str)),
    ),
    custom=st.binary(max_size=20),
    data=st.binary(max_size=300),
)
def test_every_field_matches_an_independent_decoding(
    high: int,
    low: int,
    structured: bool,
    stream: bytes,
    revision: int,
    commit: int,
    prepare: int,
    metadata: dict[str, str],
    custom: bytes,
    data: bytes,
) -> None:
    event_id = uuid.UUID(int=((high % 2**64) << 64) | (low % 2**64))
    encoded = response(
        event_id=event_id,
        structured=structured,
        stream=stream,
        revision=revision,
        commit=commit,
        prepare=prepare,
        metadata=metadata,
        custom=custom,
        data=data,
    )
    expected = reference(ReadResp.FromString(encoded).event.event)
    assert expected["id"] == event_id
    event = decoded(encoded)
    assert fields_of(event) == expected
    assert type(event.id) is uuid.UUID
    assert event.link is None
    assert event.retry_count is None


@pytest.mark.parametrize("structured", [True, False])
def test_the_nil_id_in_either_form(structured: bool) -> None:
    event = decoded(response(event_id=ZERO_UUID, structured=structured))
    assert event.id == ZERO_UUID
    assert type(event.id) is uuid.UUID


def test_a_message_without_an_id_reads_as_the_nil_uuid() -> None:
    message = ReadResp()
    fill(message.event.event, event_id=ZERO_UUID)
    message.event.event.ClearField("id")
    assert decoded(message.SerializeToString()).id == ZERO_UUID


def test_a_resolved_link_comes_with_its_link() -> None:
    target_id, link_id = uuid.uuid4(), uuid.uuid4()
    message = ReadResp()
    fill(message.event.event, event_id=target_id, stream=b"orders-1", revision=3)
    fill(
        message.event.link,
        event_id=link_id,
        stream=b"$ce-orders",
        revision=0,
        metadata={"type": "$>"},
        data=b"3@orders-1",
    )
    encoded = message.SerializeToString()
    event = decoded(encoded)
    assert fields_of(event) == reference(message.event.event)
    assert event.link is not None
    assert fields_of(event.link) == reference(message.event.link)
    assert event.ack_id == link_id
    assert event.is_resolved_event
    assert event.link.is_link_event


def test_a_link_whose_event_is_gone_is_skipped() -> None:
    message = ReadResp()
    fill(message.event.link, event_id=uuid.uuid4(), metadata={"type": "$>"})
    assert read_response_item(message.SerializeToString(), "s") is None
    item, position = subscription_item(message.SerializeToString(), include_caught_up=False)
    assert item is None
    assert position is None


def test_control_messages_are_skipped_and_a_missing_stream_raises() -> None:
    for message in (
        ReadResp(last_stream_position=5),
        ReadResp(first_stream_position=0),
        ReadResp(caught_up=ReadResp.CaughtUp()),
        ReadResp(),
    ):
        assert read_response_item(message.SerializeToString(), "s") is None
    missing = ReadResp()
    missing.stream_not_found.stream_identifier.stream_name = b"s"
    with pytest.raises(StreamNotFound, match="'s'"):
        read_response_item(missing.SerializeToString(), "s")


def test_bytes_that_are_not_a_read_response_raise_undecodable() -> None:
    with pytest.raises(UndecodableResponse):
        read_response_item(b"\x0a\xff\xff\xff\xff\x0f", "s")


def test_a_string_field_that_is_not_utf8_raises_undecodable() -> None:
    """protobuf's upb backend raises DecodeError for it, the pure-Python one
    UnicodeDecodeError: either way the client raises UndecodableResponse."""
    data = response(event_id=uuid.uuid4(), metadata={"type": "Type\u00e9"})
    broken = data.replace("Type\u00e9".encode(), b"Type\xff\xfe")
    assert broken != data
    with pytest.raises(UndecodableResponse):
        read_response_item(broken, "s")
    with pytest.raises(UndecodableResponse):
        subscription_item(broken, include_caught_up=False)


def test_a_subscription_event_carries_the_delivery_position() -> None:
    encoded = response(event_id=uuid.uuid4(), commit=99)
    item, position = subscription_item(encoded, include_caught_up=False)
    assert item is not None
    assert position == 99
    assert fields_of(item) == reference(ReadResp.FromString(encoded).event.event)


# -- what is converted on first access ------------------------------------------------------


def test_equality_hash_and_repr_before_and_after_the_id_is_asked_for() -> None:
    event_id = uuid.uuid4()
    encoded = response(event_id=event_id)
    untouched, touched = decoded(encoded), decoded(encoded)
    assert touched.id == event_id
    # Hashing or comparing converts the id of the untouched one; the results agree.
    assert hash(untouched) == hash(touched)
    assert untouched == touched
    assert repr(untouched) == repr(touched)
    assert f"id={event_id!r}" in repr(untouched)
    assert untouched == NewEvent("OrderPlaced", b"", id=event_id)
    different = decoded(response(event_id=uuid.uuid4()))
    assert different != untouched


@pytest.mark.parametrize("protocol", range(2, pickle.HIGHEST_PROTOCOL + 1))
def test_pickling_before_and_after_conversion(protocol: int) -> None:
    event_id = uuid.uuid4()
    encoded = response(event_id=event_id, structured=False)
    fresh = decoded(encoded)
    copied = pickle.loads(pickle.dumps(fresh, protocol))  # id and time still in wire form
    assert fields_of(copied) == fields_of(decoded(encoded))
    assert copied.id == event_id
    assert fresh.recorded_at is not None
    again = pickle.loads(pickle.dumps(fresh, protocol))  # converted
    assert fields_of(again) == fields_of(fresh)
    assert again == fresh


def test_copies_convert_independently() -> None:
    event_id = uuid.uuid4()
    original = decoded(response(event_id=event_id))
    shallow, deep = copy.copy(original), copy.deepcopy(original)
    assert shallow.id == deep.id == original.id == event_id
    assert shallow == deep == original


def test_fields_outlive_the_message_and_the_bytes() -> None:
    event_id = uuid.uuid4()
    encoded = bytearray(response(event_id=event_id, data=b"payload"))
    event = decoded(bytes(encoded))
    encoded[:] = b"\x00" * len(encoded)
    del encoded
    gc.collect()
    assert event.id == event_id
    assert event.data == b"payload"
    assert event.stream_name == "orders-1"
    assert event.recorded_at == EPOCH + datetime.timedelta(microseconds=1700000000000000)


def test_an_id_set_by_the_user_replaces_the_wire_form() -> None:
    event = decoded(response(event_id=uuid.uuid4()))
    chosen = uuid.uuid4()
    event.id = chosen
    assert event.id == chosen
    assert event == RecordedEvent(
        event.type,
        event.data,
        event.metadata,
        event.stream_name,
        event.stream_position,
        event.commit_position,
        content_type=event.content_type,
        id=chosen,
    )


@pytest.mark.parametrize("created", ["", "soon", "\u00b2", "-5", "12.5"])
def test_a_created_stamp_that_is_not_a_number_gives_no_time(created: str) -> None:
    encoded = response(event_id=uuid.uuid4(), metadata={"type": "t", "created": created})
    assert decoded(encoded).recorded_at is None


def test_a_missing_type_and_content_type_read_as_empty() -> None:
    event = decoded(response(event_id=uuid.uuid4(), metadata={}))
    assert event.type == ""
    assert event.content_type == ""
    assert event.recorded_at is None


# -- the UUID factory -------------------------------------------------------------------------


@settings(max_examples=500)
@given(value=st.integers(0, 2**128 - 1))
def test_uuid_from_int_is_uuid_of_int(value: int) -> None:
    made = uuid_ints.uuid_from_int(value)
    expected = uuid.UUID(int=value)
    assert type(made) is uuid.UUID
    assert made == expected
    assert hash(made) == hash(expected)
    assert str(made) == str(expected)
    assert made.is_safe is expected.is_safe
    assert pickle.loads(pickle.dumps(made)) == expected


def test_uuid_from_int_is_immutable_like_uuid() -> None:
    made = uuid_ints.uuid_from_int(5)
    with pytest.raises(TypeError):
        made.int = 6  # type: ignore[misc]


def test_the_factory_falls_back_to_the_constructor(monkeypatch: pytest.MonkeyPatch) -> None:
    assert uuid_ints._choose() is not uuid_ints._checked_uuid  # this Python has the slots
    monkeypatch.setattr(uuid_ints, "_direct_factory", lambda: None)
    assert uuid_ints._choose() is uuid_ints._checked_uuid

    def wrong(value: int) -> uuid.UUID:
        return uuid.UUID(int=value ^ 1)

    monkeypatch.setattr(uuid_ints, "_direct_factory", lambda: wrong)
    assert uuid_ints._choose() is uuid_ints._checked_uuid

    def broken(value: int) -> uuid.UUID:
        raise RuntimeError("no")

    monkeypatch.setattr(uuid_ints, "_direct_factory", lambda: broken)
    assert uuid_ints._choose() is uuid_ints._checked_uuid
