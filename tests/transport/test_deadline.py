"""The per-operation deadline object."""

from __future__ import annotations

import time

import pytest

from esdb_wire.transport.deadline import NO_DEADLINE, Deadline
from esdb_wire.transport.status import StatusCode, StatusError


def test_no_deadline_never_expires_and_caps_nothing() -> None:
    assert NO_DEADLINE.remaining() is None
    assert not NO_DEADLINE.expired
    assert NO_DEADLINE.cap(10.0) == 10.0
    NO_DEADLINE.check("connecting")
    assert Deadline.after(None).at is None
    assert repr(NO_DEADLINE) == "Deadline(never)"


def test_a_deadline_counts_down_on_the_monotonic_clock() -> None:
    deadline = Deadline.after(5.0)
    left = deadline.remaining()
    assert left is not None
    assert 4.5 < left <= 5.0
    assert deadline.cap(10.0) <= 5.0
    assert deadline.cap(1.0) == 1.0
    assert not deadline.expired
    deadline.check()


@pytest.mark.parametrize("timeout", [0.0, -1.0])
def test_a_passed_deadline_refuses_the_next_step(timeout: float) -> None:
    deadline = Deadline.after(timeout)
    assert deadline.expired
    assert deadline.cap(10.0) == 0.0
    with pytest.raises(StatusError) as info:
        deadline.check("connecting")
    assert info.value.code is StatusCode.DEADLINE_EXCEEDED
    assert "before connecting" in str(info.value)


def test_time_spent_in_one_step_is_gone_for_the_next() -> None:
    deadline = Deadline.after(0.2)
    time.sleep(0.1)
    first = deadline.remaining()
    assert first is not None
    assert first <= 0.1
    time.sleep(0.15)
    assert deadline.expired
