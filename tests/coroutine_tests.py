"""``async def`` tests, without a plugin: each runs in a fresh event loop
(``asyncio.run``), bounded by :data:`LIMIT` seconds.

The asyncio client suites are written as coroutines, and ``scripts/unasync.py`` makes
their blocking twins from them; a ``conftest.py`` that imports
:func:`pytest_pyfunc_call` runs the coroutines of its directory.
"""

from __future__ import annotations

import asyncio
import inspect

import pytest

# A coroutine test that takes longer fails (a missing event must not hang the suite).
LIMIT = 120.0


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run a coroutine test function to its end; leave other tests to pytest."""
    function = pyfuncitem.obj
    if not inspect.iscoroutinefunction(function):
        return None
    names = inspect.signature(function).parameters
    arguments = {name: pyfuncitem.funcargs[name] for name in names}
    asyncio.run(asyncio.wait_for(function(**arguments), LIMIT))
    return True
