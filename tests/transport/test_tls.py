"""TLS (ALPN h2) on both drivers against a grpcio TLS server, and the failure modes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from esdb_wire.transport.aio import AsyncChannel
from esdb_wire.transport.blocking import Channel
from esdb_wire.transport.status import StatusCode, StatusError
from esdb_wire.transport.tls import client_context
from tests.grpc_peer import GrpcioPeer, path
from tests.peers import require_peer

pytestmark = pytest.mark.usefixtures("http2_engine")  # both HTTP/2 engines


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_peer("cryptography")
    from esdb_wire.devcerts import generate  # noqa: PLC0415

    folder = tmp_path_factory.mktemp("certs")
    generate(folder)
    generate(folder / "other")
    generate(folder / "expired", expired=True)
    return folder


def tls_peer(folder: Path) -> GrpcioPeer:
    return GrpcioPeer(tls=((folder / "node.crt").read_bytes(), (folder / "node.key").read_bytes()))


@pytest.fixture(scope="module")
def secure_peer(certs: Path) -> Iterator[GrpcioPeer]:
    peer = tls_peer(certs)
    yield peer
    peer.stop()


def call_blocking(
    port: int, host: str = "localhost", server_hostname: str | None = None, **context_args: object
) -> bytes:
    context = client_context(**context_args)  # type: ignore[arg-type]
    with Channel(host, port, ssl_context=context, server_hostname=server_hostname) as channel:
        return channel.unary_unary(path("Unary"), b"secret")


def call_async(
    port: int, host: str = "localhost", server_hostname: str | None = None, **context_args: object
) -> bytes:
    async def main() -> bytes:
        context = client_context(**context_args)  # type: ignore[arg-type]
        async with AsyncChannel(
            host, port, ssl_context=context, server_hostname=server_hostname
        ) as channel:
            return await channel.unary_unary(path("Unary"), b"secret")

    return asyncio.run(main())


DRIVERS = [call_blocking, call_async]


@pytest.mark.parametrize("call", DRIVERS, ids=["blocking", "asyncio"])
def test_tls_with_private_ca(call: object, secure_peer: GrpcioPeer, certs: Path) -> None:
    assert call(secure_peer.port, cafile=str(certs / "ca.crt")) == b"secret"  # type: ignore[operator]
    # The IP address SAN works too.
    assert call(secure_peer.port, "127.0.0.1", cafile=str(certs / "ca.crt")) == b"secret"  # type: ignore[operator]


@pytest.mark.parametrize("call", DRIVERS, ids=["blocking", "asyncio"])
def test_wrong_ca_is_refused(call: object, secure_peer: GrpcioPeer, certs: Path) -> None:
    with pytest.raises(StatusError) as info:
        call(secure_peer.port, cafile=str(certs / "other" / "ca.crt"))  # type: ignore[operator]
    assert info.value.code is StatusCode.UNAVAILABLE
    assert "certificate verify failed" in info.value.message


@pytest.mark.parametrize("call", DRIVERS, ids=["blocking", "asyncio"])
def test_verification_can_be_turned_off(call: object, secure_peer: GrpcioPeer) -> None:
    assert call(secure_peer.port, verify=False) == b"secret"  # type: ignore[operator]


@pytest.mark.parametrize("call", DRIVERS, ids=["blocking", "asyncio"])
def test_expired_certificate(call: object, certs: Path) -> None:
    peer = tls_peer(certs / "expired")
    try:
        with pytest.raises(StatusError) as info:
            call(peer.port, cafile=str(certs / "expired" / "ca.crt"))  # type: ignore[operator]
        assert "expired" in info.value.message
    finally:
        peer.stop()


@pytest.mark.parametrize("call", DRIVERS, ids=["blocking", "asyncio"])
def test_wrong_host_name(call: object, secure_peer: GrpcioPeer, certs: Path) -> None:
    with pytest.raises(StatusError) as info:
        call(  # type: ignore[operator]
            secure_peer.port, "127.0.0.1", "other.example", cafile=str(certs / "ca.crt")
        )
    assert info.value.code is StatusCode.UNAVAILABLE
    assert "certificate verify failed" in info.value.message


@pytest.mark.parametrize("call", DRIVERS, ids=["blocking", "asyncio"])
def test_tls_client_against_plaintext_server(call: object) -> None:
    peer = GrpcioPeer()
    try:
        with pytest.raises(StatusError) as info:
            call(peer.port, verify=False)  # type: ignore[operator]
        assert info.value.code is StatusCode.UNAVAILABLE
    finally:
        peer.stop()


def test_plaintext_client_against_tls_server(secure_peer: GrpcioPeer) -> None:
    with Channel("127.0.0.1", secure_peer.port) as channel, pytest.raises(StatusError) as info:
        channel.unary_unary(path("Unary"), b"", timeout=5)
    assert info.value.code is StatusCode.UNAVAILABLE
    assert "TLS" in info.value.message
