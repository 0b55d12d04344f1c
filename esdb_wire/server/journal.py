"""The embedded server's durable log: one append-only journal file (``--db PATH``).

The file is :data:`MAGIC` followed by records. A record is::

    payload length (u32 LE) | zlib.crc32 of the payload (u32 LE) | payload

and every committed write of the store is exactly one record, so a write is on disk
whole or not at all: an append of N events, a multi-stream transaction, a delete with
the metadata it rewrites. Payloads (all integers little-endian):

* ``W`` a write: the writer checkpoint after it (u64), the number of events (u32), then
  per event ``position end revision created`` (u64 u64 i64 i64), the event id (16 bytes),
  ``is_json`` (u8), the lengths of the stream name, type, data and metadata (u32 each)
  and those bytes. An empty append is a write of no events (the checkpoint moves on).
* ``S`` a scavenge: the number of positions (u32), then the dropped records' positions.

Opening reads every record, stops at the first one that is torn (shorter than its
length says, as a crash in the middle of a write leaves it) or corrupt (its CRC does not
match), truncates the file there and logs what it dropped. What follows a bad record is
never read: nothing after a torn write was acknowledged.

**When a write is acknowledged.** The store hands the record to :meth:`Journal.commit`
before the write returns, so before any reply: the bytes are in the operating system
(one ``os.write``, no buffering in the process) by then, and a process crash or a
SIGKILL loses nothing acknowledged. What a power loss or an OS crash can lose is the
:data:`SYNC_POLICIES` choice:

* ``always``: ``fdatasync`` before the write returns. Nothing acknowledged is lost.
* ``batch`` (the default): a background thread syncs at most every
  ``batch_interval`` seconds (0.1) while there are unsynced writes; a power loss loses
  at most the writes of the last interval.
* ``never``: synced only when the server stops; a power loss loses what the OS had not
  written back yet (on Linux, up to about 30 seconds of writes).

The file is locked (``flock``) while open, so two servers never write the same journal.
"""

from __future__ import annotations

import errno
import logging
import os
import struct
import sys
import threading
import uuid
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, NamedTuple, Protocol, Union

log = logging.getLogger("esdb_wire.server.journal")

MAGIC: Final = b"EWJRNL1\n"
SYNC_ALWAYS: Final = "always"
SYNC_BATCH: Final = "batch"
SYNC_NEVER: Final = "never"
SYNC_POLICIES: Final = (SYNC_ALWAYS, SYNC_BATCH, SYNC_NEVER)
DEFAULT_SYNC: Final = SYNC_BATCH
DEFAULT_BATCH_INTERVAL: Final = 0.1
# Larger than any record a store writes (appends are bounded by the maximum append size,
# a scavenge by 8 bytes per dropped record): a longer length is corruption.
MAX_RECORD_SIZE: Final = 1 << 31

_HEADER = struct.Struct("<II")
_WRITE = struct.Struct("<QI")
_EVENT = struct.Struct("<QQqq16sBIIII")
_COUNT = struct.Struct("<I")
_WRITE_KIND = b"W"
_SCAVENGE_KIND = b"S"


class JournalError(Exception):
    """The journal cannot be used: not a journal, locked by another process, unreadable,
    or a write or sync failed (then the server refuses further writes)."""


class JournalEvent(Protocol):
    """What the journal records of one event (:class:`esdb_wire.server.store.Record`)."""

    @property
    def position(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def stream_name(self) -> str: ...
    @property
    def revision(self) -> int: ...
    @property
    def event_id(self) -> uuid.UUID: ...
    @property
    def event_type(self) -> str: ...
    @property
    def is_json(self) -> bool: ...
    @property
    def data(self) -> bytes: ...
    @property
    def custom_metadata(self) -> bytes: ...
    @property
    def created(self) -> int: ...


class StoredEvent(NamedTuple):
    """One event read back from the journal: the fields of :class:`JournalEvent`, in the
    order of :class:`~esdb_wire.server.records.Record`'s."""

    position: int
    end: int
    stream_name: str
    revision: int
    event_id: uuid.UUID
    event_type: str
    is_json: bool
    data: bytes
    custom_metadata: bytes
    created: int


@dataclass(frozen=True)
class WriteEntry:
    """A committed write: its events, in log order, and the writer checkpoint after it."""

    log_end: int
    events: list[StoredEvent]


@dataclass(frozen=True)
class ScavengeEntry:
    """A scavenge: the positions of the records it dropped from the log."""

    positions: list[int]


Entry = Union[WriteEntry, ScavengeEntry]


# ---- encoding -----------------------------------------------------------------------


def encode_write(log_end: int, events: Sequence[JournalEvent]) -> bytes:
    """The payload of a write record."""
    parts = [_WRITE_KIND, _WRITE.pack(log_end, len(events))]
    pack = _EVENT.pack
    for event in events:
        name = event.stream_name.encode()
        event_type = event.event_type.encode()
        data = event.data
        metadata = event.custom_metadata
        parts.append(
            pack(
                event.position,
                event.end,
                event.revision,
                event.created,
                event.event_id.bytes,
                event.is_json,
                len(name),
                len(event_type),
                len(data),
                len(metadata),
            )
        )
        parts += (name, event_type, data, metadata)
    return b"".join(parts)


def encode_scavenge(positions: Sequence[int]) -> bytes:
    """The payload of a scavenge record."""
    count = len(positions)
    return _SCAVENGE_KIND + _COUNT.pack(count) + struct.pack(f"<{count}Q", *positions)


def frame(payload: bytes) -> bytes:
    """``payload`` as a record: length, CRC32, payload."""
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def decode(payload: bytes) -> Entry:
    """The entry a record's payload holds. Raises ValueError if it is not one."""
    kind = payload[:1]
    if kind == _WRITE_KIND:
        return _decode_write(payload)
    if kind == _SCAVENGE_KIND:
        (count,) = _COUNT.unpack_from(payload, 1)
        if len(payload) != 1 + _COUNT.size + 8 * count:
            raise ValueError("scavenge record of the wrong size")
        return ScavengeEntry(list(struct.unpack_from(f"<{count}Q", payload, 1 + _COUNT.size)))
    raise ValueError(f"unknown record kind {kind!r}")


def _decode_write(payload: bytes) -> WriteEntry:
    view = memoryview(payload)
    log_end, count = _WRITE.unpack_from(payload, 1)
    offset = 1 + _WRITE.size
    events: list[StoredEvent] = []
    unpack = _EVENT.unpack_from
    size = _EVENT.size
    for _ in range(count):
        (position, end, revision, created, event_id, is_json, *lengths) = unpack(payload, offset)
        offset += size
        fields: list[bytes] = []
        for length in lengths:
            if offset + length > len(payload):
                raise ValueError("event longer than its record")
            fields.append(bytes(view[offset : offset + length]))
            offset += length
        name, event_type, data, metadata = fields
        events.append(
            StoredEvent(
                position,
                end,
                name.decode(),
                revision,
                uuid.UUID(bytes=event_id),
                event_type.decode(),
                bool(is_json),
                data,
                metadata,
                created,
            )
        )
    if offset != len(payload):
        raise ValueError("write record of the wrong size")
    return WriteEntry(log_end, events)


# ---- reading ------------------------------------------------------------------------


@dataclass
class _Scan:
    """Where the valid records end, and why reading stopped there (None: end of file)."""

    valid_end: int
    problem: str | None = None


def _read_records(path: Path, scan: _Scan) -> Iterator[Entry]:
    """The entries of the journal at ``path``, up to the first torn or corrupt record;
    ``scan`` is left saying where that is."""
    with path.open("rb") as file:
        if file.read(len(MAGIC)) != MAGIC:
            return
        offset = len(MAGIC)
        scan.valid_end = offset
        while True:
            header = file.read(_HEADER.size)
            if not header:
                return
            if len(header) < _HEADER.size:
                scan.problem = "a torn record header"
                return
            length, checksum = _HEADER.unpack(header)
            if length == 0 or length > MAX_RECORD_SIZE:
                scan.problem = f"a record length of {length}"
                return
            payload = file.read(length)
            if len(payload) < length:
                scan.problem = f"a torn record ({len(payload)} of {length} bytes)"
                return
            if zlib.crc32(payload) != checksum:
                scan.problem = "a record whose CRC does not match"
                return
            try:
                entry = decode(payload)
            except (ValueError, struct.error, UnicodeDecodeError) as exc:
                raise JournalError(
                    f"{path}: the record at offset {offset} has a valid CRC but cannot be "
                    f"read ({exc}): written by another version?"
                ) from None
            offset += _HEADER.size + length
            scan.valid_end = offset
            yield entry


# ---- the journal --------------------------------------------------------------------


def _sync(fd: int) -> None:
    if sys.platform == "darwin":  # pragma: no cover - fsync does not reach the disk there
        import fcntl  # noqa: PLC0415

        fcntl.fcntl(fd, fcntl.F_FULLFSYNC)
        return
    getattr(os, "fdatasync", os.fsync)(fd)


def _lock(fd: int, path: Path) -> None:
    try:
        import fcntl  # noqa: PLC0415
    except ImportError:  # pragma: no cover - Windows: no advisory lock
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise JournalError(f"{path} is in use by another server") from None
        raise


class _BackgroundSync:
    """The ``batch`` policy: a thread that syncs at most every ``interval`` seconds
    while writes are waiting for it."""

    def __init__(self, fd: int, interval: float) -> None:
        self._fd = fd
        self._interval = interval
        self._dirty = threading.Event()
        self._closing = threading.Event()
        self.failure: OSError | None = None
        self._thread = threading.Thread(
            target=self._run, name="esdb_wire-journal-sync", daemon=True
        )
        self._thread.start()

    def written(self) -> None:
        self._dirty.set()

    def _run(self) -> None:
        while True:
            self._dirty.wait()
            if self._closing.is_set():
                return
            self._dirty.clear()
            try:
                _sync(self._fd)
            except OSError as exc:
                log.error("journal sync failed: %s", exc)
                self.failure = exc
                return
            if self._closing.wait(self._interval):
                return

    def close(self) -> None:
        self._closing.set()
        self._dirty.set()
        self._thread.join()


class Journal:
    """One open journal file: replay it once, then commit each write to it."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        sync: str = DEFAULT_SYNC,
        batch_interval: float = DEFAULT_BATCH_INTERVAL,
    ) -> None:
        """Open (creating it if missing) and lock the journal at ``path``. ``sync`` is one
        of :data:`SYNC_POLICIES`. Nothing is read until :meth:`replay`."""
        if sync not in SYNC_POLICIES:
            raise ValueError(f"sync must be one of {', '.join(SYNC_POLICIES)}, not {sync!r}")
        self.path = Path(path)
        self.sync = sync
        self.batch_interval = batch_interval
        self.failure: Exception | None = None
        self._replayed = False
        created = not self.path.exists()
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise JournalError(f"cannot open the journal {self.path}: {exc.strerror}") from None
        try:
            _lock(self._fd, self.path)
            if created:
                self._sync_directory()
        except BaseException:
            os.close(self._fd)
            raise
        self._background: _BackgroundSync | None = None
        self.records = 0  # records written or replayed since the journal was opened

    def _sync_directory(self) -> None:
        """Make the new file's directory entry durable."""
        try:
            directory = os.open(self.path.parent, os.O_RDONLY)
        except OSError:  # pragma: no cover - e.g. Windows
            return
        try:
            os.fsync(directory)
        except OSError:  # pragma: no cover - some file systems refuse it
            pass
        finally:
            os.close(directory)

    # ---- replay ----

    def replay(self) -> Iterator[Entry]:
        """Every entry committed so far, oldest first. Exhausting it truncates a torn or
        corrupt tail and readies the journal for :meth:`commit`; call it once, first."""
        if self._replayed:
            raise RuntimeError("the journal was replayed already")
        size = os.fstat(self._fd).st_size
        if size > 0 and not self._starts_with_magic(size):
            raise JournalError(f"{self.path} is not an esdb_wire journal")
        scan = _Scan(valid_end=0)
        if size >= len(MAGIC):
            for entry in _read_records(self.path, scan):
                self.records += 1
                yield entry
        self._finish_replay(size, scan)

    def _starts_with_magic(self, size: int) -> bool:
        os.lseek(self._fd, 0, os.SEEK_SET)
        head = os.read(self._fd, len(MAGIC))
        # A file shorter than the magic, and a prefix of it, is a creation cut short.
        return head == MAGIC if size >= len(MAGIC) else MAGIC.startswith(head)

    def _finish_replay(self, size: int, scan: _Scan) -> None:
        if scan.valid_end < len(MAGIC):
            os.ftruncate(self._fd, 0)
            os.lseek(self._fd, 0, os.SEEK_SET)
            os.write(self._fd, MAGIC)
            scan.valid_end = len(MAGIC)
            _sync(self._fd)
        elif scan.valid_end < size:
            log.warning(
                "journal %s: %s at offset %d; dropped the last %d bytes (never acknowledged)",
                self.path,
                scan.problem or "trailing bytes",
                scan.valid_end,
                size - scan.valid_end,
            )
            os.ftruncate(self._fd, scan.valid_end)
            _sync(self._fd)
        os.lseek(self._fd, scan.valid_end, os.SEEK_SET)
        self._replayed = True
        if self.sync == SYNC_BATCH:
            self._background = _BackgroundSync(self._fd, self.batch_interval)

    # ---- writing ----

    def commit(self, log_end: int, events: Sequence[JournalEvent]) -> None:
        """Write one record for a committed write (``events`` in log order, possibly
        none), synced as the policy says. Raises :class:`JournalError` if it fails."""
        self._append(encode_write(log_end, events))

    def scavenged(self, positions: Sequence[int]) -> None:
        """Record that a scavenge dropped the records at ``positions``."""
        self._append(encode_scavenge(positions))

    def _append(self, payload: bytes) -> None:
        if not self._replayed:
            raise RuntimeError("replay() the journal before writing to it")
        self.check_healthy()
        record = memoryview(frame(payload))
        try:
            while record:
                written = os.write(self._fd, record)
                record = record[written:]
            if self.sync == SYNC_ALWAYS:
                _sync(self._fd)
        except OSError as exc:
            self.failure = exc
            log.critical("journal %s: write failed, writes are refused: %s", self.path, exc)
            raise JournalError(f"{self.path}: write failed: {exc}") from exc
        self.records += 1
        if self._background is not None:
            self._background.written()

    def check_healthy(self) -> None:
        background = self._background
        if self.failure is None and background is not None and background.failure is not None:
            self.failure = background.failure
        if self.failure is not None:
            raise JournalError(f"{self.path}: an earlier write or sync failed: {self.failure}")

    def clear(self) -> None:
        """Forget every record (the store was reset): the file is only the magic again."""
        self.check_healthy()
        os.ftruncate(self._fd, len(MAGIC))
        os.lseek(self._fd, len(MAGIC), os.SEEK_SET)
        if self.sync != SYNC_NEVER:
            _sync(self._fd)
        self.records = 0

    def close(self) -> None:
        """Sync and close (idempotent)."""
        if self._fd < 0:
            return
        if self._background is not None:
            self._background.close()
            self._background = None
        try:
            _sync(self._fd)
        except OSError as exc:  # pragma: no cover - nothing more can be done
            log.error("journal %s: final sync failed: %s", self.path, exc)
        finally:
            os.close(self._fd)
            self._fd = -1
