"""Transport tests: modules that exercise a client connection run on both HTTP/2
engines by using ``http2_engine`` (see :mod:`tests.engines`)."""

from __future__ import annotations

from tests.engines import http2_engine

__all__ = ["http2_engine"]
