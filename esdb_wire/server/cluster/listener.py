"""One cluster node's network presence: its gRPC listener, and the faults done to it.

A :class:`NodeListener` serves a node's methods on its port with
:class:`~esdb_wire.server.host.GrpcHost` and can:

* **stop** gracefully: GOAWAY, calls get a grace period, then the port refuses;
* **kill**: the port refuses at once and every connection closes without a GOAWAY;
* **partition**: nothing reaches the node and it answers nothing. Open connections are
  held (their input stays unread, their output unsent); the gRPC listener is replaced by
  a socket that listens but never accepts, so a new connection's TCP handshake completes
  and then hears nothing (no TLS handshake, no HTTP/2 settings);
* **heal**: the held connections carry on with what they held, the listener is back;
* **start** again (after a stop or a kill) on the same port.

Everything stays on the loopback addresses the node was given.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
from collections.abc import Mapping

from esdb_wire.server.host import GrpcHost
from esdb_wire.server.limits import ServerLimits
from esdb_wire.server.rpc import Method

log = logging.getLogger("esdb_wire.server.cluster")

# Connections a partitioned node's silent socket completes before new ones hang in SYN.
SILENT_BACKLOG = 128


def silent_sockets(host: str, port: int) -> list[socket.socket]:
    """Listening sockets on every address of ``host`` at ``port`` that are never
    accepted from: a peer connects, and then nothing ever answers."""
    sockets: list[socket.socket] = []
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    try:
        for family, kind, proto, _, address in infos:
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(SILENT_BACKLOG)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class NodeListener:
    """Serves one node's ``methods`` on ``host:port``, and stops, kills, partitions and
    heals it on request (on the cluster's event loop)."""

    def __init__(
        self,
        name: str,
        methods: Mapping[str, Method],
        *,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None,
        limits: ServerLimits,
        http2_engine: str | None = None,
    ) -> None:
        self.name = name
        self.host = host
        self.port = port
        self._methods = dict(methods)
        self._ssl_context = ssl_context
        self._limits = limits
        self._http2_engine = http2_engine
        self._grpc: GrpcHost | None = None
        self._silent: list[socket.socket] = []

    @property
    def serving(self) -> bool:
        """Whether the gRPC listener accepts connections now."""
        return self._grpc is not None and not self._silent

    @property
    def connections(self) -> int:
        """Open connections (held ones included)."""
        return 0 if self._grpc is None else len(self._grpc.connections)

    async def start(self) -> int:
        """Listen (on a new host after a stop or a kill); returns the port (bound now
        when it was 0)."""
        await self._close_silent()
        if self._grpc is None:
            self._grpc = GrpcHost(
                self._methods,
                ssl_context=self._ssl_context,
                limits=self._limits,
                http2_engine=self._http2_engine,
            )
        self.port = await self._grpc.start(self.host, self.port)
        log.info("%s listening on %s:%d", self.name, self.host, self.port)
        return self.port

    async def stop(self, grace: float = 1.0) -> None:
        """Shut down gracefully: GOAWAY, ``grace`` seconds for calls, then closed."""
        grpc, self._grpc = self._grpc, None
        await self._close_silent()
        if grpc is not None:
            grpc.hold_connections(False)
            await grpc.stop(grace)
        log.info("%s stopped", self.name)

    async def kill(self) -> None:
        """End at once: the port refuses, connections close without a GOAWAY."""
        grpc, self._grpc = self._grpc, None
        await self._close_silent()
        if grpc is not None:
            grpc.kill()
        log.info("%s killed", self.name)

    async def partition(self) -> None:
        """Cut the node off: open connections held, new ones accepted and left unanswered."""
        grpc = self._grpc
        if grpc is None or self._silent:
            return
        await grpc.close_listener()
        grpc.hold_connections(True)
        self._silent = silent_sockets(self.host, self.port)
        log.info("%s partitioned (%d connections held)", self.name, len(grpc.connections))

    async def heal(self) -> None:
        """End a partition: held connections carry on, the listener is back."""
        grpc = self._grpc
        if grpc is None or not self._silent:
            return
        await self._close_silent()
        grpc.hold_connections(False)
        await grpc.start(self.host, self.port)
        log.info("%s reachable again", self.name)

    async def _close_silent(self) -> None:
        silent, self._silent = self._silent, []
        for sock in silent:
            sock.close()  # connections never accepted are reset
