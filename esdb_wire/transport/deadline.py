"""One deadline per operation: an absolute point on the monotonic clock.

A public client method turns its ``timeout`` (or the connection string's
``DefaultDeadline``) into one :class:`Deadline` when it is called; every step of the
operation (discovery, connecting, the TLS handshake, probes, retries, redirects, a
blocked write, the call itself) spends from it. A step asks :meth:`Deadline.remaining`
for what is left (``grpc-timeout`` is sent from it) and :meth:`Deadline.cap` to bound its
own timeout. Nothing is sent once the deadline has passed: :meth:`Deadline.check` raises
DEADLINE_EXCEEDED instead.
"""

from __future__ import annotations

import time

from esdb_wire.transport.status import StatusCode, StatusError

_monotonic = time.monotonic


class Deadline:
    """When an operation must be finished (``at``, ``time.monotonic()`` seconds), or
    never (``at`` None). Immutable."""

    __slots__ = ("at",)

    def __init__(self, at: float | None) -> None:
        self.at = at

    @classmethod
    def after(cls, timeout: float | None) -> Deadline:
        """The deadline ``timeout`` seconds from now (None: no deadline). A zero or
        negative ``timeout`` gives a deadline that has already passed."""
        return cls(None if timeout is None else _monotonic() + timeout)

    def remaining(self) -> float | None:
        """Seconds left (zero or less once passed), or None without a deadline."""
        at = self.at
        return None if at is None else at - _monotonic()

    @property
    def expired(self) -> bool:
        at = self.at
        return at is not None and at <= _monotonic()

    def cap(self, seconds: float) -> float:
        """``seconds``, or less if the deadline comes sooner (never below zero): the
        timeout a step such as connecting may use."""
        left = self.remaining()
        if left is None or left >= seconds:
            return seconds
        return max(left, 0.0)

    def check(self, doing: str = "") -> None:
        """Raise DEADLINE_EXCEEDED (a ``StatusError``) if the deadline has passed;
        ``doing`` names the step that was about to start."""
        if self.expired:
            detail = f" before {doing}" if doing else ""
            raise StatusError(StatusCode.DEADLINE_EXCEEDED, f"Deadline Exceeded{detail}")

    def __repr__(self) -> str:
        left = self.remaining()
        return "Deadline(never)" if left is None else f"Deadline(in {left:.3f}s)"


NO_DEADLINE = Deadline(None)
"""The deadline of an operation that may take as long as it needs (subscriptions)."""
