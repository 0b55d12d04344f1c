"""Sockets for the blocking driver: connecting within a deadline (every address and the
TLS handshake share one budget) and waiting for input in a way another thread can
interrupt."""

from __future__ import annotations

import contextlib
import math
import select
import socket
from typing import TYPE_CHECKING

from esdb_wire.transport.deadline import Deadline
from esdb_wire.transport.status import StatusCode, StatusError

if TYPE_CHECKING:
    import selectors

    from esdb_wire.transport.tls import TlsSession

READ_SIZE = 262144


class ReadinessWaiter:
    """Waits until a socket is readable, or until another thread calls :meth:`interrupt`:
    ``poll(2)`` where there is one (cheaper per wait than a selector), else a selector.
    The interrupting end is a socket pair, watched from the start (a ``poll`` already
    under way would not see one registered later)."""

    def __init__(self, sock: socket.socket) -> None:
        self._poller: select.poll | None = None
        self._selector: selectors.BaseSelector | None = None
        reader, writer = socket.socketpair()
        reader.setblocking(False)
        writer.setblocking(False)
        self._wakeup = (reader, writer)
        self._interrupted = False
        if hasattr(select, "poll"):
            self._poller = select.poll()
            self._poller.register(sock, select.POLLIN)
            self._poller.register(reader, select.POLLIN)
        else:  # pragma: no cover (Windows)
            import selectors  # noqa: PLC0415 (only where there is no poll)

            self._selector = selectors.DefaultSelector()
            self._selector.register(sock, selectors.EVENT_READ)
            self._selector.register(reader, selectors.EVENT_READ)

    def wait(self, timeout: float | None) -> bool:
        """True when the socket is readable (or in error: the read will say) or the wait
        was interrupted; False on timeout."""
        if self._poller is not None:
            if timeout is None:
                ready = bool(self._poller.poll())
            else:
                ready = bool(self._poller.poll(math.ceil(timeout * 1000)))
        else:
            assert self._selector is not None
            ready = bool(self._selector.select(timeout))
        if ready and self._interrupted:
            self._interrupted = False
            with contextlib.suppress(OSError):
                self._wakeup[0].recv(4096)  # drain pending wake-ups
        return ready

    def interrupt(self) -> None:
        """Wake a thread blocked in :meth:`wait` (from another thread)."""
        self._interrupted = True
        with contextlib.suppress(OSError):  # full: a wake-up is pending anyway
            self._wakeup[1].send(b"\0")

    def close(self) -> None:
        if self._selector is not None:
            self._selector.close()
        for end in self._wakeup:
            end.close()


def connect_failed(deadline: Deadline, where: str, what: str) -> StatusError:
    """The error for a connect (or handshake) that ran out of time: the operation's
    deadline, or only the connect timeout."""
    if deadline.expired:
        return StatusError(StatusCode.DEADLINE_EXCEEDED, f"Deadline Exceeded while {what} {where}")
    return StatusError(StatusCode.UNAVAILABLE, f"{what} {where} timed out", retryable=True)


def open_socket(
    host: str, port: int, budget: Deadline, deadline: Deadline, where: str
) -> socket.socket:
    """A TCP connection to ``host:port``, trying each address in turn within one
    ``budget`` (``socket.create_connection`` would give each address the whole time)."""
    # An ASCII name goes as bytes: given a str, getaddrinfo first imports and runs the IDNA
    # codec, which only the other names need.
    name = host.encode("ascii") if host.isascii() else host
    try:
        addresses = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise StatusError(
            StatusCode.UNAVAILABLE, f"failed to connect to {where}: {exc}", retryable=True
        ) from exc
    last_error: OSError | None = None
    for family, kind, proto, _, address in addresses:
        left = budget.remaining()
        if left is not None and left <= 0:
            break
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(left)
            sock.connect(address)
        except OSError as exc:
            sock.close()
            last_error = exc
            continue
        return sock
    if last_error is None or isinstance(last_error, socket.timeout):
        raise connect_failed(deadline, where, "connecting to")
    raise StatusError(
        StatusCode.UNAVAILABLE, f"failed to connect to {where}: {last_error}", retryable=True
    ) from last_error


def tls_handshake(
    sock: socket.socket, tls: TlsSession, budget: Deadline, deadline: Deadline, where: str
) -> None:
    try:
        while True:
            done = tls.handshake()
            output = tls.pending_output()
            if output:
                sock.settimeout(budget.remaining())
                sock.sendall(output)
            if done:
                return
            remaining = budget.remaining()
            if remaining is not None and remaining <= 0:
                raise connect_failed(deadline, where, "the TLS handshake with")
            sock.settimeout(remaining)
            data = sock.recv(READ_SIZE)
            if not data:
                raise StatusError(
                    StatusCode.UNAVAILABLE,
                    f"{where} closed the connection during the TLS handshake "
                    "(is it serving plaintext?)",
                )
            tls.decrypt_handshake(data)
    except socket.timeout:
        raise connect_failed(deadline, where, "the TLS handshake with") from None
    except OSError as exc:  # ssl.SSLError included
        message = f"TLS handshake with {where} failed: {exc}{tls_hint(exc)}"
        raise StatusError(StatusCode.UNAVAILABLE, message) from exc


def tls_hint(exc: OSError) -> str:
    if "WRONG_VERSION_NUMBER" in str(exc):
        return " (the server does not speak TLS: connect without TLS)"
    return ""
