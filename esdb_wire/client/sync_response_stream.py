# Generated from esdb_wire/client/aio_response_stream.py by scripts/unasync.py; do not edit.
"""The base of what the blocking clients' streaming calls return (reads, catch-up and
persistent subscriptions, statistics): an iterator over one call's responses that
its user ends."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, Generic, TypeVar

from esdb_wire.client.sync_backend import done
from esdb_wire.transport.blocking import BlockingCall

_Item = TypeVar("_Item")
_Stream = TypeVar("_Stream", bound="ResponseStream[Any]")


def _never() -> bool:
    return False


class ResponseStream(Generic[_Item]):
    """The items of one call's responses, as an iterator that its user ends:
    ``stop()``, ``close()``, leaving its ``with`` block, or closing the client
    (``closed`` tells whether it was closed)."""

    def __init__(self, call: BlockingCall, *, closed: Callable[[], bool] = _never) -> None:
        self._call = call
        self._closed = closed
        self._stopped = False

    def __iter__(self: _Stream) -> _Stream:
        return self

    def __next__(self) -> _Item:
        raise NotImplementedError

    def _ended_locally(self) -> bool:
        """Whether its user ended it: stopped it, or closed the client."""
        return self._stopped or self._closed()

    def _abandon(self) -> None:
        """End it at once: its call is cancelled (what it has not sent is lost)."""
        self._stopped = True
        self._call.cancel()

    def stop(self) -> None:
        """End it (its call is cancelled); iteration stops. Stopping twice is harmless
        ."""
        self._abandon()
        return done()

    def close(self) -> None:
        """The same as :meth:`stop`."""
        self.stop()

    def __enter__(self: _Stream) -> _Stream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
