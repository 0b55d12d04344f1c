"""Every code example of the esdbclient 0.5 README runs as written against the embedded
server, with ``esdb_wire`` in place of ``esdbclient`` (and, for the asyncio variant, the
same examples with ``await``/``async for`` added)."""

from __future__ import annotations

import ast
import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from esdb_wire import ESDB_EVENTS_REGEX, EmbeddedServer, EsdbClient, NewEvent
from tests.client.readme_05 import EXAMPLES

README_PORT = 2113  # the README's examples connect to localhost:2113


@pytest.fixture
def readme_server() -> Iterator[EmbeddedServer]:
    """A fresh server: the README's $all examples assume no other writers."""
    try:
        server = EmbeddedServer("localhost", README_PORT).start()
    except OSError as error:
        pytest.fail(f"port {README_PORT} is needed for the README's examples: {error}")
    try:
        yield server
    finally:
        server.stop()


def as_esdb_wire(code: str) -> str:
    return code.replace("from esdbclient", "from esdb_wire")


def test_examples_run_verbatim(readme_server: EmbeddedServer) -> None:
    namespace: dict[str, Any] = {}
    for title, code in EXAMPLES:
        exec(compile(as_esdb_wire(code), f"<README: {title}>", "exec"), namespace)
    namespace["client"].close()


AWAITED = re.compile(
    r"client\.(append_events|get_stream_position|get_commit_position|subscribe_all_events)\("
)


def as_asyncio(code: str) -> str:
    """The same example for AsyncEsdbClient: await the coroutines, async-iterate."""
    code = as_esdb_wire(code).replace("EsdbClient", "AsyncEsdbClient")
    code = AWAITED.sub(lambda match: "await " + match.group(0), code)
    code = code.replace("list(", "await alist(")
    return code.replace("for event in subscription:", "async for event in subscription:")


async def alist(items: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in items]


def test_examples_run_on_asyncio(readme_server: EmbeddedServer) -> None:
    async def main() -> None:
        namespace: dict[str, Any] = {"alist": alist}
        for title, code in EXAMPLES:
            compiled = compile(
                as_asyncio(code),
                f"<README (asyncio): {title}>",
                "exec",
                flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
            )
            result = eval(compiled, namespace)
            if asyncio.iscoroutine(result):
                await result
        await namespace["client"].close()

    asyncio.run(main())


def test_the_filter_regex_constant_as_documented(readme_server: EmbeddedServer) -> None:
    assert ESDB_EVENTS_REGEX == "\\$.*"
    with EsdbClient(uri="localhost:2113") as client:
        client.append_events("snapshots", None, [NewEvent("OrderSnapshot", b"{}", b"{}")])
        client.append_events("snapshots", 0, [NewEvent("OrderCreated", b"{}", b"{}")])
        events = list(client.read_all_events(filter_exclude=[ESDB_EVENTS_REGEX, ".*Snapshot"]))
        assert [e.type for e in events] == ["OrderCreated"]
