"""TLS as a byte transform (``ssl.MemoryBIO``), so drivers keep doing their own socket I/O.

Encrypting and decrypting in memory lets the blocking driver read the socket in one
thread while another writes, without two threads ever touching one ``SSLObject``.
"""

from __future__ import annotations

import ssl

from esdb_wire.transport.status import StatusCode, StatusError

ALPN_H2 = "h2"


def client_context(
    cafile: str | None = None,
    *,
    verify: bool = True,
    certfile: str | None = None,
    keyfile: str | None = None,
) -> ssl.SSLContext:
    """An ``SSLContext`` for gRPC clients: TLS 1.2+, ALPN ``h2``, system CAs by default."""
    context = ssl.create_default_context(cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if certfile is not None:
        context.load_cert_chain(certfile, keyfile)
    context.set_alpn_protocols([ALPN_H2])
    return context


class TlsSession:
    """One TLS client session over memory buffers."""

    def __init__(self, context: ssl.SSLContext, server_hostname: str | None) -> None:
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(
            self._incoming, self._outgoing, server_side=False, server_hostname=server_hostname
        )
        self.closed = False

    def handshake(self) -> bool:
        """Advance the handshake; True once it is complete. Send :meth:`pending_output`."""
        try:
            self._tls.do_handshake()
        except ssl.SSLWantReadError:
            return False
        protocol = self._tls.selected_alpn_protocol()
        if protocol not in (None, ALPN_H2):
            raise StatusError(
                StatusCode.UNAVAILABLE, f"server negotiated {protocol!r} instead of HTTP/2 (h2)"
            )
        return True

    def pending_output(self) -> bytes:
        """Encrypted bytes waiting to be written to the socket."""
        return self._outgoing.read()

    def decrypt(self, data: bytes) -> bytes:
        """Feed bytes read from the socket; return the plaintext now available."""
        self._incoming.write(data)
        chunks = []
        while True:
            try:
                chunk = self._tls.read(262144)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                self.closed = True
                break
            if not chunk:
                self.closed = True
                break
            chunks.append(chunk)
        return b"".join(chunks)

    def decrypt_handshake(self, data: bytes) -> None:
        """Feed handshake bytes read from the socket."""
        self._incoming.write(data)

    def encrypt(self, data: bytes) -> bytes:
        """Encrypt ``data``; return what to write to the socket."""
        self._tls.write(data)
        return self._outgoing.read()
