"""The client API: the asyncio clients (``aio*.py``, written by hand) and their blocking
twins (``sync*.py``, generated from them by ``scripts/unasync.py``); ``aio.py`` and
``sync.py`` gather the public names."""
