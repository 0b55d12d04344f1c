"""Replacing methods of classes, and putting back exactly what was there: a method the
class defined itself is restored; one it inherited is removed again, so that it is
inherited as before."""

from __future__ import annotations

from typing import Any, Callable

# What makes a method's replacement from the method.
Wrapper = Callable[[Callable[..., Any]], Callable[..., Any]]
_INHERITED = object()


class ClassPatches:
    """The replacements made so far, to undo in reverse order."""

    def __init__(self) -> None:
        self._undo: list[tuple[type, str, Any]] = []

    def __bool__(self) -> bool:
        return bool(self._undo)

    def replace(self, owner: type, name: str, wrap: Wrapper) -> None:
        """Set ``owner.name`` to ``wrap(the method it has now)``."""
        original = getattr(owner, name)
        self._undo.append((owner, name, owner.__dict__.get(name, _INHERITED)))
        setattr(owner, name, wrap(original))

    def undo(self) -> None:
        """Put back every replaced method, the latest first."""
        while self._undo:
            owner, name, previous = self._undo.pop()
            if previous is _INHERITED:
                delattr(owner, name)
            else:
                setattr(owner, name, previous)
