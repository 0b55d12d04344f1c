"""A loopback TCP proxy for tests, which can be told to black-hole traffic."""

from __future__ import annotations

import selectors
import socket
import threading


class BlackholeProxy:
    """Forwards 127.0.0.1:<port> to a target until :meth:`blackhole`; then it keeps the
    connections open but silently drops every byte, like a dead network path."""

    def __init__(self, target_port: int) -> None:
        self._target = ("127.0.0.1", target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._dropping = threading.Event()
        self._stopping = threading.Event()
        self._sockets: list[socket.socket] = [self._listener]
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def blackhole(self) -> None:
        self._dropping.set()

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(5)
        for sock in self._sockets:
            sock.close()

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._listener, selectors.EVENT_READ, None)
        while not self._stopping.is_set():
            for key, _ in selector.select(0.05):
                if key.data is None:
                    client, _ = self._listener.accept()
                    upstream = socket.create_connection(self._target)
                    self._sockets += [client, upstream]
                    selector.register(client, selectors.EVENT_READ, upstream)
                    selector.register(upstream, selectors.EVENT_READ, client)
                    continue
                source = key.fileobj
                assert isinstance(source, socket.socket)
                try:
                    data = source.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    selector.unregister(source)
                    continue
                if not self._dropping.is_set():
                    key.data.sendall(data)
        selector.close()
