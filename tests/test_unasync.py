"""scripts/unasync.py: its rewriting rules, and that the committed blocking twins are what
it writes now."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "unasync.py"


@pytest.fixture(scope="module")
def unasync() -> ModuleType:
    spec = importlib.util.spec_from_file_location("unasync_script", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_keywords_names_and_awaitables(unasync: ModuleType) -> None:
    source = (
        "async def f(c: AsyncChannel) -> Awaitable[tuple[AsyncCall, int]]:\n"
        "    async with await c.open() as call:\n"
        "        return [x async for x in call.__aiter__()], await async_sleep(1)\n"
    )
    assert unasync.unasync(source) == (
        "def f(c: Channel) -> tuple[BlockingCall, int]:\n"
        "    with c.open() as call:\n"
        "        return [x for x in call.__iter__()], sleep(1)\n"
    )


def test_modules_strings_and_asyncio_notes(unasync: ModuleType) -> None:
    source = (
        "from esdb_wire.transport.aio import AsyncChannel\n"
        'x = "An async iterator of the asyncio client (asyncio: `await it.stop()`)."\n'
        "# StopAsyncIteration ends ``async for``\n"
    )
    assert unasync.unasync(source) == (
        "from esdb_wire.transport.blocking import Channel\n"
        'x = "An iterator of the blocking client."\n'
        "# StopIteration ends ``for``\n"
    )


def test_the_generated_twins_are_fresh(unasync: ModuleType) -> None:
    if importlib.util.find_spec("ruff") is None:
        pytest.skip("ruff (which tidies the twins) is not installed here; the lint leg checks")
    assert unasync.main(["--check"]) == 0
