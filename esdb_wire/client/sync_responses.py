# Generated from esdb_wire/client/aio_responses.py by scripts/unasync.py; do not edit.
"""What the blocking clients' reads and catch-up subscriptions return: iterators of
recorded events over one call's response messages.

A read or a subscription ends (``StopIteration``) when its user stops it or closes
its client, or, for a read, when the server has sent everything. Any other end is an
exception: a subscription's call that the server ends, OK or cancelled (a graceful
shutdown), raises :class:`~esdb_wire.exceptions.ServiceUnavailable`, or resubscribes with
``auto_resubscribe=True``.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

from esdb_wire.client import paths
from esdb_wire.client.sync_backend import sleep
from esdb_wire.client.sync_response_stream import ResponseStream
from esdb_wire.codec.errors import ended_remotely
from esdb_wire.codec.responses import (
    confirmed_subscription_id,
    read_response_item,
    subscription_item,
)
from esdb_wire.events import RecordedEvent
from esdb_wire.exceptions import (
    CheckpointPastTheEnd,
    DiscoveryFailed,
    EventStoreDBClientException,
    ServiceUnavailable,
    SubscriptionConfirmationError,
    UndecodableResponse,
)
from esdb_wire.transport.blocking import BlockingCall, Channel
from esdb_wire.transport.status import StatusError

_log = logging.getLogger("esdb_wire.client")
# How long an auto-resubscribing subscription keeps trying to get its call back, and the
# pauses between its attempts (doubling from the first to the longest).
RESUBSCRIBE_FOR = 30.0
RESUBSCRIBE_PAUSE = (0.2, 1.0)


def _never() -> bool:
    return False


def open_subscription_call(
    channel: Channel,
    request: bytes,
    metadata: list[tuple[str, str]],
    timeout: float | None,
) -> tuple[BlockingCall, str]:
    """Open a catch-up subscription's ``Streams.Read`` call with the encoded ``request``
    and return it with the subscription id its first message confirms; a call that ends
    at once, or starts otherwise, is cancelled and raises."""
    call = channel.unary_stream(paths.READ, request, metadata=metadata, timeout=timeout)
    try:
        first = call.receive()
        if first is None:
            raise SubscriptionConfirmationError("the subscription ended at once")
        return call, confirmed_subscription_id(first)
    except EventStoreDBClientException:
        call.cancel()
        raise


class ReadResponse(ResponseStream[RecordedEvent]):
    """The events of one read, as an iterator; ``stop()`` (or ``with``) ends
    it early. Nothing is read until it is iterated. ``closed`` tells whether the client
    was closed (which ends the read too)."""

    def __init__(
        self,
        call: BlockingCall,
        stream_name: str | None,
        *,
        closed: Callable[[], bool] = _never,
        reopen: Callable[[StatusError], BlockingCall | None] | None = None,
    ) -> None:
        super().__init__(call, closed=closed)
        self._stream_name = stream_name
        # If the call fails before its first answer: a new call (once), or None.
        self._reopen = reopen
        self._pending: deque[bytes] = deque()

    def __next__(self) -> RecordedEvent:
        pending = self._pending
        while True:
            if self._stopped:
                raise StopIteration
            if not pending:
                try:
                    batch = self._call.receive_many()
                except StatusError as error:
                    if self._stopped or self._closed():
                        self._stopped = True
                        raise StopIteration from None
                    reopen, self._reopen = self._reopen, None
                    call = None if reopen is None else reopen(error)
                    if call is None:
                        raise ended_remotely(error) from error
                    self._call = call
                    continue
                self._reopen = None  # answered: never sent again
                if not batch:
                    raise StopIteration
                pending.extend(batch)
            try:
                item = read_response_item(pending.popleft(), self._stream_name)
            except UndecodableResponse:
                self._abandon()  # its call sends what cannot be read
                raise
            if item is not None:
                return item


class CatchupSubscription(ResponseStream[RecordedEvent]):
    """Recorded events, then live ones, as an iterator (also ``Checkpoint`` and
    ``CaughtUp`` items when asked for). ``stop()`` or ``with`` ends it; so does
    closing its client. Nothing else does: if the server ends it (the connection breaks,
    the server shuts down) it raises, or with ``auto_resubscribe`` resubscribes after what
    it received, for :data:`RESUBSCRIBE_FOR` seconds at most (each attempt logged on the
    ``esdb_wire.client`` logger).

    ``start(position)`` opens the call (after ``position``, or where the subscription
    began when None) and returns it with its confirmed subscription id; ``call`` and
    ``subscription_id`` are the first such call's. ``last_position()`` is the server's
    last position (``$all``) or revision (the stream), None if it has none: a
    resubscription checks that what it received is not past it
    (:class:`~esdb_wire.exceptions.CheckpointPastTheEnd`). ``closed`` tells whether the
    client was closed; ``description`` names the subscription in logs and errors.
    """

    def __init__(
        self,
        start: Callable[[int | None], tuple[BlockingCall, str]],
        call: BlockingCall,
        subscription_id: str,
        *,
        all_positions: bool,
        include_checkpoints: bool,
        include_caught_up: bool,
        auto_resubscribe: bool,
        last_position: Callable[[], int | None] | None = None,
        closed: Callable[[], bool] = _never,
        description: str = "a catch-up subscription",
    ) -> None:
        super().__init__(call, closed=closed)
        self._start = start
        self.subscription_id = subscription_id
        self._all_positions = all_positions
        self._include_checkpoints = include_checkpoints
        self._include_caught_up = include_caught_up
        self._auto_resubscribe = auto_resubscribe
        self._server_last_position = last_position
        self._description = description
        # Where to resume: after the last event or checkpoint received; and the last event.
        self._last_position: int | None = None
        self._last_event: int | None = None
        self._pending: deque[bytes] = deque()

    def __next__(self) -> RecordedEvent:
        while True:
            if self._ended_locally():
                raise StopIteration
            pending = self._pending
            if not pending:
                failure: StatusError | None = None
                try:
                    batch = self._call.receive_many()
                except StatusError as error:
                    batch, failure = [], error
                if not batch:
                    if self._ended_locally():
                        raise StopIteration
                    self._resubscribe_or_raise(failure)
                    continue
                pending.extend(batch)
            try:
                item, position = subscription_item(
                    pending.popleft(), include_caught_up=self._include_caught_up
                )
            except UndecodableResponse:
                self._abandon()  # its call sends what cannot be read
                raise
            if item is None:
                continue
            self._remember(item, position)
            if item.is_checkpoint and not self._include_checkpoints:
                continue
            return item

    def _remember(self, item: RecordedEvent, position: int | None) -> None:
        """Track where to resume: the $all ``position`` of the delivery (of the link, if
        resolved; else the item's), or the revision in the subscribed stream."""
        if item.is_caught_up:
            return
        if self._all_positions:
            if position is not None:
                self._last_position = self._last_event = position
            elif item.commit_position is not None:
                self._last_position = int(item.commit_position)
                if not item.is_checkpoint:
                    self._last_event = self._last_position
        elif not item.is_checkpoint:
            self._last_position = self._last_event = (
                item.link.stream_position if item.link is not None else item.stream_position
            )

    def _resubscribe_or_raise(self, failure: StatusError | None) -> None:
        """The call ended (``failure``: how; None: OK) and its user did not end it: get a
        new one with ``auto_resubscribe`` if the server is only unavailable, else raise."""
        error = ended_remotely(failure)
        if not self._auto_resubscribe or not isinstance(error, ServiceUnavailable):
            raise error from failure
        _log.warning("%s was interrupted (%s); resubscribing", self._description, error)
        deadline = time.monotonic() + RESUBSCRIBE_FOR
        pause, longest = RESUBSCRIBE_PAUSE
        attempts = 0
        last: Exception = error
        while True:
            attempts += 1
            try:
                position = self._resume_position()
                call, subscription_id = self._start(position)
            except (ServiceUnavailable, DiscoveryFailed) as failed:
                last = failed
                _log.warning(
                    "%s: resubscription attempt %d failed (%s)", self._description, attempts, failed
                )
            except CheckpointPastTheEnd as past:
                _log.error("%s: %s", self._description, past)
                raise
            else:
                if self._ended_locally():  # stopped meanwhile (another thread or task)
                    call.cancel()
                    raise StopIteration
                self._call, self.subscription_id = call, subscription_id
                _log.info(
                    "%s resubscribed after position %s (attempt %d)",
                    self._description,
                    position,
                    attempts,
                )
                return
            if time.monotonic() + pause > deadline:
                _log.error(
                    "%s: giving up resubscribing after %d attempts", self._description, attempts
                )
                raise ServiceUnavailable(
                    f"{self._description} could not resubscribe within {RESUBSCRIBE_FOR:g} s "
                    f"({attempts} attempts); the last one failed with: {last}",
                    rpc=getattr(last, "rpc", None),
                ) from last
            sleep(pause)
            pause = min(pause * 2, longest)
            if self._ended_locally():
                raise StopIteration

    def _resume_position(self) -> int | None:
        """Where to resubscribe after (None: where the subscription began), once checked
        against the server's last position: a received event past it raises
        :class:`~esdb_wire.exceptions.CheckpointPastTheEnd`; a checkpoint past it (it may
        name the end of the log, not a record) is not trusted, the last event is."""
        position, event = self._last_position, self._last_event
        if position is None or self._server_last_position is None:
            return position
        last = self._server_last_position()
        if event is not None and (last is None or event > last):
            what = "position" if self._all_positions else "revision"
            raise CheckpointPastTheEnd(
                f"{self._description} received {what} {event}, but the server's last "
                f"{what} is {'none' if last is None else last} (did it lose its data?): "
                "resuming there would skip what it writes next",
                checkpoint=event,
                last_position=last,
            )
        if last is None or position > last:
            return event  # nothing was received between that event and the checkpoint
        return position
