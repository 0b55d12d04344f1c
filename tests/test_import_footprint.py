"""What importing esdb_wire, constructing a client and connecting it load (issue 20).

Each case runs in a fresh interpreter against the embedded server (over loopback) and
lists the modules it ended with. ``import esdb_wire`` loads no client, transport, HTTP/2
engine or protobuf; a client, constructed on a ``esdb+discover://`` URI and connected
(gossip read, node chosen), loads its HTTP/2 engine but still no protobuf and none of the
generated modules; the first call that encodes or decodes loads the generated modules it
needs, and only those.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

from esdb_wire.server.embedded import EmbeddedServer

PROTOBUF = "google.protobuf"
GENERATED = "esdb_wire.protos"
# Every generated module (so that "only the ones it needs" can be checked).
GENERATED_MODULES = {
    f"{GENERATED}.{name}_pb2"
    for name in (
        "code",
        "error_details",
        "gossip",
        "kurrent_errors",
        "monitoring",
        "operations",
        "persistent",
        "projections",
        "serverfeatures",
        "shared",
        "status",
        "streams",
        "users",
        "v2_errors",
        "v2_shared",
        "v2_streams",
    )
}


@pytest.fixture(scope="module")
def discover_uri() -> Iterator[str]:
    with EmbeddedServer() as server:
        yield f"esdb+discover://{server.uri}?Tls=false"


def modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    probe = textwrap.dedent(code) + "\nimport sys\nprint(' '.join(sys.modules))\n"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return set(done.stdout.splitlines()[-1].split())


def loaded(modules: set[str], prefix: str) -> list[str]:
    return sorted(m for m in modules if m == prefix or m.startswith(prefix + "."))


def test_import_esdb_wire_loads_no_client_transport_engine_or_protobuf() -> None:
    modules = modules_after("import esdb_wire")
    for heavy in ("esdb_wire.client", "esdb_wire.transport", "esdb_wire.codec", GENERATED):
        assert not loaded(modules, heavy)
    for package in ("h2", "hpack", "hyperframe", PROTOBUF, "asyncio", "ssl", "grpc"):
        assert not loaded(modules, package)


BLOCKING = """
from esdb_wire import EsdbClient, NewEvent
client = EsdbClient({uri!r}, http2_engine={engine!r})
client.connect()
assert client.connection_target
"""
ASYNCIO = """
import asyncio
from esdb_wire import AsyncEsdbClient, NewEvent

async def main():
    client = AsyncEsdbClient({uri!r}, http2_engine={engine!r})
    await client.connect()
    assert client.connection_target
    await client.close()

asyncio.run(main())
"""


@pytest.mark.parametrize("engine", ["h2", "native"])
@pytest.mark.parametrize("driver", ["blocking", "asyncio"])
def test_a_connected_client_has_loaded_no_protobuf(
    discover_uri: str, driver: str, engine: str
) -> None:
    code = BLOCKING if driver == "blocking" else ASYNCIO
    modules = modules_after(code.format(uri=discover_uri, engine=engine))
    assert not loaded(modules, PROTOBUF)
    assert not loaded(modules, GENERATED)
    assert not loaded(modules, "esdb_wire.server")
    codecs = loaded(modules, "esdb_wire.codec")
    assert set(codecs) <= {
        "esdb_wire.codec",
        "esdb_wire.codec.errors",
        "esdb_wire.codec.gossip",
        "esdb_wire.codec.protobuf_wire",
    }, codecs
    assert "esdb_wire.codec.gossip" in modules  # it did discover
    assert ("h2.connection" in modules) == (engine == "h2")
    assert ("asyncio" in modules) == (driver == "asyncio")
    assert "json" not in modules  # stream metadata only
    assert "tempfile" not in modules  # certificates given in memory only
    if driver == "blocking":
        assert "ssl" not in modules  # TLS only (asyncio imports it itself)


def test_the_first_append_and_read_load_the_streams_modules_only(discover_uri: str) -> None:
    modules = modules_after(
        BLOCKING.format(uri=discover_uri, engine="h2")
        + """
from esdb_wire import StreamState
client.append_to_stream("footprint", current_version=StreamState.ANY, events=NewEvent("T", b"{}"))
assert len(client.get_stream("footprint")) >= 1
"""
    )
    assert loaded(modules, PROTOBUF)
    generated = set(loaded(modules, GENERATED)) & GENERATED_MODULES
    assert f"{GENERATED}.streams_pb2" in generated
    untouched = {
        f"{GENERATED}.{name}_pb2"
        for name in ("gossip", "persistent", "projections", "users", "operations", "monitoring")
    } | {f"{GENERATED}.{name}_pb2" for name in ("v2_streams", "v2_shared", "v2_errors")}
    assert not generated & untouched, sorted(generated & untouched)
    for module in (
        "esdb_wire.codec.persistent",
        "esdb_wire.codec.projections",
        "esdb_wire.codec.v2",
    ):
        assert module not in modules
