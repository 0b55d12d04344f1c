"""A loopback TCP forwarder that can cut every open connection on demand while it keeps
accepting new ones: a dropped network path that heals at once."""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading


class DroppingProxy:
    """Forwards ``127.0.0.1:<port>`` to ``127.0.0.1:<target_port>``.

    :meth:`drop_connections` closes both ends of every forwarded connection (the client
    sees its connection break); connections made afterwards are forwarded as before.
    """

    def __init__(self, target_port: int) -> None:
        self._target = ("127.0.0.1", target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ, None)
        self._pairs: dict[socket.socket, socket.socket] = {}
        self._drop_requested = threading.Event()
        self._dropped = threading.Event()
        self._stopping = threading.Event()
        self.accepted = 0
        self._thread = threading.Thread(target=self._run, name="dropping-proxy", daemon=True)
        self._thread.start()

    @property
    def open_connections(self) -> int:
        return len(self._pairs) // 2

    def drop_connections(self, timeout: float = 5.0) -> None:
        """Close every forwarded connection now (returns once done)."""
        self._dropped.clear()
        self._drop_requested.set()
        if not self._dropped.wait(timeout):
            raise TimeoutError("the proxy did not drop its connections")

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(5)
        self._close_all()
        self._selector.close()
        self._listener.close()

    def __enter__(self) -> DroppingProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _close_all(self) -> None:
        for sock in list(self._pairs):
            self._forget(sock)

    def _forget(self, sock: socket.socket) -> None:
        peer = self._pairs.pop(sock, None)
        for each in (sock, peer):
            if each is None:
                continue
            self._pairs.pop(each, None)
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(each)
            with contextlib.suppress(OSError):
                each.shutdown(socket.SHUT_RDWR)
            each.close()

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        try:
            upstream = socket.create_connection(self._target, timeout=5)
        except OSError:
            client.close()
            return
        for sock in (client, upstream):
            sock.setblocking(True)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._pairs[client] = upstream
        self._pairs[upstream] = client
        self._selector.register(client, selectors.EVENT_READ, upstream)
        self._selector.register(upstream, selectors.EVENT_READ, client)
        self.accepted += 1

    def _run(self) -> None:
        while not self._stopping.is_set():
            if self._drop_requested.is_set():
                self._drop_requested.clear()
                self._close_all()
                self._dropped.set()
            for key, _ in self._selector.select(0.02):
                if key.data is None:
                    self._accept()
                    continue
                source = key.fileobj
                assert isinstance(source, socket.socket)
                if source not in self._pairs:
                    continue
                try:
                    data = source.recv(65536)
                    if data:
                        key.data.sendall(data)
                except OSError:
                    data = b""
                if not data:
                    self._forget(source)
