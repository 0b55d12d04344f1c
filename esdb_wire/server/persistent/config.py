"""What defines a persistent subscription group: its event source, start, filter and
settings, the checks the server makes on them, and how it prints a group's positions."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final, Union

from esdb_wire.server.filters import compile_filter_regex
from esdb_wire.server.persistent.strategies import ROUND_ROBIN, STRATEGIES
from esdb_wire.server.records import Record, in_default_all_filter

ALL_STREAM: Final = "$all"

# The start of a group: an event number for a stream (-1 = live), or (commit, prepare)
# for $all ((-1, -1) = live).
StartFrom = Union[int, tuple[int, int]]


class GroupFailed(Exception):
    """The operation failed with ``reason`` (INTERNAL ``persistent-subscription-failed``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class GroupSettings:
    """A group's settings as the server keeps them (times in milliseconds)."""

    resolve_links: bool = False
    extra_statistics: bool = False
    message_timeout_ms: int = 30_000
    max_retry_count: int = 10
    live_buffer_size: int = 500
    history_buffer_size: int = 500
    read_batch_size: int = 20
    checkpoint_after_ms: int = 2_000
    min_checkpoint_count: int = 10
    max_checkpoint_count: int = 1_000
    max_subscriber_count: int = 0  # 0 = unlimited
    consumer_strategy: str = ROUND_ROBIN


@dataclass(frozen=True)
class EventFilterSpec:
    """A ``$all`` group's filter in the server's persisted form (``EventFilterDto``)."""

    context: str  # "streamid" | "eventtype"
    kind: str  # "regex" | "prefix"
    data: str  # the regex, or the prefixes joined with ","

    def prefixes(self) -> tuple[str, ...]:
        return tuple(part for part in self.data.split(",") if part)

    def predicate(self) -> Callable[[Record], bool]:
        """The filter as ``EventFilter`` applies it to ``$all``: DefaultAllFilter, then this."""
        by_stream = self.context == "streamid"
        if self.kind == "regex":
            search = compile_filter_regex(self.data).search
            if by_stream:
                return lambda r: in_default_all_filter(r) and search(r.stream_name) is not None
            return lambda r: in_default_all_filter(r) and search(r.event_type) is not None
        prefixes = self.prefixes()
        if by_stream:
            return lambda r: in_default_all_filter(r) and r.stream_name.startswith(prefixes)
        return lambda r: in_default_all_filter(r) and r.event_type.startswith(prefixes)


def filter_from_expression(by_stream: bool, regex: str, prefixes: Sequence[str]) -> EventFilterSpec:
    """The filter of a request's ``Expression``: the regex if non-empty, else the prefixes."""
    context = "streamid" if by_stream else "eventtype"
    if regex:
        compile_filter_regex(regex)  # the server builds the Regex when it converts the request
        return EventFilterSpec(context, "regex", regex)
    return EventFilterSpec(context, "prefix", ",".join(prefixes))


@dataclass(frozen=True)
class GroupConfig:
    """What defines a group: its event source, name, filter, start and settings."""

    source: str  # the stream name, or "$all"
    group: str
    start_from: StartFrom
    settings: GroupSettings = field(default_factory=GroupSettings)
    event_filter: EventFilterSpec | None = None

    @property
    def is_all(self) -> bool:
        return self.source == ALL_STREAM

    @property
    def key(self) -> str:
        return subscription_key(self.source, self.group)


def subscription_key(source: str, group: str) -> str:
    """``<stream>::<group>``: the group's id, also the confirmation's subscription_id."""
    return f"{source}::{group}"


# ---- positions ------------------------------------------------------------------------------


def position_text(is_all: bool, position: int) -> str:
    """How the server prints a group position: ``"5"`` or ``"C:123/P:123"``."""
    return f"C:{position}/P:{position}" if is_all else str(position)


def start_from_text(start_from: StartFrom) -> str:
    if isinstance(start_from, tuple):
        return f"C:{start_from[0]}/P:{start_from[1]}"
    return str(start_from)


def parse_position(is_all: bool, text: str) -> int:
    """A position string as the event source reads it back (``GetStreamPositionFor``)."""
    if not is_all:
        return int(text)
    commit, _prepare = parse_all_position(text)
    return commit


def parse_all_position(text: str) -> tuple[int, int]:
    """``"C:<commit>/P:<prepare>"`` as (commit, prepare)."""
    match = re.fullmatch(r"C:(-?\d+)/P:(-?\d+)", text.strip())
    if match is None:
        raise ValueError(f"invalid $all position {text!r}")
    return int(match.group(1)), int(match.group(2))


def is_live_start(start_from: StartFrom) -> bool:
    return start_from == (-1, -1) if isinstance(start_from, tuple) else start_from == -1


# ---- checks ---------------------------------------------------------------------------------


def validate_start_from(start_from: StartFrom, last_indexed_position: int) -> None:
    """``PersistentSubscriptionService.ValidateStartFrom``."""
    if not isinstance(start_from, tuple):
        if start_from < -1:
            raise GroupFailed(
                "Invalid Start From position: event number must be greater than or equal to -1."
            )
        return
    commit, prepare = start_from
    if prepare > commit:
        raise GroupFailed(
            "Invalid Start From position: prepare position must be less than or equal to "
            "the commit position."
        )
    if commit > last_indexed_position:
        raise GroupFailed(
            "Invalid Start From position: commit position must be less than or equal to the "
            "last commit position in the transaction file."
        )
    if (prepare <= -1 or commit <= -1) and not (prepare == -1 and commit == -1):
        raise GroupFailed(
            "Invalid Start From position: prepare and commit positions must be greater than "
            "or equal to 0 or both equal to -1."
        )


def validate_settings(settings: GroupSettings) -> None:
    """What the server checks before (or while) building a group."""
    if settings.consumer_strategy not in STRATEGIES:
        raise GroupFailed(f"Consumer strategy {settings.consumer_strategy} does not exist.")


def check_buffer_sizes(settings: GroupSettings) -> None:
    """The ``PersistentSubscription`` constructor's check (an ArgumentOutOfRangeException)."""
    if settings.read_batch_size >= settings.history_buffer_size:
        raise GroupFailed(
            "Specified argument was out of the range of valid values. (Parameter "
            "'ReadBatchSize may not be greater than or equal to BufferSize')"
        )
