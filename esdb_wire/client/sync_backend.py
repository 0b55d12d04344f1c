"""The blocking twins of ``aio_backend``'s names: threads' lock, sleeping, waiting for a
call's end. Hand-written, like ``aio_backend``; the rest of the blocking client is
generated from the asyncio one by ``scripts/unasync.py``."""

from __future__ import annotations

import threading
import time

from esdb_wire.transport.blocking import BlockingCall

Lock = threading.Lock
sleep = time.sleep


def wait_ended(call: BlockingCall, timeout: float) -> None:
    """Wait up to ``timeout`` seconds for ``call`` to end (it may not)."""
    call.wait(timeout=timeout)


def done() -> None:
    """What the asyncio twin returns as an awaitable: nothing, here."""
    return None
