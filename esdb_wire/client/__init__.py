"""The client API: :class:`EsdbClient` (blocking) and :class:`AsyncEsdbClient` (asyncio)."""
