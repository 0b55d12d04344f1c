"""A :class:`~esdb_wire.server.rpc.CallContext` for calling services directly in tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from esdb_wire.transport.status import MetadataValue


class FakeContext:
    """Request metadata, peer and deadline as given; records the trailers a handler sets."""

    def __init__(
        self,
        metadata: Mapping[str, str] | None = None,
        *,
        peer: str = "127.0.0.1:50000",
        time_remaining: float | None = None,
    ) -> None:
        self._metadata = dict(metadata or {})
        self._peer = peer
        self._time_remaining = time_remaining
        self.trailers: list[tuple[str, MetadataValue]] = []

    @property
    def metadata(self) -> Mapping[str, str]:
        return self._metadata

    @property
    def peer(self) -> str:
        return self._peer

    def time_remaining(self) -> float | None:
        return self._time_remaining

    def set_trailers(self, trailers: Sequence[tuple[str, MetadataValue]]) -> None:
        self.trailers = list(trailers)
