"""The blocking and the asyncio client behind one blocking face, so each fault scenario is
written once and run on both drivers.

:class:`SyncDriver` calls an :class:`~esdb_wire.EventStoreDBClient`;
:class:`AsyncDriver` runs an :class:`~esdb_wire.AsyncEventStoreDBClient` on an event loop
of its own and waits for its coroutines. Either way every call is made on another thread
and waited for with a bound (:class:`Hung` past it), so a client that hangs fails its test
instead of hanging the run, and a subscription's ``next`` that comes back empty-handed
(``StopIteration``) raises :class:`Ended`: a silent end is never mistaken for an event.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from esdb_wire import (
    AsyncEventStoreDBClient,
    EventStoreDBClient,
    EventStoreDBClientException,
    RecordedEvent,
)

DRIVERS = ("sync", "asyncio")
CALL_BOUND = 20.0  # no single call of a scenario may take longer (seconds)
_T = TypeVar("_T")


class Hung(Exception):
    """Nothing came back within the time allowed."""


class Ended(Exception):
    """A subscription's iterator stopped although nobody stopped it (a silent end)."""


def _in_daemon_thread(function: Callable[[], _T]) -> concurrent.futures.Future[_T]:
    """``function()`` on a thread of its own that never holds up the interpreter's exit
    (a call stuck in a client bug must not hang the test run)."""
    future: concurrent.futures.Future[_T] = concurrent.futures.Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(function())
        except BaseException as error:
            future.set_exception(error)

    threading.Thread(target=run, name="fault-driver-call", daemon=True).start()
    return future


def _wait(future: concurrent.futures.Future[_T], bound: float, what: str) -> _T:
    try:
        return future.result(bound)
    except concurrent.futures.TimeoutError:
        raise Hung(f"{what}: nothing within {bound} s") from None


class Consumer:
    """A catch-up or persistent subscription, read with a bound on each wait."""

    def __init__(self, driver: Driver, subscription: Any) -> None:
        self.subscription = subscription
        self._driver = driver
        self._pending: concurrent.futures.Future[RecordedEvent | None] | None = None

    def begin_next(self) -> None:
        """Start reading the next item (:meth:`next` waits for it), so that several
        subscriptions can be waited for at the same time."""
        if self._pending is None:
            self._pending = self._driver.next_of(self.subscription)

    def next(self, wait: float = 10.0) -> RecordedEvent:
        """The next item; :class:`Hung` if none comes within ``wait`` seconds (the read
        goes on: the next call waits for the same item), :class:`Ended` if the iterator
        stopped, or whatever the subscription raised."""
        self.begin_next()
        pending = self._pending
        assert pending is not None
        try:
            item = _wait(pending, wait, "next()")
        except Hung:
            raise
        except BaseException:
            self._pending = None
            raise
        self._pending = None
        if item is None:
            raise Ended("the subscription's iterator stopped")
        return item

    def take(self, count: int, wait: float = 10.0) -> list[RecordedEvent]:
        return [self.next(wait) for _ in range(count)]

    def ack(self, item: RecordedEvent) -> None:
        self._driver.call_on(self.subscription, "ack", item)

    def stop(self) -> None:
        """Stop the subscription. A read still waiting is left to end on its own."""
        self._driver.call_on(self.subscription, "stop")
        self._pending = None

    def waiting_read(self) -> concurrent.futures.Future[RecordedEvent | None] | None:
        """The read a :class:`Hung` ``next()`` left waiting, if any."""
        return self._pending


class Driver:
    """One client of one driver; every method waits at most :data:`CALL_BOUND`."""

    name: str
    client: Any

    def call_on(self, target: Any, method: str, *args: Any, **kwargs: Any) -> Any:
        """``target.method(*args, **kwargs)``, awaited when it returns an awaitable."""
        raise NotImplementedError

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """The client's ``method``."""
        return self.call_on(self.client, method, *args, **kwargs)

    def first(self, method: str, **kwargs: Any) -> RecordedEvent | None:
        """The first event of a read (``read_stream``, ``read_all``...), None if empty."""
        raise NotImplementedError

    def subscribe(self, method: str, *args: Any, **kwargs: Any) -> Consumer:
        """A subscription made by the client's ``method``."""
        return Consumer(self, self.call(method, *args, **kwargs))

    def next_of(self, subscription: Any) -> concurrent.futures.Future[RecordedEvent | None]:
        """A future of the subscription's next item (None: its iterator stopped)."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


def _next_or_none(iterator: Any) -> RecordedEvent | None:
    try:
        item: RecordedEvent = next(iterator)
    except StopIteration:
        return None
    return item


class SyncDriver(Driver):
    """The blocking :class:`~esdb_wire.EventStoreDBClient`."""

    name = "sync"

    def __init__(self, uri: str) -> None:
        self.client: EventStoreDBClient = EventStoreDBClient(uri)

    def call_on(self, target: Any, method: str, *args: Any, **kwargs: Any) -> Any:
        function = getattr(target, method)
        return _wait(_in_daemon_thread(lambda: function(*args, **kwargs)), CALL_BOUND, method)

    def first(self, method: str, **kwargs: Any) -> RecordedEvent | None:
        function = getattr(self.client, method)
        return _wait(
            _in_daemon_thread(lambda: _next_or_none(iter(function(**kwargs)))), CALL_BOUND, method
        )

    def next_of(self, subscription: Any) -> concurrent.futures.Future[RecordedEvent | None]:
        return _in_daemon_thread(lambda: _next_or_none(subscription))

    def close(self) -> None:
        _wait(_in_daemon_thread(self.client.close), CALL_BOUND, "close")


async def _invoke(target: Any, method: str, args: Any, kwargs: Any) -> Any:
    result = getattr(target, method)(*args, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


async def _anext_or_none(iterator: Any) -> RecordedEvent | None:
    try:
        item: RecordedEvent = await iterator.__anext__()
    except StopAsyncIteration:
        return None
    return item


class AsyncDriver(Driver):
    """The asyncio :class:`~esdb_wire.AsyncEventStoreDBClient`, on a loop thread of its own."""

    name = "asyncio"

    def __init__(self, uri: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="fault-driver-loop", daemon=True
        )
        self._thread.start()

        async def make() -> AsyncEventStoreDBClient:
            return AsyncEventStoreDBClient(uri)

        self.client: AsyncEventStoreDBClient = self._run(make(), "client")

    def _run(self, coroutine: Coroutine[Any, Any, _T], what: str) -> _T:
        return _wait(asyncio.run_coroutine_threadsafe(coroutine, self._loop), CALL_BOUND, what)

    def call_on(self, target: Any, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._run(_invoke(target, method, args, kwargs), method)

    def first(self, method: str, **kwargs: Any) -> RecordedEvent | None:
        async def first() -> RecordedEvent | None:
            return await _anext_or_none(await getattr(self.client, method)(**kwargs))

        return self._run(first(), method)

    def next_of(self, subscription: Any) -> concurrent.futures.Future[RecordedEvent | None]:
        return asyncio.run_coroutine_threadsafe(_anext_or_none(subscription), self._loop)

    def close(self) -> None:
        try:
            self._run(self.client.close(), "close")
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            if not self._thread.is_alive():
                self._loop.close()


def next_of_each(consumers: dict[str, Consumer], wait: float) -> dict[str, RecordedEvent | str]:
    """What each consumer's next ``next()`` gives within ``wait`` (waited for together):
    an event, or what happened instead."""
    for consumer in consumers.values():
        consumer.begin_next()
    began = time.monotonic()
    deadline = began + wait
    outcomes: dict[str, RecordedEvent | str] = {}
    for target, consumer in consumers.items():
        try:
            event = consumer.next(max(0.0, deadline - time.monotonic()))
        except EventStoreDBClientException as error:
            outcomes[target] = f"raised {type(error).__name__}"
        except Ended:
            outcomes[target] = f"ended silently (seen {time.monotonic() - began:.1f} s on)"
        except Hung:
            outcomes[target] = f"nothing within {wait} s"
        else:
            outcomes[target] = event
    return outcomes


def all_raised(outcomes: dict[str, RecordedEvent | str]) -> bool:
    """Whether every consumer of :func:`next_of_each` raised a client exception."""
    return all(isinstance(o, str) and o.startswith("raised") for o in outcomes.values())


def open_driver(kind: str, uri: str) -> Driver:
    """A client of driver ``kind`` (one of :data:`DRIVERS`) connected to ``uri``."""
    return SyncDriver(uri) if kind == "sync" else AsyncDriver(uri)
