"""The in-memory event store: expected revisions, idempotency, deletes, reads, positions."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Mapping

import pytest

from esdb_wire.server.records import (
    ANY,
    DELETED_STREAM,
    NO_STREAM,
    STREAM_EXISTS,
    Record,
    StreamDeletedError,
    Success,
    WrongExpectedVersion,
    event_size,
    in_default_all_filter,
    utf16_length,
)
from esdb_wire.server.store import EventStore
from tests.server.helpers import TICKS_2024, Clock, event, link, new_store, records

MAX_TB = {"$tb": 2**63 - 1}


def metadata_of(store: EventStore, stream: str) -> object:
    found = store.read_stream("$$" + stream, None, 1, backwards=True)
    assert found is not None
    return json.loads(found.records[0].data)


def set_metadata(store: EventStore, stream: str, metadata: Mapping[str, object]) -> None:
    result = store.append("$$" + stream, ANY, [event("$metadata", json.dumps(metadata).encode())])
    assert isinstance(result, Success)


def revisions_of(
    store: EventStore, stream: str, start: int | None = 0, *, backwards: bool = False
) -> list[int]:
    return [r.revision for r in records(store, stream, start, 1000, backwards=backwards)]


# ---- positions and the log ------------------------------------------------------------


def test_log_starts_with_system_records_and_first_user_event_is_after_them() -> None:
    store = new_store()
    system = store.read_all_forwards(0, 100)
    assert [r.stream_name for r in system] == ["$settings"]  # $epoch-information is hidden
    raw = store.records_after(-1, 100)
    assert [r.event_type for r in raw] == ["$epoch-information", "$settings"]
    assert raw[0].position == 0
    result = store.append("s", ANY, [event()])
    assert isinstance(result, Success)
    assert result.position == raw[-1].end > 0


def test_positions_increase_by_record_size_and_commit_equals_prepare() -> None:
    store = new_store()
    store.append("stream-é", ANY, [event("Tÿpe", b"abc", custom_metadata=b"m"), event("X", b"")])
    first, second = records(store, "stream-é", 0, 10)
    assert first.end - first.position == 88 + len("stream-é".encode()) + 3 + 1 + 2 * 4
    assert second.position == first.end
    assert second.end - second.position == 88 + 9 + 0 + 0 + 2
    assert store.last_position == second.position
    assert store.log_end == second.end


def test_event_size_counts_utf16_code_units() -> None:
    assert utf16_length("abc") == 3
    assert utf16_length("é") == 1
    assert utf16_length("😀") == 2
    assert event_size("😀x", b"12345", b"67") == 5 + 2 + 2 * 3


def test_created_comes_from_the_injected_clock() -> None:
    clock = Clock(TICKS_2024)
    store = EventStore(clock=clock)
    store.append("s", ANY, [event()])
    clock.now += 5
    store.append("s", ANY, [event()])
    assert [r.created for r in records(store, "s", 0, 9)] == [
        TICKS_2024,
        TICKS_2024 + 5,
    ]


def test_empty_append_takes_log_space_but_writes_no_record() -> None:
    store = new_store()
    before = len(store.records_after(-1, 100))
    end = store.log_end
    result = store.append("s", NO_STREAM, [])
    assert result == Success(-1, end)
    assert store.log_end > end
    assert len(store.records_after(-1, 100)) == before
    assert store.read_stream("s", 0, 10) is None


# ---- §3.1 expected revision table -----------------------------------------------------


def missing(store: EventStore) -> None:
    pass


def exists(store: EventStore) -> None:
    store.append("s", ANY, [event(), event()])


def soft_deleted(store: EventStore) -> None:
    exists(store)
    assert isinstance(store.delete("s", ANY), Success)


def tombstoned(store: EventStore) -> None:
    exists(store)
    assert isinstance(store.tombstone("s", ANY), Success)


DELETED = "deleted"
TABLE: list[tuple[Callable[[EventStore], None], int, object]] = [
    (missing, ANY, Success(0, 0)),
    (missing, NO_STREAM, Success(0, 0)),
    (missing, STREAM_EXISTS, WrongExpectedVersion(-1, STREAM_EXISTS)),
    (missing, 0, WrongExpectedVersion(-1, 0)),
    (missing, 1, WrongExpectedVersion(-1, 1)),
    (exists, ANY, Success(2, 0)),
    (exists, NO_STREAM, WrongExpectedVersion(1, NO_STREAM)),
    (exists, STREAM_EXISTS, Success(2, 0)),
    (exists, 1, Success(2, 0)),
    (exists, 5, WrongExpectedVersion(1, 5)),
    (exists, 0, WrongExpectedVersion(1, 0)),
    (soft_deleted, ANY, Success(2, 0)),
    (soft_deleted, NO_STREAM, Success(2, 0)),
    (soft_deleted, STREAM_EXISTS, DELETED),
    (soft_deleted, 1, Success(2, 0)),
    (soft_deleted, 5, WrongExpectedVersion(1, 5)),
    (soft_deleted, 0, WrongExpectedVersion(1, 0)),
    (tombstoned, ANY, DELETED),
    (tombstoned, NO_STREAM, DELETED),
    (tombstoned, STREAM_EXISTS, DELETED),
    (tombstoned, 1, DELETED),
    (tombstoned, 5, DELETED),
]


@pytest.mark.parametrize(("state", "expected", "outcome"), TABLE)
def test_expected_revision_table(
    state: Callable[[EventStore], None], expected: int, outcome: object
) -> None:
    store = new_store()
    state(store)
    if outcome == DELETED:
        with pytest.raises(StreamDeletedError) as caught:
            store.append("s", expected, [event()])
        assert caught.value.stream_name == "s"
        return
    result = store.append("s", expected, [event()])
    if isinstance(outcome, Success):
        assert isinstance(result, Success)
        assert result.current_revision == outcome.current_revision
        assert result.position == records(store, "s", None, 1, backwards=True)[0].position
    else:
        assert result == outcome


def test_stream_exists_succeeds_when_only_metadata_exists() -> None:
    store = new_store()
    set_metadata(store, "s", {"custom": 1})
    result = store.append("s", STREAM_EXISTS, [event()])
    assert isinstance(result, Success)
    assert result.current_revision == 0


def test_empty_appends_go_through_the_same_check() -> None:
    store = new_store()
    assert store.append("s", STREAM_EXISTS, []) == WrongExpectedVersion(-1, STREAM_EXISTS)
    exists(store)
    assert store.append("s", 0, []) == WrongExpectedVersion(1, 0)
    end = store.log_end
    assert store.append("s", 1, []) == Success(1, end)
    other = new_store()
    tombstoned(other)
    with pytest.raises(StreamDeletedError):
        other.append("s", ANY, [])


# ---- §3.2 idempotency -------------------------------------------------------------


def test_any_with_the_same_ids_is_idempotent_and_writes_nothing() -> None:
    store = new_store()
    events = [event(), event()]
    first = store.append("s", ANY, events)
    log_size = len(store.records_after(-1, 1000))
    again = store.append("s", ANY, events)
    assert again == first == Success(1, store.last_position)
    assert len(store.records_after(-1, 1000)) == log_size
    assert store.append("s", STREAM_EXISTS, events) == first


def test_idempotent_reply_carries_the_original_last_event() -> None:
    store = new_store()
    one, two = event(), event()
    store.append("s", ANY, [one, two])
    store.append("s", ANY, [event()])
    original = records(store, "s", 0, 1)[0]
    assert store.append("s", ANY, [one]) == Success(0, original.position)


def test_first_id_known_but_a_later_one_not_is_wrong_expected_version() -> None:
    store = new_store()
    one = event()
    store.append("s", ANY, [one, event()])
    assert store.append("s", ANY, [one, event()]) == WrongExpectedVersion(1, ANY)


def test_first_id_unknown_writes_normally() -> None:
    store = new_store()
    one = event()
    store.append("s", ANY, [one])
    result = store.append("s", ANY, [event(), one])
    assert isinstance(result, Success)
    assert result.current_revision == 2


def test_ids_of_another_stream_are_not_idempotent() -> None:
    store = new_store()
    one = event()
    store.append("a", ANY, [one])
    result = store.append("b", ANY, [one])
    assert isinstance(result, Success)
    assert result.current_revision == 0


def test_exact_revision_below_current_compares_ids_with_the_following_events() -> None:
    store = new_store()
    events = [event() for _ in range(4)]
    store.append("s", NO_STREAM, events)
    written = records(store, "s", 0, 10)
    assert store.append("s", 0, events[1:3]) == Success(2, written[2].position)
    assert store.append("s", NO_STREAM, events[:2]) == Success(1, written[1].position)
    assert store.append("s", 0, [events[1], event()]) == WrongExpectedVersion(3, 0)
    assert store.append("s", 0, [events[2]]) == WrongExpectedVersion(3, 0)
    assert store.append("s", 2, [*events[3:], event()]) == WrongExpectedVersion(3, 2)


def test_exact_revision_equal_to_current_writes_duplicates() -> None:
    store = new_store()
    one = event()
    store.append("s", NO_STREAM, [one])
    result = store.append("s", 0, [one])
    assert isinstance(result, Success)
    assert result.current_revision == 1
    ids = [r.event_id for r in records(store, "s", 0, 10)]
    assert ids == [one.event_id, one.event_id]


def test_idempotency_cache_is_bounded() -> None:
    store = new_store(idempotency_cache_size=2)
    old = event()
    store.append("s", ANY, [old])
    store.append("s", ANY, [event(), event()])
    result = store.append("s", ANY, [old])
    assert isinstance(result, Success)
    assert result.current_revision == 3  # written again: its id was evicted


# ---- soft delete -------------------------------------------------------------------


def test_soft_delete_of_nothing_is_wrong_expected_version_minus_one() -> None:
    store = new_store()
    for expected in (ANY, NO_STREAM):
        assert store.delete("s", expected) == WrongExpectedVersion(-1, expected)
    assert store.delete("s", STREAM_EXISTS) == WrongExpectedVersion(-1, STREAM_EXISTS)


def test_soft_delete_writes_tb_max_replacing_metadata() -> None:
    store = new_store()
    set_metadata(store, "s", {"$maxCount": 5, "custom": "x"})
    store.append("s", ANY, [event()])
    result = store.delete("s", 0)
    assert isinstance(result, Success)
    found = store.read_stream("$$s", None, 10, backwards=True)
    assert found is not None
    record = found.records[0]
    assert record.data == b'{"$tb":9223372036854775807}'
    assert record.event_type == "$metadata"
    assert record.is_json
    assert result.position == record.position
    assert store.read_stream("s", 0, 10) is None
    assert store.is_soft_deleted("s")


def test_soft_delete_of_a_stream_with_only_metadata_succeeds() -> None:
    store = new_store()
    set_metadata(store, "s", {"custom": 1})
    assert isinstance(store.delete("s", ANY), Success)
    assert store.is_soft_deleted("s")


def test_soft_delete_checks_the_expected_revision() -> None:
    store = new_store()
    exists(store)
    assert store.delete("s", 0) == WrongExpectedVersion(1, 0)
    assert store.delete("s", NO_STREAM) == WrongExpectedVersion(1, NO_STREAM)
    assert isinstance(store.delete("s", STREAM_EXISTS), Success)
    with pytest.raises(StreamDeletedError):
        store.delete("s", STREAM_EXISTS)
    assert isinstance(store.delete("s", 1), Success)


def test_recreating_a_soft_deleted_stream_continues_numbering_and_sets_tb() -> None:
    store = new_store()
    soft_deleted(store)
    result = store.append("s", ANY, [event(), event()])
    assert isinstance(result, Success)
    assert result.current_revision == 3
    assert revisions_of(store, "s") == [2, 3]
    assert metadata_of(store, "s") == {"$tb": 2}
    assert not store.is_soft_deleted("s")
    # the metadata rewrite comes after the events in the log
    assert store.last_position > result.position


def test_recreate_keeps_other_metadata_keys() -> None:
    store = new_store()
    exists(store)
    set_metadata(store, "s", {"custom": "kept", "$tb": 2**63 - 1, "$maxCount": 10})
    assert store.is_soft_deleted("s")
    store.append("s", 1, [event()])
    assert metadata_of(store, "s") == {"custom": "kept", "$tb": 2, "$maxCount": 10}


def test_writing_metadata_to_a_soft_deleted_stream_undeletes_it() -> None:
    store = new_store()
    soft_deleted(store)
    set_metadata(store, "s", {"custom": 1})
    assert metadata_of(store, "s") == {"custom": 1, "$tb": 2}
    found = store.read_stream("s", 0, 10)
    assert found is not None
    assert found.records == []
    assert found.last_revision == 1


def test_empty_append_to_a_soft_deleted_stream_recreates_it_empty() -> None:
    store = new_store()
    soft_deleted(store)
    end = store.log_end
    assert store.append("s", ANY, []) == Success(1, end)
    assert metadata_of(store, "s") == {"$tb": 2}
    assert store.read_stream("s", 0, 10) is not None


def test_wrong_expected_version_on_a_soft_deleted_stream_reports_the_old_revision() -> None:
    store = new_store()
    soft_deleted(store)
    assert store.append("s", 7, [event()]) == WrongExpectedVersion(1, 7)


# ---- tombstone ---------------------------------------------------------------------


def test_tombstone_record_is_in_all_with_max_revision() -> None:
    store = new_store()
    exists(store)
    result = store.tombstone("s", 1)
    assert isinstance(result, Success)
    record = store.read_all_backwards(None, 1)[0]
    assert record.position == result.position
    assert (record.stream_name, record.revision, record.event_type) == (
        "s",
        DELETED_STREAM,
        "$streamDeleted",
    )
    assert record.data == b""
    assert not record.is_json
    assert store.tombstone_record("s") is record


def test_everything_on_a_tombstoned_stream_and_its_metastream_is_deleted() -> None:
    """Reads of both fail; writes to the stream fail, while its metastream still takes
    them (a node checks a metastream's own version when writing: see the next test)."""
    store = new_store()
    tombstoned(store)
    for name in ("s", "$$s"):
        with pytest.raises(StreamDeletedError):
            store.read_stream(name, 0, 10)
        with pytest.raises(StreamDeletedError):
            store.read_stream(name, None, 10, backwards=True)
    with pytest.raises(StreamDeletedError):
        store.append("s", ANY, [event()])
    assert isinstance(store.append("$$s", ANY, [event()]), Success)
    with pytest.raises(StreamDeletedError):
        store.delete("s", ANY)
    with pytest.raises(StreamDeletedError):
        store.tombstone("s", ANY)
    assert store.is_tombstoned("$$s")


def test_tombstoning_a_missing_stream() -> None:
    store = new_store()
    assert isinstance(store.tombstone("a", ANY), Success)
    assert isinstance(store.tombstone("b", NO_STREAM), Success)
    assert store.tombstone("c", 0) == WrongExpectedVersion(-1, 0)
    assert store.tombstone("c", STREAM_EXISTS) == WrongExpectedVersion(-1, STREAM_EXISTS)
    exists(store)
    assert store.tombstone("s", NO_STREAM) == WrongExpectedVersion(1, NO_STREAM)


def test_tombstoned_events_stay_in_all() -> None:
    store = new_store()
    tombstoned(store)
    names = [(r.stream_name, r.revision) for r in store.read_all_forwards(0, 100)]
    assert names[-3:] == [("s", 0), ("s", 1), ("s", DELETED_STREAM)]


# ---- metadata and truncation -------------------------------------------------------


def test_metastream_reads_return_only_the_latest_metadata() -> None:
    store = new_store()
    set_metadata(store, "s", {"a": 1})
    set_metadata(store, "s", {"a": 2})
    found = store.read_stream("$$s", 0, 10)
    assert found is not None
    assert [r.revision for r in found.records] == [1]
    assert found.last_revision == 1


def test_max_count_keeps_the_last_n_on_stream_reads_only() -> None:
    store = new_store()
    store.append("s", ANY, [event() for _ in range(5)])
    set_metadata(store, "s", {"$maxCount": 2})
    assert revisions_of(store, "s") == [3, 4]
    assert revisions_of(store, "s", start=None, backwards=True) == [4, 3]
    assert [r.revision for r in store.read_all_forwards(0, 100) if r.stream_name == "s"] == [
        0,
        1,
        2,
        3,
        4,
    ]


def test_tb_hides_earlier_revisions() -> None:
    store = new_store()
    store.append("s", ANY, [event() for _ in range(5)])
    set_metadata(store, "s", {"$tb": 3})
    assert revisions_of(store, "s") == [3, 4]
    assert revisions_of(store, "s", start=2, backwards=True) == []
    assert store.visible_event("s", 2) is None
    assert store.visible_event("s", 3) is not None


def test_max_age_hides_old_events_on_stream_reads_only() -> None:
    clock = Clock(TICKS_2024)
    store = EventStore(clock=clock)
    store.append("s", ANY, [event()])
    clock.now += 10 * 10_000_000
    store.append("s", ANY, [event()])
    set_metadata(store, "s", {"$maxAge": 5})
    assert revisions_of(store, "s") == [1]
    assert revisions_of(store, "s", start=None, backwards=True) == [1]
    clock.now += 6 * 10_000_000
    assert revisions_of(store, "s") == []
    assert len([r for r in store.read_all_forwards(0, 100) if r.stream_name == "s"]) == 2


def test_invalid_or_non_json_metadata_is_ignored() -> None:
    store = new_store()
    store.append("s", ANY, [event() for _ in range(3)])
    store.append("$$s", ANY, [event("$metadata", b'{"$maxCount":1}', is_json=False)])
    assert revisions_of(store, "s") == [0, 1, 2]
    set_metadata(store, "s", {"$maxCount": "two"})
    assert revisions_of(store, "s") == [0, 1, 2]
    set_metadata(store, "s", {"$maxCount": 0})
    assert revisions_of(store, "s") == [0, 1, 2]


# ---- stream reads ------------------------------------------------------------------


def test_stream_reads_forwards_and_backwards() -> None:
    store = new_store()
    store.append("s", ANY, [event() for _ in range(10)])
    assert revisions_of(store, "s", start=3) == list(range(3, 10))
    found = store.read_stream("s", 3, 2)
    assert found is not None
    assert [r.revision for r in found.records] == [3, 4]
    assert found.last_revision == 9
    assert [r.revision for r in records(store, "s", None, 3, backwards=True)] == [
        9,
        8,
        7,
    ]
    assert [r.revision for r in records(store, "s", 4, 3, backwards=True)] == [
        4,
        3,
        2,
    ]
    past_end = records(store, "s", 100, 3, backwards=True)
    assert [r.revision for r in past_end] == [9, 8, 7]
    assert records(store, "s", 10, 5) == []
    assert store.read_stream("missing", 0, 5) is None


# ---- links -------------------------------------------------------------------------


def test_links_resolve_to_visible_targets_only() -> None:
    store = new_store()
    store.append("target", ANY, [event(), event()])
    store.append("links", ANY, [link(1, "target"), link(7, "target"), link(0, "nowhere")])
    good, beyond, nowhere = records(store, "links", 0, 10)
    target = store.resolve_link(good, may_read=None)
    assert target is not None
    assert (target.stream_name, target.revision) == ("target", 1)
    assert store.resolve_link(beyond, may_read=None) is None
    assert store.resolve_link(nowhere, may_read=None) is None
    set_metadata(store, "target", {"$tb": 2})
    assert store.resolve_link(good, may_read=None) is None


def test_links_to_deleted_streams_or_malformed_links_do_not_resolve() -> None:
    store = new_store()
    store.append("soft", ANY, [event()])
    store.append("hard", ANY, [event()])
    store.append("links", ANY, [link(0, "soft"), link(0, "hard")])
    store.append("links", ANY, [event("$>", b"x@soft"), event("$>", b"0soft")])
    store.delete("soft", ANY)
    store.tombstone("hard", ANY)
    links = records(store, "links", 0, 10)
    assert [store.resolve_link(r, may_read=None) for r in links] == [None, None, None, None]


def test_a_stream_name_containing_at_resolves() -> None:
    store = new_store()
    store.append("a@b", ANY, [event()])
    store.append("links", ANY, [link(0, "a@b")])
    record = records(store, "links", 0, 1)[0]
    assert store.resolve_link(record, may_read=None) is not None


# ---- $all --------------------------------------------------------------------------


def all_positions(store: EventStore) -> list[int]:
    return [r.position for r in store.read_all_forwards(0, 1000)]


def test_all_forwards_is_inclusive_and_backwards_exclusive() -> None:
    store = new_store()
    store.append("s", ANY, [event() for _ in range(4)])
    third = records(store, "s", 0, 10)[2]
    forwards = store.read_all_forwards(third.position, 10)
    assert [r.revision for r in forwards] == [2, 3]
    backwards = store.read_all_backwards(third.position, 10)
    assert [(r.stream_name, r.revision) for r in backwards[:2]] == [("s", 1), ("s", 0)]
    # inside a record: forwards starts at the next record, backwards excludes the record
    assert [r.revision for r in store.read_all_forwards(third.position + 1, 10)] == [3]
    assert [r.revision for r in store.read_all_backwards(third.position + 1, 1)] == [1]
    assert [r.revision for r in store.read_all_backwards(third.end, 1)] == [2]
    assert [r.revision for r in store.read_all_backwards(None, 2)] == [3, 2]
    assert store.read_all_backwards(0, 10) == []
    assert store.read_all_forwards(store.log_end, 10) == []


def test_all_reads_count_and_predicate() -> None:
    store = new_store()
    store.append("a", ANY, [event("A"), event("B")])
    store.append("b", ANY, [event("A")])
    only_a = store.read_all_forwards(0, 10, lambda r: r.event_type == "A")
    assert [(r.stream_name, r.event_type) for r in only_a] == [("a", "A"), ("b", "A")]
    assert len(store.read_all_forwards(0, 2)) == 2
    assert store.read_all_forwards(0, 0) == []


def record_in(stream: str) -> Record:
    return Record(0, 1, stream, 0, uuid.uuid4(), "T", True, b"", b"", 0)


@pytest.mark.parametrize(
    ("stream", "visible"),
    [
        ("user", True),
        ("$settings", True),
        ("$$user", True),
        ("$epoch-information", False),
        ("$persistentsubscription-$all::group-checkpoint", False),
        ("$persistentsubscription-$all::group-parked", False),
        ("$persistentsubscription-stream::group-checkpoint", True),
        ("$persistentsubscription-$all::group", True),
    ],
)
def test_default_all_filter(stream: str, visible: bool) -> None:
    assert in_default_all_filter(record_in(stream)) is visible


def test_default_all_filter_applies_to_all_reads() -> None:
    store = new_store()
    store.append("$persistentsubscription-$all::g-checkpoint", ANY, [event()])
    store.append("$persistentsubscription-$all::g-parked", ANY, [event()])
    store.append("s", ANY, [event()])
    names = [r.stream_name for r in store.read_all_forwards(0, 100)]
    assert names == ["$settings", "s"]
    assert [r.stream_name for r in store.read_all_backwards(None, 100)] == ["s", "$settings"]
    assert len(store.records_after(-1, 100)) == 5


def test_records_after_is_exclusive_and_raw() -> None:
    store = new_store()
    store.append("s", ANY, [event(), event()])
    first, second = records(store, "s", 0, 2)
    assert store.records_after(first.position, 10) == [second]
    assert store.records_after(first.position - 1, 1) == [first]
    assert store.records_after(second.position, 10) == []
    assert store.records_after(-1, 1)[0].stream_name == "$epoch-information"


# ---- live notification -------------------------------------------------------------


def test_wait_returns_at_once_when_records_exist() -> None:
    store = new_store()

    async def main() -> None:
        await asyncio.wait_for(store.wait_for_records_after(-1), 1)

    asyncio.run(main())


def test_append_wakes_every_waiter_without_blocking() -> None:
    store = new_store()

    async def main() -> None:
        head = store.last_position
        waiters = [asyncio.ensure_future(store.wait_for_records_after(head)) for _ in range(3)]
        await asyncio.sleep(0)
        assert not any(w.done() for w in waiters)
        waiters[0].cancel()  # one waiter going away must not affect the others
        await asyncio.sleep(0)
        store.append("s", ANY, [event()])  # synchronous: never waits for subscribers
        await asyncio.wait_for(asyncio.gather(*waiters[1:]), 1)
        assert waiters[0].cancelled()

    asyncio.run(main())


def test_wait_ignores_appends_that_do_not_pass_the_position() -> None:
    store = new_store()

    async def main() -> None:
        store.append("s", ANY, [event()])
        head = store.last_position
        store.append("s", ANY, [event()])
        later = store.last_position
        waiter = asyncio.ensure_future(store.wait_for_records_after(later))
        await asyncio.sleep(0)
        assert not waiter.done()
        await asyncio.wait_for(store.wait_for_records_after(head), 1)
        store.append("s", ANY, [])  # empty writes add no record
        await asyncio.sleep(0)
        assert not waiter.done()
        store.append("t", ANY, [event()])
        await asyncio.wait_for(waiter, 1)

    asyncio.run(main())


def test_metadata_tb_max_marks_soft_deleted() -> None:
    store = new_store()
    exists(store)
    set_metadata(store, "s", MAX_TB)
    assert store.read_stream("s", 0, 10) is None
