"""Modules that load when a call first needs them, not when a client is imported.

Importing a client (and connecting it) should not pay for protobuf and the generated
modules of every API it offers: a program that only appends never needs the persistent
subscription, projection or v2 codecs. So the client modules name the modules only some
calls need (the codecs, the error mapping of failed calls, the read and subscription
types, ``json`` for stream metadata) through :func:`lazy_module`, the one mechanism for
this, always in this form (mypy checks the real module; at run time the name is a
stand-in)::

    if TYPE_CHECKING:
        from esdb_wire.codec import persistent as codec
    else:
        codec = lazy_module("esdb_wire.codec.persistent")

    ...
        payload = codec.create_request(...)  # the first use imports the module

The stand-in imports its module on the first attribute asked of it and then takes over
the module's namespace, so every later lookup is an ordinary module attribute lookup (no
cost on hot paths). Threads that race to the first lookup all wait for the one import
(the import system's module lock) and see the finished module. Only modules that do not
rebind their globals after their import can be named this way: the stand-in keeps what
the module held when its import finished. Names a module needs only in annotations come
from ``if TYPE_CHECKING:`` imports alone.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule(ModuleType):
    """A stand-in for the module ``__name__``, imported on its first attribute lookup."""

    def __getattr__(self, attribute: str) -> Any:
        # Called only for names the stand-in does not hold yet: before the first import,
        # or a name the module does not have (which raises AttributeError below).
        module = importlib.import_module(self.__name__)
        vars(self).update(vars(module))
        return getattr(module, attribute)

    def __repr__(self) -> str:
        loaded = "__file__" in vars(self)
        return f"<lazy module {self.__name__!r}{'' if loaded else ' (not loaded yet)'}>"


def lazy_module(name: str) -> ModuleType:
    """A stand-in for the module ``name`` (absolute, dotted) that imports it on first use."""
    return LazyModule(name)
