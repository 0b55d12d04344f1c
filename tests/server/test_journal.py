"""The journal file on its own: records in and out, a torn or corrupt tail cut off, the
file refused when it is not a journal or another server holds it."""

from __future__ import annotations

import logging
import uuid
import zlib
from pathlib import Path

import pytest

from esdb_wire.server.journal import (
    MAGIC,
    SYNC_POLICIES,
    Entry,
    Journal,
    JournalError,
    ScavengeEntry,
    StoredEvent,
    WriteEntry,
    decode,
    encode_scavenge,
    encode_write,
)


def event(
    position: int, name: str = "order-1", revision: int = 0, **changes: object
) -> StoredEvent:
    values: dict[str, object] = {
        "position": position,
        "end": position + 100,
        "stream_name": name,
        "revision": revision,
        "event_id": uuid.uuid4(),
        "event_type": "OrderPlaced",
        "is_json": True,
        "data": b'{"n": 1}',
        "custom_metadata": b"{}",
        "created": 638_000_000_000_000_000,
    }
    values.update(changes)
    return StoredEvent(**values)  # type: ignore[arg-type]


def replayed(path: Path, **options: str) -> tuple[list[Entry], Journal]:
    journal = Journal(path, **options)  # type: ignore[arg-type]
    return list(journal.replay()), journal


def write_some(path: Path, writes: list[list[StoredEvent]]) -> list[int]:
    """Commit ``writes`` (one record each); the file size after each."""
    entries, journal = replayed(path)
    assert entries == []
    sizes = []
    try:
        for number, events in enumerate(writes):
            journal.commit(1000 * (number + 1), events)
            sizes.append(path.stat().st_size)
    finally:
        journal.close()
    return sizes


def test_payloads_round_trip() -> None:
    unicode = event(
        7,
        name="ordre-é-😀",
        revision=2**63 - 1,
        event_type="$streamDeleted",
        is_json=False,
        data=b"",
        custom_metadata=b"\x00\xff",
    )
    events = [event(0), unicode]
    assert decode(encode_write(4242, events)) == WriteEntry(4242, events)
    assert decode(encode_write(99, [])) == WriteEntry(99, [])
    assert decode(encode_scavenge([5, 10, 2**40])) == ScavengeEntry([5, 10, 2**40])
    with pytest.raises(ValueError, match="unknown record kind"):
        decode(b"X")
    with pytest.raises(ValueError, match="wrong size"):
        decode(encode_write(1, events) + b"!")


@pytest.mark.parametrize("sync", SYNC_POLICIES)
def test_every_commit_is_there_after_a_reopen(tmp_path: Path, sync: str) -> None:
    path = tmp_path / "db"
    first = [event(0), event(100, revision=1)]
    second = [event(200, name="other")]
    journal = Journal(path, sync=sync)
    assert list(journal.replay()) == []
    journal.commit(200, first)
    journal.commit(250, [])  # an empty append moves the checkpoint
    journal.scavenged([0])
    journal.commit(300, second)
    journal.close()
    entries, again = replayed(path)
    again.close()
    assert entries == [
        WriteEntry(200, first),
        WriteEntry(250, []),
        ScavengeEntry([0]),
        WriteEntry(300, second),
    ]


def test_a_new_file_starts_with_the_magic(tmp_path: Path) -> None:
    path = tmp_path / "db"
    entries, journal = replayed(path)
    journal.close()
    assert entries == []
    assert path.read_bytes() == MAGIC


@pytest.mark.parametrize("cut", [1, 7, 8, 9, 50])
def test_a_torn_last_record_is_cut_off(
    tmp_path: Path, cut: int, caplog: pytest.LogCaptureFixture
) -> None:
    """A crash in the middle of the last write leaves part of it: the header (or a part of
    it) without the whole payload. Opening cuts the file back to the write before."""
    path = tmp_path / "db"
    writes = [[event(0)], [event(100, revision=1)], [event(200, revision=2)]]
    sizes = write_some(path, writes)
    torn = sizes[1] + cut
    assert torn < sizes[2]
    with path.open("r+b") as file:
        file.truncate(torn)
    with caplog.at_level(logging.WARNING, logger="esdb_wire.server.journal"):
        entries, journal = replayed(path)
    journal.close()
    assert entries == [WriteEntry(1000, writes[0]), WriteEntry(2000, writes[1])]
    assert path.stat().st_size == sizes[1]
    assert f"at offset {sizes[1]}" in caplog.text
    assert f"dropped the last {cut} bytes" in caplog.text


def test_writes_after_a_cut_go_where_the_torn_one_was(tmp_path: Path) -> None:
    path = tmp_path / "db"
    sizes = write_some(path, [[event(0)], [event(100, revision=1)]])
    with path.open("r+b") as file:
        file.truncate(sizes[1] - 3)
    entries, journal = replayed(path)
    assert len(entries) == 1
    replacement = [event(100, name="new")]
    journal.commit(5000, replacement)
    journal.close()
    entries, journal = replayed(path)
    journal.close()
    assert entries[1] == WriteEntry(5000, replacement)


def test_a_corrupt_record_and_everything_after_it_are_cut_off(tmp_path: Path) -> None:
    """One flipped byte in a record's payload: its CRC no longer matches, and reading
    stops there (the records after it are cut off with it)."""
    path = tmp_path / "db"
    writes = [[event(0)], [event(100, revision=1)], [event(200, revision=2)]]
    sizes = write_some(path, writes)
    content = bytearray(path.read_bytes())
    content[sizes[0] + 20] ^= 0x40
    path.write_bytes(bytes(content))
    entries, journal = replayed(path)
    journal.close()
    assert entries == [WriteEntry(1000, writes[0])]
    assert path.stat().st_size == sizes[0]


def test_a_corrupt_length_is_cut_off(tmp_path: Path) -> None:
    path = tmp_path / "db"
    sizes = write_some(path, [[event(0)], [event(100, revision=1)]])
    content = bytearray(path.read_bytes())
    content[sizes[0] : sizes[0] + 4] = (0).to_bytes(4, "little")
    path.write_bytes(bytes(content))
    entries, journal = replayed(path)
    journal.close()
    assert len(entries) == 1
    assert path.stat().st_size == sizes[0]


def test_a_record_with_a_good_crc_it_cannot_read_is_an_error(tmp_path: Path) -> None:
    """Never cut off what was written whole: a record of an unknown kind stops the open."""
    path = tmp_path / "db"
    payload = b"Z-from-a-newer-version"
    header = len(payload).to_bytes(4, "little") + zlib.crc32(payload).to_bytes(4, "little")
    path.write_bytes(MAGIC + header + payload)
    journal = Journal(path)
    with pytest.raises(JournalError, match="valid CRC"):
        list(journal.replay())
    journal.close()
    assert path.stat().st_size == len(MAGIC) + len(header) + len(payload)


def test_a_file_that_is_not_a_journal_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"my precious notes, not a journal\n")
    journal = Journal(path)
    with pytest.raises(JournalError, match="not an esdb_wire journal"):
        list(journal.replay())
    journal.close()
    assert path.read_bytes() == b"my precious notes, not a journal\n"


def test_a_magic_cut_short_is_a_new_journal(tmp_path: Path) -> None:
    path = tmp_path / "db"
    path.write_bytes(MAGIC[:3])
    entries, journal = replayed(path)
    journal.close()
    assert entries == []
    assert path.read_bytes() == MAGIC


def test_one_server_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "db"
    first = Journal(path)
    try:
        with pytest.raises(JournalError, match="in use by another server"):
            Journal(path)
    finally:
        first.close()
    Journal(path).close()  # free again


def test_clear_forgets_every_record(tmp_path: Path) -> None:
    path = tmp_path / "db"
    entries, journal = replayed(path)
    journal.commit(100, [event(0)])
    journal.clear()
    journal.commit(200, [event(0, name="after")])
    journal.close()
    entries, journal = replayed(path)
    journal.close()
    assert [entry.events[0].stream_name for entry in entries if isinstance(entry, WriteEntry)] == [
        "after"
    ]
    assert len(entries) == 1


def test_writes_wait_for_the_replay(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "db")
    try:
        with pytest.raises(RuntimeError, match="replay"):
            journal.commit(1, [])
    finally:
        journal.close()


def test_an_unknown_sync_policy_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="always, batch, never"):
        Journal(tmp_path / "db", sync="sometimes")
    assert not (tmp_path / "db").exists()


def test_a_journal_that_cannot_be_opened_says_why(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match=r"cannot open the journal .*No such file"):
        Journal(tmp_path / "missing-folder" / "db")
    with pytest.raises(JournalError, match=r"cannot open the journal .*directory"):
        Journal(tmp_path)
