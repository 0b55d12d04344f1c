"""A fault-injecting loopback TCP proxy for tests.

:class:`FaultProxy` forwards ``127.0.0.1:<port>`` to ``127.0.0.1:<target_port>`` and, on
demand, breaks the path the way networks and peers do: :meth:`~FaultProxy.drop` every
open connection (new ones still go through), :meth:`~FaultProxy.blackhole` it (the
connections stay open, no byte gets through), :meth:`~FaultProxy.delay` every chunk,
:meth:`~FaultProxy.cut_after` a number of bytes in one direction, or
:meth:`~FaultProxy.swallow` one direction only. :meth:`~FaultProxy.heal` undoes all but
drops and cuts, which are done. It only ever connects to 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import selectors
import socket
import threading
import time
from typing import Literal, Union

Direction = Literal["upstream", "downstream"]
"""``"upstream"``: client to server; ``"downstream"``: server to client."""

# What the proxy forwards: bytes, or the end of the connection: "close" (both ends are
# closed at once) or "cut" (both peers get a FIN after what was forwarded, nothing more).
_Item = Union[bytes, Literal["close", "cut"]]
_TICK = 0.02  # how often the proxy thread looks at requests from other threads
_SEND_TIMEOUT = 5.0  # a peer that reads nothing for this long has its connection closed


class _Link:
    """One forwarded connection: the client's socket and the proxy's one to the target."""

    __slots__ = ("client", "closed", "cut", "upstream")

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self.closed = False
        self.cut = False  # cut: nothing more is forwarded; closed at the first EOF

    def source(self, direction: Direction) -> socket.socket:
        return self.client if direction == "upstream" else self.upstream

    def sink(self, direction: Direction) -> socket.socket:
        return self.upstream if direction == "upstream" else self.client


class FaultProxy:
    """A loopback TCP forwarder with injectable faults (one thread, thread-safe controls).

    ``accepted`` counts the connections accepted so far, ``cuts`` the cuts done.
    """

    def __init__(self, target_port: int) -> None:
        self._target = ("127.0.0.1", target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self.accepted = 0
        self.cuts = 0
        self._lock = threading.Lock()
        self._swallowed: set[Direction] = set()
        self._delay = 0.0
        self._cut: tuple[Direction, int] | None = None
        self._cut_done = threading.Event()
        self._links: set[_Link] = set()
        # Delayed items: (due time, sequence, link, direction, item).
        self._queue: list[tuple[float, int, _Link, Direction, _Item]] = []
        self._sequence = itertools.count()
        self._last_due = 0.0
        self._drop_requested = threading.Event()
        self._dropped = threading.Event()
        self._stopping = threading.Event()
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ, None)
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)
        self._thread.start()

    # -- faults ------------------------------------------------------------------------

    def drop(self, timeout: float = 5.0) -> None:
        """Close both ends of every open connection now (returns once done); connections
        made afterwards are forwarded (with whatever fault is set)."""
        self._dropped.clear()
        self._drop_requested.set()
        if not self._dropped.wait(timeout):
            raise TimeoutError("the proxy did not drop its connections")

    def blackhole(self) -> None:
        """Keep every connection (and new ones) open but drop every byte, both ways: a
        dead network path."""
        with self._lock:
            self._swallowed = {"upstream", "downstream"}

    def swallow(self, direction: Direction) -> None:
        """Drop every byte going ``direction``; forward the other way."""
        with self._lock:
            self._swallowed = {direction}

    def delay(self, seconds: float) -> None:
        """Forward each chunk ``seconds`` after it arrives (order is kept)."""
        with self._lock:
            self._delay = seconds

    def cut_after(self, count: int, direction: Direction = "downstream") -> None:
        """Forward ``count`` more bytes going ``direction`` (on whichever connections
        carry them), then end the connection that carried the last one: both peers get
        a FIN after what was forwarded (so every byte before the cut can be read) and
        nothing more. One cut: the next connections are forwarded whole."""
        with self._lock:
            self._cut = (direction, count)
            self._cut_done.clear()

    def wait_for_cut(self, timeout: float) -> bool:
        """Whether the cut asked for by :meth:`cut_after` has been made (waits for it)."""
        return self._cut_done.wait(timeout)

    def heal(self) -> None:
        """Forward everything again, at once (a pending cut is called off)."""
        with self._lock:
            self._swallowed = set()
            self._delay = 0.0
            self._cut = None

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def open_connections(self) -> int:
        return len(self._links)

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(5)
        for link in list(self._links):
            self._close(link)
        self._selector.close()
        self._listener.close()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the proxy thread --------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            if self._drop_requested.is_set():
                self._drop_requested.clear()
                for link in list(self._links):
                    self._close(link)
                self._dropped.set()
            timeout = _TICK
            if self._queue:
                timeout = min(_TICK, max(0.0, self._queue[0][0] - time.monotonic()))
            for key, _ in self._selector.select(timeout):
                if key.data is None:
                    self._accept()
                else:
                    self._receive(*key.data)
            self._release_due()

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        try:
            upstream = socket.create_connection(self._target, timeout=_SEND_TIMEOUT)
        except OSError:
            client.close()
            return
        link = _Link(client, upstream)
        for sock in (client, upstream):
            sock.settimeout(_SEND_TIMEOUT)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._links.add(link)
        self._selector.register(client, selectors.EVENT_READ, (link, "upstream"))
        self._selector.register(upstream, selectors.EVENT_READ, (link, "downstream"))
        self.accepted += 1

    def _receive(self, link: _Link, direction: Direction) -> None:
        source = link.source(direction)
        try:
            data = source.recv(65536)
        except OSError:
            data = b""
        end: _Item | None = None if data else "close"
        if link.cut:
            if end is not None:
                self._close(link)
            return
        with self._lock:
            if direction in self._swallowed:
                if end is not None:  # a dead path carries no FIN either: just stop reading
                    self._selector.unregister(source)
                return
            if self._cut is not None and self._cut[0] == direction and data:
                left = self._cut[1]
                if len(data) >= left:
                    data, end, self._cut = data[:left], "cut", None
                    self.cuts += 1
                    self._cut_done.set()
                else:
                    self._cut = (direction, left - len(data))
            delay = self._delay
        if data:
            self._forward(link, direction, data, delay)
        if end is not None:
            self._forward(link, direction, end, delay)

    def _forward(self, link: _Link, direction: Direction, item: _Item, delay: float) -> None:
        if delay <= 0 and not self._queue:
            self._deliver(link, direction, item)
            return
        due = max(time.monotonic() + delay, self._last_due)  # never overtake
        self._last_due = due
        heapq.heappush(self._queue, (due, next(self._sequence), link, direction, item))

    def _release_due(self) -> None:
        now = time.monotonic()
        while self._queue and self._queue[0][0] <= now:
            _, _, link, direction, item = heapq.heappop(self._queue)
            self._deliver(link, direction, item)

    def _deliver(self, link: _Link, direction: Direction, item: _Item) -> None:
        if link.closed or link.cut:
            return
        if isinstance(item, bytes):
            try:
                link.sink(direction).sendall(item)
            except OSError:
                self._close(link)
        elif item == "close":
            self._close(link)
        else:
            link.cut = True
            for sock in (link.client, link.upstream):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_WR)

    def _close(self, link: _Link) -> None:
        link.closed = True
        self._links.discard(link)
        for sock in (link.client, link.upstream):
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(sock)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


class BlackholeProxy(FaultProxy):
    """A :class:`FaultProxy` as the older tests know it: forwards until :meth:`blackhole`."""
