"""``UUID`` objects from 128-bit ints, for the read path: reads build one per event.

``UUID(int=n)`` spends most of its time checking arguments that a decoder has already
made valid (about 1.3 µs on CPython 3.11, seven times what filling the object's slots
takes). :func:`uuid_from_int` makes the same object directly: a ``UUID`` whose ``int``
slot is ``n`` and whose ``is_safe`` slot is ``SafeUUID.unknown``, as ``UUID(int=n)``
leaves them. It is used only when a self-check at import finds the result equal to
``UUID(int=n)`` in type and state; otherwise it is ``UUID(int=n)`` itself.
"""

from __future__ import annotations

from typing import Any, Callable
from uuid import UUID, SafeUUID

_MAX = (1 << 128) - 1
_PROBE = 0x0123456789ABCDEFFEDCBA9876543210


def _checked_uuid(value: int) -> UUID:
    """``UUID(int=value)``."""
    return UUID(int=value)


def _slot_setter(name: str) -> Callable[[Any, Any], None] | None:
    """The ``__set__`` of ``UUID``'s slot ``name``, if it is a plain slot."""
    descriptor = UUID.__dict__.get(name)
    setter = getattr(descriptor, "__set__", None)
    return setter if type(descriptor).__name__ == "member_descriptor" else None


def _direct_factory() -> Callable[[int], UUID] | None:
    """A factory that fills ``UUID``'s slots directly, if this Python's ``UUID`` has them."""
    set_int = _slot_setter("int")
    set_safe = _slot_setter("is_safe")
    if set_int is None or set_safe is None:
        return None
    new = object.__new__
    unknown = SafeUUID.unknown

    def direct(value: int) -> UUID:
        """``UUID(int=value)`` for ``0 <= value < 2**128``, its slots filled directly."""
        made: UUID = new(UUID)
        set_int(made, value)
        set_safe(made, unknown)
        return made

    return direct


def _same(made: UUID, reference: UUID) -> bool:
    """Whether ``made`` is ``reference``'s equal in type and state. A ``UUID``'s state is
    its two slots: everything else (text, hash, ``bytes``, fields, the pickled form of
    ``__getstate__``) is computed from them."""
    return (
        type(made) is UUID
        and made.int == reference.int
        and made.is_safe is reference.is_safe
        and made == reference
        and hash(made) == hash(reference)
        and str(made) == str(reference)
        and made.__getstate__() == reference.__getstate__()
    )


def _choose() -> Callable[[int], UUID]:
    direct = _direct_factory()
    if direct is None:
        return _checked_uuid
    try:
        if all(_same(direct(value), UUID(int=value)) for value in (0, _PROBE, _MAX)):
            return direct
    except Exception:  # any surprise: the checked constructor
        return _checked_uuid
    return _checked_uuid


uuid_from_int: Callable[[int], UUID] = _choose()
"""``UUID(int=value)`` for ``0 <= value < 2**128`` (the caller guarantees the range),
built without the constructor's checks where that gives the same object."""
