"""The base of what the asyncio clients' streaming calls return (reads, catch-up and
persistent subscriptions, statistics): an async iterator over one call's responses that
its user ends."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Generic, TypeVar

from esdb_wire.client.aio_backend import async_done
from esdb_wire.transport.aio import AsyncCall

_Item = TypeVar("_Item")
_Stream = TypeVar("_Stream", bound="AsyncResponseStream[Any]")


def _never() -> bool:
    return False


class AsyncResponseStream(Generic[_Item]):
    """The items of one call's responses, as an async iterator that its user ends:
    ``stop()``, ``aclose()``, leaving its ``async with`` block, or closing the client
    (``closed`` tells whether it was closed)."""

    def __init__(self, call: AsyncCall, *, closed: Callable[[], bool] = _never) -> None:
        self._call = call
        self._closed = closed
        self._stopped = False

    def __aiter__(self: _Stream) -> _Stream:
        return self

    async def __anext__(self) -> _Item:
        raise NotImplementedError

    def _ended_locally(self) -> bool:
        """Whether its user ended it: stopped it, or closed the client."""
        return self._stopped or self._closed()

    def _abandon(self) -> None:
        """End it at once: its call is cancelled (what it has not sent is lost)."""
        self._stopped = True
        self._call.cancel()

    def stop(self) -> Awaitable[None]:
        """End it (its call is cancelled); iteration stops. Stopping twice is harmless
        (asyncio: it is done at once, so awaiting the result is optional, as in
        esdbclient's ``await response.stop()``)."""
        self._abandon()
        return async_done()

    async def aclose(self) -> None:
        """The same as :meth:`stop`."""
        await self.stop()

    async def __aenter__(self: _Stream) -> _Stream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
