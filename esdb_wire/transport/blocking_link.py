"""One connection of the blocking driver: a socket, its sans-IO core, and the lock
that serialises both.

Whichever thread needs input becomes the connection's reader for a while: it reads the
socket with the lock released, feeds the bytes to the core under the lock, and wakes the
other waiters (see :meth:`Link.wait`).
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from typing import TYPE_CHECKING, Callable

from esdb_wire.transport.blocking_socket import (
    READ_SIZE,
    ReadinessWaiter,
    open_socket,
    tls_handshake,
)
from esdb_wire.transport.call import ClientCall
from esdb_wire.transport.config import ConnectionConfig
from esdb_wire.transport.connection import ClientConnection
from esdb_wire.transport.deadline import NO_DEADLINE, Deadline
from esdb_wire.transport.status import unanswered_hint

if TYPE_CHECKING:
    import ssl

    from esdb_wire.transport.tls import TlsSession

_monotonic = time.monotonic
# A connection that carried no call for this long is checked before reuse.
IDLE_PROBE_AFTER = 0.1


class Link:
    """One socket, its sans-IO core, and the lock that serialises both."""

    def __init__(
        self,
        sock: socket.socket,
        core: ClientConnection,
        tls: TlsSession | None,
        config: ConnectionConfig,
    ) -> None:
        self.sock = sock
        self.core = core
        self.tls = tls
        self.config = config
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.reading = False
        # Threads asleep on `cond` (waiting for the reader to hand over input).
        self.sleepers = 0
        self.lost = False
        self._socket_closed = False
        self._full_read = False
        # Reads land in one reused buffer: a fresh 256 KiB object per recv() makes
        # glibc grow and trim the heap around it, which costs more than the copy out.
        self._read_buffer = bytearray(READ_SIZE)
        self._read_view = memoryview(self._read_buffer)
        self._readable = ReadinessWaiter(sock)
        self.abandoned: list[ClientCall] = []
        # When a call last started here (see probe_idle).
        self.last_used = _monotonic()

    @classmethod
    def connect(
        cls,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None,
        server_hostname: str | None,
        authority: str,
        config: ConnectionConfig,
        deadline: Deadline = NO_DEADLINE,
    ) -> Link:
        where = f"{host}:{port}"
        # Connecting (every address tried, and the TLS handshake) has one budget: the
        # connect timeout, or less if the operation's deadline comes sooner.
        budget = Deadline.after(deadline.cap(config.connect_timeout))
        sock = open_socket(host, port, budget, deadline, where)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            tls = None
            if ssl_context is not None:
                from esdb_wire.transport.tls import TlsSession  # noqa: PLC0415 (TLS only)

                tls = TlsSession(ssl_context, server_hostname or host)
                tls_handshake(sock, tls, budget, deadline, where)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        core = ClientConnection(
            authority, scheme="https" if ssl_context is not None else "http", config=config
        )
        link = cls(sock, core, tls, config)
        with link.lock:
            core.initiate()
            link.flush()
        return link

    @property
    def usable(self) -> bool:
        return not self.lost and self.core.accepting and self.core.error is None

    # Everything below runs with `lock` held.

    def flush(self, until: float | None = None) -> None:
        """Write the core's output. A write that cannot make progress gives up after the
        write timeout, or at ``until`` (the monotonic deadline of the operation waiting on
        it) if that comes sooner; either way the connection is lost."""
        if self.core.pending_output:
            self._write(self.core.data_to_send(), until)

    def _write(self, data: bytes, until: float | None = None) -> None:
        if self.lost:
            return
        if self.tls is not None:
            data = self.tls.encrypt(data)
        try:
            sent = self.sock.send(data)
        except OSError:  # BlockingIOError included: the loop below retries and reports
            sent = 0
        if sent == len(data):
            return  # the common case: all of it at once
        view = memoryview(data)[sent:]
        deadline: float | None = None
        while view:
            try:
                sent = self.sock.send(view)
            except BlockingIOError:  # TLS is done in memory: the socket is plain
                sent = 0
            except OSError as exc:
                hint = "" if self.core.answered else unanswered_hint(self.tls is not None)
                self._lose(f"connection lost while sending: {exc}{hint}")
                return
            view = view[sent:]
            if view:
                now = _monotonic()
                if deadline is None:
                    deadline = now + self.config.write_timeout
                    if until is not None and until < deadline:
                        deadline = until
                elif now >= deadline:
                    if until is not None and until <= now:
                        self._lose(
                            "the server stopped reading: a write was still blocked at the deadline"
                        )
                    else:
                        self._lose(f"no write progress for {self.config.write_timeout:g}s")
                    return
                selectors_ = selectors.DefaultSelector()
                try:
                    selectors_.register(self.sock, selectors.EVENT_WRITE)
                    selectors_.select(deadline - now)
                finally:
                    selectors_.close()

    def _lose(self, reason: str) -> None:
        if not self.lost:
            self.lost = True
            self.core.connection_lost(reason)
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
        self._wake()

    def _wake(self) -> None:
        if self.core.touched:
            self.core.touched.clear()
        if self.sleepers:
            self.cond.notify_all()

    def interrupt_reader(self) -> None:
        """Another thread changed a call (cancelled it, say): wake the thread blocked
        reading the socket on its behalf, so it sees the change now rather than at its
        next timer."""
        if self.reading:
            self._readable.interrupt()

    def probe_idle(self) -> None:
        """Before putting a call on a connection that carries none: take in what the
        server sent meanwhile (a GOAWAY, or the end of the connection: a server closes
        idle connections), so a closed connection is noticed before the call is sent on
        it. One ``poll`` with no wait, once the connection has been idle for
        :data:`IDLE_PROBE_AFTER`. Lock held."""
        if self.reading or self.lost or self.core.calls:
            return
        if _monotonic() - self.last_used < IDLE_PROBE_AFTER:
            return  # busy a moment ago: not worth a system call on every call
        data = self._read(0)
        if data is not None:
            self._feed(data)
            self._wake()

    def _close_socket(self) -> None:
        if not self._socket_closed and not self.reading:
            self._socket_closed = True
            self._readable.close()
            self.sock.close()

    def _read(self, timeout: float | None) -> bytes | None:
        """Read what is there, waiting up to ``timeout``; b"" means EOF. Lock NOT held."""
        if self._full_read:
            # The last read filled the buffer: more is probably waiting, skip the poll.
            try:
                return self._recv()
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                return b""
        if not self._readable.wait(timeout):
            return None
        try:
            return self._recv()
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            return b""

    def _recv(self) -> bytes:
        size = self.sock.recv_into(self._read_buffer)
        self._full_read = size == READ_SIZE
        return self._read_view[:size].tobytes()

    def _feed(self, data: bytes | None, until: float | None = None) -> None:
        if data is None or self.lost:
            return
        if not data:
            if self.core.answered:
                self._lose("the server closed the connection")
            else:
                self._lose(
                    "the server closed the connection without answering"
                    + unanswered_hint(self.tls is not None)
                )
            return
        if self.tls is not None:
            try:
                data = self.tls.decrypt(data)
            except OSError as exc:  # ssl.SSLError
                self._lose(f"TLS error: {exc}")
                return
            if self.tls.closed:
                self._lose("the server closed the TLS session")
                return
        self.core.receive_data(data, _monotonic())
        self.flush(until)
        if self.core.error is not None:
            self._lose(self.core.error.message)

    def _cancel_abandoned(self) -> None:
        while self.abandoned:
            self.core.cancel(self.abandoned.pop())
        self.flush()

    def wait(
        self, ready: Callable[[], bool], timeout: float | None = None, until: float | None = None
    ) -> bool:
        """Block until ``ready()`` (True) or ``timeout`` passes (False). ``until`` is the
        deadline of the call waited for: output written meanwhile blocks no longer."""
        deadline = None if timeout is None else _monotonic() + timeout
        core = self.core
        while not ready():
            if self.abandoned:
                self._cancel_abandoned()
            now = _monotonic()
            due = core.next_timer()
            if due is not None and due <= now:
                core.handle_timers(now)
                due = core.next_timer()
            self.flush(until)
            if core.touched:
                self._wake()
                if ready():
                    break
            if core.error is not None and not self.lost:
                self._lose(core.error.message)
            if self.lost:
                self._close_socket()
                return ready()
            wait_for: float | None = None
            if deadline is not None:
                if now >= deadline:
                    return False
                wait_for = deadline - now
            if due is not None:
                wait_for = max(0.0, due - now) if wait_for is None else min(wait_for, due - now)
            if self.reading:
                self.sleepers += 1
                try:
                    self.cond.wait(wait_for)
                finally:
                    self.sleepers -= 1
                continue
            self.reading = True
            self.lock.release()
            try:
                data = self._read(wait_for)
            finally:
                self.lock.acquire()
                self.reading = False
            self._feed(data, until)
            self._wake()
        return True

    def close(self) -> None:
        self.core.close()
        self.flush()
        self._lose("channel closed")
        self._close_socket()
