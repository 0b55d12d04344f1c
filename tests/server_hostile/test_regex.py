"""Catastrophic filter regexes (issue 15, server item 5).

Decision (see :mod:`esdb_wire.server.filters` and the README's Limits section): patterns
whose matching time can explode are refused up front with INVALID_ARGUMENT; the rest run
in at most quadratic time in the subject's length.
"""

from __future__ import annotations

import re
import time

import pytest

from esdb_wire.server.filters import UnsafeRegex, compile_filter_regex
from esdb_wire.transport.status import StatusCode
from tests.server_hostile.support import STRICT

REFUSED = [
    r"(a+)+$",
    r"^(\w+\s?)*$",
    r"^(a|ab)*c",
    r"(x+x+)+y",
    r"^(a?)*b",
    r"(a)\1",
    r"(?P<x>a)(?P=x)",
    r"(a)?(?(1)b|c)",
    r"\w+\d+\w+!",
    r"^.*a.*b.*c",
    "^" + "a?" * 30 + "a" * 30,
    "x" * 1001,
]
ACCEPTED = [
    r"^(?!(\$.+$|PersistentConfig\d+$))",  # the clients' default exclusion filter
    r"^(Order.*|Customer.*)$",
    r"\$.*",
    r"^[^\$]",
    r"order-",
    r"(foo|bar)+",
    r".*a.*b",  # the leading .* is dropped: a.*b
    r"^(order|customer)-\d+$",
    r"^(ab|cd)*$",
    "",
]


@pytest.mark.parametrize("pattern", REFUSED)
def test_refused_patterns(pattern: str) -> None:
    with pytest.raises(UnsafeRegex) as info:
        compile_filter_regex(pattern)
    assert info.value.code is StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("pattern", ACCEPTED)
def test_accepted_patterns_match_as_re_does_and_stay_fast(pattern: str) -> None:
    compiled = compile_filter_regex(pattern)
    reference = re.compile(pattern)
    subjects = [
        "",
        "a",
        "ab",
        "order-1",
        "$stats",
        "Order",
        "Customer",
        "PersistentConfig1",
        "foobar",
        "cdab!",
        "x" * 50,
    ]
    for subject in subjects:
        assert (compiled.search(subject) is None) == (reference.search(subject) is None), subject
    worst = 0.0
    for subject in ("a" * 1000, "ab" * 500, "a" * 999 + "!", "$" * 1000):
        started = time.perf_counter()
        compiled.search(subject)
        worst = max(worst, time.perf_counter() - started)
    assert not STRICT or worst < 0.05


def test_invalid_patterns_still_raise_re_error() -> None:
    with pytest.raises(re.error):
        compile_filter_regex("(")
