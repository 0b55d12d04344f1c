"""An asyncio event loop on a daemon thread: the synchronous face of the embedded
server and cluster (``start()``/``stop()``/``reset()`` from code that has no loop)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

_T = TypeVar("_T")


class LoopThread:
    """A new event loop running forever on a daemon thread named ``name``.

    :meth:`run` runs a coroutine on it from any other thread and waits for its result;
    :meth:`close` stops the loop, joins the thread and closes the loop.
    """

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    @classmethod
    def starting(
        cls, name: str, startup: Coroutine[Any, Any, object], timeout: float = 30.0
    ) -> LoopThread:
        """A loop thread that has run ``startup``; if that fails (a port or a journal
        already taken, say), the thread is ended before the error is raised."""
        runner = cls(name)
        try:
            runner.run(startup, timeout)
        except BaseException:
            runner.close()
            raise
        return runner

    def run(self, coroutine: Coroutine[Any, Any, _T], timeout: float) -> _T:
        """Run ``coroutine`` on the loop; its result, or its error (``TimeoutError``
        after ``timeout`` seconds)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def finish(self, coroutine: Coroutine[Any, Any, object], timeout: float) -> None:
        """Run a last ``coroutine`` (a graceful stop), then :meth:`close`, even when it
        fails or times out."""
        try:
            self.run(coroutine, timeout)
        finally:
            self.close()

    def close(self) -> None:
        """Stop the loop, wait for its thread (at most 30 s) and close it."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(30)
        self.loop.close()
