"""What the asyncio clients need from asyncio, behind the names the blocking clients'
``sync_backend`` gives their own: the one hand-written pair under the generated twins.

``scripts/unasync.py`` turns each name into its blocking twin (``AsyncLock`` -> ``Lock``,
``async_sleep`` -> ``sleep``, ...).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Generator
from types import TracebackType
from typing import Any

from esdb_wire.transport.aio import AsyncCall


class AsyncLock:
    """An ``asyncio.Lock`` made on first use, so that a client built outside a running
    event loop works in the loop that later uses it (on Python 3.9 a lock binds to the
    loop current when it is made)."""

    def __init__(self) -> None:
        self._lock: asyncio.Lock | None = None

    async def __aenter__(self) -> None:
        if self._lock is None:
            self._lock = asyncio.Lock()
        await self._lock.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._lock is not None
        self._lock.release()


async def async_sleep(seconds: float) -> None:
    """Pause the calling task."""
    await asyncio.sleep(seconds)


async def async_wait_ended(call: AsyncCall, timeout: float) -> None:
    """Wait up to ``timeout`` seconds for ``call`` to end (it may not)."""
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(call.wait(), timeout)


class _Done:
    """Awaiting it finishes at once: what a ``stop()`` done on the spot returns."""

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # makes this a generator


_DONE = _Done()


def async_done() -> Awaitable[None]:
    """What a method that finished its work at once returns, for callers that await it
    (esdbclient's ``await subscription.stop()``); awaiting it is optional."""
    return _DONE
