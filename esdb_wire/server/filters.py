"""Server-side filter regexes that cannot freeze the server.

A filter regex (``$all`` reads and subscriptions, persistent subscriptions to ``$all``)
runs on the event loop, once per event, and Python's ``re`` backtracks: ``(a+)+$``
against 26 ``a`` and a ``!`` takes seconds, and the regex engine holds the GIL the whole
time, so no thread, timer or signal can interrupt it. The standard library has no
linear-time engine, so the decision is to **check each pattern up front** and refuse,
with INVALID_ARGUMENT, the ones whose matching time can grow worse than quadratically
with the subject's length:

* backreferences and conditionals (``\\1``, ``(?P=name)``, ``(?(1)...)``): matching them
  is NP-hard;
* a repeated group that contains another variable quantifier (``(a+)+``, ``(a*b?)*``),
  that can match the empty string (``(a?)*``), or whose alternatives can start with the
  same character (``(a|ab)*``): the exponential cases;
* more than two "free" quantifiers in a row (``*``, ``+``, ``{m,n}`` with ``n - m >= 8``)
  counting the implicit one of an unanchored search (``.*a.*b.*c`` is O(n^4)): the
  polynomial ones;
* choices of small quantifiers whose product exceeds 4096 (``a?a?...a?`` thirty times);
* patterns longer than 1,000 characters.

Quantifiers that cannot change whether a search matches are dropped before the check
and before compiling (a leading ``.*`` of an unanchored pattern, any trailing ``x*``), so
``.*order-.*`` costs what ``order-`` costs. What is accepted runs in at most O(n^2)
steps for an n-character stream name or event type (about 1 ms for n = 1,000). The
filters only ask *whether* a pattern matches, so dropping those quantifiers changes no
result.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from esdb_wire.transport.status import StatusCode, StatusError

try:  # Python 3.11+
    _parser: Any = importlib.import_module("re._parser")
    _compiler: Any = importlib.import_module("re._compiler")
    _c: Any = importlib.import_module("re._constants")
except ImportError:  # pragma: no cover (Python 3.9, 3.10, PyPy)
    _parser = importlib.import_module("sre_parse")
    _compiler = importlib.import_module("sre_compile")
    _c = importlib.import_module("sre_constants")

MAX_PATTERN_LENGTH = 1000
# Most free quantifiers (implicit leading one of an unanchored search included).
MAX_DEGREE = 2
# A quantifier whose count may vary by this much or more counts as free.
FREE_RANGE = 8
# Most combinations of the small quantifiers' counts.
MAX_CHOICES = 4096

_REPEATS = {_c.MAX_REPEAT, _c.MIN_REPEAT} | (
    {_c.POSSESSIVE_REPEAT} if hasattr(_c, "POSSESSIVE_REPEAT") else set()
)
_GROUPS = {_c.SUBPATTERN} | ({_c.ATOMIC_GROUP} if hasattr(_c, "ATOMIC_GROUP") else set())
_ASSERTS = {_c.ASSERT, _c.ASSERT_NOT}
_START_ANCHORS = {_c.AT_BEGINNING, _c.AT_BEGINNING_STRING}
_ZERO_WIDTH = {_c.AT} | _ASSERTS


class UnsafeRegex(StatusError):
    """A filter regex refused because its matching time could explode."""

    def __init__(self, pattern: str, reason: str) -> None:
        super().__init__(
            StatusCode.INVALID_ARGUMENT,
            f"Filter regex {pattern[:100]!r} is not accepted by this server: {reason} "
            "(its matching time could grow exponentially or polynomially with the subject)",
        )
        self.reason = reason


def compile_filter_regex(pattern: str) -> re.Pattern[str]:
    """Compile a filter regex for ``.search(subject) is not None`` tests.

    Raises :class:`re.error` for an invalid pattern (as ``re.compile`` does) and
    :class:`UnsafeRegex` (an INVALID_ARGUMENT :class:`~esdb_wire.transport.status.StatusError`)
    for one refused by the policy of this module.
    """
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise UnsafeRegex(pattern, f"longer than {MAX_PATTERN_LENGTH} characters")
    parsed = _parser.parse(pattern)
    items = _strip_redundant(list(parsed.data))
    reason = _unsafe(items)
    if reason is not None:
        raise UnsafeRegex(pattern, reason)
    try:
        return _compile(parsed, items)
    except Exception:  # pragma: no cover (an interpreter that cannot compile a tree)
        # The pattern runs as written: the dropped quantifiers count again.
        reason = _unsafe(list(parsed.data))
        if reason is not None:
            raise UnsafeRegex(pattern, reason) from None
        return re.compile(pattern)


def _compile(parsed: Any, items: list[Any]) -> re.Pattern[str]:
    tree = _parser.SubPattern(parsed.state, items)
    compiled: re.Pattern[str] = _compiler.compile(tree, 0)
    return compiled


def _strip_redundant(items: list[Any]) -> list[Any]:
    """Drop the quantifiers that cannot change whether a search matches: optional ones at
    the start of an unanchored pattern and at the end of any pattern."""
    if not (items and items[0][0] is _c.AT and items[0][1] in _START_ANCHORS):
        while items and _optional_repeat(items[0]):
            items.pop(0)
    while items and _optional_repeat(items[-1]):
        items.pop()
    return items


def _optional_repeat(item: Any) -> bool:
    op, av = item
    return bool(op in _REPEATS and av[0] == 0)


def _unsafe(items: list[Any]) -> str | None:
    try:
        degree, choices = _cost(items)
    except _Refused as refused:
        return refused.reason
    anchored = bool(items) and items[0][0] is _c.AT and items[0][1] in _START_ANCHORS
    if not anchored and degree:
        degree += 1  # the search tries every start position
    if degree > MAX_DEGREE:
        return (
            f"{degree} free quantifiers in sequence (at most {MAX_DEGREE}, an unanchored "
            "search counting as one)"
        )
    if choices > MAX_CHOICES:
        return f"quantifier choices multiply to {choices} (at most {MAX_CHOICES})"
    return None


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _cost(items: list[Any]) -> tuple[int, int]:
    """(free quantifiers one after another, product of small quantifiers' choices) of a
    sequence; raises :class:`_Refused` for an exponential construct."""
    degree = 0
    choices = 1
    for op, av in items:
        if op in (_c.GROUPREF, _c.GROUPREF_EXISTS):
            raise _Refused("backreferences and conditionals are not accepted")
        if op in _GROUPS:
            inner = av[-1]
            sub_degree, sub_choices = _cost(list(inner))
        elif op in _ASSERTS:
            sub_degree, sub_choices = _cost(list(av[1]))
        elif op is _c.BRANCH:
            costs = [_cost(list(alternative)) for alternative in av[1]]
            sub_degree = max(cost[0] for cost in costs)
            sub_choices = sum(cost[1] for cost in costs)
        elif op in _REPEATS:
            low, high, body = av[0], av[1], list(av[2])
            sub_degree, sub_choices = _cost(body)
            if high > 1:
                _check_repeated_body(body)
            if high == _c.MAXREPEAT or high - low >= FREE_RANGE:
                sub_degree += 1
            else:
                sub_choices *= high - low + 1
        else:
            continue
        degree += sub_degree
        choices = min(choices * sub_choices, MAX_CHOICES + 1)
    return degree, choices


def _check_repeated_body(body: list[Any]) -> None:
    """What a repeated group may contain: no variable quantifier, nothing that matches
    the empty string, no alternatives that start alike."""
    if _has_variable_repeat(body):
        raise _Refused("nested quantifiers (a repeated group containing a quantifier)")
    if _first(body)[1]:
        raise _Refused("a repeated group that can match the empty string")
    _check_branches(body)


def _has_variable_repeat(items: list[Any]) -> bool:
    for op, av in items:
        if op in _REPEATS:
            if av[0] != av[1] or _has_variable_repeat(list(av[2])):
                return True
        elif op in _GROUPS:
            if _has_variable_repeat(list(av[-1])):
                return True
        elif op in _ASSERTS:
            if _has_variable_repeat(list(av[1])):
                return True
        elif op is _c.BRANCH and any(_has_variable_repeat(list(alt)) for alt in av[1]):
            return True
    return False


def _check_branches(items: list[Any]) -> None:
    for op, av in items:
        if op in _GROUPS:
            _check_branches(list(av[-1]))
        elif op is _c.BRANCH:
            seen: set[int] = set()
            for alternative in av[1]:
                first, nullable = _first(list(alternative))
                if nullable or first is None or first & seen:
                    raise _Refused("a repeated group whose alternatives can start alike")
                seen |= first
                _check_branches(list(alternative))


def _first(items: list[Any]) -> tuple[set[int] | None, bool]:
    """The characters a sequence can start with (None: too many to tell) and whether it
    can match the empty string. Case-insensitive patterns count both cases."""
    result: set[int] = set()
    for op, av in items:
        if op in _ZERO_WIDTH:
            continue
        if op is _c.LITERAL:
            chars: set[int] | None = _cased(av)
            nullable = False
        elif op is _c.IN:
            chars, nullable = _class_chars(av), False
        elif op in _GROUPS:
            chars, nullable = _first(list(av[-1]))
        elif op is _c.BRANCH:
            chars, nullable = set(), False
            for alternative in av[1]:
                alt_chars, alt_nullable = _first(list(alternative))
                chars = None if chars is None or alt_chars is None else chars | alt_chars
                nullable = nullable or alt_nullable
        elif op in _REPEATS:
            chars, nullable = _first(list(av[2]))
            nullable = nullable or av[0] == 0
        else:  # ANY, NOT_LITERAL, CATEGORY, ...
            return None, False
        if chars is None:
            return None, False
        result |= chars
        if not nullable:
            return result, False
    return result, True


def _class_chars(av: list[Any]) -> set[int] | None:
    chars: set[int] = set()
    for op, value in av:
        if op is _c.LITERAL:
            chars |= _cased(value)
        elif op is _c.RANGE and value[1] - value[0] < 256:
            for code in range(value[0], value[1] + 1):
                chars |= _cased(code)
        else:  # NEGATE, CATEGORY, large ranges
            return None
    return chars


def _cased(code: int) -> set[int]:
    char = chr(code)
    return {code, ord(char.lower()[0]), ord(char.upper()[0])}
